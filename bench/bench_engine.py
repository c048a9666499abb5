"""Text throughput with many users at once: the continuous-batching engine against one decoding loop per request.

    nice -n 10 python bench/bench_engine.py                  # 1, 4, 8, 16, 32 concurrent 48-token requests
    python bench/bench_engine.py --levels 1 16 --rounds 1    # quicker
    python bench/bench_engine.py --dry-run                   # a smoke run (tiny levels, 4 tokens)

Each level runs `c` client threads, each making `--rounds` requests one after another (the UI's default
sampling: temperature 0.8, top-k 40, top-p 0.95, repetition penalty 1.1; request j has seed j), once through
TextContinuation as it is today (each request its own loop) and once through TextContinuation with its loop
swapped for the shared engine (`through_engine` below: the change proposed for generators/text.py).
Both paths decode text and build the per-token records, as the app does. Printed per level: aggregate
generated tokens/s, the process's CPU time per generated token (all threads), per-request p50/p95 time to
first token and to the last, the 1-minute load average (other work on the machine), whether each request's
tokens equal (a) the same request run alone through the engine and (b) today's loop, and the mean wall time
of each path's forward and sampling calls (with the rows per call).
"""

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from generators.lm import engine as engine_mod
from generators import text
from generators.lm import text_decoding

PROMPTS = ["The old captain looked out over the harbour and said", "It was a dark and stormy night;",
           "She opened the letter and read", "In the morning the village", "\"Where have you been?\" asked",
           "The king had three daughters, and the youngest", "Once upon a time", "He walked into the room and"]


class OneLoopPerRequest:
    """Stands in for the engine where text.py already routes through it: each request its own SamplingLoop over its
    own cache (TextContinuation before the engine)."""

    def __init__(self, fast, eos_id):
        self.fast, self.eos_id = fast, eos_id

    def submit(self, ids, *, n, max_new, sampling, generator, watermark=None):
        cache = text_decoding.Gpt2Session(self.fast, n, len(ids) + max_new)
        return text_decoding.SamplingLoop(cache, torch.tensor([ids]), n, max_new, sampling, generator, self.eos_id,
                                          watermark)


@contextlib.contextmanager
def patched(module, **values):
    real = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in real.items():
            setattr(module, k, v)


def one_loop_per_request():
    """TextContinuation as it was before the engine, whether or not generators/text.py routes through it yet."""
    wired = hasattr(text, "engine_for")
    return patched(text, engine_for=OneLoopPerRequest) if wired else contextlib.nullcontext()


