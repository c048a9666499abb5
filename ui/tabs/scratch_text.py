"""The Train-from-scratch tab's words, in English and Simplified Chinese (ui/scratch_tab.py declares them)."""

from ui.kit.registry import table

STRINGS = table("""
scratch_about: **Watch a model learn to write digits from nothing.** Pick a family and press Train: a GAN, a VAE or a small diffusion model starts from random weights and learns from 9,500 handwritten MNIST digits, live on this server's CPU. About once a second you see the same grid of noise turned into digits by the model as it is now (each row asks for the digits 0-9 where the model takes a digit), the losses, what our digit classifier reads in the samples, and the time left. Stop keeps what was learnt. Switch on "show its classic failure" to see, with the same seed, how each family typically goes wrong. | **看一个模型从零学会写数字。** 选一种模型，按“训练”：GAN、VAE 或小型扩散模型从随机权重开始，在本服务器的 CPU 上现场学习 9,500 个 MNIST 手写数字。大约每秒你会看到：同一组噪声被当前的模型变成数字（模型可指定数字时，每行依次是 0-9）、各项损失、我们的数字分类器从样本中认出什么，以及剩余时间。“停止”会保留已学到的内容。打开“展示它的典型失败”，用同一个种子看每类模型通常会怎样出错。
scratch_family: Model family | 模型类型
scratch_family_GAN: GAN | GAN（生成对抗网络）
scratch_family_VAE: VAE | VAE（变分自编码器）
scratch_family_diffusion: Diffusion | 扩散模型
scratch_seconds: Time budget, seconds (at most 180) | 时间预算（秒，最多 180）
scratch_failure: Show its classic failure (same seed) | 展示它的典型失败（同一种子）
scratch_recipes: **Recipes.** GAN: noise of 100 → 784 pixels, Adam with β₁ 0.5 as in the original recipe; our changes: conditioned on the digit, one-sided label smoothing (0.9), samples from a moving average of the generator, and a learning rate of 1e-3 instead of 2e-4 so that a minute is enough. VAE: reconstruction plus KL, a 16-number code, Adam 1e-3. Diffusion: the DDPM denoising loss on a 1,000-step cosine schedule, conditioned on the digit, it predicts the clean digit and is sampled in 10 DDIM steps. Each runs on one CPU core, so the rest of the playground stays quick; trainings wait their turn in a queue of their own. | **训练方法。** GAN：100 维噪声 → 784 个像素，按原始方法用 β₁ = 0.5 的 Adam；我们的改动：以数字为条件、单边标签平滑（0.9）、用生成器的滑动平均出样本，学习率用 1e-3 而不是 2e-4，好让一分钟够用。VAE：重建损失加 KL，16 维编码，Adam 1e-3。扩散模型：DDPM 的去噪损失，1,000 步余弦噪声表，以数字为条件，预测干净的数字，用 10 步 DDIM 采样。每次训练只占一个 CPU 核心，体验场的其余部分依然流畅；训练在自己的队列里排队。
scratch_train: Train | 训练
scratch_ready: Ready: choose a family and press Train. | 准备就绪：选择一种模型，然后按“训练”。
scratch_grid: The same noise, as the model turns it into digits now | 同一组噪声，被当前的模型变成的数字
scratch_plot: What our classifier reads in the samples | 我们的分类器从样本中认出什么
scratch_axis_seconds: seconds of training | 训练秒数
scratch_weights: Your trained weights (safetensors, config in its metadata) | 你训练的权重（safetensors，配置在元数据中）
scratch_again_title: Sample again from a model trained here | 用在这里训练的模型再次采样
scratch_again_about: Sample a new grid from this session's last training, or upload a weights file this tab gave you earlier. The training's own seed gives the grid it showed. | 从本会话最近一次训练的模型采样一组新的数字，或上传本页之前给你的权重文件。用训练时的种子会得到训练时显示的那组数字。
scratch_upload: Weights file (optional: a .safetensors file from this tab) | 权重文件（可选：本页生成的 .safetensors 文件）
scratch_sample_seed: Grid seed | 网格种子
scratch_sample: Sample | 采样
scratch_sampled_grid: Samples | 样本
scratch_model: Model | 模型
scratch_model_shipped: Shipped model | 内置模型
scratch_model_trained: Your trained model (this session) | 你训练的模型（本会话）
scratch_model_info: Your model is the last one you trained or uploaded in the Train-from-scratch tab, in this browser session only. Press the button again with the same seed to compare the two. | “你训练的模型”是你在本次浏览器会话中于“从零训练”页最近训练或上传的模型，只在本会话可用。用同一个种子再按一次按钮即可对比两者。
""")

