"""The continuous-batching text engine, on a tiny seeded GPT-2 (no download)."""

import contextlib
import os
import threading
import time

import pytest
import torch

from generators.lm.batch_sampling import candidates
from generators.lm.engine import DecodingEngine, engine_for
from generators.text import TextContinuation
from generators.lm.text_decoding import (Gpt2Session, Sampling, SamplingLoop, draw, filter_top_k, filter_top_p, pick,
                                      uniforms)
from generators.provenance.watermark import Watermark

PROMPTS = ["The old captain looked out over the harbour and said", "She walked", "Café", "the gulls over the water",
           "The sea was calm. She walked along the quay, past the boats, and watched"]
# (prompt index, sampling, seed, n, watermark delta): greedy, the UI's defaults, no filters, top-p alone, a strong
# penalty, a watermark
REQUESTS = [(0, Sampling(0.0, 0, 1.0, 1.3), 0, 1, 0), (1, Sampling(), 1, 2, 0),
            (2, Sampling(1.0, 0, 1.0, 1.0), 2, 1, 0), (3, Sampling(0.9, 0, 0.8, 1.0), 3, 3, 0),
            (4, Sampling(1.2, 20, 0.9, 1.5), 4, 1, 0), (0, Sampling(), 5, 1, 2.0)]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture(scope="module")
def model_dir(tiny_gpt2_dir):
    return tiny_gpt2_dir(64)  # conftest.py: a tiny seeded GPT-2 with 64 positions


@pytest.fixture(scope="module")
def lm(model_dir):
    os.environ["PLAYGROUND_TEXT_MODEL"] = str(model_dir)
    yield TextContinuation(torch.device("cpu")).load()
    del os.environ["PLAYGROUND_TEXT_MODEL"]


@pytest.fixture(scope="module")
def engine(lm):
    e = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=8)
    yield e
    e.close()


def submit(engine, lm, request, max_new=16):
    i, sampling, seed, n, delta = request
    return engine.submit(lm.tokenizer(PROMPTS[i]).input_ids, n=n, max_new=max_new, sampling=sampling, seed=seed,
                         watermark=Watermark(delta) if delta else None)


def run(gen):
    """All the request's steps: tokens and probabilities per alternative."""
    steps = list(gen)
    return [s.tokens for s in steps], [s.probs for s in steps], [s.top_ids for s in steps]


def test_the_engine_checks_its_kernels(engine):
    assert engine.net.pad_to == 0  # oneDNN passed the check on this CPU (else every step is padded)
    assert isinstance(engine.net._graph, torch.jit.ScriptFunction)  # each step one call, the GIL released
    assert engine.batch_invariant()


def test_a_step_computes_a_few_shapes_and_live_rows_keep_their_logits(engine):
    """B live rows run as 1, 2 or a multiple of 4 rows (oneDNN keeps kernels per shape: fewer shapes, less memory),
    and the padding rows change nothing in the live ones."""
    net = engine.net
    assert net.rows == 8 and [net.size(b) for b in range(1, 9)] == [1, 2, 4, 4, 8, 8, 8, 8]
    g = torch.Generator().manual_seed(3)
    with torch.inference_mode():
        base = [torch.randn(t[:, :1].shape, generator=g) for t in (net.k, net.v)]
        ids, pos = torch.randint(0, 100, (3,), generator=g), torch.randint(0, 40, (3,), generator=g)
        net.k[:], net.v[:] = base
        padded = net.step(ids, pos)  # computed as 4 rows
        for r in range(3):
            net.k[:], net.v[:] = base
            assert torch.equal(net.step(ids[r:r + 1], pos[r:r + 1])[0], padded[r])
        net.k.zero_(), net.v.zero_()


