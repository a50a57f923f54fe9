"""Lesson 07 checks: scaled residual connections (Inception-ResNet, Szegedy et al. 2016).

Exercise 1 writes the forward pass of a scaled residual block from the lesson's diagrams; the
reference is `blocks.InceptionResNetBlock`, whose forward pass (and construction, and the
multi-branch concatenation of `blocks.MultiBranch`) raises while the learner's function runs.
Exercise 2 writes the sweep that finds the largest residual scale that trains without diverging
in the lesson's setting; the check runs the learner's sweep function on the lesson's candidates,
on a second candidate list and on fewer batches, and re-runs the setting itself (its own
trainer, which raises while the learner's sweep runs) for the scales that decide each answer,
so a typed number cannot pass.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .. import blocks, models, train
from .._validate import is_number
from ._common import Forbidden, call_learner, passed, private_rng, require, unseen_seed

# The course's own residual block computes the answer: while the learner's forward runs, building
# one, running one, or running a multi-branch block's concatenation raises.
_NO_COURSE_BLOCK = Forbidden(
    "the block's forward pass",
    targets=(
        (blocks.InceptionResNetBlock, "forward"),
        (blocks.InceptionResNetBlock, "__init__"),
        (blocks.MultiBranch, "forward"),
        models,
    ),
    advice="run the modules you are given on x and combine their outputs with tensor operations",
)


def _residual_reference_block(scale: float) -> nn.Module:
    """A small `blocks.InceptionResNetBlock` (6 channels; branches 4 and 5 wide, so that a wrong
    concatenation order or a sum instead of a concatenation shows), in eval mode."""
    spec = {"branch1x1": [(4, 1)], "branch3x3": [(3, 1), (5, 3)]}
    return blocks.InceptionResNetBlock(6, spec, scale=scale).eval()


def _diagnose_residual(out, x, block: nn.Module, scale: float) -> None:
    """Name the typical mistake behind a wrong residual output (always raises)."""
    branches = list(block.branches.values())
    with torch.no_grad():
        res = block.project(torch.cat([b(x) for b in branches], dim=1))
        reordered = block.project(torch.cat([b(x) for b in reversed(branches)], dim=1))
    mistakes = [
        (x + scale * res, "the sum is right but the ReLU is missing."),
        (x + torch.relu(scale * res), "apply the ReLU AFTER the addition, to the sum."),
        (torch.relu(scale * (x + res)), "scale only the residual branch, not the shortcut x."),
        (
            torch.relu(scale * x + res),
            ("the scale multiplies the projected branch output, not the input x."),
        ),
        (torch.relu(scale * res), "add the input x back (the shortcut) before the ReLU."),
        (
            torch.relu(x + scale * reordered),
            ("concatenate the branch outputs in the order given by `branches`."),
        ),
    ]
    if scale != 1.0:
        mistakes.append((torch.relu(x + res), "multiply the projected branch output by `scale`."))
    other = 0.2 if scale != 0.2 else 1.0
    mistakes.append((torch.relu(x + other * res), "use the `scale` argument, not a fixed number."))
    for wrong, hint in mistakes:
        require(not torch.allclose(out, wrong, atol=1e-5), hint)
    require(
        False,
        f"for scale={scale} the output differs from blocks.InceptionResNetBlock: go through "
        "the steps of the exercise one by one (concatenate, project, scale, add, ReLU).",
    )


@private_rng(seed=7)
def scaled_residual_forward(scaled_residual: Callable) -> None:
    """Check `scaled_residual(x, branches, project, scale)` against `blocks.InceptionResNetBlock`
    built with scales 0.2, 1.0, 0.5 and one drawn at random (its branches of widths 4 and 5, so
    that a wrong order of concatenation shows; inputs with negative values, so that a missing or
    misplaced ReLU shows).

    x: (N, C, H, W); branches: the block's branches in concatenation order (a list of modules,
    each (N, C, H, W) -> (N, C_i, H, W)); project: the linear 1x1 conv (N, sum C_i, H, W) ->
    (N, C, H, W); scale: a float. Must return what the block returns for x.
    """
    g = torch.Generator().manual_seed(unseen_seed())  # one scale nobody can know in advance
    drawn = round(0.05 + 0.9 * float(torch.rand(1, generator=g)), 3)
    ref_blocks = {s: _residual_reference_block(s) for s in (0.2, 1.0, 0.5, drawn)}
    x = torch.randn(2, 6, 7, 7)  # negative values too, so a missing ReLU shows
    for scale, block in ref_blocks.items():
        with torch.no_grad():
            out = call_learner(
                scaled_residual,
                x.clone(),
                list(block.branches.values()),
                block.project,
                scale,
                hint="run every branch on x and join their outputs along the channels BEFORE "
                f"the projection: `project` expects {block.project.in_ch} channels, the sum of "
                "the branch widths",
                forbidden=_NO_COURSE_BLOCK,
            )
            want = block(x)
        require(
            isinstance(out, torch.Tensor),
            f"return a tensor, got {type(out).__name__} (a missing `return`?).",
        )
        require(
            tuple(out.shape) == tuple(x.shape),
            f"the output must have the input's shape {tuple(x.shape)} (so that blocks can be "
            f"stacked), got {tuple(out.shape)}.",
        )
        if not torch.allclose(out, want, atol=1e-5):
            _diagnose_residual(out, x, block, scale)
    passed(
        "your forward matches blocks.InceptionResNetBlock for scales 0.2, 1.0, 0.5 and one "
        "drawn at random: "
        "y = ReLU(x + scale * project(concat(branches(x))))."
    )


class _Setting:
    """The lesson's sweep setting; `stable(scale)` trains once per scale and remembers it.

    A scale is stable when `train.fit(model, (batches, None), 1, **fit_kwargs)` on
    `models.mini_inception_resnet(scale=scale, **model_kwargs)`, built right after
    `torch.manual_seed(seed)`, raises no `train.TrainingDiverged`. `diverged_at(scale)` is the
    step (counted from 1) whose loss was NaN or infinite, or None for a stable scale.
    """

    def __init__(self, model_kwargs: dict, fit_kwargs: dict, batches: Sequence, seed: int):
        self.model_kwargs, self.batches, self.seed = model_kwargs, batches, seed
        self.fit_kwargs = {**fit_kwargs, "progress": False}
        self.known: dict[float, int | None] = {}

    def diverged_at(self, scale: float) -> int | None:
        if scale not in self.known:
            with torch.random.fork_rng(devices=[]):  # leave the notebook's stream untouched
                torch.manual_seed(self.seed)
                model = models.mini_inception_resnet(scale=scale, **self.model_kwargs)
                try:
                    train.fit(model, (self.batches, None), 1, **self.fit_kwargs)
                    self.known[scale] = None
                except train.TrainingDiverged as err:
                    self.known[scale] = err.step
        return self.known[scale]

    def stable(self, scale: float) -> bool:
        return self.diverged_at(scale) is None

    def first(self, steps: int) -> _Setting:
        """The same setting, trained on its first `steps` batches only."""
        return _Setting(self.model_kwargs, self.fit_kwargs, list(self.batches)[:steps], self.seed)


# The check's own trainer decides which scales diverge: the learner's sweep trains them itself.
_NO_CHECK_TRAINER = Forbidden(
    "the sweep",
    targets=((_Setting, "__init__"), (_Setting, "diverged_at"), (_Setting, "stable")),
    advice="build each model with models.mini_inception_resnet, train it with train.fit and "
    "catch train.TrainingDiverged",
)


def _run_sweep(find: Callable, candidates: list[float], setting: _Setting) -> Any:
    """The learner's sweep on `candidates`, quietly and on its own random stream."""
    with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
        return call_learner(
            find,
            list(candidates),
            setting.model_kwargs,
            dict(setting.fit_kwargs),
            setting.batches,
            setting.seed,
            hint=f"find_largest_stable failed on the candidates {sorted(candidates, reverse=True)}",
            forbidden=_NO_CHECK_TRAINER,
        )


