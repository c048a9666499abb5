"""Trains the convolutional VAE on MNIST and ships it with a bank of held-out test digits.

    python training/train_vae.py            # -> assets/vae/
    python training/train_vae.py --dry-run  # a few batches, for CI

assets/vae/ gets the model (config.json + model.safetensors), metrics.json, and examples.safetensors:
100 test digits per class (the interpolation endpoints) and a 2-D PCA map of 2,000 test digits' latents.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from generators.digits import DigitVAE, vae_loss
from training.common import Timer, base_parser, load_checkpoint, save_checkpoint, write_metrics
from training.mnist import DEFAULT_DATA, batches, load_mnist


@torch.no_grad()
def evaluate(model, images, device) -> dict:
    """Test-set figures per image: Bernoulli reconstruction NLL, KL, negative ELBO (nats), pixel MSE."""
    model.eval()
    g = torch.Generator(device=device).manual_seed(0)
    recon = kl = mse = 0.0
    for i in range(0, len(images), 1000):
        x = images[i:i + 1000].to(device)
        logits, mu, logvar = model(x, generator=g)
        r, k = vae_loss(logits, x, mu, logvar)
        recon, kl = recon + r.item() * len(x), kl + k.item() * len(x)
        mse += F.mse_loss(model.decode(mu), x, reduction="sum").item() / 784
    n = len(images)
    return {"recon_nll_nats": recon / n, "kl_nats": kl / n, "neg_elbo_nats": (recon + kl) / n,
            "pixel_mse_at_mean": mse / n}


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


def main():
    args = base_parser(__doc__, "assets/vae", epochs=30).parse_args()
    data = args.data or DEFAULT_DATA
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist(data, "train")
    x_test, y_test = load_mnist(data, "test")
    model = DigitVAE().to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    run_dir = Path(args.run_dir or "runs/vae")
    start = load_checkpoint(run_dir, model=model, opt=opt) if args.resume else 0
    timer, epochs, limit = Timer(), 1 if args.dry_run else args.epochs, 3 if args.dry_run else None
    for epoch in range(start, epochs):
        model.train()
        bar = tqdm(batches(x_train, y_train, args.batch_size, g, limit),
                   total=limit or len(x_train) // args.batch_size, desc=f"epoch {epoch}")
        for x, _ in bar:
            x = x.to(args.device)
            logits, mu, logvar = model(x)
            recon, kl = vae_loss(logits, x, mu, logvar)
            opt.zero_grad(set_to_none=True)
            (recon + kl).backward()
            opt.step()
            bar.set_postfix(recon=f"{recon.item():.1f}", kl=f"{kl.item():.1f}")
        print(f"epoch {epoch}:", evaluate(model, x_test[:2000], args.device))
        save_checkpoint(run_dir, epoch, model=model, opt=opt)
    out = Path(args.out)
    model.cpu().save_pretrained(out)
    save_file(example_bank(model, x_test, y_test), out / "examples.safetensors")
    write_metrics(out, {**evaluate(model, x_test, "cpu"), "epochs": epochs, "latent_dim": model.latent_dim,
                        "train_minutes": timer.minutes(), "device": args.device, "dry_run": args.dry_run})


if __name__ == "__main__":
    main()
