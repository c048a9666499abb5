"""VAE latent interpolation: encode two digits, walk between their latents, decode each step."""

import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from generators.device import pick_device, require_weights
from generators.digits import DigitVAE
from generators.images import sketch_to_mnist

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "vae"
METHODS = ("linear", "spherical")
MIN_STEPS, MAX_STEPS, MAX_SEED = 2, 64, 2**32 - 1


@dataclass
class Interpolation:
    """One interpolation, as far as it has been decoded."""

    frames: torch.Tensor  # (n, 1, 28, 28) in [0, 1], n grows to `steps`
    endpoints: torch.Tensor  # (2, 1, 28, 28): the start and end inputs
    reconstructions: torch.Tensor  # (2, 1, 28, 28): what the VAE makes of them
    path_2d: torch.Tensor  # (steps, 2): the latent path in the 2-D map's coordinates
    done: bool


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985; White, 2016 for generative latents); lerp when a ~ b."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1, 1))  # (1, 1)
    so = torch.sin(omega)
    if so.abs().item() < 1e-6:
        return torch.lerp(a, b, t)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def validate(*, steps: int, method: str) -> None:
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between {MIN_STEPS} and {MAX_STEPS}, not {steps}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


class VaeInterpolator:
    """Loads the VAE and its bank of held-out test digits once; interpolates on demand.

    Example:
        >>> vae = VaeInterpolator()
        >>> start, end = vae.test_digit(3, seed=0), vae.test_digit(8, seed=0)
        >>> for step in vae.stream(start=start, end=end, steps=16, method="spherical"):
        ...     pass  # step.frames grows until it holds 16 frames; step.done on the last
    """

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None):
        self.path, self.device = Path(path), device
        self._lock, self._model, self.bank = threading.Lock(), None, None

    def load(self) -> DigitVAE:
        with self._lock:
            if self._model is None:
                self.device = self.device or pick_device()
                require_weights(self.path, "training/train_vae.py")
                self.bank = load_file(self.path / "examples.safetensors")
                self._model = DigitVAE.from_pretrained(self.path).to(self.device).eval()
        return self._model

    def test_digit(self, digit: int, seed: int) -> torch.Tensor:
        """A held-out MNIST test digit of this class, picked by seed: (1, 1, 28, 28) in [0, 1]."""
        if digit not in range(10):
            raise ValueError(f"digit must be 0-9, not {digit!r}")
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
        self.load()
        idx = torch.nonzero(self.bank["digit_labels"] == digit).squeeze(1)
        pick = idx[torch.randint(len(idx), (1,), generator=torch.Generator().manual_seed(seed))]
        return self.bank["digits"][pick].float() / 255

    @staticmethod
    def from_image(image) -> torch.Tensor:
        """A user's drawing or upload -> (1, 1, 28, 28), MNIST-style (see images.sketch_to_mnist)."""
        return sketch_to_mnist(image)

    def to_map(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (n, latent) -> the 2-D PCA coordinates of the latent map."""
        return (z.cpu() - self.bank["pca_mean"]) @ self.bank["pca_components"].T

    @torch.inference_mode()
    def stream(self, *, start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "linear",
               chunks: int = 8):
        """Decodes the path from `start` to `end` (latent means) in up to `chunks` pieces, yielding each."""
        validate(steps=steps, method=method)
        vae = self.load()
        x = torch.cat([start, end]).to(self.device)  # (2, 1, 28, 28)
        mu, _ = vae.encode(x)  # (2, latent)
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]  # (steps, 1)
        mix = torch.lerp if method == "linear" else slerp
        z = mix(mu[:1], mu[1:], t)  # (steps, latent)
        recon, path = vae.decode(mu).cpu(), self.to_map(z)
        frames, size = [], -(-steps // chunks)
        for i in range(0, steps, size):
            frames.append(vae.decode(z[i:i + size]).cpu())
            yield Interpolation(torch.cat(frames), x.cpu(), recon, path, done=i + size >= steps)