def _check_answer(answer: Any, candidates: list[float], setting: _Setting) -> None:
    """One answer of the learner's sweep against the setting, re-run by the check."""
    options = sorted(candidates, reverse=True)
    require(
        answer is not None,
        f"for the candidates {options} your function returned None: return the first scale "
        "(going down from the largest candidate) whose training run does not raise "
        "train.TrainingDiverged.",
    )
    require(
        is_number(answer),
        f"your function should return a number (one of the candidate scales), got {answer!r}.",
    )
    require(
        answer in options,
        f"for the candidates {options} your function returned {answer!r}, which is not one of "
        "them: try the candidates it is given, not a number found before.",
    )
    require(
        setting.stable(answer),
        f"with scale={answer} this setting diverges: training raises train.TrainingDiverged. "
        "Build each model right after torch.manual_seed(seed) with the given settings, and "
        "catch the exception to move on to the next, smaller scale.",
    )
    larger = [s for s in options if s > answer]
    if larger and setting.stable(min(larger)):  # (the message needs `larger`: built only here)
        require(
            False,
            f"for the candidates {options} your function returned {answer}, but {min(larger)}, "
            "which is larger, also trains without diverging: look for the LARGEST stable scale, "
            "trying the candidates from the largest down and stopping at the first that trains.",
        )


