"""Small helpers shared by the training scripts: seeding, device choice, resumable checkpoints."""

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from training.mnist import batches


def base_parser(description: str, out: str, epochs: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=None, help="folder with the training data (default: ../shared/data/...)")
    p.add_argument("--out", default=out, help="where the trained model folder is written")
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="seed for init, shuffling and noise")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--run-dir", default=None, help="checkpoints for --resume (default: runs/<name>)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --run-dir")
    p.add_argument("--dry-run", action="store_true", help="one tiny epoch of a few batches, for CI")
    return p


def save_checkpoint(run_dir: Path, epoch: int, **state) -> None:
    """Training state (weights + optimiser) for --resume; lives in runs/, never shipped."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": epoch, **{k: v.state_dict() for k, v in state.items()}}, run_dir / "last.pt")


def load_checkpoint(run_dir: Path, **state) -> int:
    """Loads state in place; returns the next epoch to run (0 if there is no checkpoint)."""
    path = run_dir / "last.pt"
    if not path.exists():
        return 0
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for k, v in state.items():
        v.load_state_dict(ckpt[k])
    print(f"resumed from {path} after epoch {ckpt['epoch']}")
    return ckpt["epoch"] + 1


def write_metrics(out: Path, metrics: dict) -> None:
    """metrics.json beside the weights: the model card's figures come from here."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))


class Timer:
    def __init__(self):
        self.start = time.time()

    def minutes(self) -> float:
        return round((time.time() - self.start) / 60, 2)


def epochs(args, start: int = 0) -> range:
    """The epochs to run: one with --dry-run."""
    return range(start, 1 if args.dry_run else args.epochs)


def epoch_batches(images, labels, args, generator: torch.Generator, epoch: int):
    """One epoch's shuffled mini-batches under a progress bar (3 batches with --dry-run)."""
    limit = 3 if args.dry_run else None
    return tqdm(batches(images, labels, args.batch_size, generator, limit),
                total=limit or len(images) // args.batch_size, desc=f"epoch {epoch}")


def run_cli(description: str, out: str, n_epochs: int, make_model, train):
    """The CLI of a one-model script: parse the flags, seed, build `make_model()`, run the `train(model, args)`
    generator to its end (printing what it yields) and save the model to --out. Returns (args, model, out, timer)."""
    args = base_parser(description, out, epochs=n_epochs).parse_args()
    torch.manual_seed(args.seed)
    model, timer = make_model().to(args.device), Timer()
    for m in train(model, args):
        print(m, flush=True)
    model.cpu().save_pretrained(Path(args.out))
    return args, model, Path(args.out), timer
