"""The VAE's 2-D latent map, drawn with numpy and PIL: test digits coloured by class, the interpolation path on top."""

import threading

import numpy as np
import torch
from PIL import Image, ImageColor, ImageDraw

# Tableau-10, one colour per digit class.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
RGB = np.array([ImageColor.getrgb(c) for c in COLOURS], np.uint8)  # (10, 3)
_R = np.arange(-2, 3)
DY, DX = (np.argwhere(_R[:, None] ** 2 + _R ** 2 <= 5) - 2).T  # the 21 pixels of a dot of radius 2
LEGEND_W, MARGIN = 46, 12
# the legend starts below the top right corner, where the page lays an image's buttons (full screen, download)
# over the picture: on a phone they hid the keys of 0 and 1
LEGEND_TOP = 64
# (id(points), id(labels), box, size) -> (points, labels, image); the tensors are kept so that their ids stay theirs
_BACKGROUNDS, _LOCK = {}, threading.Lock()


def stamp_dots(im: Image.Image, xy: np.ndarray, labels: np.ndarray) -> Image.Image:
    """Dots of radius 2 centred at pixels xy (N, 2), coloured by class, later ones on top, as N ImageDraw.ellipse
    calls would draw them: ~5 ms instead of ~50 for 2,000 points. xy must lie 2 px inside the image."""
    a = np.array(im)  # (H, W, 3)
    x, y = np.rint(xy).astype(int).T
    flat = ((y[:, None] + DY) * a.shape[1] + x[:, None] + DX).ravel()  # (N * 21,), point by point
    last = len(flat) - 1 - np.unique(flat[::-1], return_index=True)[1]  # where each pixel is painted last
    a.reshape(-1, 3)[flat[last]] = RGB[labels].repeat(len(DY), axis=0)[last]
    return Image.fromarray(a)


def _to_pixels(p: torch.Tensor, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """(n, 2) PCA coordinates -> (n, 2) x, y in pixels, box = (x_lo, y_lo, x_span, y_span) filling the plot."""
    u = ((p - torch.tensor(box[:2])) / torch.tensor(box[2:])).numpy()
    return np.stack([MARGIN + u[:, 0] * (size - 2 * MARGIN), MARGIN + (1 - u[:, 1]) * (size - 2 * MARGIN)], 1)


def from_pixels(x: float, y: float, box: tuple[float, float, float, float], size: int = 420) -> tuple[float, float]:
    """A pixel of the map (as clicked) -> its point in map coordinates: the inverse of _to_pixels."""
    u = (x - MARGIN) / (size - 2 * MARGIN), 1 - (y - MARGIN) / (size - 2 * MARGIN)
    return box[0] + u[0] * box[2], box[1] + u[1] * box[3]


def _indexed(im: Image.Image) -> Image.Image:
    """`im` (RGB) as a palette image with exactly its colours (~220 here) when it has at most 256, else a median cut
    to 254, leaving room for the path's black and white."""
    colours, index = np.unique(np.asarray(im).reshape(-1, 3), axis=0, return_inverse=True)
    if len(colours) > 256:
        return im.quantize(254)
    out = Image.fromarray(index.reshape(im.height, im.width).astype(np.uint8), "P")
    out.putpalette(colours.ravel().tolist())
    return out


def _background(points: torch.Tensor, labels: torch.Tensor, box: tuple, size: int) -> Image.Image:
    """The dots and legend as a palette image (the caption is the component's label, in the user's language);
    drawn once per box (one box while paths stay inside the
    cloud of dots)."""
    key = (id(points), id(labels), box, size)
    with _LOCK:
        if key not in _BACKGROUNDS:
            if len(_BACKGROUNDS) >= 16:  # paths leaving the cloud each make a box; keep a few
                _BACKGROUNDS.clear()
            im = stamp_dots(Image.new("RGB", (size + LEGEND_W, size), "white"), _to_pixels(points, box, size),
                            labels.numpy())
            d = ImageDraw.Draw(im)
            for c in range(10):
                y = LEGEND_TOP + c * 18
                d.rectangle((size + 8, y, size + 20, y + 12), fill=COLOURS[c])
                d.text((size + 26, y), str(c), fill="black")
            _BACKGROUNDS[key] = (points, labels, _indexed(im))
        return _BACKGROUNDS[key][2]


def latent_map(points: torch.Tensor, labels: torch.Tensor, path: torch.Tensor, size: int = 420,
               box: tuple | None = None) -> Image.Image:
    """points (N, 2), labels (N,), path (steps, 2; may be empty), all in map coordinates -> an image with a legend,
    in palette mode: its PNG takes ~1.5 ms to encode, the RGB one ~8. `box` (x_lo, y_lo, x_span, y_span) is the part
    shown; by default the points and the path."""
    if box is None:
        allp = torch.cat([points, path])
        lo, hi = allp.min(0).values, allp.max(0).values
        box = (*lo.tolist(), *(hi - lo).clamp(min=1e-6).tolist())
    im = _background(points, labels, box, size).copy()
    if len(path) == 0:
        return im
    d = ImageDraw.Draw(im)  # black and white are in its palette (text and background)
    line = [tuple(p) for p in _to_pixels(path, box, size).tolist()]
    d.line(line, fill="black", width=3)
    for (x, y), colour in ((line[0], "black"), (line[-1], "white")):
        d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour, outline="black", width=2)
    return im
