"""What the bundled text model is and what was measured of it, read from the files its training and benches wrote
(assets/text-model: config.json, metrics.json, watermark.json): shown beside its output and used by the watermark
verdict. No figure is copied here."""

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def bundled_path() -> Path:
    return Path(os.environ.get("PLAYGROUND_TEXT_MODEL") or REPO_ROOT / "assets" / "text-model")


def bundled_facts() -> dict:
    """What the bundled model is, from the files its training wrote (config.json, metrics.json): parameters,
    training tokens, minutes and device, context. Empty where the files are missing (a model in training)."""
    folder = bundled_path()
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return {"params": metrics["params"], "train_tokens": metrics["train_tokens"],
            "train_minutes": metrics["train_minutes"], "device": metrics["device"], "context": config["n_positions"]}


def watermark_figures() -> dict | None:
    """What bench/bench_watermark_default.py measured for the text tab's defaults (None before it has run)."""
    path = bundled_path() / "watermark.json"
    if not path.exists():
        return None
    figures = json.loads(path.read_text())
    enough = [row["new_tokens"] for row in figures["lengths"] if row["marked"]["watermarked"] >= 0.95]
    return figures | {"new_tokens_needed": enough[0] if enough else None}  # the shortest length found 95% of times
