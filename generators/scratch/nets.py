"""The small networks trained from scratch in the Train-from-scratch tab: sized to learn visibly within a minute on
one CPU thread, so fully connected (on 28 x 28 digits a convolution costs more per step than it saves in steps).

Images are (B, 1, 28, 28); the GAN's in [-1, 1], the VAE's and the denoiser's in [0, 1] and [-1, 1] respectively.
Weights are drawn by `init_weights(module, generator)`, never from torch's global generator, so a seed reproduces
a training whatever other threads draw meanwhile.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PIXELS = 28 * 28


def init_weights(module: nn.Module, g: torch.Generator) -> nn.Module:
    """PyTorch's default initialisation of each Linear and Embedding (kaiming-uniform, a = sqrt(5); N(0, 1)), drawn
    from `g`."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            if m.bias is not None:
                bound = 1 / math.sqrt(m.in_features)
                nn.init.uniform_(m.bias, -bound, bound, generator=g)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, generator=g)
    return module


class MlpGenerator(nn.Module):
    """(z, label) -> a digit in [-1, 1]: the seed's MLP generator (noise 100 -> 784 pixels), conditioned on the
    digit by a label embedding concatenated to the noise (Mirza & Osindero, 2014); n_classes 0 = unconditional."""

    def __init__(self, z_dim: int = 100, hidden: int = 256, n_classes: int = 10):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.embed = nn.Embedding(n_classes, n_classes) if n_classes else None
        self.net = nn.Sequential(
            nn.Linear(z_dim + n_classes, hidden), nn.LeakyReLU(0.2, True),  # (B, hidden)
            nn.Linear(hidden, hidden * 2), nn.LeakyReLU(0.2, True),  # (B, 2 hidden)
            nn.Linear(hidden * 2, PIXELS), nn.Tanh(),  # (B, 784)
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.cat([z, self.embed(labels)], 1) if self.embed is not None else z
        return self.net(h).view(-1, 1, 28, 28)


class MlpDiscriminator(nn.Module):
    """(image, label) -> realness logit (B,); conditioned by projection (Miyato & Koyama, 2018): the label's
    embedding dotted with the features is added to the logit. n_classes 0 = unconditional."""

    def __init__(self, hidden: int = 256, n_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(PIXELS, hidden * 2), nn.LeakyReLU(0.2, True),  # (B, 2 hidden)
            nn.Linear(hidden * 2, hidden), nn.LeakyReLU(0.2, True),  # (B, hidden)
        )
        self.head = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(n_classes, hidden) if n_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        logit = self.head(h).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(labels) * h).sum(1) / math.sqrt(h.shape[1])
        return logit


class MlpVAE(nn.Module):
    """The VAE of Kingma & Welling (2014, appendix C): a Gaussian encoder, a Bernoulli decoder, one hidden layer
    each (784 -> hidden -> 2 x latent; latent -> hidden -> 784 logits)."""

    def __init__(self, latent_dim: int = 16, hidden: int = 400):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(True),
                                     nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(True), nn.Linear(hidden, PIXELS))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, latent) each
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B, latent_dim) -> pixel means in [0, 1], (B, 1, 28, 28)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        return self.decode_logits(mu + eps * torch.exp(0.5 * logvar)), mu, logvar  # reparameterisation trick


def vae_terms(logits, x, mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    """(reconstruction, KL) in nats per image, batch means (Kingma & Welling, appendix B)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    return recon, kl


def timestep_features(t: torch.Tensor, steps: int, dim: int = 64) -> torch.Tensor:
    """Sinusoidal features of the diffusion step (Vaswani et al., 2017; Ho et al., 2020): (B,) -> (B, dim)."""
    freqs = torch.exp(-math.log(1000.0) * torch.arange(dim // 2, device=t.device) / (dim // 2))
    angle = (t.float() / steps * 1000.0)[:, None] * freqs  # (B, dim / 2)
    return torch.cat([angle.sin(), angle.cos()], 1)


class MlpDenoiser(nn.Module):
    """(noisy digit x_t, step t, label) -> the predicted clean digit x_0, (B, 1, 28, 28): a residual MLP whose hidden
    layers each receive the step's and the label's embedding."""

    def __init__(self, hidden: int = 512, steps: int = 200, n_classes: int = 10, layers: int = 3):
        super().__init__()
        self.steps = steps
        self.inp = nn.Linear(PIXELS, hidden)
        self.time = nn.Sequential(nn.Linear(64, hidden), nn.SiLU())
        self.label = nn.Embedding(n_classes, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, PIXELS)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cond = self.time(timestep_features(t, self.steps)) + self.label(labels)  # (B, hidden)
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = h + block(F.silu(h + cond))  # (B, hidden)
        return self.out(F.silu(h)).view(-1, 1, 28, 28)
