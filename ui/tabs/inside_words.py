"""The Inside the model tab's words (English | 简体中文) and its CSS. `inside_js_*` messages are the page script's
words (ui/tabs/inside.js), sent with each inspection in the visitor's language; {fields} are filled in there."""

from ui.kit.registry import table

STRINGS = table("""
inside_about: **Inside the model.** A language model reads a text as tokens (word pieces) and, at every position, looks back at earlier tokens (attention), passes what it found up through its layers, and ends with a probability for every possible next token. Press **Look inside**: tap a token to see where it looked, guess the next word before the model's answer shows, then move the sampling sliders to see how temperature, top-k and top-p reshape the choice. Our model is small ({{text-model.params:,}} parameters, 4 layers × 6 heads): the last section runs the same prompt through bigger models. | **模型内部。** 语言模型把文本读成词元（词的片段）；在每个位置，它回看前面的词元（注意力），把找到的信息逐层向上传递，最后给每个可能的下一个词元一个概率。按 **查看内部**：点一个词元，看它在看哪里；在模型给出答案之前先猜下一个词；再拖动采样滑块，看温度、top-k 和 top-p 如何改变选择。我们的模型很小（{{text-model.params:,}} 个参数，4 层 × 6 个注意力头）：最后一部分把同一个提示词交给更大的模型。
inside_text: Text (the model reads its last 64 tokens) | 文本（模型读取最后 64 个词元）
inside_position: Position (-1 = the last token) | 位置（-1 = 最后一个词元）
inside_look: Look inside | 查看内部
inside_scale_title: Scale: the same prompt through bigger models | 规模：同一个提示词交给更大的模型
inside_scale_about: The same prompt, seed and sampling settings go through every language model this app can reach, ours first. **Bits per byte** measures how well a model predicts our held-out books (lower is better; measured once by a bench script, not per request). The plot places each model by its size. | 同一个提示词、随机种子和采样设置交给本应用能用到的每个语言模型，我们的模型最先。**每字节比特数**衡量模型预测我们留出的书籍有多准（越低越好；由基准脚本测一次，而不是每次请求都测）。图中按模型大小摆放每个模型。
inside_prompt: Prompt | 提示词
inside_new_tokens: New tokens per model | 每个模型生成的词元数
inside_scale_run: Run every model | 运行所有模型
inside_card_scale: Models of the scale view | 规模对比中的模型
""")

