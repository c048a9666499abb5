"""Trains the class-conditional DCGAN on MNIST: generator + projection discriminator.

    python -m training.train_gan --eval 2000                               # 30 epochs at lr 2e-4
    python -m training.train_gan --resume --epochs 45 --lr 5e-5 --eval 2000  # 15 more at 5e-5 (the shipped run)
    python -m training.train_gan --dry-run  # a few batches, for CI
    python -m training.train_gan --init assets/gan --epochs 10 --lr 5e-5  # fine-tune the shipped weights

Recipe: DCGAN (Radford et al., 2015): Adam lr 2e-4, beta1 0.5, the non-saturating loss of
Goodfellow et al. (2014); a spectral-norm projection discriminator (Miyato & Koyama, 2018); the
shipped generator is an exponential moving average of the trained one (Karras et al., 2018).
With --aux-weight > 0 (the default) the discriminator also names the digit of real images and the
generator is trained to be read as the asked digit (AC-GAN, Odena et al., 2017).
"""

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from generators.digits import DigitClassifier, DigitDiscriminator, DigitGenerator
from training import data
from training.common import Timer, base_parser, epoch_batches, epochs, save_checkpoint, write_metrics
from training.metrics import gan_quality, reference_digits
from training.mnist import DEFAULT_DATA, load_mnist


@torch.no_grad()
def ema_update(ema, model, decay: float) -> None:
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)


