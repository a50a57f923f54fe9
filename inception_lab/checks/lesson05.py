"""Lesson 05 checks: batch normalization written from scratch (Ioffe & Szegedy 2015, Alg. 1),
and folded into the conv before it for inference.

Exercise 1's reference is `nn.BatchNorm2d` on the same input, weights and running statistics:
the output in training mode, the in-place update of the running statistics, the gradient
through the batch statistics, and evaluation mode. PyTorch's own batch norm (`F.batch_norm`,
`nn.BatchNorm2d`, `torch.batch_norm`) raises inside the learner's function: the exercise is to
write it.

Exercise 2's reference is `bn(conv(x))` with `bn` in evaluation mode: the learner's folded
weight and bias must give the same output from one conv. PyTorch's fusion helpers
(`torch.nn.utils.fuse_conv_bn_eval`, `fuse_conv_bn_weights`) raise while the learner's function
runs, however they were imported.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
import torch.nn.utils.fusion
from torch import nn
from torch.nn import functional as F

from ._common import call_learner, forbid, passed, private_rng, require, tensors_close

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


# --------------------------------------------------------------------------- exercise 2
# In evaluation mode BN is a fixed affine map per channel, y = gamma (z - mean) / sqrt(var + eps)
# + beta with z = conv(x), so one conv with a new weight and bias computes bn(conv(x)).

FOLD_SHORTCUT = (
    "this exercise is to fold batch norm yourself: PyTorch's fusion helpers "
    "(torch.nn.utils.fuse_conv_bn_eval, fuse_conv_bn_weights) do the work for you; compute the "
    "new weight and bias from the BN layer's running statistics, weight, bias and eps"
)


def _fusion_shortcut(*args, **kwargs):
    # Runs as the code of PyTorch's fusion functions (see `_forbid_fusion`), whose module
    # globals do not know this module: only builtins may be named here.
    common = __import__("inception_lab.checks._common", fromlist=["LibraryShortcut"])
    lesson05 = __import__("inception_lab.checks.lesson05", fromlist=["FOLD_SHORTCUT"])
    raise common.LibraryShortcut("Not yet. Hint: " + lesson05.FOLD_SHORTCUT)


@contextlib.contextmanager
def _forbid_fusion() -> Iterator[None]:
    """Within the block, PyTorch's conv-BN fusion functions raise `LibraryShortcut`, whether the
    learner calls them through `torch.nn.utils` or through a name imported before the check:
    the function objects' own code is swapped, and restored on exit, even after an error."""
    functions = [
        torch.nn.utils.fusion.fuse_conv_bn_eval,
        torch.nn.utils.fusion.fuse_conv_bn_weights,
    ]
    originals = [(f, f.__code__) for f in functions]
    try:
        for f in functions:
            f.__code__ = _fusion_shortcut.__code__
        yield
    finally:
        for f, code in originals:
            f.__code__ = code


class _FoldCase(NamedTuple):
    conv: nn.Conv2d
    bn: nn.BatchNorm2d
    x: torch.Tensor
    what: str


def _fold_cases() -> list[_FoldCase]:
    """A conv with a bias, 4 -> 4 channels (so a factor per INPUT channel still broadcasts),
    BN eps 1e-3 and a channel whose running variance (1e-3) is of the order of eps; and a
    strided conv without a bias, 3 -> 6 channels, as in `ConvBNAct`, with PyTorch's eps."""
    cases = []
    for in_ch, out_ch, bias, stride, eps, var in (
        (4, 4, True, 1, 1e-3, [2.0, 0.5, 1e-3, 4.0]),
        (3, 6, False, 2, 1e-5, [0.3, 1.5, 2.5, 0.05, 1.0, 6.0]),
    ):
        conv = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=bias)
        bn = nn.BatchNorm2d(out_ch, eps=eps)
        with torch.no_grad():
            bn.weight.copy_(torch.rand(out_ch) * 2 + 0.25)
            bn.weight[0] = -bn.weight[0]  # gamma may be negative
            bn.bias.copy_(torch.randn(out_ch))
            bn.running_mean.copy_(torch.randn(out_ch) * 2)
            bn.running_var.copy_(torch.tensor(var))
            if bias:
                conv.bias.copy_(torch.randn(out_ch))
        what = f"a {in_ch} -> {out_ch} conv {'with' if bias else 'without'} a bias"
        cases.append(_FoldCase(conv.eval(), bn.eval(), torch.randn(2, in_ch, 9, 9), what))
    return cases


