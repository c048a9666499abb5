"""Permalinks without a browser: each tab's "Link to this result" holds the inputs its handler is called with (named as
the handler's API parameters, the seed among them); the page-load event puts a link's values back into those inputs;
a `link` in an API answer opens the same result; a bad value in a link gets the handler's own message, in the link's
language. The browser half is tests/test_permalink_browser.py."""

import inspect
import json
import re
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlsplit

import gradio as gr
import pytest
import torch

from ui.kit import permalink

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: tiny models, one thread

# tab -> (the handler its button runs, the URL names its link holds); the seed is in every one but provenance's
LINKED = {
    "text": ("continue_text", ["prompt", "max_new_tokens", "seed", "temperature", "top_k", "top_p",
                               "repetition_penalty", "alternatives", "model", "watermark"]),
    "inside": ("look_inside", ["text", "position", "seed"]),
    "gan": ("sample_digits", ["digit", "count", "seed", "truncation"]),
    "vae": ("interpolate_digits", ["start_digit", "end_digit", "steps", "method", "seed"]),
    "diffusion": ("denoise_digits", ["digit", "count", "steps", "guidance", "seed", "sampler", "guidance_interval"]),
    "compare": ("compare_families", ["digit", "count", "seed"]),
    "finetune": ("finetune_text", ["text", "steps", "seed", "lr", "rank", "seconds", "example", "model", "prompt"]),
    "scratch": ("train_from_scratch", ["family", "seconds", "seed", "failure"]),
    "provenance": ("detect_text", ["text"]),
}
ZH = SimpleNamespace(headers={}, cookies={permalink.LANG_COOKIE: "zh"})  # a request from a `lang=zh` link's page


@pytest.fixture(scope="module")
def demo():
    import app

    return app.build_demo()


def _events(demo, predicate):
    return [f for f in demo.fns.values() if predicate(f)]


def link_inputs(demo, tab: str) -> dict:
    """URL name -> component, as the page's "Link to this result" reads them."""
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == f"{tab}-permalink")
    (event,) = _events(demo, lambda f: (button._id, "click") in f.targets)
    names = json.loads(re.search(r"(\[[^\]]*\])\.forEach", event.js).group(1))
    return dict(zip(names, event.inputs))


def handler_inputs(demo, name: str) -> dict:
    """Parameter name -> component of the event that runs the handler `name`."""
    (event,) = _events(demo, lambda f: getattr(f.fn, "__name__", None) == name and f.api_name == name)
    return dict(zip(inspect.signature(event.fn).parameters, event.inputs))


def restore_event(demo, tab: str):
    """The page-load event that restores `tab`'s inputs."""
    (event,) = _events(demo, lambda f: getattr(f.fn, "__qualname__", "").startswith("_restore")
                       and json.dumps(tab) in (f.js or ""))
    return event


def restore(demo, link: str) -> dict:
    """What the page-load event puts into the inputs for `link`: URL name -> value."""
    params = dict(parse_qsl(urlsplit(link).query, keep_blank_values=True))  # as Starlette reads it
    tab = params["tab"]
    event = restore_event(demo, tab)
    values = event.fn(SimpleNamespace(query_params=params))
    values = values if isinstance(values, list) else [values]
    by_component = {id(c): v for c, v in zip(event.outputs, values)}
    return {n: by_component[id(c)] for n, c in link_inputs(demo, tab).items() if n in params}


@pytest.mark.parametrize("tab", list(LINKED))
def test_each_tabs_link_holds_the_inputs_its_handler_gets_and_the_seed(demo, tab):
    handler, names = LINKED[tab]
    linked, given = link_inputs(demo, tab), handler_inputs(demo, handler)
    assert list(linked) == names and (tab == "provenance" or "seed" in linked)
    for name, component in linked.items():
        if name in given:  # finetune's prompt belongs to its side-by-side continuation, after the training
            assert given[name] is component, name
    button = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == f"{tab}-permalink")
    assert button.value == "app_link_result" or "app_link_result" in str(button.value)


def test_a_link_restores_numbers_booleans_and_text_and_skips_the_rest(demo):
    got = restore(demo, "?tab=text&prompt=Once%20upon&max_new_tokens=12&temperature=0.5&watermark=false&lang=zh")
    assert got == {"prompt": "Once upon", "max_new_tokens": 12, "temperature": 0.5, "watermark": False}
    params = {"tab": "gan", "seed": "3"}  # another tab's link: the text tab's inputs stay as they are
    event = restore_event(demo, "text")
    assert all(isinstance(v, dict) and v.get("__type__") == "update"
               for v in event.fn(SimpleNamespace(query_params=params)))


