"""The measured figures of each model, read from the one file that holds them: `assets/<model>/metrics.json`.

A training script writes its own figures there (time, device, loss, perplexity...); `--write-metrics` on
`bench.bench_digits` and `bench.bench_diffusion` adds the bench's graded figures under "bench" (accuracy, Frechet
distance, floor, speed), with the command, commit and machine that measured them. The VAE's class prior keeps its
figures in its file's metadata (fit_vae_prior.py). A figure found nowhere is None: the page says "not measured".

Model cards, tab strings and the compare page quote these figures through `{{model.key.path:format}}` placeholders
(`fill`), so a retrained or re-measured model shows its new figures everywhere at once.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# {{gan.bench.frechet:.2f}}: a model folder under assets/ (or "metrics": the one beside the card), a key path, an
# optional Python format spec (".2%": 0.125 -> "12.50%"; ",": 19002 -> "19,002")
PLACEHOLDER = re.compile(r"\{\{\s*([\w-]+)\.([\w.]+?)(?::([^}]*))?\s*\}\}")
NOT_MEASURED = "n/a"


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
    samples: int | None = None  # how many digits the bench graded for `accuracy` (the verdict's "over 2,000 draws")


def _number(text: str | None) -> float | None:
    """A number written as text ("12.50%" -> 0.125, "3.76" -> 3.76), or None."""
    if text is None:
        return None
    value = str(text).replace(",", "")
    return float(value[:-1]) / 100 if value.endswith("%") else float(value)


def metrics(model: str, root: Path = ROOT) -> dict:
    """assets/<model>/metrics.json, or {} where the model has none."""
    path = root / "assets" / model / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def lookup(data: dict, path: str):
    """data["bench"]["frechet"] for path "bench.frechet"; KeyError naming the path where a key is missing."""
    value = data
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(path)
        value = value[key]
    return value


def fill(text: str, here: Path | None = None, *, strict: bool = False, root: Path = ROOT) -> str:
    """`text` with each {{model.key.path:format}} replaced by that figure of assets/<model>/metrics.json ("metrics":
    the metrics.json in folder `here`). A figure not measured reads NOT_MEASURED, or raises KeyError when `strict`
    (the tests: every placeholder in a bundled card or string must resolve)."""
    def one(match: re.Match) -> str:
        model, path, spec = match.groups()
        if model == "metrics" and here is None:
            raise KeyError(f"{match.group()}: 'metrics.' only in a model card (the metrics.json beside it)")
        data = json.loads((here / "metrics.json").read_text(encoding="utf-8")) if model == "metrics" and \
            (here / "metrics.json").exists() else ({} if model == "metrics" else metrics(model, root))
        try:
            return format(lookup(data, path), spec or "")
        except (KeyError, ValueError, TypeError):
            if strict:
                raise KeyError(f"{match.group()}: no such figure (or format) in its metrics.json") from None
            return NOT_MEASURED
    return PLACEHOLDER.sub(one, text)


def _bench(model: str, root: Path) -> tuple[dict, dict]:
    data = metrics(model, root)
    return data, data.get("bench", {})


def gan(root: Path = ROOT) -> Figures:
    """The GAN's bench figures (`bench_digits --write-metrics`, psi = 1) and training time."""
    data, bench = _bench("gan", root)
    return Figures(bench.get("conditional_accuracy"), bench.get("frechet"), bench.get("floor"),
                   data.get("train_minutes"), data.get("device"), samples=bench.get("samples"))


def vae(root: Path = ROOT) -> Figures:
    """The VAE's class prior's figures (its file's metadata), the VAE's training time and the prior's fit time."""
    from generators.vae_prior import read_figures  # here, not at import: the cards read this module at start

    data = metrics("vae", root)
    prior = read_figures(root / "assets" / "vae" / "class_prior.safetensors")
    fit = float(prior["fit_seconds"]) / 60 if "fit_seconds" in prior else None
    return Figures(_number(prior.get("class_accuracy")), _number(prior.get("frechet")),
                   _number(prior.get("frechet_floor")), data.get("train_minutes"), data.get("device"), fit,
                   prior.get("fit_device"), int(prior["eval_samples"]) if "eval_samples" in prior else None)


def diffusion(root: Path = ROOT) -> Figures:
    """The diffusion model's bench figures at the tab's default (`bench_diffusion --write-metrics`), else its last
    graded checkpoint (`train_diffusion --eval N`: fewer samples and no floor); its training time."""
    data, bench = _bench("diffusion", root)
    graded = [h for h in data.get("history", []) if "eval_accuracy" in h]
    last = graded[-1] if graded else {}
    accuracy, frechet, samples = bench.get("conditional_accuracy"), bench.get("frechet"), bench.get("samples")
    if accuracy is None or frechet is None:
        accuracy, frechet, samples = last.get("eval_accuracy"), last.get("eval_frechet"), None
    return Figures(accuracy, frechet, bench.get("floor"), data.get("train_minutes"), data.get("device"),
                   samples=samples)


def distilled(root: Path = ROOT) -> Figures:
    """The distilled 4-step sampler's bench figures at its default and the student's training time."""
    data, bench = _bench("diffusion-4step", root)
    return Figures(bench.get("conditional_accuracy"), bench.get("frechet"), bench.get("floor"),
                   data.get("train_minutes"), data.get("device"), samples=bench.get("samples"))


def classifier_accuracy(root: Path = ROOT) -> float | None:
    """Our classifier's accuracy on the 10,000 real test digits (its metrics.json)."""
    return metrics("classifier", root).get("test_accuracy")


def all_families(root: Path = ROOT) -> dict[str, Figures]:
    """{"gan": ..., "vae": ..., "diffusion": ..., "distilled": ...}, read afresh (retrained models show at once)."""
    return {"gan": gan(root), "vae": vae(root), "diffusion": diffusion(root), "distilled": distilled(root)}
