"""Diffusion tab: watch noise turn into digits step by step, beside the model's guess of the clean digit."""

import math
import time

import gradio as gr
from PIL import Image

from generators.diffusion import (COUNT, DEFAULT_GUIDANCE, DEFAULT_STEPS, DISTILLED, GUIDANCE, INTERVAL,
                                  SAMPLER_GUIDANCE, SAMPLERS, STEPS, DiffusionSampler)
from generators.core.errors import InputError
from generators.core.limits import SEED, check_choice
from ui.kit import media
from ui.kit.adapters import adapter
from ui.kit.common import DIGITS, examples, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider
from ui.kit.errors import localized, render
from ui.kit.i18n import t
from ui.kit.images import gif_bytes, grid, png_bytes, to_uint8, upscale
from ui.kit.registry import Tab, table
from ui.kit.zerogpu import on_gpu

ANY = "Any"
SAMPLER = adapter(DiffusionSampler)  # the model cache, shared by all users (and by the comparison page)
GENERATOR = DiffusionSampler.GENERATOR
MIN_INTERVAL = 1 / 15  # seconds between streamed updates: ~15 a second is what a browser shows well
MIN_UPDATES = 8  # a fast run still streams every total/8 steps, so the denoising can be watched
GIF_FRAMES = 40  # denoising frames in the GIF (strided for long runs), the last one included
GIF_HOLD = 12  # the finished digits stay this many frames at the end of the loop
GIF_SCALE = 2  # GIF pixels per digit pixel

# (digit, count, steps, guidance, seed, sampler, interval): the default ODE solve, the distilled 4 steps from the same
# noise, the same in DDIM, a mixed batch guided at every step, DDPM in full
EXAMPLES = [["7", 16, 20, DEFAULT_GUIDANCE, 0, "DPM-Solver++", 0], ["7", 16, 4, SAMPLER_GUIDANCE[DISTILLED][0], 0, DISTILLED, 0],
            ["7", 16, 20, DEFAULT_GUIDANCE, 0, "DDIM", 0], ["Any", 32, 10, 2.0, 42, "DPM-Solver++", 1.0],
            ["3", 8, 1000, 1.0, 1, "DDPM", 1.0]]


def check_request(digit, count, steps, guidance, seed, sampler, interval=0.0) -> dict:
    """The adapter's keyword arguments from the UI's values; InputError for the first bad one."""
    digit = check_choice("digit", digit, (ANY, *DIGITS))
    sampler = check_choice("sampler", sampler, SAMPLERS)
    allowed = STEPS[sampler]
    try:
        steps = allowed.check("steps", steps)
    except InputError:
        key = "diffusion_steps_fixed" if allowed.lo == allowed.hi else "diffusion_steps"
        raise InputError(key, sampler=sampler, lo=allowed.lo, hi=allowed.hi, got=repr(steps)) from None
    return dict(digit=None if digit == ANY else int(digit), count=COUNT.check("count", count), steps=steps,
                guidance=GUIDANCE.check("guidance", guidance), seed=SEED.check("seed", seed), sampler=sampler,
                interval=_interval(interval, sampler))


