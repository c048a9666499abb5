"""The interface in English and Simplified Chinese: Gradio's frontend picks the browser's language.

`t("key")` stands for a string in component labels, buttons, tab names and Markdown; the browser shows EN or ZH.
Keys carry a prefix (app_, text_, gan_, vae_) so they never meet Gradio's own translation keys
("label", "gallery", ...), and no dots, which the frontend would read as nesting. The table is served by
`launch(i18n=I18N)` (app.Playground does that). Error messages are in ui/errors.py.
"""

import gradio as gr

EN = {
    "app_header": "# Generative AI playground\nThree model families behind the question *bubble or future?*, live on "
                  "real trained models. Every model here was trained by us on open data; the model cards give data, "
                  "recipe and measured quality.",
    "app_tab_text": "Text continuation",
    "app_tab_gan": "GAN digits",
    "app_tab_vae": "VAE interpolation",
    "app_cards": "Model cards: how each model was trained and how good it measured",
    "app_card_text": "Text model",
    "app_card_gan": "GAN",
    "app_card_vae": "VAE",
    "app_card_classifier": "Digit classifier (grades the GAN)",
    "app_card_missing": "is missing.",
    "app_seed": "Seed",
    "app_steps": "Steps",
    "app_stop": "Stop",
    "app_frames": "Frames",
    "app_gif": "Animated GIF",
    # text tab
    "text_about": "An autoregressive language model predicts the next token from all the tokens before it; sampling "
                  "one and feeding it back, again and again, writes a continuation. Try temperature 0 (always the most "
                  "likely token) against 1.5, or a few alternatives from one seed, then look at how likely the model "
                  "found each token.",
    "text_model": "Model",
    "text_model_info": "Hub models are downloaded on first use; ours is bundled and works offline.",
    "text_model_bundled": "Ours: a small GPT-2 trained on Gutenberg novels (bundled)",
    "text_prompt": "Prompt",
    "text_max_new_tokens": "Max new tokens",
    "text_alternatives": "Alternatives",
    "text_temperature": "Temperature (0 = greedy)",
    "text_top_k": "Top-k (0 = off)",
    "text_top_p": "Top-p (1 = off)",
    "text_repetition_penalty": "Repetition penalty (1 = off)",
    "text_generate": "Generate",
    "text_examples": "Examples: prompt, max new tokens, seed, temperature",
    "text_notice": "Notice",
    "text_alt1": "Text (alternative 1)",
    "text_alt2": "Alternative 2",
    "text_alt3": "Alternative 3",
    "text_probs": "Token probabilities (after generation)",
    "text_probs_legend": "Red: tokens the model found unlikely; purple: likely ones. Pick a position for its top 5.",
    "text_inspected": "Alternative",
    "text_tokens": "Generated tokens",
    "text_position": "Position",
    "text_top5": "Top 5 candidates at that position",
    # GAN tab
    "gan_about": "**Generative adversarial network.** A generator turns random noise into a handwritten digit; it was "
                 "trained against a discriminator that learned to tell its digits from real MNIST ones. Each digit "
                 "shows the discriminator's *realness* (its probability that the digit is real) and what an "
                 "independent classifier reads. Try: one digit with truncation 0.5 (cleaner, less varied) versus 1.0 "
                 "(wilder).",
    "gan_digit": "Digit",
    "gan_count": "Count",
    "gan_truncation": "Truncation ψ (1 = off)",
    "gan_sample": "Sample digits",
    "gan_examples": "Examples: digit, count, seed, truncation ψ",
    "gan_samples": "Samples",
    "gan_grid": "The whole grid as one PNG",
    "gan_walk_title": "Latent walk: morph between two noise seeds",
    "gan_seed_a": "Seed A",
    "gan_seed_b": "Seed B",
    "gan_walk": "Walk",
    # VAE tab
    "vae_about": "**Variational autoencoder.** An encoder squeezes each digit into 16 numbers (a point in latent "
                 "space); a decoder turns any point back into a digit. Walking in a straight line between two points "
                 "decodes into a smooth morph. Try: 1 → 7, then draw your own digit as the end point.",
    "vae_start_digit": "Start digit",
    "vae_end_digit": "End digit",
    "vae_start_drawing": "Start: your drawing (used when 'my drawing' is chosen)",
    "vae_end_drawing": "End: your drawing (used when 'my drawing' is chosen)",
    "vae_my_drawing": "my drawing",
    "vae_path": "Path",
    "vae_path_info": "linear: a straight line between the two points; spherical: an arc that keeps the length of "
                     "typical latent points (slerp).",
    "vae_seed": "Seed (picks the test digits)",
    "vae_interpolate": "Interpolate",
    "vae_examples": "Examples: start digit, end digit, steps, path, seed",
    "vae_strip": "Strip (PNG)",
    "vae_recon": "Endpoints and their reconstructions",
    "vae_latent": "Latent map: test digits by class, and the path",
}

