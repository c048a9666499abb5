"""Trains the class-conditional digit diffusion model (a diffusers UNet2DModel) on MNIST, for a wall-clock budget.

    python -m training.train_diffusion --minutes 100            # the shipped CPU run (see assets/diffusion/README.md)
    python -m training.train_diffusion --resume --minutes 60    # continue from runs/diffusion/last.pt
    python -m training.train_diffusion --export-only            # write the EMA pipeline of the last checkpoint
    python -m training.train_diffusion --dry-run --out /tmp/d   # a few batches of a tiny UNet, for CI
    python -m training.train_diffusion --init assets/diffusion  # a new run from an exported pipeline's UNet

Recipe: DDPM (Ho et al., 2020): x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps with t uniform over the 1000-step cosine
schedule, loss = ||eps - eps_theta(x_t, t, y)||^2 (their eq. 14, the "simple" loss). The label is replaced by
NO_LABEL with probability --p-uncond so the same network learns the unconditional model for classifier-free
guidance (Ho & Salimans, 2022). AdamW with a linear warm-up; the shipped UNet is an exponential moving average of
the trained one. A checkpoint and an export of the EMA pipeline are written every --checkpoint-minutes.
"""

import argparse
import copy
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from generators.diffusion import NO_LABEL, DigitDiffusionPipeline, build_scheduler, build_unet
from training import data
from training.metrics import reference_digits, sample_quality
from training.mnist import DEFAULT_DATA, batches, load_mnist

WARMUP = 200  # steps of linear learning-rate warm-up


@torch.no_grad()
def ema_update(ema, model, decay: float) -> None:
    """ema <- ema + (1 - decay) (model - ema), all tensors in one multi-tensor op (the shipped UNet's 145: 0.36 ms on
    2 CPU threads, against 0.54 ms for a loop of lerp_, with the same bits; on a GPU a few launches instead of 145)."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)


def diffusion_loss(unet, scheduler, x0, labels, g, p_uncond: float, bf16: bool = False) -> torch.Tensor:
    """The simple loss of Ho et al. (2020, eq. 14) with labels dropped to NO_LABEL at rate p_uncond; `bf16` runs the
    UNet under bfloat16 autocast (weights, optimizer and EMA stay fp32)."""
    b = len(x0)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=g)
    drop = torch.rand(b, generator=g) < p_uncond
    dev = x0.device
    labels = torch.where(drop.to(labels.device), torch.full_like(labels, NO_LABEL), labels)
    x_t = scheduler.add_noise(x0, noise.to(dev), t.to(dev))  # (B, 1, 28, 28)
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        pred = unet(x_t, t.to(dev), class_labels=labels.to(dev)).sample
    return F.mse_loss(pred.float(), noise.to(dev))


@torch.no_grad()
def evaluate(unet, scheduler, classifier, real: torch.Tensor, n: int, steps: int = 10) -> dict:
    """Class accuracy (our classifier) and Frechet distance (its features) of n samples, DPM-Solver++ at `steps`,
    guidance 1, against real[:n] (test digits in `reference_digits` order)."""
    pipe = DigitDiffusionPipeline(unet.eval(), scheduler)
    labels = torch.arange(n) % 10
    g = torch.Generator().manual_seed(0)
    fake = torch.cat([pipe(labels[i:i + 250], steps=steps, guidance=1.0, generator=g)
                      for i in range(0, n, 250)])
    return graded(classifier, fake, labels, real[:n])


def graded(classifier, fake: torch.Tensor, labels: torch.Tensor, real: torch.Tensor) -> dict:
    """A checkpoint's evaluation figures: the class accuracy and Frechet distance of `fake` (asked for `labels`)."""
    m = sample_quality(classifier, fake, labels, real)
    return {"eval_accuracy": m["conditional_accuracy"], "eval_frechet": m["frechet"]}


