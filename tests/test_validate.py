"""Tests for inception_lab._validate, the package's one home of argument checks.

Each check must refuse a bool where it wants a number (Python's True is the int 1), keep to its
bounds exactly at the edges, and name the argument and the bad value in its message.
"""

import math
import re

import numpy as np
import pytest

from inception_lab._validate import (
    check_choice,
    check_int,
    check_number,
    is_int,
    is_number,
    pair,
)


# --------------------------------------------------------------------------- predicates
@pytest.mark.parametrize(
    ("value", "whole", "number"),
    [
        (0, True, True),
        (-7, True, True),
        (2**70, True, True),
        (True, False, False),
        (False, False, False),
        (2.0, False, True),
        (math.nan, False, True),
        (np.float32(0.5), False, True),
        ("3", False, False),
        (None, False, False),
        ((1, 2), False, False),
    ],
)
def test_is_int_and_is_number(value, whole, number):
    assert is_int(value) is whole
    assert is_number(value) is number


# --------------------------------------------------------------------------- check_int
def test_check_int_returns_the_value_at_both_bounds():
    assert check_int("k", 1) == 1  # default minimum 1
    assert check_int("k", 0, minimum=0) == 0
    assert check_int("k", 5, maximum=5) == 5
    assert check_int("k", -(10**9), minimum=None) == -(10**9)


@pytest.mark.parametrize("bad", [True, False, 2.0, "2", None])
def test_check_int_refuses_what_is_not_an_int(bad):
    with pytest.raises(ValueError, match=rf"^epochs must be an integer >= 0, got {bad!r}$"):
        check_int("epochs", bad, minimum=0)


@pytest.mark.parametrize(
    ("kwargs", "value", "message"),
    [
        ({}, 0, "k must be an integer >= 1, got 0"),
        ({"minimum": 2}, 1, "k must be an integer >= 2, got 1"),
        ({"maximum": 5}, 6, r"k must be an integer in \[1, 5\], got 6"),
        ({"minimum": 0, "maximum": 5}, -1, r"k must be an integer in \[0, 5\], got -1"),
        ({"minimum": None, "maximum": 3}, 4, "k must be an integer <= 3, got 4"),
        ({"minimum": None}, 1.5, "k must be an integer, got 1.5"),
        ({"what": "a positive number of channels"}, 0, "k must be a positive number of channels"),
    ],
)
def test_check_int_bounds_and_message(kwargs, value, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        check_int("k", value, **kwargs)


# --------------------------------------------------------------------------- check_number
def test_check_number_returns_a_float_inside_and_on_closed_ends():
    assert check_number("eps", 0, 0, 1) == 0.0
    assert type(check_number("eps", 1, 0, 1)) is float
    assert check_number("lr", np.float32(0.25), 0, low_open=True) == 0.25
    assert check_number("x", -1e300) == -1e300  # unbounded by default


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (0, {"low": 0, "high": 1, "low_open": True}, r"scale must be in \(0, 1\], got 0"),
        (1, {"low": 0, "high": 1, "high_open": True}, r"scale must be in \[0, 1\), got 1"),
        (1.5, {"low": 0, "high": 1}, r"scale must be in \[0, 1\], got 1.5"),
        (-0.5, {"low": 0}, r"scale must be in \[0, inf\), got -0.5"),
        (2, {"high": 1}, r"scale must be in \(-inf, 1\], got 2"),
        (math.inf, {"low": 0}, r"scale must be in \[0, inf\), got inf"),
        (math.nan, {}, "scale must be a finite number, got nan"),
        (True, {"low": 0, "high": 1}, r"scale must be in \[0, 1\], got True"),
        ("0.5", {"low": 0, "high": 1}, r"scale must be in \[0, 1\], got '0.5'"),
        (
            0,
            {"low": 0, "low_open": True, "note": "the paper uses 0.1-0.3"},
            r"scale must be in \(0, inf\) \(the paper uses 0.1-0.3\), got 0",
        ),
    ],
)
def test_check_number_refusals_name_the_interval(value, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_number("scale", value, **kwargs)


# --------------------------------------------------------------------------- check_choice
def test_check_choice():
    assert check_choice("pool", "avg", ("max", "avg")) == "avg"
    assert check_choice("mode", "b", {"a": 1, "b": 2}) == "b"  # a dict's keys are the choices
    with pytest.raises(ValueError, match=r"^pool must be one of 'max', 'avg'; got 'min'$"):
        check_choice("pool", "min", ("max", "avg"))


# --------------------------------------------------------------------------- pair
@pytest.mark.parametrize(
    ("value", "expected"), [(3, (3, 3)), ((1, 7), (1, 7)), ([7, 1], (7, 1)), ((1, 1), (1, 1))]
)
def test_pair_forms(value, expected):
    got = pair("kernel_size", value)
    assert got == expected
    assert type(got) is tuple


def test_pair_minimum():
    assert pair("padding", 0, minimum=0) == (0, 0)
    with pytest.raises(ValueError, match=r"^padding must be an int >= 0 or a pair of them"):
        pair("padding", (0, -1), minimum=0)


@pytest.mark.parametrize("bad", [0, -1, True, (3,), (1, 3, 3), (3, True), (3, 2.0), "33", None])
def test_pair_refusals_name_the_argument(bad):
    message = f"stride must be an int >= 1 or a pair of them, got {bad!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        pair("stride", bad)
