"""A full queue refuses at once with a plain message instead of leaving the request hanging."""

import time

import pytest
from gradio_client import Client

LONG = ("7", 64, 100, 1.0, 0, "DDIM")  # 64 digits denoised in 100 guided steps, streamed: seconds of work


@pytest.fixture(scope="module")
def small_queue_url():
    """The app with room for one waiting request (two run at once), on its own port."""
    import app

    demo = app.build_demo(queue_size=1)
    yield app.launch_local(demo)
    demo.close()


def test_full_queue_refuses_with_a_clear_message(small_queue_url):
    """Five at once: two run, one waits, the others are told at once that the queue is full (the server answers
    503 "Queue is full. Max size is 1 ..."; gradio_client raises QueueError("Queue is full! Please try again."))."""
    client = Client(small_queue_url, verbose=False)
    jobs = [client.submit(*LONG, api_name="/denoise_digits") for _ in range(5)]
    deadline, refused = time.time() + 60, []
    while time.time() < deadline and not refused:
        refused = [job for job in jobs if job.done() and "Queue is full" in str(job.exception())]
        time.sleep(0.05)
    for job in jobs:
        job.cancel()
    assert refused, [str(job.exception()) if job.done() else "running" for job in jobs]


def test_batched_endpoints_have_queue_groups_of_their_own(monkeypatch):
    """While batching, text and the micro-batched image endpoints may run many requests at once (their forwards
    meet in one batch); every other public endpoint shares the app's group of N computations. Without batching,
    all of them share it."""
    import app

    def groups() -> dict[str, tuple[str, int]]:
        demo = app.build_demo(concurrency=2)
        return {fn.api_name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()
                if fn.api_name in ("continue_text", "sample_digits", "interpolate_digits", "denoise_digits")}

    assert groups() == {"continue_text": ("text", 32), "sample_digits": ("digits", 16),
                        "interpolate_digits": ("interpolations", 16), "denoise_digits": ("models", 2)}
    monkeypatch.setenv("PLAYGROUND_BATCHING", "0")
    assert set(groups().values()) == {("models", 2)}


def test_queue_analytics_are_summarised_every_500_events_over_the_last_2000(monkeypatch):
    """Gradio rebuilds its monitoring summary (a pandas DataFrame of up to 10,000 events) after every event unless
    told otherwise; the app tells it every 500 events, over the last 2,000, and the environment still wins."""
    import app

    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    monkeypatch.delenv("GRADIO_ANALYTICS_MAX_EVENTS", raising=False)
    queue = app.build_demo()._queue
    assert (queue.ANAYLTICS_CACHE_FREQUENCY, queue.ANALYTICS_MAX_EVENTS) == (500, 2000)  # Gradio's spelling
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "7")
    monkeypatch.setenv("GRADIO_ANALYTICS_MAX_EVENTS", "30")
    queue = app.build_demo()._queue
    assert (queue.ANAYLTICS_CACHE_FREQUENCY, queue.ANALYTICS_MAX_EVENTS) == (7, 30)
