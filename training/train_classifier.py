"""Trains the MNIST classifier that grades GAN samples (class accuracy, Frechet distance features).

    python training/train_classifier.py            # -> assets/classifier/
    python training/train_classifier.py --dry-run  # a few batches, for CI
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from tqdm import tqdm

from generators.digits import DigitClassifier
from training.common import Timer, base_parser, load_checkpoint, save_checkpoint, write_metrics
from training.mnist import DEFAULT_DATA, batches, load_mnist


def shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Random translation by up to `pixels` in each direction (cheap augmentation)."""
    pad = F.pad(x, (pixels,) * 4)
    dx, dy = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def evaluate(model, images, labels, device) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        logits = model(images[i:i + 1000].to(device))
        correct += (logits.argmax(1).cpu() == labels[i:i + 1000]).sum().item()
    return correct / len(images)


def main():
    args = base_parser(__doc__, "assets/classifier", epochs=3).parse_args()
    data = args.data or DEFAULT_DATA
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist(data, "train")
    x_test, y_test = load_mnist(data, "test")
    if args.dry_run:
        x_test, y_test = x_test[:500], y_test[:500]
    model = DigitClassifier().to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    run_dir = Path(args.run_dir or "runs/classifier")
    start = load_checkpoint(run_dir, model=model, opt=opt, sched=sched) if args.resume else 0
    timer, epochs = Timer(), 1 if args.dry_run else args.epochs
    for epoch in range(start, epochs):
        model.train()
        bar = tqdm(batches(x_train, y_train, args.batch_size, g, 3 if args.dry_run else None),
                   total=3 if args.dry_run else len(x_train) // args.batch_size, desc=f"epoch {epoch}")
        for x, y in bar:
            loss = F.cross_entropy(model(shift(x, g).to(args.device)), y.to(args.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        sched.step()
        acc = evaluate(model, x_test, y_test, args.device)
        print(f"epoch {epoch}: test accuracy {acc:.4f}")
        save_checkpoint(run_dir, epoch, model=model, opt=opt, sched=sched)
    out = Path(args.out)
    model.cpu().save_pretrained(out)
    write_metrics(out, {"test_accuracy": evaluate(model, x_test, y_test, "cpu"), "epochs": epochs,
                        "train_minutes": timer.minutes(), "device": args.device, "dry_run": args.dry_run})


if __name__ == "__main__":
    main()
