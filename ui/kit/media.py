"""Images and downloads the digit tabs serve as files, written once, in the form Gradio sends them.

Given a PIL image, Gradio encodes it as PNG (zlib level 6), hashes it and writes it to its cache; given a path
outside its cache, it hashes and copies the file; either way it then checks each file's path twice per update.
That was ~4 ms an image on 2 cores: most of a 64-digit round trip, and it recurred for every frame already shown on
every streamed update. So the tabs write each image once, a ~350-byte PNG, into a folder of this process that
Gradio serves as static files (no copy, no hash), and their events run with postprocess=False, taking the values
built here (Gradio's own data classes, as its postprocess makes them): one path check per file and update, ~0.5 ms,
most of it Gradio resolving its own static paths.
"""

import atexit
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import FileData, ImageData

from ui.kit.calls import Hooks, wrap
from ui.kit.images import png_bytes
from ui.kit import disk

KEEP_SECONDS = 3600  # a request's files are removed after an hour
MAX_BYTES = 256 * 2**20  # and the oldest first while the folder holds more than this
PRUNE_EVERY = 30  # seconds between looks, on a background thread: no request waits for one
SCAN_EVERY = 3600  # seconds between looks at the whole folder (files this process did not write: an earlier run's)
GENERATOR = "genai-playground"  # what a caller that names no model marks its files as


def _root() -> Path:
    """The served folder: PLAYGROUND_MEDIA (created private if missing), else a private folder of this process
    (mode 0700, removed at exit), never a fixed name in the shared temp folder that others could fill."""
    if os.environ.get("PLAYGROUND_MEDIA"):
        root = Path(os.environ["PLAYGROUND_MEDIA"]).resolve()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return root
    root = disk.private_folder()  # mkdtemp makes it 0700; named with our pid (ui/kit/disk.py)
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


ROOT = _root()  # one folder per request inside
_registered, _lock = False, threading.Lock()


def serve_static() -> None:
    """Lets Gradio serve ROOT's files as they are (ui/server/guard.py lets through only the PNGs and GIFs written here)
    and starts the cleanup thread; once per process (Gradio's list of static paths only grows)."""
    global _registered
    with _lock:
        if not _registered:
            gr.set_static_paths([ROOT])
            threading.Thread(target=_cleanup, name="media-cleanup", daemon=True).start()
            _registered = True


def _cleanup() -> None:
    next_scan = 0.0
    while True:
        time.sleep(PRUNE_EVERY)
        if time.monotonic() >= next_scan:  # the whole folder, for what this process did not write
            prune(ROOT, MAX_BYTES, KEEP_SECONDS)
            next_scan = time.monotonic() + SCAN_EVERY
        WRITTEN.prune(MAX_BYTES, KEEP_SECONDS)


class Ledger:
    """The request folders this process wrote, least recently written first, with their bytes, so that the cleanup
    thread prunes without listing and stat-ing every file: at the 256 MB cap in 16-digit GAN requests (6,400 folders
    of 18 files) that look took 0.88 s of CPU, every 30 s, on a thread that holds the GIL between its stat calls;
    from here it takes 17 us when nothing is due, and recording a write 0.8 us. The whole folder is still looked at
    once an hour (SCAN_EVERY), for files an earlier run left in PLAYGROUND_MEDIA."""

    def __init__(self):
        self._folders: OrderedDict[Path, tuple[float, int]] = OrderedDict()  # folder -> (last write, bytes)
        self._lock, self.bytes = threading.Lock(), 0

    def record(self, folder: Path, size: int) -> None:
        with self._lock:
            _, before = self._folders.pop(folder, (0.0, 0))
            self._folders[folder] = (time.time(), before + size)
            self.bytes += size

    def __len__(self) -> int:
        return len(self._folders)

    def bytes_of(self, folder: Path) -> int | None:
        """What this process wrote into `folder`; None for a folder it has not recorded (or has pruned)."""
        with self._lock:
            entry = self._folders.get(folder)
        return None if entry is None else entry[1]

    def prune(self, max_bytes: int, keep_seconds: float) -> int:
        """Removes the least recently written folders while they are older than `keep_seconds` or the folders hold
        more than `max_bytes`; how many."""
        now, gone = time.time(), []
        with self._lock:
            while self._folders:
                folder, (when, size) = next(iter(self._folders.items()))
                if now - when <= keep_seconds and self.bytes <= max_bytes:
                    break
                self._folders.popitem(last=False)
                self.bytes -= size
                gone.append(folder)
        for folder in gone:
            shutil.rmtree(folder, ignore_errors=True)
        return len(gone)


