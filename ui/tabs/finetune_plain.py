"""The fine-tune tab in plain words: what it does in two sentences, and its result as a short table with plain
labels (the API keeps its JSON summary; the page shows this table made from it)."""

from ui.kit.errors import localized, render
from ui.kit.registry import table


@localized
def summary_table(summary: dict | None, *, lang: str = "en") -> str:
    """The JSON summary of a training as a Markdown table a non-expert reads; empty before the first training."""
    if not isinstance(summary, dict) or "perplexity_before" not in summary:
        return ""
    before, after = summary["perplexity_before"], summary["perplexity_after"]
    rows = [("finetune_row_before", f"{before:.1f}"),
            ("finetune_row_after", render("finetune_row_change", dict(after=f"{after:.1f}",
                                                                     drop=f"{100 * (1 - after / before):.0f}"), lang)),
            ("finetune_row_steps", str(summary.get("steps_done", "—"))),
            ("finetune_row_speed", f"{summary.get('tokens_per_s', 0):,.0f}"),
            ("finetune_row_time", f"{summary.get('seconds', 0):.1f}")]
    head = render("finetune_row_head", {}, lang).replace("；", ";").split(";")
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| {render(key, {}, lang)} | {value} |" for key, value in rows]
    return "\n".join(lines) + "\n\n" + render("finetune_row_meaning", {}, lang)


STRINGS = table("""
finetune_about: **Teach the language model your own text, in under a minute.** Paste a few pages (or pick an example), press Train and watch the error on text it has not seen fall; then the model before and after training continue the same prompt side by side, so you can see the new style. | **用你自己的文本教语言模型，一分钟以内。** 粘贴几页文字（或选一个示例），按“训练”，看模型在没见过的文本上的错误率下降；然后训练前后的模型用同一个开头并排续写，你能看出新的文风。
finetune_advanced: Advanced: how it trains (LoRA rank, learning rate, time budget, seed, model) | 高级：训练方式（LoRA 秩、学习率、时间预算、随机种子、模型）
finetune_how: LoRA (low-rank adaptation) trains two small matrices beside each large weight matrix while the model itself stays untouched and shared; the last tenth of your text is held out, and its perplexity is measured before and after. Stop keeps what was learnt so far. Your adapter stays in this browser session; download it to continue text with it later (the Text tab takes it). | LoRA（低秩适配）在每个大权重矩阵旁训练两个小矩阵，模型本身保持不变、由所有人共用；你的文本最后十分之一被留出，训练前后各测一次它的困惑度。“停止”会保留已学到的内容。你的适配器只保存在本浏览器会话中；下载后可在“文本续写”页继续使用。
finetune_result: Result | 结果
finetune_axis_step: training step | 训练步数
finetune_axis_loss: loss (lower is better) | 损失（越低越好）
""")

MESSAGES = table("""
finetune_row_head: What; Measured | 项目；实测
finetune_row_before: Surprise at your held-out text, before (perplexity) | 训练前对留出文本的“意外程度”（困惑度）
finetune_row_after: The same, after | 训练后
finetune_row_change: {after} ({drop}% lower) | {after}（降低 {drop}%）
finetune_row_steps: Training steps done | 完成的训练步数
finetune_row_speed: Speed (training tokens a second) | 速度（每秒训练的词元数）
finetune_row_time: Time (seconds) | 用时（秒）
finetune_row_meaning: *Perplexity: roughly how many words the model hesitates between at each step; lower means your text now surprises it less.* | *困惑度：大致是模型每一步在多少个词之间犹豫；越低说明你的文本对它来说越不意外。*
""")
