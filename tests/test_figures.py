"""One home for each measured figure: assets/<model>/metrics.json. The cards and the tabs' strings quote figures
through {{model.key:format}} placeholders that must all resolve, and no figure of a metrics.json is typed by hand
into a string or comment of the app's code."""

import ast
import io
import json
import re
import tokenize
from pathlib import Path

import pytest

from bench.record import over_floor, record
from ui.kit import figures
from ui.kit.cards import rendered

ROOT = Path(__file__).resolve().parents[1]
CARDS = sorted((ROOT / "assets").glob("*/README*.md"))
CODE = sorted([*(ROOT / "ui").rglob("*.py"), *(ROOT / "generators").rglob("*.py"), ROOT / "app.py"])
# settings a recipe chose, not figures a script measured
SETTINGS = {"lr", "ema", "p_uncond", "guidance", "interval", "aux_weight", "seed", "batch_size", "epochs", "steps",
            "student_steps", "teacher_steps", "pairs", "latent_dim", "samples", "threads", "cores", "load_average"}


@pytest.mark.parametrize("card", CARDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_placeholder_in_a_card_resolves(card):
    shown = rendered(card, strict=True)  # KeyError names a placeholder without its figure
    assert "{{" not in shown.replace("{{ }}", "") and figures.NOT_MEASURED not in shown


def test_every_placeholder_in_the_tabs_resolves():
    tabs = sorted((ROOT / "ui" / "tabs").glob("*.py"))
    found = [m.group() for path in tabs for m in figures.PLACEHOLDER.finditer(path.read_text(encoding="utf-8"))]
    assert found  # the room tab quotes the text model's held-out loss this way
    for placeholder in found:
        assert figures.fill(placeholder, strict=True) != placeholder


def test_fill_formats_and_refuses_what_is_not_there(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"bench": {"accuracy": 0.9965, "steps": 19002}}))
    text = "{{metrics.bench.accuracy:.2%}} at {{metrics.bench.steps:,}}; {{gan.bench.nothing:.2f}}"
    assert figures.fill(text, tmp_path, root=tmp_path) == f"99.65% at 19,002; {figures.NOT_MEASURED}"
    with pytest.raises(KeyError, match="gan.bench.nothing"):
        figures.fill(text, tmp_path, strict=True, root=tmp_path)
    with pytest.raises(KeyError):
        figures.fill("{{metrics.bench.accuracy}}", None, strict=True)  # "metrics." only beside a card
    with pytest.raises(KeyError):
        figures.fill("{{metrics.bench.accuracy:.2q}}", tmp_path, strict=True)  # a bad format is an error too


def test_a_bench_writes_the_keys_the_pages_read(tmp_path):
    folder = tmp_path / "assets" / "gan"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"train_minutes": 7.1, "device": "cuda"}))
    record(folder, {"conditional_accuracy": 0.99, "frechet": 8.0, "floor": 4.0})
    data = json.loads((folder / "metrics.json").read_text())
    assert data["train_minutes"] == 7.1 and data["bench"]["frechet_over_floor"] == 2.0  # training's figures kept
    assert {"command", "commit", "date", "python", "torch", "threads", "load_average"} <= set(data["bench"])
    assert figures.gan(tmp_path) == figures.Figures(0.99, 8.0, 4.0, 7.1, "cuda")
    assert over_floor({"frechet": 3.0}) == {"frechet": 3.0}  # no floor, no ratio


def _measured() -> dict[str, float]:
    """Each measured number of each metrics.json (top level and "bench"; not histories or settings), by where."""
    found = {}
    for path in (ROOT / "assets").glob("*/metrics.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for scope, values in (("", data), ("bench.", data.get("bench", {}))):
            for key, value in values.items():
                if isinstance(value, float) and key not in SETTINGS and value != int(value):
                    found[f"{path.parent.name}: {scope}{key}"] = value
    return found


def _spellings(value: float) -> set[str]:
    """How a figure is written by hand: 0.9965 as 99.65%, 8.13 as 8.13, 56.05 as 56.05 or 56.1; only spellings of
    3 digits or more (a "1.5" in the code is no copy of a ratio of 1.48, nor a 99.9% threshold of 0.9985)."""
    spelled = {f"{value:.2%}"} if 0 < value < 1 else {f"{value:.2f}", f"{value:.1f}"}
    return {s for s in spelled if len(re.sub(r"\D", "", s)) >= 3} - {"100.00%", "100.0%", f"{int(value)}.0"}


def _texts(path: Path) -> list[str]:
    """The string constants and the comments of a Python file: where a figure would be copied."""
    source = path.read_text(encoding="utf-8")
    strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    return strings + comments


def test_no_measured_figure_is_copied_into_the_code():
    measured = _measured()
    assert len(measured) >= 20 and measured["diffusion: bench.conditional_accuracy"] == 0.9965
    copies = []
    for path in CODE:
        for text in _texts(path):
            for where, value in measured.items():
                for spelling in _spellings(value):
                    if re.search(rf"(?<![\d.]){re.escape(spelling)}(?![\d])", text):
                        copies.append(f"{path.relative_to(ROOT)}: {spelling} ({where})")
    assert not copies, "figures typed by hand (quote them as {{model.key:format}} or point to docs/results.md):\n" + \
        "\n".join(sorted(set(copies)))


def test_the_scan_finds_a_copied_figure(tmp_path):
    """The check above is not vacuous: the diffusion tab's old wording, with its figures typed in, is caught."""
    old = tmp_path / "old_tab.py"
    old.write_text('TEXT = "at 20 DPM-Solver++ steps, 0.7 keeps the digits legible (99.65% read as asked)"\n')
    spelled = {s for v in _measured().values() for s in _spellings(v)}
    assert any(s in text for text in _texts(old) for s in spelled)


def test_a_message_quotes_its_figure_from_metrics_json():
    """Messages are str.format templates: their figures are filled in before, so the room's rule reads a number."""
    from ui.kit.errors import render

    loss = f"{figures.metrics('text-model')['val_loss']:.2f}"
    for lang in ("en", "zh"):
        text = render("room_rule_text", {}, lang)
        assert loss in text and "{" not in text
