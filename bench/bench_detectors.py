"""How well our GAN's discriminator tells real digits from GAN digits: the ROC AUC the Provenance tab shows beside its
realness score, so that nobody reads one score as a verdict.

    nice -n 10 python -m bench.bench_detectors             # 1,000 real test digits vs 1,000 GAN digits; writes
                                                           # assets/gan/detector.json
    python -m bench.bench_detectors --dry-run              # 100 vs 100, writes nothing

Real digits are the first N of MNIST's test split (never seen in training); GAN digits are N samples at truncation 1
(the tab's default), classes drawn uniformly, seeds 0, 1, ... . Each digit is scored as the checker scores an upload:
sigmoid(D(x, label)) with the label our classifier reads, since an upload comes with no label; the AUC with the true
(asked) label is printed beside it. AUC = P(score of a random real digit > score of a random GAN digit), ties half
(Mann-Whitney U / (n_real * n_fake)); 0.5 is chance. The 95% interval: 200 bootstrap resamples of both sets.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from generators.gan import ASSETS, COUNT, GanSampler
from training.mnist import DEFAULT_DATA, load_mnist

OUT = ASSETS / "gan" / "detector.json"


def auc(real: np.ndarray, fake: np.ndarray) -> float:
    """ROC AUC of "real scores higher": the share of (real, fake) pairs ordered right, ties counting half."""
    r, f = real[:, None], fake[None, :]  # (n_real, 1), (1, n_fake): all pairs, 1e6 for 1,000 each
    return float((r > f).mean() + 0.5 * (r == f).mean())


def bootstrap(real: np.ndarray, fake: np.ndarray, reps: int = 200) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    values = [auc(rng.choice(real, len(real)), rng.choice(fake, len(fake))) for _ in range(reps)]
    return tuple(float(q) for q in np.quantile(values, [0.025, 0.975]))


@torch.inference_mode()
def scores(sampler: GanSampler, x: torch.Tensor, labels: torch.Tensor) -> dict[str, np.ndarray]:
    """x (B, 1, 28, 28) in [0, 1] -> realness with the classifier's reading as label, and with `labels`."""
    _, D, C = sampler.load()
    x, labels = x.to(sampler.device), labels.to(sampler.device)
    reads = C(x).argmax(1)
    signed = x * 2 - 1  # the discriminator takes the generator's tanh range
    return {"read": torch.sigmoid(D(signed, reads)).cpu().numpy(),
            "true": torch.sigmoid(D(signed, labels)).cpu().numpy()}


def gan_digits(sampler: GanSampler, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for seed in range(-(-n // COUNT.hi)):
        batch = sampler.sample(digit=None, count=COUNT.hi, seed=seed, truncation=1.0)
        images.append(batch.images), labels.append(torch.tensor(batch.labels))
    return torch.cat(images)[:n], torch.cat(labels)[:n]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with MNIST's IDX files")
    p.add_argument("--n", type=int, default=1000, help="real test digits, and as many GAN digits")
    p.add_argument("--out", default=str(OUT), help="where the figures go (the Provenance tab reads them)")
    p.add_argument("--dry-run", action="store_true", help="100 vs 100, nothing written")
    args = p.parse_args(argv)
    n = 100 if args.dry_run else args.n
    t0 = time.perf_counter()
    sampler = GanSampler()
    real_x, real_y = load_mnist(args.data, "test")
    real = scores(sampler, real_x[:n], real_y[:n])
    fake = scores(sampler, *gan_digits(sampler, n))
    result = {"auc": auc(real["read"], fake["read"]), "auc_95": bootstrap(real["read"], fake["read"]),
              "auc_true_label": auc(real["true"], fake["true"]),
              "median_realness_real": float(np.median(real["read"])),
              "median_realness_gan": float(np.median(fake["read"])),
              "real": n, "generated": n, "truncation": 1.0, "label": "the classifier's reading",
              "data": "MNIST test split, first N", "command": "python -m bench.bench_detectors"}
    print(f"{n} real test digits vs {n} GAN digits (truncation 1), {time.perf_counter() - t0:.1f} s")
    print(f"discriminator ROC AUC, label = classifier's reading: {result['auc']:.3f} "
          f"(95% bootstrap {result['auc_95'][0]:.3f}-{result['auc_95'][1]:.3f}); with the true label: "
          f"{result['auc_true_label']:.3f}")
    print(f"median realness: real {result['median_realness_real']:.3f}, GAN {result['median_realness_gan']:.3f}")
    if not args.dry_run:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
