"""Model cards render cleanly in the app: no front matter, no header-less tables (each bundled card checked)."""

from pathlib import Path

import pytest

from ui.cards import for_app

CARDS = sorted((Path(__file__).resolve().parents[1] / "assets").glob("*/README.md"))


def test_front_matter_and_headerless_tables():
    card = "---\nlicense: mit\n---\n\n# Title\n\n| | |\n|---|---|\n| tokenizer | BPE, `<|endoftext|>` between books |\n" \
           "| time | 7 min |\n\nAfter.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    shown = for_app(card)
    assert shown.startswith("\n# Title") and "license" not in shown
    assert "- **tokenizer**: BPE, `<|endoftext|>` between books\n- **time**: 7 min\n" in shown
    assert "| a | b |\n|---|---|\n| 1 | 2 |" in shown  # a table with a header stays a table


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.parent.name)
def test_bundled_cards(path):
    shown = for_app(path.read_text(encoding="utf-8"))
    assert not shown.lstrip().startswith("---") and "| | |" not in shown
