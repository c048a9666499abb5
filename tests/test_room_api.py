"""The room through the app: /play_round, /submit_guess, /room_stats as gradio_client and raw HTTP call them,
rounds drawn from their sources, and receipts that grow with the work."""

import base64
import io
import json

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image

from generators.room import rounds
from generators.room.receipts import measure


def _pixels(uri: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_a_round_plays_once_through_the_api(client: Client):
    r = client.predict("digits", 11, api_name="/play_round")
    assert set(r) >= {"round_id", "token", "items"} and len(r["items"]) == 8
    assert all(_pixels(uri).shape == (28, 28) for uri in r["items"])  # same size, no caption
    assert r["link"] == "?tab=room&kind=digits&seed=11&lang=en" and r["receipt"]["estimate"]
    marks = json.dumps([True] * 8)
    before = client.predict(api_name="/room_stats")["rounds"]
    s = client.predict(r["round_id"], r["token"], marks, api_name="/submit_guess")
    assert set(s) >= {"score", "truth", "detectors", "room"}
    assert s["score"] == sum(s["truth"]) and 2 <= sum(s["truth"]) <= 4
    assert set(s["detectors"]) == {"discriminator", "classifier"} and len(s["detectors"]["classifier"]) == 8
    assert s["room"]["rounds"] == before + 1 == client.predict(api_name="/room_stats")["rounds"]
    with pytest.raises(Exception, match="already been answered"):
        client.predict(r["round_id"], r["token"], marks, api_name="/submit_guess")
    with pytest.raises(Exception, match="does not belong"):
        other = client.predict("digits", 12, api_name="/play_round")
        client.predict(other["round_id"], r["token"], marks, api_name="/submit_guess")


@pytest.mark.parametrize("args, words", [
    (("pixels", 1), "kind"), (("digits", -1), "seed"), (("digits", 1.5), "seed")])
def test_bad_round_requests_get_a_short_message(client: Client, args, words):
    with pytest.raises(Exception, match=words):
        client.predict(*args, api_name="/play_round")


def test_bad_marks_get_a_short_message_in_chinese(app_url):
    zh = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    r = zh.predict("digits", 13, api_name="/play_round")
    with pytest.raises(Exception, match="JSON 列表"):
        zh.predict(r["round_id"], r["token"], "[true]", api_name="/submit_guess")


def test_the_same_seed_gives_the_same_round(client: Client):
    a = client.predict("digits", 21, api_name="/play_round")
    b = client.predict("digits", 21, api_name="/play_round")
    assert a["items"] == b["items"] and a["token"] != b["token"]


def test_a_seed_answered_again_is_scored_not_counted(client: Client):
    """The second answer to a seed's round from one address knew the truth: scored, said so, not in the tally."""
    from ui.tabs.room_views import reveal
    first = client.predict("digits", 31, api_name="/play_round")
    s1 = client.predict(first["round_id"], first["token"], json.dumps([False] * 8), api_name="/submit_guess")
    again = client.predict("digits", 31, api_name="/play_round")
    s2 = client.predict(again["round_id"], again["token"], json.dumps(s1["truth"]), api_name="/submit_guess")
    assert s1["counted"] and not s2["counted"] and s2["score"] == 8
    assert s2["room"]["rounds"] == s1["room"]["rounds"]
    assert "不计入" in reveal(s2, "digits", s1["truth"], "zh") and "not added" in reveal(s2, "digits", s1["truth"], "en")
    assert "not added" not in reveal(s1, "digits", [False] * 8, "en")


class _Sources(rounds.DigitSources):
    """Digit sources whose every family draws a constant image of its own (to check truth against source)."""

    LEVEL = {"real": 10, "gan": 50, "vae": 90, "diffusion": 130, "distilled": 170}

    def __init__(self):
        pass

    def draw(self, family, seed, count):
        return torch.full((count, 1, 28, 28), self.LEVEL[family] / 255)

    def detect(self, images):
        return [dict(discriminator=True, classifier=False) for _ in images]


@pytest.mark.parametrize("seed", [0, 1, 2, 99])
def test_a_rounds_truth_matches_its_sources(seed):
    level_to_family = {v: k for k, v in _Sources.LEVEL.items()}
    made = rounds.digits_round(_Sources(), seed)
    assert len(made) == 8 and 2 <= sum(i.real for i in made) <= 4
    for item in made:
        assert level_to_family[int(item.content[0, 0])] == item.family
        assert item.record()["real"] == (item.family == "real")


def test_receipts_are_non_negative_and_grow_with_the_work():
    from generators.gan import GanSampler
    sampler = GanSampler()
    sampler.sample(digit=None, count=4, seed=0)  # loaded and warm
    costs = {}
    for count in (16, 64):
        with measure() as r:
            for seed in range(5):
                sampler.sample(digit=None, count=count, seed=seed)
        costs[count] = r
    for r in costs.values():
        assert r.wall_s > 0 and r.cpu_s > 0 and r.joules > 0 and r.co2_g > 0
    assert costs[64].joules > costs[16].joules and costs[64].cpu_s > costs[16].cpu_s


def test_a_streams_meter_keeps_one_receipt_and_a_stopped_stream_none(monkeypatch):
    """A meter across threads (a stream resumes in any worker thread) ends once; a stopped stream keeps nothing
    and leaves no request counted as in flight (that count apportions the process's CPU time)."""
    import threading

    from generators.room import receipts as room_receipts
    from ui.kit import receipts
    kept = []
    monkeypatch.setattr(receipts, "keep", lambda what, r: kept.append((what, r)))

    def stream(stop_early: bool):
        with receipts.metered("test") as meter:
            yield "first"
            sum(range(200_000))
            yield "done " + meter.line("zh")

    before = room_receipts._inflight
    finished = list(stream(False))
    assert finished[-1].startswith("done 本次结果的成本") and len(kept) == 1 and kept[0][1].cpu_s > 0
    stopped = stream(True)
    next(stopped)
    other = threading.Thread(target=stopped.close)  # closed from another thread, as a cancelled event is
    other.start()
    other.join()
    assert len(kept) == 1 and room_receipts._inflight == before
    dropped = receipts.Meter("dropped")  # a handler's meter whose stream was dropped unfinished
    assert room_receipts._inflight == before + 1
    del dropped
    assert len(kept) == 1 and room_receipts._inflight == before


def test_receipts_reach_the_room_totals(client: Client):
    from ui.kit.receipts import KEEPER
    KEEPER.flush()  # earlier tests' receipts, so that only this round's is new below
    before = client.predict(api_name="/room_stats")["energy"]
    client.predict("digits", 31, api_name="/play_round")
    KEEPER.flush()  # the writer thread's batch, now
    after = client.predict(api_name="/room_stats")["energy"]
    assert after["receipts"] == before["receipts"] + 1 and after["joules"] > before["joules"] >= 0


class _Text(rounds.TextSources):
    """Text sources whose model writes a marker after the first sentence, and whose loss is its length."""

    def __init__(self):
        pass

    def paragraphs(self):
        return [f"Sentence {i} begins here. Then the book goes on. And on." for i in range(20)]

    def continue_(self, head, length, seed):
        return head + " MODEL WROTE THIS."

    def loss(self, text):
        return 5.0 if "MODEL" not in text else 1.0


@pytest.mark.parametrize("seed", [0, 5])
def test_a_text_rounds_truth_matches_its_sources(seed):
    made = rounds.text_round(_Text(), seed)
    assert len(made) == 8 and 2 <= sum(i.real for i in made) <= 4
    for item in made:
        assert ("MODEL WROTE" in item.content) == (item.family == "model")
        assert item.detectors["perplexity"] == item.real  # this fake detector is always right
