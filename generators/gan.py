"""GAN digit sampling: the conditional generator draws digits; the discriminator says how real each looks."""

import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from generators.core.device import pick_device, require_weights
from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator
from generators.core.limits import SEED, Range
from generators.runtime.microbatch import MicroBatcher
from generators.runtime.traced import gil_free
from generators.runtime.slots import BATCHED_REQUESTS, batching

ASSETS = Path(__file__).resolve().parents[1] / "assets"
COUNT = Range(1, 64)  # digits per sample
WALK_STEPS = Range(2, 64)  # frames of a latent walk
TRUNCATION = Range(0.1, 1.0, whole=False)  # psi of the truncation trick; 1 = off
DIGIT = Range(0, 9)


# Rows in one micro-batch: larger batches left more of the C heap behind them and saved little compute
# (bench/bench_load.py; the runs in docs/results.md, "Serving a room").
MAX_BATCH = 64


@dataclass
class DigitBatch:
    """Generated digits with the discriminator's and the grading classifier's view of each."""

    images: torch.Tensor  # (B, 1, 28, 28) in [0, 1], light digit on dark
    labels: list[int]  # the digit asked for
    realness: list[float]  # sigmoid(D(x, label)): the discriminator's probability that x is real
    predicted: list[int]  # what our MNIST classifier reads
    confidence: list[float]  # the classifier's probability for `predicted`


def validate(*, digit: int | None, count: int, seed: int, truncation: float) -> None:
    """InputError for the first argument out of its range (digit None = any digit)."""
    if digit is not None:
        DIGIT.check("digit", digit)
    COUNT.check("count", count), SEED.check("seed", seed), TRUNCATION.check("truncation", truncation)


class SampleNet(torch.nn.Module):
    """The generator, the discriminator and the classifier as one module: noise (B, z_dim) and labels (B,) ->
    digits (B, 1, 28, 28) in [0, 1], D's realness (B,) and the classifier's probabilities (B, 10)."""

    def __init__(self, G: DigitGenerator, D: DigitDiscriminator, C: DigitClassifier):
        super().__init__()
        self.G, self.D, self.C = G, D, C

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.G(z, labels)
        images = (x + 1) / 2  # tanh range -> [0, 1]
        return images, torch.sigmoid(self.D(x, labels)), torch.softmax(self.C(images), dim=1)


