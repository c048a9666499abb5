"""Sampling a model trained in the Train-from-scratch tab (or uploaded there) with a family tab's own controls: the
GAN tab's digit, count and seed, the diffusion tab's digit, count, steps and seed (streamed step by step), the VAE
tab's two endpoints, steps and path. The family tabs offer it as "Your trained model (this session)" beside their
shipped model; the run comes from the person's session, never from this object, so it holds no user's state.

    sampler = ScratchSampler()
    run = sampler.check(session.run, "GAN")                  # InputError when nothing (or another family) was trained
    batch = sampler.digits(run, digit=7, count=16, seed=0)   # the same seed, the same digits
    for step in sampler.stream_denoise(run, digit=7, count=16, steps=10, seed=0):
        pass                                                 # a DenoisingStep per DDIM step; the last is done
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from generators.core.errors import InputError
from generators.core.limits import SEED, Range, check_choice
from generators.diffusion_steps import DenoisingStep
from generators.scratch.data import Grader
from generators.vae import METHODS, STEPS as VAE_STEPS, Interpolation, slerp

COUNT = Range(1, 64)  # digits a request draws: the family tabs' own limit
DENOISE_STEPS = Range(1, 100)  # DDIM steps over the trained model's 1,000-step schedule
DIGIT = Range(0, 9)


@dataclass
class ScratchBatch:
    """Digits drawn by a trained-here model and what our classifier reads in them."""

    images: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    labels: list[int] | None  # the digit each was asked to be; None: the model takes no digit (unconditional)
    predicted: list[int]
    confidence: list[float]


def noise_and_labels(z_dim: int, digit: int | None, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, z_dim) noise and (count,) digits from `seed` alone, drawn for COUNT.hi and sliced (as the shipped GAN
    does: raising the count keeps the digits already shown); digit None: each a random digit from seed + 1."""
    z = torch.randn(COUNT.hi, z_dim, generator=torch.Generator().manual_seed(seed))[:count]
    if digit is None:
        labels = torch.randint(0, 10, (COUNT.hi,), generator=torch.Generator().manual_seed(seed + 1))[:count]
    else:
        labels = torch.full((count,), digit)
    return z, labels


class ScratchSampler:
    """Draws from a session's trained run (generators/scratch: GanRun, VaeRun, DiffusionRun) on request."""

    GENERATOR = "genai-playground Train from scratch ({family}, trained in this session)"

    def __init__(self, grader: Grader | None = None):
        self.grader = grader or Grader()

    @staticmethod
    def check(run, family: str):
        """`run` if it is a trained run of `family`; InputError "scratch_trained_none" or "scratch_trained_other"."""
        if run is None:
            raise InputError("scratch_trained_none", family=family)
        if getattr(run, "family", None) != family:
            raise InputError("scratch_trained_other", family=family, trained=getattr(run, "family", "?"))
        return run

    @torch.inference_mode()
    def read(self, images: torch.Tensor) -> tuple[list[int], list[float]]:
        """What our classifier reads in each image (B, 1, 28, 28) in [0, 1], and its confidence."""
        reading = self.grader.read(images, None)
        return reading.predicted, reading.confidence

    @torch.inference_mode()
    def digits(self, run, *, digit: int | None, count: int, seed: int) -> ScratchBatch:
        """A trained GAN's `count` digits of class `digit` (None: each a random one), reproducible from `seed`."""
        _validate(digit, count, seed)
        z, labels = noise_and_labels(run.recipe.z_dim, digit, count, seed)
        conditional = run.recipe.conditional  # the failure recipe's GAN takes no digit
        x = run.G_ema(z.to(run.device), labels.to(run.device) if conditional else None)  # (count, 1, 28, 28)
        images = ((x + 1) / 2).clamp(0, 1).cpu()  # tanh range -> [0, 1]
        return ScratchBatch(images, labels.tolist() if conditional else None, *self.read(images))

    @torch.inference_mode()
    def stream_denoise(self, run, *, digit: int | None, count: int, steps: int, seed: int) -> Iterator[DenoisingStep]:
        """A trained diffusion model's deterministic DDIM run (as its training grid samples), one DenoisingStep per
        step; the last one (done) holds the finished digits. The same seed, the same digits."""
        _validate(digit, count, seed)
        steps = DENOISE_STEPS.check("steps", steps)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(COUNT.hi, 1, 28, 28, generator=g)[:count].to(run.device)  # x_T, (count, 1, 28, 28)
        _, labels = noise_and_labels(1, digit, count, seed)
        for i, (x, x0) in enumerate(run.ddim(x, labels.to(run.device), steps)):  # as its training grid samples
            yield DenoisingStep(i + 1, steps, ((x + 1) / 2).clamp(0, 1).cpu(), ((x0 + 1) / 2).cpu(),
                                labels.tolist(), done=i + 1 == steps)

    @torch.inference_mode()
    def interpolate(self, run, *, start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "linear",
                    chunks: int = 8) -> Iterator[Interpolation]:
        """A trained VAE's morph from `start` to `end` (each (1, 1, 28, 28) in [0, 1]) between their latent means,
        decoded in up to `chunks` pieces (the shipped VAE's stream; no latent map: path_2d is None)."""
        steps, method = VAE_STEPS.check("steps", steps), check_choice("method", method, METHODS)
        x = torch.cat([start, end]).to(run.device)  # (2, 1, 28, 28)
        mu, _ = run.vae.encode(x)  # (2, latent)
        t = torch.linspace(0, 1, steps, device=run.device)[:, None]  # (steps, 1)
        z = (torch.lerp if method == "linear" else slerp)(mu[:1], mu[1:], t)  # (steps, latent)
        recon, frames, size = run.vae.decode(mu).cpu(), [], -(-steps // chunks)
        for i in range(0, steps, size):
            frames.append(run.vae.decode(z[i:i + size]).cpu())
            yield Interpolation(torch.cat(frames), x.cpu(), recon, None, done=i + size >= steps)


def _validate(digit: int | None, count: int, seed: int) -> None:
    if digit is not None:
        DIGIT.check("digit", digit)
    COUNT.check("count", count), SEED.check("seed", seed)
