"""Digits of a chosen class from the VAE: a class-conditional prior over its latent space, decoded.

The VAE was trained unconditionally, so its own prior N(0, I) draws any digit. `training/fit_vae_prior.py` fits
one Gaussian per class, N(mu_c, Sigma_c) with a full 16x16 covariance, to the VAE's latent means of that class's
MNIST training digits; sampling z ~ N(mu_c, Sigma_c) and decoding gives digits of class c (an "ex-post density
estimation" prior, Ghosh et al., 2020, with one Gaussian per class instead of a mixture).
"""

import threading
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from generators.core.device import pick_device, require_weights
from generators.digits import DigitVAE
from generators.core.errors import ModelUnavailable
from generators.core.limits import SEED, Range

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "vae"
PRIOR_FILE = "class_prior.safetensors"
COUNT = Range(1, 64)
DIGIT = Range(0, 9)


def read_figures(path: Path) -> dict[str, str]:
    """The measured figures fit_vae_prior.py stored in the prior file's metadata ({} when there is no file)."""
    if not Path(path).exists():
        return {}
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


class VaeClassPrior:
    """Loads the VAE and its per-class latent Gaussians once; draws digits of a class on demand.

    Example:
        >>> prior = VaeClassPrior()
        >>> sevens = prior.sample(digit=7, count=16, seed=0)  # (16, 1, 28, 28) in [0, 1], light on dark
    """

    def __init__(self, path: Path = ASSETS, device: torch.device | None = None, prior: Path | None = None):
        self.path, self.device = Path(path), device
        self.prior_path = Path(prior) if prior else self.path / PRIOR_FILE  # the fitted Gaussians
        self._lock, self._loaded = threading.Lock(), None

    def load(self) -> tuple[DigitVAE, dict[str, torch.Tensor]]:
        """(the VAE, {"mean": (10, latent), "scale_tril": (10, latent, latent)}), loaded on the first call."""
        with self._lock:
            if self._loaded is None:
                require_weights(self.path, "training.train_vae")
                if not self.prior_path.exists():
                    raise ModelUnavailable("weights_missing", folder=str(self.prior_path),
                                           script="training.fit_vae_prior")
                self.device = self.device or pick_device()
                vae = DigitVAE.from_pretrained(self.path).to(self.device).eval()
                prior = {k: v.to(self.device) for k, v in load_file(self.prior_path).items()}
                self._loaded = vae, prior
        return self._loaded

    def figures(self) -> dict[str, str]:
        """The prior's measured figures (class accuracy, Frechet distance, floor, how it was fitted)."""
        return read_figures(self.prior_path)

    def parameter_count(self) -> int:
        """The decoder's parameters: what draws a digit."""
        vae = self.load()[0]
        return sum(p.numel() for p in (*vae.decoder_fc.parameters(), *vae.decoder.parameters()))

    @torch.inference_mode()
    def sample(self, *, digit: int, count: int, seed: int) -> torch.Tensor:
        """`count` digits of class `digit`, (count, 1, 28, 28) in [0, 1]; the same seed gives the same digits.

        The noise is drawn for COUNT.hi and sliced, so raising `count` keeps the digits already shown.
        """
        digit, count, seed = DIGIT.check("digit", digit), COUNT.check("count", count), SEED.check("seed", seed)
        vae, prior = self.load()
        eps = torch.randn((int(COUNT.hi), vae.latent_dim), generator=torch.Generator().manual_seed(seed))[:count]
        # z = mu_c + L_c eps, with Sigma_c = L_c L_c^T: (count, latent)
        z = prior["mean"][digit] + eps.to(self.device) @ prior["scale_tril"][digit].T
        return vae.decode(z).cpu()
