"""Lesson 04 checks: a right answer passes, each typical wrong answer gets its hint."""

import pytest
import torch
from torch import nn

from inception_lab import blocks, checks
from inception_lab.blocks import ConvBNAct
from inception_lab.checks.lesson04 import _receptive_field


def right_pair(in_ch, out_ch):
    return nn.Sequential(ConvBNAct(in_ch, out_ch, (1, 7)), ConvBNAct(out_ch, out_ch, (7, 1)))


def test_factorized_7x7_accepts_the_solution(capsys):
    checks.factorized_7x7(right_pair)
    out = capsys.readouterr().out
    assert "Correct" in out
    # 14 x 192^2 conv weights instead of 49 x 192^2: 1 - 14/49 = 71% fewer.
    assert "516,096 conv weights instead of 1,806,336 (71% fewer)" in out


def test_factorized_7x7_accepts_the_other_order_and_a_reduced_middle(capsys):
    checks.factorized_7x7(
        lambda i, o: nn.Sequential(ConvBNAct(i, i, (7, 1)), ConvBNAct(i, o, (1, 7)))
    )
    assert "Correct" in capsys.readouterr().out


def test_factorized_7x7_leaves_the_global_random_stream_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    checks.factorized_7x7(right_pair)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("make_pair", "hint"),
    [
        (lambda i, o: "conv", "should return a module"),
        (lambda i, o: nn.Sequential(ConvBNAct(i, o, 7)), "unfactorized 7x7"),
        (
            lambda i, o: nn.Sequential(ConvBNAct(i, o, (1, 7)), ConvBNAct(o, o, (1, 7))),
            r"kernel_size=\(7, 1\)",
        ),
        (
            lambda i, o: nn.Sequential(
                nn.Conv2d(i, o, (1, 7), padding=(0, 3)), nn.Conv2d(o, o, (7, 1), padding=(3, 0))
            ),
            "blocks.ConvBNAct",
        ),
        (
            lambda i, o: nn.Sequential(ConvBNAct(i, o, (1, 7)), ConvBNAct(i, o, (7, 1))),
            "the pair failed",
        ),
        (
            lambda i, o: nn.Sequential(ConvBNAct(i, o, (1, 7)), ConvBNAct(o, o + 1, (7, 1))),
            "should output out_ch",
        ),
        (
            lambda i, o: nn.Sequential(
                ConvBNAct(i, o, (1, 7), padding="valid"), ConvBNAct(o, o, (7, 1), padding="valid")
            ),
            "grid size changed",
        ),
        (
            lambda i, o: nn.Sequential(ConvBNAct(i, 8 * o, (1, 7)), ConvBNAct(8 * o, o, (7, 1))),
            "not fewer than one 7x7",
        ),
    ],
)
def test_factorized_7x7_hints_at_a_wrong_pair(make_pair, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.factorized_7x7(make_pair)


def test_receptive_field_probe_measures_windows():
    # Independent of the probe's own logic: kernel sizes of stride-1 stacks add up (k1 + k2 - 1).
    assert _receptive_field(right_pair(3, 4), 3) == (7, 7)
    two_3x3 = nn.Sequential(ConvBNAct(3, 4, 3), ConvBNAct(4, 4, 3))
    assert _receptive_field(two_3x3, 3) == (5, 5)
    assert _receptive_field(ConvBNAct(3, 4, (1, 7)), 3) == (1, 7)


IN, OUT = (2, 288, 35, 35), (2, 768, 17, 17)


def v3_reduction(padding=0, widths=(384, 96)):
    return blocks.GridReduction(
        288,
        {"branch3x3": [(widths[0], 3)], "branch3x3dbl": [(64, 1), (96, 3), (widths[1], 3)]},
        padding=padding,
    )


def test_grid_reduction_accepts_the_solution(capsys):
    checks.grid_reduction(v3_reduction(), IN, OUT)
    assert "Correct" in capsys.readouterr().out
    checks.grid_reduction(
        blocks.GridReduction(64, {"b": [(32, 3)]}, padding=1), (1, 64, 32, 32), (1, 96, 16, 16)
    )


class PoolThenConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.conv = ConvBNAct(288, 768, 1)

    def forward(self, x):
        return self.conv(self.pool(x))


@pytest.mark.parametrize(
    ("block", "hint"),
    [
        (None, "should be a module"),
        (blocks.GridReduction(192, {"b": [(576, 3)]}), "its in_ch must be 288"),
        (v3_reduction(padding=1), "from 35x35 to 17x17"),
        (v3_reduction(widths=(384, 64)), "outputs 736 channels, 768 were asked for"),
        (PoolThenConv(), "reach the output as it is"),
    ],
)
def test_grid_reduction_hints_at_a_wrong_block(block, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.grid_reduction(block, IN, OUT)


# Blocks that the issue found accepted: every one holds a stride-2 pool and a stride-2 conv
# and maps (2, 288, 35, 35) to (2, 768, 17, 17), but does not reduce the grid in parallel.
class UnusedPool(nn.Module):
    """Declares the pool of v3's Figure 10 but never calls it: three conv branches only."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.a = ConvBNAct(288, 384, 3, stride=2, padding=0)
        self.b = ConvBNAct(288, 384, 3, stride=2, padding=0)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class PoolThenStridedConv(nn.Module):
    """A (stride-1) pool, then a stride-2 conv, in series; the stride-2 pool is never called."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.smooth = nn.MaxPool2d(3, stride=1, padding=1)
        self.conv = ConvBNAct(288, 768, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(self.smooth(x))


class PooledConvBranch(nn.Module):
    """Pool on the input and concatenated, but the conv branch convolves the POOLED map."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.conv = ConvBNAct(288, 480, 3, stride=2, padding=1)

    def forward(self, x):
        pooled = self.pool(x)  # 17x17
        return torch.cat([self.conv(nn.functional.pad(pooled, (0, 16, 0, 16))), pooled], dim=1)


class ConvThenPool(nn.Module):
    """Full-resolution conv (stride 1), then the stride-2 pool: the pool does not see x."""

    def __init__(self):
        super().__init__()
        self.conv = ConvBNAct(288, 768, 3)
        self.pool = nn.MaxPool2d(3, stride=2)
        self.strided = ConvBNAct(288, 768, 3, stride=2)  # declared, never called

    def forward(self, x):
        return self.pool(self.conv(x))


class PoolThenConvConcat(nn.Module):
    """The pooled map concatenated with a (stride-1) conv of the pooled map: a module after a
    pool, in series, not a reduction side by side."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.conv = ConvBNAct(288, 480, 3)

    def forward(self, x):
        pooled = self.pool(x)
        return torch.cat([self.conv(pooled), pooled], dim=1)


class StridedPoolThenStridedConv(nn.Module):
    """The stride-2 pool, then a stride-2 conv on its output, in series (padded to 17x17)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2)
        self.conv = ConvBNAct(288, 768, 3, stride=2, padding=9)

    def forward(self, x):
        return self.conv(self.pool(x))


@pytest.mark.parametrize(
    ("block", "hint"),
    [
        (UnusedPool(), "never runs a stride-2 pool"),
        (PoolThenStridedConv(), "never runs a stride-2 pool"),
        (PooledConvBranch(), "halve the grid themselves"),
        (ConvThenPool(), "run on the block's own 35x35 input"),
        (PoolThenConvConcat(), "halve the grid themselves"),
        (StridedPoolThenStridedConv(), "reach the output as it is"),
    ],
)
def test_grid_reduction_rejects_blocks_that_do_not_reduce_in_parallel(block, hint, capsys):
    with pytest.raises(AssertionError, match="Hint: .*" + hint):
        checks.grid_reduction(block, IN, OUT)
    assert "in parallel" not in capsys.readouterr().out


def test_grid_reduction_lets_the_student_stub_through():
    class Stub(nn.Module):
        def forward(self, x):
            raise NotImplementedError("Exercise 2: build reduction")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        checks.grid_reduction(Stub(), IN, OUT)
