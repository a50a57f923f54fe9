"""Lesson 08 checks: measuring throughput, and the linear learning-rate scaling rule.

Exercise 1 turns step timings into images per second; exercise 2 writes the linear scaling rule
with gradual warmup (Goyal et al. 2017, sections 2.1 and 2.2). Both are checked against hand
formulas on several cases, with arguments that differ from the lesson's example and from the
signatures' defaults, so a typed number (the lesson prints 320 images/s and a rate of 0.4) or
a typed default (warmup 2, batch 64, base_lr 0.1, base_batch 256) fails with its own hint.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch

from ._common import call_learner, passed, require


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _as_number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    require(
        isinstance(value, numbers.Real) and not isinstance(value, bool),
        f"return one number ({what}), got {type(value).__name__}.",
    )
    return float(value)


def _require_function(func: Any, name: str) -> None:
    require(
        callable(func),
        f"pass your function itself ({name}), not a value it returned: the check calls it on "
        f"cases of its own; got {func!r}.",
    )


_THROUGHPUT_CASES = (  # (step seconds, batch_size, warmup, world_size)
    ([2.0, 0.5, 0.25, 0.25, 0.5], 64, 2, 1),
    ([1.5, 0.1, 0.3, 0.2], 128, 1, 1),
    ([3.0, 1.0, 0.2, 0.2, 0.4, 0.2], 32, 2, 4),
    ([0.4, 0.1, 0.3], 256, 0, 2),
)


def _diagnose_throughput(value: float, times: list, batch: int, warmup: int, world: int) -> None:
    """Name the typical mistake behind a wrong images/s (always raises)."""
    timed = times[warmup:]
    want = world * batch * len(timed) / sum(timed)
    context = (
        f"for step times {times} s, batch_size={batch}, warmup={warmup}, "
        f"world_size={world}: got {value:g}. "
    )
    require(not _close(value, 1 / want), context + "images/s is images divided by seconds.")
    require(
        not _close(value, world * batch * len(times) / sum(times)) or warmup == 0,
        context + "leave out the first `warmup` steps: they include one-time costs "
        "(memory allocation, picking convolution algorithms) that a long run does not pay again.",
    )
    require(
        not _close(value, world * sum(batch / t for t in timed) / len(timed)),
        context + "do not average the per-step rates: a slow step then counts as much as a "
        "fast one. Divide all the images by all the time instead.",
    )
    for fixed in range(len(times)):  # e.g. `step_seconds[2:]`, the default typed in
        if fixed != warmup and _close(
            value, world * batch * len(times[fixed:]) / sum(times[fixed:])
        ):
            require(
                False,
                context + "leave out as many steps as the `warmup` argument says, not a fixed "
                "number.",
            )
    require(
        not _close(value, world * 64 * len(timed) / sum(timed)) or batch == 64,
        context + "use the `batch_size` argument, not the example's batch of 64.",
    )
    require(
        not _close(value, batch * len(timed) / sum(timed)) or world == 1,
        context + "under torchrun every one of the `world_size` processes handles "
        "`batch_size` images per step, at the same time.",
    )
    require(
        not _close(value, world * batch / sum(timed)),
        context + "count the images of every timed step, not of one step.",
    )
    require(
        False,
        context + "count every image that every process handled in the timed steps, and the "
        "time those steps took.",
    )


def throughput(images_per_second: Callable) -> None:
    """Check `images_per_second(step_seconds, batch_size, warmup, world_size)` -> float.

    step_seconds: the duration of each training step in seconds, in order; the first `warmup`
    steps are excluded (they include one-time set-up costs); every one of `world_size` processes
    handles `batch_size` images per step. Expected: world_size * batch_size * (number of timed
    steps) / (their total time).
    """
    _require_function(images_per_second, "images_per_second")
    for times, batch, warmup, world in _THROUGHPUT_CASES:
        got = call_learner(
            images_per_second, list(times), batch, warmup, world,
            hint=f"images_per_second({times}, {batch}, {warmup}, {world}) failed",
        )  # fmt: skip
        value = _as_number(got, "images/s")
        timed = times[warmup:]
        if not _close(value, world * batch * len(timed) / sum(timed)):
            _diagnose_throughput(value, list(times), batch, warmup, world)
    passed("images/s = images processed by all processes / time, warm-up steps left out.")


def _scaled(step: int, batch: float, base_lr: float, base_batch: int, warmup: int) -> float:
    """The reference: linear scaling, ramped linearly from base_lr over `warmup` steps."""
    target = base_lr * batch / base_batch
    if step >= warmup:
        return target
    return base_lr + (target - base_lr) * step / warmup


_LR_CASES = (  # (step, batch_size, base_lr, base_batch, warmup_steps)
    (0, 1024, 0.1, 256, 100),
    (50, 1024, 0.1, 256, 100),
    (100, 1024, 0.1, 256, 100),
    (500, 1024, 0.1, 256, 100),
    (30, 512, 0.05, 128, 40),
    (10, 2048, 0.1, 256, 0),
    (7, 2048, 0.2, 256, 20),
)


def _diagnose_lr(value: float, step: int, batch: int, base_lr: float, base: int, warmup: int):
    """Name the typical mistake behind a wrong learning rate (always raises)."""
    k = batch / base
    context = (
        f"for step={step}, batch_size={batch}, base_lr={base_lr}, base_batch={base}, "
        f"warmup_steps={warmup}: got {value:g}. "
    )
    ramp = min(step / warmup, 1.0) if warmup else 1.0
    mistakes = [  # the first failing case decides; the typed defaults fail first where they differ
        (
            _scaled(step, batch, 0.1, base, warmup) if base_lr != 0.1 else None,
            "use the `base_lr` argument, not a fixed rate such as the default 0.1.",
        ),
        (
            _scaled(step, batch, base_lr, 256, warmup) if base != 256 else None,
            "use the `base_batch` argument, not a fixed batch such as the default 256.",
        ),
        (base_lr, "scale the learning rate with the batch size (once warmup is over)."),
        (
            _scaled(step, base * base / batch, base_lr, base, warmup),
            "the ratio is upside down: a LARGER batch gets a LARGER learning rate.",
        ),
        (
            _scaled(step, base * k**0.5, base_lr, base, warmup),
            (
                "the linear rule scales with the batch-size ratio itself, not with its square root "
                "(that is another rule, used e.g. with Adam)."
            ),
        ),
        (
            base_lr * k * ramp,
            (
                "the ramp starts at base_lr (the rate known to be safe for the small batch), not at 0: "
                "at step 0 return base_lr."
            ),
        ),
        (
            base_lr * k,
            (
                "during the first warmup_steps steps, ramp up to the scaled rate gradually instead of "
                "starting at it."
            ),
        ),
        (
            base_lr + (base_lr * k - base_lr) * step / warmup if warmup else None,
            "after warmup_steps the rate stays at the scaled rate; do not keep ramping.",
        ),
        (
            _scaled(step + 1, batch, base_lr, base, warmup),
            (
                "count steps from 0: step 0 gets base_lr, and the scaled rate is reached at "
                "step == warmup_steps."
            ),
        ),
    ]
    for wrong, hint in mistakes:
        require(wrong is None or not _close(value, wrong), context + hint)
    require(
        False,
        context + "before warmup_steps, interpolate linearly between the rate of step 0 and "
        "the scaled rate; after it, keep the scaled rate.",
    )


def scaled_lr(scaled_learning_rate: Callable) -> None:
    """Check `scaled_learning_rate(step, batch_size, base_lr, base_batch, warmup_steps)` -> float.

    The linear scaling rule (Goyal et al. 2017) with gradual warmup: the target rate is
    base_lr * batch_size / base_batch; during the first `warmup_steps` steps (0-based `step`)
    the rate ramps linearly from base_lr (at step 0) to the target (reached at step
    warmup_steps), then stays there. warmup_steps=0 means no warmup.
    """
    _require_function(scaled_learning_rate, "scaled_learning_rate")
    for step, batch, base_lr, base, warmup in _LR_CASES:
        got = call_learner(
            scaled_learning_rate, step, batch, base_lr, base, warmup,
            hint=f"scaled_learning_rate({step}, {batch}, {base_lr}, {base}, {warmup}) failed"
            + (": with warmup_steps=0 there is no warmup, so nothing to divide by" * (not warmup)),
        )  # fmt: skip
        value = _as_number(got, "a learning rate")
        if not _close(value, _scaled(step, batch, base_lr, base, warmup)):
            _diagnose_lr(value, step, batch, base_lr, base, warmup)
    passed(
        "linear scaling with warmup: for batch 1024 (base 0.1 at 256) the rate ramps from "
        "0.1 to 0.4 over the warmup, then stays at 0.4."
    )
