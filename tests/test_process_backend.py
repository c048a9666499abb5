"""The process backend (`python app.py --backend process`): each family's adapter in a worker process of its own,
answering with the in-process adapters' outputs for the same seeds, streams that stop in the worker when closed
here, the text tab's Stop flag carried, keyed errors intact, a killed worker failing its calls at once (no hang);
then the app itself with the flag, driven through gradio_client.

The module shares one set of workers (each start imports torch and loads a model: seconds on 2 busy cores); every
wait on a worker is bounded, so a hang fails the test instead of stalling the suite."""

import os
import signal
import threading
import time

import pytest
import torch

from generators.serving import backend, process_worker
from generators.diffusion import DiffusionSampler
from generators.core.errors import InputError, ModelUnavailable
from generators.gan import GanSampler
from generators.serving.process_serve import ProcessAdapter
from generators.text import TextContinuation
from generators.vae import VaeInterpolator
from generators.provenance.watermark import DELTA as WATERMARK
from served import answers_text_and_digits, served_app

pytestmark = [pytest.mark.slow,  # worker processes: the second tier
              pytest.mark.usefixtures("one_thread")]  # conftest.py: the local adapters on one thread, as the workers
FAMILIES = (TextContinuation, GanSampler, VaeInterpolator, DiffusionSampler)
LIMIT_S = 120  # the longest any call here may take: a worker's start and model load on a busy machine


