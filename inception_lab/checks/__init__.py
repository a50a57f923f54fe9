"""Feedback for the notebooks' exercises: one module per lesson.

Each check prints a short pass message, or raises an AssertionError whose message is a hint:
it says what to look at, never the answer. The checks compute the expected result independently
(hand formulas, the library's reference implementation, PyTorch's own layers), and call the
learner's code through `_common.call_learner`: the student edition's NotImplementedError reaches
the learner as it is, any other error becomes the check's hint.

A notebook calls `checks.<name>(...)` right after its exercise cell; every check is importable
from here, e.g. `checks.batch_norm_forward`. To add a check for a lesson, write it in
`lessonNN.py`, export it below, and give it a test in `tests/test_checks_NN.py` that feeds it a
wrong answer and expects its hint.
"""

import sys
import types

from ._common import LibraryShortcut, call_learner, passed, require, snapshot_course
from .lesson01 import naive_counts, naive_forward
from .lesson02 import conv_mac_formula, reduction_budget
from .lesson03 import auxiliary_training, head_costs
from .lesson04 import factorized_7x7, grid_reduction
from .lesson05 import batch_norm_forward, fold_batch_norm
from .lesson06 import calibration_error, smoothed_loss
from .lesson07 import largest_stable_scale, scaled_residual_forward
from .lesson08 import loss_scaling, scaled_lr, throughput
from .lesson09 import ten_crop, top_k_error
from .lesson10 import (
    CAPSTONE_HELD_OUT,
    CAPSTONE_MARGIN,
    CAPSTONE_MAX_MACS,
    CAPSTONE_MAX_PARAMS,
    CAPSTONE_TRAINING,
    capstone_budget,
    capstone_challenge,
    separable_conv_cost,
)

__all__ = [
    "CAPSTONE_HELD_OUT",
    "CAPSTONE_MARGIN",
    "CAPSTONE_MAX_MACS",
    "CAPSTONE_MAX_PARAMS",
    "CAPSTONE_TRAINING",
    "LibraryShortcut",
    "auxiliary_training",
    "batch_norm_forward",
    "calibration_error",
    "call_learner",
    "capstone_budget",
    "capstone_challenge",
    "conv_mac_formula",
    "factorized_7x7",
    "fold_batch_norm",
    "grid_reduction",
    "head_costs",
    "largest_stable_scale",
    "loss_scaling",
    "naive_counts",
    "naive_forward",
    "passed",
    "reduction_budget",
    "require",
    "scaled_lr",
    "scaled_residual_forward",
    "separable_conv_cost",
    "smoothed_loss",
    "ten_crop",
    "throughput",
    "top_k_error",
]


class _Checks(types.ModuleType):
    """This package, with its checks locked: a notebook cell that rebinds one (`checks.x = ...`)
    would silence the check cell that calls it, so that raises instead."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in __all__:
            raise AttributeError(
                f"checks.{name} is the course's check and cannot be replaced; write the exercise "
                "so that the check passes as it is"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in __all__:
            raise AttributeError(f"checks.{name} is the course's check and cannot be deleted")
        super().__delattr__(name)


sys.modules[__name__].__class__ = _Checks
snapshot_course()  # what a later cell must not replace (see _common._Guard)
