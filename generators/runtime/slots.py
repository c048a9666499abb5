"""How the app shares the machine among its users: how many model computations run at once, torch's threads for
each, and whether requests are batched (the text engine, the image micro-batchers). Set once for the whole app.

    configure(workers=None)     # the core count by default: N computations at once, cores // N threads each
    batching()                  # False when PLAYGROUND_BATCHING=0 (app.py --no-batching): one request, one loop
    batched_group("digits", 16)  # an endpoint whose model work is batched: its own queue group of 16 at once
    with compute_slot(): ...    # a computation that no queue group bounds takes one of the N slots
"""

import contextlib
import os
import threading

from generators.core.device import share_cpu

_OFF = ("0", "off", "false", "no")
# image requests of one endpoint at once while batching: their forwards meet in the model's micro-batcher (16 users
# at 2 computations at once got 387 GAN digits/s; at 8, 530)
BATCHED_REQUESTS = 16


def cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_workers = 0  # N, once configure() has set it
_slots = threading.BoundedSemaphore(cores())


def batching() -> bool:
    """Whether concurrent requests share batches (on unless PLAYGROUND_BATCHING is 0, off, false or no)."""
    return os.environ.get("PLAYGROUND_BATCHING", "1").strip().lower() not in _OFF


def configure(workers: int | None = None) -> int:
    """Sets N, the model computations that run at once (default: the core count), and gives each cores // N of
    torch's threads; returns N. Idempotent for the same N."""
    global _slots, _workers
    n = max(1, int(workers or cores()))
    if n != _workers:
        _slots, _workers = threading.BoundedSemaphore(n), n
    share_cpu(n)
    return n


def batched_group(name: str, limit: int) -> dict:
    """Gradio queue-group settings for an endpoint whose model work is batched (the text engine, a micro-batcher):
    while batching, `limit` of its requests at once in a group of their own, since their computations meet in one
    batch that runs one at a time (so more requests at once do not mean more computations at once, only larger
    batches); without, {}: the app's group of N computations (app.py)."""
    return dict(concurrency_id=name, concurrency_limit=limit) if batching() else {}


@contextlib.contextmanager
def compute_slot():
    """Holds one of the N slots while a computation runs (waits for one if all are taken)."""
    with _slots:
        yield
