"""GAN tab: sample digits with their realness scores, and walk the noise between two seeds."""

import statistics
import time

import gradio as gr

from generators.gan import COUNT, TRUNCATION, WALK_STEPS, GanSampler
from generators.core.limits import SEED, check_choice
from generators.scratch.sampler import ScratchSampler
from ui.kit import media, permalink
from ui.kit.adapters import adapter, queue_group
from ui.kit.common import DIGITS, examples, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from ui.kit.receipts import Meter
from ui.kit.registry import Tab, table
from ui.kit.trained import (MODELS, SHIPPED, TRAINED, Session, model_choice, run_of, shipped_only, steps_of,
                             trained_state)
from ui.kit.zerogpu import on_gpu

ANY = "Any"
UNSURE = 0.9  # a digit the classifier reads with less confidence than this is flagged
SAMPLER = adapter(GanSampler)  # the model cache, shared by all users; no per-user state here
GENERATOR = GanSampler.GENERATOR
MINE = ScratchSampler()  # samples a session's own GAN; the run comes with each request, never kept here
PREVIEW_EVERY = 0.2  # seconds between a walk's previews (each one a file that the browser and the client fetch)

# (digit, count, seed, truncation): clean sevens, the same sevens untruncated, a mixed batch, zeros
EXAMPLES = [["7", 16, 3, 0.5], ["7", 16, 3, 1.0], ["Any", 32, 42, 0.8], ["0", 16, 7, 0.7]]
# (from, to, seed A, seed B): a 3 becoming an 8, a 1 becoming a 7, a 4's handwriting alone
# the third walks in noise alone: its end digit is the start digit itself, not "" (the API's default, the same walk),
# which Gradio 6.31's examples table shows as an empty cell (its Dropdown example skips falsy values)
WALK_EXAMPLES = [["3", "8", 1, 2], ["1", "7", 5, 99], ["4", "4", 5, 99]]


def _digit(value) -> int | None:
    value = check_choice("digit", value, (ANY, *DIGITS))
    return None if value == ANY else int(value)


@localized
def sample_digits(digit: str, count: int, seed: int, truncation: float, model: str = SHIPPED,
                  trained: Session | None = None, *, lang: str = "en"):
    """Draws handwritten digits with our GAN; each comes with the discriminator's realness score.

    Args:
        digit: "0"-"9", or "Any" for a random digit each.
        count: how many digits, 1-64.
        seed: makes the noise reproducible, 0 to 2**32-1.
        truncation: 0.1-1.0; lower gives cleaner, less varied digits (1 = off).
        model: "shipped" (default), or "trained": the GAN trained in this session's Train-from-scratch tab (a page
            session's; an API call has none), which ignores truncation and has no realness score.
    Returns:
        a gallery of (28 px image, caption with realness and what our classifier reads), the grid as one PNG
        (112 px a digit), a summary that sets the scores beside those of real test digits.
    """
    d, count = _digit(digit), COUNT.check("count", count)
    seed, truncation = SEED.check("seed", seed), TRUNCATION.check("truncation", truncation)
    if check_choice("model", model, MODELS) == TRAINED:
        return _sample_trained(d, digit, count, seed, run_of(trained), lang)
    return _sample_shipped(d, digit, count, seed, truncation, lang)


@on_gpu
def _sample_shipped(d: int | None, digit: str, count: int, seed: int, truncation: float, lang: str):
    t0, meter = time.perf_counter(), Meter("sample_digits")
    batch = SAMPLER.sample(digit=d, count=count, seed=seed, truncation=truncation)
    ms = (time.perf_counter() - t0) * 1000
    digits = to_uint8(batch.images)  # (count, 28, 28)
    folder, made = media.new_folder(), dict(generator=GENERATOR, settings=dict(digit=digit, count=count, seed=seed,
                                                                              truncation=truncation))
    grid_png = media.write(folder, "digits.png", png_bytes(upscale(grid(digits))), **made)
    gallery = media.gallery(media.png_files(digits, folder, **made), _captions(batch, lang))
    link = permalink.line("gan", lang, digit=digit, count=count, seed=seed, truncation=truncation)
    return gallery, media.file(grid_png), meter.under(_summary(batch, ms, lang), lang, link)


