"""Streams sized for browsers: a fast model makes more updates than a page can show or a server can afford to send.

Gradio's guidance is at most ~20 updates a second per stream; every update is a message with all of the event's
outputs, and a served token cost ~4.6 ms of server CPU against ~0.9 ms in the model (issue 14's measurement).
"""

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator

UPDATES_PER_S = 20  # one stream's most
APP_UPDATES_PER_S = 128  # all streams together: from 7 at once each gets an equal share (16 users: 8 a second)
_NOTHING = object()


class OpenStreams:
    """How many coalesced streams are open in this process (thread-safe)."""

    def __init__(self, count: int = 0):
        self.count, self._lock = count, threading.Lock()

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        with self._lock:
            self.count += 1
        try:
            yield
        finally:
            with self._lock:
                self.count -= 1

    def interval(self) -> float:
        """Seconds between one stream's updates: 1/20, or its share of the app's updates when many are open.
        Each update costs the server the same whatever it carries (Gradio's postprocessing of every output, the
        event's message), so a room of 16 gets as many tokens a second with fewer, larger updates."""
        return max(1 / UPDATES_PER_S, self.count / APP_UPDATES_PER_S)


OPEN = OpenStreams()


def coalesced(items: Iterable, interval: float | None = None, clock: Callable[[], float] = time.monotonic,
              streams: OpenStreams = OPEN) -> Iterator:
    """The first item at once, then the newest item at most once per `interval` seconds, and always the last one.
    `interval` None: `streams.interval()`, read at each item (20 a second, fewer when many streams are open).

    For streams whose every item is the whole state so far (TextContinuation's): a skipped item is superseded by
    the next one sent. Closing this stream closes `items` at once (Stop stops the model)."""
    sent_at, pending = None, _NOTHING
    try:
        with streams.opened():
            for item in items:
                now = clock()
                if sent_at is None or now - sent_at >= (streams.interval() if interval is None else interval):
                    sent_at, pending = now, _NOTHING
                    yield item
                else:
                    pending = item
            if pending is not _NOTHING:
                yield pending
    finally:
        getattr(items, "close", lambda: None)()
