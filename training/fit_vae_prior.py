"""Fits the VAE's class-conditional prior: one Gaussian per digit over the latent means of its training digits.

    python -m training.fit_vae_prior                      # writes assets/vae/class_prior.safetensors (~1 min, CPU)
    python -m training.fit_vae_prior --dry-run --out /tmp/prior.safetensors   # 2,000 digits, for CI

Recipe: encode the 60,000 MNIST training digits with the shipped VAE, take each one's latent mean mu(x), and fit
N(mu_c, Sigma_c) to the means of class c (sample mean and covariance, plus 1e-4 I for a safe Cholesky factor). The
file holds mean (10, latent) and scale_tril (10, latent, latent), and, in its metadata, the figures measured here
with the bench's protocol: class accuracy of `--eval` balanced samples read by our classifier, their Frechet
distance on its features to `--eval` test digits, and the real-vs-real floor (those digits against the next `--eval`);
the test digits are taken in the seeded random order of training/metrics.py's reference_digits.
"""

import argparse
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from generators.digits import DigitClassifier, DigitVAE
from generators.vae_prior import PRIOR_FILE, VaeClassPrior
from training import data
from training.metrics import frechet, reference_digits, sample_quality
from training.mnist import DEFAULT_DATA, load_mnist

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def fit(vae: DigitVAE, images: torch.Tensor, labels: torch.Tensor, jitter: float = 1e-4) -> dict[str, torch.Tensor]:
    """{"mean": (10, latent), "scale_tril": (10, latent, latent)} of the latent means of each class."""
    mu = torch.cat([vae.encode(images[i:i + 1000])[0] for i in range(0, len(images), 1000)])  # (N, latent)
    means, trils = [], []
    for c in range(10):
        z = mu[labels == c].double()
        cov = torch.cov(z.T) + jitter * torch.eye(z.shape[1], dtype=z.dtype)
        means.append(z.mean(0))
        trils.append(torch.linalg.cholesky(cov))
    return {"mean": torch.stack(means).float().contiguous(), "scale_tril": torch.stack(trils).float().contiguous()}


@torch.no_grad()
def evaluate(prior: VaeClassPrior, classifier: DigitClassifier, real: torch.Tensor, n: int) -> dict[str, str]:
    """Class accuracy and Frechet distance of n balanced prior samples, and the real-vs-real floor, as strings."""
    per_class = -(-n // 10)
    # (10 * per_class, 1, 28, 28): each class drawn in batches of 64 from seeds 0, 1, ..., then trimmed
    fake = torch.cat([torch.cat([prior.sample(digit=c, count=64, seed=s) for s in range(-(-per_class // 64))])
                      [:per_class] for c in range(10)])[:n]
    labels = torch.arange(10).repeat_interleave(per_class)[:n]
    q = sample_quality(classifier, fake, labels, real[:n])
    floor = frechet(classifier.features(real[:n]), classifier.features(real[n:2 * n]))
    return {"class_accuracy": f"{q['conditional_accuracy']:.4f}", "frechet": f"{q['frechet']:.2f}",
            "frechet_floor": f"{floor:.2f}", "eval_samples": str(n)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the MNIST IDX files")
    p.add_argument("--vae", default=str(ROOT / "assets" / "vae"), help="the trained VAE folder")
    p.add_argument("--classifier", default=str(ROOT / "assets" / "classifier"), help="grades the samples")
    p.add_argument("--out", default=None, help=f"the prior file (default: <vae>/{PRIOR_FILE})")
    p.add_argument("--eval", type=int, default=2000, metavar="N", help="samples graded for the figures")
    p.add_argument("--dry-run", action="store_true", help="fit on 2,000 digits, grade 200, for CI")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(0)
    t0 = time.time()
    x_train, y_train = load_mnist(args.data, "train")
    if args.dry_run:
        x_train, y_train, args.eval = x_train[:2000], y_train[:2000], 200
    vae = DigitVAE.from_pretrained(args.vae).eval()
    prior = fit(vae, x_train, y_train)
    out = Path(args.out or Path(args.vae) / PRIOR_FILE)
    fitted = {"fitted_on": f"MNIST training digits, {len(x_train)}", "fit_seconds": f"{time.time() - t0:.1f}",
              "fit_device": "cpu"}
    save_file(prior, str(out), metadata=fitted)
    # graded as the app draws from it: the adapter reading the file just written
    sampler = VaeClassPrior(Path(args.vae), torch.device("cpu"), prior=out)
    classifier = DigitClassifier.from_pretrained(args.classifier).eval()
    figures = evaluate(sampler, classifier, reference_digits(args.data), args.eval)
    save_file(prior, str(out), metadata={**fitted, **figures})
    print(f"wrote {out}: {fitted | figures}")


if __name__ == "__main__":
    data.exit_plainly(main)  # absent data: what is missing, not a traceback