def within(fn, seconds: float = LIMIT_S):
    """fn(), failing the test if it has not returned after `seconds` (its thread, a daemon, is left behind)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - raised again in the test's thread
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"no answer within {seconds} s")
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.fixture(scope="module")
def remote():
    """A stand-in for every family, each computing in its worker (one torch thread each); the workers end after."""
    before = os.environ.get("PLAYGROUND_WORKER_THREADS")
    os.environ["PLAYGROUND_WORKER_THREADS"] = "1"
    backend.use_process()
    yield {cls: backend.adapter(cls) for cls in FAMILIES}
    backend.use_local()
    os.environ.pop("PLAYGROUND_WORKER_THREADS") if before is None else os.environ.update(
        PLAYGROUND_WORKER_THREADS=before)


@pytest.fixture(scope="module")
def local():
    return {cls: cls(device=torch.device("cpu")) for cls in FAMILIES}


def test_each_family_computes_the_local_result_in_its_worker(remote, local):
    assert all(isinstance(a, ProcessAdapter) for a in remote.values())
    request = dict(digit=None, count=8, seed=3, truncation=0.8)
    there, here = within(lambda: remote[GanSampler].sample(**request)), local[GanSampler].sample(**request)
    assert there.labels == here.labels and there.predicted == here.predicted
    torch.testing.assert_close(there.images, here.images, atol=1e-5, rtol=0)
    assert remote[GanSampler].device.type == "cpu"  # an attribute, read in the worker once its model loaded

    text = dict(max_new_tokens=8, seed=7, watermark=WATERMARK)
    there = within(lambda: remote[TextContinuation].continue_text("It was a dark and stormy night;", **text))
    assert there[0].text == local[TextContinuation].continue_text("It was a dark and stormy night;", **text)[0].text

    ends = [within(lambda d=d: remote[VaeInterpolator].test_digit(d, 0)) for d in (1, 7)]
    walk = dict(start=ends[0], end=ends[1], steps=6, method="spherical", chunks=3)
    there, here = within(lambda: list(remote[VaeInterpolator].stream(**walk))), list(local[VaeInterpolator].stream(**walk))
    assert len(there) == 3 and there[-1].done
    torch.testing.assert_close(there[-1].frames, here[-1].frames, atol=1e-5, rtol=0)

    request = dict(digit=5, count=2, steps=3, guidance=1.0, seed=4, sampler="DPM-Solver++")
    there, here = within(lambda: remote[DiffusionSampler].sample(**request)), local[DiffusionSampler].sample(**request)
    torch.testing.assert_close(there.sample, here.sample, atol=1e-4, rtol=0)


def test_text_streams_the_local_tokens_for_the_same_seed(remote, local):
    settings = dict(max_new_tokens=12, seed=7, temperature=0.8, n=2)
    there = within(lambda: [alts[0].text for alts in remote[TextContinuation].stream("The old captain", **settings)])
    here = [alts[0].text for alts in local[TextContinuation].stream("The old captain", **settings)]
    # streamed (at most 40 snapshots a second: TextContinuation.SNAPSHOT_STREAMS), the same text at every step sent
    assert len(there) > 1 and there[0] == here[0] and there[-1] == here[-1] and in_order(there, here)


def in_order(some: list, every: list) -> bool:
    """Whether `some` is `every` with items left out (none added, none moved)."""
    rest = iter(every)
    return all(any(x == y for y in rest) for x in some)


def test_concurrent_streams_run_at_once_in_the_worker(remote, local):
    """Each call has a thread in the worker: two streams run there together (so the text engine batches them), and
    each gets the tokens it gets alone."""
    text, settings, prompts = remote[TextContinuation], dict(max_new_tokens=200, seed=5), ("Once", "The old captain")
    assert within(text.worker_stats)["peak"] < 2
    streams = [text.stream(p, **settings) for p in prompts]
    firsts = [within(lambda s=s: next(s)[0].text) for s in streams]  # 200 tokens each: both started, none ended
    for s, prompt, first in zip(streams, prompts, firsts):
        rest = within(lambda s=s: [alts[0].text for alts in s])
        alone = [alts[0].text for alts in local[TextContinuation].stream(prompt, **settings)]
        assert first == alone[0] and rest[-1] == alone[-1] and in_order([first, *rest], alone)
    assert within(text.worker_stats)["peak"] == 2


def test_keyed_errors_arrive_with_their_key_and_fields(remote):
    with pytest.raises(InputError) as call:
        within(lambda: remote[GanSampler].sample(digit=7, count=65, seed=0, truncation=1.0))
    assert call.value.key == "int_range" and call.value.fields["name"] == "count" and call.value.fields["hi"] == 64
    with pytest.raises(InputError) as streamed:
        within(lambda: next(remote[TextContinuation].stream("Hi", max_new_tokens=10_000, seed=0)))
    assert streamed.value.key == "int_range" and streamed.value.fields["name"] == "max_new_tokens"


def test_closing_a_stream_stops_the_worker_generator(remote):
    """Closing the stream here (the tab's cancel, a client gone) closes the adapter's generator in the worker after
    the step it is in, long before the 512 tokens asked for."""
    text = remote[TextContinuation]
    before = within(text.worker_stats)["stopped"]
    stream = text.stream("Once upon a time", max_new_tokens=512, seed=0)
    within(lambda: (next(stream), next(stream)))
    stream.close()
    deadline = time.time() + 30
    while (state := within(text.worker_stats))["open"] and time.time() < deadline:
        time.sleep(0.05)
    assert state["open"] == 0 and state["stopped"] == before + 1 and state["taken"] < 512, state


def test_a_set_stop_flag_ends_the_stream_with_its_last_item(remote):
    """The text tab's graceful Stop: the flag given here is set in the worker's loop, which ends with a finished
    item (tokens and probabilities included) that says after how many tokens it stopped."""
    stop = threading.Event()
    items = []

    def run():
        for alts in remote[TextContinuation].stream("Once upon a time", max_new_tokens=512, seed=0, stop=stop):
            items.append(alts)
            if len(items) == 2:
                stop.set()

    within(run)
    last = items[-1][0]
    assert last.finished and len(items) < 100
    stopped = last.notices[-1]
    assert stopped.key == "text_stopped" and stopped.fields["n"] == len(last.tokens) >= len(items)


def test_a_killed_worker_fails_its_calls_at_once_and_the_next_call_starts_another(remote, local):
    """A worker killed mid-stream: the stream raises a keyed ModelUnavailable (no hang); once the death is seen, the
    next call starts a fresh worker. Runs last: it kills the workers of this module."""
    text = remote[TextContinuation]
    stream = text.stream("Once upon a time", max_new_tokens=512, seed=0)
    within(lambda: next(stream))
    os.kill(text.worker_pid(), signal.SIGKILL)
    with pytest.raises(ModelUnavailable) as down:
        within(lambda: list(stream), 30)
    assert down.value.key == "worker_down" and down.value.fields["family"] == "TextContinuation"
    assert down.value.fields["code"] == -signal.SIGKILL
    gan, request = remote[GanSampler], dict(digit=3, count=4, seed=1, truncation=1.0)
    pid, deadline = gan.worker_pid(), time.time() + 30
    os.kill(pid, signal.SIGKILL)
    while gan.worker_pid() is not None and time.time() < deadline:  # a call sent meanwhile fails as the stream did
        time.sleep(0.05)
    there = within(lambda: gan.sample(**request))
    assert gan.worker_pid() not in (None, pid)
    torch.testing.assert_close(there.images, local[GanSampler].sample(**request).images, atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def app_on_processes(tmp_path_factory):
    """`python app.py --backend process` in its own process, its workers its own."""
    folder = tmp_path_factory.mktemp("process-app")
    with served_app(folder, "--backend", "process", env={"PLAYGROUND_WORKER_THREADS": "1"}) as served:
        yield served


def test_the_app_with_backend_process_answers_text_and_digits(app_on_processes, local):
    client = app_on_processes[0]
    answers_text_and_digits(client, local[TextContinuation])
    with pytest.raises(Exception, match="64"):  # a keyed error from a worker, worded for the user
        client.predict("7", 65, 3, 0.8, api_name="/sample_digits")


def test_the_workers_end_with_the_app(app_on_processes):
    """The app killed by a signal (no exit handlers run): its workers see their socket close and end too."""
    psutil = pytest.importorskip("psutil")
    _, server = app_on_processes
    workers = psutil.Process(server.pid).children()
    assert len(workers) >= 2  # the text model's (started by its warm-up) and the GAN's (the test above)
    server.terminate()
    server.wait(20)
    assert not psutil.wait_procs(workers, timeout=20)[1]


class _Pipe:
    """A worker's connection that keeps what is sent."""

    def __init__(self):
        self.sent = []

    def send_bytes(self, data: bytes) -> None:
        self.sent.append(process_worker.loads(data))


def test_a_snapshot_stream_sends_its_first_and_last_items_and_at_most_one_per_interval(monkeypatch):
    """With `every`, the worker sends the first item at once, then none sooner than `every` after the one before,
    each time the newest, and the last one always; without it, every item. A fake clock: 20 items 10 ms apart."""
    clock = [0.0]
    monkeypatch.setattr(process_worker.time, "monotonic", lambda: clock[0])

    class Counting:
        def stream(self, n: int):
            for i in range(n):
                yield i
                clock[0] += 0.010

    def sent(every: float) -> list[int]:
        pipe = _Pipe()
        worker = process_worker.Worker(Counting(), pipe)
        worker.streams[1] = (threading.Event(), threading.Event())
        worker._stream(1, "stream", (20,), {}, False, every)
        assert pipe.sent[-1] == ("end", 1)
        return [value for kind, cid, *value in pipe.sent[:-1] for value in value]

    assert sent(0.0) == list(range(20))
    assert sent(0.045) == [0, 5, 10, 15, 19]  # 0 at once; 5 is the first 45 ms after it; 19, the last, held, then sent
