"""Class-conditional denoising diffusion on MNIST, built from diffusers parts, and its streaming adapter.

The network is a diffusers `UNet2DModel` for 28x28 digits with an 11-way class embedding: classes 0-9 are the digits
and class 10 (`NO_LABEL`) is "no label", seen ~10% of the time in training, so one network gives both the
conditional and the unconditional noise prediction for classifier-free guidance (Ho & Salimans, 2022).

Guidance convention: eps = eps_uncond + (1 + guidance) * (eps_cond - eps_uncond). `guidance = 0` is the plain
conditional model (one UNet pass per step, no unconditional pass); larger values push samples toward their class.

`DigitDiffusionPipeline` is a `DiffusionPipeline` (unet + scheduler), saved with `save_pretrained` and loaded with
`DigitDiffusionPipeline.from_pretrained(folder)`. Its `denoise()` is a generator that yields every step; the
adapter `DiffusionSampler` validates requests and streams them. Images are (B, 1, 28, 28); the UNet works in
[-1, 1], everything handed out is in [0, 1], light digit on dark (MNIST polarity).
"""

import threading
from pathlib import Path

import torch

from generators.core.device import pick_device
from generators.core.errors import ModelUnavailable
from generators.core.limits import SEED, Range, check_choice
from generators.diffusion_steps import DISTILLED, NO_LABEL, SAMPLERS, DenoisingStep  # noqa: F401

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "diffusion"
STUDENT_ASSETS = ASSETS.with_name("diffusion-4step")  # the distilled first step (training/distill_diffusion.py)
# DPM-Solver++ (2nd order, Lu et al. 2022) and DDIM (eta = 0, Song et al. 2021) are deterministic ODE solvers:
# good from a few steps, little gained past ~50. UniPC (2nd order predictor-corrector, Zhao et al. 2023) reuses each
# step's model output to correct the last one: at 4 steps it is the closest of the three to its 20-step samples.
# DDPM is ancestral sampling (Ho et al. 2020): noise is added back at every step, so it needs many steps; 1000 is its
# full training schedule, fewer take strided timesteps with the variances recomputed for the stride (Nichol &
# Dhariwal, 2021, section 4). "Distilled" is DDIM at 4 steps whose first step (t = 999 -> 749, from pure noise) is
# taken by a second UNet (STUDENT_ASSETS) trained to land where the default 20-step DPM-Solver++ run is at t = 749;
# the other three are this UNet's: it runs at exactly 4 steps. The student's step is never guided; guidance, when
# asked, guides this UNet's steps below the interval (0.7: t = 499 and 249; 6 passes a digit at guidance > 0).
STEPS = {"DPM-Solver++": Range(1, 100), "UniPC": Range(1, 100), "DDIM": Range(1, 100), "DDPM": Range(50, 1000),
         DISTILLED: Range(4, 4)}
DEFAULT_STEPS = {"DPM-Solver++": 20, "UniPC": 4, "DDIM": 20, "DDPM": 1000, DISTILLED: 4}
COUNT = Range(1, 64)
GUIDANCE = Range(0, 10, whole=False)
# guidance only where t < interval x 1000: the noisiest steps decide the digit's layout and there guidance mostly
# costs variety (Kynkaenniemi et al., 2024, "Applying guidance in a limited interval improves sample and distribution
# quality"); 1 = every step (classic classifier-free guidance)
INTERVAL = Range(0.05, 1, whole=False)
# the tab's (guidance, interval) for each sampler at its default steps: the settings that read as asked while keeping
# the samples closest to real digits (bench/bench_diffusion.py; its figures in the cards and docs/results.md); UniPC's
# 4 steps (999, 749, 499, 249) start at the noisiest, so its first step must be guided
SAMPLER_GUIDANCE = {"DPM-Solver++": (2.0, 0.7), "UniPC": (1.0, 1.0), "DDIM": (2.0, 0.7), "DDPM": (2.0, 0.7),
                    DISTILLED: (2.0, 0.7)}
DEFAULT_GUIDANCE, DEFAULT_INTERVAL = SAMPLER_GUIDANCE["DPM-Solver++"]
DIGIT = Range(0, 9)
PIPELINE_NAMES = ("SCHEDULERS", "DigitDiffusionPipeline", "build_scheduler", "build_unet", "ddim_from_x0", "guided_at",
                  "make_scheduler", "to_unit", "unet_passes")


