"""Writes the MNIST subset that the Train-from-scratch tab learns from: a class-balanced, seeded draw of training
digits as uint8, one safetensors file (no pickle), small enough to ship.

    python -m training.make_mnist_subset                 # -> assets/mnist-subset/train-10k.safetensors
    python -m training.make_mnist_subset --count 500 --out /tmp/subset.safetensors  # a small one (tests)
"""

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from training.mnist import DEFAULT_DATA, load_mnist

OUT = Path(__file__).resolve().parents[1] / "assets" / "mnist-subset" / "train-10k.safetensors"


def balanced_draw(labels: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Indices of `count` digits, count // 10 of each class (drawn at random from `seed`), in a shuffled order."""
    g = torch.Generator().manual_seed(seed)
    per_class = count // 10
    picks = [torch.nonzero(labels == c).squeeze(1) for c in range(10)]
    chosen = torch.cat([p[torch.randperm(len(p), generator=g)[:per_class]] for p in picks])
    return chosen[torch.randperm(len(chosen), generator=g)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with MNIST's gzipped IDX files")
    p.add_argument("--count", type=int, default=10_000, help="digits to keep (a multiple of 10: balanced classes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    images, labels = load_mnist(args.data, "train")  # (N, 1, 28, 28) in [0, 1], (N,)
    idx = balanced_draw(labels, args.count, args.seed)
    digits = (images[idx, 0] * 255).round().to(torch.uint8).contiguous()  # (count, 28, 28)
    meta = {"source": "MNIST training set (LeCun, Cortes, Burges)", "licence": "CC BY-SA 3.0",
            "draw": json.dumps({"count": args.count, "seed": args.seed, "train_indices": "digit_index"})}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"digits": digits, "labels": labels[idx].to(torch.uint8).contiguous(),
               "digit_index": idx.to(torch.int32).contiguous()}, out, metadata=meta)
    print(f"{out}: {len(idx)} digits, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
