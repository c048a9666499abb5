"""The bundled MNIST subset (assets/mnist-subset, written by training/make_mnist_subset.py) and the grading
classifier, each loaded once per process and shared read-only by every training."""

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from generators.core.device import require_weights
from generators.digits import DigitClassifier

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SUBSET = ASSETS / "mnist-subset" / "train-10k.safetensors"
HELD_OUT = 500  # the subset's last digits: never trained on, graded by the VAE's reconstruction error
CONFIDENT = 0.9  # a sample counts as "read as a digit" when the classifier's top probability reaches this


@dataclass(frozen=True)
class Digits:
    train: torch.Tensor  # (N, 1, 28, 28) float in [0, 1]
    train_labels: torch.Tensor  # (N,) int64
    held: torch.Tensor  # (HELD_OUT, 1, 28, 28)


@functools.cache
def bundled_digits(path: Path = SUBSET) -> Digits:
    """The subset as float tensors, split into training digits and the held-out ones."""
    data = load_file(path)
    images = data["digits"].float().div(255).unsqueeze(1)
    labels = data["labels"].long()
    return Digits(images[:-HELD_OUT], labels[:-HELD_OUT], images[-HELD_OUT:])


class Batches:
    """Shuffled mini-batches, epoch after epoch, in an order drawn from `generator` (on the device of the data)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.images, self.labels, self.batch_size, self.g = images, labels, batch_size, generator
        self.order, self.at = torch.empty(0, dtype=torch.long), 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.at + self.batch_size > len(self.order):
            self.order, self.at = torch.randperm(len(self.images), generator=self.g), 0
        idx = self.order[self.at:self.at + self.batch_size].to(self.images.device)
        self.at += self.batch_size
        return self.images[idx], self.labels[idx]


@dataclass(frozen=True)
class Reading:
    """What the classifier reads in a grid of samples."""
    read_share: float  # share read as some digit with confidence >= CONFIDENT
    class_accuracy: float | None  # share read as the digit asked for (None: unconditional samples)
    classes_read: int  # distinct digits among the confident reads (mode collapse shows here)
    predicted: list[int]
    confidence: list[float]


class Grader:
    """Our MNIST classifier (assets/classifier), loaded once, reading generated digits."""

    def __init__(self, path: Path = ASSETS / "classifier", device: torch.device | None = None):
        self.path, self.device, self._model, self._lock = Path(path), device, None, threading.Lock()

    def load(self) -> DigitClassifier:
        with self._lock:
            if self._model is None:
                require_weights(self.path, "training.train_classifier")
                self._model = DigitClassifier.from_pretrained(self.path).to(self.device or "cpu").eval()
        return self._model

    @torch.no_grad()
    def read(self, images: torch.Tensor, labels: torch.Tensor | None) -> Reading:
        """images (B, 1, 28, 28) in [0, 1]; labels (B,) the digits asked for, or None."""
        model = self.load()
        confidence, predicted = torch.softmax(model(images.to(next(model.parameters()).device)), 1).max(1)
        confidence, predicted = confidence.cpu(), predicted.cpu()
        sure = confidence >= CONFIDENT
        accuracy = None if labels is None else (predicted == labels.cpu()).float().mean().item()
        return Reading(sure.float().mean().item(), accuracy, len(set(predicted[sure].tolist())),
                       predicted.tolist(), confidence.tolist())
