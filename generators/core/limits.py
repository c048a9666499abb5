"""Input limits as typed values, defined once by each adapter and read by its sliders, its checks and its tests."""

import math
from dataclasses import dataclass

from generators.core.errors import InputError

MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Range:
    """A closed range [lo, hi] of whole numbers (`whole=True`) or finite floats."""

    lo: int | float
    hi: int | float
    whole: bool = True

    def check(self, name: str, value):
        """`value` as an int (whole) or float inside the range, else InputError("int_range" | "float_range").

        A bool, a string, NaN or 2.5 for a whole number is refused, never rounded or converted.
        """
        key = "int_range" if self.whole else "float_range"
        ok_type = isinstance(value, int) or (isinstance(value, float) and (not self.whole or value.is_integer()))
        if isinstance(value, bool) or not ok_type or not math.isfinite(value) or not self.lo <= value <= self.hi:
            raise InputError(key, name=name, lo=self.lo, hi=self.hi, got=shown(value))
        return int(value) if self.whole else float(value)


SEED = Range(0, MAX_SEED)


def shown(value, limit: int = 60) -> str:
    """`value` as a message quotes it: its repr, cut to `limit` characters (a message never echoes a payload)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_choice(name: str, value, choices) -> str:
    """`value` if it is one of `choices` (strings), else InputError("choice")."""
    if not isinstance(value, str) or value not in choices:
        raise InputError("choice", name=name, choices=", ".join(map(str, choices)), got=shown(value))
    return value