def _fold_reference(conv: nn.Conv2d, bn: nn.BatchNorm2d, **mistake) -> tuple:
    """The folded (weight, bias), in float64; each keyword plants one typical mistake."""
    d = {k: v.detach().double() for k, v in (("w", conv.weight), ("gamma", bn.weight),
         ("beta", bn.bias), ("mean", bn.running_mean), ("var", bn.running_var))}  # fmt: skip
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(d["mean"])
    eps = mistake.get("eps", bn.eps)
    std = d["var"] + eps if mistake.get("no_sqrt") else (d["var"] + eps).sqrt()
    scale = (1.0 if mistake.get("no_gamma") else d["gamma"]) / std
    shape = (1, -1, 1, 1) if mistake.get("input_axis") else (-1, 1, 1, 1)
    weight = d["w"] if mistake.get("weight_unscaled") else d["w"] * scale.view(shape)
    if mistake.get("conv_bias_ignored"):
        b = torch.zeros_like(b)
    mean = -d["mean"] if mistake.get("mean_sign") else d["mean"]
    beta = 0.0 if mistake.get("no_beta") else d["beta"]
    if mistake.get("shift_unscaled"):
        bias = b * scale - mean + beta
    elif mistake.get("nothing_scaled"):
        bias = b - mean + beta
    else:
        bias = (b - mean) * scale + beta
    return weight, bias


_ORDER = (
    "BN subtracts the mean BEFORE it scales: write bn(conv(x)) for one channel as "
    "a * conv(x) + c, and see which terms the factor multiplies."
)
_WEIGHT_MISTAKES = [
    (
        {"weight_unscaled": True},
        (
            "BN multiplies every output of the conv by a per-channel factor: the folded weight must "
            "include that factor (the bias alone cannot do it)."
        ),
    ),
    (
        {"input_axis": True},
        (
            "the factor belongs to an OUTPUT channel of the conv: it multiplies the whole filter "
            "that produces that channel, so reshape it to broadcast over conv.weight's first axis."
        ),
    ),
    (
        {"no_sqrt": True},
        (
            "BN divides by the standard deviation, the square root of (running_var + eps), not by "
            "the variance."
        ),
    ),
    (
        {"eps": 0.0},
        (
            "look at where eps goes: BN adds it to the running variance, under the square root; a "
            "channel with a tiny variance shows the difference."
        ),
    ),
    (
        {"eps": 1e-5},
        (
            "use the layer's own eps (`bn.eps`): BN-Inception and torchvision use 1e-3, not "
            "PyTorch's default."
        ),
    ),
    (
        {"no_gamma": True},
        (
            "BN scales the normalized value by its learned `weight` (gamma) before it shifts it: "
            "the factor includes it."
        ),
    ),
]
_BIAS_MISTAKES = [
    (
        {"conv_bias_ignored": True},
        (
            "the conv's own bias passes through BN too: it is shifted and scaled like the rest of "
            "the conv's output (the conv may also have no bias: `conv.bias is None`)."
        ),
    ),
    ({"mean_sign": True}, "check the sign of the mean: BN subtracts the running mean."),
    (
        {"no_beta": True},
        "BN adds its learned `bias` (beta) at the end: the folded bias includes it.",
    ),
    ({"shift_unscaled": True}, _ORDER),
    ({"nothing_scaled": True}, _ORDER),
]


