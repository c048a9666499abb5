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

MAX_GIF_BLOCKS = 100_000  # a 10 MB GIF of full 255-byte sub-blocks has ~41,000
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


def gif_well_formed(data: bytes, max_blocks: int = MAX_GIF_BLOCKS) -> bool:
    """Whether a GIF's blocks follow one another as GIF89a says (section 17-27), walked sub-block by sub-block, and
    there are at most `max_blocks` of them.

    Pillow skips a byte that starts no block one `read(1)` at a time (~0.5 s a MB of junk, under the GIL); this walk
    takes a step per sub-block and refuses the first stray byte. Non-GIF data passes (not ours to judge).
    """
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return True
    ok, count = _gif_walk(data, max_blocks)
    return ok and count <= max_blocks


def block_count(data: bytes, stop_above: int) -> int:
    """The chunks of a PNG, or the blocks and sub-blocks of a GIF, counted up to just past `stop_above` (0 for other
    formats): what c2pa reads one callback at a time (~30-50 us each: 1,000,000 one-byte sub-blocks took 28 s)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        at, n, count = 8, len(data), 0
        while at + 8 <= n and count <= stop_above:
            at, count = at + 12 + int.from_bytes(data[at:at + 4], "big"), count + 1
        return count
    return _gif_walk(data, stop_above)[1] if data[:6] in (b"GIF87a", b"GIF89a") else 0


def _gif_walk(data: bytes, stop_above: int | None = None) -> tuple[bool, int]:
    """(well formed, blocks and sub-blocks seen), stopping once past `stop_above`."""
    at, n, count = 13 + (3 << ((data[10] & 7) + 1) if len(data) > 10 and data[10] & 0x80 else 0), len(data), 0
    stop_above = n if stop_above is None else stop_above  # a block takes a byte at least
    while at < n and count <= stop_above:
        kind = data[at]
        if kind == 0x3B:  # the trailer
            return True, count
        if kind == 0x21:  # an extension: its label, then sub-blocks
            at += 2
        elif kind == 0x2C:  # an image descriptor (10 bytes), its colour table, the LZW code size, then sub-blocks
            flags = data[at + 9] if at + 9 < n else 0
            at += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:
            return False, count
        count += 1
        while at < n and data[at] and count <= stop_above:  # sub-blocks: a length byte, then that many bytes
            at, count = at + data[at] + 1, count + 1
        at += 1
    return True, count  # a cut file: Pillow says what it makes of it
