"""Trains the convolutional VAE on MNIST and ships it with a bank of held-out test digits.

    python -m training.train_vae            # -> assets/vae/
    python -m training.train_vae --dry-run  # a few batches, for CI

assets/vae/ gets the model (config.json + model.safetensors), metrics.json, and examples.safetensors:
100 test digits per class (the interpolation endpoints) and a 2-D PCA map of 2,000 test digits' latents.
"""

from pathlib import Path

import torch
from safetensors.torch import save_file

from generators.digits import DigitVAE, vae_loss
from training import data
from training.common import epoch_batches, epochs, load_checkpoint, run_cli, save_checkpoint, write_metrics
from training.metrics import vae_figures
from training.mnist import DEFAULT_DATA, load_mnist


@torch.no_grad()
def example_bank(model, images, labels, per_class: int = 100, map_size: int = 2000) -> dict:
    """Endpoint digits (uint8) and a PCA projection of latent means for the 2-D map."""
    model.eval()
    picks = torch.cat([torch.nonzero(labels == c).squeeze(1)[:per_class] for c in range(10)])
    mu, _ = model.encode(images[:map_size])
    mean = mu.mean(0)
    _, _, v = torch.pca_lowrank(mu - mean, q=2, center=False)  # v: (latent, 2)
    return {"digits": (images[picks] * 255).round().to(torch.uint8), "digit_labels": labels[picks],
            "pca_mean": mean, "pca_components": v.T.contiguous(),
            "map_points": ((mu - mean) @ v).contiguous(), "map_labels": labels[:map_size]}


def train(model: DigitVAE, args):
    """Trains `model` in place on the negative ELBO with Adam; yields {"epoch", "recon", "kl", **test figures on
    2,000 test digits} after each epoch. `args` holds the CLI's fields."""
    g = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist(args.data or DEFAULT_DATA, "train")
    x_test, _ = load_mnist(args.data or DEFAULT_DATA, "test")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    run_dir = Path(args.run_dir or "runs/vae")
    start = load_checkpoint(run_dir, model=model, opt=opt) if args.resume else 0
    for epoch in epochs(args, start):
        model.train()
        bar = epoch_batches(x_train, y_train, args, g, epoch)
        for x, _ in bar:
            x = x.to(args.device)
            logits, mu, logvar = model(x)
            recon, kl = vae_loss(logits, x, mu, logvar)
            opt.zero_grad(set_to_none=True)
            (recon + kl).backward()
            opt.step()
            bar.set_postfix(recon=f"{recon.item():.1f}", kl=f"{kl.item():.1f}")
        save_checkpoint(run_dir, epoch, model=model, opt=opt)
        yield {"epoch": epoch, "recon": recon.item(), "kl": kl.item(),
               **vae_figures(model, x_test[:2000], args.device)}


def main():
    args, model, out, timer = run_cli(__doc__, "assets/vae", 30, DigitVAE, train)
    x_test, y_test = load_mnist(args.data or DEFAULT_DATA, "test")
    save_file(example_bank(model, x_test, y_test), out / "examples.safetensors")
    write_metrics(out, {**vae_figures(model, x_test, "cpu"), "epochs": 1 if args.dry_run else args.epochs,
                        "latent_dim": model.latent_dim, "train_minutes": timer.minutes(), "device": args.device,
                        "dry_run": args.dry_run})


if __name__ == "__main__":
    data.exit_plainly(main)  # absent data: what is missing, not a traceback