def _interval(value, sampler: str) -> float:
    """The guidance interval asked for; 0 is the sampler's own (SAMPLER_GUIDANCE)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return SAMPLER_GUIDANCE[sampler][1]
    try:
        return INTERVAL.check("guidance_interval", value)
    except InputError:
        raise InputError("diffusion_interval_range", lo=INTERVAL.lo, hi=INTERVAL.hi, got=repr(value)) from None


def _due(step, last: float, every: int) -> bool:
    """Whether this step is streamed: the last one, every `every`-th, or MIN_INTERVAL after the previous update."""
    return step.done or step.index % every == 0 or time.perf_counter() - last >= MIN_INTERVAL


def _update(step, folder, summary: str, made: dict) -> tuple:
    """One streamed update: the current samples (one PNG each), the clean guesses as one grid, no downloads yet;
    labelled as generated, unsigned (signing costs ~2 ms a file, on every update)."""
    paths = media.png_files(to_uint8(step.sample), folder, f"x{step.index:04d}", **made)
    guess = media.write(folder, f"x0-{step.index:04d}.png", png_bytes(upscale(grid(to_uint8(step.predicted)), 2)),
                        sign=False, **made)
    return media.gallery(paths), media.image(guess, "image/png"), None, None, summary


def _final(step, folder, frames: list, summary: str, made: dict) -> tuple:
    """The last update: the finished digits captioned with their class, the guess, the GIF and the grid PNG."""
    digits = to_uint8(step.sample)  # (count, 28, 28)
    paths = media.png_files(digits, folder, "digit", **made)
    guess = media.write(folder, "x0-final.png", png_bytes(upscale(grid(to_uint8(step.predicted)), 2)), **made)
    frames = frames + [frames[-1]] * GIF_HOLD
    gif = media.write(folder, "denoising.gif", gif_bytes(frames, ms_per_frame=80, bounce=False), **made)
    grid_png = media.write(folder, "digits.png", png_bytes(upscale(grid(digits))), **made)
    return (media.gallery(paths, [str(label) for label in step.labels]), media.image(guess, "image/png"),
            media.image(gif, "image/gif"), media.file(grid_png), summary)


@localized
@on_gpu
def denoise_digits(digit: str, count: int, steps: int, guidance: float, seed: int, sampler: str = "DPM-Solver++",
                   guidance_interval: float = 0.0, *, lang: str = "en"):
    """Draws handwritten digits with our diffusion model, streaming the denoising step by step.

    Args:
        digit: "0"-"9", or "Any" for a random digit each.
        count: how many digits, 1-64.
        steps: denoising steps: 1-100 for DPM-Solver++, UniPC and DDIM, 50-1000 for DDPM, 4 for Distilled.
        guidance: classifier-free guidance scale, 0-10 (0 = the plain conditional model; for Distilled it guides
            the model's own steps below the interval, never the distilled first step).
        seed: makes the noise reproducible, 0 to 2**32-1.
        sampler: "DPM-Solver++", "UniPC", "DDIM", "DDPM", or "Distilled" (a second UNet trained to do the default
            run's work in 4 DDIM steps, one pass each).
        guidance_interval: guidance only on the steps with t < this x 1000, 0.05-1 (1 = every step); 0, the
            default, is the sampler's own: 0.7 (1 for UniPC, whose 4 steps start at t = 999 and 749). The noisiest
            steps gain little from guidance and lose variety.
    Returns:
        streamed: the current samples (28 px each; the finished digits on the last update), the model's guess of
        the clean digits (a grid), then on the last update an animated GIF of the denoising and the grid as one
        PNG; a summary.
    """
    request = check_request(digit, count, steps, guidance, seed, sampler, guidance_interval)
    model = SAMPLER  # this request's model, even if the module's is swapped meanwhile
    model.check_weights()  # missing weights: the keyed "weights_missing" error, before any update
    folder, frames, last, compute = media.new_folder(), [], 0.0, 0.0
    made = dict(generator=GENERATOR, settings=request)  # what the files say made them (generators/provenance/c2pa.py)
    every, gif_every = max(1, steps // MIN_UPDATES), math.ceil(steps / GIF_FRAMES)
    resumed = time.perf_counter()
    for step in model.stream(**request):
        compute += time.perf_counter() - resumed  # the model's time, not the time Gradio spends on an update
        if step.index % gif_every == 0 or step.done:
            frames.append(Image.fromarray(upscale(grid(to_uint8(step.sample)), GIF_SCALE), "L"))
        if step.done:
            done = dict(count=count, steps=steps, sampler=sampler, guidance=guidance, interval=request["interval"],
                        ms=f"{compute * 1000:.0f}", device=model.device.type)
            yield _final(step, folder, frames, render("diffusion_done", done, lang), made)
        elif _due(step, last, every):
            last = time.perf_counter()
            yield _update(step, folder, render("diffusion_progress", dict(index=step.index, total=steps), lang), made)
        resumed = time.perf_counter()


def _defaults_for(sampler: str):
    """The steps slider for a sampler (its own range and default steps), its default guidance, interval 0 (its own)."""
    if sampler not in STEPS:
        return gr.skip(), gr.skip(), gr.skip()
    steps = gr.update(minimum=STEPS[sampler].lo, maximum=STEPS[sampler].hi, value=DEFAULT_STEPS[sampler])
    return steps, SAMPLER_GUIDANCE[sampler][0], 0  # interval 0: the sampler's own


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("diffusion_about"))
    with gr.Row():
        digit = gr.Dropdown([(t("diffusion_any"), ANY), *DIGITS], value="7", label=t("diffusion_digit"),
                            allow_custom_value=True)  # the handler refuses other values with a keyed message
        count = RawSlider(COUNT.lo, COUNT.hi, value=16, step=1, label=t("diffusion_count"))
        sampler = gr.Dropdown(list(SAMPLERS), value="DPM-Solver++", label=t("diffusion_sampler"),
                              info=t("diffusion_sampler_info"), allow_custom_value=True)
    with gr.Row():
        low, high = min(r.lo for r in STEPS.values()), max(r.hi for r in STEPS.values())
        steps = RawSlider(low, high, value=DEFAULT_STEPS["DPM-Solver++"], step=1, label=t("app_steps"))
        guidance = RawSlider(GUIDANCE.lo, GUIDANCE.hi, value=DEFAULT_GUIDANCE, step=0.25,
                             label=t("diffusion_guidance"), info=t("diffusion_guidance_info"))
        interval = RawSlider(0, INTERVAL.hi, value=0, step=0.05, label=t("diffusion_interval"),
                             info=t("diffusion_interval_info"))
        seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    with gr.Row():
        go = gr.Button(t("diffusion_denoise"), variant="primary")
        stop = gr.Button(t("app_stop"))
    summary = gr.Markdown()
    with gr.Row():
        samples = gr.Gallery(label=t("diffusion_samples"), columns=8, height="auto", object_fit="contain",
                             format="png", elem_id="diffusion-gallery", elem_classes=["pixelated", "captioned"],
                             scale=3)
        guess = gr.Image(label=t("diffusion_guess"), type="filepath", elem_classes=["pixelated"], scale=2)
    with gr.Row():
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
        grid_file = gr.File(label=t("diffusion_grid"))
    inputs = [digit, count, steps, guidance, seed, sampler, interval]
    outputs = [samples, guess, gif, grid_file, summary]
    # postprocess=False: the handler returns values already in Gradio's form (ui/kit/media.py says why)
    event = go.click(denoise_digits, inputs, outputs, api_name="denoise_digits", postprocess=False,
                     js=into_view("diffusion-gallery"))
    keep_on_error(event, outputs)
    stop.click(None, None, None, cancels=[event], api_visibility="private")
    # on the user's pick only (.input): an example sets its own guidance and interval, which .change would overwrite
    sampler.input(_defaults_for, sampler, [steps, guidance, interval], api_visibility="private")
    examples(EXAMPLES, inputs, "diffusion_examples")


STRINGS = table("""
diffusion_about: **Diffusion model.** Training adds noise to real digits step by step; a network (a diffusers UNet) learns to predict that noise, given the digit's class. Sampling runs the other way: start from pure noise and remove a little of the predicted noise at every step. Left: the sample as it is now; right: the model's current guess of the finished digit. *Guidance* pushes samples toward their class (classifier-free guidance, two network passes a step); DPM-Solver++ and DDIM give clean digits in 10-20 steps, DDPM's ancestral sampling needs hundreds. *Distilled* takes 4: a second network, trained by our script, makes the first jump from pure noise to where a 20-step run is after its noisiest quarter, and the model itself takes the other three. | **扩散模型。** 训练时把真实数字一步步加上噪声，一个网络（diffusers 的 UNet）在已知数字类别的情况下学习预测这些噪声。采样则反过来：从纯噪声出发，每一步去掉一点预测出的噪声。左边是当前的样本，右边是模型此刻对最终数字的猜测。*引导强度*把样本推向所选类别（无分类器引导，每步两次网络计算）；DPM-Solver++ 和 DDIM 用 10-20 步就能得到清晰的数字，DDPM 的祖先采样则需要几百步。*Distilled* 只用 4 步：由我们的脚本训练的第二个网络完成第一跳，从纯噪声直接到达 20 步过程走完噪声最大的四分之一时的位置，其余三步由模型本身完成。
diffusion_digit: Digit | 数字
diffusion_any: Any | 任意
diffusion_count: Count | 数量
diffusion_sampler: Sampler | 采样器
diffusion_sampler_info: DPM-Solver++, UniPC and DDIM: 1-100 steps; DDPM: 50-1000 (1000 is its full training schedule); Distilled: the fast path, exactly 4 steps (at its default, guidance 2 below 0.7: 99.35% read as asked, Frechet distance 6.69 against the GAN's 7.81, 16 digits in 115 ms on the 2-core CPU; unguided: 98.60% at 7.45, 79 ms). | DPM-Solver++、UniPC 和 DDIM：1-100 步；DDPM：50-1000 步（1000 是它完整的训练日程）；Distilled：快速路径，固定 4 步（默认在 0.7 以下以强度 2 引导：99.35% 被认作所要的数字，Fréchet 距离 6.69，GAN 为 7.81，在 2 核 CPU 上 16 个数字用时 115 ms；不引导：98.60%、7.45，79 ms）。
diffusion_guidance: Guidance scale (0 = unguided) | 引导强度（0 = 不引导）
diffusion_guidance_info: How hard each step is pushed toward the chosen digit; above 0 each step runs the network twice. | 每一步朝所选数字推动的力度；大于 0 时每步运行两次网络。
diffusion_interval: Guidance interval (0 = the sampler's own) | 引导区间（0 = 采样器自己的默认值）
diffusion_interval_info: Guide only the steps with noise level t below this share of the schedule (1 = every step). The noisiest steps set the digit's layout, and guidance there mostly costs variety: at 20 DPM-Solver++ steps, 0.7 keeps the digits as legible (99.65% read as asked) and closer to real handwriting. 0 takes the sampler's own: 0.7, or 1 for UniPC, whose 4 steps start at the noisiest. | 只在噪声水平 t 低于整个噪声日程这一比例的步骤上施加引导（1 = 每一步）。噪声最大的几步决定数字的大致形状，在那里引导主要是牺牲多样性：DPM-Solver++ 20 步时取 0.7，数字同样清晰可辨（99.65% 被认作所要的数字），而且更接近真实笔迹。0 表示采用采样器自己的值：0.7；UniPC 为 1，因为它的 4 步从噪声最大处开始。
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
diffusion_done: {count} digits in {steps} steps ({sampler}, guidance {guidance}, interval {interval}) in {ms} ms on {device}. | {count} 个数字，{steps} 步（{sampler}，引导强度 {guidance}，引导区间 {interval}），在 {device} 上用时 {ms} 毫秒。
""")

TAB = Tab(key="diffusion", order=40, title=("Diffusion digits", "扩散模型手写数字"), build=build, strings=STRINGS,
          messages=MESSAGES,
          names={"guidance": "引导强度", "sampler": "采样器", "guidance_interval": "引导区间"},
          cards=(("diffusion_card", "assets/diffusion/README.md"),
                 ("diffusion_student_card", "assets/diffusion-4step/README.md")))