def one_loop(lm, request, max_new=16):
    """The request through the one-request loop TextContinuation ran before the engine (SamplingLoop)."""
    i, sampling, seed, n, delta = request
    ids = torch.tensor([lm.tokenizer(PROMPTS[i]).input_ids])
    loop = SamplingLoop(Gpt2Session(lm.fast, n, ids.shape[1] + max_new), ids, n, max_new, sampling,
                        torch.Generator().manual_seed(seed), lm.tokenizer.eos_token_id,
                        Watermark(delta) if delta else None)
    tokens = []
    while len(tokens) < max_new and not (tokens and loop.all_done()):
        tokens.append(loop.step())
    return tokens, [loop.records(a, len(tokens))[0] for a in range(n)]


def test_engine_equals_the_one_request_loop(engine, lm):
    """The same tokens as SamplingLoop (today's TextContinuation), request by request; probabilities to 1e-5."""
    for request in REQUESTS:
        want, want_probs = one_loop(lm, request)
        tokens, probs, _ = run(submit(engine, lm, request))
        assert tokens == want
        for a in range(request[3]):
            assert [p[a] for p in probs] == pytest.approx(want_probs[a], rel=1e-5)


def test_alone_equals_among_others(engine, lm):
    """Same seed, same tokens and bit-identical probabilities, whatever runs beside it."""
    alone = [run(submit(engine, lm, r)) for r in REQUESTS]
    together = [submit(engine, lm, r) for r in REQUESTS]  # all join at once
    assert [run(g) for g in together] == alone


@contextlib.contextmanager
def stepping(engine):
    """The engine runs one iteration per tick(), so a test decides what happens between token boundaries."""
    go, done, real = threading.Semaphore(0), threading.Semaphore(0), engine._iteration
    free = []

    def gated():
        if not free:
            go.acquire()
        real()
        done.release()

    def tick(n=1):
        for _ in range(n):
            go.release()
            done.acquire()

    engine._iteration = gated
    try:
        yield tick
    finally:
        free.append(True)
        go.release()
        del engine._iteration


def test_requests_join_mid_stream(lm):
    e = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=12)
    try:
        alone = [run(submit(e, lm, r, max_new=24)) for r in REQUESTS]
        with stepping(e) as tick:
            first = [submit(e, lm, r, max_new=24) for r in REQUESTS[:3]]
            tick(3)  # three tokens into the first requests
            assert e.live_rows() == 1 + 2 + 1
            later = [submit(e, lm, r, max_new=24) for r in REQUESTS[3:]]
            tick()  # they join at this boundary
            assert e.live_rows() == 4 + 3 + 1 + 1
        assert [run(g) for g in first + later] == alone
    finally:
        e.close()


def test_a_request_stopped_mid_batch_leaves_the_others_alone(lm):
    e = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=8)
    try:
        alone = [run(submit(e, lm, r, max_new=30)) for r in REQUESTS[1:4]]
        with stepping(e) as tick:
            gens = [submit(e, lm, r, max_new=30) for r in REQUESTS[1:4]]
            tick(4)
            gens[1].close()  # 1 alternative of 6 rows
            tick()  # it leaves at this boundary; the others take their 5th step
            assert e.live_rows() == 2 + 3
        stopped = run(gens[1])
        assert len(stopped[0]) == 4 and stopped == tuple(x[:4] for x in alone[1])
        assert run(gens[0]) == alone[0] and run(gens[2]) == alone[2]
        assert e.live_rows() == 0
    finally:
        e.close()


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_every_step_runs_on_the_engine_thread_and_a_close_frees_the_rows(lm):
    """A lone request's steps run on the engine thread too, not its consumer's (a thread that has run a forward keeps
    some of its memory while it lives); closing it frees its rows at once (the engine thread's next step)."""
    e = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=8)
    ran_on, step = set(), e.net.step
    e.net.step = lambda *a: ran_on.add(threading.get_ident()) or step(*a)
    try:
        gen = submit(e, lm, REQUESTS[1], max_new=30)
        for i, _ in enumerate(gen):
            if i == 2:
                break  # the generator's finally closes the request
        wait_until(lambda: e.live_rows() == 0)
        assert gen.cancelled and len(ran_on) == 1 and threading.get_ident() not in ran_on
        assert ran_on == {e._thread.ident}
    finally:
        e.close()


