"""English and Chinese: the translation tables are complete, every message the app and its adapters raise has a
Chinese form, and a Chinese browser (Accept-Language) gets Chinese errors from the launched app."""

import string

import gradio as gr
import pytest
import torch
from gradio_client import Client
from PIL import Image

from generators import device, gan, images, text, vae
from ui import common
from ui.errors import ERRORS_EN, ERRORS_ZH, PATTERNS, language, localized, message, translate
from ui.i18n import EN, ZH, t


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_chinese_covers_every_english_key():
    assert set(ZH) == set(EN)
    assert all(ZH[k].strip() for k in ZH)
    assert set(ERRORS_ZH) == set(ERRORS_EN)
    for key in ERRORS_EN:
        assert fields(ERRORS_ZH[key]) == fields(ERRORS_EN[key]), key


def test_unknown_ui_key_fails_at_build_time():
    with pytest.raises(KeyError):
        t("no_such_key")


@pytest.mark.parametrize("header, lang", [("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
                                          ("fr-FR,fr;q=0.9,zh;q=0.5", "zh"), ("en;q=0.4,zh-TW;q=0.6", "zh"),
                                          ("de-DE", "en"), ("", "en"), ("zh;q=oops", "en")])
def test_language_from_accept_language(header, lang):
    assert language(gr.Request(headers={"accept-language": header})) == lang
    assert language(None) == "en"


def raised(fn, *args, **kwargs) -> str:
    with pytest.raises((ValueError, FileNotFoundError, text.ModelUnavailable, gr.Error)) as err:
        fn(*args, **kwargs)
    return err.value.message if isinstance(err.value, gr.Error) else str(err.value)


def real_messages(tmp_path) -> list[str]:
    """What the handlers' checks and the adapters actually raise (generators/ keeps its own English texts)."""
    ok = dict(prompt="Hi", model=text.BUNDLED, max_new_tokens=8, temperature=0.8, top_k=40, top_p=0.9,
              repetition_penalty=1.1, seed=0, n=1)
    bad = [dict(prompt=3), dict(prompt="x" * 10_001), dict(model="gpt5"), dict(max_new_tokens=0),
           dict(temperature=3), dict(top_k=-1), dict(top_p=0), dict(repetition_penalty=0.5), dict(seed=-1), dict(n=9)]
    found = [raised(text.check_args, **{**ok, **b}) for b in bad]
    gan_ok = dict(digit=1, count=4, seed=0, truncation=1.0)
    found += [raised(gan.validate, **{**gan_ok, **b})
              for b in (dict(digit=11), dict(count=0), dict(seed=-1), dict(truncation=0))]
    found += [raised(vae.validate, steps=1, method="linear"), raised(vae.validate, steps=8, method="cubic"),
              raised(vae.VaeInterpolator().test_digit, 12, 0),
              raised(gan.GanSampler(tmp_path).stream_walk(digit=None, seed_a=0, seed_b=1, steps=8).__next__)]
    found += [raised(images.sketch_to_mnist, "not an image"), raised(images.sketch_to_mnist, Image.new("L", (5000, 10))),
              raised(images.sketch_to_mnist, Image.new("L", (280, 280), 255)),
              raised(device.require_weights, tmp_path, "training/train_gan.py"),
              raised(text.load, text.BUNDLED, torch.device("cpu"))]
    found += [raised(common.as_int, "count", 2.5, 1, 64), raised(common.as_int, "seed", None, 0, 9),
              raised(common.as_float, "truncation", "x", 0.1, 1.0), raised(common.as_float, "top_p", None, 0, 1),
              raised(common.as_choice, "start", "11", ["0", "1"]), message("walk_digit"), message("prompt_text"),
              message("text_failed"), message("draw_first", name="end"),
              message("endpoint", side="start", detail=ERRORS_EN["blank"])]
    return found


def test_every_raised_message_has_a_chinese_form(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TEXT_MODEL", str(tmp_path))  # no bundled text model there
    seen = set()
    for english in real_messages(tmp_path):
        chinese = translate(english, "zh")
        assert chinese != english and any("\u4e00" <= c <= "\u9fff" for c in chinese), english
        assert translate(english, "en") == english
        seen.add(next(key for key, pattern in PATTERNS.items() if pattern.fullmatch(english)))
    assert set(ERRORS_EN) - seen == {"hub_offline", "needs_prompt"}  # these two need a real model to raise
    assert translate("Something new went wrong.", "zh") == "Something new went wrong."


def test_translation_fills_in_names_and_nested_messages():
    assert translate(message("int_range_got", name="seed", lo=0, hi=9, value="-3"), "zh") == \
        "随机种子（seed）必须是 0 到 9 之间的整数，而不是 -3。"
    assert translate(message("endpoint", side="start", detail=ERRORS_EN["blank"]), "zh") == \
        "起点：画板是空白的：请先画一个数字。"


def test_localized_hides_the_request_from_the_api_and_translates():
    @localized
    def handler(count: int, seed: int = 0):
        raise gr.Error(message("int_range_got", name="count", lo=1, hi=64, value=repr(count)), title="Error")

    params = [name for name, *_ in gr.utils.get_function_params(handler)]
    assert params == ["count", "seed"]  # what the API shows: gr.Request is left out
    with pytest.raises(gr.Error, match="数量（count）") as err:
        handler(0, 1, gr.Request(headers={"accept-language": "zh-CN"}))
    assert err.value.title == "错误"
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
