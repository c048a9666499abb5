"""The image micro-batcher: concurrent calls run as one forward, each caller gets its own rows; the GAN and VAE
adapters through it, on tiny seeded models."""

import threading
import time

import pytest
import torch

from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator, DigitVAE
from generators.gan import GanSampler
from generators.runtime.microbatch import MicroBatcher
from generators.vae import VaeInterpolator

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


def queue_behind_a_running_batch(batcher, threads, running, release):
    """Starts the first thread, waits until its batch runs (`running()`), starts the others, waits until they have
    all queued behind it, then lets the batch finish (`release`) and joins them all."""
    threads[0].start()
    while not running():
        time.sleep(0.001)
    for t in threads[1:]:
        t.start()
    while batcher.queued() < len(threads) - 1:
        time.sleep(0.001)
    release.set()
    for t in threads:
        t.join()


def test_microbatcher_gives_each_caller_its_own_rows():
    """Callers that arrive while a batch runs go together into the next; each gets fn of its own input."""
    calls, release = [], threading.Event()
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).eval()

    def fn(z, labels):
        calls.append(z.shape[0])
        if len(calls) == 1:
            release.wait(10)  # the first batch runs until every other caller has queued
        with torch.no_grad():
            return net(z) + labels[:, None], labels * 2

    batcher = MicroBatcher(fn, max_batch=64, window_s=0.0)
    inputs = [(torch.randn(i + 1, 8, generator=torch.Generator().manual_seed(i)), torch.full((i + 1,), float(i)))
              for i in range(6)]
    out = [None] * 6

    def caller(i):
        out[i] = batcher(*inputs[i])

    queue_behind_a_running_batch(batcher, [threading.Thread(target=caller, args=(i,)) for i in range(6)],
                                 lambda: calls, release)
    assert calls == [1, 2 + 3 + 4 + 5 + 6]
    for (z, labels), (a, b) in zip(inputs, out):
        with torch.no_grad():
            assert torch.allclose(a, net(z) + labels[:, None], atol=1e-6) and torch.equal(b, labels * 2)


def test_a_lone_caller_does_not_wait_for_the_window(monkeypatch):
    """Calls one after another run at once; once a batch was shared, the next leader waits the window for company."""
    import generators.runtime.microbatch as microbatch

    slept, release, calls, real_sleep = [], threading.Event(), [], time.sleep
    # the window (0.25 s) is recorded, not slept; the test's own polling still sleeps
    monkeypatch.setattr(microbatch.time, "sleep", lambda s: slept.append(s) if s == 0.25 else real_sleep(s))

    def fn(x):
        calls.append(x.shape[0])
        if len(calls) == 4:
            release.wait(10)  # the fourth batch runs until two more callers have queued behind it
        return x * 2

    batcher = MicroBatcher(fn, window_s=0.25)
    for i in range(3):
        assert torch.equal(batcher(torch.full((2, 1), float(i))), torch.full((2, 1), 2.0 * i))
    assert slept == [] and calls == [2, 2, 2]  # alone: no window
    threads = [threading.Thread(target=batcher, args=(torch.ones(1, 1),)) for _ in range(3)]
    queue_behind_a_running_batch(batcher, threads, lambda: len(calls) == 4, release)
    assert calls == [2, 2, 2, 1, 2] and slept == []  # the two that queued ran together
    batcher(torch.ones(1, 1))
    assert slept == [0.25]  # others were calling just now: wait for the ones that arrive together


def test_microbatcher_passes_errors_to_every_caller():
    def fn(x):
        raise RuntimeError("boom")

    batcher = MicroBatcher(fn)
    with pytest.raises(RuntimeError, match="boom"):
        batcher(torch.zeros(2, 3))
    assert batcher.queued() == 0


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the callers never met in the micro-batcher"
        time.sleep(0.001)


