"""Comparison page: the GAN, the VAE and the diffusion model draw the same digit, beside real test digits, each with
its time here, what our classifier reads, and its bench figures (read from the models' own files, ui/kit/figures.py)."""

import functools
import time
from dataclasses import dataclass

import gradio as gr
import torch
from safetensors.torch import load_file

from generators.diffusion import DEFAULT_GUIDANCE, DEFAULT_INTERVAL, DISTILLED, SAMPLER_GUIDANCE, DiffusionSampler
from generators.core.errors import ModelUnavailable
from generators.gan import GanSampler
from generators.core.limits import SEED, Range, check_choice
from generators.vae import ASSETS as VAE_ASSETS
from generators.vae_prior import VaeClassPrior
from ui.kit import figures, media, permalink
from ui.kit.adapters import adapter
from ui.kit.common import DIGITS, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import to_uint8
from ui.kit.receipts import metered
from ui.kit.registry import Tab, table
from ui.kit.zerogpu import on_gpu
from ui.tabs import compare_plain

COUNT = Range(1, 16)  # digits per family: three models run in one request
# the diffusion tab's default request, and the UNet passes a digit it costs (two on a guided step: cond + uncond)
DIFFUSION = dict(steps=20, guidance=DEFAULT_GUIDANCE, sampler="DPM-Solver++", interval=DEFAULT_INTERVAL)
FAST = dict(steps=4, guidance=SAMPLER_GUIDANCE[DISTILLED][0], sampler=DISTILLED,  # the tab's fast path, a row
            interval=SAMPLER_GUIDANCE[DISTILLED][1])


@functools.cache
def unet_passes_per_digit(fast: bool) -> int:
    """On first use, not at start: the schedule's timesteps come from diffusers, which takes seconds to import."""
    from generators.diffusion import build_scheduler, unet_passes

    return unet_passes(build_scheduler().config, **(FAST if fast else DIFFUSION))


# the family tabs' own adapters (ui/kit/adapters.py); the GAN's classifier reads every family's digits
GAN, VAE, DIFFUSION_SAMPLER = adapter(GanSampler), adapter(VaeClassPrior), adapter(DiffusionSampler)
FAMILIES = ("gan", "vae", "diffusion")
_warm = set()  # the load functions of models drawn once already
INK, FULL = 0.1, 0.9  # a pixel above INK is ink; ink above FULL is full-strength (crisp stroke cores)


@dataclass
class Run:
    """One family's digits for this request, or why there are none."""

    images: torch.Tensor | None  # (count, 1, 28, 28) in [0, 1]
    ms_per_digit: float | None = None
    params: int | None = None  # the parameters that draw a digit
    passes: int = 1  # network passes a digit
    missing: ModelUnavailable | None = None


def timed(key: str, draw, params: int, warm: bool = True) -> Run:
    """Times `draw()` once: this request's time per digit on this machine. With `warm`, a model's first draw in this
    process runs once untimed before (first calls allocate and pick kernels): a few ms that would dwarf a one-pass
    model's time, not worth a second run of the diffusion model's 40 passes."""
    if warm and key not in _warm:
        draw()
        _warm.add(key)
    t0 = time.perf_counter()
    images = draw()
    ms = (time.perf_counter() - t0) * 1000
    return Run(images, ms / len(images), params)


def run_gan(digit: int, count: int, seed: int) -> Run:
    """The GAN generator alone (no realness or reading inside the timing): one pass."""
    return timed("gan", lambda: GAN.draw(digit=digit, count=count, seed=seed), GAN.parameter_count())


def run_vae(digit: int, count: int, seed: int) -> Run:
    """The VAE's decoder on latents drawn from the class's Gaussian: one pass."""
    return timed("vae", lambda: VAE.sample(digit=digit, count=count, seed=seed), VAE.parameter_count())


