"""Lesson 05 checks: batch normalization written from scratch (Ioffe & Szegedy 2015, Alg. 1),
and folded into the conv before it for inference.

Exercise 1's reference is `nn.BatchNorm2d` on the same input, weights and running statistics:
the output in training mode, the in-place update of the running statistics, the gradient
through the batch statistics, and evaluation mode; on a batch with a channel of tiny spread, on
one image with a constant channel and odd sizes, and on a batch drawn at random. PyTorch's
normalizations raise inside the learner's function however they are reached (`F.batch_norm`,
`nn.BatchNorm2d`, `torch.ops.aten.batch_norm`, or layer / instance / group norm on a rearranged
tensor): the ATen operators themselves are blocked, and so are PyTorch's normalizations written
in Python (`torch._decomp`, `torch._refs`), which run only elementary operators. The reference
runs only after the learner's function has returned.

Exercise 2's reference is `bn(conv(x))` with `bn` in evaluation mode: the learner's folded
weight and bias must give the same output from one conv. PyTorch's fusion helpers
(`torch.nn.utils.fuse_conv_bn_eval`, `fuse_conv_bn_weights`, their `fuse_linear_bn_*` twins on
the flattened filters, and what calls them) and running the BN layer itself (or its Python
decomposition) raise while the learner's function runs, however they were imported.
"""

from __future__ import annotations

import copy
import inspect
import types
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.utils.fusion
from torch import nn
from torch.nn import functional as F

from ._common import (
    Forbidden,
    call_learner,
    passed,
    private_rng,
    require,
    tensors_close,
    unseen_seed,
)

__all__ = ["batch_norm_forward", "fold_batch_norm"]

_SHAPE = (1, -1, 1, 1)  # a per-channel (C,) tensor, broadcast over (N, C, H, W)
_NORMS = ("batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm")


class _Case(NamedTuple):
    """A batch and batch-norm state."""

    x: torch.Tensor  # (N, C, H, W)
    x_eval: torch.Tensor  # (N', C, H, W)
    weight: torch.Tensor  # (C,)
    bias: torch.Tensor  # (C,)
    start_mean: torch.Tensor  # (C,) running statistics before the call
    start_var: torch.Tensor  # (C,)
    momentum: float
    eps: float
    what: str


def _make_case() -> _Case:
    """Channel 2 has a tiny spread (variance ~1e-4 < eps); momentum and eps are not PyTorch's
    defaults, so hard-coded defaults show up."""
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
        momentum=0.2,
        eps=1e-3,
        what="a (6, 3, 5, 4) batch",
    )


def _awkward_case() -> _Case:
    """One image, odd sizes, four channels; channel 1 is constant (variance exactly 0: only eps
    keeps the division finite) and gamma is negative in channel 3."""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 4, 3, 5, generator=g) * 3.0
    x[:, 1] = 2.5
    return _Case(
        x=x,
        x_eval=torch.randn(2, 4, 3, 5, generator=g),
        weight=torch.tensor([0.5, 1.2, 1.0, -0.8]),
        bias=torch.tensor([0.0, 0.4, -1.5, 0.2]),
        start_mean=torch.tensor([0.0, 1.0, -1.0, 0.3]),
        start_var=torch.tensor([1.0, 0.1, 2.0, 0.7]),
        momentum=0.3,
        eps=1e-2,
        what="one (1, 4, 3, 5) image with a constant channel",
    )


def _drawn_case(seed: int) -> _Case:
    """Shape, statistics, momentum and eps drawn at random: a case no one can look up."""
    g = torch.Generator().manual_seed(seed)

    def ints(low: int, high: int, n: int) -> list[int]:
        return [int(v) for v in torch.randint(low, high, (n,), generator=g)]

    n, c, h, w = ints(2, 6, 1) + ints(1, 6, 1) + ints(1, 7, 2)
    # never the grid (H, W) of a listed case: an answer right only for the listed shapes would
    # pass the draws that repeat one, (3, 5, 4) or (4, 3, 5) (about 1 draw in 90)
    listed = {tuple(case.x.shape[2:]) for case in (_make_case(), _awkward_case())}
    while (h, w) in listed:
        h, w = ints(1, 7, 2)
    spread, offset = torch.rand(c, generator=g) * 3 + 0.1, torch.randn(c, generator=g) * 2
    return _Case(
        x=torch.randn(n, c, h, w, generator=g) * spread.view(_SHAPE) + offset.view(_SHAPE),
        x_eval=torch.randn(n, c, h, w, generator=g),
        weight=torch.randn(c, generator=g),
        bias=torch.randn(c, generator=g),
        start_mean=torch.randn(c, generator=g),
        start_var=torch.rand(c, generator=g) + 0.1,
        momentum=float(torch.rand(1, generator=g)) * 0.35 + 0.05,  # never 0.5: m == 1 - m
        eps=float(10 ** -float(torch.randint(2, 6, (1,), generator=g))),
        what=f"a ({n}, {c}, {h}, {w}) batch drawn at random",
    )