def together(batcher: MicroBatcher, calls: list, callers: list) -> list:
    """Runs each caller() in its own thread, the first batch held until all the others have queued, so they all go
    into the next batch; `calls` records the rows of each batch. Returns each caller's result."""
    release, fn = threading.Event(), batcher.fn

    def held(*inputs):
        calls.append(inputs[0].shape[0])
        if len(calls) == 1:
            release.wait(30)
        return fn(*inputs)

    batcher.fn, out = held, [None] * len(callers)
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, callers[i]())) for i in range(len(callers))]
    threads[0].start()
    wait_until(lambda: calls)
    for t in threads[1:]:
        t.start()
    wait_until(lambda: batcher.queued() == len(callers) - 1)
    release.set()
    for t in threads:
        t.join()
    batcher.fn = fn
    return out


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """A tiny seeded GAN, classifier and VAE (with a bank of 20 random test digits)."""
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("assets")
    torch.manual_seed(1)
    models = {"gan/generator": DigitGenerator(ngf=8), "gan/discriminator": DigitDiscriminator(ndf=8),
              "classifier": DigitClassifier(width=4, feature_dim=16), "vae": DigitVAE(latent_dim=4, width=4, hidden=16)}
    for folder, model in models.items():
        model.eval().save_pretrained(root / folder)
    labels = torch.arange(10).repeat(2)
    bank = {"digits": (torch.rand(20, 1, 28, 28) * 255).to(torch.uint8), "digit_labels": labels,
            "pca_mean": torch.zeros(4), "pca_components": torch.eye(4)[:2].contiguous()}
    save_file(bank, root / "vae" / "examples.safetensors")
    return root


def test_gan_callers_in_one_batch_get_their_own_digits(tiny_assets, monkeypatch):
    """Four sample() calls at once: one forward (with batching), and each caller the digits its seed gives alone."""
    sampler = GanSampler(tiny_assets, device=torch.device("cpu"))
    requests = [dict(digit=7, count=3, seed=1), dict(digit=None, count=5, seed=2), dict(digit=0, count=1, seed=3),
                dict(digit=None, count=2, seed=1, truncation=0.5)]
    monkeypatch.setenv("PLAYGROUND_BATCHING", "0")
    alone = [sampler.sample(**r) for r in requests]
    monkeypatch.setenv("PLAYGROUND_BATCHING", "1")
    calls = []
    got = together(sampler._batcher, calls, [lambda r=r: sampler.sample(**r) for r in requests])
    assert calls == [3, 5 + 1 + 2]
    for a, b in zip(got, alone):
        assert a.labels == b.labels and a.predicted == b.predicted
        assert torch.allclose(a.images, b.images, atol=1e-5)
        assert a.realness == pytest.approx(b.realness, abs=1e-5)


def test_vae_interpolations_in_one_batch_get_their_own_frames(tiny_assets, monkeypatch):
    vae = VaeInterpolator(tiny_assets / "vae", device=torch.device("cpu"))
    ends = [(vae.test_digit(a, seed=0), vae.test_digit(b, seed=1)) for a, b in ((1, 7), (3, 8), (0, 0))]

    def last(start, end):
        *_, final = vae.stream(start=start, end=end, steps=6, method="spherical", chunks=1)
        return final

    monkeypatch.setenv("PLAYGROUND_BATCHING", "0")
    alone = [last(*e) for e in ends]
    monkeypatch.setenv("PLAYGROUND_BATCHING", "1")
    calls = []
    got = together(vae._decode, calls, [lambda e=e: last(*e) for e in ends])
    assert calls[0] == 2 and sum(calls) == 3 * (2 + 6) and len(calls) < 6  # each decodes its 2 ends, then 6 frames
    for a, b in zip(got, alone):
        assert torch.allclose(a.frames, b.frames, atol=1e-5) and torch.allclose(a.reconstructions, b.reconstructions,
                                                                               atol=1e-5)


