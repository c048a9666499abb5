"""GAN tab: sample digits with their realness scores, and walk the noise between two seeds."""

import time

import gradio as gr

from generators.gan import COUNT, TRUNCATION, WALK_STEPS, GanSampler
from generators.limits import SEED, check_choice
from ui import media
from ui.common import DIGITS, examples
from ui.errors import localized
from ui.i18n import t
from ui.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from ui.registry import Tab, table
from ui.zerogpu import on_gpu

ANY = "Any"
SAMPLER = GanSampler()  # the model cache, shared by all users; no per-user state here

# (digit, count, seed, truncation): clean sevens, the same sevens untruncated, a mixed batch, zeros
EXAMPLES = [["7", 16, 3, 0.5], ["7", 16, 3, 1.0], ["Any", 32, 42, 0.8], ["0", 16, 7, 0.7]]


def _digit(value) -> int | None:
    value = check_choice("digit", value, (ANY, *DIGITS))
    return None if value == ANY else int(value)


@localized
@on_gpu
def sample_digits(digit: str, count: int, seed: int, truncation: float):
    """Draws handwritten digits with our GAN; each comes with the discriminator's realness score.

    Args:
        digit: "0"-"9", or "Any" for a random digit each.
        count: how many digits, 1-64.
        seed: makes the noise reproducible, 0 to 2**32-1.
        truncation: 0.1-1.0; lower gives cleaner, less varied digits (1 = off).
    Returns:
        a gallery of (28 px image, caption with realness and what our classifier reads), the grid as one PNG
        (112 px a digit), a summary.
    """
    d, count = _digit(digit), COUNT.check("count", count)
    seed, truncation = SEED.check("seed", seed), TRUNCATION.check("truncation", truncation)
    t0 = time.perf_counter()
    batch = SAMPLER.sample(digit=d, count=count, seed=seed, truncation=truncation)
    ms = (time.perf_counter() - t0) * 1000
    digits = to_uint8(batch.images)  # (count, 28, 28)
    captions = [f"{lab} · realness {r:.2f} · reads {p} ({c:.0%})"
                for lab, r, p, c in zip(batch.labels, batch.realness, batch.predicted, batch.confidence)]
    agree = sum(p == lab for p, lab in zip(batch.predicted, batch.labels))
    summary = (f"{count} digits in {ms:.0f} ms on {SAMPLER.device.type}. Mean realness "
               f"{sum(batch.realness) / count:.2f}; the classifier reads the asked digit in {agree}/{count}.")
    folder = media.new_folder()
    grid_png = media.write(folder, "digits.png", png_bytes(upscale(grid(digits))))
    return media.gallery(media.png_files(digits, folder), captions), media.file(grid_png), summary


@localized
@on_gpu
def latent_walk(digit: str, seed_a: int, seed_b: int, steps: int, truncation: float = 1.0):
    """Morphs one digit through noise space from seed A to seed B, streaming the frames, then an animated GIF.

    Args:
        digit: "0"-"9".
        seed_a: the noise seed of the first frame.
        seed_b: the noise seed of the last frame.
        steps: how many frames, 2-64.
        truncation: 0.1-1.0 (1 = off).
    Returns:
        the frames in order (28 px) and the animated GIF (112 px).
    """
    d = int(check_choice("digit", digit, DIGITS))
    seed_a, seed_b = SEED.check("seed A", seed_a), SEED.check("seed B", seed_b)
    steps, truncation = WALK_STEPS.check("steps", steps), TRUNCATION.check("truncation", truncation)
    folder, paths = media.new_folder(), []  # each frame is written once, when it is decoded
    for frames in SAMPLER.stream_walk(digit=d, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation):
        paths += media.png_files(to_uint8(frames[len(paths):]), folder, "frame", start=len(paths))
        yield media.gallery(paths), None
    gif = gif_bytes(to_pil(frames))
    yield media.gallery(paths), media.image(media.write(folder, "walk.gif", gif), "image/gif")


