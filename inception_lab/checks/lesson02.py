"""Lesson 02 checks: the cost of a convolution, and which 1x1 reduction to squeeze.

Exercise 1 writes the MAC formula of a conv layer. Exercise 2 writes what one channel of a 1x1
reduction costs (its own 1x1 conv plus its share of the k x k conv it feeds), then fits
inception 3b under a MAC budget by squeezing the reduction whose channels cost most (in front of
the 5x5) before the cheaper one, which then takes every channel the budget leaves: GoogLeNet's
priorities, checked structurally. Counts are compared with the counter, `profile`
(FlopCounterMode), never with a hand formula; while the learner's functions run, the counter,
torch's own flop formulas and conv layers raise a hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .. import blocks, profile
from .._validate import is_int, is_number
from ._common import Forbidden, call_learner, counting_tools, passed, require, unseen_seed

__all__ = ["conv_mac_formula", "reduction_budget"]

_MAC_CASES = (  # (in_ch, out_ch, kernel, stride, input H, input W); padding k // 2
    (192, 96, 3, 1, 28, 28),  # the worked example: 130,056,192 MACs
    (3, 64, 7, 2, 224, 224),  # GoogLeNet's first conv: stride 2 halves the output grid
    (16, 32, 5, 1, 12, 20),  # a rectangular map: H_out and W_out differ
    (480, 64, 1, 1, 14, 14),  # a 1x1 projection
    (1, 1, 1, 1, 1, 1),  # the smallest conv: one multiply-add
    (5, 3, 3, 2, 9, 6),  # odd sizes and stride 2: 5 x 3 outputs, not 4.5 x 3
)
_NO_COUNTER = Forbidden(
    "the count",
    targets=(
        *counting_tools(),  # profile, FlopCounterMode and its formulas, torch.profiler, convs
        (nn.Conv2d, "__init__"),
        (nn.LazyConv2d, "__init__"),
        (blocks.ConvBNAct, "__init__"),
        (blocks.MultiBranch, "__init__"),
    ),
    advice="predict it from the layer's shape, without running the counter (profile or "
    "FlopCounterMode) or building the layer: how many multiply-adds does one output value need, "
    "and how many output values are there?",
)


def _out_size(size: int, k: int, stride: int) -> int:
    return (size + 2 * (k // 2) - k) // stride + 1


def _counted(in_ch: int, out_ch: int, k: int, stride: int, h: int, w: int) -> int:
    """The counter's MACs for one k x k conv ("same" padding) on one h x w image."""
    with torch.device("meta"):  # the counter needs no real weights
        conv = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2)
    return profile.count_macs(conv, (in_ch, h, w))


def conv_mac_formula(conv_macs: Callable[[int, int, int, int, int], int]) -> None:
    """Lesson 02, Exercise 1: `conv_macs(in_ch, out_ch, k, h_out, w_out)` against the counter.

    The function should return the multiply-accumulates of one k x k convolution (no groups) for
    one image whose output is h_out x w_out. Cases: the worked example, a stride-2 conv, a
    non-square map, a 1x1 projection, the 1x1x1 edge case, odd sizes with stride 2, and a layer
    drawn at random (so that answers looked up for the listed layers fail).
    """
    g = torch.Generator().manual_seed(unseen_seed())
    drawn = (
        *(int(v) for v in torch.randint(1, 300, (2,), generator=g)),
        int(torch.randint(1, 4, (1,), generator=g)) * 2 - 1,
        int(torch.randint(1, 3, (1,), generator=g)),
        *(int(v) for v in torch.randint(3, 60, (2,), generator=g)),
    )
    answers = {}
    for i, (in_ch, out_ch, k, stride, h, w) in enumerate((*_MAC_CASES, drawn)):
        h_out, w_out = _out_size(h, k, stride), _out_size(w, k, stride)
        what = (
            f"a {k}x{k} conv from {in_ch} to {out_ch} channels with a {h_out}x{w_out} output "
            f"(stride {stride}, input {h}x{w})"
        )
        got = call_learner(
            conv_macs,
            in_ch,
            out_ch,
            k,
            h_out,
            w_out,
            forbidden=_NO_COUNTER,
            hint=f"conv_macs({in_ch}, {out_ch}, {k}, {h_out}, {w_out}) failed",
        )
        require(
            is_number(got),
            f"conv_macs should return a number, it returned {type(got).__name__}",
        )
        want = _counted(in_ch, out_ch, k, stride, h, w)
        if got == want:
            answers[i] = got
            continue
        require(
            i != len(_MAC_CASES),
            f"conv_macs is right for the layers listed in the check but not for {what}, drawn at "
            "random: compute the count from the arguments, do not look answers up",
        )
        require(
            i == 0 or got != answers[0],
            f"conv_macs returns {got:,} for {what}, the same as for the first layer: compute the "
            "count from the arguments, not a typed-in value",
        )
        _diagnose_macs(got, want, (in_ch, out_ch, k, h_out, w_out), what)
    in_ch, out_ch, k, _, h, w = _MAC_CASES[0]
    passed(
        f"your formula matches the counter on all {len(_MAC_CASES)} listed layers and one drawn "
        f"at random, including {k}x{k} conv {in_ch} -> {out_ch} on {h}x{w}: {answers[0]:,} MACs."
    )


