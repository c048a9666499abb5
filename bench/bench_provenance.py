"""Provenance marks on the images we hand out: what they cost per file, and what survives or defeats them.

    python bench/bench_provenance.py              # about 40 s on 2 CPU cores
    python bench/bench_provenance.py --dry-run    # a few repeats, for CI

Cost: bytes added, and milliseconds of `generators.provenance.c2pa.mark` (signed, and metadata only) and of `verify`, for a 28 px
digit PNG, a 64-digit grid PNG (unscaled 242 px, and 968 px as the GAN tab serves it) and a 30-frame GIF (112 px, 58
frames with the bounce), beside the time to encode the file itself. Limits: `verify` after what happens to files
once they leave us (a re-save through PIL, a crop, one byte changed in the pixel data or in the manifest, metadata
stripped, the manifest or the metadata moved onto a real MNIST digit): the C2PA verdict, and whether the unsigned
metadata still claims a generated image; then one bit flipped at every STRIDE-th byte, counted by region. Keys are
made in a temporary folder unless PLAYGROUND_C2PA_DIR is set.
"""

import argparse
import io
import os
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image, ImageSequence

from training.mnist import DEFAULT_DATA, load_mnist
from ui.kit.images import gif_bytes, grid, png_bytes, upscale

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median, minimum) milliseconds of `fn()` after two warm-up calls: on a shared machine the minimum is the
    cost with no one else running, the median what a request meets."""
    fn(), fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


# -- files as the tabs make them -------------------------------------------------------------------------------------

def samples(digits: np.ndarray) -> dict:
    """name -> (fmt, encode function): the files the playground hands out, from real digits (B, 28, 28) uint8."""
    walk = [((1 - t) * digits[0] + t * digits[1]).astype(np.uint8) for t in np.linspace(0, 1, 30)]  # like a walk
    frames = [Image.fromarray(a, "L") for a in upscale(np.stack(walk))]
    return {"28 px digit PNG": ("png", lambda: png_bytes(digits[0])),
            "64-digit grid PNG, 242 px": ("png", lambda: png_bytes(grid(digits[:64]))),
            "64-digit grid PNG, 968 px (served)": ("png", lambda: png_bytes(upscale(grid(digits[:64])))),
            "30-frame GIF, 112 px (58 w/ bounce)": ("gif", lambda: gif_bytes(frames))}


def small_files(digits: np.ndarray) -> dict:
    """A 28 px digit PNG and a 4-frame GIF at 112 px (6 frames with the bounce), as the tabs make them."""
    return {"png": png_bytes(digits[0]), "gif": gif_bytes([Image.fromarray(a, "L") for a in upscale(digits)])}


def cost_table(files: dict, repeats: int) -> None:
    from generators.provenance import c2pa as provenance

    print(f"ms: median / minimum of {repeats} calls")
    print(f"{'file':38s} {'bytes':>7s} {'marked':>7s} {'added':>6s} {'encode ms':>14s} {'mark ms':>14s} "
          f"{'verify ms':>14s} {'metadata only ms':>17s}")
    for name, (fmt, encode) in files.items():
        data = encode()
        marked = provenance.mark(data, fmt, generator="bench", settings={"seed": 0, "digit": 7})
        t_encode = timed(encode, repeats)
        t_mark = timed(lambda: provenance.mark(data, fmt, generator="bench", settings={"seed": 0, "digit": 7}), repeats)
        t_verify = timed(lambda: provenance.verify(marked), repeats)
        t_meta = timed(lambda: provenance.mark(data, fmt, generator="bench", settings={"seed": 0}, sign=False), repeats)
        shown = " ".join(f"{p50:6.2f} /{low:6.2f}" for p50, low in (t_encode, t_mark, t_verify, t_meta))
        print(f"{name:38s} {len(data):7d} {len(marked):7d} {len(marked) - len(data):6d} {shown}")


# -- what happens to files after they leave us ------------------------------------------------------------------------

def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """[(tag, data)] of a PNG's chunks, in order."""
    out, i = [], 8
    while i + 8 <= len(data):
        n, tag = struct.unpack(">I4s", data[i:i + 8])
        out.append((tag, data[i + 8:i + 8 + n]))
        i += 12 + n
    return out


def png_join(chunks) -> bytes:
    return PNG_SIGNATURE + b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
                                    for t, d in chunks)


def gif_blocks(data: bytes) -> list[bytes]:
    """A GIF cut into its blocks: [header + screen descriptor + colour table, extension or image, ..., trailer]."""
    flags, out = data[10], []
    i = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    out.append(data[:i])
    while i < len(data) and data[i] != 0x3B:
        start = i
        if data[i] == 0x21:  # extension: introducer, label, then sub-blocks
            i += 2
        else:  # image: descriptor (10 bytes), local colour table, LZW minimum code size, then sub-blocks
            f = data[i + 9]
            i += 10 + (3 * 2 ** ((f & 7) + 1) if f & 0x80 else 0) + 1
        while data[i]:
            i += data[i] + 1
        out.append(data[start:i + 1])
        i += 1
    return out + [data[i:]]


