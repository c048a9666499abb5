"""Errors that carry a key and fields instead of English text: the tab that owns the key words it (en, zh).

Adapters raise `InputError("int_range", name="count", lo=1, hi=64, got=65)`; ui/kit/errors.py finds the wording of the key in
the tab registry and fills in the fields in the request's language. `str(e)` is a plain English fallback for logs and
scripts that use an adapter directly.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Notice:
    """Something an adapter adjusted and tells the user (not an error), keyed like the errors."""

    key: str
    fields: dict = field(default_factory=dict)

    def __init__(self, key: str, **fields):
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "fields", fields)


class KeyedError(Exception):
    """An error a user can act on: `key` names the message, `fields` fill it in."""

    def __init__(self, key: str, **fields):
        super().__init__(key)
        self.key, self.fields = key, fields

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.fields.items())
        return f"{self.key}({shown})" if shown else self.key


class InputError(KeyedError, ValueError):
    """A request argument is out of range, of the wrong type, or not one of the choices."""


class ModelUnavailable(KeyedError, RuntimeError):
    """A model cannot be loaded: its weights are not trained yet, or the Hub cannot be reached."""
