"""Images and downloads the digit tabs serve as files, written once, in the form Gradio sends them.

Given a PIL image, Gradio encodes it as PNG (zlib level 6), hashes it and writes it to its cache; given a path
outside its cache, it hashes and copies the file; either way it then checks each file's path twice per update.
That was ~4 ms an image on 2 cores: most of a 64-digit round trip, and it recurred for every frame already shown on
every streamed update. So the tabs write each image once, a ~350-byte PNG, into a folder of this process that
Gradio serves as static files (no copy, no hash), and their events run with postprocess=False, taking the values
built here (Gradio's own data classes, as its postprocess makes them): one path check per file and update, ~0.5 ms,
most of it Gradio resolving its own static paths.
"""

import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import FileData, ImageData

from ui.calls import Hooks, wrap
from ui.images import png_bytes

ROOT = Path(tempfile.gettempdir()) / "genai-playground"  # one folder per request inside
KEEP_SECONDS = 3600  # a request's files are removed after an hour
PRUNE_EVERY = 60  # seconds between looks for old folders, so a request rarely pays for one
_registered, _last_prune, _lock = False, 0.0, threading.Lock()


def serve_static() -> None:
    """Lets Gradio serve ROOT's files as they are; once per process (Gradio's list of static paths only grows)."""
    global _registered
    with _lock:
        if not _registered:
            ROOT.mkdir(parents=True, exist_ok=True)
            gr.set_static_paths([ROOT])
            _registered = True


def new_folder() -> Path:
    """A fresh folder for one request's files; folders (and files of older versions) past KEEP_SECONDS go."""
    global _last_prune
    serve_static()  # for callers outside build_demo; a no-op after the first call
    now = time.time()
    if now - _last_prune > PRUNE_EVERY:
        _last_prune = now
        for old in ROOT.iterdir():
            try:
                if now - old.stat().st_mtime > KEEP_SECONDS:
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            except OSError:
                pass
    folder = ROOT / uuid.uuid4().hex
    folder.mkdir()
    return folder


def write(folder: Path, name: str, data: bytes) -> Path:
    """`data` as the file `name` in `folder`."""
    path = folder / name
    path.write_bytes(data)
    return path


def png_files(images: np.ndarray, folder: Path, prefix: str = "digit", start: int = 0) -> list[Path]:
    """(B, H, W) uint8 -> B grayscale PNGs in `folder`, numbered from `start`."""
    return [write(folder, f"{prefix}-{start + i:02d}.png", png_bytes(im)) for i, im in enumerate(images)]


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
    folder = Path(tempfile.mkdtemp(prefix="genai-playground-example-"))

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
