"""GAN digit sampling: the conditional generator draws digits; the discriminator says how real each looks."""

import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from generators.device import pick_device, require_weights
from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MAX_COUNT, MAX_STEPS, MAX_SEED = 64, 64, 2**32 - 1


@dataclass
class DigitBatch:
    """Generated digits with the discriminator's and the grading classifier's view of each."""

    images: torch.Tensor  # (B, 1, 28, 28) in [0, 1], light digit on dark
    labels: list[int]  # the digit asked for
    realness: list[float]  # sigmoid(D(x, label)): the discriminator's probability that x is real
    predicted: list[int]  # what our MNIST classifier reads
    confidence: list[float]  # the classifier's probability for `predicted`


def validate(*, digit: int | None, count: int, seed: int, truncation: float) -> None:
    if digit is not None and digit not in range(10):
        raise ValueError(f"digit must be 0-9 or Any, not {digit!r}")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be between 1 and {MAX_COUNT}, not {count}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and {MAX_SEED}, not {seed}")
    if not 0.1 <= truncation <= 1.0:
        raise ValueError(f"truncation must be between 0.1 and 1.0, not {truncation}")


class GanSampler:
    """Loads the generator, discriminator and grading classifier once; samples on demand.

    Example:
        >>> sampler = GanSampler()
        >>> batch = sampler.sample(digit=7, count=16, seed=0, truncation=0.8)
        >>> for frames in sampler.stream_walk(digit=3, seed_a=1, seed_b=2, steps=16):
        ...     pass  # frames grows until it holds all 16
    """

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None):
        self.path, self.device = Path(path), device
        self._lock, self._models = threading.Lock(), None

    def load(self) -> tuple[DigitGenerator, DigitDiscriminator, DigitClassifier]:
        with self._lock:
            if self._models is None:
                self.device = self.device or pick_device()
                require_weights(self.path / "gan" / "generator", "training/train_gan.py")
                require_weights(self.path / "classifier", "training/train_classifier.py")
                models = (DigitGenerator.from_pretrained(self.path / "gan" / "generator"),
                          DigitDiscriminator.from_pretrained(self.path / "gan" / "discriminator"),
                          DigitClassifier.from_pretrained(self.path / "classifier"))
                # channels_last on CPU: a 64-digit sample (generator, discriminator, classifier) takes 35 ms
                # instead of 48, the classifier's convolutions and max-pools 10 instead of 23; same results to ~1e-6
                layout = torch.channels_last if self.device.type == "cpu" else torch.preserve_format
                self._models = tuple(m.to(self.device, memory_format=layout).eval() for m in models)
        return self._models

    def noise(self, count: int, seed: int, truncation: float) -> torch.Tensor:
        """z ~ N(0, I) from this seed alone, pulled toward the mean by psi (truncation trick, Brock et al. 2019).

        Always drawn for MAX_COUNT and sliced, so raising `count` keeps the digits already shown.
        """
        g = torch.Generator().manual_seed(seed)
        return torch.randn(MAX_COUNT, self.load()[0].z_dim, generator=g)[:count] * truncation

    @torch.inference_mode()
    def sample(self, *, digit: int | None, count: int, seed: int, truncation: float = 1.0) -> DigitBatch:
        """`count` digits of class `digit` (None = each a random class), reproducible from `seed`."""
        validate(digit=digit, count=count, seed=seed, truncation=truncation)
        G = self.load()[0]
        z = self.noise(count, seed, truncation)
        if digit is None:
            labels = torch.randint(0, 10, (MAX_COUNT,), generator=torch.Generator().manual_seed(seed + 1))[:count]
        else:
            labels = torch.full((count,), digit)
        return self._grade(G(z.to(self.device), labels.to(self.device)), labels.to(self.device))

    @torch.inference_mode()
    def _grade(self, x: torch.Tensor, labels: torch.Tensor) -> DigitBatch:
        _, D, C = self.load()
        realness = torch.sigmoid(D(x, labels))
        images = (x + 1) / 2  # tanh range -> [0, 1]
        probs = torch.softmax(C(images), dim=1)
        confidence, predicted = probs.max(1)
        return DigitBatch(images.cpu(), labels.tolist(), realness.tolist(), predicted.tolist(), confidence.tolist())

    @torch.inference_mode()
    def stream_walk(self, *, digit: int, seed_a: int, seed_b: int, steps: int, truncation: float = 1.0):
        """Walks the noise between two seeds for one digit; yields the growing list of frames (B, 1, 28, 28)."""
        validate(digit=digit, count=1, seed=seed_a, truncation=truncation)
        validate(digit=digit, count=1, seed=seed_b, truncation=truncation)
        if digit is None or not 2 <= steps <= MAX_STEPS:
            raise ValueError(f"the walk needs a digit 0-9 and 2-{MAX_STEPS} steps")
        G = self.load()[0]
        za, zb = self.noise(1, seed_a, truncation), self.noise(1, seed_b, truncation)
        t = torch.linspace(0, 1, steps)[:, None]
        z = torch.lerp(za, zb, t).to(self.device)  # (steps, z_dim)
        labels = torch.full((steps,), digit, device=self.device)
        frames, chunk = [], max(1, steps // 8)
        for i in range(0, steps, chunk):
            frames.append((G(z[i:i + chunk], labels[i:i + chunk]) + 1).div(2).cpu())
            yield torch.cat(frames)
