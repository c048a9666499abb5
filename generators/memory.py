"""The C heap of a server whose requests run on many threads.

glibc gives threads their own malloc arenas (up to 8 per core) and keeps each arena's freed pages. With 16 image
requests at once (bench/bench_load.py, 16 users asking for 16 GAN digits each, RSS 3 s after the level against its
warm start): +99.5% and +65.5% in two runs with glibc's default arenas (the second with a malloc_trim once the server
had been idle for 1 s, which is not kept), +19.0% with two arenas set by MALLOC_ARENA_MAX=2 and +22.8% with this
module's limit_arenas(), at 581, 458, 524 and 501 digits/s.

    limit_arenas()   # at the start of the app and of each worker process, before its threads start
    trim_heap()      # the free pages back to the system (ui/media.py's cleanup thread, every 30 s)
"""

import ctypes
import ctypes.util
import functools

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
