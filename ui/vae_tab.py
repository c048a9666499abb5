"""VAE tab: walk the latent space between two digits (test digits or the user's own drawings)."""

import gradio as gr
import numpy as np

from generators.images import gif_bytes, grid, png_bytes, to_pil, to_uint8, upscale
from generators.vae import MAX_SEED, MAX_STEPS, METHODS, MIN_STEPS, VaeInterpolator
from generators.zerogpu import on_gpu
from ui import media
from ui.common import as_choice, as_int, examples, user_errors
from ui.errors import localized, message
from ui.i18n import t
from ui.plots import latent_map

DRAWING = "my drawing"
ENDPOINTS = [str(d) for d in range(10)] + [DRAWING]
VAE = VaeInterpolator()  # the model cache, shared by all users
UPDATES = 3  # streamed updates per interpolation (the last one included): each costs Gradio work, a few show progress

# (start, end, steps, path, seed): the classic straight morph, a curved one, a round digit into another
EXAMPLES = [["1", "7", 16, "linear", 0], ["3", "8", 16, "spherical", 0], ["0", "6", 24, "linear", 5]]


def _endpoint(name: str, choice, image, seed: int):
    choice = as_choice(name, str(choice) if isinstance(choice, int) and not isinstance(choice, bool) else choice,
                       ENDPOINTS)
    if choice != DRAWING:
        return VAE.test_digit(int(choice), seed), f"test digit {choice}"
    if isinstance(image, dict):  # a Sketchpad/ImageEditor value
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
    if image is None:
        raise gr.Error(message("draw_first", name=name))
    try:
        return VAE.from_image(image), "your drawing"
    except ValueError as e:
        raise ValueError(message("endpoint", side=name, detail=e)) from None


@localized
@on_gpu
@user_errors
def interpolate_digits(start_digit: str, end_digit: str, steps: int, method: str, seed: int,
                       start_image=None, end_image=None):
    """Morphs one handwritten digit into another through a VAE's latent space, streaming the frames.

    Args:
        start_digit: "0"-"9" (a held-out MNIST test digit of that class, picked by seed) or "my drawing".
        end_digit: the same, for the end point.
        steps: how many frames, 2-64.
        method: "linear" or "spherical" interpolation between the two latent means.
        seed: picks the test digits, 0 to 2**32-1.
        start_image: the drawing used when start_digit is "my drawing".
        end_image: the drawing used when end_digit is "my drawing".
    Returns:
        the frames in order (28 px), a strip PNG and an animated GIF (112 px a frame), the endpoints and their
        reconstructions, the latent map.
    """
    steps = as_int("steps", steps, MIN_STEPS, MAX_STEPS)
    method = as_choice("method", method, list(METHODS))
    seed = as_int("seed", seed, 0, MAX_SEED)
    start, start_what = _endpoint("start", start_digit, start_image, seed)
    end, end_what = _endpoint("end", end_digit, end_image, (seed + 1) % (MAX_SEED + 1))
    folder, paths = media.new_folder(), []  # each frame is written once, when it is decoded
    for step in VAE.stream(start=start, end=end, steps=steps, method=method, chunks=UPDATES):
        paths += media.png_files(to_uint8(step.frames[len(paths):]), folder, "frame", start=len(paths))
        if step.done:
            break
        # None, not gr.skip(): Gradio builds a new component for each skip() on every update (~5 ms each);
        # a previous run's strip, GIF and map are cleared until this run's arrive
        yield media.gallery(paths), None, None, None, None, f"decoding… {len(paths)}/{steps}"
    frames = to_uint8(step.frames)  # (steps, 28, 28)
    strip = media.write(folder, "strip.png", png_bytes(upscale(grid(frames, columns=min(steps, 16)))))
    gif = media.write(folder, "morph.gif", gif_bytes(to_pil(step.frames)))
    ends = np.concatenate([to_uint8(step.endpoints), to_uint8(step.reconstructions)])  # start, end, then rebuilt
    ends = media.png_files(ends, folder, "endpoint")
    recon = media.gallery([ends[0], ends[2], ends[1], ends[3]],
                          [f"start: {start_what}", "start, as the VAE rebuilds it",
                           f"end: {end_what}", "end, as the VAE rebuilds it"])
    bank = VAE.bank
    latent = media.write(folder, "latent-map.png",
                         png_bytes(latent_map(bank["map_points"], bank["map_labels"], step.path_2d)))
    yield (media.gallery(paths), media.file(strip), media.image(gif, "image/gif"), recon,
           media.image(latent, "image/png"), f"{steps} frames, {method} path, from {start_what} to {end_what}.")


def _endpoint_controls(side: str, value: str):
    """The digit picker and the sketchpad of one endpoint; `side` is "start" or "end"."""
    choices = ENDPOINTS[:-1] + [(t("vae_my_drawing"), DRAWING)]
    choice = gr.Dropdown(choices, value=value, label=t(f"vae_{side}_digit"))
    image = gr.Sketchpad(label=t(f"vae_{side}_drawing"), type="pil", sources=["upload"], canvas_size=(280, 280),
                         height=300)
    return choice, image


def build() -> None:
    """The tab's components and events."""
    gr.Markdown(t("vae_about"))
    with gr.Row():
        with gr.Column():
            start_digit, start_image = _endpoint_controls("start", "1")
        with gr.Column():
            end_digit, end_image = _endpoint_controls("end", "7")
    with gr.Row():
        steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=16, step=1, label=t("app_steps"))
        method = gr.Radio(list(METHODS), value="linear", label=t("vae_path"), info=t("vae_path_info"))
        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label=t("vae_seed"))
    with gr.Row():
        go = gr.Button(t("vae_interpolate"), variant="primary")
        stop = gr.Button(t("app_stop"))
    frames = gr.Gallery(label=t("app_frames"), columns=8, height="auto", object_fit="contain", format="png",
                        elem_id="vae-frames", elem_classes=["pixelated"])
    summary = gr.Markdown()
    with gr.Row():
        strip = gr.File(label=t("vae_strip"))
        gif = gr.Image(label=t("app_gif"), type="filepath", format="gif", elem_classes=["pixelated"])
    with gr.Row():
        recon = gr.Gallery(label=t("vae_recon"), columns=4, height="auto", elem_classes=["pixelated"])
        latent = gr.Image(label=t("vae_latent"), type="pil")
    # postprocess=False: the handler returns values already in Gradio's form (ui/media.py says why)
    event = go.click(interpolate_digits,
                     [start_digit, end_digit, steps, method, seed, start_image, end_image],
                     [frames, strip, gif, recon, latent, summary], api_name="interpolate_digits", postprocess=False)
    stop.click(None, None, None, cancels=[event])
    # cached at first use, then instant for everyone; the examples leave the drawings out (None)
    examples(EXAMPLES, [start_digit, end_digit, steps, method, seed], "vae_examples",
             outputs=[frames, strip, gif, recon, latent, summary], fn=media.for_examples(interpolate_digits),
             cache_examples=True, cache_mode="lazy")
