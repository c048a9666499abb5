"""Distils the first step of the digit diffusion model: the diffusion tab's 4-step "Distilled" sampler.

    python -m training.distill_diffusion --minutes 25                 # the shipped CPU run (assets/diffusion-4step)
    python -m training.distill_diffusion --resume --minutes 10        # continue from runs/distill/last.pt
    python -m training.distill_diffusion --dry-run --out /tmp/s       # a tiny teacher and student, for CI

Why the first step. At 4 DDIM steps (t = 999, 749, 499, 249) the shipped model's digits are poor (Frechet distance
91.91 unguided at 500 samples against a floor of 15.52, see assets/diffusion/README.md), yet started from where the
default 20-step DPM-Solver++ run is at t = 749, the same model's last three DDIM steps finish digits about as good
as that run's (measured: 13.85 vs 13.54 at 2,000 samples, graded against the first 2,000 stored test digits; teacher
guidance 0.5 below t = 700). The whole loss is in the first step, from pure noise: at t = 999 sqrt(a_t) is 5e-5, so
the x_0 of an eps-predicting UNet is its error magnified 20,000 times. So the student is a UNet of the same shape,
started from the teacher's weights, that predicts x_0 at t = 999 (its scheduler config says prediction_type
"sample"), trained so that the DDIM step from x_T with its x_0 (clipped to [-1, 1], straight through for the
gradient) lands where the teacher's run from the same x_T is at t = 749: a one-step distillation (Luhman & Luhman,
2021) of the noisiest stretch only. The loss is the squared error of the landing point divided by a_749 (the error
in x_0 terms). AdamW, a short warm-up; an EMA of the student is shipped. The teacher's pairs (x_T, x_749) cost 5 of
its UNet passes each (its first five steps of twenty; guidance below t = 700 does not reach them) and are kept in
--run-dir for --resume. """

import argparse
import copy
import json
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from tqdm import tqdm

from generators.diffusion import (ASSETS, DigitDiffusionPipeline, build_scheduler, build_unet, ddim_from_x0, guided_at,
                                  make_scheduler)
from training import data
from training.metrics import reference_digits
from training.mnist import DEFAULT_DATA
from training.train_diffusion import WallClock, checkpoint, ema_update, graded, load_state

WARMUP = 50  # steps of linear learning-rate warm-up
STUDENT_STEPS = 4  # the sampler's DDIM steps: the student takes the first, the teacher the other three
DATA_SEED = 1000  # the teacher's x_T come from seed + 1000: evaluations draw theirs from seeds 0, 1, ...


def student_timesteps(config, steps: int = STUDENT_STEPS) -> list[int]:
    """The student's timesteps: DDIM's trailing schedule, the one the pipeline's DDIM sampler takes."""
    s = DDIMScheduler.from_config(config)
    s.set_timesteps(steps)
    return [int(t) for t in s.timesteps]


@torch.no_grad()
def teacher_points(pipe: DigitDiffusionPipeline, labels: torch.Tensor, noise: torch.Tensor, *, steps: int,
                   guidance: float, interval: float, until: int) -> torch.Tensor:
    """The teacher's x at timestep `until` (before its step there), run from x_T = `noise` with DPM-Solver++ at
    `steps`, as the tab runs it; (B, 1, 28, 28) in the UNet's range, not clipped."""
    scheduler = make_scheduler(pipe.scheduler.config, "DPM-Solver++")
    scheduler.set_timesteps(steps, device=pipe.device)
    ts = [int(t) for t in scheduler.timesteps]
    if until not in ts:
        raise ValueError(f"the teacher's {steps} steps ({ts}) do not pass through t = {until}")
    x, labels = noise.to(pipe.device) * scheduler.init_noise_sigma, labels.to(pipe.device)
    for t in scheduler.timesteps[:ts.index(until)]:
        g = guidance if guided_at(t, interval, pipe.scheduler.config) else 0.0
        x = scheduler.step(pipe.predict_noise(scheduler.scale_model_input(x, t), t, labels, g), t, x).prev_sample
    return x.cpu()


