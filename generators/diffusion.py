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

import inspect
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler,
                       UNet2DModel, UniPCMultistepScheduler)

from generators.core.device import pick_device
from generators.core.errors import ModelUnavailable
from generators.core.limits import SEED, Range, check_choice

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "diffusion"
STUDENT_ASSETS = ASSETS.with_name("diffusion-4step")  # the distilled first step (training/distill_diffusion.py)
NO_LABEL = 10  # the class id of "no label" (classifier-free guidance's unconditional branch)
DISTILLED = "Distilled"  # DDIM at 4 steps whose first step a distilled UNet takes (below)
SAMPLERS = ("DPM-Solver++", "UniPC", "DDIM", "DDPM", DISTILLED)
SCHEDULERS = {"DPM-Solver++": DPMSolverMultistepScheduler, "UniPC": UniPCMultistepScheduler, "DDIM": DDIMScheduler,
              "DDPM": DDPMScheduler, DISTILLED: DDIMScheduler}
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
# the tab's (guidance, interval) for each sampler at its default steps (the card's figures, 2,000 samples, floor
# 5.03): at 20 DPM-Solver++ steps, guidance 2 below 0.7 read 99.65% as asked at Frechet 8.13 (guidance 2 at every
# step: 100.00%, 35.06; none: 96.65%, 8.65); at UniPC's 4 steps (999, 749, 499, 249) the first must be guided: 0.7
# read 91.25%, guidance 1 at every step 99.80%; Distilled, guided on the model's two steps below 0.7: 99.35% at 6.69
# (unguided: 98.60%, 7.45; the GAN 99.85%, 7.81)
SAMPLER_GUIDANCE = {"DPM-Solver++": (2.0, 0.7), "UniPC": (1.0, 1.0), "DDIM": (2.0, 0.7), "DDPM": (2.0, 0.7),
                    DISTILLED: (2.0, 0.7)}
DEFAULT_GUIDANCE, DEFAULT_INTERVAL = SAMPLER_GUIDANCE["DPM-Solver++"]
DIGIT = Range(0, 9)


def build_unet(block_out_channels=(16, 32, 64), layers_per_block: int = 1, norm_num_groups: int = 8) -> UNet2DModel:
    """A small UNet for 28x28 digits: 28 -> 14 -> 7 and back, ResNet blocks only (no attention), 11 classes."""
    n = len(block_out_channels)
    return UNet2DModel(
        sample_size=28, in_channels=1, out_channels=1,
        block_out_channels=tuple(block_out_channels), layers_per_block=layers_per_block,
        down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n,
        add_attention=False,  # the mid block's self-attention at 7x7 costs time and buys little on MNIST
        norm_num_groups=norm_num_groups, num_class_embeds=NO_LABEL + 1,
    )


def build_scheduler() -> DDPMScheduler:
    """The training noise schedule: 1000 steps, cosine betas (Nichol & Dhariwal, 2021), epsilon prediction.

    "trailing" timesteps make the few-step samplers start from pure noise at t = 999 (Lin et al., 2024, table 2).
    """
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="epsilon",
                         clip_sample=True, clip_sample_range=1.0, timestep_spacing="trailing")


def make_scheduler(config, sampler: str):
    """A fresh scheduler of kind `sampler` from the saved training schedule (each request owns its own state)."""
    if sampler == "DPM-Solver++":
        # 2nd order multistep, a 1st-order last step and a final sigma of zero: stable at 1-10 steps. x_0 is
        # clipped to [-1, 1] as DDPM and DDIM clip it (thresholding with a max of 1): at t = 999 the cosine schedule
        # has sqrt(a_t) ~ 3e-5, so x_0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) magnifies any error in eps.
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       lower_order_final=True, final_sigmas_type="zero",
                                                       thresholding=True, sample_max_value=1.0)
    if sampler == "UniPC":  # the same clipping of x_0 and final sigma as DPM-Solver++ above
        return UniPCMultistepScheduler.from_config(config, solver_order=2, final_sigmas_type="zero",
                                                   thresholding=True, sample_max_value=1.0)
    return SCHEDULERS[sampler].from_config(config)


