"""Model cards as the app shows them: their figures filled in from metrics.json ({{metrics.key:format}}, the file
beside the card; {{gan.bench.frechet:.2f}}, another model's: ui/kit/figures.py), the Hub's YAML front matter taken
out, and the cards' two-column label/value tables (no header row) written as a list, which reads on a phone and
survives a `|` inside code."""

import re
from pathlib import Path

from ui.kit.figures import fill

ROOT = Path(__file__).resolve().parents[2]

FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
HEADERLESS = re.compile(r"^\|\s*\|\s*\|\n\|-+\|-+\|\n((?:\|.*\|\n?)+)", re.MULTILINE)


def for_app(card: str) -> str:
    """`card` (Markdown) without front matter, its header-less two-column tables as "- **label**: value" lines."""
    card = FRONT_MATTER.sub("", card.replace("\r\n", "\n"), count=1)
    return HEADERLESS.sub(lambda m: "".join(_item(row) for row in m.group(1).splitlines()) + "\n", card)


def _item(row: str) -> str:
    """One table row "| label | value |" as a list item; the value may itself hold `|` (inside code)."""
    label, _, value = row.strip().strip("|").partition("|")
    return f"- **{label.strip()}**: {value.strip().rstrip('|').strip()}\n"


def text_key(path: str) -> str:
    """The i18n key of a card's text: app_card_<its folder> ("assets/text-model/README.md" -> app_card_text_model)."""
    return "app_card_" + re.sub(r"\W", "_", Path(path).parent.name)


def rendered(card: Path, *, strict: bool = False) -> str:
    """The card at `card` as the app shows it, its figures read from the metrics.json beside it (strict: a figure
    that is not there raises KeyError instead of reading "n/a")."""
    return for_app(fill(card.read_text(encoding="utf-8"), card.parent, strict=strict))


def texts(paths) -> dict[str, tuple[str, str]]:
    """Each existing card (paths from the repo root) as the app shows it, in English and in Chinese: the Chinese is
    README.zh.md beside the card, else the English."""
    table = {}
    for path in paths:
        card = ROOT / path
        if card.exists():
            en = rendered(card)
            zh_card = card.with_name("README.zh.md")
            table[text_key(path)] = (en, rendered(zh_card) if zh_card.exists() else en)
    return table