def gif_kind(block: bytes) -> str:
    if block[:1] == b"\x2c":
        return "image"
    return block[3:14].decode("latin-1") if block[:2] == b"\x21\xff" else "extension" if block[:1] == b"\x21" else "-"


def flip_png(data: bytes, tag: bytes) -> bytes:
    """One byte in the middle of the first `tag` chunk flipped, its CRC recomputed: a well-formed PNG."""
    chunks = png_chunks(data)
    i = next(k for k, (t, _) in enumerate(chunks) if t == tag)
    body = bytearray(chunks[i][1])
    body[len(body) // 2] ^= 0x01
    chunks[i] = (tag, bytes(body))
    return png_join(chunks)


def flip_gif(data: bytes, kind: str, last: bool = False) -> bytes:
    """One data byte (never a sub-block length) in the middle of a block of `kind` flipped."""
    blocks = gif_blocks(data)
    k = [j for j, b in enumerate(blocks) if gif_kind(b).startswith(kind)][-1 if last else 0]
    b = bytearray(blocks[k])
    i = 2 if b[0] == 0x21 else 10 + (3 * 2 ** ((b[9] & 7) + 1) if b[9] & 0x80 else 0) + 1
    subs = []
    while b[i]:
        subs.append(i)
        i += b[i] + 1
    at = subs[len(subs) // 2]
    b[at + 1 + b[at] // 2] ^= 0x01
    blocks[k] = bytes(b)
    return b"".join(blocks)


def resave(data: bytes, crop: bool = False, keep_text: bool = False) -> bytes:
    """The file opened and saved again by PIL (every frame of a GIF), optionally cropped by a pixel on each side."""
    image, out = Image.open(io.BytesIO(data)), io.BytesIO()
    frames = [f.copy() for f in ImageSequence.Iterator(image)]
    if crop:
        frames = [f.crop((1, 1, f.width - 1, f.height - 1)) for f in frames]
    if image.format == "PNG":
        info = None
        if keep_text:
            from PIL.PngImagePlugin import PngInfo
            info = PngInfo()
            for k, v in image.text.items():
                info.add_text(k, v)
        frames[0].save(out, format="PNG", pnginfo=info)
    else:
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], loop=0, duration=80)
    return out.getvalue()


def keep(data: bytes, fmt: str, drop) -> bytes:
    """The file without the chunks (PNG tags) or blocks (GIF kinds) for which `drop` is true."""
    if fmt == "png":
        return png_join([(t, d) for t, d in png_chunks(data) if not drop(t.decode("latin-1"))])
    return b"".join(b for b in gif_blocks(data) if not drop(gif_kind(b)))


def moved_onto(signed: bytes, other: bytes, fmt: str, what) -> bytes:
    """`other` (an unsigned file) with the chunks/blocks of `signed` for which `what` is true put into it."""
    if fmt == "png":
        extra = [(t, d) for t, d in png_chunks(signed) if what(t.decode("latin-1"))]
        chunks = png_chunks(other)
        return png_join(chunks[:1] + extra + chunks[1:])
    blocks = gif_blocks(other)
    return b"".join(blocks[:1] + [b for b in gif_blocks(signed) if what(gif_kind(b))] + blocks[1:])


C2PA = {"png": "caBX", "gif": "C2PA_GIF"}  # where c2pa puts the manifest: a PNG chunk, a GIF application extension
META = {"png": ("tEXt", "iTXt", "zTXt"), "gif": ("XMP DataXMP",)}
ANCILLARY = {"png": lambda t: t not in ("IHDR", "PLTE", "IDAT", "IEND"),  # what exiftool -all= / pngcrush leave
             "gif": lambda k: k not in ("image", "extension", "NETSCAPE2.0", "-")}  # comments and app data go


def changes(fmt: str, other: bytes) -> dict:
    """name -> function(signed bytes) -> changed bytes."""
    pixels = (lambda d: flip_png(d, b"IDAT")) if fmt == "png" else (lambda d: flip_gif(d, "image", last=True))
    manifest = (lambda d: flip_png(d, b"caBX")) if fmt == "png" else (lambda d: flip_gif(d, "C2PA_GIF"))
    rows = {"as served": lambda d: d,
            "re-saved by PIL": resave,
            "re-saved by PIL, text chunks copied": (lambda d: resave(d, keep_text=True)) if fmt == "png" else None,
            "cropped 1 px a side, saved by PIL": lambda d: resave(d, crop=True),
            "1 byte of pixel data changed": pixels,
            "1 byte of the manifest changed": manifest,
            "all metadata stripped": lambda d: keep(d, fmt, ANCILLARY[fmt]),
            "manifest stripped, metadata kept": lambda d: keep(d, fmt, lambda k: k.startswith(C2PA[fmt])),
            "manifest + metadata onto a real digit": lambda d: moved_onto(
                d, other, fmt, lambda k: k.startswith(C2PA[fmt]) or k.startswith(META[fmt])),
            "metadata alone onto a real digit": lambda d: moved_onto(d, other, fmt, lambda k: k.startswith(META[fmt]))}
    return rows


def cell(changed: bytes | None) -> tuple[str, str]:
    from generators.core.errors import InputError
    from generators.provenance import c2pa as provenance

    if changed is None:
        return "n/a", "n/a"
    try:
        r = provenance.verify(changed)
    except InputError as e:
        return e.key, "-"
    return r["c2pa"], "yes" if r["metadata"]["digital_source_type"] == provenance.SOURCE_TYPE else "no"


def limits_table(digits: np.ndarray) -> None:
    from generators.provenance import c2pa as provenance

    files, others = small_files(digits[:4]), small_files(digits[100:104])  # ours, and real digits to move marks onto
    signed = {fmt: provenance.mark(d, fmt, generator="bench", settings={"seed": 0}) for fmt, d in files.items()}
    rows = {fmt: changes(fmt, others[fmt]) for fmt in files}
    print(f"{'what happened to the file':40s} | {'PNG: C2PA':17s} {'metadata says AI':16s} | "
          f"{'GIF: C2PA':17s} {'metadata says AI':16s}")
    for name in rows["png"]:
        cells = [cell(rows[fmt][name](signed[fmt]) if rows[fmt][name] else None) for fmt in ("png", "gif")]
        print(f"{name:40s} | {cells[0][0]:17s} {cells[0][1]:16s} | {cells[1][0]:17s} {cells[1][1]:16s}")


def regions(data: bytes, fmt: str) -> list[tuple[str, int, int]]:
    """[(what, start, end)] of a file's bytes: "manifest", "metadata" or "image" (pixels, header, structure)."""
    parts, i = [], 8 if fmt == "png" else 0
    if fmt == "png":
        parts.append(("image", 0, 8))
        for tag, body in png_chunks(data):
            kind = tag.decode("latin-1")
            parts.append(("manifest" if kind == "caBX" else "metadata" if kind in META[fmt] else "image",
                          i, i + 12 + len(body)))
            i += 12 + len(body)
        return parts
    for block in gif_blocks(data):
        kind = gif_kind(block)
        parts.append(("manifest" if kind.startswith(C2PA[fmt]) else "metadata" if kind.startswith(META[fmt])
                      else "image", i, i + len(block)))
        i += len(block)
    return parts


def flips_table(digits: np.ndarray, stride: int) -> None:
    """Flip one bit at every `stride`-th byte of a signed file: how often is it still "valid", by region?"""
    from generators.core.errors import InputError
    from generators.provenance import c2pa as provenance

    print(f"one bit flipped at every {stride}th byte of a signed file: flips that still validate / flips")
    for fmt, plain in small_files(digits[:4]).items():
        signed, counts = provenance.mark(plain, fmt, generator="bench", settings={"seed": 0}), {}
        for what, start, end in regions(signed, fmt):
            for pos in range(-(-start // stride) * stride, end, stride):  # the multiples of stride in [start, end)
                changed = bytearray(signed)
                changed[pos] ^= 0x01
                try:
                    still = provenance.verify(bytes(changed))["c2pa"] == "valid"
                except InputError:
                    still = False
                n_valid, n = counts.get(what, (0, 0))
                counts[what] = (n_valid + still, n + 1)
        shown = ", ".join(f"{what} {v}/{n}" for what, (v, n) in counts.items())
        print(f"  {fmt.upper()} ({len(signed)} bytes): {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder with MNIST's IDX files")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per figure (median and minimum shown)")
    parser.add_argument("--stride", type=int, default=5, help="flip a bit at every STRIDE-th byte of a signed file")
    parser.add_argument("--dry-run", action="store_true", help="3 repeats and a coarse stride, for CI")
    args = parser.parse_args()
    repeats = 3 if args.dry_run else args.repeats
    images, _ = load_mnist(args.data, "test")
    digits = (images[:200, 0] * 255).round().byte().numpy()  # (200, 28, 28) uint8: real test digits
    with tempfile.TemporaryDirectory(prefix="bench-c2pa-") as scratch:
        if not os.environ.get("PLAYGROUND_C2PA_DIR") and not os.environ.get("PLAYGROUND_C2PA_KEY"):
            os.environ["PLAYGROUND_C2PA_DIR"] = str(Path(scratch) / "keys")
        from generators.provenance import c2pa as provenance

        t0 = time.perf_counter()
        provenance.signer()
        print(f"first use (root CA + leaf made, written, loaded): {(time.perf_counter() - t0) * 1000:.1f} ms")
        t_create = timed(lambda: provenance.create_credentials(Path(scratch) / "again"), repeats)
        print(f"making a key pair and certificates alone: {t_create[0]:.1f} ms (median of {repeats})\n")
        cost_table(samples(digits), repeats)
        print()
        limits_table(digits)
        print()
        flips_table(digits, 97 if args.dry_run else args.stride)


if __name__ == "__main__":
    main()
