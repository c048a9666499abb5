"""Coalesced streams: the first and the last item always sent, at most one update per interval between."""

import itertools

from ui.streams import coalesced


def timed(times):
    """A clock that reads the given times, one per item taken."""
    it = iter(times)
    return lambda: next(it)


def test_first_and_last_items_are_sent_and_the_rest_thinned():
    times = range(0, 1000, 10)  # an item every 10 ms (whole milliseconds: no float rounding at the boundaries)
    out = list(coalesced(range(100), interval=50, clock=timed(times)))
    assert out[0] == 0 and out[-1] == 99
    assert out == list(range(0, 100, 5)) + [99]
    assert all(b - a >= 5 for a, b in itertools.pairwise(out[:-1]))


def test_slow_streams_pass_whole():
    assert list(coalesced(range(6), interval=0.05, clock=timed([0.1 * i for i in range(6)]))) == list(range(6))


def test_a_single_item_is_sent_once():
    assert list(coalesced(["only"], clock=timed([0.0]))) == ["only"]


def test_the_final_item_is_sent_even_when_it_comes_right_after_another():
    assert list(coalesced("abc", interval=1.0, clock=timed([0.0, 0.5, 0.6]))) == ["a", "c"]


def test_closing_the_coalesced_stream_closes_the_source():
    closed = []

    def source():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    stream = coalesced(source(), interval=1.0, clock=itertools.count().__next__)
    next(stream), next(stream)
    stream.close()
    assert closed == [True]
