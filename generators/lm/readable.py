"""Can an English-only model read a prompt? A check on the characters, before any token is generated.

Our bundled GPT-2 learned its tokens and its language from English novels (training/novels.py): a prompt in another
script reaches it as byte tokens it barely saw, and it answers with English that has nothing to do with the prompt.
The share of letters outside the Latin script is the check: it needs no model, works the same for every tokenizer,
and a word or two of Greek or a name in Chinese in an English prompt stays below the limit.

    unreadable_share("人工智能的未来")   # 1.0
    unreadable_share("Hello 😀")         # 0.0 (the emoji is no letter); ends_in_symbol: True
"""

import unicodedata

MAX_FOREIGN_SHARE = 0.5  # more than half the letters in another script: the model cannot read the prompt


def _latin(ch: str) -> bool:
    return ch.isascii() or unicodedata.name(ch, "").startswith("LATIN")


def unreadable_share(prompt: str) -> float:
    """The share of the prompt's letters outside the Latin script; 1.0 for a prompt of symbols (emoji) only."""
    letters = [ch for ch in prompt if ch.isalpha()]
    if letters:
        return sum(not _latin(ch) for ch in letters) / len(letters)
    return 1.0 if any(unicodedata.category(ch).startswith("S") and not ch.isascii() for ch in prompt) else 0.0


def readable(prompt: str) -> bool:
    """Whether an English-only model can read the prompt (see `unreadable_share`)."""
    return unreadable_share(prompt) <= MAX_FOREIGN_SHARE


def ends_in_symbol(prompt: str) -> bool:
    """Whether the prompt ends with a pictograph or symbol (an emoji), where a continuation would be glued on."""
    if not prompt or prompt[-1].isspace():
        return False
    last = prompt.rstrip("\ufe0f\u200d")[-1:] or prompt[-1]  # an emoji's variation selector / joiner
    return unicodedata.category(last).startswith("S") and not last.isascii()
