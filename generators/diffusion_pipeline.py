"""The digit diffusion network and its pipeline: a diffusers `UNet2DModel` with an 11-way class embedding (classes
0-9 and `NO_LABEL`), the schedulers of generators/diffusion.py's samplers, and `DigitDiffusionPipeline`, whose
`denoise()` yields every step. generators/diffusion.py validates requests and streams them; training imports this.
"""

import inspect

import torch
from diffusers import (DDIMScheduler, DDPMScheduler, DiffusionPipeline, DPMSolverMultistepScheduler, UNet2DModel,
                       UniPCMultistepScheduler)

from generators.diffusion_steps import DISTILLED, NO_LABEL, SAMPLERS, DenoisingStep  # noqa: F401 - also named here

SCHEDULERS = {"DPM-Solver++": DPMSolverMultistepScheduler, "UniPC": UniPCMultistepScheduler, "DDIM": DDIMScheduler,
              "DDPM": DDPMScheduler, DISTILLED: DDIMScheduler}


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
            # grows with the steps until guided digits no longer read as asked (docs/results.md).
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
