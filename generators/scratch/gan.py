"""A GAN trained from nothing (Goodfellow et al., 2014): the seed's recipe, noise 100 -> 784 pixels, Adam 2e-4 with
beta1 0.5 (Radford et al., 2015), with our improvements: conditioning on the digit (Mirza & Osindero, 2014; a
projection discriminator, Miyato & Koyama, 2018) and one-sided label smoothing (Salimans et al., 2016).

The failure recipe drops the conditioning and the smoothing and updates the generator five times for each update of
the discriminator: it learns to fool the discriminator of the moment with one shape, and collapses onto one or two
digits (mode collapse; bench/bench_scratch.py counts the distinct digits read).
"""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generators.scratch.nets import MlpDiscriminator, MlpGenerator, init_weights

GRID = 100  # samples in the fixed grid: 10 rows of the ten digits


@dataclass(frozen=True)
class GanRecipe:
    z_dim: int = 100
    hidden: int = 256
    conditional: bool = True
    lr_g: float = 1e-3  # the seed's 2e-4 learnt too slowly for a one-minute budget (bench/bench_scratch.py)
    lr_d: float = 1e-3
    beta1: float = 0.5
    batch_size: int = 64
    real_target: float = 0.9  # one-sided label smoothing: D aims at 0.9 for real digits (1.0 = off)
    g_steps: int = 1  # generator updates per discriminator update
    ema: float = 0.99  # the samples come from an exponential moving average of G (Karras et al., 2018); 0 = off
    max_steps: int = 0  # 0: the time budget alone ends the training


FAILURE = GanRecipe(conditional=False, real_target=1.0, g_steps=5)


class GanRun:
    """The generator and discriminator of one training, their optimizers, and the fixed grid of noise."""

    family = "GAN"

    def __init__(self, recipe: GanRecipe, seed: int, device: torch.device):
        self.recipe, self.seed, self.device = recipe, seed, device
        g = torch.Generator().manual_seed(seed)
        n_classes = 10 if recipe.conditional else 0
        self.G = init_weights(MlpGenerator(recipe.z_dim, recipe.hidden, n_classes), g).to(device)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)  # what the grid and the file show
        self.D = init_weights(MlpDiscriminator(recipe.hidden, n_classes), g).to(device)
        betas = (recipe.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=recipe.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=recipe.lr_d, betas=betas)
        self.g = g  # the training's noise, after the weights
        self.grid = grid_inputs(recipe, seed)

    def step(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One discriminator and one generator update on a batch of real digits in [0, 1]; the two losses."""
        r, labels = self.recipe, labels if self.recipe.conditional else None
        real = real * 2 - 1  # tanh range
        z = torch.randn(len(real), r.z_dim, generator=self.g).to(self.device)
        fake = self.G(z, labels)
        # 1. discriminator: real -> real_target, fake -> 0
        d_real, d_fake = self.D(real, labels), self.D(fake.detach(), labels)
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, r.real_target))
                  + F.softplus(d_fake).mean())
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # 2. generator: the non-saturating loss -log D(G(z)) (Goodfellow et al., 2014, section 3)
        for i in range(r.g_steps):
            if i:
                fake = self.G(torch.randn(len(real), r.z_dim, generator=self.g).to(self.device), labels)
            loss_g = F.softplus(-self.D(fake, labels)).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1 - r.ema)
        return {"D": loss_d.item(), "G": loss_g.item()}

    @torch.no_grad()
    def samples(self, seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The grid's digits (GRID, 1, 28, 28) in [0, 1] and the digit each was asked for (None: unconditional);
        another `seed` draws another grid."""
        z, labels = self.grid if seed is None else grid_inputs(self.recipe, seed)
        x = self.G_ema(z.to(self.device), None if labels is None else labels.to(self.device))
        return ((x + 1) / 2).cpu(), labels

    def weights(self) -> dict[str, torch.Tensor]:
        """What the file keeps: the generator (the discriminator is only needed to train)."""
        return {f"G.{k}": v for k, v in self.G_ema.state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.G_ema.load_state_dict({k.removeprefix("G."): v for k, v in weights.items()})


def grid_inputs(recipe: GanRecipe, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed grid: noise (GRID, z_dim) from `seed` alone, and the digits 0-9 in each row (conditional)."""
    z = torch.randn(GRID, recipe.z_dim, generator=torch.Generator().manual_seed(seed))
    return z, (torch.arange(GRID) % 10 if recipe.conditional else None)
