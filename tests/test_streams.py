"""Coalesced streams: the first and the last item always sent, at most one update per interval between."""

import itertools

from ui.kit.streams import APP_UPDATES_PER_S, UPDATES_PER_S, OpenStreams, coalesced


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


def test_many_open_streams_share_the_apps_updates():
    """With 15 other streams open, one stream sends every 16/APP_UPDATES_PER_S s; alone, every 1/UPDATES_PER_S."""
    ms = 1000
    times = range(0, 2000, 5)  # an item every 5 ms, in whole milliseconds
    crowd = list(coalesced(range(400), clock=timed(t / ms for t in times), streams=OpenStreams(15)))
    alone = list(coalesced(range(400), clock=timed(t / ms for t in times), streams=OpenStreams()))
    gap = lambda out: min(b - a for a, b in itertools.pairwise(out[:-1])) * 5 / ms  # noqa: E731 - seconds
    assert gap(alone) >= 1 / UPDATES_PER_S and gap(crowd) >= 16 / APP_UPDATES_PER_S > 1 / UPDATES_PER_S
    assert len(crowd) < len(alone) and crowd[-1] == alone[-1] == 399


def test_a_stream_counts_as_open_until_it_ends_or_is_closed():
    streams = OpenStreams()
    stream = coalesced(iter(range(3)), interval=0, streams=streams)
    next(stream)
    assert streams.count == 1
    stream.close()
    assert streams.count == 0
    assert list(coalesced(range(3), interval=0, streams=streams)) == [0, 1, 2] and streams.count == 0
