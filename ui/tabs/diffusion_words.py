"""The diffusion tab's words in English and 简体中文: its labels (STRINGS) and its messages (MESSAGES)."""

from ui.kit.registry import table

STRINGS = table("""
diffusion_about: **Diffusion model: the way today's image generators work.** It starts from pure static and removes a little noise at each step until digits appear, steered toward the digit you ask for. Press **Denoise** and watch the noise clear: left, the picture now; right, the model's guess of where it is heading. | **扩散模型：当今图像生成器的工作方式。** 它从一片纯噪点出发，每一步去掉一点噪声，直到数字显现，并朝你要的数字引导。按下**去噪生成**，看噪声如何消散：左边是此刻的画面，右边是模型对最终结果的猜测。
diffusion_digit: Digit | 数字
diffusion_any: Any | 任意
diffusion_count: Count | 数量
diffusion_advanced: Advanced: sampler, steps, guidance | 高级：采样器、步数、引导
diffusion_sampler: Sampler | 采样器
diffusion_distilled: Distilled | 蒸馏版
diffusion_sampler_info: The recipe for removing noise. DPM-Solver++ (default) is fast and clean; DDPM is the original, slow one; Distilled is a second network trained to do it in 4 steps. | 去噪的方法。DPM-Solver++（默认）又快又清晰；DDPM 是最初的慢方法；蒸馏版是专门训练的第二个网络，只用 4 步。
diffusion_steps_info: How many times noise is removed. More steps: slower, usually cleaner. The range follows the sampler. | 去噪的次数。步数越多越慢，通常也越干净。范围随采样器而变。
diffusion_guidance: Guidance (0 = none) | 引导强度（0 = 不引导）
diffusion_guidance_info: How hard each step is pushed toward the chosen digit. Higher: clearer digits, less variety, twice the work. | 每一步朝所选数字推动的力度。越高数字越清楚、变化越少，计算量翻倍。
diffusion_interval: When to guide (0 = automatic) | 何时引导（0 = 自动）
diffusion_interval_info: Guide only the later, less noisy steps: 0.7 skips the first 30% of the noise (the automatic choice for most samplers); 1 guides every step. | 只在后面噪声较少的步骤引导：0.7 表示跳过最初 30% 的噪声（多数采样器的自动选择）；1 表示每一步都引导。
diffusion_denoise: Denoise | 去噪生成
diffusion_samples: Samples (the finished digits at the end) | 样本（最后一步即成品）
diffusion_guess: The model's guess of the clean digits | 模型对干净数字的猜测
diffusion_grid: The whole grid as one PNG | 整张网格（一个 PNG 文件）
diffusion_examples: Examples: digit, count, steps, guidance, seed, sampler | 示例：数字、数量、步数、引导强度、随机种子、采样器
diffusion_card: Diffusion model | 扩散模型
diffusion_student_card: Distilled 4-step student | 蒸馏出的 4 步学生模型
""")

MESSAGES = table("""
diffusion_steps: {sampler} takes {lo} to {hi} steps, not {got}. | {sampler} 的步数须在 {lo} 到 {hi} 之间，而不是 {got}。
diffusion_steps_fixed: {sampler} takes exactly {lo} steps (it was trained for them), not {got}. | {sampler} 只能用 {lo} 步（它就是为此训练的），而不是 {got}。
diffusion_interval_range: guidance_interval must be 0 (the sampler's own) or a number between {lo} and {hi}, not {got}. | 引导区间（guidance_interval）须为 0（采样器自己的默认值）或 {lo} 到 {hi} 之间的数，而不是 {got}。
diffusion_progress: Denoising: step {index} of {total}… | 去噪中：第 {index} 步，共 {total} 步……
diffusion_trained_done: Your diffusion model ({trained} steps of training) drew {count} digits in {steps} DDIM steps in {ms} ms, as its training grid does. The sampler, guidance and interval apply to the shipped model only: yours was trained without the "no label" class that guidance needs. | 你的扩散模型（训练了 {trained} 步）用 {steps} 步 DDIM 画出 {count} 个数字，用时 {ms} 毫秒，与训练时的网格采样方式相同。采样器、引导强度和引导区间只适用于内置模型：你的模型训练时没有引导所需的“无标签”类别。
diffusion_stopped: Stopped. Press Denoise to start again. | 已停止。按“去噪生成”重新开始。
diffusion_caption: reads {reads} ({confidence}) | 认作 {reads}（{confidence}）
diffusion_verdict: **{count} digits in {s} s; our classifier reads {agree} of {count} as {digit}.** | **{s} 秒画出 {count} 个数字；我们的分类器认出其中 {agree} 个是 {digit}。**
diffusion_verdict_any: **{count} digits in {s} s; our classifier reads {agree} of {count} as the digit each was asked to be.** | **{s} 秒画出 {count} 个数字；我们的分类器认出其中 {agree} 个与所要求的数字一致。**
diffusion_done: {count} digits in {steps} steps ({sampler}, guidance {guidance}, interval {interval}) in {ms} ms on {device}. | {count} 个数字，{steps} 步（{sampler}，引导强度 {guidance}，引导区间 {interval}），在 {device} 上用时 {ms} 毫秒。
""")