def __getattr__(name: str):
    """The pipeline's names, imported with diffusers on first use: the page starts without diffusers (PEP 562)."""
    if name in PIPELINE_NAMES:
        from generators import diffusion_pipeline

        return getattr(diffusion_pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def validate(*, digit: int | None, count: int, steps: int, guidance: float, seed: int, sampler: str,
             interval: float = 1.0) -> None:
    """Raises InputError for any request argument outside its limit; the steps range depends on the sampler."""
    if digit is not None:
        DIGIT.check("digit", digit)
    COUNT.check("count", count)
    check_choice("sampler", sampler, SAMPLERS)
    STEPS[sampler].check("steps", steps)
    GUIDANCE.check("guidance", guidance)
    INTERVAL.check("guidance_interval", interval)
    SEED.check("seed", seed)


class DiffusionSampler:
    """Loads the digit diffusion pipeline once (thread-safe) and streams denoising runs.

    Example:
        >>> sampler = DiffusionSampler()
        >>> for step in sampler.stream(digit=7, count=16, steps=20, guidance=1.0, seed=0, sampler="DPM-Solver++"):
        ...     print(step.index, step.total)  # step.sample and step.predicted: (16, 1, 28, 28) in [0, 1]
        >>> digits = step.sample  # the last step holds the finished digits
    """

    GENERATOR = "genai-playground diffusion (class-conditional UNet, assets/diffusion)"  # what its files say (C2PA)

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None, student: Path | None = None):
        self.path, self.device = Path(path), device
        self.student = Path(student) if student is not None else self.path.with_name(STUDENT_ASSETS.name)
        self._lock, self._pipe, self._student = threading.Lock(), None, None

    def load(self) -> "DigitDiffusionPipeline":
        """The pipeline on the adapter's device, loaded on the first call."""
        with self._lock:
            if self._pipe is None:
                self._pipe = self._from(self.path, "training.train_diffusion")
        return self._pipe

    def warm_up(self) -> None:
        """Loads the pipeline (and imports diffusers, seconds) ahead of the first request; for a background thread.
        A failure is left for that request to report."""
        try:
            self.load()
        except Exception:  # noqa: BLE001 - the first request raises it again, with its message
            pass

    def check_weights(self) -> None:
        """ModelUnavailable("weights_missing") if the model's files are not there, without loading them."""
        if not (self.path / "model_index.json").exists():
            raise ModelUnavailable("weights_missing", folder=str(self.path), script="training.train_diffusion")

    def load_student(self) -> "DigitDiffusionPipeline":
        """The distilled first step of "Distilled" (its UNet predicts x_0 at t = 999), loaded on its first use."""
        with self._lock:
            if self._student is None:
                self._student = self._from(self.student, "training.distill_diffusion")
        return self._student

    def parameter_count(self, sampler: str = "DPM-Solver++") -> int:
        """The parameters that draw a digit with `sampler`: the UNet's, and the student's too for "Distilled"."""
        nets = [self.load().unet, *([self.load_student().unet] if sampler == DISTILLED else [])]
        return sum(p.numel() for net in nets for p in net.parameters())

    def run_kwargs(self, sampler: str) -> dict:
        """How the teacher's pipeline runs `sampler`: "Distilled" is DDIM with the student's first step."""
        if sampler == DISTILLED:
            return {"sampler": "DDIM", "first_step": self.load_student().unet}
        return {"sampler": sampler}

    def _from(self, folder: Path, script: str) -> "DigitDiffusionPipeline":
        from generators.diffusion_pipeline import DigitDiffusionPipeline

        if not (folder / "model_index.json").exists():
            raise ModelUnavailable("weights_missing", folder=str(folder), script=script)
        self.device = self.device or pick_device()
        # not on "meta" first (accelerate's init_empty_weights): that patches torch.nn.Module process-wide, and a
        # model another thread builds meanwhile (a GAN request beside this warm-up) would get empty weights
        pipe = DigitDiffusionPipeline.from_pretrained(folder, low_cpu_mem_usage=False)
        pipe.unet.eval()
        return pipe.to(self.device)

    @staticmethod
    def draw(*, digit: int | None, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(labels (count,), x_T (count, 1, 28, 28)) from the seed alone; always drawn for COUNT.hi and sliced,
        so raising `count` keeps the digits already shown (for the deterministic samplers)."""
        n = int(COUNT.hi)
        noise = torch.randn((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed))[:count]
        if digit is None:  # "Any": each sample its own random digit, like the GAN tab
            labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed + 1))[:count]
        else:
            labels = torch.full((count,), digit)
        return labels, noise

    def stream(self, *, digit: int | None, count: int, steps: int, guidance: float, seed: int,
               sampler: str = "DPM-Solver++", interval: float = 1.0):
        """Yields a DenoisingStep per step; the last (done=True) holds the finished digits. Same seed, same digits.

        Closing the generator stops the run: no UNet call happens after the consumer stops pulling.
        """
        validate(digit=digit, count=count, steps=steps, guidance=guidance, seed=seed, sampler=sampler,
                 interval=interval)
        pipe, how = self.load(), self.run_kwargs(sampler)
        labels, noise = self.draw(digit=digit, count=count, seed=seed)
        # the step noise of DDPM comes from its own generator, seeded from the request (seed + 2: not the x_T stream)
        g = torch.Generator().manual_seed(seed + 2)
        yield from pipe.denoise(labels, steps=steps, guidance=float(guidance), generator=g, noise=noise,
                                interval=float(interval), **how)

    def sample(self, **request) -> DenoisingStep:
        """The last item of `stream(**request)`: the finished digits."""
        for step in self.stream(**request):
            pass
        return step
