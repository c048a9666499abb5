"""MNIST from its original gzipped IDX files (LeCun et al.), as uint8 tensors; no torchvision needed."""

import gzip
from pathlib import Path

import numpy as np
import torch

from training import data

DEFAULT_DATA = data.folder("mnist")  # ../shared/data/mnist, or .data/mnist where `python -m training.data` puts it
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, ndim = int.from_bytes(data[0:4], "big"), data[3]
    if magic not in (2049, 2051):
        raise ValueError(f"{path} is not an IDX file (magic {magic})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(data_dir: str | Path = DEFAULT_DATA, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Returns images (N, 1, 28, 28) float in [0, 1] and labels (N,) int64."""
    images_file, labels_file = _FILES[split]
    data_dir = Path(data_dir)
    data.require("mnist", data_dir, [images_file, labels_file])
    images = torch.from_numpy(_read_idx(data_dir / images_file).copy()).float().div_(255).unsqueeze(1)
    labels = torch.from_numpy(_read_idx(data_dir / labels_file).copy()).long()
    return images, labels


def batches(images, labels, batch_size: int, generator: torch.Generator, limit: int | None = None):
    """Shuffled mini-batches for one epoch; `limit` caps the number of batches (for --dry-run)."""
    order = torch.randperm(len(images), generator=generator)
    n = len(order) // batch_size
    for i in range(n if limit is None else min(n, limit)):
        idx = order[i * batch_size:(i + 1) * batch_size]
        yield images[idx], labels[idx]