def run_diffusion(digit: int, count: int, seed: int, settings: dict = DIFFUSION) -> Run:
    """The diffusion tab's sampler at its default request (or FAST: the distilled 4 steps, whose parameters are
    the student's and the model's); a missing model is a row that says so."""
    sampler, fast = DIFFUSION_SAMPLER, settings["sampler"] == DISTILLED
    passes = unet_passes_per_digit(fast)
    try:
        params = sampler.parameter_count(settings["sampler"])
    except ModelUnavailable as e:
        return Run(None, passes=passes, missing=e)
    request = dict(digit=digit, count=count, seed=seed, **settings)
    run = timed(f"diffusion-{settings['sampler']}", lambda: sampler.sample(**request).sample, params,
                warm=fast)  # 4 passes: warm-up is cheap
    run.passes = passes
    return run


@functools.cache
def _bank() -> dict[str, torch.Tensor]:
    return load_file(VAE_ASSETS / "examples.safetensors")


def reference(digit: int, count: int, seed: int) -> torch.Tensor:
    """`count` held-out MNIST test digits of the class, picked by seed: (count, 1, 28, 28) in [0, 1]."""
    bank = _bank()
    idx = torch.nonzero(bank["digit_labels"] == digit).squeeze(1)
    pick = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:count]]
    return bank["digits"][pick].float() / 255


def readings(images: torch.Tensor) -> tuple[list[int], list[float]]:
    """What our classifier reads in each image, and its confidence."""
    return GAN.read(images)


def crisp_share(images: torch.Tensor) -> float:
    """Share of ink pixels at full strength: real MNIST strokes have solid cores; a blurred stroke has few."""
    ink = images[images > INK]
    return float((ink > FULL).float().mean()) if len(ink) else 0.0


def _missing(value, fmt: str, lang: str) -> str:
    """`value` formatted, or "not measured" in `lang`."""
    return render("compare_not_measured", {}, lang) if value is None else fmt.format(value)


def _gallery(images, folder, name: str, lang: str) -> tuple[list[dict], list[int]]:
    """A family's digits captioned with what the classifier reads, and the readings."""
    if images is None:
        return media.gallery([]), []
    predicted, confidence = readings(images)
    captions = [render("compare_caption", dict(reads=p, confidence=f"{c:.0%}"), lang)
                for p, c in zip(predicted, confidence)]
    return media.gallery(media.png_files(to_uint8(images), folder, name), captions), predicted


def _fd(f: figures.Figures, lang: str) -> str:
    if f.frechet is None:
        return render("compare_not_measured", {}, lang)
    if f.floor is None:
        return f"{f.frechet:.2f}"
    return render("compare_fd", dict(fd=f"{f.frechet:.2f}", floor=f"{f.floor:.2f}"), lang)


def _row(name: str, run: Run | None, read: list[int], digit: int, f: figures.Figures, crisp: float, lang: str) -> str:
    """One table row: family, ms a digit here, classifier readings, bench figures, full-strength ink."""
    label = render(f"compare_{name}", dict(passes=run.passes if run else 0), lang)
    if run is not None and run.missing is not None:
        return f"| {label} | {render(run.missing.key, run.missing.fields, lang)} |" + " |" * 6
    if run is None:  # real digits: nothing to time, count or train
        ms = params = training = "—"
    else:
        ms, params = _missing(run.ms_per_digit, "{:.2f}", lang), _missing(run.params / 1e6, "{:.2f}M", lang)
        training = compare_plain.training(f, lang)
    cells = [label, ms, f"{read.count(digit)}/{len(read)}", _missing(f.accuracy, "{:.2%}", lang), _fd(f, lang),
             params, training, f"{crisp:.0%}"]
    return "| " + " | ".join(cells) + " |"


