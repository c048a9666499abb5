"""The VAE tab's latent map: shown from the start, the interpolation path drawn on it, and a click decodes the point
clicked (generators/vae_map.py says how a 2-D point becomes a 16-d latent). Its strings are the VAE tab's."""

import gradio as gr
import torch
from PIL import Image

from generators.vae import VaeInterpolator
from ui.kit.errors import language, render
from ui.kit.i18n import t
from ui.kit.images import to_pil
from ui.kit.plots import from_pixels, latent_map

PICKED_PX = 112  # the decoded digit as to_pil enlarges it


def map_image(vae: VaeInterpolator, path: torch.Tensor | None = None) -> Image.Image:
    """The map of the held-out test digits, with the interpolation path when there is one."""
    points, labels = vae.map_dots()
    return latent_map(points, labels, torch.empty(0, 2) if path is None else path, box=vae.map_box())


def decode_click(vae: VaeInterpolator, x: float, y: float, lang: str = "en") -> tuple[Image.Image, str]:
    """The digit drawn at pixel (x, y) of the map image, and a line saying where it is and what it reads as."""
    point = from_pixels(x, y, vae.map_box())
    digit = vae.decode_point(torch.tensor(point))  # (1, 1, 28, 28)
    reads, confidence = vae.reads(digit)
    picture = to_pil(digit)[0]  # 112 px
    caption = render("vae_picked_is", dict(x=f"{point[0]:.1f}", y=f"{point[1]:.1f}", reads=reads,
                                           confidence=f"{confidence:.0%}"), lang)
    return picture, caption


def build_map(vae: VaeInterpolator) -> gr.Image:
    """The map (its first picture made at each page load) and, beside it, the digit decoded where it is clicked."""
    with gr.Row():
        latent = gr.Image(None, label=t("vae_latent"), type="pil", scale=3, elem_id="vae-latent-map",
                          interactive=False)
        with gr.Column(scale=1, min_width=160):
            picked = gr.Image(label=t("vae_picked"), type="pil", height=PICKED_PX + 40, elem_id="vae-picked",
                              elem_classes=["pixelated"], interactive=False)
            said = gr.Markdown(t("vae_click_map"))
    # at each page load; a callable value would do it as an unnamed public endpoint (/lambda_N)
    gr.on(None, lambda: map_image(vae), None, latent, api_visibility="private")

    def clicked(evt: gr.SelectData, request: gr.Request):
        return decode_click(vae, *evt.index[:2], lang=language(request))
    latent.select(clicked, None, [picked, said], api_visibility="private")
    return latent
