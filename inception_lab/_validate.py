"""Argument checks shared by the whole package: one home for "an int, but not a bool".

Every public function checks its arguments early and says what it expected and what it got,
naming the argument: `check_int("epochs", epochs)` raises
`ValueError: epochs must be an integer >= 1, got 0`. Python's `bool` is a subclass of `int`, so
`True` would pass a bare `isinstance(x, int)` as 1; these checks refuse it.

- `is_int`, `is_number`: predicates, for code that words its own message (the lessons' checks);
- `check_int`, `check_number`, `check_choice`: the value, or a ValueError naming the argument;
- `pair`: (h, w) from an int or a pair of ints (kernel sizes, strides).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any

__all__ = ["check_choice", "check_int", "check_number", "is_int", "is_number", "pair"]


def is_int(value: Any) -> bool:
    """True for an int that is not a bool (hand counts, sizes, seeds)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for a real number that is not a bool: an int, a float or a numpy scalar (NaN and
    infinities included; `check_number` refuses them)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(
    name: str,
    value: Any,
    minimum: int | None = 1,
    what: str | None = None,
    *,
    maximum: int | None = None,
) -> int:
    """`value` if it is an int (not a bool) in [minimum, maximum] (None: unbounded); else a
    ValueError "<name> must be <what>, got <value>".

    `what` defaults to the bounds in words ("an integer >= 1", "an integer in [0, 8]"); pass it
    to say more, e.g. `what="a positive integer number of channels"`.
    """
    low_ok = minimum is None or (is_int(value) and value >= minimum)
    high_ok = maximum is None or (is_int(value) and value <= maximum)
    if not (is_int(value) and low_ok and high_ok):
        if what is None:
            if minimum is not None and maximum is not None:
                what = f"an integer in [{minimum}, {maximum}]"
            elif minimum is not None:
                what = f"an integer >= {minimum}"
            elif maximum is not None:
                what = f"an integer <= {maximum}"
            else:
                what = "an integer"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    note: str = "",
) -> float:
    """`value` as a float if it is a finite real number (not a bool) in the interval from `low`
    to `high` (ends open when asked; None: unbounded); else a ValueError naming the interval,
    e.g. "scale must be in (0, 1], got 1.5". `note` is added in brackets after the interval.
    """
    ok = is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        if low is None and high is None:
            expected = "a finite number"
        else:
            left = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
            right = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
            expected = f"in {left}, {right}"
        expected += f" ({note})" if note else ""
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Collection) -> Any:
    """`value` if it is one of `choices`; else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def pair(name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """(h, w) from an int or a pair (tuple or list) of ints, each at least `minimum` (kernel
    sizes, strides); else a ValueError naming the argument."""
    values = (value, value) if is_int(value) else value
    if (
        not isinstance(values, tuple | list)
        or len(values) != 2
        or not all(is_int(v) and v >= minimum for v in values)
    ):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(values[0]), int(values[1])