def _sample_trained(d: int | None, digit: str, count: int, seed: int, run, lang: str):
    """The same request answered by the person's own GAN (generators/scratch/sampler.py): captions with what our
    classifier reads; truncation and realness do not apply to it, the summary says so."""
    run = MINE.check(run, "GAN")
    t0, meter = time.perf_counter(), Meter("sample_digits")
    batch = MINE.digits(run, digit=d, count=count, seed=seed)
    s = time.perf_counter() - t0
    folder, made = media.new_folder(), dict(generator=MINE.GENERATOR.format(family="GAN"),
                                            settings=dict(digit=digit, count=count, seed=seed, model=TRAINED))
    digits = to_uint8(batch.images)
    grid_png = media.write(folder, "digits.png", png_bytes(upscale(grid(digits))), **made)
    asked = batch.labels or [None] * count
    captions = [render("gan_trained_caption", dict(reads=p, confidence=f"{c:.0%}"), lang)
                for p, c in zip(batch.predicted, batch.confidence)]
    agree = sum(p == a for p, a in zip(batch.predicted, asked))
    key = "gan_trained_verdict" if batch.labels is not None else "gan_trained_verdict_free"
    summary = meter.under(render(key, dict(count=count, s=f"{s:.2f}", agree=agree, steps=steps_of(run)), lang) +
                          "\n\n" + render("gan_trained_note", {}, lang), lang)  # a session's own model is not a link's
    return media.gallery(media.png_files(digits, folder, **made), captions), media.file(grid_png), summary


def _captions(batch, lang: str) -> list[str]:
    """Each digit's numbers, in full under it; the classifier's least sure readings flagged."""
    return [render("gan_caption" if c >= UNSURE else "gan_caption_unsure",
                   dict(digit=lab, realness=f"{r:.2f}", reads=p, confidence=f"{c:.0%}"), lang)
            for lab, r, p, c in zip(batch.labels, batch.realness, batch.predicted, batch.confidence)]


def _summary(batch, ms: float, lang: str) -> str:
    """Timing, agreement, and the realness of generated digits beside the discriminator's scores for real ones."""
    count = len(batch.labels)
    agree = sum(p == lab for p, lab in zip(batch.predicted, batch.labels))
    asked = set(batch.labels)
    verdict = render("gan_verdict" if len(asked) == 1 else "gan_verdict_any",
                     dict(count=count, s=f"{ms / 1000:.2f}", agree=agree, digit=next(iter(asked))), lang)
    text = verdict + "\n\n" + render("gan_summary", dict(count=count, ms=f"{ms:.0f}", device=SAMPLER.device.type,
                                      realness=f"{statistics.median(batch.realness):.2f}", agree=agree,
                                      unsure=sum(c < UNSURE for c in batch.confidence), threshold=f"{UNSURE:.0%}"),
                  lang)
    real = [r for d in sorted(set(batch.labels)) for r in (SAMPLER.real_realness(d) or [])]
    if real:
        q = statistics.quantiles(real, n=10)
        text += " " + render("gan_real", dict(n=len(real), median=f"{statistics.median(real):.2f}",
                                              p10=f"{q[0]:.2f}", p90=f"{q[-1]:.2f}"), lang)
    return text


