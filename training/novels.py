"""Project Gutenberg novels as clean training text: licence header/footer stripped, paragraphs unwrapped."""

import re
from pathlib import Path

from training import data

DEFAULT_DATA = data.folder("gutenberg")  # ../shared/data/text/gutenberg, or .data/text/gutenberg
# Whole books held out for validation (short, varied: Carroll, Wells, Doyle, Irving).
VALID_BOOKS = ("11-0.txt", "35-0.txt", "244-0.txt", "41-0.txt")
_START = re.compile(r"^\*\*\* ?START OF.*$", re.MULTILINE)
_END = re.compile(r"^\*\*\* ?END OF.*$", re.MULTILINE)


def clean_book(raw: str) -> str:
    """Keeps the text between the START and END lines; one paragraph per line."""
    text = raw.lstrip("\ufeff").replace("\r\n", "\n")
    start, end = _START.search(text), _END.search(text)
    text = text[start.end() if start else 0: end.start() if end else len(text)]
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n".join(p for p in paragraphs if p)


def load_books(data_dir: str | Path = DEFAULT_DATA, limit: int | None = None,
               max_chars: int | None = None) -> tuple[list[str], list[str]]:
    """(train texts, validation texts), whole books each (cut to `max_chars` for a dry run)."""
    files = sorted(Path(data_dir).glob("*.txt"))[:limit]
    if not files:
        raise data.MissingData(f"missing: .txt books in {data_dir}\n{data.how_to_get('gutenberg')}")
    train, valid = [], []
    for f in files:
        (valid if f.name in VALID_BOOKS else train).append(clean_book(f.read_text(encoding="utf-8"))[:max_chars])
    if not valid:  # a --dry-run subset may hold none of the chosen books
        valid.append(train.pop())
    return train, valid
