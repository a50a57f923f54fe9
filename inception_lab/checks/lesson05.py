"""Lesson 05 check: batch normalization written from scratch (Ioffe & Szegedy 2015, Alg. 1).

The reference is `nn.BatchNorm2d` on the same input, weights and running statistics: the output
in training mode, the in-place update of the running statistics, the gradient through the batch
statistics, and evaluation mode. PyTorch's own batch norm (`F.batch_norm`, `nn.BatchNorm2d`,
`torch.batch_norm`) raises inside the learner's function: the exercise is to write it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._common import call_learner, forbid, passed, require, tensors_close

_SHAPE = (1, -1, 1, 1)  # a per-channel (C,) tensor, broadcast over (N, C, H, W)


class _Case(NamedTuple):
    """A batch and batch-norm state; channel 2 has a tiny spread (variance ~1e-4 < eps)."""

    x: torch.Tensor  # (6, 3, 5, 4)
    x_eval: torch.Tensor  # (4, 3, 5, 4)
    weight: torch.Tensor  # (3,)
    bias: torch.Tensor  # (3,)
    start_mean: torch.Tensor  # (3,) running statistics before the call
    start_var: torch.Tensor  # (3,)
    momentum: float
    eps: float


def _make_case() -> _Case:
    g = torch.Generator().manual_seed(5)
    spread = torch.tensor([2.0, 0.5, 0.01]).view(_SHAPE)
    offset = torch.tensor([1.0, -2.0, 0.5]).view(_SHAPE)
    return _Case(
        x=torch.randn(6, 3, 5, 4, generator=g) * spread + offset,
        x_eval=torch.randn(4, 3, 5, 4, generator=g) * spread + offset,
        weight=torch.tensor([1.5, 0.7, 2.0]),
        bias=torch.tensor([0.3, -0.1, 1.0]),
        start_mean=torch.tensor([0.5, -1.0, 0.2]),
        start_var=torch.tensor([3.0, 0.2, 0.5]),
        momentum=0.2,  # not PyTorch's defaults, so hard-coded defaults show up
        eps=1e-3,
    )


def _reference(case: _Case) -> nn.BatchNorm2d:
    ref = nn.BatchNorm2d(3, eps=case.eps, momentum=case.momentum)
    with torch.no_grad():
        ref.weight.copy_(case.weight)
        ref.bias.copy_(case.bias)
        ref.running_mean.copy_(case.start_mean)
        ref.running_var.copy_(case.start_var)
    return ref


def _normalize(x, mean, var, weight, bias, eps):
    """x (N, C, H, W) normalized with per-channel `mean` and `var` (C,), scaled and shifted."""
    x_hat = (x - mean.view(_SHAPE)) / (var.view(_SHAPE) + eps).sqrt()
    return x_hat * weight.view(_SHAPE) + bias.view(_SHAPE)


_SHORTCUT = (
    "this exercise is to write batch norm yourself: compute the statistics and the "
    "normalization with tensor operations (mean, var, sqrt) instead of PyTorch's batch norm"
)


def _run(batch_norm: Callable, x, running_mean, running_var, case: _Case, training: bool):
    """The learner's batch_norm with PyTorch's own batch norm made to raise."""
    with forbid(_SHORTCUT, (torch, "batch_norm"), (torch, "native_batch_norm"), (F, "batch_norm")):
        return call_learner(
            batch_norm, x, running_mean, running_var, case.weight, case.bias, training,
            case.momentum, case.eps,
            hint=f"your batch_norm failed in {'training' if training else 'evaluation'} mode on "
            "an input of shape (6, 3, 5, 4)",
        )  # fmt: skip


def _diagnose_output(y: torch.Tensor, case: _Case) -> None:
    """Name the typical mistake behind a wrong training-mode output (always raises)."""
    x, w, b, eps = case.x, case.weight, case.bias, case.eps
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    require(
        not tensors_close(y, _normalize(x, case.start_mean, case.start_var, w, b, eps)),
        "in training mode, normalize with the statistics of the current batch, not with "
        "the running statistics (those are for evaluation mode).",
    )
    whole = _normalize(x, x.mean().expand(3), x.var(unbiased=False).expand(3), w, b, eps)
    require(
        not tensors_close(y, whole),
        "batch norm keeps one mean and one variance per channel: average over the batch "
        "and spatial dimensions (N, H, W) but not over channels.",
    )
    require(
        not tensors_close(y, _normalize(x, mean, x.var(dim=(0, 2, 3)), w, b, eps)),
        "normalize with the biased batch variance (divide by n, as `unbiased=False` "
        "does); only the running variance uses the unbiased estimate.",
    )
    outside = (x - mean.view(_SHAPE)) / (var.view(_SHAPE).sqrt() + eps) * w.view(_SHAPE) + b.view(
        _SHAPE
    )
    require(
        not tensors_close(y, _normalize(x, mean, var, w, b, 0.0)) and not tensors_close(y, outside),
        "look at where eps goes: it keeps the division safe for channels with a tiny "
        "variance, and the paper adds it to the variance, under the square root.",
    )
    require(
        not tensors_close(y, _normalize(x, mean, var, torch.ones(3), torch.zeros(3), eps)),
        "after normalizing, scale by `weight` and shift by `bias` (one value per channel, "
        "reshaped to (1, C, 1, 1) so they broadcast).",
    )
    require(
        False,
        "in training mode the output differs from nn.BatchNorm2d: follow the paper's "
        "Algorithm 1 per channel (batch mean, batch variance, normalize, scale and shift).",
    )


def _check_running(running_mean, running_var, ref: nn.BatchNorm2d, case: _Case) -> None:
    """The running statistics after one training-mode call, against nn.BatchNorm2d's."""
    batch_mean = case.x.mean(dim=(0, 2, 3))
    biased_var = case.x.var(dim=(0, 2, 3), unbiased=False)
    require(
        not running_mean.requires_grad and not running_var.requires_grad,
        "the running statistics must not carry gradient history: update them with "
        "detached batch statistics (e.g. inside `with torch.no_grad():`).",
    )
    require(
        not (
            tensors_close(running_mean, case.start_mean)
            and tensors_close(running_var, case.start_var)
        ),
        "in training mode, update running_mean and running_var in place (e.g. with "
        "`.mul_()` and `.add_()` or `.copy_()`): assigning a new tensor to the name inside "
        "your function does not change the caller's buffers.",
    )
    m = case.momentum
    require(
        not tensors_close(running_mean, (1 - m) * batch_mean + m * case.start_mean),
        "PyTorch's momentum is the weight of the NEW batch statistic, not of the old "
        "running value.",
    )
    require(
        tensors_close(running_mean, ref.running_mean),
        "running_mean should move a step (of size momentum) from its old value towards the "
        "batch mean.",
    )
    require(
        not tensors_close(running_var, (1 - m) * case.start_var + m * biased_var),
        "the running variance uses the unbiased batch variance (divide by n - 1, "
        "`unbiased=True`), as nn.BatchNorm2d does; the normalization itself uses the biased one.",
    )
    require(
        tensors_close(running_var, ref.running_var),
        "running_var should move towards the unbiased batch variance with the same momentum "
        "rule as running_mean.",
    )