@localized
@on_gpu
def latent_walk(digit: str, seed_a: int, seed_b: int, steps: int, truncation: float = 1.0, end_digit: str = ""):
    """Morphs a digit from (digit, seed A) to (end digit, seed B), streaming the frames, then an animated GIF.

    Args:
        digit: "0"-"9", the first frame's digit.
        seed_a: the noise seed of the first frame.
        seed_b: the noise seed of the last frame.
        steps: how many frames, 2-64.
        truncation: 0.1-1.0 (1 = off).
        end_digit: "0"-"9", the last frame's digit; "" (the default) = the same digit, a walk in noise alone.
    Returns:
        the frames in order (28 px) and the animated GIF (112 px).
    """
    d = int(check_choice("digit", digit, DIGITS))
    end = d if end_digit == "" else int(check_choice("end digit", end_digit, DIGITS))
    seed_a, seed_b = SEED.check("seed A", seed_a), SEED.check("seed B", seed_b)
    steps, truncation = WALK_STEPS.check("steps", steps), TRUNCATION.check("truncation", truncation)
    meter = Meter("latent_walk")
    folder, made = media.new_folder(), dict(generator=GENERATOR, settings=dict(
        walk=True, digit=d, end_digit=end, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation))
    # each streamed update is ONE preview PNG of the frames so far (where the GIF will be); the frames go once, at
    # the end: a gallery re-sent on every update cost a fetch per frame per update (bench/bench_streams.py)
    shown = time.perf_counter()
    for frames in SAMPLER.stream_walk(digit=d, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation,
                                      end_digit=end):
        if len(frames) < steps and time.perf_counter() - shown >= PREVIEW_EVERY:  # a fast walk needs no preview
            shown = time.perf_counter()
            preview = png_bytes(upscale(grid(to_uint8(frames), columns=12), 2))
            yield None, media.image(media.write(folder, f"preview-{len(frames):02d}.png", preview, sign=False,
                                                **made), "image/png")
    paths = media.png_files(to_uint8(frames), folder, "frame", **made)
    gif = gif_bytes(to_pil(frames))
    meter.end(kept=True)  # the walk's outputs have no line to show it on; the room's totals count it
    yield media.gallery(paths), media.image(media.write(folder, "walk.gif", gif, **made), "image/gif")


def _walk() -> None:
    """The latent walk's own controls and events: from one digit and seed to another digit and seed."""
    with gr.Accordion(t("gan_walk_title"), open=True):
        gr.Markdown(t("gan_walk_about"))
        with gr.Row():
            digit = gr.Dropdown(list(DIGITS), value="3", label=t("gan_walk_from"))
            # "" by default: a call that leaves end_digit out gets the walk it got before the parameter existed
            end_digit = gr.Dropdown([(t("gan_walk_same"), ""), *DIGITS], value="", label=t("gan_walk_to"))
            seed_a = RawNumber(value=1, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("gan_seed_a"))
            seed_b = RawNumber(value=2, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("gan_seed_b"))
        with gr.Row():
            steps = RawSlider(WALK_STEPS.lo, WALK_STEPS.hi, value=24, step=1, label=t("app_steps"))
            truncation = RawSlider(TRUNCATION.lo, TRUNCATION.hi, value=1.0, step=0.05, label=t("gan_truncation"))
        with gr.Row():
            walk_btn = gr.Button(t("gan_walk"), variant="primary")
            stop_btn = gr.Button(t("app_stop"))
        frames = gr.Gallery(label=t("app_frames"), columns=12, height="auto", object_fit="contain",
                            elem_id="gan-walk", elem_classes=["pixelated"])
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
        walk = walk_btn.click(latent_walk, [digit, seed_a, seed_b, steps, truncation, end_digit], [frames, gif],
                              api_name="latent_walk", postprocess=False, js=into_view("gan-walk"))
        keep_on_error(walk, [frames, gif])
        stop_btn.click(None, None, None, cancels=[walk])
        examples(WALK_EXAMPLES, [digit, end_digit, seed_a, seed_b], "gan_walk_examples")


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("gan_about"))
    with gr.Row():
        digit = gr.Dropdown([(t("gan_any"), ANY), *DIGITS], value=ANY, label=t("gan_digit"))
        count = RawSlider(COUNT.lo, COUNT.hi, value=32, step=1, label=t("gan_count"))
        seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    model = model_choice("gan-model")
    sample_btn = gr.Button(t("gan_sample"), variant="primary", elem_id="gan-sample")
    with gr.Accordion(t("gan_advanced"), open=False):
        truncation = RawSlider(TRUNCATION.lo, TRUNCATION.hi, value=1.0, step=0.05, label=t("gan_truncation"),
                               info=t("gan_truncation_info"))
    shipped_only(model, [truncation])
    summary = gr.Markdown(elem_id="gan-summary")
    gallery = gr.Gallery(label=t("gan_samples"), columns=8, height="auto", object_fit="contain", format="png",
                         elem_id="gan-gallery", elem_classes=["pixelated", "captioned"])
    grid_file = gr.File(label=t("gan_grid"))
    # postprocess=False: the handlers return values already in Gradio's form (ui/kit/media.py says why)
    sampled = sample_btn.click(sample_digits, [digit, count, seed, truncation, model, trained_state()],
                               [gallery, grid_file, summary],
                               api_name="sample_digits", postprocess=False, js=into_view("gan-summary"),
                               **queue_group(GanSampler, "digits"))
    keep_on_error(sampled, [gallery, grid_file, summary])
    linked = permalink.named(sample_digits, [digit, count, seed, truncation])  # ui/kit/permalink.py
    permalink.register("gan", linked, sample_btn), permalink.link_button("gan", linked)
    # run on click in the clicker's language (ui/kit/common.py: examples are never cached)
    examples(EXAMPLES, [digit, count, seed, truncation], "gan_examples", outputs=[gallery, grid_file, summary],
             fn=media.for_examples(sample_digits))
    _walk()


