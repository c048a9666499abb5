"""The one way this UI wraps a handler: a function stays a function, a generator function stays one (Gradio
streams only what `inspect.isgeneratorfunction` says is a generator)."""

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple


class Hooks(NamedTuple):
    """What one call of a wrapped handler does around it."""

    args: tuple
    kwargs: dict
    each: Callable[[Any], Any] = lambda value: value  # applied to the result, or to each yielded item
    fail: Callable[[Exception], None] | None = None  # raises its own error, or returns to re-raise the original


def wrap(fn: Callable, hooks: Callable[[tuple, dict], Hooks]) -> Callable:
    """`fn` called with the arguments `hooks(args, kwargs)` gives, its output passed through `each`, its
    exceptions through `fail`. Closing a wrapped stream closes `fn`'s stream at once (a Stop stops the compute)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            h = hooks(args, kwargs)
            inner = fn(*h.args, **h.kwargs)
            try:
                for item in inner:
                    yield h.each(item)
            except Exception as e:
                if h.fail:
                    h.fail(e)
                raise
            finally:
                inner.close()
        return stream

    @functools.wraps(fn)
    def call(*args, **kwargs):
        h = hooks(args, kwargs)
        try:
            return h.each(fn(*h.args, **h.kwargs))
        except Exception as e:
            if h.fail:
                h.fail(e)
            raise
    return call