def _trade(runs: dict, crisp: dict, fig: dict, lang: str, fast: Run) -> str:
    """The measured answer to "what does each family trade?", one sentence per trade."""
    def num(value, fmt="{:.2f}"):
        return _missing(value, fmt, lang)
    gan, vae, diffusion = runs["gan"], runs["vae"], runs["diffusion"]
    parts = [render("compare_trade", {}, lang),
             render("compare_speed", dict(gan_ms=num(gan.ms_per_digit), vae_ms=num(vae.ms_per_digit)), lang)]
    if diffusion.missing is None:
        parts.append(render("compare_speed_diffusion", dict(
            passes=diffusion.passes, steps=DIFFUSION["steps"], ms=num(diffusion.ms_per_digit), ratio=f"{diffusion.ms_per_digit / gan.ms_per_digit:.0f}"), lang))
    if fast.missing is None:
        parts.append(render("compare_speed_distilled", dict(
            passes=fast.passes, ms=num(fast.ms_per_digit), ratio=f"{fast.ms_per_digit / gan.ms_per_digit:.0f}",
            fd=num(fig["distilled"].frechet), fd_default=num(fig["diffusion"].frechet)), lang))
    share = {k: num(crisp.get(k), "{:.0%}") for k in ("reference", *FAMILIES)}
    parts.append(render("compare_sharp", dict(real=share["reference"], gan=share["gan"], vae=share["vae"],
                                              diffusion=share["diffusion"]), lang))
    fd = {k: num(fig[k].frechet) for k in FAMILIES}
    parts.append(render("compare_fidelity", dict(**fd, floor=num(fig["gan"].floor)), lang))
    parts.append(render("compare_control", {}, lang))
    head, *rest = parts  # the heading as its own paragraph: in Chinese, run on, its closing ** met the next part's
    return head + "\n\n" + ("" if lang == "zh" else " ").join(rest)  # opening * and neither rendered


@localized
@on_gpu
def compare_families(digit: str, count: int, seed: int, *, lang: str = "en"):
    """The GAN, the VAE (a class prior over its latents) and the diffusion model draw the same digit.

    Args:
        digit: "0"-"9".
        count: digits per family, 1-16.
        seed: makes every family's noise (and the pick of real test digits) reproducible, 0 to 2**32-1.
    Returns:
        galleries of real test digits, GAN, VAE and diffusion digits (28 px, captioned with what our classifier
        reads), a table of each family's time per digit here, readings and bench figures, and what each trades.
    """
    d = int(check_choice("digit", digit, DIGITS))
    count, seed = COUNT.check("count", count), SEED.check("seed", seed)
    with metered("compare_families") as meter:
        runs = {"gan": run_gan(d, count, seed), "vae": run_vae(d, count, seed),
                "diffusion": run_diffusion(d, count, seed)}
        fast = run_diffusion(d, count, seed, FAST)  # a row of the table (no gallery: the outputs stay four)
        receipt = meter.line(lang)
    images = {"reference": reference(d, count, seed), **{k: r.images for k, r in runs.items()}}
    folder, fig = media.new_folder(), figures.all_families()
    shown = {k: _gallery(v, folder, k, lang) for k, v in images.items()}
    crisp = {k: crisp_share(v) for k, v in images.items() if v is not None}
    drawn = {k: compare_plain.Drawn(runs[k].ms_per_digit, shown[k][1].count(d), count, crisp[k])
             for k in FAMILIES if runs[k].missing is None}
    link = permalink.line("compare", lang, digit=digit, count=count, seed=seed)
    answer = compare_plain.verdict(drawn, fig, crisp["reference"], d, lang) + "  \n" + receipt + "  \n" + link + \
        "\n\n" + _trade(runs, crisp, fig, lang, fast)
    return (*(shown[k][0] for k in ("reference", *FAMILIES)), _table(shown, runs, fast, fig, crisp, d, lang), answer)