@torch.no_grad()
def save_grid(generator, path: Path, device) -> None:
    """A 10 x 10 grid (row = digit) to eyeball progress."""
    generator.eval()
    z = torch.randn(100, generator.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    x = generator(z, torch.arange(10).repeat_interleave(10).to(device)).cpu()  # (100, 1, 28, 28)
    grid = ((x + 1) * 127.5).clamp(0, 255).byte().view(10, 10, 28, 28).permute(0, 2, 1, 3).reshape(280, 280)
    Image.fromarray(grid.numpy()).save(path)


def train_step(G, D, opt_g, opt_d, real, labels, g, device, aux_weight: float = 0.0):
    """One discriminator and one generator update; returns (loss_d, loss_g, D(real) mean prob)."""
    z = torch.randn(len(real), G.z_dim, generator=g).to(device)
    fake = G(z, labels)
    # 1. discriminator: real -> 1, fake -> 0 (softplus(-x) = BCE-with-logits against 1),
    #    and, with the auxiliary head, name the digit of real images (AC-GAN, Odena et al. 2017)
    d_real, c_real = D.realness_and_class(real, labels)
    loss_d = F.softplus(-d_real).mean() + F.softplus(D(fake.detach(), labels)).mean()
    if c_real is not None:
        loss_d = loss_d + aux_weight * F.cross_entropy(c_real, labels)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # 2. generator: the non-saturating loss, -log D(G(z)), plus "be read as the asked digit"
    d_fake, c_fake = D.realness_and_class(fake, labels)
    loss_g = F.softplus(-d_fake).mean()
    if c_fake is not None:
        loss_g = loss_g + aux_weight * F.cross_entropy(c_fake, labels)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item(), torch.sigmoid(d_real).mean().item()


def resume(run_dir: Path, G, D, G_ema, opt_g, opt_d) -> int:
    """Like load_checkpoint, but a run that adds the auxiliary head keeps D's trained layers (fresh Adam for D)."""
    path = run_dir / "last.pt"
    if not path.exists():
        return 0
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for module, key in ((G, "G"), (G_ema, "G_ema"), (opt_g, "opt_g")):
        module.load_state_dict(ckpt[key])
    missing, _ = D.load_state_dict(ckpt["D"], strict=False)
    if missing:
        print(f"resumed D without {missing}: new layers start fresh, and so does D's optimiser")
    else:
        opt_d.load_state_dict(ckpt["opt_d"])
    print(f"resumed from {path} after epoch {ckpt['epoch']}")
    return ckpt["epoch"] + 1


def init_from(folder: Path, G, D, G_ema) -> None:
    """Start from shipped weights (fine-tuning): the shipped generator is an EMA, so it seeds both G and G_ema;
    the optimisers start fresh."""
    shipped = DigitGenerator.from_pretrained(folder / "generator")
    G.load_state_dict(shipped.state_dict())
    G_ema.load_state_dict(shipped.state_dict())
    D.load_state_dict(DigitDiscriminator.from_pretrained(folder / "discriminator").state_dict())
    print(f"initialised from {folder}")


def set_lr(lr: float, *optimizers) -> None:
    """--lr wins over the rate saved with a resumed optimiser (a lower rate for the last epochs cleans up samples)."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def parse_args(argv=None):
    p = base_parser(__doc__, "assets/gan", epochs=30)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the shipped generator")
    p.add_argument("--aux-weight", type=float, default=1.0,
                   help="weight of the AC-GAN class loss (0 = no auxiliary head, plain projection cGAN)")
    p.add_argument("--init", default=None, help="a shipped GAN folder to start from (fine-tuning)")
    p.add_argument("--eval", type=int, default=0, metavar="N",
                   help="after each epoch, grade N samples with the classifier in --classifier (0 = off)")
    p.add_argument("--classifier", default="assets/classifier", help="the MNIST classifier for --eval")
    return p.parse_args(argv)


def train(G, D, G_ema, args):
    """Trains G and D in place (G_ema follows G); yields {"epoch", "loss_d", "loss_g", "p_real"} after each epoch,
    with the classifier's grading of G_ema when args.eval > 0. `args` holds the CLI's fields."""
    g = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load_mnist(args.data or DEFAULT_DATA, "train")
    x_train = x_train * 2 - 1  # the generator's tanh range
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    run_dir = Path(args.run_dir or "runs/gan")
    start = resume(run_dir, G, D, G_ema, opt_g, opt_d) if args.resume else 0
    if args.init and not start:
        init_from(Path(args.init), G, D, G_ema)
    if args.eval:
        C = DigitClassifier.from_pretrained(args.classifier).to(args.device).eval()
        x_test = reference_digits(args.data or DEFAULT_DATA)
    set_lr(args.lr, opt_g, opt_d)
    for epoch in epochs(args, start):
        G.train()
        bar = epoch_batches(x_train, y_train, args, g, epoch)
        for real, labels in bar:
            ld, lg, p_real = train_step(G, D, opt_g, opt_d, real.to(args.device), labels.to(args.device), g,
                                        args.device, args.aux_weight)
            ema_update(G_ema, G, args.ema)
            bar.set_postfix(loss_d=f"{ld:.3f}", loss_g=f"{lg:.3f}", p_real=f"{p_real:.2f}")
        run_dir.mkdir(parents=True, exist_ok=True)
        save_grid(G_ema, run_dir / f"epoch{epoch:02d}.png", args.device)
        save_checkpoint(run_dir, epoch, G=G, D=D, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d)
        graded = gan_quality(G_ema, C, x_test, args.eval) if args.eval else {}
        yield {"epoch": epoch + 1, "loss_d": ld, "loss_g": lg, "p_real": p_real, **graded}


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    G = DigitGenerator().to(args.device)
    D = DigitDiscriminator(aux_head=args.aux_weight > 0).to(args.device)
    G_ema = copy.deepcopy(G).eval()
    timer, history = Timer(), []
    for metrics in train(G, D, G_ema, args):
        print(metrics)
        if args.eval:
            history.append({k: metrics[k] for k in ("epoch", "conditional_accuracy", "frechet")})
    out = Path(args.out)
    G_ema.cpu().save_pretrained(out / "generator")
    D.cpu().eval().save_pretrained(out / "discriminator")
    write_metrics(out, {"epochs": 1 if args.dry_run else args.epochs, "train_minutes": timer.minutes(),
                        "device": args.device, "batch_size": args.batch_size, "lr": args.lr, "ema": args.ema,
                        "aux_weight": args.aux_weight, "init": args.init, "dry_run": args.dry_run,
                        "eval_history": history})


if __name__ == "__main__":
    data.exit_plainly(main)  # absent data: what is missing, not a traceback
