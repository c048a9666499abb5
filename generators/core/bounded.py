"""Parsing what a stranger uploaded in time and memory that grow with its size, never faster.

Python's json recurses once per nesting level (200,000 `[` raise RecursionError after filling the C stack), and a
backtracking regular expression over uploaded bytes can take quadratic time while it holds the GIL, which stops every
other request of the server. So JSON is measured before it is parsed, and text is searched with `find`, which scans
each byte a bounded number of times.

    config = loads_bounded(text, max_depth=8, max_bytes=64 * 1024)   # ValueError on too deep or too long
    packet = between(data, b"<x:xmpmeta", b"</x:xmpmeta>", max_len=2**20)
"""

import json
import re

MAX_DEPTH = 16  # deeper JSON is refused before parsing; our own files nest 3 levels at most
_STRUCTURE = re.compile(rb'["\[\]{}]')  # one byte: a search moves forward, never backtracks
_STRING_END = re.compile(rb'(?:[^"\\]|\\.)*"', re.S)  # a string's rest; each byte is read once (the two are disjoint)


def json_depth(data: bytes | str, stop_above: int | None = None) -> int:
    """The deepest nesting of [ and { in a JSON text, strings skipped: one forward pass from one structural byte to
    the next, no recursion; it stops early once the depth passes `stop_above`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    depth = deepest = 0
    found = _STRUCTURE.search(raw)
    while found:
        c, i = found.group(), found.end()
        if c == b'"':  # the string's end: the next quote not escaped (a backslash takes the byte after it)
            found = _STRING_END.match(raw, i)  # anchored: an unclosed string is one failed scan
            if found is None:
                break
            i = found.end()
        elif c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_above is not None and deepest > stop_above:
                break
        else:
            depth -= 1
        found = _STRUCTURE.search(raw, i)
    return deepest


def loads_bounded(data: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None):
    """json.loads after checking the size and the nesting depth: ValueError (never RecursionError) when over."""
    if max_bytes is not None and len(data) > max_bytes:
        raise ValueError(f"JSON of {len(data)} bytes; at most {max_bytes}")
    if json_depth(data, stop_above=max_depth) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth}")
    return json.loads(data)


def between(data, start, end, *, max_len: int, accept=None):
    """The first `start`...`end` span of `data` (bytes or str), both included, no longer than `max_len`; None if none.

    `accept(following)`: whether the item just after `start` makes it a match (e.g. a space or ">" after a tag
    name). Each `find` moves forward, and `end` is searched once per candidate start only within max_len: linear.
    """
    at = data.find(start)
    while at >= 0:
        after = at + len(start)
        if accept is None or accept(data[after:after + 1]):
            stop = data.find(end, after, at + max_len)
            return data[at:stop + len(end)] if stop >= 0 else None
        at = data.find(start, after)
    return None


def attribute(text: str | None, name: str, *, max_len: int = 4096) -> str | None:
    """The raw value of the first `name="..."` attribute or `<name>...</` element text in `text`; None if none."""
    if not text:
        return None
    at = text.find(name)
    while at >= 0:
        after = at + len(name)
        if text.startswith('="', after):
            stop = text.find('"', after + 2, after + 2 + max_len)
            return text[after + 2:stop] if stop >= 0 else None
        if text.startswith(">", after):
            stop = text.find("<", after + 1, after + 1 + max_len)
            return text[after + 1:stop] if stop >= 0 else None
        at = text.find(name, after)
    return None


def gif_well_formed(data: bytes) -> bool:
    """Whether a GIF's blocks follow one another as GIF89a says (section 17-27), walked sub-block by sub-block.

    Pillow skips a byte that starts no block one `read(1)` at a time (~0.5 s a MB of junk, under the GIL); this walk
    takes a step per 255-byte sub-block and refuses the first stray byte. Non-GIF data passes (not ours to judge).
    """
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return True
    at, n = 13 + (3 << ((data[10] & 7) + 1) if len(data) > 10 and data[10] & 0x80 else 0), len(data)
    while at < n:
        kind = data[at]
        if kind == 0x3B:  # the trailer
            return True
        if kind == 0x21:  # an extension: its label, then sub-blocks
            at += 2
        elif kind == 0x2C:  # an image descriptor (10 bytes), its colour table, the LZW code size, then sub-blocks
            flags = data[at + 9] if at + 9 < n else 0
            at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:
            return False
        while at < n and data[at]:  # sub-blocks: a length byte, that many bytes; a zero length ends them
            at += data[at] + 1
        at += 1
    return True  # a cut file: Pillow says what it makes of it