def save_state(run_dir: Path, step: int, minutes: float, **state) -> None:
    """Training state for --resume (lives in runs/, never shipped); written to a temp file, then renamed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step, "minutes": minutes, **{k: v.state_dict() for k, v in state.items()}},
               run_dir / "last.tmp")
    (run_dir / "last.tmp").replace(run_dir / "last.pt")


def load_state(run_dir: Path, **state) -> tuple[int, float]:
    """Loads state in place; returns (step, minutes trained) of the checkpoint, (0, 0) if there is none."""
    path = run_dir / "last.pt"
    if not path.exists():
        return 0, 0.0
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    for k, v in state.items():
        v.load_state_dict(ckpt[k])
    print(f"resumed from {path} at step {ckpt['step']} ({ckpt['minutes']:.1f} min trained)")
    return ckpt["step"], ckpt["minutes"]


def checkpoint(run_dir: Path, step: int, minutes: float, *, unet, ema, opt, export, grade=None) -> dict:
    """A checkpoint of a wall-clock run: the state for --resume, `export()` the shipped EMA pipeline, then
    {"step", "minutes"} and what `grade()` (if given) measures of it."""
    save_state(run_dir, step, minutes, unet=unet, ema=ema, opt=opt)
    export()
    return {"step": step, "minutes": round(minutes, 2)} | (grade() if grade else {})


class WallClock:
    """A run's budget of `minutes` of wall clock (on top of `done` minutes of the runs it resumes), with a
    checkpoint every `every` minutes and at the end."""

    def __init__(self, minutes: float, every: float, done: float = 0.0):
        self.minutes, self.every, self.done = minutes, every, done
        self.start = self.last = time.time()

    def elapsed(self) -> float:
        return (time.time() - self.start) / 60

    def over(self) -> bool:
        return self.elapsed() >= self.minutes

    def cosine(self) -> float:
        """The learning-rate factor of a half cosine from 1 to 0 over this run's minutes."""
        return 0.5 + 0.5 * math.cos(math.pi * min(1.0, self.elapsed() / self.minutes))

    def due(self, finished: bool) -> bool:
        """Whether to checkpoint now: at the end, or `every` minutes after the last one."""
        if finished or time.time() - self.last >= self.every * 60:
            self.last = time.time()
            return True
        return False


def export(ema, out: Path) -> None:
    """The shipped pipeline: EMA UNet + the training schedule, as model_index.json, unet/, scheduler/."""
    DigitDiffusionPipeline(copy.deepcopy(ema).cpu().eval(), build_scheduler()).save_pretrained(out)


def train_step(unet, ema_unet, opt, scheduler, x0, labels, g, *, lr: float, p_uncond: float, ema: float,
               step: int, bf16: bool = False) -> float:
    """One AdamW update at the warmed-up rate, then the EMA; returns the loss."""
    for group in opt.param_groups:
        group["lr"] = lr * min(1.0, (step + 1) / WARMUP)
    unet.train()
    loss = diffusion_loss(unet, scheduler, x0, labels, g, p_uncond, bf16)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ema_update(ema_unet, unet, min(ema, (2 + step) / (11 + step)))  # the decay warms up over the first steps
    return loss.item()