def _table(shown: dict, runs: dict, fast: Run, fig: dict, crisp: dict, d: int, lang: str) -> str:
    """The Markdown table: real digits, each family, the distilled fast path; a note where hardware differs."""
    # real digits: the classifier's test accuracy, and the real-vs-real distance (the bench's floor) as their own
    real = figures.Figures(figures.classifier_accuracy(), fig["gan"].floor)
    rows = [_row("reference", None, shown["reference"][1], d, real, crisp["reference"], lang)]
    rows += [_row(k, runs[k], shown[k][1], d, fig[k], crisp.get(k, 0.0), lang) for k in FAMILIES]
    fast_read = readings(fast.images)[0] if fast.images is not None else []
    rows.append(_row("distilled", fast, fast_read, d, fig["distilled"],
                     crisp_share(fast.images) if fast.images is not None else 0.0, lang))
    cells = render("compare_head", {}, lang).replace("；", ";").split(";")  # one message, 8 header cells
    head = "| " + " | ".join(c.strip() for c in cells) + " |\n|" + "---|" * len(cells)
    note = compare_plain.hardware_note(fig, lang)
    return "\n".join([head, *rows]) + (f"\n\n{note}" if note else "")

def build() -> None:
    """The page's components and events."""
    gr.Markdown(t("compare_about"))
    with gr.Row():
        digit = gr.Dropdown(list(DIGITS), value="7", label=t("compare_digit"), allow_custom_value=True)
        count = RawSlider(COUNT.lo, COUNT.hi, value=8, step=1, label=t("compare_count"))
        seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    go = gr.Button(t("compare_go"), variant="primary", elem_id="compare-go")
    galleries = [gr.Gallery(label=t(f"compare_{k}_row"), columns=16, height="auto", object_fit="contain",
                            format="png", elem_classes=["pixelated", "captioned"], elem_id=f"compare-{k}")
                 for k in ("reference", *FAMILIES)]
    trade_md = gr.Markdown(elem_id="compare-verdict")  # the verdict leads the answer, the table follows
    table_md = gr.Markdown(elem_id="compare-table")
    # postprocess=False: the handler returns values already in Gradio's form (ui/kit/media.py says why)
    outputs = [*galleries, table_md, trade_md]
    keep_on_error(go.click(compare_families, [digit, count, seed], outputs, api_name="compare_families",
                           postprocess=False, js=into_view("compare-reference")), outputs)
    linked = permalink.named(compare_families, [digit, count, seed])
    permalink.register("compare", linked, go), permalink.link_button("compare", linked)


STRINGS = table("""
compare_about: **GAN, VAE or diffusion: which is better at what?** Pick a digit and press Compare: the three kinds of image model draw it from the same seed, beside real handwritten digits. Under each digit: what our digit-reading classifier sees. The answer leads with one plain line a family; the table below sets this request's time on this machine beside each model's bench figures, read from its model card. | **GAN、VAE 还是扩散模型：谁擅长什么？** 选一个数字，点“对比”：三类图像模型用同一个随机种子画出它，旁边是真实的手写数字。每个数字下方是我们的数字识别分类器认出的结果。回答先用一句话总结每类模型；下面的表格把本次请求在这台机器上的用时，与各模型卡中的基准数据放在一起。
compare_digit: Digit | 数字
compare_count: Digits per family | 每类模型的数字个数
compare_go: Compare | 对比
compare_reference_row: Real test digits (the reference) | 真实测试数字（参照）
compare_gan_row: GAN | GAN
compare_vae_row: VAE, from its class prior | VAE（类别先验采样）
compare_diffusion_row: Diffusion | 扩散模型
""")

