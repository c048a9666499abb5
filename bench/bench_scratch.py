"""Train from scratch (issue 31): how fast each family learns on this CPU, what its failure switch costs, and how
quick the rest of the app stays while a training runs.

    python bench/bench_scratch.py                      # every family, with and without its failure, 60 s each
    python bench/bench_scratch.py --seconds 20 --families GAN
    python bench/bench_scratch.py --responsiveness     # /sample_digits alone vs during a training (served app)

Each run trains as the tab does (its own thread, one torch thread) and prints the curve of the classifier's read
share (confidence >= 0.9), class accuracy and distinct digits read against seconds; at the end it grades 1,000
samples (100 a digit where the family takes one) and, for the VAE, the negative ELBO on MNIST's 10,000 test digits
(training/metrics.py: vae_figures) beside the shipped VAE's on the same digits. The machine's load average is printed
beside every figure: the 2 cores are shared. Results go to docs/scratch-curves.json and
docs/scratch-responsiveness.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generators.digits import DigitVAE  # noqa: E402
from generators.scratch.data import Grader  # noqa: E402
from generators.scratch import trainer  # noqa: E402
from generators.scratch.trainer import FAMILIES, ScratchTrainer, in_background  # noqa: E402
from training.metrics import vae_figures  # noqa: E402
from training.mnist import load_mnist  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "mnist"
OUT = ROOT / "docs" / "scratch-curves.json"


def load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def graded(run, grader: Grader, grids: int = 10) -> dict:
    """The classifier's reading of `grids` x 100 samples (the fixed grid's seed, then the next ones)."""
    images, labels = zip(*(run.samples(run.seed + i) for i in range(grids)))
    labels = None if labels[0] is None else torch.cat(labels)
    r = grader.read(torch.cat(images), labels)
    return {"samples": grids * 100, "read_share": round(r.read_share, 4), "classes_read": r.classes_read,
            "class_accuracy": None if r.class_accuracy is None else round(r.class_accuracy, 4)}


def train(family: str, failure: bool, seconds: float, seed: int, every: float) -> tuple[list, object]:
    """One training as the tab runs it; its curve (one row per update) and its run."""
    stop, curve = threading.Event(), []
    stream = ScratchTrainer().stream(family=family, seconds=seconds, seed=seed, failure=failure, stop=stop, every=every)
    for u in in_background(stream, stop):
        row = {"seconds": round(u.seconds, 1), "step": u.step, **{k: v for k, v in u.record().items()
                                                                   if k not in ("seconds", "step", "seconds_left")}}
        curve.append(row)
        acc = "  -  " if row["class_accuracy"] is None else f"{row['class_accuracy']:5.0%}"
        pix = f"  pixel err {row['pixel_error']:.4f}" if "pixel_error" in row else ""
        print(f"  {row['seconds']:6.1f} s  step {u.step:5d}  read {row['classifier_read']:5.0%}  asked {acc}  "
              f"digits {row['classes_read']:2d}{pix}  losses {row['losses']}", flush=True)
    return curve, u.run


def vae_elbo(run, test: torch.Tensor) -> dict:
    return {k: round(v, 4) for k, v in vae_figures(run.vae, test, run.device).items()}


def curves(args) -> None:
    grader, results = Grader(), {"seconds": args.seconds, "seed": args.seed, "runs": []}
    test = load_mnist(args.data, "test")[0] if "VAE" in args.families else None
    if test is not None:  # the baseline, on the same digits, in the same run
        shipped = DigitVAE.from_pretrained(ROOT / "assets" / "vae")
        results["shipped_vae"] = {k: round(v, 4) for k, v in vae_figures(shipped, test, "cpu").items()}
        print(f"shipped VAE (assets/vae) on the 10,000 test digits: {results['shipped_vae']}")
    for family in args.families:
        for failure in (False, True):
            print(f"\n{family} failure={failure}, {args.seconds:.0f} s, seed {args.seed} ({load()})", flush=True)
            t0 = time.perf_counter()
            curve, run = train(family, failure, args.seconds, args.seed, args.every)
            entry = {"family": family, "failure": failure, "load_before": load(), "curve": curve,
                     "wall_seconds": round(time.perf_counter() - t0, 1), "final": graded(run, grader)}
            if family == "VAE":
                entry["final"].update(vae_elbo(run, test))
            entry["load_after"] = load()
            print(f"  final ({entry['load_after']}): {entry['final']}", flush=True)
            results["runs"].append(entry)
    summary(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {args.out}")


def summary(results: dict) -> None:
    print("\nfamily     failure  steps  read>=0.9  asked  digits  extra")
    for r in results["runs"]:
        f, last = r["final"], r["curve"][-1]
        asked = "  -  " if f["class_accuracy"] is None else f"{f['class_accuracy']:5.0%}"
        extra = (f"neg ELBO {f['neg_elbo_nats']:.1f} (shipped {results['shipped_vae']['neg_elbo_nats']:.1f}), "
                 f"pixel MSE {f['pixel_mse_at_mean']:.4f}") if "neg_elbo_nats" in f else ""
        print(f"{r['family']:10} {str(r['failure']):7} {last['step']:6d}  {f['read_share']:8.0%}  {asked}  "
              f"{f['classes_read']:6d}  {extra}")


def responsiveness(args) -> None:
    """/sample_digits (16 digits) timed through gradio_client alone, then while /train_from_scratch runs."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gradio_client import Client

    import app

    demo = app.build_demo()
    client = Client(app.launch_local(demo), verbose=False)
    # --busy: CPU-bound processes at the app's priority, standing for the shared machine's other users
    others = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]

    def timed(n: int) -> list[float]:
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            client.predict("Any", 16, i, 1.0, api_name="/sample_digits")
            out.append(1000 * (time.perf_counter() - t0))
        return out
    t0 = time.perf_counter()  # the tabs' warm-ups (a text model, diffusers' import: seconds holding the GIL) end
    for thread in [t for t in threading.enumerate() if t.name == "warm-ups"]:  # first: not a training's cost
        thread.join()
    print(f"the app's warm-ups ended {time.perf_counter() - t0:.1f} s after the page answered", flush=True)
    timed(5)  # warm-up: the GAN loads
    if not args.cold:  # and a training's first-call costs (--cold: the first measured training pays them)
        list(client.submit("VAE", 2, 0, False, api_name="/train_from_scratch"))
    rows = []
    for nice, family in [(n, f) for n in args.nice for f in args.families]:
        trainer.NICE = nice  # read as each training starts (generators/scratch/trainer.py: in_background)
        first = args.cold and not rows
        alone = timed(args.requests // 2)  # half before the training, half after: the shared machine's load drifts
        job = client.submit(family, args.seconds, 0, False, api_name="/train_from_scratch")
        deadline = time.time() + 60
        while job.status().code.name not in ("PROCESSING", "ITERATING") and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # the classifier and data loaded, steps under way
        during = timed(args.requests)
        job.cancel()
        time.sleep(1)
        alone += timed(args.requests - args.requests // 2)
        a, d = statistics.median(alone), statistics.median(during)
        rows.append({"family": family, "nice": nice, "first_training": first, "alone_ms": [round(x) for x in alone],
                     "during_ms": [round(x) for x in during], "median_ratio": round(d / a, 2), "load": load()})
        print(f"{family} (training at nice {nice}{', the first' if first else ''}): /sample_digits median {a:.0f} ms alone, {d:.0f} ms during a training ({d / a:.2f}x); "
              f"p90 {statistics.quantiles(alone, n=10)[-1]:.0f} vs {statistics.quantiles(during, n=10)[-1]:.0f} ms "
              f"({load()})", flush=True)
    demo.close()
    for other in others:
        other.kill()
    if args.dry_run:
        return
    out = args.out.with_name(f"scratch-responsiveness{'-busy' if args.busy else ''}.json")
    out.write_text(json.dumps({"requests": args.requests, "digits": 16, "busy_processes": args.busy, "runs": rows},
                              indent=1) + "\n")
    print(f"written {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60, help="each training's time budget")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--every", type=float, default=5.0, help="seconds between curve points")
    p.add_argument("--data", default=str(DATA), help="MNIST's IDX files (the test set grades the VAE)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--responsiveness", action="store_true", help="time /sample_digits alone and during a training")
    p.add_argument("--requests", type=int, default=30, help="/sample_digits calls per measurement")
    p.add_argument("--nice", type=int, nargs="+", default=[trainer.NICE],
                   help="the training thread's nice values to compare, each in turn (0: the app's own priority)")
    p.add_argument("--cold", action="store_true", help="no warm-up training: the first measured one is the process's "
                   "first (its first-use costs included)")
    p.add_argument("--busy", type=int, default=0, metavar="N", help="N busy-looping processes meanwhile, as a "
                   "shared machine's other users (written to docs/scratch-responsiveness-busy.json)")
    p.add_argument("--dry-run", action="store_true", help="print the figures, write nothing")
    args = p.parse_args()
    torch.set_num_threads(1)
    responsiveness(args) if args.responsiveness else curves(args)


if __name__ == "__main__":
    main()