def _reference(case: _Case) -> nn.BatchNorm2d:
    c = case.x.shape[1]
    ref = nn.BatchNorm2d(c, eps=case.eps, momentum=case.momentum)
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


def _python_norms() -> tuple:
    """PyTorch's normalizations written in Python (`torch._decomp`'s decompositions, `torch._refs`):
    they run elementary ATen operators (mean, var, rsqrt), which the operator block cannot tell
    from a learner's own, so the Python functions themselves are blocked. A decorator's wrapper
    is followed to the function it wraps, whose code `forbid` swaps (reaching every reference
    to it, such as `torch._decomp.decomposition_table`'s)."""
    import torch._decomp.decompositions as decompositions
    import torch._refs as refs
    import torch._refs.nn.functional as refs_functional

    targets: list = []
    for module in (decompositions, refs, refs_functional):
        for name, value in vars(module).items():
            if not (inspect.isfunction(value) and any(p in name for p in _NORMS)):
                continue
            inner = value
            while inner.__closure__:  # a decorator's wrapper: find the function it wraps
                cells = [c.cell_contents for c in inner.__closure__ if _filled(c)]
                wrapped = [f for f in cells if inspect.isfunction(f) and f.__name__ == name]
                if not wrapped:
                    break
                inner = wrapped[0]
            if inner is value:
                targets.append((module, name))
            else:  # the wrapped function, held where `forbid` can swap its code and name it
                targets.append(
                    (types.SimpleNamespace(__name__=module.__name__, **{name: inner}), name)
                )
    return tuple(targets)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


_LIBRARY_BN = Forbidden(
    "batch norm",
    targets=(
        (torch, "batch_norm"),
        (torch, "native_batch_norm"),
        (F, "batch_norm"),
        (F, "instance_norm"),
        (F, "layer_norm"),
        (F, "group_norm"),
        *_python_norms(),
    ),
    aten=_NORMS,
    advice="compute the statistics and the normalization with tensor operations (mean, var, "
    "sqrt) instead of PyTorch's normalization layers",
)


def _run(batch_norm: Callable, x, running_mean, running_var, case: _Case, training: bool):
    """The learner's batch_norm with PyTorch's normalizations made to raise."""
    return call_learner(
        batch_norm,
        x,
        running_mean,
        running_var,
        case.weight.clone(),
        case.bias.clone(),
        training,
        case.momentum,
        case.eps,
        forbidden=_LIBRARY_BN,
        hint=f"your batch_norm failed in {'training' if training else 'evaluation'} mode on "
        f"{case.what}",
    )


