"""The tab contract and the registry: every `ui/tabs/<name>_tab.py` module declares one `TAB`; the app, the translation
table and the error wording loop over `tabs()`, so adding a tab edits no other file."""

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Wording = tuple[str, str]  # (English, Simplified Chinese)


@dataclass(frozen=True)
class Tab:
    """What the app needs to know about one tab."""

    key: str  # the prefix of its string and message keys: "gan" owns "gan_sample", "gan_digit", ...
    order: int  # position in the page, smallest first
    title: Wording
    build: Callable[[], None]  # adds the tab's components and events inside the open gr.Tab
    strings: dict[str, Wording] = field(default_factory=dict)  # labels, buttons, Markdown
    messages: dict[str, Wording] = field(default_factory=dict)  # error and notice templates, {field} placeholders
    names: dict[str, str] = field(default_factory=dict)  # API parameter name -> its Chinese label, for messages
    cards: tuple[tuple[str, str], ...] = ()  # (string key of its label, model card path from the repo root)
    css: str = ""
    prefixes: tuple[str, ...] = ()  # further key prefixes its messages own (e.g. an adapter's "watermark_")


@functools.cache
def tabs() -> tuple[Tab, ...]:
    """Every ui/tabs/*_tab.py module's TAB, in page order; a module without one is an error, not a missing tab."""
    found = []
    for info in pkgutil.iter_modules([str(Path(__file__).parents[1] / "tabs")]):
        if info.name.endswith("_tab"):
            module = importlib.import_module(f"ui.tabs.{info.name}")
            if not isinstance(getattr(module, "TAB", None), Tab):
                raise TypeError(f"ui/tabs/{info.name}.py declares no TAB = Tab(...)")
            found.append(module.TAB)
    return tuple(sorted(found, key=lambda tab: (tab.order, tab.key)))


def merged(part: str, common: dict) -> dict:
    """`common` plus each tab's `part` ("strings", "messages", "names"); a key defined twice is an error.
    Strings must carry their tab's prefix; messages may be shared keys of common (generic) or prefixed."""
    table = dict(common)
    for tab in tabs():
        for key, value in getattr(tab, part).items():
            if key in table:
                raise ValueError(f"{part} key {key!r} of tab {tab.key!r} is defined twice")
            allowed = (tab.key, *(tab.prefixes if part == "messages" else ()))
            if part != "names" and not key.startswith(tuple(f"{prefix}_" for prefix in allowed)):
                raise ValueError(f"{part} key {key!r} of tab {tab.key!r} lacks the prefix {tab.key}_")
            table[key] = value
    return table


def table(text: str) -> dict[str, Wording]:
    """Strings or messages written one to a line, `key: English | 中文` (blank lines and # comments skipped):
    a table reads as one, and two tabs' tables never look like copies of each other's code."""
    rows = {}
    for line in text.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, rest = line.partition(": ")
            en, bar, zh = rest.partition(" | ")
            if not (sep and bar and en.strip() and zh.strip()):
                raise ValueError(f"not 'key: English | 中文': {line!r}")
            if key.strip() in rows:
                raise ValueError(f"{key.strip()!r} is in the table twice")
            rows[key.strip()] = (en.strip(), zh.strip())
    return rows
