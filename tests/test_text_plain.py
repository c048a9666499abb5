"""The text tab in plain words (issue 27): prompts the bundled model cannot read, an example's temperature 0 that does
not stick, the verdict line and the model's facts; the watermark's three outcomes."""

import pytest
import torch

from generators import text
from generators.core.errors import InputError
from generators.lm.readable import ends_in_symbol, readable, unreadable_share
from generators.provenance.watermark import MIN_TOKENS, Z_THRESHOLD, verdict
from generators.text import TEMPERATURE_DEFAULT, TextContinuation
from tests.test_text import PROMPT
from ui.kit.errors import render
from ui.tabs import text_plain


@pytest.mark.parametrize("prompt, ok", [("人工智能的未来", False), ("😀🎉🚀", False), ("The café was naïve", True),
                                        ("Hello 😀", True), ("He said 你好 to Mr Wang at the door", True),
                                        ("1234, 5678", True), ("Привет, как дела?", False)])
def test_readable_prompts(prompt, ok):
    assert readable(prompt) is ok, unreadable_share(prompt)


def test_ends_in_symbol():
    assert ends_in_symbol("I love pizza 🍕") and ends_in_symbol("ok 👍🏽") and ends_in_symbol("❤️")
    assert not ends_in_symbol("I love pizza.") and not ends_in_symbol("🍕 ") and not ends_in_symbol("")


@pytest.fixture
def tc(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tiny_gpt2_dir(64)))  # conftest.py: the tiny seeded GPT-2
    return TextContinuation(torch.device("cpu"))


@pytest.mark.parametrize("prompt, key", [("人工智能的未来", "text_prompt_unreadable"), ("🚀🚀", "text_prompt_unreadable"),
                                         ("", "text_empty_prompt"), ("  \n", "text_empty_prompt")])
def test_the_adapter_refuses_what_the_model_cannot_read(tc, prompt, key, monkeypatch):
    monkeypatch.setattr(text, "_hub_reachable", lambda timeout=3.0: pytest.fail("offline: no network"))
    with pytest.raises(InputError) as e:
        tc.stream(prompt, max_new_tokens=4)
    assert e.value.key == key


def test_the_notice_names_a_chinese_model_where_the_hub_answers(tc, monkeypatch):
    monkeypatch.setattr(text, "_offline", lambda: False)
    monkeypatch.setattr(text, "_hub_reachable", lambda timeout=3.0: True)
    with pytest.raises(InputError) as e:
        tc.stream("人工智能的未来", max_new_tokens=4)
    assert e.value.key == "text_prompt_unreadable_hub" and e.value.fields["model"] == text.READS_CHINESE
    assert "Qwen" in render(e.value.key, e.value.fields, "en") and "能读中文" in render(e.value.key, e.value.fields, "zh")


def test_unreadable_notice_in_both_languages(tc):
    with pytest.raises(InputError) as e:
        tc.stream("人工智能的未来", max_new_tokens=4)
    en, zh = (render(e.value.key, e.value.fields, lang) for lang in ("en", "zh"))
    assert "cannot read this prompt" in en and "100%" in en and "English only" not in zh
    assert "读不懂这个提示词" in zh and not any("a" <= c <= "z" for c in zh.replace("Hugging Face Hub", "")
                                                 .replace(text.READS_CHINESE, ""))


def test_an_emoji_at_the_end_is_not_glued_to_the_continuation(tc):
    out = tc.continue_text("I love pizza 🍕", max_new_tokens=6, seed=0)[0]
    assert out.prompt_text == "I love pizza 🍕\n" and out.text.startswith("I love pizza 🍕\n")


def test_an_examples_temperature_zero_does_not_stick():
    unstick = text_plain.unstick
    assert unstick(0.0, 1, True, True) == (TEMPERATURE_DEFAULT, False)  # example, then the prompt edited
    assert unstick(0.0, 3, True, False) == (TEMPERATURE_DEFAULT, False)  # example, then 3 alternatives
    assert unstick(0.0, 3, False, False) == (TEMPERATURE_DEFAULT, False)  # greedy alternatives are all the same
    assert unstick(0.0, 1, False, True) == (0.0, False)  # a person's own 0 stays while they edit the prompt
    assert unstick(1.2, 3, True, False) == (1.2, True)
    assert text_plain.greedy_note(0, 2) and not text_plain.greedy_note(0, 1) and not text_plain.greedy_note(0.5, 3)


def test_the_tabs_events_reset_an_examples_temperature():
    """The wiring: typing in the prompt and moving the alternatives slider run unstick on the temperature."""
    import gradio as gr
    from ui.tabs import text_tab

    with gr.Blocks() as demo:
        text_tab.build()
    inputs = {c.label: c for c in demo.blocks.values() if isinstance(c, gr.components.Component)}
    by_id = {c._id: c for c in demo.blocks.values()}
    wired = {}
    for dep in demo.fns.values():
        for block_id, trigger in dep.targets:
            outs = [by_id[o._id if hasattr(o, "_id") else o] for o in dep.outputs]
            if trigger == "input" and any(isinstance(o, gr.Slider) and o.value == TEMPERATURE_DEFAULT for o in outs):
                wired[by_id[block_id]] = dep.fn
    kinds = sorted(type(c).__name__ for c in wired)
    assert len(wired) == 2 and kinds == ["Slider", "Textbox"], kinds
    for component, fn in wired.items():
        assert fn(0.0, 3, True)[0] == TEMPERATURE_DEFAULT
    assert inputs  # the tab built


def test_three_outcomes():
    assert verdict(Z_THRESHOLD + 1, 200, 120) == "watermarked"
    assert verdict(Z_THRESHOLD + 1, 60, 120) == "watermarked"  # found on a short text: found
    assert verdict(1.0, 60, 120) == "too_short"  # not found, but marked text this short is often missed
    assert verdict(1.0, 200, 120) == "no_watermark"
    assert verdict(Z_THRESHOLD + 3, MIN_TOKENS - 1, 120) == "too_short"


def test_the_verdict_line_counts_the_first_choices(tc):
    alts = tc.continue_text(PROMPT, max_new_tokens=8, seed=0, temperature=0.0)
    line = text_plain.verdict(alts, 0.5, False, "en")
    assert line.startswith("**8 new tokens in 0.5 s.**") and "for 100% of them" in line  # greedy: always #1
    assert "秒生成了 8 个新 token" in text_plain.verdict(alts, 0.5, False, "zh")


def test_the_facts_come_from_the_training_files():
    facts = text.bundled_facts()
    if not facts:
        pytest.skip("no bundled model")
    assert facts["context"] == 256 and facts["params"] > 1e6
    en, zh = text_plain.STRINGS["text_facts"]
    assert f"{facts['params'] / 1e6:.1f} million parameters" in en and "175 billion" in en and "Brown et al., 2020" in en
    assert f"{175e9 / facts['params']:,.0f}×" in en and "1750 亿" in zh
