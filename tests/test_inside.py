"""Inside the model: attention, the logit lens and the sampling chart on tiny seeded models, the chart's script
(ui/tabs/inside.js, run under node) against text_decoding, and the two APIs through gradio_client."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from generators import scales, text
from generators.core.errors import InputError
from generators.inside import ModelInspector
from generators.lm import inspect as inspect_lm
from generators.lm import smollm
from generators.lm.text_decoding import Gpt2Session, Sampling, choose, processed
from ui.kit.errors import render

TEXT = "The old captain looked out over the harbour and said that the sea was calm."
SCRIPT = Path(__file__).resolve().parents[1] / "ui" / "tabs" / "inside.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer):
    return tiny_tokenizer  # conftest.py: the tiny models' tokenizer


@pytest.fixture(scope="module")
def gpt2_folder(tiny_gpt2_dir):
    return tiny_gpt2_dir(128)  # conftest.py: a tiny seeded GPT-2, 128 positions


@pytest.fixture(scope="module")
def llama_folder(tiny_llama_dir):
    return tiny_llama_dir  # conftest.py: a tiny seeded Llama (SmolLM2's architecture)


@pytest.fixture(scope="module")
def inspector(gpt2_folder):
    return ModelInspector(gpt2_folder)


@pytest.fixture
def tiny_text_model(gpt2_folder, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(gpt2_folder))
    return text.load(text.BUNDLED, torch.device("cpu"))


def test_attention_rows_are_distributions_over_earlier_tokens(inspector):
    out = inspector.inspect(TEXT * 3, -1)
    L, H, T, _ = out.attention.shape
    assert (L, H, T) == (2, 2, inspect_lm.WINDOW)  # the text is longer: its last 64 tokens
    assert torch.allclose(out.attention.sum(-1), torch.ones(L, H, T), atol=1e-5)
    assert (out.attention.triu(diagonal=1) == 0).all()  # zeros after each row's position
    answer = inspector.inspect_text(TEXT, 5)
    att = torch.tensor(answer["attention"])  # the API's lists, rounded
    assert att.shape[-1] == len(answer["tokens"]) and answer["position"] == 5
    assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-3)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_the_lens_last_layer_is_the_models_own_next_token_distribution(arch, gpt2_folder, llama_folder, tokenizer):
    ins = ModelInspector(gpt2_folder if arch == "gpt2" else llama_folder)
    ids = tokenizer(TEXT).input_ids
    out = ins.inspect(TEXT, -1)
    model = ins.load()[0]
    with torch.no_grad():  # the model's own forward, without attention or hidden states asked for
        own = model(torch.tensor([ids])).logits[0, -1].softmax(-1)
    assert len(out.lens) == model.config.num_hidden_layers + 1  # embeddings, then each layer
    lens_ids, lens_p = zip(*out.lens[-1])
    assert list(lens_ids) == own.topk(3).indices.tolist()
    assert torch.allclose(torch.tensor(lens_p), own.topk(3).values, atol=1e-5)
    assert out.lens[0] != out.lens[-1]  # earlier layers read differently


def test_the_lens_agrees_with_the_text_tabs_fast_path(inspector, tiny_text_model, tokenizer):
    ids = tokenizer(TEXT).input_ids
    fast = Gpt2Session(tiny_text_model.fast, 1, len(ids)).start(torch.tensor([ids]))[0].softmax(-1)
    answer = inspector.inspect_text(TEXT, -1)
    assert [c["id"] for c in answer["next"]] == fast.topk(20).indices.tolist()
    assert [c["p"] for c in answer["logit_lens"][-1]] == pytest.approx(fast.topk(3).values.tolist(), abs=1e-4)


def test_a_position_sees_only_the_tokens_up_to_it(inspector, tokenizer):
    ids = tokenizer(TEXT).input_ids
    prefix = tokenizer.decode(ids[:6])
    assert inspector.inspect_text(TEXT, 5)["next"] == inspector.inspect_text(prefix, -1)["next"]


@pytest.mark.parametrize("args, key", [((TEXT, 99), "inside_position"), ((TEXT, True), "inside_position"),
                                       ((TEXT, 1.5), "inside_position"), ((TEXT, "3"), "inside_position"),
                                       (("", -1), "inside_text_empty"), ((None, -1), "inside_text_type"),
                                       (("x" * 4001, -1), "inside_text_long")])
def test_bad_inputs_get_keyed_messages_in_both_languages(inspector, args, key):
    with pytest.raises(InputError) as e:
        inspector.inspect_text(*args)
    assert e.value.key == key
    en, zh = render(key, e.value.fields, "en"), render(key, e.value.fields, "zh")
    assert en != zh and "{" not in en + zh


def run_chart(logits: torch.Tensor, seen: list[int], cases: list[dict], q: torch.Tensor) -> list[dict]:
    """ui/tabs/inside.js's samplingView under node, for each case."""
    program = f"""const m = require({json.dumps(str(SCRIPT))});
const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = d.cases.map(c => {{ const s = m.samplingView(Float32Array.from(d.logits), d.seen, c.t, c.k, c.p, c.r,
  Float32Array.from(d.q));
  return {{ kept: [...s.keep.keys()].filter(i => s.keep[i]), mass: s.mass, pick: s.pick }}; }});
console.log(JSON.stringify(out));"""
    data = json.dumps(dict(logits=logits.tolist(), seen=seen, cases=cases, q=q.tolist()))
    done = subprocess.run([NODE, "-e", program], input=data, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


CASES = [dict(t=0.8, k=40, p=0.95, r=1.1), dict(t=1.0, k=0, p=1.0, r=1.0), dict(t=1.5, k=5, p=1.0, r=1.0),
         dict(t=0.5, k=0, p=0.5, r=1.3), dict(t=2.0, k=200, p=0.9, r=1.0), dict(t=0.0, k=40, p=0.95, r=1.1)]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_charts_cut_offs_and_masses_match_text_decodings_filters(inspector):
    out = inspector.inspect(TEXT, -1)
    seen = out.ids
    for case, chart in zip(CASES, run_chart(out.logits, seen, CASES, inspect_lm.seed_exponentials(0, 300))):
        mask = torch.zeros(1, len(out.logits), dtype=torch.bool)
        mask[0, seen] = True
        kept = processed(out.logits[None], mask, Sampling(case["t"], case["k"], case["p"], case["r"]))[0]
        expected = torch.isfinite(kept).nonzero()[:, 0].tolist()
        assert chart["kept"] == expected, case
        if case["t"]:
            x = processed(out.logits[None], mask, Sampling(case["t"], 0, 1.0, case["r"]))[0]  # before the cuts
            assert chart["mass"] == pytest.approx(float(x.softmax(-1)[expected].sum()), abs=1e-5)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_seeds_pick_is_the_token_the_text_tab_writes(inspector, tiny_text_model):
    out = inspector.inspect(TEXT, -1)
    tc = text.TextContinuation(torch.device("cpu"))
    for seed in (0, 1, 7, 12345):
        q = inspect_lm.seed_exponentials(seed, len(out.logits))
        charts = run_chart(out.logits, out.ids, CASES, q)
        for case, chart in zip(CASES, charts):
            mask = torch.zeros(1, len(out.logits), dtype=torch.bool)
            mask[0, out.ids] = True
            generator = torch.Generator().manual_seed(seed)
            drawn = choose(out.logits[None], mask, Sampling(case["t"], case["k"], case["p"], case["r"]), generator)
            assert chart["pick"] == int(drawn), (seed, case)
        first = tc.continue_text(TEXT, max_new_tokens=1, seed=seed, temperature=0.8, top_k=40, top_p=0.95,
                                 repetition_penalty=1.1)[0].tokens[0].token_id
        assert charts[0]["pick"] == first, seed  # CASES[0] is the text tab's defaults


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_a_guess_is_ranked_by_its_token_or_its_first_piece():
    program = f"""const m = require({json.dumps(str(SCRIPT))}); const t = [" the", " har", ",", " sea"];
console.log(JSON.stringify(["the", " Sea ", "harbour", "ship", ""].map(g => m.guessRank(g, t))));"""
    done = subprocess.run([NODE, "-e", program], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [dict(rank=1, piece=False), dict(rank=4, piece=False),
                                       dict(rank=2, piece=True), dict(rank=0, piece=False), None]


def test_the_scale_view_offline_runs_ours_and_says_why_not_the_others(gpt2_folder, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(gpt2_folder))
    monkeypatch.setattr(smollm, "available", lambda: False)
    items = list(scales.ScaleComparison(text.TextContinuation(torch.device("cpu"))).stream(TEXT, max_new_tokens=6,
                                                                                           seed=3))
    first, last = items[0], items[-1]
    assert [r["model"] for r in last] == list(scales.models()) and last[0]["model"] == text.BUNDLED
    assert first[0]["text"] == "" and last[0]["text"] and last[0]["available"]
    assert last[0]["tokens_per_s"] > 0 and last[0]["parameters"] > 0
    off = {r["model"]: r["reason"]["key"] for r in last[1:]}
    assert off[smollm.NAME] == "smollm_not_installed"
    assert all(off[m] == "inside_hub_offline_flag" for m in text.HUB_MODELS)  # conftest: HF_HUB_OFFLINE=1
    assert "Qwen/Qwen2.5-0.5B-Instruct" in off
    with pytest.raises(InputError):
        next(scales.ScaleComparison().stream(TEXT, max_new_tokens=65))


def test_apis_through_the_app(client):
    answer = client.predict(TEXT, -1, api_name="/inspect_text")
    assert set(answer) >= {"tokens", "attention", "logit_lens", "next"} and len(answer["next"]) == 20
    assert len(answer["attention"]) == 4 and len(answer["attention"][0]) == 6  # our model: 4 layers x 6 heads
    assert len(answer["attention"][0][0]) == len(answer["tokens"])
    rows = client.predict("The harbour was", 4, 0, api_name="/compare_scales")
    ours, others = rows[0], rows[1:]
    assert ours["model"] == "bundled" and ours["available"] and ours["text"] and ours["parameters"] == 3_401_856
    assert others and all(not r["available"] and r["reason"] for r in others if "/" in r["model"])
    with pytest.raises(Exception, match="between -"):
        client.predict(TEXT, 500, api_name="/inspect_text")


def test_the_page_script_has_all_its_words_in_both_languages():
    from ui.tabs.inside_tab import labels

    used = set(re.findall(r"\bL\.(\w+)", SCRIPT.read_text(encoding="utf-8")))
    used |= {f"slider_{k}" for k in ("temperature", "top_k", "top_p", "penalty")}  # L["slider_" + k]
    en, zh = labels("en"), labels("zh")
    assert used <= set(en) and set(en) == set(zh)
    assert all(en[k] != zh[k] for k in en)


def test_the_plot_places_measured_models_and_names_the_gap():
    from ui.tabs.scale_plot import scale_cards, scale_plot

    rows = [dict(model="bundled", parameters=3_401_856, bits_per_byte=1.481, tokens_per_s=300.0, text=" and so",
                 available=True, reason=""),
            dict(model=smollm.NAME, parameters=134_515_008, bits_per_byte=1.2, tokens_per_s=20.0, text=" it was",
                 available=True, reason=""),
            dict(model="Qwen/Qwen2.5-0.5B-Instruct", parameters=494_032_768, bits_per_byte=None, tokens_per_s=9.5,
                 tokens_per_s_note="random weights", text="", available=False, reason="offline")]
    svg = scale_plot(rows, "en")
    assert svg.count("<circle") == 2 and "-0.28 bits/byte for 40× the parameters" in svg
    assert "Not on the plot (not measured here): Qwen2.5-0.5B-Instruct" in svg and "494M" in svg
    cards = scale_cards(rows, "zh")
    assert cards.count('class="inside-card"') + cards.count('inside-card inside-off') == 3
    assert "不可用：offline" in cards and "随机权重" in cards


def test_raw_http_calls_with_bad_inputs_get_our_message(app_url):
    from tests.test_security import raw_call

    event, data = raw_call(app_url, "inspect_text", [123, -1])
    assert event == "error" and "must be a string" in json.dumps(data)
    event, data = raw_call(app_url, "compare_scales", ["Hi", 65, 0])
    assert event == "error" and "between 1 and 64" in json.dumps(data)
    event, data = raw_call(app_url, "compare_scales", ["Hi", 2, -1], headers={"accept-language": "zh-CN"})
    assert event == "error" and "随机种子" in json.dumps(data, ensure_ascii=False)