ZH = {
    "app_header": "# 生成式 AI 体验场\n围绕“泡沫还是未来？”这个问题的三类生成模型，全部是真实训练出来的模型，在线可玩。"
                  "这里的每个模型都由我们在公开数据上训练；模型卡写明了数据、训练方法和实测质量。",
    "app_tab_text": "文本续写",
    "app_tab_gan": "GAN 手写数字",
    "app_tab_vae": "VAE 插值",
    "app_cards": "模型卡：每个模型如何训练、实测效果如何",
    "app_card_text": "文本模型",
    "app_card_gan": "GAN",
    "app_card_vae": "VAE",
    "app_card_classifier": "数字分类器（为 GAN 打分）",
    "app_card_missing": "尚不存在。",
    "app_seed": "随机种子",
    "app_steps": "步数",
    "app_stop": "停止",
    "app_frames": "帧",
    "app_gif": "GIF 动图",
    "text_about": "自回归语言模型根据前面的所有 token 预测下一个 token；采样一个、接回输入，如此反复，就写出了续写。"
                  "试试温度 0（总是选最可能的 token）与 1.5 的对比，或者用同一个种子生成几个候选，再看看模型认为每个 "
                  "token 有多大可能。",
    "text_model": "模型",
    "text_model_info": "Hub 上的模型在首次使用时下载；我们自己的模型已内置，离线也能用。",
    "text_model_bundled": "我们自己的：在古登堡计划小说上训练的小型 GPT-2（内置）",
    "text_prompt": "提示词",
    "text_max_new_tokens": "最多生成的 token 数",
    "text_alternatives": "候选数",
    "text_temperature": "温度（0 = 贪心）",
    "text_top_k": "Top-k（0 = 关闭）",
    "text_top_p": "Top-p（1 = 关闭）",
    "text_repetition_penalty": "重复惩罚（1 = 关闭）",
    "text_generate": "生成",
    "text_examples": "示例：提示词、最多生成的 token 数、随机种子、温度",
    "text_notice": "提示",
    "text_alt1": "文本（候选 1）",
    "text_alt2": "候选 2",
    "text_alt3": "候选 3",
    "text_probs": "各 token 的概率（生成后显示）",
    "text_probs_legend": "红色：模型认为不太可能的 token；紫色：很可能的 token。选择一个位置，查看该处概率最高的 5 个候选。",
    "text_inspected": "候选",
    "text_tokens": "生成的 token",
    "text_position": "位置",
    "text_top5": "该位置概率最高的 5 个候选",
    "gan_about": "**生成对抗网络（GAN）。** 生成器把随机噪声变成一个手写数字；训练时它与一个判别器对抗，判别器学着区分"
                 "它画的数字和真实的 MNIST 数字。每个数字都标出判别器给的*真实度*（它认为该数字是真实样本的概率），"
                 "以及一个独立分类器认出的数字。试试：同一个数字，截断 0.5（更干净、变化更少）对比 1.0（更狂野）。",
    "gan_digit": "数字",
    "gan_count": "数量",
    "gan_truncation": "截断 ψ（1 = 关闭）",
    "gan_sample": "采样数字",
    "gan_examples": "示例：数字、数量、随机种子、截断 ψ",
    "gan_samples": "样本",
    "gan_grid": "整张网格（一个 PNG 文件）",
    "gan_walk_title": "潜空间漫步：在两个噪声种子之间渐变",
    "gan_seed_a": "种子 A",
    "gan_seed_b": "种子 B",
    "gan_walk": "开始漫步",
    "vae_about": "**变分自编码器（VAE）。** 编码器把每个数字压缩成 16 个数（潜空间中的一个点）；解码器能把任意一点还原成"
                 "数字。在两点之间沿直线行走，解码出来就是平滑的渐变。试试：1 → 7，然后自己画一个数字作为终点。",
    "vae_start_digit": "起点数字",
    "vae_end_digit": "终点数字",
    "vae_start_drawing": "起点：你的手绘（选择“我的手绘”时使用）",
    "vae_end_drawing": "终点：你的手绘（选择“我的手绘”时使用）",
    "vae_my_drawing": "我的手绘",
    "vae_path": "路径",
    "vae_path_info": "linear：两点之间的直线；spherical：沿球面的弧线，保持典型潜向量的长度（slerp）。",
    "vae_seed": "随机种子（用来挑选测试集数字）",
    "vae_interpolate": "插值",
    "vae_examples": "示例：起点数字、终点数字、步数、路径、随机种子",
    "vae_strip": "长条图（PNG）",
    "vae_recon": "两端数字及其重建",
    "vae_latent": "潜空间图：按类别着色的测试数字与插值路径",
}

# "zh" also serves zh-TW/zh-HK browsers (the frontend falls back from zh-TW to zh, then to en)
I18N = gr.I18n(en=EN, **{"zh-CN": ZH, "zh": ZH})


def t(key: str):
    """A translatable string for a label, button, tab name or Markdown; an unknown key fails at build time."""
    if key not in EN:
        raise KeyError(f"no English text for i18n key {key!r}")
    return I18N(key)
