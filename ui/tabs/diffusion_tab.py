"""Diffusion tab: watch noise turn into digits step by step, beside the model's guess of the clean digit."""

import math
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from generators.diffusion import (COUNT, DEFAULT_GUIDANCE, DEFAULT_STEPS, DISTILLED, GUIDANCE, INTERVAL,
                                  SAMPLER_GUIDANCE, SAMPLERS, STEPS, DiffusionSampler)
from generators.core.errors import InputError
from generators.gan import GanSampler
from generators.scratch.sampler import DENOISE_STEPS, ScratchSampler
from generators.core.limits import SEED, check_choice
from ui.kit import media, permalink, warm
from ui.kit.adapters import adapter
from ui.kit.common import DIGITS, examples, into_view, keep_on_error
from ui.kit.components import RawNumber, RawSlider
from ui.kit.errors import language, localized, render
from ui.kit.i18n import t
from ui.kit.images import gif_bytes, gray16, grid, png4_bytes, png_bytes, to_uint8, upscale
from ui.kit.receipts import Meter
from ui.kit.registry import Tab
from ui.kit.trained import (MODELS, SHIPPED, TRAINED, Session, model_choice, run_of, shipped_only, steps_of,
                             trained_state)
from ui.kit.zerogpu import on_gpu
from ui.tabs.diffusion_words import MESSAGES, STRINGS

ANY = "Any"
SAMPLER = adapter(DiffusionSampler)  # the model cache, shared by all users (and by the comparison page)
READER = adapter(GanSampler)  # its classifier reads each finished digit, as on the GAN and compare tabs
GENERATOR = DiffusionSampler.GENERATOR
MINE = ScratchSampler()  # samples a session's own diffusion model; the run comes with each request, never kept here
# Each streamed update is one preview PNG (samples beside the guess) that the browser and gradio_client each fetch
# (bench/bench_streams.py): ~5 a second shows the denoising without the fetches costing more than the model.
MIN_INTERVAL = 0.2  # seconds between streamed updates
MIN_UPDATES = 6  # a fast run still streams every total/6 steps, so the denoising can be watched
# updates due by time alone (a slow run, a busy CPU) stop once a run's previews reach this many bytes; those due by
# step go on: a default run stays within issue 27's 300 kB in a browser however long it takes
PREVIEW_BYTES = 96_000
GIF_FRAMES = 16  # denoising frames in the GIF (strided for long runs), the last one included: noise frames
# hardly compress, and the GIF is most of what a run sends (tests/test_browser_seen.py prints the bytes)
GIF_HOLD = 12  # the finished digits stay this many frames at the end of the loop
GIF_SCALE = 1  # GIF pixels per digit pixel: the page enlarges it (noise frames compress badly: 2x was ~600 KB)
# previews and GIF frames in 16 gray levels (images.gray16): the noise in them compresses about twice as well, and the
# finished digits (the gallery, the guess, the grid) keep all 256

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


def _due(step, last: float, every: int, sent: int) -> bool:
    """Whether this step is streamed: the last one, every `every`-th, or MIN_INTERVAL after the previous update
    while the previews sent so far (`sent` bytes) are under PREVIEW_BYTES."""
    by_time = sent < PREVIEW_BYTES and time.perf_counter() - last >= MIN_INTERVAL
    return step.done or step.index % every == 0 or by_time


def _preview(step) -> object:
    """The samples as they are now beside the model's guess of the finished digits, as one grid image at the digits'
    own pixels: the page enlarges it (`pixelated`), so the bytes a step costs stay a quarter of a 2x image's."""
    samples, guess = grid(to_uint8(step.sample)), grid(to_uint8(step.predicted))
    gap = np.full((samples.shape[0], 8), 255, np.uint8)
    return np.hstack([samples, gap, guess])


def _update(step, folder, summary: str, made: dict) -> tuple:
    """One streamed update: ONE preview PNG (samples | guess) in 16 gray levels, unsigned (signing costs ~2 ms a
    file); the gallery and the downloads stay empty until the last update, so a step costs one file fetch, not one
    per digit."""
    preview = media.write(folder, f"x-{step.index:04d}.png", png4_bytes(_preview(step)), sign=False, **made)
    return None, media.image(preview, "image/png"), None, None, summary