def guided_at(t, interval: float, config) -> bool:
    """Whether timestep t is in the guidance interval: t < interval x the schedule's training steps."""
    return int(t) < interval * config.num_train_timesteps


def unet_passes(config, *, steps: int, sampler: str, guidance: float, interval: float = 1.0) -> int:
    """UNet passes a digit costs under the schedule `config`: one a step, two where the step is guided."""
    scheduler = make_scheduler(config, sampler)
    scheduler.set_timesteps(steps)
    return sum(2 if guidance and guided_at(t, interval, config) else 1 for t in scheduler.timesteps)


def ddim_from_x0(x: torch.Tensor, x0: torch.Tensor, a_t: torch.Tensor, a_next: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step (eta = 0) from x_t to x_next given the clean estimate x0: the eps that x0 implies,
    eps = (x_t - sqrt(a_t) x0) / sqrt(1 - a_t), then x_next = sqrt(a_next) x0 + sqrt(1 - a_next) eps (Song et al.,
    2021, eq. 12); a_t, a_next: cumulative alphas, 1 for a_next lands on x0."""
    eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    return a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """UNet range [-1, 1] -> image range [0, 1], on the CPU."""
    return x.clamp(-1, 1).add(1).div(2).cpu()


@dataclass
class DenoisingStep:
    """One step of a denoising run; the last one a run yields has `done=True` and holds the finished digits."""

    index: int  # steps done so far, 1..total
    total: int
    sample: torch.Tensor  # (B, 1, 28, 28) in [0, 1]: x_t after this step (the finished digits when done)
    predicted: torch.Tensor  # (B, 1, 28, 28) in [0, 1]: the model's current guess of the clean digits, x_0
    labels: list[int]  # the digit each sample is conditioned on
    done: bool = False


class DigitDiffusionPipeline(DiffusionPipeline):
    """Class-conditional digit diffusion: `unet` predicts the noise, `scheduler` holds the training schedule.

    Example:
        >>> pipe = DigitDiffusionPipeline.from_pretrained("assets/diffusion")
        >>> g = torch.Generator().manual_seed(0)
        >>> digits = pipe(torch.tensor([3, 7]), steps=20, guidance=1.0, generator=g, sampler="DPM-Solver++")
    """

    def __init__(self, unet: UNet2DModel, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    def predict_noise(self, x: torch.Tensor, t, labels: torch.Tensor, guidance: float) -> torch.Tensor:
        """Classifier-free guided eps (B, 1, 28, 28); guidance 0 runs the conditional branch alone."""
        t = torch.full((len(x),), int(t), device=x.device)
        if guidance == 0:
            return self.unet(x, t, class_labels=labels).sample
        # 1. one batched pass: the first half conditional, the second half with "no label"
        both = self.unet(torch.cat([x, x]), torch.cat([t, t]),
                         class_labels=torch.cat([labels, torch.full_like(labels, NO_LABEL)])).sample
        eps_cond, eps_uncond = both.chunk(2)
        # 2. eps_uncond + w (eps_cond - eps_uncond), w = 1 + guidance (Ho & Salimans, 2022, eq. 6)
        return eps_uncond + (1 + guidance) * (eps_cond - eps_uncond)

    def clean_estimate(self, scheduler, out, x, eps, t) -> torch.Tensor:
        """The scheduler's pred_original_sample when it gives one, else x_0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)."""
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is not None:
            return x0
        a_t = scheduler.alphas_cumprod[int(t)].to(x.device)
        return (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()

    def guided(self, t, guidance: float, interval: float) -> float:
        """The guidance scale at timestep t: `guidance` inside the interval (guided_at, as unet_passes counts), else 0."""
        return guidance if guided_at(t, interval, self.scheduler.config) else 0.0

    @torch.no_grad()
    def denoise(self, labels: torch.Tensor, *, steps: int, guidance: float, generator: torch.Generator,
                sampler: str = "DPM-Solver++", noise: torch.Tensor | None = None, interval: float = 1.0,
                first_step: UNet2DModel | None = None):
        """Yields a DenoisingStep after each of `steps` steps; the last has done=True and the finished digits.

        `noise` (B, 1, 28, 28) is x_T; drawn from `generator` (a CPU generator) when not given. `interval`: guidance
        only at t < interval x 1000 (1 = at every step; an unguided step costs one UNet pass, not two).
        `first_step`: a distilled first step (training/distill_diffusion.py), a UNet that predicts x_0 from x_T at
        the first timestep; the run takes its DDIM step from there (sampler "DDIM"), then goes on with this
        pipeline's UNet. Where the first timestep is t = 999, sqrt(a_t) is 5e-5: an eps-predicting UNet's x_0 there
        is its eps error magnified 20,000 times, so a network asked for one good step from pure noise predicts x_0.
        """
        device = self.unet.device
        scheduler = make_scheduler(self.scheduler.config, sampler)
        scheduler.set_timesteps(steps, device=device)
        if noise is None:
            noise = torch.randn((len(labels), 1, 28, 28), generator=generator)
        x = noise.to(device) * scheduler.init_noise_sigma  # (B, 1, 28, 28) = x_T
        labels = labels.to(device)
        # the stochastic samplers (DDPM) draw their step noise from `generator`; ODE solvers take no generator
        accepts = inspect.signature(scheduler.step).parameters
        noise_from = {"generator": generator} if "generator" in accepts else {}
        if "use_clipped_model_output" in accepts:
            # DDIM: re-derive eps from the clipped x_0, as GLIDE does. Without it a guided eps (which lies outside
            # what the UNet predicts) walks x_t along an eps that disagrees with the clipped x_0, and the error
            # grows with the steps: at guidance 3 and 20 steps only 4% of the digits read as asked (100% with it).
            noise_from["use_clipped_model_output"] = True
        if first_step is not None and sampler != "DDIM":
            raise ValueError("a distilled first step is a DDIM step")
        ts = [int(t) for t in scheduler.timesteps]
        for i, t in enumerate(scheduler.timesteps):
            if i == 0 and first_step is not None:
                x0 = first_step(x, torch.full((len(x),), int(t), device=device), class_labels=labels).sample
                x0 = x0.clamp(-1, 1)
                a = scheduler.alphas_cumprod.to(device)
                a_next = a[ts[1]] if len(ts) > 1 else torch.ones((), device=device)
                x = ddim_from_x0(x, x0, a[int(t)], a_next)
            else:
                eps = self.predict_noise(scheduler.scale_model_input(x, t), t, labels,
                                         self.guided(t, guidance, interval))
                out = scheduler.step(eps, t, x, **noise_from)
                x0 = self.clean_estimate(scheduler, out, x, eps, t)
                x = out.prev_sample
            done = i == len(scheduler.timesteps) - 1
            yield DenoisingStep(i + 1, steps, to_unit(x), to_unit(x0), labels.tolist(), done)

    def __call__(self, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """The finished digits (B, 1, 28, 28) in [0, 1]: the last item of `denoise`."""
        for step in self.denoise(labels, **kwargs):
            pass
        return step.sample


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

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None, student: Path | None = None):
        self.path, self.device = Path(path), device
        self.student = Path(student) if student is not None else self.path.with_name(STUDENT_ASSETS.name)
        self._lock, self._pipe, self._student = threading.Lock(), None, None

    def load(self) -> DigitDiffusionPipeline:
        """The pipeline on the adapter's device, loaded on the first call."""
        with self._lock:
            if self._pipe is None:
                self._pipe = self._from(self.path, "training.train_diffusion")
        return self._pipe

    def load_student(self) -> DigitDiffusionPipeline:
        """The distilled first step of "Distilled" (its UNet predicts x_0 at t = 999), loaded on its first use."""
        with self._lock:
            if self._student is None:
                self._student = self._from(self.student, "training.distill_diffusion")
        return self._student

    def run_kwargs(self, sampler: str) -> dict:
        """How the teacher's pipeline runs `sampler`: "Distilled" is DDIM with the student's first step."""
        if sampler == DISTILLED:
            return {"sampler": "DDIM", "first_step": self.load_student().unet}
        return {"sampler": sampler}

    def _from(self, folder: Path, script: str) -> DigitDiffusionPipeline:
        if not (folder / "model_index.json").exists():
            raise ModelUnavailable("weights_missing", folder=str(folder), script=script)
        self.device = self.device or pick_device()
        pipe = DigitDiffusionPipeline.from_pretrained(folder)
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
