"""The text tab: a language model continues a prompt, streamed token by token, with each token's probability."""

import logging
import threading

import gradio as gr

from generators.text import (BUNDLED, HUB_MODELS, MAX_ALTERNATIVES, MAX_NEW_TOKENS, MAX_TOP_K, MODELS,
                             Continuation, ModelUnavailable, TextContinuation)
from generators.zerogpu import on_gpu
from ui.common import as_choice, as_float, as_int, examples
from ui.errors import localized, message
from ui.i18n import t

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "The old captain looked out over the harbour and said"
# (prompt, max new tokens, seed, temperature): sampled, greedy (temperature 0), hot
EXAMPLES = [[DEFAULT_PROMPT, 48, 0, 0.8], ["It was a dark and stormy night;", 64, 1, 0.0],
            ["She opened the letter slowly, and", 64, 7, 1.2]]

CONTINUATION = TextContinuation()  # holds no per-user state: the loaded models only


@localized
@on_gpu
def continue_text(prompt: str, max_new_tokens: int, seed: int, temperature: float = 0.8, top_k: int = 40,
                  top_p: float = 0.95, repetition_penalty: float = 1.1, alternatives: int = 1,
                  model: str = BUNDLED):
    """Continues a text with a language model, streaming one update per generated token.

    Args:
        prompt: the text to continue (cut from the left, with a notice, if longer than the model's context).
        max_new_tokens: how many tokens to add, 1-512 (clamped to the model's context, with a notice).
        seed: makes the sampling reproducible, 0 to 2**32-1.
        temperature: 0 always takes the likeliest token; higher is more random (up to 2).
        top_k: sample among the k likeliest tokens only (0 = off).
        top_p: sample among the likeliest tokens whose probabilities add up to p (1 = off).
        repetition_penalty: above 1 discourages repeating tokens (1 = off, up to 2).
        alternatives: how many continuations to write side by side, 1-3.
        model: "bundled" (ours, offline) or an allow-listed Hub model.
    Returns:
        the whole text (prompt + continuation), alternatives 2 and 3, a notice, and per-token probabilities.
    """
    if not isinstance(prompt, str):
        raise gr.Error(message("prompt_text"))
    kwargs = dict(max_new_tokens=as_int("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS),
                  seed=as_int("seed", seed, 0, 2**32 - 1), temperature=as_float("temperature", temperature, 0, 2),
                  top_k=as_int("top_k", top_k, 0, MAX_TOP_K), top_p=as_float("top_p", top_p, 0.01, 1),
                  repetition_penalty=as_float("repetition_penalty", repetition_penalty, 1, 2),
                  n=as_int("alternatives", alternatives, 1, MAX_ALTERNATIVES),
                  model=as_choice("model", model, list(MODELS)))
    try:
        for alts in CONTINUATION.stream(prompt, **kwargs):
            yield _outputs(alts)
    except (ValueError, ModelUnavailable) as e:
        raise gr.Error(str(e)) from None
    except Exception:
        log.exception("text generation failed")
        raise gr.Error(message("text_failed")) from None


def _outputs(alts: list[Continuation]) -> tuple:
    texts = [a.text for a in alts] + [""] * (MAX_ALTERNATIVES - len(alts))
    notice = f"*{alts[0].notice}*" if alts[0].notice else ""
    if not alts[0].finished:  # probabilities come with the last update
        return (*texts, notice, None, gr.Dropdown(choices=[], value=None), None, None)
    state = [(a.prompt_text, a.tokens) for a in alts]
    return (*texts, notice, *_inspect(state, 1), state)


def _inspect(state, alternative) -> tuple:
    """Highlighted tokens, the position picker and the first position's top-5 for one alternative."""
    if not state:
        return None, gr.Dropdown(choices=[], value=None), None
    prompt_text, tokens = state[min(int(alternative or 1), len(state)) - 1]
    # score in [-1, 1]: red for tokens the model found unlikely, purple for likely ones
    highlighted = [(prompt_text, None)] + [(t.text, round(1 - 2 * t.prob, 3)) for t in tokens]
    choices = [(f"{i + 1}: {t.text!r}  p={t.prob:.1%}", i) for i, t in enumerate(tokens)]
    return highlighted, gr.Dropdown(choices=choices, value=0 if tokens else None), _top5(state, alternative, 0)


def _top5(state, alternative, position) -> dict[str, float] | None:
    if not state or position is None:
        return None
    _, tokens = state[min(int(alternative or 1), len(state)) - 1]
    if not 0 <= int(position) < len(tokens):
        return None
    top = {}
    for text, p in tokens[int(position)].top:
        key = repr(text)
        while key in top:  # two ids may decode alike (e.g. partial characters)
            key += " "
        top[key] = p
    return top


def _show_boxes(n) -> tuple:
    return gr.update(visible=n >= 2), gr.update(visible=n >= 3)


def build() -> None:
    # the page is up at once; the bundled model loads meanwhile (a request arriving first waits for it)
    threading.Thread(target=CONTINUATION.warm_up, name="text-model-warm-up", daemon=True).start()
    gr.Markdown(t("text_about"))
    choices = [(t("text_model_bundled"), BUNDLED)] + [(name, name) for name in HUB_MODELS]
    model = gr.Dropdown(choices, value=BUNDLED, label=t("text_model"), info=t("text_model_info"))
    prompt = gr.Textbox(DEFAULT_PROMPT, label=t("text_prompt"), lines=3)
    with gr.Row():
        max_new_tokens = gr.Slider(1, MAX_NEW_TOKENS, value=48, step=1, label=t("text_max_new_tokens"))
        alternatives = gr.Slider(1, MAX_ALTERNATIVES, value=1, step=1, label=t("text_alternatives"))
        seed = gr.Number(0, precision=0, minimum=0, maximum=2**32 - 1, label=t("app_seed"))
    with gr.Row():
        temperature = gr.Slider(0, 2, value=0.8, step=0.05, label=t("text_temperature"))
        top_k = gr.Slider(0, MAX_TOP_K, value=40, step=1, label=t("text_top_k"))
        top_p = gr.Slider(0.05, 1, value=0.95, step=0.05, label=t("text_top_p"))
        repetition_penalty = gr.Slider(1, 2, value=1.1, step=0.05, label=t("text_repetition_penalty"))
    with gr.Row():
        generate = gr.Button(t("text_generate"), variant="primary")
        stop = gr.Button(t("app_stop"))
    # not cached: a cached example would show the end at once instead of the stream this tab is about, and
    # the token-probability state (Python objects) does not survive Gradio's CSV example cache
    examples(EXAMPLES, [prompt, max_new_tokens, seed, temperature], "text_examples", cache_examples=False)
    notice = gr.Markdown(label=t("text_notice"))
    text = gr.Textbox(label=t("text_alt1"), lines=6)
    with gr.Row():
        alt2 = gr.Textbox(label=t("text_alt2"), lines=6, visible=False)
        alt3 = gr.Textbox(label=t("text_alt3"), lines=6, visible=False)
    with gr.Accordion(t("text_probs"), open=True):
        gr.Markdown(t("text_probs_legend"))
        inspected = gr.Radio([1, 2, 3], value=1, label=t("text_inspected"))
        highlighted = gr.HighlightedText(label=t("text_tokens"), show_legend=False)
        with gr.Row():
            position = gr.Dropdown([], label=t("text_position"))
            top5 = gr.Label(num_top_classes=5, label=t("text_top5"))
    state = gr.State([])

    inputs = [prompt, max_new_tokens, seed, temperature, top_k, top_p, repetition_penalty, alternatives, model]
    outputs = [text, alt2, alt3, notice, highlighted, position, top5, state]
    event = generate.click(continue_text, inputs, outputs, api_name="continue_text")
    stop.click(None, cancels=[event], api_visibility="private")
    alternatives.change(_show_boxes, alternatives, [alt2, alt3], api_visibility="private")
    inspected.change(_inspect, [state, inspected], [highlighted, position, top5], api_visibility="private")
    position.change(_top5, [state, inspected, position], top5, api_visibility="private")