def _diagnose_macs(got: float, want: int, case: tuple[int, ...], what: str) -> None:
    """Name the typical mistake behind a wrong MAC count (always raises)."""
    in_ch, out_ch, k, h_out, w_out = case
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
        False,
        f"for {what} your formula gives {got:,} but the counter measures {want:,} MACs. Count "
        "the layer's weights, then how many output pixels each weight is used at",
    )


def reduction_budget(
    reduction_channel_macs: Callable[[int, int, int, int], int],
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
    """Lesson 02, Exercise 2: which reduction to squeeze under a MAC budget, and why.

    `reduction_channel_macs(in_ch, out_ch, k, size)`: the MACs that ONE channel of a 1x1
    reduction costs in front of a k x k conv with out_ch filters, on a size x size map (its 1x1
    filter over in_ch channels, and its slice of the k x k conv), compared with the counter.
    `ch3x3red`, `ch5x5red`: the reductions of a `blocks.Inception` with the other widths given,
    on a size x size x in_ch input. The goal: as many reduction channels in total as the budget
    allows, every channel counted as equally useful. So the module must cost at most
    `budget_macs`, each reduction must keep at least a quarter of its conv's width (no extreme
    compression), the reduction whose channels cost more is squeezed to that floor before the
    cheaper one gives up a channel (unless the cheaper one keeps its full width, min(in_ch, its
    conv's width)), and the cheaper one is as wide as the budget allows: one more channel of it
    would go over the budget, or it already has its full width.
    """
    _check_channel_macs(reduction_channel_macs)
    for name, value in (("ch3x3red", ch3x3red), ("ch5x5red", ch5x5red)):
        require(
            is_int(value) and value > 0,
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
    cost = {3: _channel_cost(in_ch, ch3x3, 3, size), 5: _channel_cost(in_ch, ch5x5, 5, size)}
    dear, cheap = (5, 3) if cost[5] >= cost[3] else (3, 5)
    reds = {3: ("ch3x3red", ch3x3red, ch3x3), 5: ("ch5x5red", ch5x5red, ch5x5)}
    costs = (
        f"one channel of the {dear}x{dear} reduction costs {cost[dear]:,} MACs, one of the "
        f"{cheap}x{cheap} reduction {cost[cheap]:,}"
    )
    d_name, d_value, d_out = reds[dear]
    c_name, c_value, c_out = reds[cheap]
    if d_value > math.ceil(d_out / 4):
        squeeze = f"Squeeze the reduction whose channels cost most first ({costs})"
    else:
        squeeze = f"{d_name} is at its floor (a quarter of {d_out}): take the rest from {c_name}"
    require(
        macs <= budget_macs,
        f"the module costs {macs:,} MACs, {macs - budget_macs:,} over the budget "
        f"(per branch: {share}). {squeeze}",
    )
    require(
        d_value == math.ceil(d_out / 4) or c_value >= min(in_ch, c_out),
        f"you kept {d_name}={d_value} but squeezed {c_name} to {c_value}: by your "
        f"reduction_channel_macs, {costs}. Each channel of {d_name} is the dearer one, so squeeze "
        f"it to its floor (a quarter of {d_out}) before {c_name} gives up any channel",
    )
    fits = min((budget_macs - macs) // cost[cheap], min(in_ch, c_out) - c_value)
    require(
        fits <= 0,
        f"the module costs {macs:,} MACs, {macs / budget_macs:.1%} of the budget (per branch: "
        f"{share}), and {fits} more channel{'s' if fits > 1 else ''} of {c_name} still "
        f"fit{'' if fits > 1 else 's'} (one costs {cost[cheap]:,} MACs). Keep as many reduction "
        f"channels as the budget allows: make {c_name} as wide as fits",
    )
    passed(
        f"ch3x3red={ch3x3red}, ch5x5red={ch5x5red}: {macs:,} MACs, "
        f"{macs / budget_macs:.1%} of the {budget_macs:,} budget; {costs}, so the "
        f"{dear}x{dear} reduction is squeezed first."
    )


def _channel_cost(in_ch: int, out_ch: int, k: int, size: int) -> int:
    """The counter's MACs for one channel of a 1x1 reduction in front of a k x k conv: the
    difference between a reduction of 2 channels and one of 1."""
    with torch.device("meta"):
        pair = [
            nn.Sequential(nn.Conv2d(in_ch, r, 1), nn.Conv2d(r, out_ch, k, padding=k // 2))
            for r in (1, 2)
        ]
    one, two = (profile.count_macs(m, (in_ch, size, size)) for m in pair)
    return two - one


_CHANNEL_CASES = (  # (in_ch, out_ch, k, size)
    (256, 192, 3, 28),  # inception 3b's 3x3 reduction
    (256, 96, 5, 28),  # and its 5x5 reduction
    (480, 208, 3, 14),  # inception 4a's
    (1, 1, 1, 1),  # the smallest: a 1x1 feeding a 1x1, one pixel
    (7, 3, 5, 9),  # odd sizes
)


def _check_channel_macs(reduction_channel_macs: Callable) -> None:
    g = torch.Generator().manual_seed(unseen_seed())
    drawn = (
        *(int(v) for v in torch.randint(1, 500, (2,), generator=g)),
        int(torch.randint(1, 4, (1,), generator=g)) * 2 - 1,
        int(torch.randint(1, 40, (1,), generator=g)),
    )
    for i, (in_ch, out_ch, k, size) in enumerate((*_CHANNEL_CASES, drawn)):
        what = (
            f"one channel of a 1x1 reduction from {in_ch} channels in front of a {k}x{k} conv "
            f"with {out_ch} filters, on a {size}x{size} map"
        )
        got = call_learner(
            reduction_channel_macs,
            in_ch,
            out_ch,
            k,
            size,
            forbidden=_NO_COUNTER,
            hint=f"reduction_channel_macs({in_ch}, {out_ch}, {k}, {size}) failed",
        )
        require(is_number(got), f"reduction_channel_macs should return a number, got {got!r}")
        want = _channel_cost(in_ch, out_ch, k, size)
        if got == want:
            continue
        require(
            i != len(_CHANNEL_CASES),
            f"reduction_channel_macs is right for the cases listed in the check but not for "
            f"{what}, drawn at random: compute it from the arguments",
        )
        pixels = size * size
        require(
            got != in_ch * pixels,
            f"for {what} you counted the channel's 1x1 filter only; the channel is also read by "
            f"every one of the {k}x{k} conv's filters: each reads it with k*k weights at every "
            "pixel",
        )
        require(
            got != k * k * out_ch * pixels,
            f"for {what} you counted its slice of the {k}x{k} conv only; the channel is made by "
            "a 1x1 filter over all in_ch input channels, which costs too",
        )
        require(
            got != (in_ch + k * out_ch) * pixels,
            f"for {what}: a {k}x{k} filter reads each input channel with k*k weights, not k",
        )
        require(
            got != in_ch + k * k * out_ch,
            f"for {what} you counted one pixel; every weight is used at each of the "
            f"{size}x{size} pixels",
        )
        require(
            False,
            f"for {what} your function gives {got:,} but the counter measures {want:,} MACs: "
            "add the channel's 1x1 filter (in_ch weights) and what the k x k conv spends reading "
            "that one channel, per pixel, times the pixels",
        )
