"""Where a bench's graded figures go: the "bench" entry of `assets/<model>/metrics.json`, beside what the training
script wrote there, with what reproduces or explains them (command, commit, date, Python, torch, threads, load).

The model cards, the tabs and the compare page read them from there (ui/kit/figures.py); a retraining rewrites
metrics.json without them, so the cards say "n/a" until the bench runs again with --write-metrics.
"""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch


def conditions() -> dict:
    """What a reader needs to reproduce or explain a figure measured now."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        commit = head.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "not recorded"
    return {"command": " ".join(["python -m", _module(), *sys.argv[1:]]),
            "commit": commit, "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
            "load_average": round(os.getloadavg()[0], 2)}


def _module() -> str:
    """bench/bench_digits.py -> bench.bench_digits (how the bench was started)."""
    path = Path(sys.argv[0]).resolve().with_suffix("")
    return ".".join(path.parts[-2:])


def over_floor(figures: dict) -> dict:
    """`figures` plus each Frechet distance as a multiple of the floor ("frechet" -> "frechet_over_floor"), the way
    the cards compare a model with real digits."""
    ratios = {f"{k}_over_floor": round(v / figures["floor"], 2) for k, v in figures.items()
              if "frechet" in k and not k.endswith("_over_floor") and figures.get("floor")}
    return {**figures, **ratios}


def record(folder: Path, figures: dict) -> Path:
    """Write `figures` (plain numbers, with their ratios to the floor) and conditions() into folder/metrics.json
    under "bench", keeping what the training script wrote there; returns the path."""
    path = Path(folder) / "metrics.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data["bench"] = {**conditions(), **over_floor(figures)}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
