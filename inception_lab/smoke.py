"""Smoke runs: every line of every lesson, with training cut to a few steps.

`make smoke-gpu` executes each lesson at BUDGET="gpu" (wide models, all the data) with the
environment variable INCEPTION_LAB_SMOKE_STEPS set to a small number. `train.fit`, `evaluate` and
`predict` then stop each epoch (and each evaluation) after that many batches and train at most
`MAX_EPOCHS` epochs, and lessons skip the assertions about accuracy that a few steps cannot meet.
The point is to run every code path of the gpu branches (device moves, loaders, wide models) on
whatever device is present, not to learn anything. Unset (the default), nothing changes.
"""

from __future__ import annotations

import os

ENV = "INCEPTION_LAB_SMOKE_STEPS"
MAX_EPOCHS = 2  # enough to run the epoch loop, the schedule and a checkpoint twice


def _read() -> int | None:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{ENV} must be a positive integer (batches per epoch), got {text!r}")
    return int(text)


STEPS: int | None = _read()
"""Batches per epoch and per evaluation in a smoke run; None outside one."""

ACTIVE: bool = STEPS is not None
"""True in a smoke run: lessons skip their accuracy assertions."""


def epochs(n: int) -> int:
    """`n`, or at most MAX_EPOCHS in a smoke run."""
    return min(n, MAX_EPOCHS) if ACTIVE else n


def batches(n: int | None) -> int | None:
    """A cap on batches: `n` (None = all), tightened to STEPS in a smoke run."""
    if not ACTIVE:
        return n
    return STEPS if n is None else min(n, STEPS)