def test_closing_a_text_stream_frees_its_rows(lm):
    """TextContinuation on the shared engine: Stop (closing the stream) takes the request's rows out at once."""
    engine = engine_for(lm.fast, lm.tokenizer.eos_token_id)  # the engine TextContinuation submits to
    stream = TextContinuation(torch.device("cpu")).stream(PROMPTS[1], max_new_tokens=40, seed=2, n=2)
    next(stream), next(stream)
    assert engine.live_rows() == 2
    stream.close()
    wait_until(lambda: engine.live_rows() == 0)


def test_a_second_request_joins_a_lone_one_mid_stream(lm):
    """A second request joins a lone one at the next token, and each still gets the tokens it gets alone."""
    e = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=8)
    try:
        alone = [run(submit(e, lm, r, max_new=24)) for r in REQUESTS[:2]]
        first = submit(e, lm, REQUESTS[0], max_new=24)
        steps = [first.next_step() for _ in range(5)]
        second = submit(e, lm, REQUESTS[1], max_new=24)
        got, rest = run(second), run(first)
        assert got == alone[1]
        assert [[s.tokens for s in steps] + rest[0], [s.probs for s in steps] + rest[1]] == list(alone[0][:2])
    finally:
        e.close()


def test_greedy_equals_generate(engine, lm):
    ids = lm.tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    for penalty in (1.0, 1.3):
        ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False,
                                repetition_penalty=penalty, pad_token_id=lm.tokenizer.eos_token_id)
        noise = [submit(engine, lm, r) for r in REQUESTS[1:4]]
        tokens, _, _ = run(submit(engine, lm, (0, Sampling(0.0, 0, 1.0, penalty), 0, 2, 0), max_new=20))
        assert [t[0] for t in tokens] == [t[1] for t in tokens] == ref[0, ids.shape[1]:].tolist()[:len(tokens)]
        for g in noise:
            g.close()


def test_a_burst_beyond_the_batch_limit_queues_and_completes(lm):
    small = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=3)
    try:
        alone = [run(submit(small, lm, r)) for r in REQUESTS]
        burst = [submit(small, lm, r) for r in REQUESTS * 2]  # 18 rows of alternatives for 3 rows
        assert [run(g) for g in burst] == alone * 2
        with pytest.raises(ValueError):
            submit(small, lm, (0, Sampling(), 0, 4, 0))  # more alternatives than rows can never run
    finally:
        small.close()


@pytest.mark.parametrize("onednn", [True, False])
def test_the_scripted_step_equals_the_eager_one_bit_for_bit(lm, onednn):
    """The decoding step runs as one TorchScript call (batched_gpt2.step_graph: the GIL released for all its ops);
    its logits and the cache it writes equal the plain function's, bit for bit."""
    from generators.lm.batched_gpt2 import BatchedGpt2, _step, step_graph

    assert isinstance(step_graph(True), torch.jit.ScriptFunction) and step_graph(False) is _step
    net = BatchedGpt2(lm.fast, 6, onednn=onednn)
    g = torch.Generator().manual_seed(0)
    ids, pos = torch.randint(0, lm.fast.wte.shape[0], (6,), generator=g), torch.randint(0, 40, (6,), generator=g)
    base = [torch.randn(t.shape, generator=g) for t in (net.k, net.v)]
    out = []
    for graph in (step_graph(True), _step):
        net._graph = graph
        net.k[:], net.v[:] = base
        with torch.inference_mode():
            out.append((net.step(ids[:5], pos[:5]), net.k.clone(), net.v.clone()))
    assert all(torch.equal(a, b) for a, b in zip(*out))


def test_padded_mode_is_invariant_too(lm):
    """The fallback where oneDNN is missing or fails the check: every step padded to max_rows rows."""
    padded = DecodingEngine(lm.fast, lm.tokenizer.eos_token_id, max_rows=6, pad=True)
    try:
        assert padded.net.pad_to == 6 and padded.batch_invariant()
        alone = [run(submit(padded, lm, r)) for r in REQUESTS[:4]]
        assert [run(g) for g in [submit(padded, lm, r) for r in REQUESTS[:4]]] == alone
    finally:
        padded.close()


