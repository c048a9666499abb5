"""What a digit diffusion run is asked for and yields, without diffusers: the sampler names, the "no label" class and
`DenoisingStep`. The page reads these at start; diffusers (and transformers and peft, which it imports) loads with the
pipeline on first use (generators/diffusion_pipeline.py)."""

from dataclasses import dataclass

import torch

NO_LABEL = 10  # the class id of "no label" (classifier-free guidance's unconditional branch)
DISTILLED = "Distilled"  # DDIM at 4 steps whose first step a distilled UNet takes (generators/diffusion.py)
SAMPLERS = ("DPM-Solver++", "UniPC", "DDIM", "DDPM", DISTILLED)


@dataclass
class DenoisingStep:
    """One step of a denoising run; the last one a run yields has `done=True` and holds the finished digits."""

    index: int  # steps done so far, 1..total
    total: int
    sample: torch.Tensor  # (B, 1, 28, 28) in [0, 1]: x_t after this step (the finished digits when done)
    predicted: torch.Tensor  # (B, 1, 28, 28) in [0, 1]: the model's current guess of the clean digits, x_0
    labels: list[int]  # the digit each sample is conditioned on
    done: bool = False