def _check_training(batch_norm: Callable, case: _Case) -> None:
    """Training mode: output, running statistics, and the gradient through the statistics."""
    ref = _reference(case)
    x_ref = case.x.clone().requires_grad_(True)
    y_ref = ref.train()(x_ref)
    running_mean, running_var = case.start_mean.clone(), case.start_var.clone()
    x_in = case.x.clone().requires_grad_(True)
    y = _run(batch_norm, x_in, running_mean, running_var, case, training=True)
    require(
        isinstance(y, torch.Tensor) and y.shape == case.x.shape,
        f"return a tensor shaped like the input {tuple(case.x.shape)}, got "
        f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}.",
    )
    if not tensors_close(y, y_ref):
        _diagnose_output(y, case)
    _check_running(running_mean, running_var, ref, case)
    y_ref.pow(2).sum().backward()
    if y.requires_grad:
        y.pow(2).sum().backward()
    require(
        x_in.grad is not None and tensors_close(x_in.grad, x_ref.grad, atol=1e-4),
        "the output must stay differentiable through the batch mean and variance: detach "
        "the statistics only for the running-statistics update, not for the normalization.",
    )


def _check_eval(batch_norm: Callable, case: _Case) -> None:
    """Evaluation mode: the running statistics normalize, and they do not change."""
    ref = _reference(case).eval()
    running_mean, running_var = case.start_mean.clone(), case.start_var.clone()
    with torch.no_grad():
        y_ref = ref(case.x_eval)
        y = _run(batch_norm, case.x_eval, running_mean, running_var, case, training=False)
    require(
        tensors_close(running_mean, case.start_mean) and tensors_close(running_var, case.start_var),
        "evaluation mode must leave the running statistics unchanged.",
    )
    x = case.x_eval
    batch_stats = _normalize(
        x, x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False), case.weight, case.bias,
        case.eps,
    )  # fmt: skip
    require(
        not tensors_close(y, batch_stats),
        "in evaluation mode, normalize with running_mean and running_var instead of the "
        "batch's statistics, so a prediction does not depend on the rest of the batch.",
    )
    require(
        tensors_close(y, y_ref),
        "in evaluation mode the output differs from nn.BatchNorm2d: the running statistics "
        "take the place of the batch's, and the rest is as in training mode.",
    )


def batch_norm_forward(batch_norm: Callable) -> None:
    """Check a from-scratch `batch_norm(x, running_mean, running_var, weight, bias, training,
    momentum, eps)` against `nn.BatchNorm2d`: the output in training mode (batch statistics),
    the in-place update of the running statistics, the gradient, and evaluation mode.

    x: (N, C, H, W); running_mean, running_var, weight, bias: (C,). Returns y, shaped like x.
    PyTorch's batch norm functions raise while the learner's function runs.
    """
    case = _make_case()
    _check_training(batch_norm, case)
    _check_eval(batch_norm, case)
    passed(
        "matches nn.BatchNorm2d in training mode (output, gradient, running statistics) "
        "and in evaluation mode."
    )
