"""The C heap settings of the server and its workers (generators/runtime/memory.py)."""

import pytest

from generators.runtime import memory


@pytest.mark.skipif(memory._libc() is None, reason="not glibc: there is nothing to tune")
def test_glibc_takes_the_arena_limit_and_the_trim():
    assert memory.limit_arenas(2) and memory.trim_heap()  # mallopt answers 0 for a parameter it does not know


def test_quiet_trim_waits_for_a_quiet_moment_after_events(monkeypatch):
    """No trim before any event or while events keep coming; one once they stop for quiet_s, then none until more."""
    trims = []
    monkeypatch.setattr(memory, "trim_heap", lambda: trims.append(1) or True)
    quiet = memory.QuietTrim(quiet_s=1.0)
    assert not quiet.step(quiet.last_event + 5)  # nothing happened since it was made
    quiet.note()  # an event
    t = quiet.last_event
    assert not quiet.step(t + 0.5)  # still busy: the last event 0.5 s ago
    assert quiet.step(t + 1.1) and trims == [1]
    assert not quiet.step(t + 20) and trims == [1]  # quiet since: nothing new to give back
    quiet.last_event = t + 30  # another event
    assert not quiet.step(t + 30.2) and quiet.step(t + 31.5) and quiet.trims == 2


def test_quiet_trim_still_trims_under_load_that_never_pauses(monkeypatch):
    """Events every 0.5 s (never 1 s of quiet): a trim each time period_s (29.9 s) has passed since the last one."""
    monkeypatch.setattr(memory, "trim_heap", lambda: True)
    quiet = memory.QuietTrim(quiet_s=1.0, period_s=29.9)
    t = quiet.trimmed
    done = []
    for k in range(1, 130):
        quiet.last_event = t + 0.5 * k
        if quiet.step(t + 0.5 * k + 0.1):
            done.append(0.5 * k)
    assert done == [30.0, 60.0]