def through_engine(eng):
    """TextContinuation with its lean-GPT-2 loop a request to `eng` (before text.py is wired: the proposed change,
    made here by standing the engine in for Gpt2Session + SamplingLoop)."""
    if hasattr(text, "engine_for"):
        return patched(text, engine_for=lambda fast, eos_id: eng)
    return patched(text, Gpt2Session=lambda fast, n, length: None,
                   SamplingLoop=lambda session, ids, n, steps, sampling, generator, eos_id, watermark=None: eng.submit(
                       ids, n=n, max_new=steps, sampling=sampling, generator=generator, watermark=watermark))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(text.bundled_path()), help="model folder (default: the bundled one)")
    p.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16, 32], help="concurrent requests")
    p.add_argument("--rounds", type=int, default=2, help="requests per client, one after another")
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--max-rows", type=int, default=32, help="the engine's batch limit (rows)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--switch-ms", type=float, default=0, help="Python's GIL switch interval (0 = Python's 5 ms)")
    p.add_argument("--dry-run", action="store_true", help="levels 1 and 2, 1 round, 4 tokens")
    args = p.parse_args(argv)
    if args.dry_run:
        args.levels, args.rounds, args.new_tokens = [1, 2], 1, 4
    return args


def request(j: int, new_tokens: int) -> tuple[str, dict]:
    return PROMPTS[j % len(PROMPTS)], dict(max_new_tokens=new_tokens, seed=j, temperature=0.8, top_k=40,
                                           top_p=0.95, repetition_penalty=1.1)


def one(tc, j: int, new_tokens: int) -> dict:
    """One request through `tc`, timed as a client sees it: first item, last item, tokens."""
    prompt, kw = request(j, new_tokens)
    t0 = time.perf_counter()
    first = None
    for alts in tc.stream(prompt, **kw):
        first = first or time.perf_counter() - t0
    return dict(ttft=first, total=time.perf_counter() - t0, tokens=[t.token_id for t in alts[0].tokens])


def level(tc, clients: int, rounds: int, new_tokens: int) -> tuple[float, float, dict[int, dict]]:
    """`clients` threads, `rounds` requests each: the wall and CPU time, and every request's result by id."""
    results, threads = {}, []

    def client(c):
        for r in range(rounds):
            j = c * rounds + r
            results[j] = one(tc, j, new_tokens)

    t0, cpu0 = time.perf_counter(), time.process_time()
    for c in range(clients):
        threads.append(threading.Thread(target=client, args=(c,)))
        threads[-1].start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, time.process_time() - cpu0, results  # CPU: every thread of this process


class Timers:
    """Wall time per call of a few functions, patched in for one measurement."""

    def __init__(self):
        self.calls, self.undo = defaultdict(list), []

    def wrap(self, owner, name: str, label: str, rows=lambda *a: 1):
        real = getattr(owner, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            out = real(*a, **k)
            self.calls[label].append((time.perf_counter() - t0, rows(*a)))
            return out

        setattr(owner, name, timed)
        self.undo.append(lambda: setattr(owner, name, real))

    def restore(self):
        for u in self.undo:
            u()

    def line(self) -> str:
        return "  ".join(f"{k} {1000 * statistics.mean(t for t, _ in v):.2f} ms x{len(v)}"
                         f" (rows {statistics.mean(r for _, r in v):.1f})" for k, v in self.calls.items())


def pct(xs, q) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]


def row(name, clients, wall, cpu, res) -> str:
    ttft, total = [r["ttft"] * 1000 for r in res.values()], [r["total"] * 1000 for r in res.values()]
    tokens = sum(len(r["tokens"]) for r in res.values())
    return (f"{name:7s} {clients:5d} {len(res):4d} {tokens / wall:7.0f} {1000 * cpu / tokens:7.2f}"
            f" {pct(ttft, 50):8.1f} {pct(ttft, 95):7.1f} {pct(total, 50):8.0f} {pct(total, 95):7.0f}"
            f" {os.getloadavg()[0]:5.1f}")


def main(argv=None):
    args = parse_args(argv)
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(f"no model in {args.model}: train it (training/train_text.py) or pass --model PATH")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1000)
    os.environ["PLAYGROUND_TEXT_MODEL"] = args.model
    tc = text.TextContinuation(torch.device("cpu"))
    lm = tc.load()
    eng = engine_mod.engine_for(lm.fast, lm.tokenizer.eos_token_id, max_rows=args.max_rows)
    print(f"model {args.model}: {sum(p.numel() for p in lm.model.parameters()) / 1e6:.1f}M params, "
          f"torch threads {torch.get_num_threads()}, engine max_rows {eng.max_rows}, "
          f"kernels {'oneDNN, unpadded' if not eng.net.pad_to else f'padded to {eng.net.pad_to}'}, "
          f"batch invariant: {eng.batch_invariant()}; {args.new_tokens} new tokens, {args.rounds} rounds")
    with one_loop_per_request():
        one(tc, 0, args.new_tokens)  # warm-up
    n_req = max(args.levels) * args.rounds
    t0 = time.perf_counter()
    with through_engine(eng):
        alone = {j: one(tc, j, args.new_tokens)["tokens"] for j in range(n_req)}
    print(f"{n_req} requests alone through the engine: {time.perf_counter() - t0:.1f} s")
    print(f"{'path':7s} {'users':>5s} {'reqs':>4s} {'tok/s':>7s} {'CPU ms':>7s} {'TTFT p50':>8s} {'p95 ms':>7s} "
          f"{'done p50':>8s} {'p95 ms':>7s} {'load':>5s}  same tokens as alone / as today")
    for clients in args.levels:
        timers = Timers()
        timers.wrap(text_decoding.Gpt2Session, "step", "forward", rows=lambda s, ids: ids.shape[0])
        timers.wrap(text_decoding, "choose", "sampling", rows=lambda logits, *a: logits.shape[0])
        with one_loop_per_request():
            wall, cpu, base = level(tc, clients, args.rounds, args.new_tokens)
        timers.restore()
        print(row("today", clients, wall, cpu, base), "  -", f"  [{timers.line()}]")
        timers = Timers()
        timers.wrap(eng.net, "step", "forward", rows=lambda ids, pos: ids.shape[0])
        timers.wrap(eng.sampler, "choose", "sampling", rows=lambda logits, live: logits.shape[0])
        timers.wrap(eng, "_deliver", "deliver", rows=lambda logits, *a: logits.shape[0])
        with through_engine(eng):
            wall, cpu, res = level(tc, clients, args.rounds, args.new_tokens)
        timers.restore()
        same_alone = sum(r["tokens"] == alone[j] for j, r in res.items())
        same_today = sum(r["tokens"] == base[j]["tokens"] for j, r in res.items())
        print(row("engine", clients, wall, cpu, res), f"  {same_alone}/{len(res)} / {same_today}/{len(res)}",
              f"  [{timers.line()}]")
    eng.close()


if __name__ == "__main__":
    main()
