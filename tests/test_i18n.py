"""English and Chinese: every string and message has both languages, every key the code raises has a wording, and a
Chinese browser (Accept-Language) gets Chinese errors from the launched app."""

import re
import string
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client

from generators import gan, text, vae
from generators.core.errors import InputError, KeyedError
from ui.kit.errors import language, localized, messages, render
from ui.kit.i18n import strings, t
from ui.kit.registry import tabs

ROOT = Path(__file__).resolve().parents[1]
RAISED = re.compile(r"""(?:InputError|ModelUnavailable|KeyedError|Notice)\(\s*["']([a-z0-9_]+)["']""")
CJK = re.compile(r"[\u4e00-\u9fff]")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_string_has_both_languages():
    assert all(en.strip() and zh.strip() for en, zh in strings().values())
    assert all(f"{tab.key}_title" in strings() for tab in tabs())


def test_every_message_has_both_languages_with_the_same_fields():
    for key, (en, zh) in messages().items():
        assert fields(en) == fields(zh), key
        filled = {name: f"<{name}>" for name in fields(en)}
        assert render(key, filled, "en") != render(key, filled, "zh") and CJK.search(render(key, filled, "zh")), key


def test_every_raised_key_is_worded():
    """Each key written in generators/ or ui/ as InputError("key", ...) (or ModelUnavailable, KeyedError, Notice)
    has a message: rewording or adding a key without its translation fails here."""
    raised = {key for folder in ("generators", "ui") for path in (ROOT / folder).rglob("*.py")
              for key in RAISED.findall(path.read_text(encoding="utf-8"))}
    assert len(raised) > 10
    assert raised <= set(messages()), raised - set(messages())


def test_what_the_adapters_raise_is_worded_in_both_languages():
    found = []
    for call in (lambda: text.check_args(3, "bundled", 8, 0.8, 40, 0.9, 1.1, 0, 1),
                 lambda: text.check_args("Hi", "gpt5", 8, 0.8, 40, 0.9, 1.1, 0, 1),
                 lambda: text.check_args("Hi", "bundled", 8.5, 0.8, 40, 0.9, 1.1, 0, 1),
                 lambda: text.check_args("Hi", "bundled", 8, float("nan"), 40, 0.9, 1.1, 0, 1),
                 lambda: gan.validate(digit=11, count=4, seed=0, truncation=1.0),
                 lambda: vae.sketch_to_mnist("not an image")):
        with pytest.raises(KeyedError) as err:
            call()
        found.append(err.value)
    for e in found:
        en, zh = render(e.key, e.fields, "en"), render(e.key, e.fields, "zh")
        assert en != zh and CJK.search(zh) and not CJK.search(en), e


def test_names_and_nested_errors_are_translated():
    assert render("int_range", dict(name="seed", lo=0, hi=9, got="-3"), "zh") == \
        "随机种子（seed）必须是 0 到 9 之间的整数，而不是 -3。"
    assert render("vae_endpoint", dict(side="start", detail=InputError("vae_blank")), "zh") == \
        "起点数字：画板是空白的：请先画一个数字。"


def test_unknown_ui_key_fails_at_build_time():
    with pytest.raises(KeyError):
        t("no_such_key")


@pytest.mark.parametrize("header, lang", [("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
                                          ("fr-FR,fr;q=0.9,zh;q=0.5", "zh"), ("en;q=0.4,zh-TW;q=0.6", "zh"),
                                          ("de-DE", "en"), ("", "en"), ("zh;q=oops", "en")])
def test_language_from_accept_language(header, lang):
    assert language(gr.Request(headers={"accept-language": header})) == lang
    assert language(None) == "en"


def test_localized_hides_the_request_and_lang_from_the_api_and_translates():
    @localized
    def handler(count: int, seed: int = 0, *, lang: str = "en"):
        if count == 1:
            return lang
        raise InputError("int_range", name="count", lo=1, hi=64, got=repr(count))

    params = [name for name, *_ in gr.utils.get_function_params(handler)]
    assert params == ["count", "seed"]  # what the API shows: gr.Request and lang are left out
    assert handler(1, 0, gr.Request(headers={"accept-language": "zh-CN"})) == "zh"
    with pytest.raises(gr.Error, match="数量（count）") as err:
        handler(0, 1, gr.Request(headers={"accept-language": "zh-CN"}))
    assert err.value.title == "错误" and not err.value.print_exception
    with pytest.raises(gr.Error, match="count must be a whole number"):
        handler(0)


# ---- the launched app ----

@pytest.fixture(scope="module")
def zh_client(app_url):
    return Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})


def test_app_errors_follow_the_browser_language(client, zh_client):
    with pytest.raises(Exception, match="数量（count）必须是 1 到 64 之间的整数"):
        zh_client.predict("7", 2.5, 1, 1.0, api_name="/sample_digits")
    with pytest.raises(Exception, match="count must be a whole number"):
        client.predict("7", 2.5, 1, 1.0, api_name="/sample_digits")


def test_app_streaming_errors_follow_the_browser_language(client, zh_client):
    with pytest.raises(Exception, match="起点（start）设为“我的手绘”"):
        zh_client.predict("my drawing", "7", 8, "linear", 0, api_name="/interpolate_digits")
    with pytest.raises(Exception, match="draw or upload a digit first"):
        client.predict("my drawing", "7", 8, "linear", 0, api_name="/interpolate_digits")
