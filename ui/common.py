"""Edge validation shared by the tabs (the API bypasses slider bounds), their examples, and adapter errors as short
messages for the user."""

import functools
import inspect
import math

import gradio as gr

from ui.errors import message
from ui.i18n import t


def _number(name: str, value, lo, hi, whole: bool) -> float:
    """`value` as a finite float in [lo, hi] (whole when asked), or a gr.Error that says what is wrong."""
    kind = "int_range" if whole else "float_range"
    if isinstance(value, bool) or value is None:
        raise gr.Error(message(kind, name=name, lo=lo, hi=hi))
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise gr.Error(message(f"{kind}_got", name=name, lo=lo, hi=hi, value=repr(value))) from None
    if not math.isfinite(f) or not lo <= f <= hi or (whole and f != int(f)):
        raise gr.Error(message(f"{kind}_got", name=name, lo=lo, hi=hi, value=repr(value)))
    return f


def as_int(name: str, value, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; 3.0 is accepted, 2.5 is not."""
    return int(_number(name, value, lo, hi, whole=True))


def as_float(name: str, value, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]."""
    return _number(name, value, lo, hi, whole=False)


def as_choice(name: str, value, choices: list[str]) -> str:
    """One of `choices`, exactly."""
    if not isinstance(value, str) or value not in choices:
        raise gr.Error(message("choice", name=name, choices=", ".join(choices), value=repr(value)))
    return value


def examples(rows: list[list], inputs: list, label_key: str, **kwargs) -> gr.Examples:
    """gr.Examples whose translated label names the columns: Gradio 6.31 shows a Dataset's column headers as the
    raw i18n marker of each label, so the header row is left out."""
    shown = gr.Examples(rows, inputs, label=t(label_key), **kwargs)
    shown.dataset.headers = []
    return shown


def user_errors(fn):
    """Adapter errors (a ValueError, missing weights) reach the user as a short gr.Error, never a traceback."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:  # a ValueError too: re-wrapping would quote its message (str() is its repr)
                raise
            except (ValueError, FileNotFoundError) as e:
                raise gr.Error(str(e)) from None
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(str(e)) from None
    return call
