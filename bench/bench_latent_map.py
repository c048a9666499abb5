"""How well the VAE tab's latent map separates the digit classes, and what a click on it decodes.

    python -m bench.bench_latent_map

On the 1,000 held-out test digits the VAE ships (assets/vae/examples.safetensors), encoded to their latent means:
- the 2-D map's class separation, as the share of digits whose 5 nearest neighbours on the map mostly share their
  class, for Fisher's projection (the map now, fitted on the training digits' class prior) beside the PCA the map
  used before (stored with the same digits);
- a 25x25 grid over the map decoded as a click decodes it: the share our classifier reads with >= 90% confidence,
  and how many of the ten classes appear.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from generators.vae import VaeInterpolator

NEIGHBOURS, GRID = 5, 25


def neighbour_accuracy(points: torch.Tensor, labels: torch.Tensor, k: int = NEIGHBOURS) -> float:
    """Share of points whose k nearest other points vote for their own class."""
    d = torch.cdist(points, points)
    d.fill_diagonal_(float("inf"))
    votes = torch.nn.functional.one_hot(labels[d.topk(k, largest=False).indices], 10).sum(1)  # (n, 10)
    return float((votes.argmax(1) == labels).float().mean())


@torch.inference_mode()
def main() -> None:
    torch.set_num_threads(1)
    vae = VaeInterpolator()
    model, bank = vae.load(), vae.bank
    mu, _ = model.encode(bank["digits"].float() / 255)
    labels = bank["digit_labels"]
    pca = (mu - bank["pca_mean"]) @ bank["pca_components"].T
    fisher = vae.to_map(mu)
    print(f"{len(mu)} held-out test digits, {NEIGHBOURS}-nearest-neighbour class agreement on the 2-D map:")
    print(f"  PCA (before)     {neighbour_accuracy(pca, labels):.1%}")
    print(f"  Fisher (now)     {neighbour_accuracy(fisher, labels):.1%}")
    x_lo, y_lo, x_span, y_span = vae.map_box()
    xs, ys = torch.linspace(x_lo, x_lo + x_span, GRID), torch.linspace(y_lo, y_lo + y_span, GRID)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
    reads = [vae.reads(vae.decode_point(p)) for p in grid]
    sure = sum(c >= 0.9 for _, c in reads) / len(reads)
    print(f"a {GRID}x{GRID} grid over the map, decoded: {sure:.1%} read with >= 90% confidence, "
          f"{len({d for d, _ in reads})} of 10 classes")


if __name__ == "__main__":
    main()
