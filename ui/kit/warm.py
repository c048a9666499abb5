"""Warm-ups that make a tab's first request fast (a model loaded, its libraries imported), run once the page
answers: during start they would only share the CPU with it. bench/bench_start.py measures the start."""

import gc
import threading
from collections.abc import Callable

_pending: list[Callable[[], None]] = []


def after_start(warm_up: Callable[[], None]) -> None:
    """Runs `warm_up` after the server answers (app.py calls start()); it reports its own failures, if any."""
    _pending.append(warm_up)


def start() -> threading.Thread:
    """One background thread runs the warm-ups registered so far, in order; a failing one leaves the next to run
    (its first request reports the error again, in the visitor's language)."""
    todo = _pending[:]
    _pending.clear()

    def run():
        for warm_up in todo:
            try:
                warm_up()
            except Exception:  # noqa: BLE001 - a warm-up is an optimisation; its request says what went wrong
                pass
        # The modules and models loaded by now live as long as the process: out of the collector's sight, a full
        # collection no longer walks their ~630,000 objects, which stopped every request for ~320 ms now and then
        # (docs/results.md, the room's submits). Cyclic garbage among them would stay; refcounting still frees.
        gc.freeze()

    thread = threading.Thread(target=run, name="warm-ups", daemon=True)
    thread.start()
    return thread
