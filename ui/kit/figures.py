"""The measured figures of each family, read where their scripts and model cards put them (no number lives here).

GAN: its bench figures are in the model card's "Measured" table (`python -m bench.bench_digits`), its training time
in metrics.json. VAE (drawn through the class prior): the figures fit_vae_prior.py measured, in the prior file's
metadata; the VAE's own training time in metrics.json. Diffusion: the model card's "Measured" table
(`python -m bench.bench_diffusion`) as the GAN's, else the last graded checkpoint in metrics.json
(`train_diffusion --eval N`); its distilled 4-step sampler: the student's card and metrics.json. A figure found nowhere is None: the page says "not measured".
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from generators.vae_prior import read_figures

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?%?")


@dataclass(frozen=True)
class Figures:
    """A family's bench figures; None where not measured."""

    accuracy: float | None = None  # share of conditional samples our classifier reads as the asked digit
    frechet: float | None = None  # Frechet distance on the classifier's features to real test digits
    floor: float | None = None  # the same between two sets of real test digits
    train_minutes: float | None = None
    device: str | None = None  # where it was trained
    fit_minutes: float | None = None  # the VAE's class prior: fitted after training, on fit_device
    fit_device: str | None = None


def _number(text: str | None) -> float | None:
    """The first number in `text` ("**99.85%**" -> 0.9985, "3.76" -> 3.76), or None."""
    match = NUMBER.search(text or "")
    if not match:
        return None
    value = match.group().replace(",", "")
    return float(value[:-1]) / 100 if value.endswith("%") else float(value)


def card_row(path: Path, prefix: str) -> str | None:
    """The last cell of the first Markdown table row whose first cell starts with `prefix` (case-insensitive)."""
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].lower().startswith(prefix.lower()):
            return cells[-1]
    return None


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def gan(root: Path = ROOT) -> Figures:
    """The GAN's bench figures (model card, psi = 1) and training time (metrics.json)."""
    card, metrics = root / "assets" / "gan" / "README.md", _json(root / "assets" / "gan" / "metrics.json")
    return Figures(_number(card_row(card, "conditional accuracy")), _number(card_row(card, "Frechet distance")),
                   _number(card_row(card, "real-vs-real floor")), metrics.get("train_minutes"),
                   metrics.get("device"))


def vae(root: Path = ROOT) -> Figures:
    """The VAE's class prior's figures (its file's metadata), the VAE's training time and the prior's fit time."""
    metrics = _json(root / "assets" / "vae" / "metrics.json")
    prior = read_figures(root / "assets" / "vae" / "class_prior.safetensors")
    fit = float(prior["fit_seconds"]) / 60 if "fit_seconds" in prior else None
    return Figures(_number(prior.get("class_accuracy")), _number(prior.get("frechet")),
                   _number(prior.get("frechet_floor")), metrics.get("train_minutes"), metrics.get("device"),
                   fit, prior.get("fit_device"))


def diffusion(root: Path = ROOT) -> Figures:
    """The diffusion model's bench figures (model card, as the GAN's), else its last graded checkpoint
    (metrics.json, fewer samples and no floor); its training time from metrics.json."""
    folder = root / "assets" / "diffusion"
    metrics, card = _json(folder / "metrics.json"), folder / "README.md"
    graded = [h for h in metrics.get("history", []) if "eval_accuracy" in h]
    last = graded[-1] if graded else {}
    accuracy, frechet = _number(card_row(card, "conditional accuracy")), _number(card_row(card, "Frechet distance"))
    if accuracy is None or frechet is None:
        accuracy, frechet = last.get("eval_accuracy"), last.get("eval_frechet")
    return Figures(accuracy, frechet, _number(card_row(card, "real-vs-real floor")), metrics.get("train_minutes"),
                   metrics.get("device"))


def distilled(root: Path = ROOT) -> Figures:
    """The distilled 4-step sampler's bench figures (its card's "Distilled, 4 steps" row: accuracy, then Frechet
    distance) and the student's training time (its metrics.json)."""
    folder = root / "assets" / "diffusion-4step"
    metrics, card = _json(folder / "metrics.json"), folder / "README.md"
    numbers = [_number(n) for n in NUMBER.findall(card_row(card, "Distilled, 4 steps") or "")] + [None, None]
    return Figures(numbers[0], numbers[1], _number(card_row(card, "real-vs-real floor")),
                   metrics.get("train_minutes"), metrics.get("device"))


def classifier_accuracy(root: Path = ROOT) -> float | None:
    """Our classifier's accuracy on the 10,000 real test digits (its metrics.json)."""
    return _json(root / "assets" / "classifier" / "metrics.json").get("test_accuracy")


def all_families(root: Path = ROOT) -> dict[str, Figures]:
    """{"gan": ..., "vae": ..., "diffusion": ..., "distilled": ...}, read afresh (retrained models show at once)."""
    return {"gan": gan(root), "vae": vae(root), "diffusion": diffusion(root), "distilled": distilled(root)}