def train(*, data=DEFAULT_DATA, out="assets/diffusion", minutes: float = 60.0, seed: int = 0, batch_size: int = 128,
          lr: float = 1e-3, ema: float = 0.999, p_uncond: float = 0.1, channels=(16, 32, 64),
          run_dir="runs/diffusion", resume: bool = False, checkpoint_minutes: float = 5.0, eval_samples: int = 0,
          classifier=None, real=None, dry_run: bool = False, device: str = "cpu", bf16: bool = False,
          decay: bool = False, init=None):
    """Trains for `minutes` of wall clock (on top of a resumed run's); yields {"step", "epoch", "loss"} every step
    and {"step", "minutes", "eval_..."} at each checkpoint, when it also exports the EMA pipeline to `out`.
    `classifier` and `real` (test digits in [0, 1]) grade `eval_samples` samples at each checkpoint.
    `decay`: the learning rate falls from `lr` to 0 along a half cosine over this run's `minutes` of wall clock.
    `init`: an exported pipeline folder whose UNet starts the model and its EMA (a new run, fresh optimizer)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = load_mnist(data, "train")
    x_train, y_train = (x_train * 2 - 1).to(device), y_train.to(device)  # the UNet's range [-1, 1]
    unet = build_unet((4, 8), 1, 4) if dry_run else build_unet(channels)
    if init is not None:
        unet.load_state_dict(DigitDiffusionPipeline.from_pretrained(init).unet.state_dict())
    unet = unet.to(device)
    ema_unet = copy.deepcopy(unet).eval().requires_grad_(False)
    scheduler, opt = build_scheduler(), torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    run_dir, out = Path(run_dir), Path(out)
    step, done_minutes = load_state(run_dir, unet=unet, ema=ema_unet, opt=opt) if resume else (0, 0.0)
    clock, epoch = WallClock(minutes, checkpoint_minutes, done_minutes), 0
    stop_step = step + 3 if dry_run else None  # --dry-run: 3 batches, then one checkpoint + export
    while True:
        for x0, labels in batches(x_train, y_train, batch_size, g):
            loss = train_step(unet, ema_unet, opt, scheduler, x0, labels, g, lr=lr * (clock.cosine() if decay else 1),
                              p_uncond=p_uncond, ema=ema, step=step, bf16=bf16)
            step += 1
            yield {"step": step, "epoch": epoch, "loss": loss}
            finished = clock.over() or step == stop_step
            if clock.due(finished):
                grade = classifier is not None and eval_samples and (
                    lambda: evaluate(ema_unet, scheduler, classifier, real, eval_samples))
                yield checkpoint(run_dir, step, done_minutes + clock.elapsed(), unet=unet, ema=ema_unet, opt=opt,
                                 export=lambda: export(ema_unet, out), grade=grade)
                if finished:
                    return
        epoch += 1


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with the MNIST IDX files")
    p.add_argument("--out", default="assets/diffusion", help="where the EMA pipeline is exported")
    p.add_argument("--minutes", type=float, default=60.0, help="wall-clock training budget (on top of --resume)")
    p.add_argument("--seed", type=int, default=0, help="seed for init, shuffling, timesteps, noise and label drop")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--cosine", action="store_true",
                   help="the learning rate falls from --lr to 0 along a half cosine over --minutes (a final phase)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the shipped UNet")
    p.add_argument("--p-uncond", type=float, default=0.1, help="rate at which the label is dropped (CFG)")
    p.add_argument("--channels", default="16,32,64", help="UNet block_out_channels (28, 14, 7 px)")
    p.add_argument("--run-dir", default="runs/diffusion", help="checkpoints for --resume")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --run-dir")
    p.add_argument("--init", default=None, metavar="DIR",
                   help="start from the UNet of an exported pipeline (its --channels must match; a fresh optimizer)")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0, help="checkpoint + export interval")
    p.add_argument("--eval", type=int, default=0, metavar="N", help="grade N samples at each checkpoint (0 = off)")
    p.add_argument("--classifier", default="assets/classifier", help="the MNIST classifier for --eval")
    p.add_argument("--export-only", action="store_true", help="export the EMA pipeline of the last checkpoint")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0 = torch's default); 1 is far faster on a busy machine, see the card")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the UNet's forward and backward (about 1.4x faster on a CPU with "
                        "AVX512-BF16; fp32 weights)")
    p.add_argument("--dry-run", action="store_true", help="3 batches of a tiny UNet, for CI")
    return p.parse_args()


def run(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    channels = tuple(int(c) for c in args.channels.split(","))
    if args.export_only:
        unet = build_unet(channels)
        ema_unet = copy.deepcopy(unet)
        load_state(Path(args.run_dir), ema=ema_unet)
        export(ema_unet, Path(args.out))
        return print(f"exported {args.run_dir}/last.pt's EMA UNet to {args.out}")
    classifier = real = None
    if args.eval:
        from generators.digits import DigitClassifier
        classifier = DigitClassifier.from_pretrained(args.classifier).eval().to(args.device)
        real = reference_digits(args.data).to(args.device)
    (history, earlier), losses = earlier_runs(args), []
    bar = tqdm(train(data=args.data, out=args.out, minutes=args.minutes, seed=args.seed, batch_size=args.batch_size,
                     lr=args.lr, ema=args.ema, p_uncond=args.p_uncond, channels=channels, run_dir=args.run_dir,
                     resume=args.resume, checkpoint_minutes=args.checkpoint_minutes, eval_samples=args.eval,
                     classifier=classifier, real=real, dry_run=args.dry_run, device=args.device,
                     bf16=args.bf16, decay=args.cosine, init=args.init), mininterval=5)
    for m in bar:
        if "loss" in m:
            losses.append(m["loss"])
            bar.set_postfix(epoch=m["epoch"], loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
        else:
            m["loss_last_100"] = round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4)
            history.append(m)
            tqdm.write(str(m))
            write_summary(args, channels, history, earlier)


RECIPE = ("steps", "train_minutes", "device", "batch_size", "lr", "cosine", "ema", "p_uncond", "seed", "bf16", "init")


def earlier_runs(args) -> tuple[list, list]:
    """On --resume: the graded checkpoints and the recipes of the runs before, from the export's metrics.json."""
    path = Path(args.out, "metrics.json")
    if not (args.resume and path.exists()):
        return [], []
    old = json.loads(path.read_text())
    return old.get("history", []), old.get("earlier_runs", []) + [{k: old[k] for k in RECIPE if k in old}]


def write_summary(args, channels, history, earlier=()) -> None:
    """metrics.json beside the exported pipeline, rewritten at each checkpoint so it matches the export.
    `earlier`: the recipes of the runs this one resumed (their checkpoints lead `history`)."""
    summary = {"steps": history[-1]["step"], "train_minutes": history[-1]["minutes"],
               "device": args.device, "batch_size": args.batch_size, "lr": args.lr, "cosine": args.cosine,
               "ema": args.ema, "p_uncond": args.p_uncond, "channels": list(channels),
               "seed": args.seed, "bf16": args.bf16, "init": args.init, "dry_run": args.dry_run, "history": history,
               "earlier_runs": list(earlier)}
    Path(args.out, "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")

if __name__ == "__main__":
    data.exit_plainly(lambda: run(parse_args()))  # absent data: what is missing, not a traceback
