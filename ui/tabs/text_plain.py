"""The text tab in plain words: what the bundled model is beside the output, a one-line verdict on each result,
and the temperature that an example set not sticking silently."""

from generators.text import TEMPERATURE_DEFAULT, bundled_facts, watermark_figures
from ui.kit.errors import render
from ui.kit.registry import table

# The models people know, each with the figure its paper gives: GPT-3 has 175 billion parameters and was trained on
# 300 billion tokens (Brown et al., 2020, "Language Models are Few-Shot Learners", table 2.1 and section 2.2).
GPT3_PARAMS, GPT3_TOKENS = 175e9, 300e9
FACTS = bundled_facts()


def _facts_table() -> str:
    if not FACTS:
        return ""
    f = FACTS
    hours = "GPU" if f["device"] == "cuda" else "CPU"
    return f"""
text_facts: **What wrote this.** Our model has {f['params'] / 1e6:.1f} million parameters and read {f['train_tokens'] / 1e6:.1f} million tokens of 19th-century English novels (Project Gutenberg), trained for {f['train_minutes']:g} minutes on one {hours}; it sees {f['context']} tokens at a time and reads English only. **Scale:** GPT-3 has 175 billion parameters, about {GPT3_PARAMS / f['params']:,.0f}× more, and was trained on 300 billion tokens, about {GPT3_TOKENS / f['train_tokens']:,.0f}× more (Brown et al., 2020). Expect grammar-shaped English that loses the thread, not answers. | **是谁写的。** 我们的模型有 {f['params'] / 1e6:.1f} 百万个参数，读过 {f['train_tokens'] / 1e6:.1f} 百万个 token 的 19 世纪英文小说（古登堡计划），在一块 {hours} 上训练了 {f['train_minutes']:g} 分钟；它一次能看 {f['context']} 个 token，只能读英文。**规模对比：** GPT-3 有 1750 亿个参数，约为它的 {GPT3_PARAMS / f['params']:,.0f} 倍，训练用了 3000 亿个 token，约为它的 {GPT3_TOKENS / f['train_tokens']:,.0f} 倍（Brown 等，2020）。请预期语法像样、但会跑题的英文，而不是回答。
"""


STRINGS = table(_facts_table() + """
text_advanced: Advanced: sampling filters, watermark, fine-tuned adapter | 高级：采样过滤、水印、微调适配器
text_greedy_note: At temperature 0 every alternative will be identical (the likeliest token each time). | 温度为 0 时所有候选都会完全相同（每次都选最可能的 token）。
""")

MESSAGES = table("""
text_verdict: **{n} new tokens in {s} s.** The model took its own first choice for {top1} of them{rest}. | **{s} 秒生成了 {n} 个新 token。** 其中 {top1} 是模型的首选{rest}。
text_verdict_marked: ; watermarked, so the Provenance tab can tell it is machine-made (from about {needed} tokens on) | ；已加水印，“溯源”页能认出它是机器写的（约 {needed} 个 token 起）
text_verdict_marked_short: ; watermarked, but {n} tokens may be too few for the Provenance tab to find the mark (it needs about {needed}) | ；已加水印，但 {n} 个 token 可能太少，“溯源”页未必能找到水印（约需 {needed} 个）
text_empty_prompt: Type a few words for the model to continue. | 请输入几个词，让模型接着写。
text_prompt_unreadable: Our small model learned English from old novels only and cannot read this prompt ({share} of its letters are in another script, or it is emoji only): it would answer with unrelated English. Try an English prompt. (Models that read Chinese, such as {model}, need the Hugging Face Hub, which this server cannot reach.) | 我们的小模型只从旧小说里学过英文，读不懂这个提示词（其中 {share} 的字母属于其他文字，或者只有表情符号）：它只会回一段不相干的英文。请换一个英文提示词。（能读中文的模型，例如 {model}，需要连接 Hugging Face Hub，而本服务器无法访问。）
text_prompt_unreadable_hub: Our small model learned English from old novels only and cannot read this prompt ({share} of its letters are in another script, or it is emoji only): it would answer with unrelated English. Pick {model} under Model (downloaded from the Hugging Face Hub on first use), which reads Chinese, or try an English prompt. | 我们的小模型只从旧小说里学过英文，读不懂这个提示词（其中 {share} 的字母属于其他文字，或者只有表情符号）：它只会回一段不相干的英文。请在“模型”中选择 {model}（首次使用时从 Hugging Face Hub 下载），它能读中文；或者换一个英文提示词。
""")


def verdict(alts, seconds: float, watermarked: bool, lang: str) -> str:
    """One line on a finished result: how many tokens, how fast, how often the model's first choice, the mark."""
    tokens = alts[0].tokens
    if not tokens:
        return ""
    top1 = sum(1 for t in tokens if all(t.prob + 1e-9 >= p for _, p in t.top)) / len(tokens)
    rest = ""
    if watermarked:
        figures = watermark_figures()
        needed = figures["new_tokens_needed"] if figures else None
        if needed:
            key = "text_verdict_marked" if len(tokens) >= needed else "text_verdict_marked_short"
            rest = render(key, dict(n=len(tokens), needed=needed), lang)
    return render("text_verdict", dict(n=len(tokens), s=f"{seconds:.1f}", top1=f"{top1:.0%}", rest=rest), lang)


def unstick(temperature, alternatives, from_example: bool, prompt_edited: bool):
    """The temperature after a person changes the prompt or the number of alternatives: an example's temperature 0
    goes back to the default when the prompt is edited, and any 0 goes back when several alternatives are asked
    for (they would all be the same). Returns (temperature, from_example)."""
    greedy = temperature is not None and float(temperature) == 0
    if greedy and ((prompt_edited and from_example) or (not prompt_edited and (alternatives or 1) >= 2)):
        return TEMPERATURE_DEFAULT, False
    return temperature, from_example and not prompt_edited


def greedy_note(temperature, alternatives) -> bool:
    """Whether the note "every alternative will be identical" shows."""
    return temperature is not None and float(temperature) == 0 and (alternatives or 1) >= 2