def test_traced_forwards_equal_the_eager_ones_at_any_batch(tiny_assets):
    """The GAN's sample and the VAE's encode and decode run traced (generators/runtime/traced.py): one call that releases
    the GIL, traced on 2 rows, the same numbers as the eager modules for other batch sizes."""
    from generators.gan import SampleNet
    from generators.runtime.traced import Method

    sampler, vae = GanSampler(tiny_assets, device=torch.device("cpu")), VaeInterpolator(tiny_assets / "vae",
                                                                                       device=torch.device("cpu"))
    models, model = sampler.load(), vae.load()
    assert all(isinstance(f, torch.jit.ScriptModule) for f in (sampler._net, vae._encoder, vae._decoder))
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for n in (1, 5, 33):
            z, labels = torch.randn(n, models[0].z_dim, generator=g), torch.randint(0, 10, (n,), generator=g)
            for a, b in zip(sampler._net(z, labels), SampleNet(*models)(z, labels)):
                assert a.shape[0] == n and torch.allclose(a, b, atol=1e-5)
            latents = torch.randn(n, model.latent_dim, generator=g)
            assert torch.allclose(vae._decoder(latents), model.decode(latents), atol=1e-5)
            digits = model.decode(latents)
            for a, b in zip(vae._encoder(digits), model.encode(digits)):
                assert torch.allclose(a, b, atol=1e-5)


def test_tracing_off_or_failing_leaves_the_eager_module(monkeypatch):
    from generators.runtime.traced import gil_free

    net = torch.nn.Linear(4, 2).eval()
    assert isinstance(gil_free(net, torch.zeros(2, 4)), torch.jit.ScriptModule)
    monkeypatch.setenv("PLAYGROUND_TRACE", "0")
    assert gil_free(net, torch.zeros(2, 4)) is net
    monkeypatch.setenv("PLAYGROUND_TRACE", "1")

    class Untraceable(torch.nn.Module):
        def forward(self, x):
            return {"rows": x.shape[0], "x": x}  # not only tensors: the tracer refuses it

    odd = Untraceable()
    assert gil_free(odd, torch.zeros(2, 4)) is odd


def test_every_batch_runs_on_the_batchers_own_thread(monkeypatch):
    """The forwards run on one thread of the batcher's, whoever calls (a thread that has run a forward keeps some of
    its memory while it lives); the thread ends when idle and the next call starts another."""
    import generators.runtime.microbatch as microbatch

    ran_on, callers = set(), []
    batcher = MicroBatcher(lambda x: ran_on.add(threading.get_ident()) or x + 1)

    def caller():
        callers.append(threading.get_ident())
        assert torch.equal(batcher(torch.zeros(2, 1)), torch.ones(2, 1))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(ran_on) == 1 and not ran_on & set(callers)
    monkeypatch.setattr(microbatch, "IDLE_S", 0.05)
    batcher(torch.zeros(1, 1))  # a thread of IDLE_S 0.05 s (the one before waits 30 s: it stays)
    first = batcher._thread
    wait_until(lambda: batcher._thread is None)  # idle: gone
    first.join(5)
    assert not first.is_alive()
    assert torch.equal(batcher(torch.zeros(1, 1)), torch.ones(1, 1)) and batcher._thread is not None


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork here")
def test_a_forked_child_runs_its_own_batches():
    """A fork has no batcher thread (ZeroGPU runs handlers in forked processes): its first call starts one there
    instead of waiting on the parent's."""
    import os
    import signal

    batcher = MicroBatcher(lambda x: x * 3)
    assert torch.equal(batcher(torch.ones(1, 1)), torch.full((1, 1), 3.0))  # the parent's thread is running
    pid = os.fork()
    if pid == 0:  # the child: exit 0 if its call comes back, killed by the alarm if it hangs
        signal.alarm(10)
        ok = torch.equal(batcher(torch.ones(2, 1)), torch.full((2, 1), 3.0))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
