"""The MNIST networks: a conditional DCGAN pair, a convolutional VAE and a grading classifier.

Side-effect free: training scripts, adapters, tests and benchmarks import these classes.
Each is a `PyTorchModelHubMixin`, so `save_pretrained(dir)` writes config.json + model.safetensors
and `Cls.from_pretrained(dir)` loads it back (the folder is also a valid Hub model repo).
Images are (B, 1, 28, 28); GAN images are in [-1, 1], VAE and classifier inputs in [0, 1].
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch.nn.utils.parametrizations import spectral_norm



class DigitGenerator(nn.Module, PyTorchModelHubMixin, tags=["gan", "mnist"]):
    """Class-conditional DCGAN generator: (z, label) -> a 28x28 digit in [-1, 1] (Radford et al., 2015)."""

    def __init__(self, z_dim: int = 100, n_classes: int = 10, ngf: int = 32):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.embed = nn.Embedding(n_classes, n_classes)
        self.project = nn.Sequential(  # (B, z+c) -> (B, ngf*4 * 7 * 7)
            nn.Linear(z_dim + n_classes, ngf * 4 * 7 * 7, bias=False),
            nn.BatchNorm1d(ngf * 4 * 7 * 7),
            nn.ReLU(True),
        )
        self.ngf = ngf
        self.net = nn.Sequential(
            # state size. (ngf*4) x 7 x 7
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 14 x 14
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1),
            nn.Tanh(),
            # state size. 1 x 28 x 28
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.from_embedding(z, self.embed(labels))

    def from_embedding(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """(z, class embedding (B, n_classes)) -> digits; a mix of two digits' embeddings morphs one into the other."""
        h = self.project(torch.cat([z, e], dim=1))
        return self.net(h.view(-1, self.ngf * 4, 7, 7))


class DigitDiscriminator(nn.Module, PyTorchModelHubMixin, tags=["gan", "mnist"]):
    """Projection discriminator (Miyato & Koyama, 2018) with spectral norm: (image, label) -> realness logit."""

    def __init__(self, n_classes: int = 10, ndf: int = 32, aux_head: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            # input is 1 x 28 x 28
            spectral_norm(nn.Conv2d(1, ndf, 4, 2, 1)),
            nn.LeakyReLU(0.2, True),
            # state size. ndf x 14 x 14
            spectral_norm(nn.Conv2d(ndf, ndf * 2, 4, 2, 1)),
            nn.LeakyReLU(0.2, True),
            # state size. (ndf*2) x 7 x 7
            spectral_norm(nn.Conv2d(ndf * 2, ndf * 4, 3, 2, 1)),
            nn.LeakyReLU(0.2, True),
            # state size. (ndf*4) x 4 x 4
        )
        self.linear = spectral_norm(nn.Linear(ndf * 4 * 4 * 4, 1))
        self.embed = spectral_norm(nn.Embedding(n_classes, ndf * 4 * 4 * 4))
        # AC-GAN's auxiliary classifier (Odena et al., 2017): which digit is this? Trained on real digits only.
        self.classify = nn.Linear(ndf * 4 * 4 * 4, n_classes) if aux_head else None

    def realness_and_class(self, x: torch.Tensor, labels: torch.Tensor):
        """(realness logit (B,), class logits (B, n_classes) or None)."""
        h = self.net(x).flatten(1)  # (B, ndf*4*4*4)
        realness = self.linear(h).squeeze(1) + (self.embed(labels) * h).sum(1)
        return realness, (self.classify(h) if self.classify is not None else None)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.realness_and_class(x, labels)[0]  # (B,)


class DigitVAE(nn.Module, PyTorchModelHubMixin, tags=["vae", "mnist"]):
    """Convolutional VAE with a Gaussian latent and a Bernoulli decoder (Kingma & Welling, 2014)."""

    def __init__(self, latent_dim: int = 16, width: int = 32, hidden: int = 256):
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.ReLU(True),  # width x 14 x 14
            nn.Conv2d(width, width * 2, 4, 2, 1), nn.ReLU(True),  # (width*2) x 7 x 7
            nn.Flatten(),
            nn.Linear(width * 2 * 7 * 7, hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * latent_dim),  # mu and log-variance
        )
        self.decoder_fc = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, width * 2 * 7 * 7), nn.ReLU(True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1), nn.ReLU(True),  # width x 14 x 14
            nn.ConvTranspose2d(width, 1, 4, 2, 1),  # 1 x 28 x 28, logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, latent) each
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.decoder_fc(z).view(-1, self.width * 2, 7, 7))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B, latent_dim) -> pixel means in [0, 1], (B, 1, 28, 28)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)  # reparameterisation trick
        return self.decode_logits(z), mu, logvar


def vae_loss(logits, x, mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-batch-mean (reconstruction, KL) in nats per image (Kingma & Welling, appendix B)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.shape[0]
    return recon, kl


class DigitClassifier(nn.Module, PyTorchModelHubMixin, tags=["classifier", "mnist"]):
    """A small CNN that grades generated digits; `features` gives the vectors for the Frechet distance."""

    def __init__(self, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(True),
            nn.MaxPool2d(2),  # width x 14 x 14
            nn.Conv2d(width, width * 2, 3, padding=1), nn.ReLU(True),
            nn.MaxPool2d(2),  # (width*2) x 7 x 7
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(width * 2 * 7 * 7, feature_dim), nn.ReLU(True),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(feature_dim, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, 1, 28, 28) -> (B, feature_dim)."""
        return self.body((x - 0.1307) / 0.3081)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
