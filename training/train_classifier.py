"""Trains the MNIST classifier that grades GAN samples (class accuracy, Frechet distance features).

    python -m training.train_classifier            # -> assets/classifier/
    python -m training.train_classifier --dry-run  # a few batches, for CI
"""

from pathlib import Path

import torch
import torch.nn.functional as F

from generators.digits import DigitClassifier
from training import data
from training.common import epoch_batches, epochs, load_checkpoint, run_cli, save_checkpoint, write_metrics
from training.metrics import classifier_accuracy
from training.mnist import DEFAULT_DATA, load_mnist


def shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Random translation by up to `pixels` in each direction (cheap augmentation)."""
    pad = F.pad(x, (pixels,) * 4)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28]


def train(model: DigitClassifier, args):
    """Trains `model` in place with Adam and a step-decayed rate; yields {"epoch", "loss", "test_accuracy"} after
    each epoch. `args` holds the CLI's fields (data, epochs, batch_size, seed, device, run_dir, resume, dry_run)."""
    g = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist(args.data or DEFAULT_DATA, "train")
    x_test, y_test = load_mnist(args.data or DEFAULT_DATA, "test")
    if args.dry_run:
        x_test, y_test = x_test[:500], y_test[:500]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    run_dir = Path(args.run_dir or "runs/classifier")
    start = load_checkpoint(run_dir, model=model, opt=opt, sched=sched) if args.resume else 0
    for epoch in epochs(args, start):
        model.train()
        bar = epoch_batches(x_train, y_train, args, g, epoch)
        for x, y in bar:
            loss = F.cross_entropy(model(shift(x, g).to(args.device)), y.to(args.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        sched.step()
        save_checkpoint(run_dir, epoch, model=model, opt=opt, sched=sched)
        yield {"epoch": epoch, "loss": loss.item(), "test_accuracy": classifier_accuracy(model, x_test, y_test,
                                                                                        args.device)}


def main():
    args, model, out, timer = run_cli(__doc__, "assets/classifier", 3, DigitClassifier, train)
    x_test, y_test = load_mnist(args.data or DEFAULT_DATA, "test")
    write_metrics(out, {"test_accuracy": classifier_accuracy(model, x_test, y_test, "cpu"),
                        "epochs": 1 if args.dry_run else args.epochs, "train_minutes": timer.minutes(),
                        "device": args.device, "dry_run": args.dry_run})


if __name__ == "__main__":
    data.exit_plainly(main)  # absent data: what is missing, not a traceback
