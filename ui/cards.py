"""Model cards as the app shows them: the Hub's YAML front matter taken out, and the cards' two-column
label/value tables (no header row) written as a list, which reads on a phone and survives a `|` inside code."""

import re

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
