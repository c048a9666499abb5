"""Quality and speed of the digit diffusion model, beside the GAN and the VAE, printed in one run.

    python -m bench.bench_diffusion                 # the model card's figures (long on 2 CPU cores: see --help)
    python -m bench.bench_diffusion --quick         # fewer samples and a small grid, for a smoke test
    python -m bench.bench_diffusion --device cuda   # the same on a GPU

Quality, graded as bench_digits grades the GAN: the class accuracy of conditional samples (digit i % 10 for sample
i) as read by our MNIST classifier, and the Frechet distance on its 128-d features (Heusel et al., 2017, with our
classifier in place of Inception) to real test digits, beside the real-vs-real floor at the same sample size and
what training digits themselves score. The test digits are taken in a seeded random order (the stored order puts
a cleaner writer group first: training/metrics.py, reference_order).
The headline rows (DPM-Solver++ at 20 steps; UniPC at 4; the distilled student at its 4 DDIM steps, from
assets/diffusion-4step) use --samples digits; the table over
sampler x steps x guidance uses --table-samples, with its own floor.
Speed: compute for 16 digits at 20 steps and at 4 (UniPC; the student), beside the GAN's 64-digit grid and the VAE's
16-frame interpolation, timed here in the same process.
"""

import argparse
import time
from pathlib import Path

import torch

from bench.bench_digits import timed
from bench.record import record
from generators.digits import DigitClassifier
from generators.diffusion import ASSETS, DEFAULT_GUIDANCE, DEFAULT_INTERVAL, DISTILLED, STUDENT_ASSETS, DiffusionSampler
from generators.gan import GanSampler
from generators.vae import VaeInterpolator
from training.metrics import frechet, reference_digits, reference_order, sample_quality, training_copy
from training.mnist import DEFAULT_DATA, load_mnist


# the tab's default, the teacher's 4 UniPC steps, and the distilled 4 steps (the student's first step never guided)
HEADLINE = (("DPM-Solver++", 20), ("UniPC", 4), (DISTILLED, 4))