MESSAGES = table("""
compare_head: family; ms per digit (this request); read as the digit (this request); read as asked (bench); likeness to real handwriting (bench, lower is closer); size (parameters); training time; solid stroke pixels | 模型；每个数字的毫秒数（本次请求）；认作该数字（本次请求）；认作所选数字（基准）；与真实手写的差距（基准，越低越接近）；规模（参数量）；训练时间；实心笔画像素
compare_reference: Real test digits | 真实测试数字
compare_gan: GAN · one pass | GAN · 一次计算
compare_vae: VAE + class prior · one pass | VAE + 类别先验 · 一次计算
compare_diffusion: Diffusion · {passes} network passes | 扩散模型 · {passes} 次网络计算
compare_distilled: Diffusion, distilled · {passes} network passes | 扩散模型（蒸馏）· {passes} 次网络计算
compare_not_measured: not measured | 未测量
compare_caption: reads {reads} ({confidence}) | 认作 {reads}（{confidence}）
compare_fd: {fd} (real digits: {floor}) | {fd}（真实数字：{floor}）
compare_trade: **What does each family trade?** | **每类模型各有什么取舍？**
compare_speed: *One pass or many steps:* the GAN and the VAE draw a digit in one network pass ({gan_ms} and {vae_ms} ms a digit in this request). | *一次计算还是多步：* GAN 和 VAE 一次网络计算就画出一个数字（本次请求每个数字 {gan_ms} 和 {vae_ms} 毫秒）。
compare_speed_diffusion: Diffusion ran its network {passes} times a digit ({steps} denoising steps, some guided twice): {ms} ms a digit, {ratio}x the GAN's time. | 扩散模型每个数字运行网络 {passes} 次（{steps} 步去噪，部分步骤引导时算两次）：每个数字 {ms} 毫秒，是 GAN 的 {ratio} 倍。
compare_speed_distilled: Its distilled fast path (4 steps, the first taken by a second network trained to jump most of the way at once) ran {passes} passes a digit: {ms} ms a digit, {ratio}x the GAN's time, at a bench likeness of {fd} against {fd_default} for the default; many steps are what diffusion costs to train, not always to sample. | 它的蒸馏快速路径（4 步，第一步由另一个被训练成一步跨过大半路程的网络完成）每个数字运行 {passes} 次计算：每个数字 {ms} 毫秒，是 GAN 的 {ratio} 倍，基准差距为 {fd}，默认设置为 {fd_default}；多步是扩散模型训练时的代价，采样时却不一定。
compare_sharp: *Sharp or smooth:* solid (full-strength) pixels are {real} of the real digits' ink, {gan} of the GAN's, {vae} of the VAE's and {diffusion} of diffusion's; a VAE decodes the average of the digits a latent code could stand for, which blurs stroke cores, while a GAN is pushed toward digits a discriminator takes for real. | *清晰还是平滑：* 满强度的笔画像素在真实数字的笔画中占 {real}，GAN 占 {gan}，VAE 占 {vae}，扩散模型占 {diffusion}；VAE 解码出的是一个潜编码可能代表的各种数字的平均，笔画中心因此变淡变糊，而 GAN 被推向判别器信以为真的数字。
compare_fidelity: *Likeness to real handwriting (bench, lower is closer):* {gan} for the GAN, {vae} for the VAE, {diffusion} for diffusion; two sets of real digits score {floor}. | *与真实手写的差距（基准，越低越接近）：* GAN 为 {gan}，VAE 为 {vae}，扩散模型为 {diffusion}；两组真实数字之间为 {floor}。
compare_control: *Control:* the GAN offers a class and a truncation knob; the VAE a latent space to walk and to encode your own drawing into; diffusion trades time for quality when sampling (steps, sampler, guidance), with no retraining. | *可控性：* GAN 可以选类别和截断；VAE 有可以漫步的潜空间，还能编码你自己画的数字；扩散模型在采样时用时间换质量（步数、采样器、引导强度），无需重新训练。
""")

CSS = """
#compare-table table { display: block; overflow-x: auto; }  /* a phone scrolls the 8 columns, words stay whole */
#compare-table th, #compare-table td { min-width: 5.5em; word-break: normal; overflow-wrap: normal; }
"""

TAB = Tab(key="compare", order=50, title=("Compare the families", "三类模型对比"), build=build, strings=STRINGS,
          messages=MESSAGES | compare_plain.MESSAGES, css=CSS)
