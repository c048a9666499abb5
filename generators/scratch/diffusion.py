"""A small diffusion model trained from nothing: DDPM (Ho et al., 2020) on a cosine noise schedule (Nichol &
Dhariwal, 2021), conditioned on the digit, sampled with deterministic DDIM (Song et al., 2021). The network predicts
the clean digit x_0 rather than the noise (DDPM's other parameterisation, their section 3.2): a small MLP that
predicted the noise was still at a loss of 0.58 after 1,500 steps, its samples one blob read as one digit, where
predicting x_0 gives the digit's rough shape within a few hundred steps.

The failure recipe stops training after ten steps: the denoiser has learnt little more than where ink lies, so
sampling turns the noise into noisy blobs (after 40 steps it already drew each class's average digit, 59% of them
read as a digit; after 10, none: bench/bench_scratch.py).
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generators.scratch.nets import MlpDenoiser, init_weights

GRID = 100


@dataclass(frozen=True)
class DiffusionRecipe:
    hidden: int = 512
    layers: int = 3
    timesteps: int = 1000  # of the forward (noising) process
    sample_steps: int = 10  # DDIM steps for the grid
    lr: float = 1e-3
    batch_size: int = 128
    max_steps: int = 0


FAILURE = DiffusionRecipe(max_steps=10)


def cosine_alpha_bar(timesteps: int) -> torch.Tensor:
    """(timesteps,) products of (1 - beta) up to each step, cosine schedule (Nichol & Dhariwal 2021, eq. 17)."""
    s = 0.008
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


class DiffusionRun:
    """The denoiser of one training, its optimizer and the fixed grid of starting noise."""

    family = "diffusion"

    def __init__(self, recipe: DiffusionRecipe, seed: int, device: torch.device):
        self.recipe, self.seed, self.device = recipe, seed, device
        g = torch.Generator().manual_seed(seed)
        self.net = init_weights(MlpDenoiser(recipe.hidden, recipe.timesteps, 10, recipe.layers), g).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=recipe.lr)
        self.alpha_bar = cosine_alpha_bar(recipe.timesteps).to(device)
        self.g = g
        self.grid = grid_inputs(seed)

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One update of the denoising loss ||x_0 - f(x_t, t, y)||^2 on a batch in [0, 1]."""
        x0 = x * 2 - 1
        noise = torch.randn(x0.shape, generator=self.g).to(self.device)
        t = torch.randint(0, self.recipe.timesteps, (len(x0),), generator=self.g).to(self.device)
        a = self.alpha_bar[t].view(-1, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise  # q(x_t | x_0), Ho et al. eq. 4
        loss = F.mse_loss(self.net(x_t, t, labels), x0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"denoising": loss.item()}

    @torch.no_grad()
    def samples(self, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The grid's digits (GRID, 1, 28, 28) in [0, 1], each row the digits 0-9, by DDIM from the grid's noise."""
        x, labels = self.grid if seed is None else grid_inputs(seed)
        for x, _ in self.ddim(x.to(self.device), labels.to(self.device), self.recipe.sample_steps):
            pass
        return ((x + 1) / 2).clamp(0, 1).cpu(), labels

    @torch.no_grad()
    def ddim(self, x: torch.Tensor, y: torch.Tensor, steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Deterministic DDIM from the noise x_T (B, 1, 28, 28) over `steps` of the schedule, for the digits y: after
        each step, (x, the model's clean digit x0), both in [-1, 1]; the last x is the finished digits."""
        ts = torch.linspace(self.recipe.timesteps - 1, 0, steps).round().long().tolist()
        for i, t in enumerate(ts):
            a = self.alpha_bar[t]
            a_next = self.alpha_bar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0, device=self.device)
            x0 = self.net(x, torch.full((len(x),), t, device=self.device), y).clamp(-1, 1)  # the clean digit
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()  # the noise that x0 leaves in x_t
            x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps  # DDIM, eta = 0 (Song et al., eq. 12)
            yield x, x0

    def weights(self) -> dict[str, torch.Tensor]:
        return {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict({k.removeprefix("net."): v for k, v in weights.items()})


def grid_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed grid: starting noise (GRID, 1, 28, 28) from `seed` alone, and the digits 0-9 in each row."""
    return torch.randn(GRID, 1, 28, 28, generator=torch.Generator().manual_seed(seed)), torch.arange(GRID) % 10