STRINGS = table("""
gan_about: **GAN (generative adversarial network): two networks trained against each other.** One draws digits from random noise, the other learns to tell its drawings from real handwriting, until it can no longer tell. Press **Sample digits**; under each digit you see how real the judge finds it (0.5 = it cannot tell) and what an independent classifier reads. | **GAN（生成对抗网络）：两个互相较量的网络。** 一个从随机噪声画出数字，另一个学着分辨它画的和真人手写的，直到再也分不出来。按下**采样数字**；每个数字下方显示判别器认为它有多真（0.5 = 分辨不出）以及一个独立分类器认出的数字。
gan_digit: Digit | 数字
gan_count: Count | 数量
gan_truncation: Truncation ψ (1 = off) | 截断 ψ（1 = 关闭）
gan_truncation_info: Lower keeps the noise near its centre: cleaner, more alike digits; 1 draws from all of it (wilder). | 越低越把噪声限制在中心附近：数字更干净、彼此更像；1 表示使用全部噪声（更狂野）。
gan_advanced: Advanced: truncation | 高级：截断
gan_sample: Sample digits | 采样数字
gan_examples: Examples: digit, count, seed, truncation ψ | 示例：数字、数量、随机种子、截断 ψ
gan_samples: Samples | 样本
gan_grid: The whole grid as one PNG | 整张网格（一个 PNG 文件）
gan_walk_title: Latent walk: morph one digit into another | 潜空间漫步：把一个数字渐变成另一个
gan_seed_a: Seed A | 种子 A
gan_seed_b: Seed B | 种子 B
gan_walk: Walk | 开始漫步
gan_walk_about: The generator draws a digit from a point of noise and a digit label. The walk moves both in a straight line: from one digit to another (the label's embedding changes), or, with "the same digit", through noise alone, which changes only the handwriting. | 生成器由一个噪声点和一个数字标签画出数字。漫步让两者都沿直线移动：从一个数字变到另一个数字（标签的嵌入在变化）；选择“同一个数字”时只在噪声中移动，变化的只是笔迹。
gan_walk_from: From digit | 起点数字
gan_walk_to: To digit | 终点数字
gan_walk_same: the same digit | 同一个数字
gan_any: Any | 任意
gan_walk_examples: Examples: from digit, to digit, seed A, seed B | 示例：起点数字、终点数字、种子 A、种子 B
gan_card: GAN | GAN
gan_card_classifier: Digit classifier (grades the GAN) | 数字分类器（为 GAN 打分）
""")

