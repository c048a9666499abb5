"""Text watermark: the green list (device-free, pinned values), the detector, and the decoding loop on a tiny GPT-2."""

import json

import numpy as np
import pytest
import torch

from generators.provenance import watermark
from generators.core.errors import InputError
from generators.text import TextContinuation
from generators.text import detect_text
from generators.provenance.watermark import (MIN_TOKENS, Watermark, detect, green_mask, is_green, splitmix64,
                                  token_ranks)

PROMPT = "The old captain looked out over the harbour and said"
FLAT = dict(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)  # a random tiny model is near uniform


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread


@pytest.fixture
def tc(tiny_gpt2_dir, monkeypatch):
    """The adapter on a tiny seeded GPT-2 with 128 tokens of context (conftest.py)."""
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tiny_gpt2_dir(128)))
    return TextContinuation(torch.device("cpu"))


def marked_ids(tc, out) -> list[int]:
    """The prompt's last token, then the continuation: every new token is scored."""
    return tc.load().tokenizer(out.prompt_text).input_ids[-1:] + [t.token_id for t in out.tokens]


def test_splitmix64_matches_the_reference_on_ints_and_arrays():
    assert [splitmix64(0), splitmix64(0x9E3779B97F4A7C15)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]  # seed 0
    values = [0, 1, 2**63, 2**64 - 1]
    assert splitmix64(np.array(values, dtype=np.uint64)).tolist() == [splitmix64(x) for x in values]


def test_green_list_stored_values():
    assert np.flatnonzero(green_mask([42], 8192, gamma=0.25)[0])[:8].tolist() == [16, 24, 26, 27, 29, 32, 34, 37]
    assert np.flatnonzero(green_mask([7], 300, gamma=0.25)[0])[:8].tolist() == [1, 6, 9, 10, 12, 20, 21, 24]
    assert np.flatnonzero(green_mask([42], 8192, gamma=0.5, key=1)[0])[:8].tolist() == [1, 2, 3, 4, 6, 8, 15, 21]


def test_green_lists_are_a_gamma_share_and_agree_with_the_pairwise_test():
    mask = green_mask(list(range(200)), 8192, gamma=0.25)  # (200, V)
    assert mask.shape == (200, 8192) and abs(mask.mean() - 0.25) < 0.005
    assert abs(green_mask([3], 8192, gamma=0.5).mean() - 0.5) < 0.03
    assert (mask[0] != mask[1]).mean() > 0.3  # each previous token has its own list
    prev, tokens = np.repeat(np.arange(200), 50), np.tile(np.arange(0, 8192, 164), 200)
    assert is_green(prev, tokens, gamma=0.25).tolist() == mask[prev, tokens].tolist()
    assert not np.array_equal(green_mask([5], 300, key=1), green_mask([5], 300, key=2))