def _close64(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.detach().double(), b, rtol=1e-4, atol=1e-5)


def _diagnose_fold(weight, bias, case: _FoldCase) -> None:
    """Name the typical mistake behind a wrong folded weight or bias (raises when wrong)."""
    right_w, right_b = _fold_reference(case.conv, case.bn)
    if not _close64(weight, right_w):
        for mistake, hint in _WEIGHT_MISTAKES:
            require(not _close64(weight, _fold_reference(case.conv, case.bn, **mistake)[0]), hint)
        require(False, f"for {case.what} the folded weight is not the conv's weight scaled "
                "per output channel by BN's factor: derive that factor from bn(conv(x)) for one "
                "channel.")  # fmt: skip
    if not _close64(bias, right_b):
        for mistake, hint in _BIAS_MISTAKES:
            require(not _close64(bias, _fold_reference(case.conv, case.bn, **mistake)[1]), hint)
        require(False, f"for {case.what} the folded weight is right but the bias is not: write "
                "bn(conv(x)) for one channel as a * conv(x) + c, and collect every constant "
                "term in c.")  # fmt: skip


def _unchanged(case: _FoldCase, before: dict) -> bool:
    now = {**case.conv.state_dict(), **{f"bn.{k}": v for k, v in case.bn.state_dict().items()}}
    return now.keys() == before.keys() and all(torch.equal(now[k], before[k]) for k in now)


@private_rng(55)
def fold_batch_norm(fold: Callable) -> None:
    """Check `fold(conv, bn) -> (weight, bias)`: the weight and bias of one conv that computes
    `bn(conv(x))` with `bn` in evaluation mode (running statistics).

    conv: nn.Conv2d (with or without a bias); bn: nn.BatchNorm2d in eval mode. weight: shaped
    like conv.weight; bias: (out_channels,). The output of `F.conv2d(x, weight, bias, ...)` with
    the conv's stride and padding is compared with `bn(conv(x))`. conv and bn must be left
    unchanged. PyTorch's fusion helpers raise while `fold` runs.
    """
    for case in _fold_cases():
        before = {**copy.deepcopy(case.conv.state_dict()),
                  **{f"bn.{k}": v.clone() for k, v in case.bn.state_dict().items()}}  # fmt: skip
        with _forbid_fusion(), torch.no_grad():
            out = call_learner(fold, case.conv, case.bn,
                               hint=f"fold_batch_norm failed on {case.what}")  # fmt: skip
        require(
            _unchanged(case, before),
            "leave `conv` and `bn` as they were: compute new tensors (an in-place operation "
            "such as `conv.weight.mul_(...)` changes the network you are folding).",
        )
        out_ch = case.conv.out_channels
        require(
            isinstance(out, tuple | list)
            and len(out) == 2
            and all(isinstance(t, torch.Tensor) for t in out),
            f"return two tensors, (weight, bias), got {type(out).__name__}.",
        )
        weight, bias = out
        require(
            weight.shape == case.conv.weight.shape and bias.shape == (out_ch,),
            f"for {case.what} the weight should have conv.weight's shape "
            f"{tuple(case.conv.weight.shape)} and the bias one value per output channel "
            f"({out_ch},); got {tuple(weight.shape)} and {tuple(bias.shape)}.",
        )
        _diagnose_fold(weight, bias, case)
        c = case.conv
        with torch.no_grad():
            y = F.conv2d(case.x, weight.float(), bias.float(), c.stride, c.padding, c.dilation,
                         c.groups)  # fmt: skip
            y_ref = case.bn(case.conv(case.x))
        require(
            tensors_close(y, y_ref, atol=1e-4),
            f"for {case.what} one conv with your weight and bias does not give bn(conv(x)).",
        )
    passed(
        "one conv with your folded weight and bias computes bn(conv(x)) as nn.BatchNorm2d does "
        "in evaluation mode, for a conv with a bias and one without."
    )
