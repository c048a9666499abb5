"""Edge validation shared by the tabs (the API bypasses slider bounds) and temp files for downloads."""

import functools
import inspect
import math
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr

TMP = Path(tempfile.gettempdir()) / "genai-playground"
KEEP_SECONDS = 3600


def _number(name: str, value, lo, hi, kind: str) -> float:
    """`value` as a finite float in [lo, hi] (whole when kind says so), or a gr.Error that says what is wrong."""
    message = f"{name} must be {kind} between {lo} and {hi}"
    if isinstance(value, bool) or value is None:
        raise gr.Error(f"{message}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{message}, not {value!r}.") from None
    if not math.isfinite(f) or not lo <= f <= hi or (kind == "a whole number" and f != int(f)):
        raise gr.Error(f"{message}, not {value!r}.")
    return f


def as_int(name: str, value, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; 3.0 is accepted, 2.5 is not."""
    return int(_number(name, value, lo, hi, "a whole number"))


def as_float(name: str, value, lo: float, hi: float) -> float:
    return _number(name, value, lo, hi, "a number")


def as_choice(name: str, value, choices: list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise gr.Error(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def temp_file(data: bytes, suffix: str) -> str:
    """Writes a download to the app's temp folder, pruning files older than an hour so nothing piles up."""
    TMP.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in TMP.iterdir():
        try:
            if now - old.stat().st_mtime > KEEP_SECONDS:
                old.unlink()
        except OSError:
            pass
    path = TMP / f"{uuid.uuid4().hex}{suffix}"
    path.write_bytes(data)
    return str(path)


def user_errors(fn):
    """Adapter errors (a ValueError, missing weights) reach the user as a short gr.Error, never a traceback."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (ValueError, FileNotFoundError) as e:
                raise gr.Error(str(e)) from None
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(str(e)) from None
    return call
