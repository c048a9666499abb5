"""Device choice, made once per adapter: CUDA when there is one, else CPU; PLAYGROUND_DEVICE overrides. And the
CPU threads of requests that run at once."""

import os
from pathlib import Path

import torch

from generators.core.errors import ModelUnavailable

_CPU_THREADS: int | None = None  # torch's thread count before share_cpu() first changed it


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
    """A plain error when bundled weights are missing, instead of the Hub's 'repo id' message; `script` is the
    training module that writes them (run as `python -m <script>`)."""
    if not (Path(folder) / "config.json").exists():
        raise ModelUnavailable("weights_missing", folder=str(folder), script=script)


def share_cpu(workers: int) -> None:
    """Gives each of `workers` requests running at once an equal share of torch's CPU threads (idempotent).

    With more threads than free cores, each parallel op waits at its barrier for a thread that has no core. On 2
    cores, while the other core was busy (here the API client, on the same machine), a 16-frame VAE walk spent
    45-80 ms in its handler with 2 threads and 35 with 1. On 1 thread text generation is as fast (313 tokens/s vs
    325) and a lone 64-digit GAN sample takes 57 ms instead of 35.
    """
    global _CPU_THREADS
    _CPU_THREADS = _CPU_THREADS or torch.get_num_threads()
    torch.set_num_threads(max(1, _CPU_THREADS // workers))
