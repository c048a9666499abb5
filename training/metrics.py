"""Sample-quality figures shared by the GAN training script and bench/bench_digits.py."""

import torch


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2), in float64 (Heusel et al., 2017)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    w, v = torch.linalg.eigh(s_a)
    root_a = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(root_a @ s_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * cross)


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
    acc = (C(fake).argmax(1).cpu() == labels).float().mean().item()
    fd = frechet(C.features(fake).cpu(), C.features(real[:n].to(device)).cpu())
    return {"conditional_accuracy": round(acc, 4), "frechet": round(fd, 2)}
