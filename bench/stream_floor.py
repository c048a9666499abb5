"""The floor under a streamed image endpoint: a Gradio app with no model at all, whose two events answer with the
same outputs as the GAN tab's latent walk and the VAE tab's interpolation (one preview, then the frames as a gallery,
a GIF and the rest), made from files written once at start. bench/bench_streams.py --floor times it as it times the
app, so what the page and gradio_client spend beside the model can be read apart from the model.

    python -m bench.stream_floor --port 7899     # serves it; bench_streams starts it itself
"""

import argparse
import io
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.data_classes import FileData
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.components.image import ImageData
from PIL import Image

FRAMES = 24  # the walk's default steps; the interpolation's default is 16
TABS = {"walk": ("Floor walk", "Walk"), "morph": ("Floor morph", "Interpolate")}


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def _files(folder: Path) -> dict:
    """The files both events answer with: FRAMES 28 px digits, a preview grid, a 112 px GIF, a strip, a map."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(FRAMES)]
    paths = {}
    for i, frame in enumerate(frames):
        paths[f"frame-{i:02d}.png"] = _png(frame)
    paths["preview.png"] = _png(np.hstack(frames[:12]).repeat(2, 0).repeat(2, 1))
    paths["strip.png"] = _png(np.hstack(frames).repeat(4, 0).repeat(4, 1))
    paths["map.png"] = _png(rng.integers(0, 256, (256, 256), dtype=np.uint8))
    gif = io.BytesIO()
    big = [Image.fromarray(f).resize((112, 112), Image.NEAREST) for f in frames]
    big[0].save(gif, "GIF", save_all=True, append_images=big[1:], duration=80, loop=0)
    paths["walk.gif"] = paths["morph.gif"] = gif.getvalue()
    for name, data in paths.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in paths}


def build() -> gr.Blocks:
    folder = Path(tempfile.mkdtemp(prefix="stream-floor-"))
    files = _files(folder)
    gr.set_static_paths([folder])

    def image(name: str, mime: str) -> dict:
        return ImageData(path=str(files[name]), orig_name=name, mime_type=mime).model_dump()

    def frames(n: int) -> list:
        return GalleryData(root=[GalleryImage(image=ImageData(path=str(files[f"frame-{i:02d}.png"]),
                                                               orig_name=f"frame-{i:02d}.png", mime_type="image/png"))
                                 for i in range(n)]).model_dump()

    def walk(steps: int = FRAMES):
        """The latent walk's outputs: (frames, GIF), a preview first."""
        yield None, image("preview.png", "image/png")
        yield frames(int(steps)), image("walk.gif", "image/gif")

    def morph(steps: int = 16):
        """The interpolation's outputs: (frames, strip, GIF, reconstructions, map, summary), a preview first."""
        yield None, None, image("preview.png", "image/png"), None, None, "decoding"
        strip = FileData(path=str(files["strip.png"]), orig_name="strip.png").model_dump()
        yield (frames(int(steps)), strip, image("morph.gif", "image/gif"), frames(4), image("map.png", "image/png"),
               "16 frames")

    with gr.Blocks() as demo:
        with gr.Tab(TABS["walk"][0]):
            steps = gr.Number(FRAMES, precision=0)
            button = gr.Button(TABS["walk"][1])
            outs = [gr.Gallery(columns=12, height="auto"), gr.Image(type="filepath", format="gif")]
            button.click(walk, [steps], outs, api_name="latent_walk", postprocess=False)
        with gr.Tab(TABS["morph"][0]):
            steps = gr.Number(16, precision=0)
            button = gr.Button(TABS["morph"][1])
            outs = [gr.Gallery(columns=16, height="auto"), gr.File(), gr.Image(type="filepath", format="gif"),
                    gr.Gallery(columns=4), gr.Image(), gr.Markdown()]
            button.click(morph, [steps], outs, api_name="interpolate_digits", postprocess=False)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    build().queue().launch(server_name="127.0.0.1", server_port=port, show_error=True)


if __name__ == "__main__":
    main()
