"""A time budget for reading what a stranger uploaded: the work runs on one of a few threads of its own, and the
caller gets an InputError once the budget is spent instead of waiting on.

The parsers themselves are linear (generators/core/bounded.py); this is the fence behind them. A call that ran out
of time still ends on its thread (Python cannot stop a thread), but it holds one of `workers` slots until then,
and while all slots are held the next upload waits at most its own budget for one, then is refused: a flood of
hostile files takes these threads, never the server's.

    UPLOADS.run(parse, data, seconds=5.0, key="provenance_too_slow")
"""

import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError

from generators.core.errors import InputError


class TimeBudget:
    """`workers` threads that run calls with a deadline; see the module docstring."""

    def __init__(self, workers: int = 2, name: str = "upload-check"):
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._free = threading.Semaphore(workers)

    def run(self, fn, *args, seconds: float, key: str, **kwargs):
        """fn(*args, **kwargs) within `seconds` (waiting for a free slot included); InputError(key, seconds=...)
        past it. What fn raises is raised here."""
        if not self._free.acquire(timeout=seconds):
            raise InputError(key, seconds=seconds)
        try:
            future = self._pool.submit(self._call, fn, args, kwargs)
        except BaseException:
            self._free.release()
            raise
        try:
            return future.result(timeout=seconds)
        except TimeoutError:
            raise InputError(key, seconds=seconds) from None

    def _call(self, fn, args, kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            self._free.release()


UPLOADS = TimeBudget()  # the image checker and the adapter checks share these threads