MESSAGES = table("""
gan_caption: {digit} · realness {realness} · reads {reads} ({confidence}) | {digit} · 真实度 {realness} · 认作 {reads}（{confidence}）
gan_caption_unsure: ⚠ {digit} · realness {realness} · reads {reads} ({confidence}) | ⚠ {digit} · 真实度 {realness} · 认作 {reads}（{confidence}）
gan_summary: {count} digits in {ms} ms on {device}. Median realness {realness}; the classifier reads the asked digit in {agree}/{count}, {unsure} of them with less than {threshold} confidence (marked ⚠). | {count} 个数字，在 {device} 上用时 {ms} 毫秒。真实度中位数 {realness}；分类器认出所要数字的有 {agree}/{count} 个，其中 {unsure} 个把握低于 {threshold}（标有 ⚠）。
gan_verdict: **{count} digits in {s} s; our classifier reads {agree} of {count} as {digit}.** | **{s} 秒画出 {count} 个数字；我们的分类器认出其中 {agree} 个是 {digit}。**
gan_verdict_any: **{count} digits in {s} s; our classifier reads {agree} of {count} as the digit each was asked to be.** | **{s} 秒画出 {count} 个数字；我们的分类器认出其中 {agree} 个与所要求的数字一致。**
gan_trained_caption: reads {reads} ({confidence}) | 认作 {reads}（{confidence}）
gan_trained_verdict: **Your GAN ({steps} steps of training) drew {count} digits in {s} s; our classifier reads {agree} of {count} as the digit each was asked to be.** | **你的 GAN（训练了 {steps} 步）{s} 秒画出 {count} 个数字；我们的分类器认出其中 {agree} 个与所要求的数字一致。**
gan_trained_verdict_free: **Your GAN ({steps} steps of training) drew {count} digits in {s} s.** It was trained without being told the digit (the failure recipe), so it draws whatever it learnt, whatever digit you ask for. | **你的 GAN（训练了 {steps} 步）{s} 秒画出 {count} 个数字。** 它训练时没有被告知要画哪个数字（失败演示的配方），所以无论你要哪个数字，它都画它学到的样子。
gan_trained_note: Your model ignores truncation (it was trained without it) and has no realness score: its weights file keeps the generator only, not the discriminator. | 你的模型不使用截断（训练时没有用到），也没有真实度分数：它的权重文件只保存生成器，不含判别器。
gan_real: For comparison, the discriminator scores {n} real test digits of the same classes {median} (median; 10% of them below {p10}, 10% above {p90}). | 作为对照，判别器给同类的 {n} 个真实测试数字打分 {median}（中位数；10% 低于 {p10}，10% 高于 {p90}）。
""")

CSS = """
.captioned .thumbnail-item { aspect-ratio: auto; height: auto; display: flex; flex-direction: column; }
.captioned .thumbnail-item img { aspect-ratio: 1; }
.captioned .caption-label { position: static; max-width: 100%; white-space: normal; border: none; padding: 2px;
                            text-align: center; }
@media (max-width: 640px) {
  .captioned .grid-container { grid-template-columns: repeat(auto-fill, minmax(64px, 1fr)) !important; }
  .captioned .caption-label { font-size: 11px; line-height: 1.25; }
}
"""

TAB = Tab(key="gan", order=20, title=("GAN digits", "GAN 手写数字"), build=build, strings=STRINGS,
          messages=MESSAGES, css=CSS, names={"seed A": "种子 A", "seed B": "种子 B", "truncation": "截断",
                                             "end digit": "终点数字"},
          cards=(("gan_card", "assets/gan/README.md"), ("gan_card_classifier", "assets/classifier/README.md")))