@torch.no_grad()
def diffusion_samples(sampler: DiffusionSampler, n: int, *, steps: int, guidance: float, name: str,
                      interval: float = 1.0, seed: int = 0, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """n conditional samples (digit i % 10), in batches, reproducible from `seed`."""
    pipe, labels, how = sampler.load(), torch.arange(n) % 10, sampler.run_kwargs(name)  # "Distilled": DDIM + student
    g = torch.Generator().manual_seed(seed)
    fake = torch.cat([pipe(labels[i:i + batch], steps=steps, guidance=guidance, generator=g, interval=interval, **how)
                      for i in range(0, n, batch)])
    return fake, labels


def graded(sampler, C, real, n: int, **config) -> tuple[dict, float]:
    """(accuracy and Frechet distance of n samples of `config`, seconds it took)."""
    t0 = time.perf_counter()
    fake, labels = diffusion_samples(sampler, n, **config)
    return sample_quality(C, fake, labels, real[:n]), time.perf_counter() - t0


def floor(C, real: torch.Tensor, n: int) -> float:
    """Frechet distance between two disjoint n-digit test sets: what a perfect generator would score."""
    with torch.no_grad():
        return frechet(C.features(real[:n]).cpu(), C.features(real[n:2 * n]).cpu())


@torch.no_grad()
def gan_samples(gan: GanSampler, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n GAN samples (psi = 1) and the digits they were asked for, for the comparison row."""
    batches = [gan.sample(digit=None, count=64, seed=s) for s in range(-(-n // 64))]
    return torch.cat([b.images for b in batches])[:n], torch.tensor(sum((b.labels for b in batches), []))[:n]


def others(values: list[float]) -> str:
    """The figures against the other reference samples (--reference-seeds), if any."""
    return f"  (other reference seeds: {' '.join(f'{v:.2f}' for v in values[1:])})" if len(values) > 1 else ""


def against(C, fake: torch.Tensor, labels: torch.Tensor, refs: list[torch.Tensor]) -> tuple[str, dict]:
    """"accuracy, Frechet" against the first reference sample, then the distances to the others; and the first's
    figures as numbers."""
    figures = [sample_quality(C, fake, labels, real[:len(fake)]) for real in refs]
    first = {"conditional_accuracy": round(float(figures[0]["conditional_accuracy"]), 4),
             "frechet": round(float(figures[0]["frechet"]), 2)}
    return (f"{first['conditional_accuracy']:.2%}, {first['frechet']:.2f}"
            + others([f["frechet"] for f in figures])), first


def setting(name: str, guidance: float, interval: float) -> tuple[str, str] | None:
    """(model folder, key suffix) under which --write-metrics keeps a headline run: the tab's default for the
    teacher's 20 steps and for the distilled sampler, and their unguided runs; None for the others."""
    model = {"DPM-Solver++": "diffusion", DISTILLED: "diffusion-4step"}.get(name)
    if model is None or (guidance and (guidance, interval) != (DEFAULT_GUIDANCE, DEFAULT_INTERVAL)):
        return None
    return model, "" if guidance else "_unguided"


def quality(sampler, gan, C, refs: list[torch.Tensor], args, out: dict) -> list[tuple[str, str]]:
    """The headline rows; the same samples graded against each reference sample of test digits (the first one is
    the cards' figure, the others show how much the choice of reference moves it). `out` gets the figures that
    --write-metrics keeps, by model folder."""
    n, rows = args.samples, []
    floors = [floor(C, real, n) for real in refs]
    rows.append((f"real-vs-real floor ({n} vs {n} test digits)", f"{floors[0]:.2f}" + others(floors)))
    train = reference_digits(args.data, "train")[:n]  # one set of training digits, graded against each reference
    copies = [training_copy(C, train, real) for real in refs]
    rows.append((f"{n} training digits as if generated", f"{copies[0]:.2f}" + others(copies)))
    for model in ("diffusion", "diffusion-4step"):
        out[model].update(samples=n, floor=round(float(floors[0]), 2), training_copy=round(float(copies[0]), 2))
    if not args.no_gan:
        text, first = against(C, *gan_samples(gan, n), refs)
        rows.append((f"GAN ({n} samples): accuracy, Frechet", text))
        for model in ("diffusion", "diffusion-4step"):  # the GAN graded in the same run, beside them
            out[model].update({f"gan_{k}": v for k, v in first.items()})
    for name, steps in HEADLINE:
        for w, interval in [(w, i) for w in args.headline_guidance for i in (args.interval if w else [1.0])]:
            t0 = time.perf_counter()
            fake, labels = diffusion_samples(sampler, n, steps=steps, guidance=w, name=name, interval=interval)
            s = time.perf_counter() - t0
            text, first = against(C, fake, labels, refs)
            rows.append((f"diffusion {name} {steps} steps, guidance {w}, interval {interval} ({n} samples): "
                         "accuracy, Frechet", f"{text}  ({s:.0f} s)"))
            if (kept := setting(name, w, interval)) is not None:
                out[kept[0]].update({k + kept[1]: v for k, v in first.items()})
    return rows


def table(sampler, C, real, args) -> None:
    """The grid sampler x steps x guidance at --table-samples, printed as it goes (a long run shows progress)."""
    n = args.table_samples
    print(f"\ntable: {n} samples each, guidance interval {args.table_interval}; real-vs-real floor at {n}: "
          f"{floor(C, real, n):.2f}")
    print(f"{'sampler':<13} {'steps':>5} {'guidance':>8} {'accuracy':>9} {'Frechet':>8} {'seconds':>8}", flush=True)
    for name in args.samplers:
        for steps in args.steps:
            for w in args.guidance:
                m, s = graded(sampler, C, real, n, steps=steps, guidance=w, name=name, interval=args.table_interval)
                print(f"{name:<13} {steps:>5} {w:>8} {m['conditional_accuracy']:>9.2%} {m['frechet']:>8.2f}"
                      f" {s:>8.1f}", flush=True)


def speed(sampler, gan, vae, repeats: int, out: dict) -> list[tuple[str, str]]:
    """Milliseconds for 16 digits per headline sampler and guidance, beside the GAN's grid and the VAE's walk."""
    start, end = vae.test_digit(1, 0), vae.test_digit(7, 0)
    rows = []
    for name, steps in HEADLINE:
        for w, interval in ((0.0, 1.0), (1.0, 1.0), (DEFAULT_GUIDANCE, DEFAULT_INTERVAL)):
            ms = timed(lambda: sampler.sample(digit=None, count=16, steps=steps, guidance=w, seed=0,
                                              sampler=name, interval=interval), repeats)
            rows.append((f"diffusion: 16 digits, {name} {steps} steps, guidance {w}, interval {interval}, ms",
                         f"{ms:.0f}"))
            if (kept := setting(name, w, interval)) is not None:
                out[kept[0]]["ms_16_digits" + kept[1]] = round(ms)
    rows.append(("GAN: 64-digit grid (G + D + classifier), ms",
                 f"{timed(lambda: gan.sample(digit=None, count=64, seed=0), repeats):.1f}"))
    rows.append(("VAE: 16-frame interpolation, ms",
                 f"{timed(lambda: list(vae.stream(start=start, end=end, steps=16)), repeats):.1f}"))
    return rows


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="MNIST IDX folder")
    p.add_argument("--model", default=str(ASSETS), help="the exported diffusion pipeline")
    p.add_argument("--student", default=str(STUDENT_ASSETS), help="the distilled 4-step student's pipeline")
    p.add_argument("--classifier", default="assets/classifier", help="the MNIST classifier that grades")
    p.add_argument("--samples", type=int, default=2000, help="samples for the headline rows")
    p.add_argument("--table-samples", type=int, default=500, help="samples for each cell of the table")
    p.add_argument("--samplers", nargs="+", default=["DPM-Solver++", "UniPC", "DDIM"])
    p.add_argument("--steps", nargs="+", type=int, default=[1, 2, 4, 10, 20, 50])
    p.add_argument("--guidance", nargs="+", type=float, default=[0.0, 1.0, 3.0, 5.0])
    p.add_argument("--headline-guidance", nargs="+", type=float, default=[0.0, DEFAULT_GUIDANCE])
    p.add_argument("--interval", type=float, nargs="+", default=[1.0, DEFAULT_INTERVAL],
                   help="guidance only below this share of the noise schedule, in the headline rows (1 = always)")
    p.add_argument("--table-interval", type=float, default=1.0, help="the same for the table")
    p.add_argument("--no-table", action="store_true", help="headline rows and speed only")
    p.add_argument("--table-only", action="store_true", help="the table alone (no GAN, VAE, speed or headline rows)")
    p.add_argument("--no-speed", action="store_true", help="skip the timings (on a machine whose seconds don't count)")
    p.add_argument("--no-gan", action="store_true", help="skip the GAN's quality row")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--quick", action="store_true", help="200 samples, a 2 x 3 x 2 table, 3 timing repeats")
    p.add_argument("--device", default="cpu")
    p.add_argument("--write-metrics", action="store_true", help="write the headline figures into the metrics.json "
                   "of --model and --student (the cards and tabs read them; run with the defaults)")
    p.add_argument("--reference-seeds", type=int, nargs="+", default=[0],
                   help="the random samples of test digits that grade the headline rows (and give the floor); the "
                        "first grades the table; 0 = the cards' figures")
    args = p.parse_args()
    if args.quick:
        args.samples, args.table_samples, args.steps, args.guidance = 200, 100, [1, 4, 20], [0.0, 3.0]
        args.headline_guidance = [1.0]
    return args


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sampler = DiffusionSampler(Path(args.model), device=device, student=Path(args.student))
    gan, vae = GanSampler(device=device), VaeInterpolator(device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, device {device.type} ({name})", flush=True)
    test = load_mnist(args.data, "test")[0]
    refs = [reference_order(test, seed).to(device) for seed in args.reference_seeds]  # each a fair sample first
    C = DigitClassifier.from_pretrained(args.classifier).eval().to(device)  # grades every row and the table
    if args.table_only:
        return table(sampler, C, refs[0], args)
    out: dict[str, dict] = {"diffusion": {}, "diffusion-4step": {}}
    rows = [] if args.no_speed else speed(sampler, gan, vae, 3 if args.quick else 10, out)
    rows += quality(sampler, gan, C, refs, args, out)
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}", flush=True)
    if args.write_metrics:
        for model, folder in (("diffusion", args.model), ("diffusion-4step", args.student)):
            print("wrote", record(Path(folder), out[model]), flush=True)
    if not args.no_table:
        table(sampler, C, refs[0], args)


if __name__ == "__main__":
    main()
