"""Lesson 04 checks: factorized convolutions and efficient grid reduction (Inception v3).

Exercise 1 replaces a 7x7 conv by a 1x7 and a 7x1 conv; exercise 2 builds a grid-reduction
block that halves the grid with stride-2 conv branches side by side with a stride-2 pool (v3
paper, Szegedy et al. 2015, section 5 and Figure 10). Both are checked by running the learner's
module: shapes, the receptive field, and which layers actually run on what.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..blocks import ConvBNAct
from ._common import call_learner, passed, private_rng, require, run_recording


def _receptive_field(module: nn.Module, in_ch: int, size: int = 21) -> tuple[int, int]:
    """Height and width of the input window that one central output pixel of `module` sees.

    Works on a copy whose conv weights are all 1 and whose BN layers are identities in eval mode,
    so every ReLU passes its input and the input gradient is non-zero exactly on the window.
    """
    probe = copy.deepcopy(module).eval()
    for m in probe.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
    x = torch.ones(1, in_ch, size, size, requires_grad=True)
    y = probe(x)
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    rows = (x.grad[0].abs().sum(0).sum(1) > 0).nonzero()
    cols = (x.grad[0].abs().sum(0).sum(0) > 0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _check_pair(pair: Any, in_ch: int, out_ch: int) -> None:
    """One factorized pair: its convs, its output shape, its window and its weight count."""
    where = f" (make_pair({in_ch}, {out_ch}))"
    require(
        isinstance(pair, nn.Module),
        f"make_pair should return a module (e.g. nn.Sequential), got {type(pair).__name__}",
    )
    convs = [m for m in pair.modules() if isinstance(m, nn.Conv2d)]
    kernels = sorted(tuple(c.kernel_size) for c in convs)
    require(
        kernels != [(7, 7)],
        "that is the unfactorized 7x7 conv; replace it by two thin convs, one kernel one "
        "pixel high and one kernel one pixel wide" + where,
    )
    require(
        kernels == [(1, 7), (7, 1)],
        "the pair needs exactly two convs, one with kernel_size=(1, 7) and one with "
        f"kernel_size=(7, 1); found kernels {kernels}" + where,
    )
    require(
        sum(isinstance(m, ConvBNAct) for m in pair.modules()) == 2,
        "build each conv with blocks.ConvBNAct so that BN and a ReLU follow each of them "
        "(the extra nonlinearity comes for free with the factorization)" + where,
    )
    with torch.no_grad():
        y = call_learner(
            pair.eval(), torch.randn(2, in_ch, 20, 20),
            hint="the pair failed on an input of shape (2, in_ch, 20, 20); the first conv takes "
            f"in_ch channels and the second takes what the first one outputs{where}",
        )  # fmt: skip
    require(
        y.shape[1] == out_ch,
        f"the pair should output out_ch = {out_ch} channels, got {y.shape[1]}" + where,
    )
    require(
        tuple(y.shape[2:]) == (20, 20),
        "the grid size changed: keep the default padding='same' (and stride 1) so that "
        f"20x20 stays 20x20; got {tuple(y.shape[2:])}" + where,
    )
    field = _receptive_field(pair, in_ch)
    require(
        field == (7, 7),
        f"one output pixel should see a 7x7 window of the input, it sees {field}" + where,
    )
    weights = sum(c.weight.numel() for c in convs)
    require(
        weights < 49 * in_ch * out_ch,
        f"the pair has {weights:,} conv weights, not fewer than one 7x7 conv "
        f"({49 * in_ch * out_ch:,}): keep the middle width at most max(in_ch, out_ch)" + where,
    )


@private_rng(seed=0)
def factorized_7x7(make_pair: Callable[[int, int], nn.Module]) -> None:
    """Lesson 04, Exercise 1: a 7x7 conv factorized into a 1x7 and a 7x1 `ConvBNAct`.

    `make_pair(in_ch, out_ch)` returns a module mapping (N, in_ch, H, W) -> (N, out_ch, H, W)
    made of two `blocks.ConvBNAct` with kernels (1, 7) and (7, 1), in either order. The check
    measures the output shape, the receptive field (it must stay 7x7) and the weight count
    (it must be below the 49 * in_ch * out_ch of one 7x7 conv).
    """
    for in_ch, out_ch in ((8, 16), (12, 12)):
        pair = call_learner(make_pair, in_ch, out_ch, hint=f"make_pair({in_ch}, {out_ch}) failed")
        _check_pair(pair, in_ch, out_ch)
    c = 192
    convs = [m for m in make_pair(c, c).modules() if isinstance(m, nn.Conv2d)]
    weights = sum(m.weight.numel() for m in convs)
    passed(
        f"same 7x7 window, same output shape; for {c} -> {c} channels the pair has "
        f"{weights:,} conv weights instead of {49 * c * c:,} ({1 - weights / (49 * c * c):.0%} "
        "fewer)."
    )


def _strided(module: nn.Module) -> bool:
    stride = module.stride if module.stride is not None else module.kernel_size
    return stride in (2, (2, 2))


def _reduction_layers(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
    """The block's output on x, and (input, output) of every stride-2 pool and of every
    stride-2 conv that ran, in the order they ran."""

    def is_pool(m: nn.Module) -> bool:
        return isinstance(m, nn.MaxPool2d | nn.AvgPool2d) and _strided(m)

    def is_conv(m: nn.Module) -> bool:
        return isinstance(m, nn.Conv2d) and m.stride == (2, 2)

    y, ran = run_recording(block, x, lambda m: is_pool(m) or is_conv(m))
    pools = [(inp, out) for layer, inp, out in ran if is_pool(layer)]
    return y, pools, [(inp, out) for layer, inp, out in ran if is_conv(layer)]


def _contains_channels(y: torch.Tensor, part: torch.Tensor) -> bool:
    """True when `part` (N, c, H, W) stands unchanged as c consecutive channels of y."""
    if part.shape[0] != y.shape[0] or part.shape[2:] != y.shape[2:]:
        return False
    c = part.shape[1]
    return any(torch.equal(y[:, i : i + c], part) for i in range(y.shape[1] - c + 1))


def _check_in_parallel(y: torch.Tensor, x: torch.Tensor, pools: list, convs: list) -> None:
    """The pool and the strided convs run side by side on x, and the pooled map is in y."""
    size = f"{x.shape[2]}x{x.shape[3]}"
    require(
        bool(pools),
        "your block's forward never runs a stride-2 pool (an nn.MaxPool2d or nn.AvgPool2d "
        "module): halve the grid with a pool branch side by side with the conv branches "
        "(blocks.GridReduction has one)",
    )
    on_input = [out for inp, out in pools if inp.shape == x.shape and torch.equal(inp, x)]
    require(
        bool(on_input),
        f"the stride-2 pool should run on the block's own {size} input, as one branch among "
        "the others, not after another layer",
    )
    require(
        any(_contains_channels(y, out) for out in on_input),
        "the pooled map should reach the output as it is, concatenated with the conv "
        "branches' outputs, not fed into a conv after it (in series the pool first throws "
        "information away: the representational bottleneck of the v3 paper)",
    )
    require(
        any(inp.shape[2:] == x.shape[2:] for inp, _ in convs),
        f"the conv branches should halve the grid themselves: a stride-2 conv that runs on the "
        f"{size} input grid, side by side with the pool, rather than convolving at full size "
        "and pooling after, or convolving the pooled map",
    )


@private_rng(seed=0)
def grid_reduction(block: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    """Lesson 04, Exercise 2: an efficient grid-reduction block with a given output shape.

    `block` must map a tensor of `in_shape` (N, C, H, W) to `out_shape` and halve the grid the
    efficient way (v3 paper, Figure 10): a stride-2 pool on the block's input whose output is
    concatenated unchanged, side by side with conv branches whose stride-2 conv runs on the
    full-size grid. The check records which layers run on what, so a pool declared but never
    called, or a pool in series with a conv, does not pass.
    """
    _, c_in, h_in, _ = in_shape
    _, c_out, h_out, _ = out_shape
    require(
        isinstance(block, nn.Module),
        f"block should be a module (e.g. blocks.GridReduction), got {type(block).__name__}",
    )
    x = torch.randn(*in_shape)
    y, pools, convs = call_learner(
        _reduction_layers, block, x,
        hint=f"the block failed on an input of shape {tuple(in_shape)}: its in_ch must be {c_in}",
    )  # fmt: skip
    require(
        tuple(y.shape[2:]) == tuple(out_shape[2:]),
        f"the grid should go from {h_in}x{h_in} to {h_out}x{h_out}, it became "
        f"{tuple(y.shape[2:])}: look at the padding of every stride-2 layer; every branch, the "
        "pool included, must use the same one",
    )
    require(
        y.shape[1] == c_out,
        f"the block outputs {y.shape[1]} channels, {c_out} were asked for: the pool branch "
        f"passes all {c_in} input channels through, so the conv branches' last widths must add "
        "up to the rest",
    )
    _check_in_parallel(y, x, pools, convs)
    n_convs = len({id(out) for inp, out in convs if inp.shape[2:] == x.shape[2:]})
    passed(
        f"{tuple(in_shape)} -> {tuple(y.shape)}: {n_convs} stride-2 conv(s) on the "
        f"{h_in}x{h_in} grid in parallel with a stride-2 pool whose output is concatenated."
    )
