"""How the app shares the machine among its users: how many model computations run at once, torch's threads for
each, and whether requests are batched (the text engine, the image micro-batchers). Set once for the whole app.

    configure(workers=None)     # the core count by default: N computations at once, cores // N threads each
    batching()                  # False when PLAYGROUND_BATCHING=0 (app.py --no-batching): one request, one loop
    with compute_slot(): ...    # a computation that no queue group bounds takes one of the N slots
"""

import contextlib
import os
import threading

from generators.device import share_cpu

_OFF = ("0", "off", "false", "no")


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


@contextlib.contextmanager
def compute_slot():
    """Holds one of the N slots while a computation runs (waits for one if all are taken)."""
    with _slots:
        yield
