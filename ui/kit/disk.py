"""Every folder the app writes has a bound, and none outlives its process.

- The media and examples folders of a process are named with its pid (`genai-playground-<pid>-*`,
  `genai-playground-examples-<pid>-*`); they are removed at exit, on SIGTERM and SIGINT (`on_signals`: atexit alone
  does not run on SIGTERM), and a new start removes those whose process is no longer running (`remove_orphans`).
- Gradio's upload folder: uploads older than UPLOAD_KEEP_S are deleted by Gradio itself (Blocks(delete_cache=...)),
  and while the folder holds more than UPLOAD_CAP_BYTES the guard refuses new uploads (`UploadCap`).
"""

import atexit
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

UPLOAD_KEEP_S = 600  # Gradio's uploads and cached outputs are deleted 10 minutes after they came
UPLOAD_PRUNE_EVERY_S = 60
UPLOAD_CAP_BYTES = 512 * 2**20  # uploads refused (503) while Gradio's upload folder holds more than this
PREFIX = "genai-playground-"
_OURS = re.compile(rf"^{PREFIX}(?:examples?-)?(\d+)-[a-z0-9_]+$")
_FOLDERS: list[Path] = []  # what this process removes when it ends
_lock = threading.Lock()


def private_folder(kind: str = "") -> Path:
    """A new folder (mode 0700) in the temp folder, named with this process's pid, removed when it ends."""
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}{os.getpid()}-")).resolve()
    with _lock:
        _FOLDERS.append(folder)
    return folder


def remove_own() -> None:
    """Removes the folders this process made (at exit, and from the signal handlers)."""
    with _lock:
        folders = list(_FOLDERS)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(remove_own)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def remove_orphans(where: str | None = None) -> list[Path]:
    """Removes our folders (by name, owned by this user) left by processes no longer running: a kill -9, a crash, a
    power cut. A pid in use again by another program keeps its folder until that ends: never a live one's."""
    gone = []
    for entry in os.scandir(where or tempfile.gettempdir()):
        found = _OURS.match(entry.name)
        if not found or not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
            continue
        pid = int(found.group(1))
        if pid != os.getpid() and not _running(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            gone.append(Path(entry.path))
    return gone


def on_signals(signals=(signal.SIGTERM, signal.SIGINT)) -> None:
    """SIGTERM and SIGINT remove this process's folders, then exit with 128 + the signal's number (the main thread
    only: Python runs signal handlers there)."""
    def handler(signum, frame):
        remove_own()
        signal.signal(signum, signal.SIG_DFL)
        sys.exit(128 + signum)
    for s in signals:
        signal.signal(s, handler)


def folder_bytes(folder: str | os.PathLike) -> int:
    """The bytes of the files under `folder` (0 if it does not exist)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class UploadCap:
    """Whether Gradio's upload folder is over its cap, measured at most every `every_s` (a walk of the folder)."""

    def __init__(self, cap: int = UPLOAD_CAP_BYTES, every_s: float = 2.0):
        self.cap, self.every_s, self.bytes, self._at = cap, every_s, 0, 0.0

    def full(self, folder: str | os.PathLike | None) -> bool:
        if folder is None:
            return False
        if time.monotonic() - self._at > self.every_s:
            self.bytes, self._at = folder_bytes(folder), time.monotonic()
        return self.bytes > self.cap
