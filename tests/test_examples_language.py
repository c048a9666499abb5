"""Examples follow the visitor's language: none is cached (a cached result keeps the first clicker's language), an
example with outputs runs on click in the clicker's language, and a translated choice ("Any") is labelled per
page load in the page's language."""

import gradio as gr
import pytest

import ui.kit.common as common
from ui.kit.i18n import strings


@pytest.fixture(scope="module")
def made():
    """Every gr.Examples the whole app builds."""
    import app

    found, real = [], gr.Examples
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common.gr, "Examples", lambda *a, **k: found.append(real(*a, **k)) or found[-1])
        app.build_demo()
    return found


def test_no_example_is_cached_and_those_with_outputs_run_on_click(made):
    assert len(made) >= 4  # text, GAN, GAN walk, VAE, diffusion ...
    assert not any(e.cache_examples for e in made)
    with_outputs = [e for e in made if e.fn is not None]
    assert with_outputs and all(e.run_on_click for e in with_outputs)


def test_caching_is_refused():
    with gr.Blocks(), pytest.raises(ValueError, match="not cached"):
        common.examples([["a"]], [gr.Textbox()], "app_seed", fn=lambda x: x, outputs=[gr.Textbox()],
                        cache_examples=True)


class Request:
    def __init__(self, accept: str):
        self.headers, self.cookies = {"accept-language": accept}, {}


def test_a_translated_choice_is_labelled_in_the_pages_language(made):
    gan = next(e for e in made if any(r and r[0] == "Any" for r in e.examples))
    (index,) = [i for i, p in enumerate(gan.dataset.component_props) if p.get("choices")][:1]
    keys = [common._label_keys([(common.t("gan_any"), "Any")]) if i == index else None
            for i in range(len(gan.dataset.component_props))]
    for accept, side in (("zh-CN,zh;q=0.9", 1), ("en-US", 0)):
        shown = common._localized_props(gan.dataset.component_props, keys, Request(accept))
        choices = dict((v, label) for label, v in shown.component_props[index]["choices"])
        assert choices["Any"] == strings()["gan_any"][side] and choices["7"] == "7"
    assert strings()["gan_any"][1] != "Any"
