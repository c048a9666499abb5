"""A VAE trained from nothing (Kingma & Welling, 2014): reconstruction plus KL, the seed's recipe, with Adam at 1e-3.

The failure recipe weighs the KL term 25 times (a beta-VAE, Higgins et al. 2017, pushed too far): the cheapest
way to pay it is to ignore the digit, so every code decodes to the one average, blurred digit.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generators.scratch.nets import MlpVAE, init_weights, vae_terms

GRID = 100


@dataclass(frozen=True)
class VaeRecipe:
    latent_dim: int = 16
    hidden: int = 400
    lr: float = 1e-3
    batch_size: int = 128
    kl_weight: float = 1.0  # 1: the evidence lower bound itself
    max_steps: int = 0


FAILURE = VaeRecipe(kl_weight=25.0)


class VaeRun:
    """The VAE of one training, its optimizer and the fixed grid of latent codes."""

    family = "VAE"

    def __init__(self, recipe: VaeRecipe, seed: int, device: torch.device):
        self.recipe, self.seed, self.device = recipe, seed, device
        g = torch.Generator().manual_seed(seed)
        self.vae = init_weights(MlpVAE(recipe.latent_dim, recipe.hidden), g).to(device)
        self.opt = torch.optim.Adam(self.vae.parameters(), lr=recipe.lr)
        self.g = g
        self.grid = grid_inputs(recipe, seed)

    def step(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """One update on the weighted negative ELBO of a batch in [0, 1]; reconstruction and KL in nats/image."""
        logits, mu, logvar = self.vae(x, generator=self.g)
        recon, kl = vae_terms(logits, x, mu, logvar)
        self.opt.zero_grad(set_to_none=True)
        (recon + self.recipe.kl_weight * kl).backward()
        self.opt.step()
        return {"reconstruction": recon.item(), "KL": kl.item()}

    @torch.no_grad()
    def samples(self, seed: int | None = None) -> tuple[torch.Tensor, None]:
        """Decoded prior samples of the grid (GRID, 1, 28, 28) in [0, 1]; a VAE is not asked for a digit."""
        z = self.grid if seed is None else grid_inputs(self.recipe, seed)
        return self.vae.decode(z.to(self.device)).cpu(), None

    @torch.no_grad()
    def pixel_error(self, x: torch.Tensor) -> float:
        """Mean squared pixel error of reconstructions at the posterior mean of digits x in [0, 1]."""
        mu, _ = self.vae.encode(x.to(self.device))
        return F.mse_loss(self.vae.decode(mu), x.to(self.device)).item()

    def weights(self) -> dict[str, torch.Tensor]:
        return {f"vae.{k}": v for k, v in self.vae.state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.vae.load_state_dict({k.removeprefix("vae."): v for k, v in weights.items()})


def grid_inputs(recipe: VaeRecipe, seed: int) -> torch.Tensor:
    """The fixed grid: latent codes (GRID, latent_dim) from the prior N(0, I), from `seed` alone."""
    return torch.randn(GRID, recipe.latent_dim, generator=torch.Generator().manual_seed(seed))
