"""How often one session, or one client address, may ask: a sliding window of the last minute, kept in memory.

A room behind one office router shares one address, so the address's allowance is several people's; a session is
one browser tab (or one gradio_client). Attempts count, accepted or not: a flood of forged tokens is refused before
it reaches the database.
"""

import os
import threading
import time
from collections import deque
from dataclasses import dataclass

from generators.core.errors import KeyedError


class Flooded(KeyedError):
    """Too many requests from one session or address in the window; `wait` says for how many seconds."""


@dataclass(frozen=True)
class Allowance:
    """At most `per_session` and `per_address` requests in any `window` seconds."""

    per_session: int
    per_address: int
    window: float = 60.0

    @classmethod
    def from_env(cls, prefix: str, per_session: int, per_address: int) -> "Allowance":
        """Defaults overridden by {prefix}_PER_SESSION and {prefix}_PER_ADDRESS (a bench raises them)."""
        return cls(int(os.environ.get(f"{prefix}_PER_SESSION", per_session)),
                   int(os.environ.get(f"{prefix}_PER_ADDRESS", per_address)))


class SlidingWindow:
    """Counts each key's requests in the last `window` seconds; thread-safe, exact within one process."""

    def __init__(self, allowance: Allowance, clock=time.monotonic, max_keys: int = 100_000):
        self.allowance, self.clock, self.max_keys = allowance, clock, max_keys
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def admit(self, session: str, address: str, what: str) -> None:
        """Counts one request, or raises Flooded("room_flood") when either key is at its limit (then nothing is
        counted, so a refused flood does not keep the window shut for ever)."""
        now, a = self.clock(), self.allowance
        keys = ((f"s:{session}", a.per_session), (f"a:{address}", a.per_address))
        with self._lock:
            if len(self._seen) > self.max_keys:
                self._forget(now)
            queues = [self._seen.setdefault(k, deque()) for k, _ in keys]
            for q in queues:
                while q and q[0] <= now - a.window:
                    q.popleft()
            for q, (_, limit) in zip(queues, keys):
                if len(q) >= limit:
                    raise Flooded("room_flood", what=what, limit=limit, window=int(a.window),
                                  wait=max(1, round(q[0] + a.window - now)))
            for q in queues:
                q.append(now)

    def _forget(self, now: float) -> None:
        """Drops keys with nothing in the window (memory stays bounded under many sessions)."""
        stale = [k for k, q in self._seen.items() if not q or q[-1] <= now - self.allowance.window]
        for k in stale:
            del self._seen[k]