class GanSampler:
    """Loads the generator, discriminator and grading classifier once; samples on demand.

    Example:
        >>> sampler = GanSampler()
        >>> batch = sampler.sample(digit=7, count=16, seed=0, truncation=0.8)
        >>> for frames in sampler.stream_walk(digit=3, seed_a=1, seed_b=2, steps=16):
        ...     pass  # frames grows until it holds all 16
    """

    GENERATOR = "genai-playground GAN (class-conditional DCGAN, assets/gan)"  # what its files say made them (C2PA)
    batch_limit = BATCHED_REQUESTS  # requests whose forwards meet in one micro-batch (a queue group's size)

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None):
        self.path, self.device = Path(path), device
        self._lock, self._models, self._net = threading.Lock(), None, None
        self._real: dict[int, list[float]] = {}  # class -> realness of its real test digits
        # concurrent sample() calls run as one forward of G, D and the classifier (their rows are independent)
        self._batcher = MicroBatcher(self._forward, max_batch=MAX_BATCH, name="gan-batch")

    def load(self) -> tuple[DigitGenerator, DigitDiscriminator, DigitClassifier]:
        with self._lock:
            if self._models is None:
                self.device = self.device or pick_device()
                require_weights(self.path / "gan" / "generator", "training.train_gan")
                require_weights(self.path / "classifier", "training.train_classifier")
                models = (DigitGenerator.from_pretrained(self.path / "gan" / "generator"),
                          DigitDiscriminator.from_pretrained(self.path / "gan" / "discriminator"),
                          DigitClassifier.from_pretrained(self.path / "classifier"))
                # channels_last on CPU: faster convolutions and max-pools, same results to ~1e-6 (bench_digits;
                # docs/results.md)
                layout = torch.channels_last if self.device.type == "cpu" else torch.preserve_format
                self._models = tuple(m.to(self.device, memory_format=layout).eval() for m in models)
                example = torch.zeros(2, models[0].z_dim), torch.zeros(2, dtype=torch.long)
                # G, D and the classifier in one call that releases the GIL (generators/runtime/traced.py says why)
                self._net = gil_free(SampleNet(*self._models), *(x.to(self.device) for x in example))
        return self._models

    def noise(self, count: int, seed: int, truncation: float) -> torch.Tensor:
        """z ~ N(0, I) from this seed alone, pulled toward the mean by psi (truncation trick, Brock et al. 2019).

        Always drawn for COUNT.hi and sliced, so raising `count` keeps the digits already shown.
        """
        g = torch.Generator().manual_seed(seed)
        return torch.randn(COUNT.hi, self.load()[0].z_dim, generator=g)[:count] * truncation

    @staticmethod
    def labels(digit: int | None, count: int, seed: int) -> torch.Tensor:
        """(count,) class labels: all `digit`, or (None) each a random class drawn from the seed (for COUNT.hi and
        sliced, like the noise)."""
        if digit is None:
            return torch.randint(0, 10, (COUNT.hi,), generator=torch.Generator().manual_seed(seed + 1))[:count]
        return torch.full((count,), digit)

    @torch.inference_mode()
    def sample(self, *, digit: int | None, count: int, seed: int, truncation: float = 1.0) -> DigitBatch:
        """`count` digits of class `digit` (None = each a random class), reproducible from `seed`."""
        validate(digit=digit, count=count, seed=seed, truncation=truncation)
        z, labels = self.noise(count, seed, truncation), self.labels(digit, count, seed)
        forward = self._batcher if batching() else self._forward  # drawn from this seed alone either way
        images, realness, probs = forward(z.to(self.device), labels.to(self.device))
        confidence, predicted = probs.max(1)
        return DigitBatch(images.cpu(), labels.tolist(), realness.tolist(), predicted.tolist(), confidence.tolist())

    @torch.inference_mode()
    def _forward(self, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noise (B, z_dim) and labels (B,) -> digits (B, 1, 28, 28) in [0, 1], D's realness (B,) and the
        classifier's probabilities (B, 10); each row depends on its own inputs only (eval mode)."""
        self.load()
        return self._net(z, labels)

    @torch.inference_mode()
    def stream_walk(self, *, digit: int, seed_a: int, seed_b: int, steps: int, truncation: float = 1.0,
                    end_digit: int | None = None):
        """Walks from (digit, seed A) to (end_digit, seed B): the noise and the class embedding both interpolate
        linearly (end_digit None = the same digit, a walk in noise alone); yields the growing frames (B, 1, 28, 28)."""
        DIGIT.check("digit", digit), SEED.check("seed A", seed_a), SEED.check("seed B", seed_b)
        WALK_STEPS.check("steps", steps), TRUNCATION.check("truncation", truncation)
        end_digit = digit if end_digit is None else DIGIT.check("end digit", end_digit)
        G = self.load()[0]
        za, zb = self.noise(1, seed_a, truncation), self.noise(1, seed_b, truncation)
        t = torch.linspace(0, 1, steps)[:, None]
        z = torch.lerp(za, zb, t).to(self.device)  # (steps, z_dim)
        ea, eb = G.embed(torch.tensor([digit, end_digit], device=self.device)).split(1)
        e = torch.lerp(ea, eb, t.to(self.device))  # (steps, n_classes)
        frames, chunk = [], max(1, steps // 8)
        for i in range(0, steps, chunk):
            frames.append((G.from_embedding(z[i:i + chunk], e[i:i + chunk]) + 1).div(2).cpu())
            yield torch.cat(frames)

    @torch.inference_mode()
    def draw(self, *, digit: int, count: int, seed: int) -> torch.Tensor:
        """The generator alone, one pass (no realness, no reading): (count, 1, 28, 28) in [0, 1]."""
        validate(digit=digit, count=count, seed=seed, truncation=1.0)
        G = self.load()[0]
        labels = torch.full((count,), digit, device=self.device)
        return (G(self.noise(count, seed, 1.0).to(self.device), labels) + 1).div(2).cpu()  # tanh -> [0, 1]

    def parameter_count(self) -> int:
        """The generator's parameters: what draws a digit."""
        return sum(p.numel() for p in self.load()[0].parameters())

    @torch.inference_mode()
    def read(self, images: torch.Tensor) -> tuple[list[int], list[float]]:
        """What our classifier reads in each image (B, 1, 28, 28) in [0, 1], and its confidence."""
        confidence, predicted = torch.softmax(self.load()[2](images.to(self.device)), dim=1).max(1)
        return predicted.tolist(), confidence.tolist()

    @torch.inference_mode()
    def judge(self, digit: torch.Tensor) -> dict:
        """One 28x28 digit in [0, 1] (light on dark): the classifier's reading and confidence, and the
        discriminator's realness given that reading."""
        _, D, C = self.load()
        x = digit.reshape(1, 1, 28, 28).float().to(self.device)
        probs = torch.softmax(C(x), 1)[0]
        reads = int(probs.argmax())
        realness = float(torch.sigmoid(D(x * 2 - 1, torch.tensor([reads], device=self.device))))
        return {"realness": realness, "reads": reads, "confidence": float(probs[reads])}

    @torch.inference_mode()
    def real_realness(self, digit: int) -> list[float] | None:
        """The discriminator's realness for the held-out real test digits of this class (assets/vae's bank of 100
        a class), the yardstick for generated digits' scores; None where the bank is not there."""
        bank_path = self.path / "vae" / "examples.safetensors"
        if digit not in self._real:
            if not bank_path.exists():
                return None
            bank = load_file(bank_path)
            x = bank["digits"][bank["digit_labels"] == digit].float().div(255).mul(2).sub(1)  # (100, 1, 28, 28)
            D = self.load()[1]
            labels = torch.full((len(x),), digit, device=self.device)
            self._real[digit] = torch.sigmoid(D(x.to(self.device), labels)).tolist()
        return self._real[digit]
