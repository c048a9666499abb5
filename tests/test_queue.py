"""A full queue refuses at once with a plain message instead of leaving the request hanging."""

import time

import pytest
from gradio_client import Client

LONG = ("1", "7", 24, "spherical", 0)  # 24 streamed frames, each update a growing gallery: seconds of work


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
    jobs = [client.submit(*LONG, api_name="/interpolate_digits") for _ in range(5)]
    deadline, refused = time.time() + 60, []
    while time.time() < deadline and not refused:
        refused = [job for job in jobs if job.done() and "Queue is full" in str(job.exception())]
        time.sleep(0.05)
    for job in jobs:
        job.cancel()
    assert refused, [str(job.exception()) if job.done() else "running" for job in jobs]