MESSAGES = table("""
inside_text_type: The text must be a string. | 文本必须是字符串。
inside_text_long: The text is {n} characters long; at most {limit} are inspected here. | 文本有 {n} 个字符；这里最多查看 {limit} 个。
inside_text_empty: Type some text first: there is nothing to look inside yet. | 请先输入一些文本：现在还没有可查看的内容。
inside_position: Position must be a whole number between {lo} and {hi} (this text's tokens; -1 = the last), not {got}. | 位置必须是 {lo} 到 {hi} 之间的整数（本文本的词元；-1 = 最后一个），而不是 {got}。
inside_prompt_type: The prompt must be a string. | 提示词必须是字符串。
inside_hub_offline_flag: The Hugging Face Hub is switched off here (HF_HUB_OFFLINE) and {model} is not in the local cache. | 这里关闭了 Hugging Face Hub（HF_HUB_OFFLINE），本地缓存中也没有 {model}。
inside_hub_unreachable: The Hugging Face Hub cannot be reached from here, and {model} is not in the local cache. | 从这里连不上 Hugging Face Hub，本地缓存中也没有 {model}。
inside_ours: ours | 我们的模型
inside_params: {n} parameters | {n} 参数
inside_bpb: {bpb} bits per byte | 每字节 {bpb} 比特
inside_bpb_missing: bits per byte: not measured here | 每字节比特数：未在此测量
inside_speed: {speed} tokens/s here | 在此 {speed} 词元/秒
inside_speed_stored: {speed} tokens/s here with random weights at its real size (measured by the bench; the model note says how) | 在此用真实大小的随机权重测得 {speed} 词元/秒（基准脚本测量；模型说明里写了测法）
inside_waiting: waiting for its turn… | 等待运行……
inside_unavailable: not available: {reason} | 不可用：{reason}
inside_plot_title: Bits per byte against parameters (log scale) | 每字节比特数与参数量（对数坐标）
inside_plot_x: parameters | 参数量
inside_plot_y: bits per byte (lower is better) | 每字节比特数（越低越好）
inside_plot_gap: {bpb} bits/byte for {times}× the parameters | 参数量 ×{times}，每字节比特数 {bpb}
inside_plot_missing: Not on the plot (not measured here): {models}. | 图中没有（未在此测量）：{models}。
inside_plot_hub: Offline: with the Hugging Face Hub, this view would add {models}. | 离线中：连上 Hugging Face Hub 后，这里会加入 {models}。
inside_js_window: Showing {shown} of the text's {total} tokens (the model reads only these); inspected position: {position}. | 显示文本 {total} 个词元中的 {shown} 个（模型只读这些）；查看的位置：{position}。
inside_js_attention_title: Attention: where each token looked | 注意力：每个词元在看哪里
inside_js_attention_help: Tap a token: the shading shows how much it attends to each earlier token in the chosen head (darker = more). Tokens after it are grey: a language model cannot look ahead. | 点一个词元：底色表示在所选注意力头中，它对前面每个词元的注意力有多大（越深越多）。它后面的词元是灰色的：语言模型不能往后看。
inside_js_caption: Layer {layer}, head {head}: | 第 {layer} 层，第 {head} 个头：
inside_js_grid_help: Every layer × head at once (rows: the token that looks; columns: the token looked at). Tap one to show it above. | 所有层 × 头一览（行：发出注意的词元；列：被注意的词元）。点一个，在上方放大显示。
inside_js_layer: layer {n} | 第 {n} 层
inside_js_head: head {n} | 头 {n}
inside_js_guess_title: Your guess first: what comes next? | 先猜一猜：下一个词是什么？
inside_js_guess_placeholder: your guess for the next word | 你猜的下一个词
inside_js_reveal: Reveal the model's answer | 揭晓模型的答案
inside_js_no_guess: No guess: here is the model's answer. | 没有猜测：这是模型的答案。
inside_js_guess_rank: Your guess "{token}" is the model's number {rank}. | 你猜的 "{token}" 在模型的候选中排第 {rank}。
inside_js_guess_piece: The model writes words in pieces: the first piece of your guess, "{token}", is its number {rank}. | 模型按片段写词：你所猜词的第一个片段 "{token}" 排第 {rank}。
inside_js_guess_missing: Your guess is not among the model's {n} likeliest next tokens. | 你的猜测不在模型最可能的 {n} 个下一个词元之中。
inside_js_top5: The model's top 5: | 模型的前 5 名：
inside_js_lens_title: Logit lens: what each layer would predict | 逻辑透镜（logit lens）：每一层会预测什么
inside_js_lens_help: Each layer's state read through the model's final norm and output layer, as if the model stopped there: the top 3 next tokens and their probabilities, down to the model's real output. The embeddings row mostly echoes the token itself (input and output share their weights). | 把每一层的状态直接送进模型最后的归一化和输出层，就像模型在那一层停下：下一个词元的前 3 名及其概率，一直到模型真正的输出。嵌入层那一行大多只是重复当前词元（输入和输出共用权重）。
inside_js_lens_layer: after | 经过
inside_js_lens_embeddings: embeddings | 嵌入层
inside_js_lens_output: layer {n} = output | 第 {n} 层 = 输出
inside_js_sampling_title: Sampling, drawn: the next-token distribution (top 20) | 采样图解：下一个词元的分布（前 20）
inside_js_sampling_help: Bars: probabilities after the repetition penalty and temperature. Greyed bars are cut by top-k or top-p; the rest are renormalised and one is drawn. Redrawn in your browser as you move a slider. | 条形：经过重复惩罚和温度之后的概率。灰色条被 top-k 或 top-p 截掉；其余重新归一化后从中抽取一个。拖动滑块时在你的浏览器里重画。
inside_js_slider_temperature: Temperature | 温度
inside_js_slider_top_k: Top-k (0 = off) | Top-k（0 = 关闭）
inside_js_slider_top_p: Top-p (1 = off) | Top-p（1 = 关闭）
inside_js_slider_penalty: Repetition penalty | 重复惩罚
inside_js_cut_k: top-k = {k}: the rest are cut | top-k = {k}：其余被截掉
inside_js_cut_p: top-p = {p}: the rest are cut | top-p = {p}：其余被截掉
inside_js_pick: Kept {kept} tokens ({mass} of the probability). Seed {seed} picks (rank {rank}): | 保留 {kept} 个词元（占概率的 {mass}）。种子 {seed} 选中（第 {rank} 名）：
inside_js_pick_greedy: Temperature 0: always the likeliest token, whatever the seed: | 温度 0：无论种子如何，总是选最可能的词元：
inside_js_why: Why the same seed gives the same token: the seed fixes a random number u for each token still in play, in token-id order; the draw picks the token with the largest p ÷ (−ln(1 − u)), a race that each token wins with exactly its probability p (the rule of torch.multinomial, which the text tab uses). Same seed, same numbers, same winner. | 为什么同一个种子总给出同一个词元：种子为每个仍在候选中的词元（按词元编号顺序）固定一个随机数 u；抽取选出 p ÷ (−ln(1 − u)) 最大的词元——在这场比赛中，每个词元获胜的机会恰好等于它的概率 p（这是 torch.multinomial 的规则，文本续写页用的就是它）。同一个种子，同样的随机数，同一个赢家。
""")