def _walk(truncation) -> None:
    """The latent walk's controls and events."""
    with gr.Accordion(t("gan_walk_title"), open=False):
        with gr.Row():
            digit = gr.Dropdown(list(DIGITS), value="3", label=t("gan_digit"))
            seed_a = gr.Number(value=1, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("gan_seed_a"))
            seed_b = gr.Number(value=2, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("gan_seed_b"))
            steps = gr.Slider(WALK_STEPS.lo, WALK_STEPS.hi, value=24, step=1, label=t("app_steps"))
        with gr.Row():
            walk_btn = gr.Button(t("gan_walk"), variant="primary")
            stop_btn = gr.Button(t("app_stop"))
        frames = gr.Gallery(label=t("app_frames"), columns=12, height="auto", object_fit="contain",
                            elem_classes=["pixelated"])
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
        walk = walk_btn.click(latent_walk, [digit, seed_a, seed_b, steps, truncation], [frames, gif],
                              api_name="latent_walk", postprocess=False)
        stop_btn.click(None, None, None, cancels=[walk])


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("gan_about"))
    with gr.Row():
        digit = gr.Dropdown([ANY, *DIGITS], value=ANY, label=t("gan_digit"))
        count = gr.Slider(COUNT.lo, COUNT.hi, value=32, step=1, label=t("gan_count"))
        seed = gr.Number(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
        truncation = gr.Slider(TRUNCATION.lo, TRUNCATION.hi, value=1.0, step=0.05, label=t("gan_truncation"))
    sample_btn = gr.Button(t("gan_sample"), variant="primary")
    gallery = gr.Gallery(label=t("gan_samples"), columns=8, height="auto", object_fit="contain", format="png",
                         elem_id="gan-gallery", elem_classes=["pixelated"])
    summary = gr.Markdown()
    grid_file = gr.File(label=t("gan_grid"))
    # postprocess=False: the handlers return values already in Gradio's form (ui/media.py says why)
    sample_btn.click(sample_digits, [digit, count, seed, truncation], [gallery, grid_file, summary],
                     api_name="sample_digits", postprocess=False)
    # cached at first use, then instant for everyone (the summary's timing is the first run's)
    examples(EXAMPLES, [digit, count, seed, truncation], "gan_examples", outputs=[gallery, grid_file, summary],
             fn=media.for_examples(sample_digits), cache_examples=True, cache_mode="lazy")
    _walk(truncation)


STRINGS = table("""
gan_about: **Generative adversarial network.** A generator turns random noise into a handwritten digit; it was trained against a discriminator that learned to tell its digits from real MNIST ones. Each digit shows the discriminator's *realness* (its probability that the digit is real) and what an independent classifier reads. Try: one digit with truncation 0.5 (cleaner, less varied) versus 1.0 (wilder). | **生成对抗网络（GAN）。** 生成器把随机噪声变成一个手写数字；训练时它与一个判别器对抗，判别器学着区分它画的数字和真实的 MNIST 数字。每个数字都标出判别器给的*真实度*（它认为该数字是真实样本的概率），以及一个独立分类器认出的数字。试试：同一个数字，截断 0.5（更干净、变化更少）对比 1.0（更狂野）。
gan_digit: Digit | 数字
gan_count: Count | 数量
gan_truncation: Truncation ψ (1 = off) | 截断 ψ（1 = 关闭）
gan_sample: Sample digits | 采样数字
gan_examples: Examples: digit, count, seed, truncation ψ | 示例：数字、数量、随机种子、截断 ψ
gan_samples: Samples | 样本
gan_grid: The whole grid as one PNG | 整张网格（一个 PNG 文件）
gan_walk_title: Latent walk: morph between two noise seeds | 潜空间漫步：在两个噪声种子之间渐变
gan_seed_a: Seed A | 种子 A
gan_seed_b: Seed B | 种子 B
gan_walk: Walk | 开始漫步
gan_card: GAN | GAN
gan_card_classifier: Digit classifier (grades the GAN) | 数字分类器（为 GAN 打分）
""")

TAB = Tab(key="gan", order=20, title=("GAN digits", "GAN 手写数字"), build=build, strings=STRINGS,
          names={"seed A": "种子 A", "seed B": "种子 B", "truncation": "截断"},
          cards=(("gan_card", "assets/gan/README.md"), ("gan_card_classifier", "assets/classifier/README.md")))