def _size(update: tuple) -> int:
    """The bytes of an update's preview file."""
    return Path(update[1]["path"]).stat().st_size


def _read(step, asked: int | None, lang: str) -> tuple[list[str], int]:
    """Each finished digit's caption (what our classifier reads in it) and how many read as the digit asked for."""
    reads, confidence = READER.read(step.sample)
    captions = [render("diffusion_caption", dict(reads=r, confidence=f"{c:.0%}"), lang)
                for r, c in zip(reads, confidence)]
    agree = sum(r == (label if asked is None else asked) for r, label in zip(reads, step.labels))
    return captions, agree


def _final(step, folder, frames: list, captions: list[str], summary: str, made: dict) -> tuple:
    """The last update: the finished digits captioned with what the classifier reads, the guess, the GIF and the
    grid PNG: each file sent once."""
    digits = to_uint8(step.sample)  # (count, 28, 28)
    paths = media.png_files(digits, folder, "digit", **made)
    guess = media.write(folder, "x0-final.png", png_bytes(grid(to_uint8(step.predicted))), **made)
    frames = frames + [frames[-1]] * GIF_HOLD
    gif = media.write(folder, "denoising.gif", gif_bytes(frames, ms_per_frame=80, bounce=False), **made)
    grid_png = media.write(folder, "digits.png", png_bytes(upscale(grid(digits))), **made)
    return (media.gallery(paths, captions), media.image(guess, "image/png"), media.image(gif, "image/gif"),
            media.file(grid_png), summary)


def _verdict(request: dict, agree: int, seconds: float, lang: str) -> str:
    """One plain line: what was drawn, how fast, and how many our classifier reads as asked."""
    fields = dict(count=request["count"], s=f"{seconds:.1f}", agree=agree, digit=request["digit"])
    return render("diffusion_verdict_any" if request["digit"] is None else "diffusion_verdict", fields, lang)