def landing_loss(student, x: torch.Tensor, t: int, labels: torch.Tensor, target: torch.Tensor, a_t: torch.Tensor,
                 a_next: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """Squared error, in x_0 terms, of the DDIM step from x_T with the student's x_0 against the teacher's point."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        x0 = student(x, torch.full((len(x),), t, device=x.device), class_labels=labels).sample.float()
    x0 = x0 + (x0.clamp(-1, 1) - x0).detach()  # clipped as the sampler clips, the gradient straight through
    return ((ddim_from_x0(x, x0, a_t, a_next) - target).pow(2) / a_next).mean()


@torch.no_grad()
def evaluate(teacher: DigitDiffusionPipeline, student, classifier, real: torch.Tensor, n: int) -> dict:
    """Class accuracy and Frechet distance (our classifier's features) of n "Distilled" samples vs n test digits."""
    labels, g = torch.arange(n) % 10, torch.Generator().manual_seed(0)
    fake = torch.cat([teacher(labels[i:i + 500], steps=STUDENT_STEPS, guidance=0.0, generator=g, sampler="DDIM",
                              first_step=student.eval()) for i in range(0, n, 500)])
    return graded(classifier, fake, labels, real[:n])


def make_data(pipe, n: int, *, seed: int, steps: int, guidance: float, interval: float, until: int,
              chunk: int = 500, progress: bool = True) -> dict:
    """n teacher pairs, labels i % 10 shuffled by `seed`: {"labels" (n,), "noise" x_T, "target" x_until}."""
    g = torch.Generator().manual_seed(DATA_SEED + seed)
    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]
    noise = torch.randn((n, 1, 28, 28), generator=g)
    target = torch.cat([teacher_points(pipe, labels[i:i + chunk], noise[i:i + chunk], steps=steps, guidance=guidance,
                                       interval=interval, until=until)
                        for i in tqdm(range(0, n, chunk), desc="teacher", disable=not progress, mininterval=5)])
    return {"labels": labels, "noise": noise, "target": target}


def student_pipeline(unet) -> DigitDiffusionPipeline:
    """The exported student: its UNet and the training schedule with prediction_type "sample" (it predicts x_0)."""
    scheduler = DDPMScheduler.from_config(build_scheduler().config, prediction_type="sample")
    return DigitDiffusionPipeline(copy.deepcopy(unet).cpu().eval(), scheduler)


def distill(*, teacher=ASSETS, out="assets/diffusion-4step", minutes: float = 25.0, pairs: int = 50000,
            teacher_steps: int = 20, guidance: float = 0.5, interval: float = 0.7, seed: int = 0,
            batch_size: int = 128, lr: float = 2e-4, ema: float = 0.998, run_dir="runs/distill", resume: bool = False,
            checkpoint_minutes: float = 5.0, eval_samples: int = 0, classifier=None, real=None,
            dry_run: bool = False, bf16: bool = False, device: str = "cpu", cosine: bool = False):
    """Makes (or, resumed, reloads) the teacher's pairs, then trains the student for `minutes` of wall clock;
    yields {"step", "loss"} every step and {"step", "minutes", "eval_..."} at each checkpoint, when it also exports
    the student's EMA pipeline to `out`. `cosine`: the learning rate falls to 0 along a half cosine over `minutes`."""
    torch.manual_seed(seed)
    run_dir, out = Path(run_dir), Path(out)
    if dry_run:  # a tiny random teacher: the loop, the files and the export, not the quality
        pipe, pairs, teacher_steps = DigitDiffusionPipeline(build_unet((4, 8), 1, 4), build_scheduler()), 16, 8
    else:
        pipe = DigitDiffusionPipeline.from_pretrained(teacher)
    pipe = pipe.to(device)
    pipe.unet.eval().requires_grad_(False)
    first, until = student_timesteps(pipe.scheduler.config)[:2]
    data_file = run_dir / "teacher.pt"
    if resume and data_file.exists():
        data = torch.load(data_file, weights_only=True)
    else:
        data = make_data(pipe, pairs, seed=seed, steps=teacher_steps, guidance=guidance, interval=interval,
                         until=until)
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.save(data, data_file)
    data = {k: v.to(device) for k, v in data.items()}
    student = copy.deepcopy(pipe.unet).train().requires_grad_(True)
    ema_unet = copy.deepcopy(student).eval().requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    step, done_minutes = load_state(run_dir, unet=student, ema=ema_unet, opt=opt) if resume else (0, 0.0)
    a = pipe.scheduler.alphas_cumprod.to(device)
    a_t, a_next = a[first], a[until]
    n = len(data["labels"])
    g = torch.Generator().manual_seed(seed + 1 + step)
    clock = WallClock(minutes, checkpoint_minutes, done_minutes)
    stop_step = step + 3 if dry_run else None
    while True:
        for group in opt.param_groups:
            group["lr"] = lr * (clock.cosine() if cosine else 1) * min(1.0, (step + 1) / WARMUP)
        rows = torch.randint(0, n, (batch_size,), generator=g)
        loss = landing_loss(student, data["noise"][rows], first, data["labels"][rows], data["target"][rows], a_t,
                            a_next, bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema_update(ema_unet, student, min(ema, (2 + step) / (11 + step)))
        step += 1
        yield {"step": step, "loss": loss.item()}
        finished = clock.over() or step == stop_step
        if clock.due(finished):
            grade = classifier is not None and eval_samples and (
                lambda: evaluate(pipe, ema_unet, classifier, real, eval_samples))
            yield checkpoint(run_dir, step, done_minutes + clock.elapsed(), unet=student, ema=ema_unet, opt=opt,
                             export=lambda: student_pipeline(ema_unet).save_pretrained(out), grade=grade)
            if finished:
                return


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default=str(ASSETS), help="the teacher pipeline folder")
    p.add_argument("--out", default="assets/diffusion-4step", help="where the student's EMA pipeline is exported")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="MNIST IDX folder (test digits, for --eval only)")
    p.add_argument("--minutes", type=float, default=25.0, help="wall-clock training budget (on top of --resume)")
    p.add_argument("--pairs", type=int, default=50000, help="teacher pairs (x_T, x_749), 5 UNet passes each")
    p.add_argument("--teacher-steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=0.5,
                   help="the teacher's guidance (below --interval; it does not reach t >= 749 at interval 0.7)")
    p.add_argument("--interval", type=float, default=0.7, help="the teacher guides only below t = interval x 1000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--cosine", action="store_true", help="the learning rate falls from --lr to 0 over --minutes")
    p.add_argument("--run-dir", default="runs/distill", help="the teacher's pairs and checkpoints for --resume")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--eval", type=int, default=0, metavar="N", help="grade N student samples at each checkpoint")
    p.add_argument("--classifier", default="assets/classifier")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the student's forward and backward")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dry-run", action="store_true", help="a tiny random teacher, 16 pairs, 3 steps")
    return p.parse_args(argv)