def test_concurrent_consumers_in_threads(engine, lm):
    alone = [run(submit(engine, lm, r)) for r in REQUESTS]
    out = [None] * len(REQUESTS)

    def client(i):
        out[i] = run(submit(engine, lm, REQUESTS[i]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(REQUESTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == alone


def filtered(y, k, p):
    """candidates' filtered rows (B, V)."""
    ids, rows = candidates(y, k, torch.tensor([1 - float(x) if x < 1 else -1.0 for x in p]))
    assert torch.equal(torch.isfinite(rows).sum(-1), torch.isfinite(rows.gather(1, ids)).sum(-1))  # all in ids
    return rows


def test_candidates_equal_the_single_row_filters():
    """Top-k + top-p on the candidates gives bit for bit what filter_top_k + filter_top_p give over V."""
    g = torch.Generator().manual_seed(0)
    y = torch.randn(64, 300, generator=g).mul(3)
    k = torch.randint(1, 60, (64,), generator=g)
    p = torch.rand(64, generator=g).clamp(0.05, 1.0)
    p[::5] = 1.0
    got = filtered(y, k, p)
    for r in range(64):
        assert torch.equal(got[r], filter_top_p(filter_top_k(y[r:r + 1], int(k[r])), float(p[r]))[0])


def test_top_p_keeps_the_lowest_id_of_equal_logits():
    y = torch.tensor([[0.0, 2.0, 1.0, 2.0, 2.0, -1.0]])
    got = filtered(y, torch.tensor([4]), torch.tensor([0.5]))  # the 2.0s hold 0.3 each: two reach 0.5
    assert torch.isfinite(got[0]).tolist() == [False, True, False, True, False, False]
    y = torch.tensor([[3.0, 1.0, 1.0, 1.0, 0.0]])  # equal logits at the k-th place: not for candidates()
    assert candidates(y, torch.tensor([2]), torch.tensor([-1.0])) is None


def test_candidate_draw_equals_the_full_draw_and_multinomial_without_filters():
    """The engine's pick over candidates draws text_decoding.draw()'s numbers: one uniform per possible token, so the
    generators end in the same state; an unfiltered row draws V, as torch.multinomial does, and gets its token."""
    g = torch.Generator().manual_seed(1)
    y = torch.randn(3, 300, generator=g).mul(2)
    k = torch.tensor([10, 40, 299])
    ids, rows = candidates(y, k, torch.tensor([0.1, -1.0, 0.2]))
    probs = rows.softmax(-1).gather(1, ids)
    possible = torch.isfinite(rows.gather(1, ids))
    for seed in range(20):
        a, b, c = (torch.Generator().manual_seed(seed) for _ in range(3))
        u = torch.full(ids.shape, 0.5, dtype=torch.float64)
        u[possible] = uniforms(b, int(possible.sum()))
        assert torch.equal(pick(probs, u, ids), draw(rows, a))
        assert torch.equal(a.get_state(), b.get_state())
        want = torch.multinomial(y.softmax(-1), 1, generator=torch.Generator().manual_seed(seed))[:, 0]
        assert torch.equal(draw(y, c), want)


def test_draw_follows_the_filtered_distribution():
    """40,000 draws of one filtered row land on each possible token as often as its probability says (within 5
    standard errors), and never on a filtered one."""
    logits = torch.tensor([[2.0, 1.0, float("-inf"), 0.0, -1.0, float("-inf")]]).expand(40_000, -1)
    p = logits[0].softmax(-1)
    counts = torch.bincount(draw(logits, torch.Generator().manual_seed(0)), minlength=6).double()
    se = (40_000 * p * (1 - p)).sqrt()
    assert counts[2] == counts[5] == 0
    assert bool(((counts - 40_000 * p).abs() <= 5 * se + 1e-9).all())


