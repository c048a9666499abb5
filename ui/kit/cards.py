"""Model cards as the app shows them: the Hub's YAML front matter taken out, and the cards' two-column
label/value tables (no header row) written as a list, which reads on a phone and survives a `|` inside code."""

import re
from pathlib import Path

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


def texts(paths) -> dict[str, tuple[str, str]]:
    """Each existing card (paths from the repo root) as the app shows it, in English and in Chinese: the Chinese is
    README.zh.md beside the card, else the English."""
    table = {}
    for path in paths:
        card = ROOT / path
        if card.exists():
            en = for_app(card.read_text(encoding="utf-8"))
            zh_card = card.with_name("README.zh.md")
            table[text_key(path)] = (en, for_app(zh_card.read_text(encoding="utf-8")) if zh_card.exists() else en)
    return table