WRITTEN = Ledger()  # the request folders of this process (new_folder, write)


def prune(root: Path, max_bytes: int, keep_seconds: float) -> None:
    """Removes request folders older than `keep_seconds`, then the oldest while the rest exceed `max_bytes`."""
    now, entries = time.time(), []
    for entry in root.iterdir():
        try:
            files = list(entry.iterdir()) if entry.is_dir() else [entry]
            entries.append((entry.stat().st_mtime, sum(f.stat().st_size for f in files), entry))
        except OSError:
            pass
    total = sum(size for _, size, _ in entries)
    for mtime, size, entry in sorted(entries, key=lambda e: e[0]):
        if now - mtime <= keep_seconds and total <= max_bytes:
            break
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        total -= size


def new_folder() -> Path:
    """A fresh folder for one request's files (the cleanup thread removes old ones)."""
    serve_static()  # for callers outside build_demo; a no-op after the first call
    folder = ROOT / uuid.uuid4().hex
    folder.mkdir()
    WRITTEN.record(folder, 0)
    return folder


def write(folder: Path, name: str, data: bytes, *, generator: str | None = GENERATOR, settings: dict | None = None,
          sign: bool = True) -> Path:
    """`data` as the file `name` in `folder`; a .png or .gif is marked as made by `generator` with `settings`
    (generators/provenance/c2pa.py: digital source type, metadata and, unless sign=False, a signed C2PA manifest);
    generator=None writes it unmarked (not generated media: a plot, a real digit)."""
    from generators.provenance import c2pa as provenance  # c2pa and cryptography load at the first file, not at start

    fmt = Path(name).suffix.lower().lstrip(".")
    if generator is not None and fmt in provenance.FORMATS:
        data = provenance.mark(data, fmt, generator=generator, settings=settings or {}, sign=sign)
    path = folder / name
    path.write_bytes(data)
    if folder.parent == ROOT:
        WRITTEN.record(folder, len(data))
    return path


def png_files(images: np.ndarray, folder: Path, prefix: str = "digit", start: int = 0, *,
              generator: str | None = GENERATOR, settings: dict | None = None, sign: bool = False) -> list[Path]:
    """(B, H, W) uint8 -> B grayscale PNGs in `folder`, numbered from `start`, each marked as `write` does (with its
    "index" added to `settings`); gallery thumbnails, so metadata only by default (~0.04 ms a file): signing each
    (~1.3-2 ms, bench/bench_provenance.py) made a 64-digit /sample_digits ~400 ms slower, 3x its whole time."""
    return [write(folder, f"{prefix}-{start + i:02d}.png", png_bytes(im), generator=generator,
                  settings={**(settings or {}), "index": start + i}, sign=sign) for i, im in enumerate(images)]


def gallery(paths: list[Path], captions: list[str] | None = None) -> list[dict]:
    """A gr.Gallery value as its postprocess makes it from (path, caption) pairs."""
    captions = captions or [None] * len(paths)
    items = [GalleryImage(image=ImageData(path=str(p), orig_name=p.name, mime_type="image/png"), caption=c)
             for p, c in zip(paths, captions)]
    return GalleryData(root=items).model_dump()


def image(path: Path, mime_type: str) -> dict:
    """A gr.Image value as its postprocess makes it from a file path."""
    return ImageData(path=str(path), orig_name=path.name, mime_type=mime_type).model_dump()


def file(path: Path) -> dict:
    """A gr.File value (one file) as its postprocess makes it."""
    return FileData(path=str(path), orig_name=path.name, size=path.stat().st_size).model_dump()


def _plain(outputs: tuple) -> tuple:
    """A handler's outputs built here, back in the plain form Gradio's postprocess takes (paths, (path, caption)
    pairs), their files copied out of ROOT into one folder: Gradio links to files under a static path instead of
    caching them."""
    folder = disk.private_folder("example-")  # removed when the process ends (Gradio's cache keeps its copies)

    def plain(value):
        if isinstance(value, list) and value and isinstance(value[0], dict) and "image" in value[0]:  # a gallery
            return [(shutil.copy(item["image"]["path"], folder), item.get("caption")) for item in value]
        if isinstance(value, dict) and "path" in value:  # an image or a file
            return shutil.copy(value["path"], folder)
        return value
    return tuple(plain(v) for v in outputs)


def for_examples(fn):
    """`fn` for cached examples, run with Gradio's postprocess, so that the cache keeps its own copies of the files
    (links to ROOT's folders would break when they are removed after an hour)."""
    return wrap(fn, lambda args, kwargs: Hooks(args, kwargs, each=_plain))