def test_query_leaves_out_what_a_url_cannot_hold():
    link = permalink.query("finetune", "zh", text="字" * 1000, example="alice", upload=None, steps=5)
    assert dict(parse_qsl(link[1:])) == {"tab": "finetune", "example": "alice", "steps": "5", "lang": "zh"}
    assert "4000" in permalink.link_js("text", ["prompt"])  # the page leaves the same values out


@pytest.mark.parametrize("tab", list(LINKED))
def test_a_links_values_reach_the_handler_as_sent(demo, tab):
    """Gradio's own checks (a number's rounding, a dropdown's choices) answer in English only: none runs first."""
    for name, component in link_inputs(demo, tab).items():
        if not isinstance(component, gr.Checkbox):  # restored as a boolean whatever the URL says
            assert component.preprocess("42x") == "42x", name


@pytest.mark.parametrize("link, message", [
    ("?tab=diffusion&digit=7&count=abc&steps=20&guidance=3&seed=0&lang=zh", "数量"),
    ("?tab=vae&start_digit=42&end_digit=7&steps=8&method=linear&seed=0&lang=zh", "起点"),
    ("?tab=compare&digit=7&count=8&seed=-1&lang=zh", "随机种子"),
    ("?tab=vae&start_digit=1&end_digit=7&steps=999&method=linear&seed=0&lang=zh", "步数"),
    ("?tab=gan&digit=7&count=12&seed=0&truncation=9&lang=zh", "截断"),
])
def test_a_bad_value_in_a_link_gets_the_handlers_message_in_the_links_language(demo, link, message):
    name = LINKED[dict(parse_qsl(link[1:]))["tab"]][0]
    (handler,) = [f.fn for f in _events(demo, lambda f: getattr(f.fn, "__name__", None) == name == f.api_name)]
    with pytest.raises(gr.Error) as e:
        answer = handler(**restore(demo, link), request=ZH)
        list(answer) if inspect.isgenerator(answer) else answer
    assert message in str(e.value.message) and "Traceback" not in str(e.value.message)


# API answers carry their link, and the link opens the same result -----------------------------------------------

@pytest.mark.slow  # the detector's tokenizer and model load: ~9 s on 2 cores
def test_detect_texts_link_rechecks_the_same_text(demo):
    from ui.tabs.provenance_tab import detect_text

    text = "The old captain looked out over the harbour and said that the sea was calm, and the gulls were quiet."
    found = detect_text(text, request=ZH)[0]
    assert found["link"].startswith("?tab=provenance&") and found["link"].endswith("&lang=zh")
    again = detect_text(**restore(demo, found["link"]))[0]
    assert again["z_score"] == found["z_score"] and again["link"] == found["link"].replace("zh", "en")


def test_inspect_texts_link_opens_the_same_inspection(demo):
    from ui.tabs.inside_tab import inspect_text

    answer = inspect_text("The sea was calm and the", 3)
    assert restore(demo, answer["link"]) == {"text": "The sea was calm and the", "position": 3}


def test_a_trainings_link_trains_the_same_model_again(demo, monkeypatch):
    from tests.test_scratch import TinyTrainer
    from ui.tabs import scratch_tab

    monkeypatch.setattr(scratch_tab, "TRAINER", TinyTrainer())
    *_, last = scratch_tab.train_from_scratch("VAE", 30, 5, True, scratch_tab.Session(), request=ZH)
    record = last[1]
    assert dict(parse_qsl(record["link"][1:])) == {"tab": "scratch", "family": "VAE", "seconds": "30", "seed": "5",
                                                   "failure": "True", "lang": "zh"}
    *_, again = scratch_tab.train_from_scratch(**restore(demo, record["link"]), session=scratch_tab.Session())
    assert again[1]["losses"] == record["losses"]  # the same seed and steps: the same training


def test_a_fine_tunes_link_names_its_example_and_trains_the_same_adapter(demo, monkeypatch):
    from training.finetune_text import tiny_model
    from generators.finetune import FineTuner
    from ui.tabs import finetune_tab

    example = (finetune_tab.EXAMPLES_DIR / "alice.txt").read_text(encoding="utf-8")
    monkeypatch.setattr(finetune_tab, "TUNER", FineTuner(base=tiny_model(example[:4000], torch.device("cpu"))))
    *_, last = finetune_tab.finetune_text("", 3, 7, 1e-2, 4, 0, None, "alice", "bundled", finetune_tab.Session())
    summary = last[2]
    assert dict(parse_qsl(summary["link"][1:], keep_blank_values=True)) == {
        "tab": "finetune", "text": "", "steps": "3", "seed": "7", "lr": "0.01", "rank": "4", "seconds": "0",
        "example": "alice", "model": "bundled", "lang": "en"}
    *_, again = finetune_tab.finetune_text(**restore(demo, summary["link"]), session=finetune_tab.Session())
    assert again[2]["perplexity_after"] == summary["perplexity_after"]
