"""VAE latent interpolation: encode two digits, walk between their latents, decode each step.

Also the one place a user's drawing becomes an MNIST-style digit (`sketch_to_mnist`): the VAE encodes it.
"""

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from generators.core.device import pick_device, require_weights
from generators.digit_check import Fence, judge, likeness
from generators.digits import DigitClassifier, DigitVAE
from generators.core.errors import InputError, Notice
from generators.core.limits import SEED, Range, check_choice
from generators.runtime.microbatch import MicroBatcher
from generators.runtime.traced import Method, gil_free
from generators.runtime.slots import BATCHED_REQUESTS, batching
from generators.vae_map import LatentProjection

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "vae"
METHODS = ("linear", "spherical")
STEPS = Range(2, 64)  # frames of an interpolation
DIGIT = Range(0, 9)
MAX_SIDE = 4096  # a sketch or upload larger than this on a side is refused, not resized


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


class VaeInterpolator:
    """Loads the VAE and its bank of held-out test digits once; interpolates on demand.

    Example:
        >>> vae = VaeInterpolator()
        >>> start, end = vae.test_digit(3, seed=0), vae.test_digit(8, seed=0)
        >>> for step in vae.stream(start=start, end=end, steps=16, method="spherical"):
        ...     pass  # step.frames grows until it holds 16 frames; step.done on the last
    """

    GENERATOR = "genai-playground VAE (16-d latent, assets/vae)"  # what its files say made them (C2PA)
    batch_limit = BATCHED_REQUESTS  # requests whose forwards meet in one micro-batch (a queue group's size)

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None,
                 classifier: Path = ASSETS.parent / "classifier"):
        self.path, self.device, self.classifier_path = Path(path), device, Path(classifier)
        self._lock, self._model, self.bank = threading.Lock(), None, None
        self._checker: tuple[DigitClassifier, Fence] | None = None
        self.projection: LatentProjection | None = None  # the latent map's (generators/vae_map.py)
        self._dots: tuple[torch.Tensor, torch.Tensor] | None = None
        # concurrent interpolations encode and decode together, one forward each (rows are independent)
        self._encode = MicroBatcher(self._encoded, name="vae-encode")
        self._decode = MicroBatcher(self._decoded, name="vae-decode")
        self._encoder = self._decoder = None  # the model's encode and decode, each in one GIL-free call

    def load(self) -> DigitVAE:
        with self._lock:
            if self._model is None:
                self.device = self.device or pick_device()
                require_weights(self.path, "training.train_vae")
                self.bank = load_file(self.path / "examples.safetensors")
                self._model = DigitVAE.from_pretrained(self.path).to(self.device).eval()
                digits, latents = torch.zeros(2, 1, 28, 28), torch.zeros(2, self._model.latent_dim)
                self._encoder = gil_free(Method(self._model, "encode"), digits.to(self.device))
                self._decoder = gil_free(Method(self._model, "decode"), latents.to(self.device))
                self.projection = self._projection(self._model)
        return self._model

    @torch.no_grad()
    def _projection(self, vae: DigitVAE) -> LatentProjection:
        """The latent map's projection: from the class prior beside the weights, else from the bank's test digits."""
        if (self.path / "class_prior.safetensors").exists():
            prior = load_file(self.path / "class_prior.safetensors")
            return LatentProjection.fit(prior["mean"], prior["scale_tril"])
        mu, _ = vae.encode(self.bank["digits"].float().to(self.device) / 255)
        return LatentProjection.from_latents(mu, self.bank["digit_labels"])

    def test_digit(self, digit: int, seed: int) -> torch.Tensor:
        """A held-out MNIST test digit of this class, picked by seed: (1, 1, 28, 28) in [0, 1]."""
        digit, seed = DIGIT.check("digit", digit), SEED.check("seed", seed)
        self.load()
        idx = torch.nonzero(self.bank["digit_labels"] == digit).squeeze(1)
        pick = idx[torch.randint(len(idx), (1,), generator=torch.Generator().manual_seed(seed))]
        return self.bank["digits"][pick].float() / 255

    @torch.inference_mode()
    def _encoded(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Digits (n, 1, 28, 28) -> the latents' means and log-variances (n, latent) each (after load())."""
        return self._encoder(x)

    @torch.inference_mode()
    def _decoded(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (n, latent) -> digits (n, 1, 28, 28) on the CPU (after load())."""
        return self._decoder(z).cpu()

    @staticmethod
    def from_image(image) -> torch.Tensor:
        """A user's drawing or upload -> (1, 1, 28, 28), MNIST-style (see sketch_to_mnist)."""
        return sketch_to_mnist(image)

    def check(self, digit: torch.Tensor) -> Notice | None:
        """Whether a drawing made MNIST-style (1, 1, 28, 28) looks like a handwritten digit, judged against the bank's
        test digits (generators/digit_check.py): raises InputError("vae_not_digit" or "vae_unlikely_digit") when it is far from them,
        returns a Notice when it is at their edge, None when it is like them."""
        classifier, fence = self._check_models()
        return judge(likeness(self.load(), classifier, digit.to(self.device)), fence)

    def _check_models(self) -> tuple[DigitClassifier, Fence]:
        """Our MNIST classifier and the ranges of the bank's test digits, made once."""
        vae = self.load()
        with self._lock:
            if self._checker is None:
                require_weights(self.classifier_path, "training.train_classifier")
                classifier = DigitClassifier.from_pretrained(self.classifier_path).to(self.device).eval()
                test_digits = self.bank["digits"].float().to(self.device) / 255
                self._checker = classifier, Fence.from_digits(likeness(vae, classifier, test_digits))
        return self._checker

    @torch.inference_mode()
    def reads(self, digit: torch.Tensor) -> tuple[int, float]:
        """What our classifier reads in a (1, 1, 28, 28) digit, and its probability."""
        probs = torch.softmax(self._check_models()[0](digit.to(self.device)), dim=1)[0]
        return int(probs.argmax()), float(probs.max())

    def to_map(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (n, latent) -> their points (n, 2) on the latent map."""
        self.load()
        return self.projection.project(z)

    @torch.inference_mode()
    def map_dots(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The map's dots: the bank's held-out test digits, (n, 2) points and (n,) labels, encoded once."""
        vae = self.load()
        if self._dots is None:
            mu, _ = vae.encode(self.bank["digits"].float().to(self.device) / 255)
            self._dots = self.to_map(mu), self.bank["digit_labels"]
        return self._dots

    def map_box(self) -> tuple[float, float, float, float]:
        """The part of the map shown, (x_lo, y_lo, x_span, y_span): the dots and 5% around them."""
        points = self.map_dots()[0]
        lo, hi = points.min(0).values, points.max(0).values
        pad = (hi - lo) * 0.05
        return (*(lo - pad).tolist(), *(hi - lo + 2 * pad).tolist())

    @torch.inference_mode()
    def decode_point(self, point: torch.Tensor) -> torch.Tensor:
        """A point (2,) of the map -> the digit (1, 1, 28, 28) drawn there: its typical latent, decoded."""
        vae = self.load()
        return vae.decode(self.projection.lift(point.view(1, 2)).to(self.device)).cpu()

    @torch.inference_mode()
    def stream(self, *, start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "linear",
               chunks: int = 8):
        """Decodes the path from `start` to `end` (latent means) in up to `chunks` pieces, yielding each."""
        steps, method = STEPS.check("steps", steps), check_choice("method", method, METHODS)
        self.load()
        encode, decode = (self._encode, self._decode) if batching() else (self._encoded, self._decoded)
        x = torch.cat([start, end]).to(self.device)  # (2, 1, 28, 28)
        mu, _ = encode(x)  # (2, latent)
        t = torch.linspace(0, 1, steps, device=self.device)[:, None]  # (steps, 1)
        mix = torch.lerp if method == "linear" else slerp
        z = mix(mu[:1], mu[1:], t)  # (steps, latent)
        recon, path = decode(mu), self.to_map(z)
        frames, size = [], -(-steps // chunks)
        for i in range(0, steps, size):
            frames.append(decode(z[i:i + size]))
            yield Interpolation(torch.cat(frames), x.cpu(), recon, path, done=i + size >= steps)


def sketch_to_mnist(image) -> torch.Tensor:
    """A drawing or upload (PIL, or an HxW[xC] array) -> (1, 1, 28, 28) in [0, 1], MNIST-style.

    MNIST digits are white on black, fit in a 20x20 box and are centred by centre of mass in 28x28
    (LeCun et al.); drawings usually come dark-on-light, so the polarity is detected and flipped.
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise InputError("vae_not_image")
    if max(image.size) > MAX_SIDE:
        raise InputError("vae_too_large", w=image.size[0], h=image.size[1], max_side=MAX_SIDE)
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        ink_alpha = np.asarray(rgba)[..., 3].astype(np.float32) / 255
        gray = np.asarray(rgba.convert("L")).astype(np.float32) / 255
        if ink_alpha.min() < 0.5:  # transparent canvas: the strokes are what is opaque
            opaque = ink_alpha > 0.5
            dark_strokes = not opaque.any() or gray[opaque].mean() < 0.5
            return _centre(ink_alpha * (1 - gray) if dark_strokes else ink_alpha * gray)
    gray = np.asarray(image.convert("L")).astype(np.float32) / 255
    if np.median(gray) > 0.5:  # light background: dark ink on paper
        gray = 1 - gray
    return _centre(gray)


def _centre(ink: np.ndarray) -> torch.Tensor:
    """Ink (H, W) in [0, 1] -> its bounding box fitted into 20x20, centred by mass in 28x28."""
    mask = ink > 0.2
    if mask.sum() < 4 or ink.max() - ink.min() < 0.2:
        raise InputError("vae_blank")
    ys, xs = np.nonzero(mask)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    s = 20 / max(h, w)
    box = Image.fromarray((crop * 255).astype(np.uint8)).resize((max(1, round(w * s)), max(1, round(h * s))),
                                                                  Image.LANCZOS)
    small = np.asarray(box).astype(np.float32) / 255
    total = small.sum()
    cy = (small.sum(1) * np.arange(small.shape[0])).sum() / total
    cx = (small.sum(0) * np.arange(small.shape[1])).sum() / total
    out = np.zeros((28, 28), np.float32)
    top = min(max(int(round(14 - cy)), 0), 28 - small.shape[0])
    left = min(max(int(round(14 - cx)), 0), 28 - small.shape[1])
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return torch.from_numpy(out)[None, None]
