"""GAN tab: sample digits with their realness scores, and walk the noise between two seeds."""

import time

import gradio as gr

from generators.gan import MAX_COUNT, MAX_SEED, MAX_STEPS, GanSampler
from generators.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from generators.zerogpu import on_gpu
from ui import media
from ui.common import as_choice, as_float, as_int, examples, user_errors
from ui.errors import localized, message
from ui.i18n import t

DIGITS = ["Any"] + [str(d) for d in range(10)]
SAMPLER = GanSampler()  # the model cache, shared by all users; no per-user state here

# (digit, count, seed, truncation): clean sevens, the same sevens untruncated, a mixed batch, zeros
EXAMPLES = [["7", 16, 3, 0.5], ["7", 16, 3, 1.0], ["Any", 32, 42, 0.8], ["0", 16, 7, 0.7]]


def _digit(value) -> int | None:
    value = as_choice("digit", str(value) if isinstance(value, int) and not isinstance(value, bool) else value,
                      DIGITS)
    return None if value == "Any" else int(value)


@localized
@on_gpu
@user_errors
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
    d = _digit(digit)
    count = as_int("count", count, 1, MAX_COUNT)
    seed = as_int("seed", seed, 0, MAX_SEED)
    truncation = as_float("truncation", truncation, 0.1, 1.0)
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
@user_errors
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
    d = _digit(digit)
    if d is None:
        raise gr.Error(message("walk_digit"))
    seed_a, seed_b = as_int("seed A", seed_a, 0, MAX_SEED), as_int("seed B", seed_b, 0, MAX_SEED)
    steps = as_int("steps", steps, 2, MAX_STEPS)
    truncation = as_float("truncation", truncation, 0.1, 1.0)
    folder, paths = media.new_folder(), []  # each frame is written once, when it is decoded
    for frames in SAMPLER.stream_walk(digit=d, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation):
        paths += media.png_files(to_uint8(frames[len(paths):]), folder, "frame", start=len(paths))
        yield media.gallery(paths), None
    gif = gif_bytes(to_pil(frames))
    yield media.gallery(paths), media.image(media.write(folder, "walk.gif", gif), "image/gif")


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("gan_about"))
    with gr.Row():
        digit = gr.Dropdown(DIGITS, value="Any", label=t("gan_digit"))
        count = gr.Slider(1, MAX_COUNT, value=32, step=1, label=t("gan_count"))
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label=t("app_seed"))
        truncation = gr.Slider(0.1, 1.0, value=1.0, step=0.05, label=t("gan_truncation"))
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
    with gr.Accordion(t("gan_walk_title"), open=False):
        with gr.Row():
            walk_digit = gr.Dropdown(DIGITS[1:], value="3", label=t("gan_digit"))
            seed_a = gr.Number(value=1, precision=0, minimum=0, maximum=MAX_SEED, label=t("gan_seed_a"))
            seed_b = gr.Number(value=2, precision=0, minimum=0, maximum=MAX_SEED, label=t("gan_seed_b"))
            steps = gr.Slider(2, MAX_STEPS, value=24, step=1, label=t("app_steps"))
        with gr.Row():
            walk_btn = gr.Button(t("gan_walk"), variant="primary")
            stop_btn = gr.Button(t("app_stop"))
        frames = gr.Gallery(label=t("app_frames"), columns=12, height="auto", object_fit="contain",
                            elem_classes=["pixelated"])
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
        walk = walk_btn.click(latent_walk, [walk_digit, seed_a, seed_b, steps, truncation], [frames, gif],
                              api_name="latent_walk", postprocess=False)
        stop_btn.click(None, None, None, cancels=[walk])
