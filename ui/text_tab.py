"""The text tab: a language model continues a prompt, streamed token by token, with each token's probability."""

import logging
import threading

import gradio as gr

from generators.errors import KeyedError
from generators.limits import SEED
from generators.text import (ALTERNATIVES, BUNDLED, HUB_MODELS, MAX_NEW_TOKENS, REPETITION_PENALTY, TEMPERATURE,
                             TOP_K, TOP_P, Continuation, TextContinuation)
from ui.common import examples
from ui.errors import localized, render
from ui.i18n import t
from ui.registry import Tab, table
from ui.zerogpu import on_gpu

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
                  model: str = BUNDLED, *, lang: str = "en"):
    """Continues a text with a language model, streaming one update per generated token.

    Args:
        prompt: the text to continue (kept whole when it fits the model's context; a notice says what changed).
        max_new_tokens: how many tokens to add, 1-512 (lowered to the room the model's context leaves, with a notice).
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
    settings = dict(max_new_tokens=max_new_tokens, seed=seed, temperature=temperature, top_k=top_k, top_p=top_p,
                    repetition_penalty=repetition_penalty, n=alternatives, model=model)
    try:
        for alts in CONTINUATION.stream(prompt, **settings):
            yield _outputs(alts, lang)
    except KeyedError:
        raise
    except Exception:
        log.exception("text generation failed")
        raise KeyedError("text_failed") from None


def _outputs(alts: list[Continuation], lang: str) -> tuple:
    texts = [a.text for a in alts] + [""] * (ALTERNATIVES.hi - len(alts))
    notice = " ".join(render(n.key, n.fields, lang) for n in alts[0].notices)
    notice = f"*{notice}*" if notice else ""
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


def _controls() -> list:
    """The inputs, in the order of continue_text's parameters."""
    choices = [(t("text_model_bundled"), BUNDLED)] + [(name, name) for name in HUB_MODELS]
    model = gr.Dropdown(choices, value=BUNDLED, label=t("text_model"), info=t("text_model_info"))
    prompt = gr.Textbox(DEFAULT_PROMPT, label=t("text_prompt"), lines=3)
    with gr.Row():
        max_new_tokens = gr.Slider(MAX_NEW_TOKENS.lo, MAX_NEW_TOKENS.hi, value=48, step=1,
                                   label=t("text_max_new_tokens"))
        alternatives = gr.Slider(ALTERNATIVES.lo, ALTERNATIVES.hi, value=1, step=1, label=t("text_alternatives"))
        seed = gr.Number(0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    with gr.Row():
        temperature = gr.Slider(TEMPERATURE.lo, TEMPERATURE.hi, value=0.8, step=0.05, label=t("text_temperature"))
        top_k = gr.Slider(TOP_K.lo, TOP_K.hi, value=40, step=1, label=t("text_top_k"))
        top_p = gr.Slider(0.05, TOP_P.hi, value=0.95, step=0.05, label=t("text_top_p"))
        repetition_penalty = gr.Slider(REPETITION_PENALTY.lo, REPETITION_PENALTY.hi, value=1.1, step=0.05,
                                       label=t("text_repetition_penalty"))
    return [prompt, max_new_tokens, seed, temperature, top_k, top_p, repetition_penalty, alternatives, model]


def build() -> None:
    """The tab's components and events."""
    # the page is up at once; the bundled model loads meanwhile (a request arriving first waits for it)
    threading.Thread(target=CONTINUATION.warm_up, name="text-model-warm-up", daemon=True).start()
    gr.Markdown(t("text_about"))
    inputs = _controls()
    with gr.Row():
        generate = gr.Button(t("text_generate"), variant="primary")
        stop = gr.Button(t("app_stop"))
    # not cached: a cached example would show the end at once instead of the stream this tab is about, and
    # the token-probability state (Python objects) does not survive Gradio's CSV example cache
    examples(EXAMPLES, inputs[:4], "text_examples", cache_examples=False)
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
    event = generate.click(continue_text, inputs, [text, alt2, alt3, notice, highlighted, position, top5, state],
                           api_name="continue_text")
    stop.click(None, cancels=[event], api_visibility="private")
    inputs[7].change(_show_boxes, inputs[7], [alt2, alt3], api_visibility="private")
    inspected.change(_inspect, [state, inspected], [highlighted, position, top5], api_visibility="private")
    position.change(_top5, [state, inspected, position], top5, api_visibility="private")


STRINGS = table("""
text_about: An autoregressive language model predicts the next token from all the tokens before it; sampling one and feeding it back, again and again, writes a continuation. Try temperature 0 (always the most likely token) against 1.5, or a few alternatives from one seed, then look at how likely the model found each token. | 自回归语言模型根据前面的所有 token 预测下一个 token；采样一个、接回输入，如此反复，就写出了续写。试试温度 0（总是选最可能的 token）与 1.5 的对比，或者用同一个种子生成几个候选，再看看模型认为每个 token 有多大可能。
text_model: Model | 模型
text_model_info: Hub models are downloaded on first use; ours is bundled and works offline. | Hub 上的模型在首次使用时下载；我们自己的模型已内置，离线也能用。
text_model_bundled: Ours: a small GPT-2 trained on Gutenberg novels (bundled) | 我们自己的：在古登堡计划小说上训练的小型 GPT-2（内置）
text_prompt: Prompt | 提示词
text_max_new_tokens: Max new tokens | 最多生成的 token 数
text_alternatives: Alternatives | 候选数
text_temperature: Temperature (0 = greedy) | 温度（0 = 贪心）
text_top_k: Top-k (0 = off) | Top-k（0 = 关闭）
text_top_p: Top-p (1 = off) | Top-p（1 = 关闭）
text_repetition_penalty: Repetition penalty (1 = off) | 重复惩罚（1 = 关闭）
text_generate: Generate | 生成
text_examples: Examples: prompt, max new tokens, seed, temperature | 示例：提示词、最多生成的 token 数、随机种子、温度
text_notice: Notice | 提示
text_alt1: Text (alternative 1) | 文本（候选 1）
text_alt2: Alternative 2 | 候选 2
text_alt3: Alternative 3 | 候选 3
text_probs: Token probabilities (after generation) | 各 token 的概率（生成后显示）
text_probs_legend: Red: tokens the model found unlikely; purple: likely ones. Pick a position for its top 5. | 红色：模型认为不太可能的 token；紫色：很可能的 token。选择一个位置，查看该处概率最高的 5 个候选。
text_inspected: Alternative | 候选
text_tokens: Generated tokens | 生成的 token
text_position: Position | 位置
text_top5: Top 5 candidates at that position | 该位置概率最高的 5 个候选
text_card: Text model | 文本模型
""")

MESSAGES = table("""
text_prompt_type: The prompt must be text. | 提示词必须是文本。
text_prompt_long: The prompt is {n} characters; the limit is {limit}. | 提示词有 {n} 个字符，上限是 {limit}。
text_needs_prompt: This model needs a prompt: type a few words. | 这个模型需要提示词：请输入几个词。
text_hub_offline: Could not download {model} from the Hugging Face Hub (offline?). The bundled model still works. | 无法从 Hugging Face Hub 下载 {model}（是否离线？）。内置模型仍然可用。
text_failed: Text generation failed; please try again. | 文本生成失败，请重试。
text_greedy_alternatives: Temperature 0 is greedy decoding: every alternative is the same. | 温度 0 即贪心解码：所有候选都相同。
text_new_tokens_lowered: Max new tokens lowered from {asked} to {got}: the prompt's {prompt} tokens and the new ones must fit the model's {context}-token context. The prompt is kept whole. | 最多生成的 token 数从 {asked} 降为 {got}：提示词的 {prompt} 个 token 加上新生成的 token 必须放进模型 {context} 个 token 的上下文。提示词完整保留。
text_prompt_cut: The prompt is {n} tokens, more than the model's {context}-token context holds: only its last {keep} were kept, leaving room for {new} new tokens. | 提示词有 {n} 个 token，超过了模型 {context} 个 token 的上下文：只保留了最后 {keep} 个，留出 {new} 个新 token 的位置。
""")

TAB = Tab(key="text", order=10, title=("Text continuation", "文本续写"), build=build, strings=STRINGS,
          messages=MESSAGES, cards=(("text_card", "assets/text-model/README.md"),),
          names={"max_new_tokens": "最多生成的 token 数", "temperature": "温度", "repetition_penalty": "重复惩罚",
                 "alternatives": "候选数", "model": "模型", "prompt": "提示词"})
