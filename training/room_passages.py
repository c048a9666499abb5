"""Passages for the room's text round: paragraphs of the four books held out from the text model's training.

    python -m training.room_passages            # writes assets/room/passages.json
    python -m training.room_passages --dry-run  # prints the counts, writes nothing
"""

import argparse
import json
from pathlib import Path

from generators.room.rounds import SENTENCE_END, first_sentence
from training.novels import DEFAULT_DATA, VALID_BOOKS, clean_book

OUT = Path(__file__).resolve().parents[1] / "assets" / "room" / "passages.json"
TITLES = {"11-0.txt": "Alice's Adventures in Wonderland (Lewis Carroll, PG #11)",
          "35-0.txt": "The Time Machine (H. G. Wells, PG #35)",
          "244-0.txt": "A Study in Scarlet (Arthur Conan Doyle, PG #244)",
          "41-0.txt": "The Legend of Sleepy Hollow (Washington Irving, PG #41)"}
PER_BOOK = 60


def usable(paragraph: str) -> bool:
    """Narrative prose of 350-700 characters, three sentences or more, a first sentence of 40-200 characters."""
    if not 350 <= len(paragraph) <= 700 or paragraph.isupper() or "CHAPTER" in paragraph:
        return False
    return len(SENTENCE_END.split(paragraph)) >= 3 and 40 <= len(first_sentence(paragraph)) <= 200


def passages(data_dir: Path) -> list[dict]:
    """Up to PER_BOOK usable paragraphs of each held-out book, evenly spread through it."""
    out = []
    for name in VALID_BOOKS:
        paras = [p for p in clean_book((data_dir / name).read_text(encoding="utf-8")).split("\n") if usable(p)]
        step = max(1, len(paras) // PER_BOOK)
        out += [dict(book=TITLES[name], text=p) for p in paras[::step][:PER_BOOK]]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    found = passages(args.data)
    print(f"{len(found)} passages:", {b: sum(x['book'] == b for x in found) for b in TITLES.values()})
    if not args.dry_run:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(found, ensure_ascii=False, indent=0), encoding="utf-8")
        print("wrote", OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