MESSAGES = table("""
scratch_progress: {bar} step {step} · about {left} s left · {losses} · {reading} | {bar} 第 {step} 步 · 约剩 {left} 秒 · {losses} · {reading}
scratch_reading: the classifier reads {read} of the samples as a digit (at least {sure} sure), {classes} different digits among them. | 分类器把 {read} 的样本认作数字（把握至少 {sure}），其中有 {classes} 种不同的数字。
scratch_asked: It reads {asked} as the digit asked for. | 认作所要数字的占 {asked}。
scratch_done: Done: {step} steps in {seconds} s. Now {reading} Download the weights below, or sample from them again. | 完成：{seconds} 秒内训练了 {step} 步。现在{reading}可在下方下载权重，或用它们再次采样。
scratch_stopped: Stopped after {step} steps ({seconds} s), keeping what was learnt. Now {reading} | 已在 {step} 步（{seconds} 秒）后停止，保留已学到的内容。现在{reading}
scratch_failure_GAN: Why it fails: the generator is not told which digit to draw and is updated five times for each update of the discriminator, so it learns to fool the discriminator of the moment with one shape; many different noises give the same one or two digits (mode collapse). | 失败原因：生成器不知道该画哪个数字，而且判别器每更新一次，它就更新五次，于是它学会用同一种形状骗过眼下的判别器；许多不同的噪声都画出同样的一两个数字（模式崩溃）。
scratch_failure_VAE: Why it fails: the KL term weighs 25 times too much, so the code may carry almost nothing about the digit; every sample decodes to the same blurred average digit. | 失败原因：KL 项的权重大了 25 倍，编码几乎不能携带关于数字的信息；每个样本都被解码成同一个模糊的“平均数字”。
scratch_failure_diffusion: Why it fails: the model was trained for only ten steps, so it knows little more than where ink usually lies; removing the noise leaves noisy blobs, not digits. | 失败原因：模型只训练了十步，几乎只知道墨迹通常落在哪里；去掉噪声后留下的是一团团带噪点的斑块，而不是数字。
scratch_curve_read: read as a digit | 认作数字
scratch_curve_asked: the digit asked for | 认作所要数字
scratch_loss_D: discriminator loss | 判别器损失
scratch_loss_G: generator loss | 生成器损失
scratch_loss_reconstruction: reconstruction | 重建损失
scratch_loss_KL: KL divergence | KL 散度
scratch_loss_denoising: denoising loss | 去噪损失
scratch_sampled: A {family} trained for {steps} steps: | 一个训练了 {steps} 步的 {family}：
scratch_nothing_trained: Nothing to sample from yet: train a model in this tab, or upload a weights file it gave you. | 还没有可采样的模型：请先在本页训练一个，或上传本页生成的权重文件。
scratch_failure_type: failure must be true or false, not {got}. | failure 必须是 true 或 false，而不是 {got}。
scratch_trained_none: There is no model of yours to sample from yet: train a {family} in the Train-from-scratch tab (or upload its weights file there), then choose "Your trained model" here again. | 还没有你自己的模型可以采样：请先在“从零训练”页训练一个 {family}（或在那里上传它的权重文件），再回到这里选择“你训练的模型”。
scratch_trained_other: Your model in this session is a {trained}, not a {family}: train a {family} in the Train-from-scratch tab, or sample your {trained} in its own tab. | 你本会话的模型是 {trained}，不是 {family}：请在“从零训练”页训练一个 {family}，或到 {trained} 自己的页面采样。
scratch_adopted: Loaded: a {family} trained for {steps} steps. Sample it here, or choose "Your trained model" in the {tab} tab. | 已载入：一个训练了 {steps} 步的 {family}。可在这里采样，或在“{tab}”页选择“你训练的模型”。
scratch_elsewhere: You can also sample it in the {tab} tab: choose "Your trained model (this session)" there. | 你也可以在“{tab}”页采样它：在那里选择“你训练的模型（本会话）”。
scratch_tab_GAN: GAN digits | GAN 手写数字
scratch_tab_VAE: VAE interpolation | VAE 插值
scratch_tab_diffusion: Diffusion digits | 扩散模型手写数字
scratch_file_invalid: This file is not a model trained in this playground's Train-from-scratch tab (or it is damaged). | 该文件不是本体验场“从零训练”页训练的模型（或已损坏）。
scratch_file_too_large: The weights file is {size} bytes; the limit is {limit}. | 权重文件大小为 {size} 字节；上限为 {limit} 字节。
scratch_file_mismatch: This weights file does not fit its own config: {what} is {file} in the file, {model} expected. | 该权重文件与其自身配置不符：{what} 在文件中为 {file}，应为 {model}。
""")