def _diagnose_output(y: torch.Tensor, case: _Case) -> None:
    """Name the typical mistake behind a wrong training-mode output (always raises)."""
    x, w, b, eps = case.x, case.weight, case.bias, case.eps
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    require(
        not tensors_close(y, _normalize(x, case.start_mean, case.start_var, w, b, eps)),
        "in training mode, normalize with the statistics of the current batch, not with "
        "the running statistics (those are for evaluation mode).",
    )
    c = x.shape[1]
    whole = _normalize(x, x.mean().expand(c), x.var(unbiased=False).expand(c), w, b, eps)
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
        not tensors_close(y, _normalize(x, mean, var, torch.ones(c), torch.zeros(c), eps)),
        "after normalizing, scale by `weight` and shift by `bias` (one value per channel, "
        "reshaped to (1, C, 1, 1) so they broadcast).",
    )
    require(
        False,
        f"in training mode the output on {case.what} differs from nn.BatchNorm2d: follow the "
        "paper's Algorithm 1 per channel (batch mean, batch variance, normalize, scale and "
        "shift), with the momentum and eps you are given.",
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
    if not tensors_close(running_mean, ref.running_mean):
        require(
            not tensors_close(running_mean, (1 - m) * batch_mean + m * case.start_mean),
            "PyTorch's momentum is the weight of the NEW batch statistic, not of the old "
            "running value.",
        )
        require(
            False,
            f"on {case.what}, running_mean should move a step (of size momentum) from its old "
            "value towards the batch mean.",
        )
    if not tensors_close(running_var, ref.running_var):
        require(
            not tensors_close(running_var, (1 - m) * case.start_var + m * biased_var),
            "the running variance uses the unbiased batch variance (divide by n - 1, "
            "`unbiased=True`), as nn.BatchNorm2d does; the normalization itself uses the "
            "biased one.",
        )
        require(
            False,
            f"on {case.what}, running_var should move towards the unbiased batch variance with "
            "the same momentum rule as running_mean.",
        )


def _check_training(batch_norm: Callable, case: _Case) -> None:
    """Training mode: output, running statistics, and the gradient through the statistics."""
    running_mean, running_var = case.start_mean.clone(), case.start_var.clone()
    x_in = case.x.clone().requires_grad_(True)
    y = _run(batch_norm, x_in, running_mean, running_var, case, training=True)
    require(
        isinstance(y, torch.Tensor) and y.shape == case.x.shape,
        f"return a tensor shaped like the input {tuple(case.x.shape)}, got "
        f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}.",
    )
    ref = _reference(case)  # only now: nothing on the stack held the answer during the call
    x_ref = case.x.clone().requires_grad_(True)
    y_ref = ref.train()(x_ref)
    if not tensors_close(y, y_ref):
        _diagnose_output(y, case)
    _check_running(running_mean, running_var, ref, case)
    # The gradient of a loss that weighs each output by a fixed random number: not of
    # sum(y ** 2), which batch norm keeps nearly constant (each channel's normalized values have
    # a mean square of var / (var + eps)), so that its gradient is float32 rounding noise, which
    # refused a right answer on about 1 drawn batch in 550
    weights = torch.randn(case.x.shape, generator=torch.Generator().manual_seed(1))
    (y_ref * weights).sum().backward()
    if y.requires_grad:
        (y * weights).sum().backward()
    # float32 rounding grows with the gradient, which is large on a channel of small spread
    # (the gradient scales as 1 / its standard deviation): the tolerance grows with it
    atol = 1e-4 * max(1.0, x_ref.grad.abs().max().item())
    require(
        x_in.grad is not None and tensors_close(x_in.grad, x_ref.grad, atol=atol),
        "the output must stay differentiable through the batch mean and variance: detach "
        "the statistics only for the running-statistics update, not for the normalization.",
    )


def _check_eval(batch_norm: Callable, case: _Case) -> None:
    """Evaluation mode: the running statistics normalize, and they do not change."""
    running_mean, running_var = case.start_mean.clone(), case.start_var.clone()
    with torch.no_grad():
        y = _run(batch_norm, case.x_eval, running_mean, running_var, case, training=False)
        y_ref = _reference(case).eval()(case.x_eval)
    require(
        tensors_close(running_mean, case.start_mean) and tensors_close(running_var, case.start_var),
        "evaluation mode must leave the running statistics unchanged.",
    )
    x = case.x_eval
    batch_stats = _normalize(
        x,
        x.mean(dim=(0, 2, 3)),
        x.var(dim=(0, 2, 3), unbiased=False),
        case.weight,
        case.bias,
        case.eps,
    )
    if tensors_close(y, y_ref):
        return
    require(
        not tensors_close(y, batch_stats),
        "in evaluation mode, normalize with running_mean and running_var instead of the "
        "batch's statistics, so a prediction does not depend on the rest of the batch.",
    )
    require(
        False,
        f"in evaluation mode the output on {case.what} differs from nn.BatchNorm2d: the "
        "running statistics take the place of the batch's, and the rest is as in training mode.",
    )


def batch_norm_forward(batch_norm: Callable) -> None:
    """Lesson 05, Exercise 1: a from-scratch `batch_norm(x, running_mean, running_var, weight,
    bias, training, momentum, eps)` against `nn.BatchNorm2d`: the output in training mode
    (batch statistics), the in-place update of the running statistics, the gradient, and
    evaluation mode.

    x: (N, C, H, W); running_mean, running_var, weight, bias: (C,). Returns y, shaped like x.
    Cases: a batch with a channel of tiny spread, one image with odd sizes and a constant
    channel, and a batch drawn at random. PyTorch's normalizations raise while the learner's
    function runs.
    """
    for case in (_make_case(), _awkward_case(), _drawn_case(unseen_seed())):
        _check_training(batch_norm, case)
        _check_eval(batch_norm, case)
    passed(
        "matches nn.BatchNorm2d in training mode (output, gradient, running statistics) "
        "and in evaluation mode, on a batch, on one image with a constant channel, and on a "
        "random batch."
    )


