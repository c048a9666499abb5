"""GAN tab: sample digits with their realness scores, and walk the noise between two seeds."""

import io
import time

import gradio as gr

from generators.gan import MAX_COUNT, MAX_SEED, MAX_STEPS, GanSampler
from generators.images import gif_bytes, grid, to_pil
from generators.zerogpu import on_gpu
from ui.common import as_choice, as_float, as_int, temp_file, user_errors

DIGITS = ["Any"] + [str(d) for d in range(10)]
SAMPLER = GanSampler()  # the model cache, shared by all users; no per-user state here

ABOUT = (
    "**Generative adversarial network.** A generator turns random noise into a handwritten digit; it was trained "
    "against a discriminator that learned to tell its digits from real MNIST ones. Each digit shows the "
    "discriminator's *realness* (its probability that the digit is real) and what an independent classifier reads. "
    "Try: one digit with truncation 0.5 (cleaner, less varied) versus 1.0 (wilder)."
)


def _digit(value) -> int | None:
    value = as_choice("digit", str(value) if isinstance(value, int) and not isinstance(value, bool) else value,
                      DIGITS)
    return None if value == "Any" else int(value)


@on_gpu
@user_errors
def sample_digits(digit: str, count: int, seed: int, truncation: float):
    """Samples `count` digits of one class (or Any) from `seed`; returns the captioned gallery, the grid PNG
    and a summary line."""
    d = _digit(digit)
    count = as_int("count", count, 1, MAX_COUNT)
    seed = as_int("seed", seed, 0, MAX_SEED)
    truncation = as_float("truncation", truncation, 0.1, 1.0)
    t0 = time.perf_counter()
    batch = SAMPLER.sample(digit=d, count=count, seed=seed, truncation=truncation)
    ms = (time.perf_counter() - t0) * 1000
    images = to_pil(batch.images)
    gallery = [(im, f"{lab} · realness {r:.2f} · reads {p} ({c:.0%})")
               for im, lab, r, p, c in zip(images, batch.labels, batch.realness, batch.predicted, batch.confidence)]
    agree = sum(p == lab for p, lab in zip(batch.predicted, batch.labels))
    summary = (f"{count} digits in {ms:.0f} ms on {SAMPLER.device.type}. Mean realness "
               f"{sum(batch.realness) / count:.2f}; the classifier reads the asked digit in {agree}/{count}.")
    buf = io.BytesIO()
    grid(images).save(buf, format="PNG")
    return gallery, temp_file(buf.getvalue(), ".png"), summary


@on_gpu
@user_errors
def latent_walk(digit: str, seed_a: int, seed_b: int, steps: int, truncation: float = 1.0):
    """Streams the frames of a walk through noise space from `seed_a` to `seed_b`; ends with an animated GIF."""
    d = _digit(digit)
    if d is None:
        raise gr.Error("Pick one digit (0-9) for the walk.")
    seed_a, seed_b = as_int("seed A", seed_a, 0, MAX_SEED), as_int("seed B", seed_b, 0, MAX_SEED)
    steps = as_int("steps", steps, 2, MAX_STEPS)
    truncation = as_float("truncation", truncation, 0.1, 1.0)
    frames = None
    for frames in SAMPLER.stream_walk(digit=d, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation):
        yield to_pil(frames), None
    yield to_pil(frames), temp_file(gif_bytes(to_pil(frames)), ".gif")


def build() -> None:
    gr.Markdown(ABOUT)
    with gr.Row():
        digit = gr.Dropdown(DIGITS, value="Any", label="Digit")
        count = gr.Slider(1, MAX_COUNT, value=32, step=1, label="Count")
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
        truncation = gr.Slider(0.1, 1.0, value=1.0, step=0.05, label="Truncation ψ (1 = off)")
    sample_btn = gr.Button("Sample digits", variant="primary")
    gallery = gr.Gallery(label="Samples", columns=8, height="auto", object_fit="contain", elem_id="gan-gallery")
    summary = gr.Markdown()
    grid_file = gr.File(label="The whole grid as one PNG")
    sample_btn.click(sample_digits, [digit, count, seed, truncation], [gallery, grid_file, summary],
                     api_name="sample_digits")
    with gr.Accordion("Latent walk: morph between two noise seeds", open=False):
        with gr.Row():
            walk_digit = gr.Dropdown(DIGITS[1:], value="3", label="Digit")
            seed_a = gr.Number(value=1, precision=0, minimum=0, maximum=MAX_SEED, label="Seed A")
            seed_b = gr.Number(value=2, precision=0, minimum=0, maximum=MAX_SEED, label="Seed B")
            steps = gr.Slider(2, MAX_STEPS, value=24, step=1, label="Steps")
        with gr.Row():
            walk_btn = gr.Button("Walk", variant="primary")
            stop_btn = gr.Button("Stop")
        frames = gr.Gallery(label="Frames", columns=12, height="auto", object_fit="contain")
        gif = gr.Image(label="Animated GIF", type="filepath", format="gif")
        walk = walk_btn.click(latent_walk, [walk_digit, seed_a, seed_b, steps, truncation], [frames, gif],
                              api_name="latent_walk")
        stop_btn.click(None, None, None, cancels=[walk])
