"""Inside the model tab: attention per layer and head, the logit lens, a guess before the reveal, the sampling
distribution redrawn in the browser, and the same prompt through every language model the app can reach.

The page gets one JSON per inspection and draws everything from it in the browser (ui/tabs/inside.js): tapping a token
or a head, or moving a sampling slider, asks nothing of the server. /inspect_text and /compare_scales are the API.
"""

import html
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from generators.core.limits import SEED
from generators.inside import MAX_TEXT_CHARS, ModelInspector
from generators.scales import MAX_NEW_TOKENS as SCALE_TOKENS, ScaleComparison
from ui.kit import permalink, warm
from ui.kit.adapters import adapter
from ui.kit.common import into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider, RawTextbox
from ui.kit.errors import localized, messages, render
from ui.kit.receipts import metered
from ui.kit.i18n import t
from ui.kit.registry import Tab
from ui.kit.streams import coalesced
from ui.kit.zerogpu import on_gpu
from ui.tabs.inside_words import CSS, MESSAGES, STRINGS
from ui.tabs.scale_plot import scale_cards, scale_plot

INSPECTOR = adapter(ModelInspector)  # the loaded model only: no per-user state
SCALES = adapter(ScaleComparison)
DEFAULT_TEXT = "The old captain looked out over the harbour and said that the sea was"
# gr.HTML runs this once per page: it draws each new value it is sent and handles every tap and slider itself
JS = Path(__file__).with_name("inside.js").read_text(encoding="utf-8") + "\nmountInside(element, props, watch);\n"
LABEL_PREFIX = "inside_js_"


@localized
@on_gpu
def inspect_text(text: str, position: int = -1, *, lang: str = "en") -> dict:
    """Looks inside our language model at a text: attention, the logit lens and the next-token distribution.

    Args:
        text: up to 4,000 characters; the model reads its last 64 tokens at most.
        position: the token index inspected within those (-1 = the last token, -T..T-1).
    Returns:
        tokens (strings); attention [layers][heads][T][T] (row q: where token q looked, zeros after q);
        logit_lens: for `position`, per layer (embeddings first, the model's output last) the top-3 {token, p};
        next: the top-20 {token, p} at `position`; also position, total_tokens and window_start; link: the query
        of this inspection on the page (docs/permalinks.md).
    """
    return {**INSPECTOR.inspect_text(text, position), "link": permalink.query("inside", lang, text=text,
                                                                              position=position)}


@localized
@on_gpu
def compare_scales(prompt: str, max_new_tokens: int = 24, seed: int = 0, *, lang: str = "en") -> Iterator[list]:
    """The same prompt and seed through every language model the app can reach, ours first (streamed).

    Args:
        prompt: the text to continue (up to 10,000 characters).
        max_new_tokens: tokens each model writes, 1-64.
        seed: the sampling seed, 0 to 2**32-1 (the text tab's default temperature, top-k and top-p).
    Returns:
        per model {model, parameters, bits_per_byte (on our held-out books, measured once by bench/bench_inside.py;
        None: not measured here), tokens_per_s (this request's; for a model that cannot run, the bench's figure,
        explained in tokens_per_s_note), text, available, reason (why it cannot run, in the request's language)}.
    """
    yield from _worded_rows(prompt, max_new_tokens, seed, lang)


def _worded_rows(prompt, max_new_tokens, seed, lang: str) -> Iterator[list[dict]]:
    for rows in SCALES.stream(prompt, max_new_tokens=max_new_tokens, seed=seed):
        yield [worded(r, lang) for r in rows]


def worded(row: dict, lang: str) -> dict:
    """A row with its reason (a keyed error, as a dict) in words."""
    reason = row["reason"]
    return {**row, "reason": render(reason["key"], reason["fields"], lang) if reason else ""}


def labels(lang: str) -> dict[str, str]:
    """The page script's words in `lang`, as templates ({n}, {seed}... filled in by the script)."""
    return {key[len(LABEL_PREFIX):]: pair[1 if lang == "zh" else 0]
            for key, pair in messages().items() if key.startswith(LABEL_PREFIX)}


@localized
@on_gpu
def look_inside(text: str, position: int, seed: int, *, lang: str = "en") -> dict:
    """The page's value: everything its script draws from, and its words in the visitor's language."""
    return dict(data=INSPECTOR.view(text, position, seed), labels=labels(lang))


@localized
@on_gpu
def scale_view(prompt: str, max_new_tokens: int, seed: int, *, lang: str = "en"):
    """The scale comparison as the page shows it: one card per model (streamed), then the plot."""
    rows = []
    with metered("compare_scales") as meter:
        for rows in coalesced(_worded_rows(prompt, max_new_tokens, seed, lang)):  # <= ~20 updates a second
            yield scale_cards(rows, lang), gr.skip()
        yield scale_cards(rows, lang) + f'<p class="receipt">{html.escape(meter.line(lang))}</p>', \
            scale_plot(rows, lang)


def _inside() -> None:
    with gr.Row():
        text = RawTextbox(value=DEFAULT_TEXT, lines=3, max_length=MAX_TEXT_CHARS, label=t("inside_text"), scale=3)
        with gr.Column(scale=1, min_width=160):
            position = RawNumber(value=-1, precision=0, label=t("inside_position"))
            seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    button = gr.Button(t("inside_look"), variant="primary", elem_id="inside-look")
    view = gr.HTML(value=None, html_template='<div class="inside-root"></div>', js_on_load=JS,
                   elem_id="inside-view", apply_default_css=True, padding=False)
    linked = permalink.named(look_inside, [text, position, seed])  # the scale comparison below has no link
    permalink.register("inside", linked, button), permalink.link_button("inside", linked)
    looked = button.click(look_inside, [text, position, seed], view, api_visibility="private",
                          js=into_view("inside-view"))
    keep_on_error(looked, [view])
    gr.api(inspect_text, api_name="inspect_text")


def _scales() -> None:
    gr.Markdown(t("inside_scale_about"))
    with gr.Row():
        prompt = RawTextbox(value="The old captain looked out over the harbour and said", lines=2,
                            label=t("inside_prompt"), scale=3)
        with gr.Column(scale=1, min_width=160):
            new_tokens = RawSlider(SCALE_TOKENS.lo, SCALE_TOKENS.hi, value=24, step=1, label=t("inside_new_tokens"))
            seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    with gr.Row():
        run = gr.Button(t("inside_scale_run"), variant="primary")
        stop = gr.Button(t("app_stop"))
    cards = gr.HTML(elem_id="inside-scale")
    plot = gr.HTML()
    ran = run.click(scale_view, [prompt, new_tokens, seed], [cards, plot], api_visibility="private",
                    js=into_view("inside-scale"))
    keep_on_error(ran, [cards, plot])
    stop.click(None, None, None, cancels=[ran])
    gr.api(compare_scales, api_name="compare_scales")


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("inside_about"))
    warm.after_start(INSPECTOR.warm_up)  # the model loads once the page answers (ui/kit/warm.py)
    _inside()
    with gr.Accordion(t("inside_scale_title"), open=True):
        _scales()


TAB = Tab(key="inside", order=12, title=("Inside the model", "模型内部"), build=build, strings=STRINGS,
          messages=MESSAGES, css=CSS, names={"position": "位置"},
          cards=(("inside_card_scale", "assets/text-scale/README.md"),))