# --------------------------------------------------------------------------- exercise 2
# In evaluation mode BN is a fixed affine map per channel, y = gamma (z - mean) / sqrt(var + eps)
# + beta with z = conv(x), so one conv with a new weight and bias computes bn(conv(x)).

_LIBRARY_FOLD = Forbidden(
    "the folding",
    targets=(
        (torch.nn.utils.fusion, "fuse_conv_bn_eval"),
        (torch.nn.utils.fusion, "fuse_conv_bn_weights"),
        (torch.nn.utils.fusion, "fuse_linear_bn_eval"),  # on the flattened filters, the same
        (torch.nn.utils.fusion, "fuse_linear_bn_weights"),
        *_python_norms(),  # BN's affine map read off by running it on 0 and 1
    ),
    aten=_NORMS,
    advice="compute the new weight and bias from the BN layer's running statistics, weight, bias "
    "and eps, without running the layer",
)


class _FoldCase(NamedTuple):
    conv: nn.Conv2d
    bn: nn.BatchNorm2d
    x: torch.Tensor
    what: str


def _fold_cases() -> list[_FoldCase]:
    """A conv with a bias, 4 -> 4 channels (so a factor per INPUT channel still broadcasts),
    BN eps 1e-3 and a channel whose running variance (1e-3) is of the order of eps; a strided
    conv without a bias, 3 -> 6 channels, as in `ConvBNAct`, with PyTorch's eps; and a conv
    drawn at random (sizes, bias, stride, eps), which no one can look up."""
    g = torch.Generator().manual_seed(unseen_seed())
    in_ch, out_ch = (int(v) for v in torch.randint(1, 9, (2,), generator=g))
    drawn = (
        in_ch,
        out_ch,
        bool(torch.rand(1, generator=g) < 0.5),
        int(torch.randint(1, 3, (1,), generator=g)),
        float(10 ** -float(torch.randint(2, 6, (1,), generator=g))),
        (torch.rand(out_ch, generator=g) * 3 + 1e-3).tolist(),
    )
    cases = []
    for in_ch, out_ch, bias, stride, eps, var in (
        (4, 4, True, 1, 1e-3, [2.0, 0.5, 1e-3, 4.0]),
        (3, 6, False, 2, 1e-5, [0.3, 1.5, 2.5, 0.05, 1.0, 6.0]),
        drawn,
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
    d = {
        k: v.detach().double()
        for k, v in (
            ("w", conv.weight),
            ("gamma", bn.weight),
            ("beta", bn.bias),
            ("mean", bn.running_mean),
            ("var", bn.running_var),
        )
    }
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
        require(
            False,
            f"for {case.what} the folded weight is not the conv's weight scaled "
            "per output channel by BN's factor: derive that factor from bn(conv(x)) for one "
            "channel.",
        )
    if not _close64(bias, right_b):
        for mistake, hint in _BIAS_MISTAKES:
            require(not _close64(bias, _fold_reference(case.conv, case.bn, **mistake)[1]), hint)
        require(
            False,
            f"for {case.what} the folded weight is right but the bias is not: write "
            "bn(conv(x)) for one channel as a * conv(x) + c, and collect every constant "
            "term in c.",
        )


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
    unchanged. PyTorch's fusion helpers, and running `bn`, raise while `fold` runs.
    """
    for case in _fold_cases():
        before = {
            **copy.deepcopy(case.conv.state_dict()),
            **{f"bn.{k}": v.clone() for k, v in case.bn.state_dict().items()},
        }
        with torch.no_grad():
            out = call_learner(
                fold,
                case.conv,
                case.bn,
                forbidden=_LIBRARY_FOLD,
                hint=f"fold_batch_norm failed on {case.what}",
            )
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
            y = F.conv2d(
                case.x, weight.float(), bias.float(), c.stride, c.padding, c.dilation, c.groups
            )
            y_ref = case.bn(case.conv(case.x))
        require(
            tensors_close(y, y_ref, atol=1e-4),
            f"for {case.what} one conv with your weight and bias does not give bn(conv(x)).",
        )
    passed(
        "one conv with your folded weight and bias computes bn(conv(x)) as nn.BatchNorm2d does "
        "in evaluation mode, for a conv with a bias, one without, and one drawn at random."
    )
