"""Checks of single values, named as ``Config`` fields: shared by ``pgjax.pipeline.config``
and by the parts (estimators, learners, algorithms, networks) that check their own settings,
so that none of them imports the config."""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any

INT32_MAX = 2**31 - 1
"""The largest count the compiled program holds: updates and environment steps are int32 (the
steps counted are at most ``total_timesteps``, itself at most this)."""


def did_you_mean(value: str, allowed: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'a', 'b'?)`` for the close matches of ``value`` in ``allowed``, or
    nothing."""
    close = difflib.get_close_matches(value, list(allowed), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def check_choice(name: str, value: Any, allowed: tuple[str, ...] | list[str]) -> None:
    """``ValueError`` naming ``Config.<name>``, the value, the close matches and the allowed
    values, unless ``value`` is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        hint = did_you_mean(str(value), allowed)
        listing = ", ".join(allowed)
        raise ValueError(f"Config.{name}={value!r} is unknown{hint}; allowed: {listing}")


def is_positive_int(value: Any) -> bool:
    """An ``int`` (not a bool) in ``[1, INT32_MAX]``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT32_MAX


def is_number(value: Any) -> bool:
    """A real number (bools and strings are not numbers here); may be infinite or NaN."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A real number, neither infinite nor NaN."""
    return is_number(value) and math.isfinite(value)


def check_interval(name: str, value: Any, low: float, high: float) -> None:
    """``ValueError`` unless ``value`` is a finite number in ``[low, high]``."""
    if not (is_finite(value) and low <= value <= high):
        raise ValueError(f"Config.{name}={value!r}: must be in [{low}, {high}]")
