"""Lesson 02 checks: a right answer passes, each typical wrong answer gets its hint."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from inception_lab import checks, profile


def right(in_ch, out_ch, k, h_out, w_out):
    return in_ch * out_ch * k * k * h_out * w_out


def test_conv_mac_formula_accepts_the_formula(capsys):
    checks.conv_mac_formula(right)
    out = capsys.readouterr().out
    # 192 * 96 * 9 * 28 * 28: a 3x3 conv, 192 -> 96 channels, on GoogLeNet's 28x28 grid (Table 1)
    assert "Correct" in out and "130,056,192" in out


def broken(_in_ch, _out_ch, _k, _h_out, _w_out):
    raise ZeroDivisionError("oops")


def with_the_profiler(in_ch, out_ch, k, h_out, w_out):
    """The shortcut: build the layer and let the course's counter count it."""
    with torch.device("meta"):
        conv = nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False)
    return profile.count_macs(conv, (in_ch, h_out, w_out))


def with_flop_counter_mode(in_ch, out_ch, k, h_out, w_out):
    """The same shortcut with PyTorch's counter directly (FLOPs / 2)."""
    with torch.device("meta"):
        conv = nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False)
        x = torch.empty(1, in_ch, h_out, w_out)
    with FlopCounterMode(display=False) as counter:
        conv(x)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("formula", "hint"),
    [
        (lambda i, o, k, h, w: 2 * i * o * k * k * h * w, "counted FLOPs"),
        (lambda i, o, k, h, w: i * o * k * k * h * w + o * h * w, "added the biases"),
        (lambda i, o, k, h, w: i * o * k * h * w, "k\\*k taps"),
        (lambda i, o, k, h, w: i * o * k * k * h * h, "uses the height twice"),
        (
            lambda i, o, k, h, w: (
                i * o * k * k * (2 * h) * (2 * w) if h == 112 else right(i, o, k, h, w)
            ),
            "counted the input's pixels",
        ),
        (lambda i, o, k, h, w: o * k * k * h * w, "your formula gives"),
        (lambda i, o, k, h, w: i * o * k * k * h * w / 1e6, "in millions"),
        (lambda i, o, k, h, w: i * o * k * k * h * w // 1000, "in thousands"),
        (with_the_profiler, "without running the counter"),
        (with_flop_counter_mode, "without running the counter"),
        (lambda i, o, k, h, w: str(right(i, o, k, h, w)), "should return a number"),
        (broken, "failed.*ZeroDivisionError"),
    ],
)
def test_conv_mac_formula_hints(formula, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.conv_mac_formula(formula)


def test_conv_mac_formula_leaves_the_counter_working():
    with pytest.raises(AssertionError):
        checks.conv_mac_formula(with_the_profiler)
    with torch.device("meta"):
        conv = nn.Conv2d(192, 96, 3, padding=1, bias=False)
    assert profile.count_macs(conv, (192, 28, 28)) == right(192, 96, 3, 28, 28)


def test_conv_mac_formula_lets_the_student_stub_through():
    def stub(in_ch, out_ch, k, h_out, w_out):
        raise NotImplementedError("Exercise 1: return the MACs")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.conv_mac_formula(stub)


# A GoogLeNet 3b-like module (the paper's reductions 128 / 32 cost 304,267,264 MACs).
TASK = {
    "budget_macs": 200_000_000, "in_ch": 256, "size": 28,
    "ch1x1": 128, "ch3x3": 192, "ch5x5": 96, "pool_proj": 64,
}  # fmt: skip


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


def test_reduction_budget_accepts_widths_inside_the_budget(capsys):
    assert hand_macs(128, 32) == 304_267_264  # the paper's widths do not fit
    assert 180_000_000 <= hand_macs(64, 24) <= 200_000_000
    checks.reduction_budget(64, 24, **TASK)
    assert f"{hand_macs(64, 24):,} MACs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("widths", "hint"),
    [
        ((128, 32), "over the budget"),
        ((48, 24), "only 81.6% of the budget"),
        ((80, 16), "ch5x5red=16 squeezes its branch too hard"),
        ((40, 40), "ch3x3red=40 squeezes"),
        ((64.0, 24), "positive whole number"),
        ((True, 24), "positive whole number"),
        ((0, 24), "positive whole number"),
        ((24, 64), "ch3x3red=24 squeezes"),  # the two widths swapped
        ((64, 40), "over the budget"),
        ((192, 96), "over the budget"),  # no reduction at all: as wide as each branch's output
    ],
)
def test_reduction_budget_hints(widths, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.reduction_budget(*widths, **TASK)
