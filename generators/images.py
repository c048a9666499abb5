"""Image plumbing shared by the digit adapters: tensors <-> PIL, grids, GIFs, and user sketches -> MNIST form."""

import io

import numpy as np
import torch
from PIL import Image

MAX_SIDE = 4096  # a sketch or upload larger than this on a side is refused, not resized
SCALE = 4  # 28 px digits are shown at 112 px


def to_pil(x: torch.Tensor, scale: int = SCALE) -> list[Image.Image]:
    """(B, 1, 28, 28) in [0, 1] -> B grayscale PIL images, light digit on dark, upscaled."""
    arr = (x.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()[:, 0]
    return [Image.fromarray(a, "L").resize((28 * scale, 28 * scale), Image.LANCZOS) for a in arr]


def grid(images: list[Image.Image], columns: int = 8, pad: int = 2) -> Image.Image:
    """Images pasted row by row on a dark canvas."""
    w, h = images[0].size
    rows = -(-len(images) // columns)
    cols = min(columns, len(images))
    canvas = Image.new("L", (cols * (w + pad) + pad, rows * (h + pad) + pad), 40)
    for i, im in enumerate(images):
        canvas.paste(im, (pad + (i % columns) * (w + pad), pad + (i // columns) * (h + pad)))
    return canvas


def gif_bytes(frames: list[Image.Image], ms_per_frame: int = 80, bounce: bool = True) -> bytes:
    """An endlessly looping animated GIF; `bounce` plays forward then back so the loop has no jump."""
    seq = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def sketch_to_mnist(image) -> torch.Tensor:
    """A drawing or upload (PIL, or an HxW[xC] array) -> (1, 1, 28, 28) in [0, 1], MNIST-style.

    MNIST digits are white on black, fit in a 20x20 box and are centred by centre of mass in 28x28
    (LeCun et al.); drawings usually come dark-on-light, so the polarity is detected and flipped.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise ValueError("The drawing is not an image.")
    if max(image.size) > MAX_SIDE:
        raise ValueError(f"The image is too large ({image.size[0]}x{image.size[1]}); at most {MAX_SIDE} px a side.")
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        ink_alpha = np.asarray(rgba)[..., 3].astype(np.float32) / 255
        gray = np.asarray(rgba.convert("L")).astype(np.float32) / 255
        if ink_alpha.min() < 0.5:  # transparent canvas: the strokes are what is opaque
            opaque = ink_alpha > 0.5
            dark_strokes = not opaque.any() or gray[opaque].mean() < 0.5
            return _centre(ink_alpha * (1 - gray) if dark_strokes else ink_alpha * gray)
    gray = np.asarray(image.convert("L")).astype(np.float32) / 255
    if np.median(gray) > 0.5:  # light background: dark ink on paper
        gray = 1 - gray
    return _centre(gray)


def _centre(ink: np.ndarray) -> torch.Tensor:
    mask = ink > 0.2
    if mask.sum() < 4 or ink.max() - ink.min() < 0.2:
        raise ValueError("The drawing is blank: draw a digit first.")
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    s = 20 / max(h, w)
    box = Image.fromarray((crop * 255).astype(np.uint8)).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                                  Image.LANCZOS)
    small = np.asarray(box).astype(np.float32) / 255
    total = small.sum()
    cy = (small.sum(1) * np.arange(small.shape[0])).sum() / total
    cx = (small.sum(0) * np.arange(small.shape[1])).sum() / total
    out = np.zeros((28, 28), np.float32)
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top = min(max(top, 0), 28 - small.shape[0])
    left = min(max(left, 0), 28 - small.shape[1])
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return torch.from_numpy(out)[None, None]
