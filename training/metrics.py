"""Evaluation figures shared by the training scripts and bench/: classifier accuracy, VAE test figures, and the
sample quality of a conditional generator (class accuracy and Frechet distance on our classifier's features)."""

import torch
import torch.nn.functional as F

from generators.digits import vae_loss
from training.mnist import load_mnist


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), in float64 (Heusel et al., 2017)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(s_a)
    root_a = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(root_a @ s_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * cross)


REFERENCE_SEED = 0


def reference_order(images: torch.Tensor, seed: int = REFERENCE_SEED) -> torch.Tensor:
    """The MNIST test digits in a seeded random order, so that the first n are a fair sample to grade against.

    The stored order is not: the first 5,000 test digits come from NIST's SD-3 (written by Census Bureau staff), the
    last 5,000 from SD-1 (by students), and the training set mixes the two writer groups. Graded against the first
    2,000, 2,000 random training digits scored a Frechet distance of 10.6-13.0, where two disjoint 2,000-digit test
    sets drawn at random score 4.3-5.7: a perfect copy of the training data would have read as 3x "the floor".
    """
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed)).to(images.device)]


def reference_digits(data, split: str = "test", seed: int = REFERENCE_SEED) -> torch.Tensor:
    """The digits of an MNIST split (N, 1, 28, 28) in [0, 1], in reference_order: what every grader compares with."""
    return reference_order(load_mnist(data, split)[0], seed)


@torch.no_grad()
def training_copy(C, train: torch.Tensor, real: torch.Tensor) -> float:
    """The Frechet distance that training digits (`reference_digits(data, "train")[:n]`) score against real[:n]: what
    a generator that copied its training data would score, beside the real-vs-real floor (two sets of test digits)."""
    n = len(train)
    return frechet(C.features(train.to(real.device)).cpu(), C.features(real[:n]).cpu())


@torch.no_grad()
def classifier_accuracy(model, images: torch.Tensor, labels: torch.Tensor, device) -> float:
    """Share of `images` (N, 1, 28, 28) in [0, 1] that `model` labels correctly."""
    model.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        logits = model(images[i:i + 1000].to(device))
        correct += (logits.argmax(1).cpu() == labels[i:i + 1000]).sum().item()
    return correct / len(images)


@torch.no_grad()
def vae_figures(model, images: torch.Tensor, device) -> dict:
    """Test-set figures per image: Bernoulli reconstruction NLL, KL, negative ELBO (nats), pixel MSE at the mean."""
    model.eval()
    g = torch.Generator(device=device).manual_seed(0)
    recon = kl = mse = 0.0
    for i in range(0, len(images), 1000):
        x = images[i:i + 1000].to(device)
        logits, mu, logvar = model(x, generator=g)
        r, k = vae_loss(logits, x, mu, logvar)
        recon, kl = recon + r.item() * len(x), kl + k.item() * len(x)
        mse += F.mse_loss(model.decode(mu), x, reduction="sum").item() / 784
    n = len(images)
    return {"recon_nll_nats": recon / n, "kl_nats": kl / n, "neg_elbo_nats": (recon + kl) / n,
            "pixel_mse_at_mean": mse / n}


@torch.no_grad()
def gan_quality(G, C, real: torch.Tensor, n: int, seed: int = 0) -> dict:
    """Class accuracy of n conditional samples as read by classifier C, and their Frechet distance on C's
    features to the first n of `real` (images in [0, 1]); G and C on the same device."""
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    z = torch.randn(n, G.z_dim, generator=g)
    G.eval()
    fake = torch.cat([(G(z[i:i + 500].to(device), labels[i:i + 500].to(device)) + 1) / 2 for i in range(0, n, 500)])
    return sample_quality(C, fake, labels, real[:n])


@torch.no_grad()
def sample_quality(C, fake: torch.Tensor, labels: torch.Tensor, real: torch.Tensor) -> dict:
    """Class accuracy of `fake` (asked for `labels`) as read by C, and its Frechet distance to `real`."""
    device = next(C.parameters()).device
    fake, real = fake.to(device), real.to(device)
    acc = (C(fake).argmax(1).cpu() == labels.cpu()).float().mean().item()
    fd = frechet(C.features(fake).cpu(), C.features(real).cpu())
    return {"conditional_accuracy": round(acc, 4), "frechet": round(fd, 2)}
