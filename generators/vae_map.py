"""The VAE's latent map: a 2-D projection of the 16-d latent fitted to separate the digit classes, and its way back.

The projection is Fisher's linear discriminant (Fisher, 1936; Bishop, PRML 4.1.6) computed from the class prior the
VAE ships (assets/vae/class_prior.safetensors: each class's mean and covariance of the VAE's codes of its 60,000
training digits): the two directions that maximise the spread between class means against the spread within each
class. PCA, the map's projection before, keeps the directions of largest total variance, where classes overlap.

Going back from a clicked 2-D point to a 16-d latent, `lift` uses the same class prior: the class most likely to land
on that point, then that class's Gaussian conditioned on landing there (its mean, Bishop 2.3.1), so the decoded digit
is the most typical one drawn there. (Averaging the classes by their probability there instead blurs the classes
together: two of the ten class centres then decoded as a 3.)
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatentProjection:
    """z (n, latent) <-> its point (n, 2) on the map."""

    centre: torch.Tensor  # (latent,) the mean of the class means
    axes: torch.Tensor  # (latent, 2) Fisher's discriminant directions, within-class variance 1 along each
    class_mean: torch.Tensor  # (10, latent)
    class_cov: torch.Tensor  # (10, latent, latent)

    @classmethod
    def fit(cls, class_mean: torch.Tensor, scale_tril: torch.Tensor) -> "LatentProjection":
        """Fisher's two directions from each class's latent mean (10, latent) and Cholesky factor (10, latent, latent),
        classes weighted alike (MNIST's are within 10% of each other)."""
        return cls.from_moments(class_mean, scale_tril.double() @ scale_tril.double().transpose(1, 2))

    @classmethod
    def from_latents(cls, z: torch.Tensor, labels: torch.Tensor, jitter: float = 1e-4) -> "LatentProjection":
        """The same from encoded digits (n, latent) and their labels (n,): for a VAE with no fitted class prior yet
        (a fresh `python -m training.train_vae`; `python -m training.fit_vae_prior` writes one)."""
        z, eye = z.double().cpu(), torch.eye(z.shape[1], dtype=torch.float64)
        mean = torch.stack([z[labels == c].mean(0) for c in range(10)])
        return cls.from_moments(mean, torch.stack([torch.cov(z[labels == c].T) + jitter * eye for c in range(10)]))

    @classmethod
    def from_moments(cls, class_mean: torch.Tensor, class_cov: torch.Tensor) -> "LatentProjection":
        mean, cov = class_mean.double(), class_cov.double()
        centre = mean.mean(0)
        within = cov.mean(0)  # (latent, latent)
        between = (mean - centre).T @ (mean - centre) / len(mean)
        chol = torch.linalg.cholesky(within)
        inv = torch.linalg.inv(chol)
        values, vectors = torch.linalg.eigh(inv @ between @ inv.T)  # ascending: the last two separate best
        axes = inv.T @ vectors[:, [-1, -2]]  # back from the whitened space: axesᵀ within axes = I
        return cls(centre.float(), axes.float(), class_mean.float(), cov.float())

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """(n, latent) -> (n, 2)."""
        return (z.float().cpu() - self.centre) @ self.axes

    def lift(self, p: torch.Tensor) -> torch.Tensor:
        """(n, 2) map points -> (n, latent): E[z | project(z) = p, class c] for the class c likeliest at p."""
        p = p.float()
        m = (self.class_mean - self.centre) @ self.axes  # (10, 2): each class's mean on the map
        cov_w = self.class_cov @ self.axes  # (10, latent, 2)
        s = self.axes.T @ cov_w  # (10, 2, 2): each class's covariance on the map
        d = p[:, None, :] - m[None]  # (n, 10, 2)
        solved = torch.linalg.solve(s[None].expand(len(p), -1, -1, -1), d[..., None])[..., 0]  # (n, 10, 2)
        log_r = -0.5 * (d * solved).sum(-1) - 0.5 * torch.logdet(s)[None]  # log N(p; m_c, s_c) + const
        c = log_r.argmax(1)  # (n,) the class likeliest at each point
        z_c = self.class_mean[c] + (cov_w[c] @ solved[torch.arange(len(p)), c][..., None])[..., 0]  # (n, latent)
        return z_c
