"""The C heap of a server whose requests run on many threads.

glibc gives threads their own malloc arenas (up to 8 per core) and keeps each arena's freed pages. With 16 image
requests at once (bench/bench_load.py, 16 users asking for 16 GAN digits each, RSS 3 s after the level against its
warm start): +99.5% and +65.5% in two runs with glibc's default arenas (the second with a malloc_trim once the server
had been idle for 1 s: not kept then, since most of the growth was memory in use; see QuietTrim), +19.0% with two
arenas set by MALLOC_ARENA_MAX=2 and +22.8% with this module's limit_arenas(), at 581, 458, 524 and 501 digits/s.

    limit_arenas()   # at the start of the app and of each worker process, before its threads start
    trim_heap()      # the free pages back to the system
    QUIET.note()     # at each request event (app.py); QUIET.start() trims once the app has been quiet for 1 s,
                     # and every 30 s under unbroken load

The 30 s trim alone left a room's heap behind for up to 30 s after it left: 16 digit users for 20 s, RSS read 3 s
later +6.1% to +7.6% over the warm start, 35 s later +1.2% to +5.4%.
"""

import ctypes
import ctypes.util
import functools
import threading
import time

M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


@functools.cache
def _libc():
    """glibc, or None (musl, macOS, Windows: nothing to tune there)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def trim_heap() -> bool:
    """Returns the C heap's free pages to the system (glibc's malloc_trim); whether it could."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) >= 0)


def limit_arenas(arenas: int = 2) -> bool:
    """At most `arenas` malloc arenas for the threads started from now on (glibc's mallopt; MALLOC_ARENA_MAX in the
    environment does the same at start); whether it could."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


class QuietTrim:
    """Trims the C heap once no request event has come for `quiet_s` after some did: when a room goes quiet, what
    its requests freed goes back to the system then (the trim walks the heap under malloc's locks, so it waits for
    a quiet moment instead of running under load); under load that never pauses, every `period_s`."""

    def __init__(self, quiet_s: float = 1.0, every_s: float = 0.25, period_s: float = 30.0):
        self.quiet_s, self.every_s, self.period_s = quiet_s, every_s, period_s
        self.last_event = self.trimmed = time.monotonic()
        self.trims = 0
        self._started, self._lock = False, threading.Lock()

    def note(self) -> None:
        """A request event came (cheap: one clock read, called for every event the server runs)."""
        self.last_event = time.monotonic()

    def step(self, now: float) -> bool:
        """Trims if events came since the last trim and none for quiet_s (or period_s has passed); whether it did."""
        if self.last_event <= self.trimmed or (now - self.last_event < self.quiet_s
                                               and now - self.trimmed < self.period_s):
            return False
        self.trimmed, self.trims = now, self.trims + 1
        trim_heap()
        return True

    def start(self) -> None:
        """The watching thread (a daemon), once."""
        with self._lock:
            if not self._started:
                threading.Thread(target=self._watch, name="quiet-trim", daemon=True).start()
                self._started = True

    def _watch(self) -> None:
        while True:
            time.sleep(self.every_s)
            self.step(time.monotonic())


QUIET = QuietTrim()  # the app's (app.py notes its events and starts it)
