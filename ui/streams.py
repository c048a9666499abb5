"""Streams sized for browsers: a fast model makes more updates than a page can show or a server can afford to send.

Gradio's guidance is at most ~20 updates a second per stream; every update is a message with all of the event's
outputs, and a served token cost ~4.6 ms of server CPU against ~0.9 ms in the model (issue 14's measurement).
"""

import time
from collections.abc import Callable, Iterable, Iterator

UPDATES_PER_S = 20
_NOTHING = object()


def coalesced(items: Iterable, interval: float = 1 / UPDATES_PER_S,
              clock: Callable[[], float] = time.monotonic) -> Iterator:
    """The first item at once, then the newest item at most once per `interval` seconds, and always the last one.

    For streams whose every item is the whole state so far (TextContinuation's): a skipped item is superseded by
    the next one sent. Closing this stream closes `items` at once (Stop stops the model)."""
    sent_at, pending = None, _NOTHING
    try:
        for item in items:
            now = clock()
            if sent_at is None or now - sent_at >= interval:
                sent_at, pending = now, _NOTHING
                yield item
            else:
                pending = item
        if pending is not _NOTHING:
            yield pending
    finally:
        getattr(items, "close", lambda: None)()