@pytest.mark.parametrize("device", ["cpu", "meta", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no GPU"))])
def test_green_list_does_not_depend_on_the_device(device, monkeypatch):
    def no_device_rng(*a, **k):
        raise AssertionError("the green list must not come from a device's random generator")

    import torch._dynamo  # noqa: F401  a first meta op imports it, and its import needs the real torch.Generator

    monkeypatch.setattr(torch, "randperm", no_device_rng)
    monkeypatch.setattr(torch, "Generator", no_device_rng)
    prev = [11, 250]
    biased = Watermark(delta=2.0).bias(torch.zeros(2, 300, device=device), prev)
    assert biased.shape == (2, 300) and biased.device.type == device
    if device != "meta":  # meta tensors have no values; the mask was made before the device was seen
        assert ((biased > 0).cpu().numpy() == green_mask(prev, 300)).all()
        assert set(biased.unique().tolist()) == {0.0, 2.0}


def test_detector_scores_repeated_pairs_once_and_refuses_short_texts():
    rng = np.random.default_rng(0)
    ids = [1]
    for _ in range(40):  # a chain of green tokens: each is on its predecessor's list
        ids.append(int(rng.choice(np.flatnonzero(green_mask([ids[-1]], 8192, gamma=0.25)[0]))))
    short = detect(ids[:MIN_TOKENS], gamma=0.25)  # MIN_TOKENS - 1 pairs
    assert short["green_fraction"] == 1.0 and short["z_score"] > 6 and short["verdict"] == "too_short"
    long = detect(ids, gamma=0.25)
    assert long["tokens_scored"] == 40 and long["verdict"] == "watermarked" and long["p_value"] < 1e-8
    assert long["green"][0] is None and all(long["green"][1:]) and len(long["scored"]) == len(ids)
    looped = detect([5, 9] * 30)
    assert looped["tokens_scored"] == 2 and looped["verdict"] == "too_short"
    assert detect([])["verdict"] == detect([3])["verdict"] == "too_short"


def test_watermarked_text_is_detected_and_unmarked_text_is_not(tc):
    for seed in (0, 1, 2):
        marked = tc.continue_text(PROMPT, max_new_tokens=100, seed=seed, watermark=2.0, **FLAT)[0]
        plain = tc.continue_text(PROMPT, max_new_tokens=100, seed=seed, **FLAT)[0]
        hit, miss = detect(marked_ids(tc, marked)), detect(marked_ids(tc, plain))
        assert hit["verdict"] == "watermarked", hit["z_score"]  # z >= 4 (seed 2 stops at EOS after 54 tokens)
        assert miss["verdict"] == "no_watermark" and miss["z_score"] < 3, miss["z_score"]
    # Detection through text (tokenized again) is measured on the real model by the bench ("via text"): this random
    # model's tokens are random bytes, mostly not UTF-8, so its text does not give its tokens back.


def test_watermark_off_is_the_old_loop(tc):
    """watermark=0 draws the same tokens as transformers' generate() (as the loop did before the watermark); no
    top-k or top-p, where draw() takes fewer numbers than torch.multinomial (tests/test_text.py)."""
    lm, settings = tc.load(), dict(temperature=0.9, top_k=0, top_p=1.0, repetition_penalty=1.2)
    ids = lm.tokenizer(PROMPT, return_tensors="pt").input_ids
    torch.manual_seed(7)
    ref = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=True,
                            pad_token_id=lm.tokenizer.eos_token_id, **settings)[0, ids.shape[1]:].tolist()
    off = tc.continue_text(PROMPT, max_new_tokens=20, seed=7, watermark=0.0, **settings)[0]
    on = tc.continue_text(PROMPT, max_new_tokens=20, seed=7, watermark=2.0, **settings)[0]
    assert [t.token_id for t in off.tokens] == ref
    assert [t.token_id for t in on.tokens] != ref


def test_the_bias_steers_the_choice_and_recorded_probabilities_stay_unbiased(tc):
    out = tc.continue_text(PROMPT, max_new_tokens=30, temperature=0, repetition_penalty=1.0,
                           watermark=watermark.STRENGTH.hi)[0]
    ids = marked_ids(tc, out)
    assert detect(ids)["green_fraction"] == 1.0  # greedy on biased logits: a green token each step
    lm = tc.load()
    full = torch.tensor([lm.tokenizer(out.prompt_text).input_ids + ids[1:]])
    with torch.no_grad():
        probs = lm.model(full).logits[0, -len(ids):-1].softmax(-1)  # (30, V): the model without the bias
    want = probs.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].tolist()
    assert [t.prob for t in out.tokens] == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("bad", [-0.5, watermark.STRENGTH.hi + 1, float("nan"), "2", None])
def test_bad_strength_is_refused(tc, bad):
    with pytest.raises(InputError) as e:
        tc.stream(PROMPT, watermark=bad)
    assert e.value.key == "float_range" and e.value.fields["name"] == "watermark"


def test_ranks_of_greedy_text_are_one_and_long_texts_are_windowed(tc):
    lm = tc.load()
    out = tc.continue_text(PROMPT, max_new_tokens=20, temperature=0, repetition_penalty=1.0)[0]
    prompt_ids = lm.tokenizer(out.prompt_text).input_ids
    ranks = token_ranks(lm, prompt_ids + [t.token_id for t in out.tokens])
    assert ranks[0] is None and ranks[len(prompt_ids):] == [1] * 20  # greedy: always the model's first choice
    long = [int(i) for i in torch.randint(0, 300, (300,), generator=torch.Generator().manual_seed(0))]
    ranks = token_ranks(lm, long)  # 300 tokens through a 128-token context: three windows
    assert len(ranks) == 300 and all(1 <= r <= 300 for r in ranks[1:])
    assert ranks[1:128] == token_ranks(lm, long[:128])[1:]


def test_detect_text_reports_tokens_and_rank_shares(tc):
    text = tc.continue_text(PROMPT, max_new_tokens=40, seed=3, watermark=2.0, **FLAT)[0].text
    result = detect_text(text)
    json.dumps(result)  # plain JSON for the API
    assert {"z_score", "p_value", "tokens_scored", "verdict", "green_fraction"} <= result.keys()
    assert "".join(t["text"] for t in result["tokens"]) == text
    assert sum(result["rank_shares"].values()) == pytest.approx(1.0)
    assert result["tokens"][0]["rank"] is None and result["tokens"][1]["bucket"] in watermark.rank_shares([]).keys()
    scored = [t for t in result["tokens"] if t["scored"]]
    assert len(scored) == result["tokens_scored"]
    assert sum(t["green"] for t in scored) == round(result["green_fraction"] * result["tokens_scored"])


@pytest.mark.parametrize("bad, key", [("", "watermark_empty_text"), ("   \n", "watermark_empty_text"),
                                      (None, "watermark_empty_text"),
                                      ("x" * (watermark.MAX_TEXT_CHARS + 1), "watermark_text_too_long")])
def test_detect_text_refuses_bad_input(tc, bad, key):
    with pytest.raises(InputError) as e:
        detect_text(bad)
    assert e.value.key == key