CSS = """
#inside-view .inside-tokens { display: flex; flex-wrap: wrap; gap: 3px; margin: 6px 0; }
#inside-view .inside-tok { border: 1px solid #ccc; border-radius: 4px; padding: 2px 4px; font-family: monospace;
                           font-size: 14px; min-height: 32px; cursor: pointer; }
#inside-view .inside-query { outline: 3px solid #d62728; }
#inside-view .inside-later { opacity: 0.45; }
#inside-view .inside-big canvas { width: min(100%, 480px); image-rendering: pixelated; border: 1px solid #ccc; }
#inside-view .inside-grid { display: grid; gap: 4px; align-items: center; max-width: 640px; font-size: 12px; }
#inside-view .inside-grid canvas { width: 100%; image-rendering: pixelated; border: 2px solid #ddd; cursor: pointer; }
#inside-view .inside-grid canvas.inside-selected { border-color: #d62728; }
#inside-view .inside-guess { display: flex; gap: 6px; flex-wrap: wrap; }
#inside-view .inside-guess input { flex: 1 1 180px; min-height: 40px; padding: 4px 8px; border: 1px solid #aaa;
                                   border-radius: 6px; }
#inside-view button.inside-reveal { min-height: 40px; padding: 4px 12px; border-radius: 6px; border: 1px solid #888; }
#inside-view .inside-scroll { overflow-x: auto; }
#inside-view .inside-lens td, #inside-view .inside-lens th { padding: 3px 8px; font-family: monospace; white-space: nowrap; }
#inside-view .inside-sliders { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 8px; }
#inside-view .inside-sliders label { display: flex; flex-direction: column; font-size: 13px; }
#inside-view .inside-sliders input { width: 100%; min-height: 32px; }
#inside-view .inside-bar { display: grid; grid-template-columns: 8em 1fr 4em; gap: 6px; align-items: center;
                           font-family: monospace; font-size: 13px; }
#inside-view .inside-bar-track span { display: block; height: 14px; background: #1f77b4; border-radius: 2px; }
#inside-view .inside-dropped { opacity: 0.35; }
#inside-view .inside-dropped .inside-bar-track span { background: #999; }
#inside-view .inside-picked { font-weight: bold; color: #d62728; }
#inside-view .inside-cut { border-top: 2px dashed #d62728; font-size: 12px; color: #d62728; margin: 2px 0; }
#inside-view .inside-bar-tok { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#inside-scale .inside-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 8px; }
#inside-scale .inside-card { border: 1px solid #ccc; border-radius: 8px; padding: 8px; }
#inside-scale .inside-card.inside-off { opacity: 0.6; }
#inside-scale .inside-card p { margin: 4px 0; }
"""
