"""Model cards render cleanly in the app: no front matter, no header-less tables (each bundled card checked)."""

import re
from pathlib import Path

import pytest

from ui.kit.cards import for_app

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


def _numbers(text: str) -> set[str]:
    """The figures of a card: numbers with a decimal point or a thousands separator (55.4, 1,873)."""
    return set(re.findall(r"\d+[.,]\d+", text))


@pytest.mark.parametrize("path", CARDS, ids=lambda p: p.parent.name)
def test_cards_shown_have_a_chinese_version_with_the_same_figures(path):
    """A card the app shows reads in Chinese under a Chinese interface (README.zh.md beside it), with every figure
    of the English card."""
    from ui.kit.cards import text_key, texts
    from ui.kit.registry import tabs

    shown = {p for tab in tabs() for _, p in tab.cards}
    relative = str(path.relative_to(path.parents[2]))
    if relative not in shown:
        pytest.skip("not shown in the app")
    en, zh = texts([relative])[text_key(relative)]
    assert zh != en and re.search(r"[\u4e00-\u9fff]", zh)
    assert _numbers(en) <= _numbers(zh), _numbers(en) - _numbers(zh)
