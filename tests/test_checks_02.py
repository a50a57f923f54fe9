"""Lesson 02 checks: a right answer passes, each typical wrong answer gets its hint."""

import inspect
import re

import pytest
import torch
from torch import nn
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from inception_lab import checks, profile
from inception_lab.checks import LibraryShortcut, lesson02


def right(in_ch, out_ch, k, h_out, w_out):
    return in_ch * out_ch * k * k * h_out * w_out


def test_conv_mac_formula_accepts_the_formula(capsys):
    checks.conv_mac_formula(right)
    out = capsys.readouterr().out
    # 192 * 96 * 9 * 28 * 28: a 3x3 conv, 192 -> 96 channels, on GoogLeNet's 28x28 grid (Table 1)
    assert "Correct" in out and "130,056,192" in out


def broken(_in_ch, _out_ch, _k, _h_out, _w_out):
    raise ZeroDivisionError("oops")


PREBUILT = nn.Conv2d(1, 1, 1, bias=False)  # a layer built before the check runs


def with_the_profiler(in_ch, out_ch, k, h_out, w_out):
    """The shortcut: build the layer and let the course's counter count it."""
    with torch.device("meta"):
        conv = nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False)
    return profile.count_macs(conv, (in_ch, h_out, w_out))


def with_flop_counter_mode(in_ch, out_ch, k, h_out, w_out):
    """The same shortcut with PyTorch's counter directly (FLOPs / 2), on a functional conv."""
    x = torch.empty(1, in_ch, h_out, w_out, device="meta")
    weight = torch.empty(out_ch, in_ch, k, k, device="meta")
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.conv2d(x, weight, padding=k // 2)
    return counter.get_total_flops() // 2


def with_torchs_formula(in_ch, out_ch, k, h_out, w_out):
    """Shortcut: torch's own flop formula for a convolution, on shapes alone (no counter)."""
    from torch.utils.flop_counter import conv_flop_count

    shapes = [1, in_ch, h_out, w_out], [out_ch, in_ch, k, k], [1, out_ch, h_out, w_out]
    return conv_flop_count(*shapes) // 2


def weights_of_a_built_conv(in_ch, out_ch, k, h_out, w_out):
    """Shortcut: build the conv and let it count its weights."""
    return nn.Conv2d(in_ch, out_ch, k, bias=False).weight.numel() * h_out * w_out


def typed_literal(in_ch, out_ch, k, h_out, w_out):
    """Shortcut: the worked example's count, typed in."""
    return 130_056_192


def _listed_table():
    from inception_lab.checks.lesson02 import _MAC_CASES, _out_size

    return {
        (i, o, kk, _out_size(h, kk, s), _out_size(w, kk, s)): right(
            i, o, kk, _out_size(h, kk, s), _out_size(w, kk, s)
        )
        for i, o, kk, s, h, w in _MAC_CASES
    }


_LISTED = _listed_table()  # built before the check runs (its helpers raise while yours run)


def looked_up(in_ch, out_ch, k, h_out, w_out):
    """Shortcut: a table of the listed layers' counts, from the check's source."""
    return _LISTED.get((in_ch, out_ch, k, h_out, w_out), 0)


@pytest.mark.parametrize(
    ("formula", "hint"),
    [
        (lambda i, o, k, h, w: 2 * i * o * k * k * h * w, "counted FLOPs"),
        (lambda i, o, k, h, w: i * o * k * k * h * w + o * h * w, "added the biases"),
        (lambda i, o, k, h, w: i * o * k * h * w, "k\\*k taps"),
        (lambda i, o, k, h, w: i * o * k * k * h * h, "uses the height twice"),
        (lambda i, o, k, h, w: o * k * k * h * w, "your formula gives"),
        (lambda i, o, k, h, w: i * o * k * k * h * w / 1e6, "in millions"),
        (lambda i, o, k, h, w: i * o * k * k * h * w // 1000, "in thousands"),
        (with_the_profiler, r"do not call nn.Conv2d\(...\).*without running the counter"),
        (
            lambda i, o, k, h, w: profile.count_macs(PREBUILT, (1, 1, 1)) * i * o * k * k * h * w,
            "do not call profile.count_macs",
        ),
        (with_flop_counter_mode, r"do not call FlopCounterMode"),
        (with_torchs_formula, "do not call torch.utils.flop_counter.conv_flop_count"),
        (weights_of_a_built_conv, r"do not call nn.Conv2d\(...\)"),
        (typed_literal, "the same as for the first layer: .*not a typed-in value"),
        (looked_up, "right for the layers listed in the check but not for .* drawn at random"),
        (lambda i, o, k, h, w: str(right(i, o, k, h, w)), "should return a number"),
        (broken, "failed.*ZeroDivisionError"),
        # the edge and odd cases: a formula with a floor, and one that rounds sizes up
        (lambda i, o, k, h, w: max(right(i, o, k, h, w), 9), r"1x1 conv from 1 to 1 channels"),
        (
            lambda i, o, k, h, w: right(i, o, k, h + (h == 5), w),
            r"3x3 conv from 5 to 3 channels with a 5x3 output",
        ),
    ],
)
def test_conv_mac_formula_hints(formula, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.conv_mac_formula(formula)


def test_conv_mac_formula_leaves_the_counter_working():
    with pytest.raises(AssertionError):
        checks.conv_mac_formula(with_the_profiler)
    with pytest.raises(AssertionError):
        checks.conv_mac_formula(with_torchs_formula)
    with torch.device("meta"):
        conv = nn.Conv2d(192, 96, 3, padding=1, bias=False)
    assert profile.count_macs(conv, (192, 28, 28)) == right(192, 96, 3, 28, 28)
    shapes = [1, 192, 28, 28], [96, 192, 3, 3], [1, 96, 28, 28]
    assert flop_counter.conv_flop_count(*shapes) == 2 * right(192, 96, 3, 28, 28)


def test_conv_mac_formula_lets_the_student_stub_through():
    def stub(in_ch, out_ch, k, h_out, w_out):
        raise NotImplementedError("Exercise 1: return the MACs")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.conv_mac_formula(stub)


# --------------------------------------------------------------------------- exercise 2
# A GoogLeNet 3b-like module (the paper's reductions 128 / 32 cost 304,267,264 MACs).
TASK = {
    "budget_macs": 200_000_000,
    "in_ch": 256,
    "size": 28,
    "ch1x1": 128,
    "ch3x3": 192,
    "ch5x5": 96,
    "pool_proj": 64,
}


def hand_macs(ch3x3red, ch5x5red):
    """Independent count: one MAC per weight per output pixel, 28 x 28 output pixels."""
    pixels = 28 * 28
    return pixels * (
        256 * 128  # 1x1 branch
        + 256 * ch3x3red
        + ch3x3red * 192 * 9  # 1x1 reduction, 3x3
        + 256 * ch5x5red
        + ch5x5red * 96 * 25  # 1x1 reduction, 5x5
        + 256 * 64  # pool projection
    )


def channel_macs(in_ch, out_ch, k, size):
    """One reduction channel: its 1x1 filter (in_ch weights) and its k*k slice of each filter."""
    return size * size * (in_ch + k * k * out_ch)


def test_reduction_budget_accepts_the_5x5_squeezed_first(capsys):
    assert hand_macs(128, 32) == 304_267_264  # the paper's widths do not fit
    # per channel: 784 * (256 + 9 * 192) for the 3x3 reduction, 784 * (256 + 25 * 96) for the 5x5
    assert channel_macs(256, 192, 3, 28) == 1_555_456
    assert channel_macs(256, 96, 5, 28) == 2_082_304
    # the 5x5 reduction at its floor (96 / 4), the 3x3 one as wide as the budget allows
    assert hand_macs(71, 24) <= 200_000_000 < hand_macs(72, 24)
    checks.reduction_budget(channel_macs, 71, 24, **TASK)
    out = capsys.readouterr().out
    assert f"{hand_macs(71, 24):,} MACs" in out and "5x5 reduction is squeezed first" in out


def test_reduction_budget_refuses_a_cheaper_reduction_narrower_than_the_budget_allows():
    # 60 spends over 90% of the budget, but 11 more channels of the 3x3 reduction still fit
    assert 0.9 * 200_000_000 <= hand_macs(60, 24) and hand_macs(71, 24) <= 200_000_000
    with pytest.raises(AssertionError, match="11 more channels of ch3x3red still fit"):
        checks.reduction_budget(channel_macs, 60, 24, **TASK)
    with pytest.raises(AssertionError, match="1 more channel of ch3x3red still fits"):
        checks.reduction_budget(channel_macs, 70, 24, **TASK)


def test_reduction_budget_accepts_a_cheaper_reduction_at_its_full_width(capsys):
    """A budget a little above the cheaper reduction's full width, min(in_ch, ch3x3) = 192: it
    stops there, and what is left does not pay for one more channel of the 5x5 reduction."""
    roomy = {**TASK, "budget_macs": 388_000_000}
    assert hand_macs(192, 24) <= 388_000_000 < hand_macs(192, 25)
    checks.reduction_budget(channel_macs, 192, 24, **roomy)
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="1 more channel of ch3x3red still fits"):
        checks.reduction_budget(channel_macs, 191, 24, **roomy)


@pytest.mark.parametrize(
    ("widths", "hint"),
    [
        ((128, 32), "over the budget.*Squeeze the reduction whose channels cost most first"),
        ((72, 24), "over the budget.*ch5x5red is at its floor"),
        ((58, 24), "13 more channels of ch3x3red still fit.*make ch3x3red as wide as fits"),
        ((60, 24), "11 more channels of ch3x3red still fit"),  # 90.9%: the old 90% rule passed it
        ((80, 16), "ch5x5red=16 squeezes its branch too hard"),
        ((40, 40), "ch3x3red=40 squeezes"),
        ((64.0, 24), "positive whole number"),
        ((True, 24), "positive whole number"),
        ((0, 24), "positive whole number"),
        ((24, 64), "ch3x3red=24 squeezes"),  # the two widths swapped
        ((64, 40), "over the budget"),
        ((192, 96), "over the budget"),  # no reduction at all: as wide as each branch's output
        # GoogLeNet's priorities reversed, inside the budget and spending 99% of it: the issue's
        # "any point in a band" is no longer enough
        ((48, 41), "kept ch5x5red=41 but squeezed ch3x3red to 48.*squeeze it to its floor"),
        ((64, 25), "kept ch5x5red=25 but squeezed ch3x3red to 64"),
    ],
)
def test_reduction_budget_hints(widths, hint):
    if widths == (48, 41):
        assert 0.9 * 200_000_000 <= hand_macs(48, 41) <= 200_000_000
    with pytest.raises(AssertionError, match=hint):
        checks.reduction_budget(channel_macs, *widths, **TASK)


@pytest.mark.parametrize(
    ("function", "hint"),
    [
        (lambda i, o, k, s: s * s * i, "counted the channel's 1x1 filter only"),
        (lambda i, o, k, s: s * s * k * k * o, "its slice of the 3x3 conv only"),
        (lambda i, o, k, s: s * s * (i + k * o), "k\\*k weights, not k"),
        (lambda i, o, k, s: i + k * k * o, "you counted one pixel"),
        (lambda i, o, k, s: s * s * (i + k * k * o) + o, "the counter measures"),
        (lambda i, o, k, s: str(channel_macs(i, o, k, s)), "should return a number"),
        (lambda i, o, k, s: 2_082_304, "the counter measures 1,555,456"),  # a typed-in value
        (
            lambda i, o, k, s: right(i, 1, 1, s, s) + profile.count_macs(nn.Identity(), (1, s, s)),
            "do not call profile.count_macs",
        ),
        (
            lambda i, o, k, s: nn.Conv2d(1, o, k).weight.numel() * s * s + i * s * s,
            r"do not call nn.Conv2d\(...\)",
        ),
    ],
)
def test_reduction_budget_hints_at_the_channel_cost(function, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.reduction_budget(function, 71, 24, **TASK)


def test_reduction_budget_catches_a_channel_cost_looked_up():
    """Shortcut: the listed cases' costs typed into a table."""
    from inception_lab.checks.lesson02 import _CHANNEL_CASES

    table = {case: channel_macs(*case) for case in _CHANNEL_CASES}
    with pytest.raises(AssertionError, match="right for the cases listed in the check but not"):
        checks.reduction_budget(lambda *case: table.get(case, 0), 71, 24, **TASK)


def test_no_solution_is_importable():
    public = {n for n in dir(lesson02) if not n.startswith("_")}
    defined = {
        n
        for n in public
        if inspect.isfunction(getattr(lesson02, n))
        and getattr(lesson02, n).__module__ == lesson02.__name__
    }
    assert defined == set(lesson02.__all__) == {"conv_mac_formula", "reduction_budget"}
    assert not [
        n for n in public if re.search("reference|solution|expected|answer", n, re.IGNORECASE)
    ]


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def with_torch_profiler(in_ch, out_ch, k, h_out, w_out):
    """Shortcut: torch.profiler's FLOP estimate of a functional conv (no layer, no counter)."""
    x, weight = torch.zeros(1, in_ch, h_out, w_out), torch.zeros(out_ch, in_ch, k, k)
    with torch.profiler.profile(with_flops=True) as prof:
        torch.nn.functional.conv2d(x, weight, padding=k // 2)
    return sum(event.flops for event in prof.key_averages()) // 2


def test_shortcut_torch_profiler_with_flops_is_refused():
    with pytest.raises(LibraryShortcut, match=r"do not call torch.profiler.*profile\(...\)"):
        checks.conv_mac_formula(with_torch_profiler)
    checks.conv_mac_formula(right)


def test_shortcut_the_checks_private_reference_is_refused():
    """Shortcut: `lesson02._counted`, the check's own counter, imported from the package."""
    with pytest.raises(LibraryShortcut, match=r"checks' own functions.*lesson02._counted"):
        checks.conv_mac_formula(lambda i, o, k, h, w: lesson02._counted(i, o, k, 1, h, w))
    with pytest.raises(LibraryShortcut, match=r"lesson02._channel_cost"):
        checks.reduction_budget(lesson02._channel_cost, 71, 24, **TASK)


def test_shortcut_the_lessons_explorer_is_refused():
    """Shortcut: the lesson's explorer function, `widgets.bottleneck_costs`, for a reduction of 2
    channels minus one of 1."""
    from inception_lab import widgets

    def explorer(in_ch, out_ch, k, size):
        costs = [
            widgets.bottleneck_costs(in_ch, r, out_ch, k, size)["bottleneck"]["macs"]
            for r in (1, 2)
        ]
        return costs[1] - costs[0]

    with pytest.raises(LibraryShortcut, match=r"do not call widgets\.bottleneck_costs"):
        checks.reduction_budget(explorer, 71, 24, **TASK)
