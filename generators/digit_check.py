"""Does an upload look like a handwritten digit? Three measures of the (1, 1, 28, 28) digit that sketch_to_mnist made,
held against the same measures on held-out MNIST test digits:

- ink: the share of pixels above 0.5. A screenshot or a photo shrunk into the 20-px box turns into faint grey
  (almost no solid stroke); a filled shape covers half the box. Test digits cover 3-28%.
- the VAE's negative ELBO in nats (its bound on -log p(x), Kingma & Welling, 2014): how unlikely the digit is under
  the model the morph walks through. Noise, gradients and symbols score far above every test digit.
- our classifier's confidence: a digit it reads at under 60% is one in a hundred test digits.

An upload far outside the test digits' range is refused; one at its edge is used, with a warning.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generators.digits import DigitClassifier, DigitVAE
from generators.core.errors import InputError, Notice

UNSURE = 0.6  # classifier confidence under which a drawing is "little like a digit" (1% of test digits)


@dataclass(frozen=True)
class Likeness:
    """The measures of a batch of digits, one value per digit."""

    ink: torch.Tensor  # (B,) share of the 28x28 pixels above 0.5
    nelbo: torch.Tensor  # (B,) negative ELBO, nats
    reads: torch.Tensor  # (B,) the classifier's digit
    confidence: torch.Tensor  # (B,) its probability


@dataclass(frozen=True)
class Fence:
    """The ranges an upload is held to, measured on held-out test digits (`from_digits`)."""

    ink_lo: float  # refused below: half the thinnest test digit's ink
    ink_hi: float  # refused above: 1.5x the heaviest test digit's
    nelbo_refuse: float  # refused above: 1.5x the least likely test digit
    nelbo_warn: float  # warned above: the 99th percentile of test digits

    @classmethod
    def from_digits(cls, seen: Likeness) -> "Fence":
        return cls(ink_lo=0.5 * float(seen.ink.min()), ink_hi=1.5 * float(seen.ink.max()),
                   nelbo_refuse=1.5 * float(seen.nelbo.max()), nelbo_warn=float(torch.quantile(seen.nelbo, 0.99)))


@torch.inference_mode()
def likeness(vae: DigitVAE, classifier: DigitClassifier, x: torch.Tensor) -> Likeness:
    """The measures of digits `x` (B, 1, 28, 28) in [0, 1], on the models' device."""
    mu, logvar = vae.encode(x)
    recon = vae.decode(mu).clamp(1e-6, 1 - 1e-6)  # the mean's decoding: a one-sample ELBO without the noise
    bce = F.binary_cross_entropy(recon, x, reduction="none").sum((1, 2, 3))
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)  # Kingma & Welling, appendix B
    confidence, reads = torch.softmax(classifier(x), dim=1).max(1)
    return Likeness((x > 0.5).float().mean((1, 2, 3)).cpu(), (bce + kl).cpu(), reads.cpu(), confidence.cpu())


def judge(seen: Likeness, fence: Fence) -> Notice | None:
    """Raises InputError("vae_not_digit") for a digit far outside the test digits' range; a Notice
    ("vae_unsure_digit") for one at its edge; None for a digit like the test digits. `seen` holds one digit."""
    ink, nelbo = float(seen.ink[0]), float(seen.nelbo[0])
    # the message quotes the figure that refused it: an ink share inside the range said nothing about why
    if not fence.ink_lo <= ink <= fence.ink_hi:
        raise InputError("vae_not_digit", ink=f"{ink:.0%}", lo=f"{fence.ink_lo:.0%}", hi=f"{fence.ink_hi:.0%}")
    if nelbo > fence.nelbo_refuse:
        raise InputError("vae_unlikely_digit", nelbo=f"{nelbo:.0f}", most=f"{fence.nelbo_refuse:.0f}")
    confidence = float(seen.confidence[0])
    if nelbo > fence.nelbo_warn or confidence < UNSURE:
        return Notice("vae_unsure_digit", reads=int(seen.reads[0]), confidence=f"{confidence:.0%}")
    return None
