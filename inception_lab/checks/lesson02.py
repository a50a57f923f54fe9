"""Lesson 02 checks: the cost of a convolution, and the 1x1 reductions that cut it.

Exercise 1 writes the MAC formula of a conv layer; exercise 2 fits a module under a MAC budget.
Both are checked against the counter, `profile` (FlopCounterMode), never against a hand formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .. import blocks, profile
from ._common import call_learner, forbid, is_whole, passed, require

_MAC_CASES = (  # (in_ch, out_ch, kernel, stride, input H, input W); padding k // 2
    (192, 96, 3, 1, 28, 28),  # the worked example: 130,056,192 MACs
    (3, 64, 7, 2, 224, 224),  # GoogLeNet's first conv: stride 2 halves the output grid
    (16, 32, 5, 1, 12, 20),  # a rectangular map: H_out and W_out differ
    (480, 64, 1, 1, 14, 14),  # a 1x1 projection
)
_COUNTER = (
    "conv_macs should predict the count from the layer's shape, without running the counter "
    "(profile or FlopCounterMode): how many multiply-adds does one output value need, and how "
    "many output values are there?"
)


def conv_mac_formula(conv_macs: Callable[[int, int, int, int, int], int]) -> None:
    """Check `conv_macs(in_ch, out_ch, k, h_out, w_out)` against `profile.count_macs`.

    The function should return the multiply-accumulates of one k x k convolution (no groups) for
    one image whose output is h_out x w_out. Cases include a stride-2 conv and a non-square map.
    """
    for in_ch, out_ch, k, stride, h, w in _MAC_CASES:
        with torch.device("meta"):  # the counter needs no real weights
            conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2)
        h_out, w_out = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
        want = profile.count_macs(conv, (in_ch, h, w))
        what = (
            f"a {k}x{k} conv from {in_ch} to {out_ch} channels with a {h_out}x{w_out} output "
            f"(stride {stride}, input {h}x{w})"
        )
        with forbid(_COUNTER, (FlopCounterMode, "__enter__")):  # profile counts with it too
            got = call_learner(
                conv_macs, in_ch, out_ch, k, h_out, w_out,
                hint=f"conv_macs({in_ch}, {out_ch}, {k}, {h_out}, {w_out}) failed",
            )  # fmt: skip
        require(
            isinstance(got, int | float) and not isinstance(got, bool),
            f"conv_macs should return a number, it returned {type(got).__name__}",
        )
        if got != want:
            _diagnose_macs(got, want, (in_ch, out_ch, k, h, w, h_out, w_out), what)
    in_ch, out_ch, k, _, h, w = _MAC_CASES[0]
    with forbid(_COUNTER, (FlopCounterMode, "__enter__")):
        example = conv_macs(in_ch, out_ch, k, h, w)
    passed(
        f"your formula matches the counter on all {len(_MAC_CASES)} layers, including "
        f"{k}x{k} conv {in_ch} -> {out_ch} on {h}x{w}: {example:,} MACs."
    )


def _diagnose_macs(got: float, want: int, case: tuple[int, ...], what: str) -> None:
    """Name the typical mistake behind a wrong MAC count (always raises)."""
    in_ch, out_ch, k, h, w, h_out, w_out = case
    weights = in_ch * out_ch * k * k
    for scale, unit in ((1e3, "thousands"), (1e6, "millions"), (1e9, "billions")):
        require(
            not math.isclose(got * scale, want, rel_tol=1e-3),
            f"for {what} you returned the count in {unit}; return the number of MACs itself",
        )
    require(
        got != 2 * want,
        f"for {what} you got exactly twice the counter's MACs: you counted FLOPs (a "
        "multiply and an add each); one MAC is one multiply-add",
    )
    require(
        got != want + out_ch * h_out * w_out,
        "you added the biases; by convention (the papers, FlopCounterMode) a MAC count "
        "covers the weights only",
    )
    require(got != in_ch * out_ch * k * h_out * w_out, "a k x k kernel has k*k taps, not k")
    require(
        got != weights * h_out * h_out or h_out == w_out,
        f"for {what} your formula uses the height twice; the output has h_out x w_out pixels",
    )
    require(
        got != weights * h * w or (h, w) == (h_out, w_out),
        f"for {what} you counted the input's pixels; every weight is used once per OUTPUT "
        "pixel (a stride-2 conv has a quarter as many)",
    )
    require(
        False,
        f"for {what} your formula gives {got:,} but the counter measures {want:,} MACs. Count "
        "the layer's weights, then how many output pixels each weight is used at",
    )


def reduction_budget(
    ch3x3red: int,
    ch5x5red: int,
    *,
    budget_macs: int,
    in_ch: int,
    size: int,
    ch1x1: int,
    ch3x3: int,
    ch5x5: int,
    pool_proj: int,
) -> None:
    """Check reduction widths for a `blocks.Inception` module on a size x size x in_ch input.

    The module must cost at most `budget_macs` (counted by `profile.count_macs`) and at least 90%
    of it (wider reductions keep more information, so spend the budget), and each reduction must
    keep at least a quarter of its branch's output width (GoogLeNet never squeezes harder).
    """
    for name, value in (("ch3x3red", ch3x3red), ("ch5x5red", ch5x5red)):
        require(
            is_whole(value) and value > 0,
            f"{name} should be a positive whole number of channels, got {value!r}",
        )
    for name, value, out in (("ch3x3red", ch3x3red, ch3x3), ("ch5x5red", ch5x5red, ch5x5)):
        require(
            value >= math.ceil(out / 4),
            f"{name}={value} squeezes its branch too hard: keep at least a quarter of the "
            f"branch's output width ({out} channels); GoogLeNet never reduces further",
        )
    module = blocks.Inception(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
    table = profile.branch_costs(module, (in_ch, size, size))
    macs = table.total["macs"]
    share = ", ".join(f"{r['layer']} {r['macs'] / 1e6:.1f}M" for r in table.rows)
    require(
        macs <= budget_macs,
        f"the module costs {macs:,} MACs, {macs - budget_macs:,} over the budget "
        f"(per branch: {share}). Shrink the reduction in front of the most expensive conv",
    )
    require(
        macs >= 0.9 * budget_macs,
        f"the module costs {macs:,} MACs, only {macs / budget_macs:.1%} of the budget "
        f"(per branch: {share}). Wider reductions keep more information: spend at least 90%",
    )
    passed(
        f"ch3x3red={ch3x3red}, ch5x5red={ch5x5red}: {macs:,} MACs, "
        f"{macs / budget_macs:.1%} of the {budget_macs:,} budget."
    )
