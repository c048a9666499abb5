"""Every training script runs end to end with --dry-run and writes a folder that loads back."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,  # training dry runs: the second tier
              pytest.mark.usefixtures("mnist_dir")]  # conftest.py: skips, with the reason, without MNIST


def run(script: str, tmp_path: Path, out: Path | None = None, *extra: str) -> Path:
    """`python -m training.<script> --dry-run` from the repository root, as the README says to run it."""
    out = out or tmp_path / "out"
    subprocess.run([sys.executable, "-m", f"training.{script.removesuffix('.py')}", "--dry-run", "--out", str(out),
                    "--run-dir", str(tmp_path / "run"), *extra], check=True, cwd=ROOT, timeout=300,
                   capture_output=True)
    return out


def test_classifier_dry_run(tmp_path):
    from generators.digits import DigitClassifier

    out = run("train_classifier.py", tmp_path)
    assert DigitClassifier.from_pretrained(out).head[1].out_features == 10
    assert (out / "metrics.json").exists()


def test_vae_dry_run(tmp_path):
    from generators.vae import VaeInterpolator

    out = run("train_vae.py", tmp_path)
    vae = VaeInterpolator(out)
    frames = list(vae.stream(start=vae.test_digit(0, 0), end=vae.test_digit(9, 0), steps=4))[-1].frames
    assert frames.shape == (4, 1, 28, 28) and vae.bank["digits"].shape == (1000, 1, 28, 28)


def test_gan_dry_run(tmp_path):
    from generators.digits import DigitClassifier
    from generators.gan import GanSampler

    run("train_gan.py", tmp_path, out=tmp_path / "assets" / "gan")
    DigitClassifier(width=4, feature_dim=8).save_pretrained(tmp_path / "assets" / "classifier")  # not under test
    assert GanSampler(tmp_path / "assets").sample(digit=1, count=2, seed=0).images.shape == (2, 1, 28, 28)


def test_gan_fine_tune_starts_from_shipped_weights(tmp_path):
    import json

    out = run("train_gan.py", tmp_path, None, "--init", str(ROOT / "assets" / "gan"), "--lr", "5e-5",
              "--eval", "200", "--classifier", str(ROOT / "assets" / "classifier"))
    (graded,) = json.loads((out / "metrics.json").read_text())["eval_history"]
    # three low-rate batches keep the shipped quality; a generator that started from scratch reads as ~10%
    assert graded["conditional_accuracy"] > 0.9 and graded["frechet"] > 0


def test_text_dry_run(tmp_path, books_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = run("train_text.py", tmp_path)
    model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    ids = tok("The old captain", return_tensors="pt").input_ids
    assert model(ids).logits.shape[-1] == len(tok)


def test_the_graders_reference_digits_are_a_seeded_fair_sample_of_the_test_set(mnist_dir):
    """reference_order shuffles the test digits reproducibly, so their first n mix both of MNIST's writer groups
    (the stored order puts the 5,000 SD-3 digits first) and grade every family alike."""
    import torch

    from training.metrics import reference_order
    from training.mnist import load_mnist

    images = load_mnist(mnist_dir, "test")[0]
    first, again, other = reference_order(images), reference_order(images), reference_order(images, seed=1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == images.shape and torch.allclose(first.sum(0), images.sum(0), atol=1e-3)  # reordered
    index = {bytes(x.flatten().mul(255).round().byte().numpy()): i for i, x in enumerate(images)}
    drawn = [index[bytes(x.flatten().mul(255).round().byte().numpy())] for x in first[:2000]]
    assert 800 < sum(i >= 5000 for i in drawn) < 1200  # about half from the second writer group; stored: none


def test_training_digits_as_if_generated_score_near_the_floor_against_the_fair_sample(mnist_dir):
    """The bench's check row: 2,000 training digits graded like a generator's samples score close to two test
    samples (the floor); against the stored first 2,000 test digits they scored about 3x the floor."""
    import torch

    from generators.digits import DigitClassifier
    from training.metrics import frechet, reference_digits, reference_order, training_copy
    from training.mnist import load_mnist

    C = DigitClassifier.from_pretrained(ROOT / "assets" / "classifier").eval()
    test = load_mnist(mnist_dir, "test")[0]
    fair, stored = reference_order(test), test
    with torch.no_grad():
        floor = frechet(C.features(fair[:2000]), C.features(fair[2000:4000]))
    train = reference_digits(mnist_dir, "train")[:2000]
    assert training_copy(C, train, fair) < 1.5 * floor
    assert training_copy(C, train, stored) > 2 * floor


def test_the_digit_bench_runs_through_every_row(mnist_dir):
    """bench_digits --quick prints each of its quality and speed rows (its VAE rows once broke on a renamed import)."""
    command = [sys.executable, "-m", "bench.bench_digits", "--quick", "--no-api", "--data", str(mnist_dir)]
    run = subprocess.run(command, cwd=ROOT, timeout=300, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    for row in ("GAN Frechet distance to real test digits, psi=1.0", "real-vs-real floor",
                "training digits as if generated", "VAE test negative ELBO", "16-frame interpolation, ours (the tab's"):
        assert row in run.stdout, row