def _check_shorter_run(find: Callable, candidates: list[float], answer: float, setting: _Setting):
    """The learner's sweep on fewer batches, where the limit moves up: the smallest scale above
    `answer` diverged at step k, so it trains through the first k - 1 batches. Returns the new
    answer, or None when no shorter run can move the limit (nothing above `answer`, or a scale
    that diverged at the very first step)."""
    larger = [s for s in candidates if s > answer]
    step = setting.diverged_at(min(larger)) if larger else None
    if step is None or step < 2:
        return None
    shorter = setting.first(step - 1)
    new = _run_sweep(find, list(candidates), shorter)
    require(
        new != answer,
        f"given only the first {step - 1} of the batches, scale {min(larger)} trains without "
        f"diverging, but your function still returned {answer}: the limit depends on the "
        "setting (here, how many steps are trained), so find it by training each candidate on "
        "the batches your function is given, not from a limit found before.",
    )
    _check_answer(new, list(candidates), shorter)
    return step - 1, new


def largest_stable_scale(
    find_largest_stable: Callable,
    candidates: Sequence[float],
    model_kwargs: dict,
    fit_kwargs: dict,
    batches: Sequence,
    seed: int = 0,
) -> None:
    """Check the learner's sweep `find_largest_stable(candidates, model_kwargs, fit_kwargs,
    batches, seed)` -> the largest scale in `candidates` that trains without diverging.

    The setting: `models.mini_inception_resnet(scale=s, **model_kwargs)` built right after
    `torch.manual_seed(seed)`, then `train.fit(model, (batches, None), 1, **fit_kwargs)`; a scale
    is stable when no `train.TrainingDiverged` is raised. The check trains the scales that
    decide each answer itself, and calls the function three times: on `candidates`; without the
    answer it gave (the right answer moves down); and on fewer batches, just short of the step
    where the next larger scale diverged (the right answer moves up). So neither a typed number
    nor a function built around one (e.g. "the largest candidate up to 0.3") passes.
    """
    require(
        callable(find_largest_stable),
        "pass your sweep function itself (find_largest_stable), not the number it returned: "
        f"the check runs your sweep; got {find_largest_stable!r}",
    )
    setting = _Setting(model_kwargs, fit_kwargs, batches, seed)
    answer = _run_sweep(find_largest_stable, list(candidates), setting)
    _check_answer(answer, list(candidates), setting)
    smaller = [s for s in candidates if s < answer]
    if smaller:  # the same sweep without its answer: the limit must move down
        # in ascending order: a sweep must sort them, not trust the order it is given
        rest = sorted(s for s in candidates if s != answer)
        second = _run_sweep(find_largest_stable, rest, setting)
        _check_answer(second, rest, setting)
    shorter = _check_shorter_run(find_largest_stable, list(candidates), answer, setting)
    larger = [s for s in candidates if s > answer]
    passed(
        f"your sweep finds scale {answer} as the largest candidate that trains in this setting"
        + (f" ({min(larger)} diverges)" if larger else " (it is the largest candidate)")
        + (f"; {second} once {answer} is taken out" if smaller else "")
        + (
            f"; {shorter[1]} when only the first {shorter[0]} batches are trained"
            if shorter
            else ""
        )
        + "."
    )
