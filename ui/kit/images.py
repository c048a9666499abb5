"""Image plumbing of the digit tabs: tensors -> arrays and PIL, grids, PNGs, GIFs (what the UI hands out)."""

import io
import struct
import zlib

import numpy as np
import torch
from PIL import Image

SCALE = 4  # downloads (grid, strip, GIF) show each 28 px digit at 112 px, pixel for pixel


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 1, 28, 28) in [0, 1] -> (B, 28, 28) uint8, light digit on dark."""
    return (x.detach().float().clamp(0, 1) * 255).round().byte().cpu().numpy()[:, 0]


def upscale(a: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """(..., H, W) -> (..., H*scale, W*scale), each pixel a block (nearest neighbour): crisp, no resampling blur."""
    return a.repeat(scale, axis=-2).repeat(scale, axis=-1) if scale > 1 else a


def to_pil(x: torch.Tensor, scale: int = SCALE) -> list[Image.Image]:
    """(B, 1, 28, 28) in [0, 1] -> B grayscale PIL images, light digit on dark, upscaled pixel for pixel."""
    return [Image.fromarray(a, "L") for a in upscale(to_uint8(x), scale)]


def grid(images: np.ndarray, columns: int = 8, pad: int = 2) -> np.ndarray:
    """(B, H, W) uint8 -> one image with them row by row on a dark canvas: (rows*(H+pad)+pad, cols*(W+pad)+pad)."""
    n, h, w = images.shape
    rows, cols = -(-n // columns), min(columns, n)
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 40, np.uint8)
    for i, im in enumerate(images):
        top, left = pad + (i // columns) * (h + pad), pad + (i % columns) * (w + pad)
        canvas[top:top + h, left:left + w] = im
    return canvas


def png_bytes(image: np.ndarray | Image.Image, compress_level: int = 1) -> bytes:
    """A PNG of an (H, W) uint8 array (grayscale, written here) or of a PIL image (written by PIL).

    An array is written directly (W3C PNG spec: signature, IHDR, IDAT, IEND), rows unfiltered, zlib level 1: PIL's
    save spends ~0.1 ms a call before any pixel, most of the time for a 28 px digit (~350 bytes), and its level 6
    with adaptive row filters takes ~18 ms for a 64-digit grid at 112 px a digit (32 KB), where this takes ~3 (49 KB).
    """
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=compress_level)
        return buf.getvalue()
    h, w = image.shape
    rows = np.zeros((h, w + 1), np.uint8)  # each row starts with its filter type: 0, none
    rows[:, 1:] = image
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grayscale, no interlace
    pixels = zlib.compress(rows.tobytes(), compress_level)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def gray16(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 rounded to 16 gray levels (multiples of 17, the values a 4-bit PNG decodes to): noise, most of
    a denoising preview or GIF, compresses about twice as well, and a digit shown enlarged looks the same."""
    return ((image.astype(np.uint16) + 8) // 17 * 17).astype(np.uint8)


def png4_bytes(image: np.ndarray, compress_level: int = 6) -> bytes:
    """A 4-bit grayscale PNG of an (H, W) uint8 array, rounded to 16 levels (`gray16`): two pixels a byte, rows
    unfiltered; for streamed previews, about half the bytes of `png_bytes` (bench/bench_streams.py)."""
    h, w = image.shape
    levels = (gray16(image) // 17).astype(np.uint8)
    if w % 2:
        levels = np.pad(levels, ((0, 0), (0, 1)))
    rows = np.zeros((h, levels.shape[1] // 2 + 1), np.uint8)  # each row starts with its filter type: 0, none
    rows[:, 1:] = (levels[:, 0::2] << 4) | levels[:, 1::2]
    header = struct.pack(">IIBBBBB", w, h, 4, 0, 0, 0, 0)  # 4-bit grayscale, no interlace
    pixels = zlib.compress(rows.tobytes(), compress_level)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def gif_bytes(frames: list[Image.Image], ms_per_frame: int = 80, bounce: bool = True) -> bytes:
    """An endlessly looping animated GIF; `bounce` plays forward then back so the loop has no jump.

    optimize=False: PIL's palette optimisation made it ~6x slower (~50 ms for 30 frames of 112 px) for ~20% fewer
    bytes.
    """
    seq = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=ms_per_frame, loop=0,
                optimize=False)
    return buf.getvalue()
