"""Device choice, made once per adapter: CUDA when there is one, else CPU; PLAYGROUND_DEVICE overrides."""

import os
from pathlib import Path

import torch


def pick_device() -> torch.device:
    """`PLAYGROUND_DEVICE=cpu|cuda` forces a device; otherwise the GPU if one is visible."""
    wanted = os.environ.get("PLAYGROUND_DEVICE", "").strip().lower()
    if wanted in ("cpu", "cuda"):
        if wanted == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("PLAYGROUND_DEVICE=cuda but no CUDA device is visible")
        return torch.device(wanted)
    if wanted:
        raise ValueError(f"PLAYGROUND_DEVICE must be 'cpu' or 'cuda', not {wanted!r}")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def require_weights(folder, script: str) -> None:
    """A plain error when bundled weights are missing, instead of the Hub's 'repo id' message."""
    if not (Path(folder) / "config.json").exists():
        raise FileNotFoundError(f"Model weights are missing in {folder}; train them with {script}.")