def run(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    classifier = real = None
    if args.eval:
        from generators.digits import DigitClassifier
        classifier = DigitClassifier.from_pretrained(args.classifier).eval().to(args.device)
        real = reference_digits(args.data).to(args.device)
    history, losses = [], []
    bar = tqdm(distill(teacher=args.teacher, out=args.out, minutes=args.minutes, pairs=args.pairs,
                       teacher_steps=args.teacher_steps, guidance=args.guidance, interval=args.interval,
                       seed=args.seed, batch_size=args.batch_size, lr=args.lr, ema=args.ema, run_dir=args.run_dir,
                       resume=args.resume, checkpoint_minutes=args.checkpoint_minutes, eval_samples=args.eval,
                       classifier=classifier, real=real, dry_run=args.dry_run, bf16=args.bf16,
                       device=args.device, cosine=args.cosine), mininterval=5)
    for m in bar:
        if "loss" in m:
            losses.append(m["loss"])
            bar.set_postfix(loss=f"{sum(losses[-100:]) / len(losses[-100:]):.4f}")
            continue
        m["loss_last_100"] = round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5)
        history.append(m)
        tqdm.write(str(m))
        recipe = {k: getattr(args, k) for k in ("pairs", "teacher_steps", "guidance", "interval", "seed",
                                                "batch_size", "lr", "cosine", "ema", "bf16", "device", "dry_run")}
        summary = {"student_steps": STUDENT_STEPS, "steps": m["step"], "train_minutes": m["minutes"], **recipe,
                   "history": history}
        Path(args.out, "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    data.exit_plainly(lambda: run(parse_args()))  # absent data: what is missing, not a traceback