@localized
def denoise_digits(digit: str, count: int, steps: int, guidance: float, seed: int, sampler: str = "DPM-Solver++",
                   guidance_interval: float = 0.0, model: str = SHIPPED, trained: Session | None = None, *,
                   lang: str = "en"):
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
        model: "shipped" (default), or "trained": the diffusion model trained in this session's Train-from-scratch
            tab (a page session's; an API call has none), sampled by DDIM in `steps` steps (1-100), unguided: the
            sampler, guidance and interval do not apply to it.
    Returns:
        streamed: while denoising, one preview PNG (the samples now beside the model's guess of the clean digits,
        16 gray levels) in the guess's place and a progress line; the last update: the finished digits (28 px
        each, captioned with what our classifier reads), the guess (a grid), an animated GIF of the denoising, the
        grid as one PNG, and a summary.
    """
    if check_choice("model", model, MODELS) == TRAINED:
        yield from _denoise_trained(digit, count, steps, seed, run_of(trained), lang)
    else:
        link = dict(digit=digit, count=count, steps=steps, guidance=guidance, seed=seed, sampler=sampler,
                    guidance_interval=guidance_interval)  # a session's own model is not a link's
        yield from _denoise_shipped(check_request(digit, count, steps, guidance, seed, sampler, guidance_interval),
                                    lang, link)


@on_gpu
def _denoise_shipped(request: dict, lang: str, link: dict | None = None):
    model = SAMPLER  # this request's model, even if the module's is swapped meanwhile
    model.check_weights()  # missing weights: the keyed "weights_missing" error, before any update
    made = dict(generator=GENERATOR, settings=request)  # what the files say made them (generators/provenance/c2pa.py)

    def done(step, compute: float) -> tuple[list[str], str]:
        captions, agree = _read(step, request["digit"], lang)
        fields = dict(count=request["count"], steps=request["steps"], sampler=request["sampler"],
                      guidance=request["guidance"], interval=request["interval"], ms=f"{compute * 1000:.0f}",
                      device=model.device.type)
        return captions, _verdict(request, agree, compute, lang) + "\n\n" + render("diffusion_done", fields, lang)
    yield from _streamed(model.stream(**request), request["steps"], made, done, lang, link)


def _denoise_trained(digit, count, steps, seed, run, lang: str):
    """The same request answered by the person's own diffusion model (generators/scratch/sampler.py): DDIM in
    `steps` steps, unguided, streamed the same way; the summary says which controls do not apply."""
    d = check_choice("digit", digit, (ANY, *DIGITS))
    request = dict(digit=None if d == ANY else int(d), count=COUNT.check("count", count), seed=SEED.check("seed", seed),
                   steps=DENOISE_STEPS.check("steps", steps))
    run = MINE.check(run, "diffusion")
    made = dict(generator=MINE.GENERATOR.format(family="diffusion"), settings={**request, "model": TRAINED})

    def done(step, compute: float) -> tuple[list[str], str]:
        captions, agree = _read(step, request["digit"], lang)
        fields = dict(count=request["count"], steps=request["steps"], trained=steps_of(run), ms=f"{compute * 1000:.0f}")
        said = render("diffusion_trained_done", fields, lang)
        return captions, _verdict(request, agree, compute, lang) + "\n\n" + said
    yield from _streamed(MINE.stream_denoise(run, **request), request["steps"], made, done, lang)


def _streamed(stream, steps: int, made: dict, done, lang: str, link: dict | None = None):
    """A denoising stream as the tab's updates: a preview now and then, the finished digits last, captioned and
    summed up by `done(step, compute seconds)`, with the receipt and (the shipped model's) link under the verdict."""
    folder, frames, last, compute, sent = media.new_folder(), [], 0.0, 0.0, 0
    meter = Meter("denoise_digits")  # ends with the summary's receipt line, or unkept if the stream stops
    every, gif_every = max(1, steps // MIN_UPDATES), math.ceil(steps / GIF_FRAMES)
    resumed = time.perf_counter()
    for step in stream:
        compute += time.perf_counter() - resumed  # the model's time, not the time Gradio spends on an update
        if step.index % gif_every == 0 or step.done:
            frames.append(Image.fromarray(upscale(gray16(grid(to_uint8(step.sample))), GIF_SCALE), "L"))
        if step.done:
            captions, summary = done(step, compute)
            summary = meter.under(summary, lang, permalink.line("diffusion", lang, **link) if link else "")
            yield _final(step, folder, frames, captions, summary, made)
        elif _due(step, last, every, sent):
            last = time.perf_counter()
            update = _update(step, folder, render("diffusion_progress", dict(index=step.index, total=steps), lang),
                             made)
            sent += _size(update)
            yield update
        resumed = time.perf_counter()


def _defaults_for(sampler: str):
    """The steps slider for a sampler (its own range and default steps), its default guidance, interval 0 (its own)."""
    if sampler not in STEPS:
        return gr.skip(), gr.skip(), gr.skip()
    steps = gr.update(minimum=STEPS[sampler].lo, maximum=STEPS[sampler].hi, value=DEFAULT_STEPS[sampler])
    return steps, SAMPLER_GUIDANCE[sampler][0], 0  # interval 0: the sampler's own


def _range_for(sampler: str):
    """The steps slider's range for a sampler, its value kept (an example sets both at once)."""
    return gr.update(minimum=STEPS[sampler].lo, maximum=STEPS[sampler].hi) if sampler in STEPS else gr.skip()


def _stopped(request: gr.Request) -> str:
    """The summary after Stop: no "step 70 of 1000…" left behind."""
    return render("diffusion_stopped", {}, language(request))


def _advanced():
    """The expert's controls, each with its meaning in plain words; the defaults work."""
    with gr.Accordion(t("diffusion_advanced"), open=False):
        with gr.Row():
            choices = [(t("diffusion_distilled") if s == DISTILLED else s, s) for s in SAMPLERS]  # values: the API's
            sampler = gr.Dropdown(choices, value="DPM-Solver++", label=t("diffusion_sampler"),
                                  info=t("diffusion_sampler_info"), allow_custom_value=True)
            first = STEPS["DPM-Solver++"]
            steps = RawSlider(first.lo, first.hi, value=DEFAULT_STEPS["DPM-Solver++"], step=1, label=t("app_steps"),
                              info=t("diffusion_steps_info"))
        with gr.Row():
            guidance = RawSlider(GUIDANCE.lo, GUIDANCE.hi, value=DEFAULT_GUIDANCE, step=0.25,
                                 label=t("diffusion_guidance"), info=t("diffusion_guidance_info"))
            interval = RawSlider(0, INTERVAL.hi, value=0, step=0.05, label=t("diffusion_interval"),
                                 info=t("diffusion_interval_info"))
    return sampler, steps, guidance, interval


def build() -> None:
    """The tab's components and events."""
    warm.after_start(SAMPLER.warm_up)  # diffusers and the pipeline load once the page answers, not during start
    gr.Markdown(t("diffusion_about"))
    with gr.Row(equal_height=True):
        digit = gr.Dropdown([(t("diffusion_any"), ANY), *DIGITS], value="7", label=t("diffusion_digit"),
                            allow_custom_value=True)  # the handler refuses other values with a keyed message
        count = RawSlider(COUNT.lo, COUNT.hi, value=16, step=1, label=t("diffusion_count"))
        seed = RawNumber(value=0, precision=0, minimum=SEED.lo, maximum=SEED.hi, label=t("app_seed"))
    model = model_choice("diffusion-model")
    with gr.Row():
        go = gr.Button(t("diffusion_denoise"), variant="primary", elem_id="diffusion-denoise")
        stop = gr.Button(t("app_stop"))
    sampler, steps, guidance, interval = _advanced()
    shipped_only(model, [sampler, guidance, interval])  # yours: DDIM from the steps slider, unguided
    summary = gr.Markdown(elem_id="diffusion-summary")
    with gr.Row():
        samples = gr.Gallery(label=t("diffusion_samples"), columns=8, height="auto", object_fit="contain",
                             format="png", elem_id="diffusion-gallery", elem_classes=["pixelated", "captioned"],
                             scale=3, min_width=280)
        guess = gr.Image(label=t("diffusion_guess"), type="filepath", elem_classes=["pixelated", "enlarged"], scale=2,
                         min_width=240)
    with gr.Row():
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated", "enlarged"])
        grid_file = gr.File(label=t("diffusion_grid"))
    inputs = [digit, count, steps, guidance, seed, sampler, interval]
    outputs = [samples, guess, gif, grid_file, summary]
    # postprocess=False: the handler returns values already in Gradio's form (ui/kit/media.py says why)
    event = go.click(denoise_digits, [*inputs, model, trained_state()], outputs, api_name="denoise_digits",
                     postprocess=False,
                     js=into_view("diffusion-summary"))
    keep_on_error(event, outputs)
    linked = permalink.named(denoise_digits, inputs)
    permalink.register("diffusion", linked, go), permalink.link_button("diffusion", linked)
    stop.click(_stopped, None, summary, cancels=[event], queue=False, api_visibility="private")
    # on the user's pick only (.input): an example sets its own guidance and interval, which .change would overwrite
    sampler.input(_defaults_for, sampler, [steps, guidance, interval], api_visibility="private")
    sampler.change(_range_for, sampler, steps, queue=False, api_visibility="private")
    examples(EXAMPLES, inputs, "diffusion_examples")


TAB = Tab(key="diffusion", order=40, title=("Diffusion digits", "扩散模型手写数字"), build=build, strings=STRINGS,
          messages=MESSAGES,
          names={"guidance": "引导强度", "sampler": "采样器", "guidance_interval": "引导区间"},
          cards=(("diffusion_card", "assets/diffusion/README.md"),
                 ("diffusion_student_card", "assets/diffusion-4step/README.md")))
