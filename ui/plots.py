"""The VAE's 2-D latent map, drawn with PIL: test digits coloured by class, the interpolation path on top."""

import torch
from PIL import Image, ImageDraw

# Tableau-10, one colour per digit class.
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def latent_map(points: torch.Tensor, labels: torch.Tensor, path: torch.Tensor, size: int = 420) -> Image.Image:
    """points (N, 2), labels (N,), path (steps, 2), all in PCA coordinates -> an RGB image with a legend."""
    legend_w, margin = 46, 12
    allp = torch.cat([points, path])
    lo, hi = allp.min(0).values, allp.max(0).values
    span = (hi - lo).clamp(min=1e-6)

    def xy(p):
        u = (p - lo) / span
        return (margin + float(u[0]) * (size - 2 * margin), margin + (1 - float(u[1])) * (size - 2 * margin))

    im = Image.new("RGB", (size + legend_w, size), "white")
    d = ImageDraw.Draw(im)
    for p, c in zip(points, labels.tolist()):
        x, y = xy(p)
        d.ellipse((x - 2, y - 2, x + 2, y + 2), fill=COLOURS[c])
    line = [xy(p) for p in path]
    d.line(line, fill="black", width=3)
    for (x, y), colour in ((line[0], "black"), (line[-1], "white")):
        d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour, outline="black", width=2)
    for c in range(10):
        y = margin + c * 18
        d.rectangle((size + 8, y, size + 20, y + 12), fill=COLOURS[c])
        d.text((size + 26, y), str(c), fill="black")
    d.text((margin, size - margin - 10), "start: black dot, end: white dot (PCA of the 16-d latent)", fill="#444")
    return im
