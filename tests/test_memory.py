"""The C heap settings of the server and its workers (generators/memory.py)."""

import pytest

from generators import memory


@pytest.mark.skipif(memory._libc() is None, reason="not glibc: there is nothing to tune")
def test_glibc_takes_the_arena_limit_and_the_trim():
    assert memory.limit_arenas(2) and memory.trim_heap()  # mallopt answers 0 for a parameter it does not know
