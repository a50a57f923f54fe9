"""Lesson 01 checks: a right answer passes, each typical wrong answer gets its hint."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lab import checks


def make_naive(forward):
    """A learner's module as lesson 01 gives it (the __init__), with `forward` plugged in."""

    class Naive(nn.Module):
        def __init__(self, in_ch, ch1x1, ch3x3, ch5x5):
            super().__init__()
            self.conv1x1 = nn.Conv2d(in_ch, ch1x1, kernel_size=1)
            self.conv3x3 = nn.Conv2d(in_ch, ch3x3, kernel_size=3, padding=1)
            self.conv5x5 = nn.Conv2d(in_ch, ch5x5, kernel_size=5, padding=2)
            self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    Naive.forward = forward
    return Naive


def branches(m, x):
    return torch.relu(m.conv1x1(x)), torch.relu(m.conv3x3(x)), torch.relu(m.conv5x5(x)), m.pool(x)


def test_naive_forward_accepts_the_solution(capsys):
    checks.naive_forward(make_naive(lambda m, x: torch.cat(branches(m, x), dim=1)))
    assert "Correct" in capsys.readouterr().out


def test_naive_forward_leaves_the_global_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.naive_forward(make_naive(lambda m, x: torch.cat(branches(m, x), dim=1)))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("forward", "hint"),
    [
        (lambda m, x: None, "must return a tensor"),
        (lambda m, x: torch.cat(branches(m, x)[:3], dim=1), "missing the pool branch"),
        (lambda m, x: torch.cat(branches(m, x), dim=2), "along dim=2;.*channel axis"),
        (
            lambda m, x: torch.cat([m.conv1x1(x), *branches(m, x)[1:]], dim=1),
            "1x1 conv branch is missing its ReLU",
        ),
        (
            lambda m, x: torch.cat([torch.relu(b) for b in branches(m, x)], dim=1),
            "pool branch has no ReLU",
        ),
        (
            lambda m, x: torch.cat([branches(m, x)[i] for i in (3, 0, 1, 2)], dim=1),
            "another order",
        ),
        (
            # the 5x5 conv run on the 3x3 output: right shape, wrong values in channels 9..11
            lambda m, x: torch.cat(
                [*branches(m, x)[:2], torch.relu(m.conv5x5(x * 2)), m.pool(x)], dim=1
            ),
            "channels 9..11 of the output should be the 5x5 conv",
        ),
        # wrong concatenation axis: the batch axis, the last axis, torch.concat's alias
        (lambda m, x: torch.cat(branches(m, x), dim=0), "along dim=0;.*channel axis"),
        (lambda m, x: torch.cat(branches(m, x), -1), "along dim=-1;.*channel axis"),
        (lambda m, x: torch.concat(branches(m, x), dim=3), "along dim=3;.*channel axis"),
        (lambda m, x: torch.stack(branches(m, x), dim=1), "torch.stack.*NEW axis"),
        # a branch that changes the grid
        (
            # F.max_pool2d's stride defaults to its kernel size: a 3x3 grid from 9x9
            lambda m, x: torch.cat([*branches(m, x)[:3], F.max_pool2d(x, 3)], dim=1),
            "max pool branch has a 3x3 grid, but the input is 9x9.*stride 1 and 'same' padding",
        ),
        (
            # stride 1 but no padding: 7x7
            lambda m, x: torch.cat([*branches(m, x)[:3], F.max_pool2d(x, 3, stride=1)], dim=1),
            "max pool branch has a 7x7 grid",
        ),
        (
            # the 5x5 conv without its padding: 5x5
            lambda m, x: torch.cat(
                [
                    *branches(m, x)[:2],
                    torch.relu(F.conv2d(x, m.conv5x5.weight, m.conv5x5.bias)),
                    m.pool(x),
                ],
                dim=1,
            ),
            "5x5 conv branch has a 5x5 grid",
        ),
        (
            # every branch right, then the whole output pooled down: the module must keep the grid
            lambda m, x: F.max_pool2d(torch.cat(branches(m, x), dim=1), 2),
            "output has a 4x4 grid, but the input is 9x9",
        ),
        # a branch that does not read the module's input
        (
            # the pool applied to the 1x1 branch's output (4 channels instead of 6)
            lambda m, x: torch.cat([*branches(m, x)[:3], m.pool(torch.relu(m.conv1x1(x)))], dim=1),
            "output has 16 channels, it should have 18.*module's input x",
        ),
        (
            # the input itself instead of the pooled input
            lambda m, x: torch.cat([*branches(m, x)[:3], x], dim=1),
            "channels 12..17 of the output should be the max pool",
        ),
        (
            # an average pool instead of the max pool
            lambda m, x: torch.cat([*branches(m, x)[:3], F.avg_pool2d(x, 3, 1, 1)], dim=1),
            "channels 12..17 of the output should be the max pool",
        ),
        (
            # one ReLU over the concatenation: the pool branch gets one too
            lambda m, x: torch.relu(
                torch.cat([m.conv1x1(x), m.conv3x3(x), m.conv5x5(x), m.pool(x)], dim=1)
            ),
            "pool branch has no ReLU",
        ),
        (lambda m, x: sum(branches(m, x)), "forward failed.*RuntimeError"),
    ],
)
def test_naive_forward_hints(forward, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.naive_forward(make_naive(forward))


def test_naive_forward_requires_the_given_layers():
    cls = make_naive(lambda m, x: torch.cat(branches(m, x), dim=1))
    original_init = cls.__init__

    def init_without_pool(self, *args):
        original_init(self, *args)
        del self.pool

    cls.__init__ = init_without_pool
    with pytest.raises(AssertionError, match=r"\.pool"):
        checks.naive_forward(cls)


def test_naive_forward_rejects_a_changed_init():
    cls = make_naive(lambda m, x: torch.cat(branches(m, x), dim=1))
    original_init = cls.__init__

    def init_with_a_3x3_in_the_5x5_slot(self, in_ch, ch1x1, ch3x3, ch5x5):
        original_init(self, in_ch, ch1x1, ch3x3, ch5x5)
        self.conv5x5 = nn.Conv2d(in_ch, ch5x5, kernel_size=3, padding=1)

    cls.__init__ = init_with_a_3x3_in_the_5x5_slot
    with pytest.raises(AssertionError, match=r"conv5x5 has weights of shape \(3, 6, 3, 3\)"):
        checks.naive_forward(cls)


def test_naive_forward_restores_torch_cat():
    originals = torch.cat, torch.concat, torch.concatenate, torch.stack
    checks.naive_forward(make_naive(lambda m, x: torch.cat(branches(m, x), dim=1)))
    with pytest.raises(AssertionError):
        checks.naive_forward(make_naive(lambda m, x: torch.cat(branches(m, x), dim=0)))
    assert (torch.cat, torch.concat, torch.concatenate, torch.stack) == originals


def test_naive_forward_accepts_other_correct_spellings(capsys):
    forwards = [
        lambda m, x: torch.cat(branches(m, x), -3),
        lambda m, x: torch.concat(list(branches(m, x)), axis=1),
        lambda m, x: torch.cat([*branches(m, x)[:2], torch.cat(branches(m, x)[2:], 1)], 1),
        lambda m, x: torch.cat(
            [F.relu(m.conv1x1(x)), F.relu(m.conv3x3(x)), F.relu(m.conv5x5(x)), m.pool(x)], 1
        ),
    ]
    for forward in forwards:
        checks.naive_forward(make_naive(forward))
        assert "Correct" in capsys.readouterr().out


CFG = {"in_ch": 192, "ch1x1": 64, "ch3x3": 128, "ch5x5": 32}
# By hand: every conv has out x (k*k*in + 1) parameters; the pool passes all 192 channels on.
HAND_CHANNELS = 64 + 128 + 32 + 192  # 416
HAND_PARAMS = 64 * (1 * 192 + 1) + 128 * (9 * 192 + 1) + 32 * (25 * 192 + 1)  # 387,296


def test_naive_counts_accepts_the_hand_count(capsys):
    assert (HAND_CHANNELS, HAND_PARAMS) == (416, 387_296)
    checks.naive_counts(HAND_CHANNELS, HAND_PARAMS, **CFG)
    out = capsys.readouterr().out
    assert "Correct" in out and "387,296" in out


@pytest.mark.parametrize(
    ("channels", "params", "hint"),
    [
        (64 + 128 + 32, HAND_PARAMS, "pool branch also feeds"),
        (HAND_CHANNELS + 1, HAND_PARAMS, "sum of the widths of all four branches"),
        (HAND_CHANNELS, HAND_PARAMS - 64 - 128 - 32, "also have a bias"),
        (HAND_CHANNELS, 64 * 193 + 128 * (3 * 192 + 1) + 32 * (5 * 192 + 1), "k\\*k weights"),
        (HAND_CHANNELS, 64 * 2 + 128 * 10 + 32 * 26, "multiply its k\\*k weights by in_ch"),
        (HAND_CHANNELS, HAND_PARAMS + 9, "max pool has no parameters"),
        (HAND_CHANNELS, float(HAND_PARAMS), "whole number"),
    ],
)
def test_naive_counts_hints(channels, params, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.naive_counts(channels, params, **CFG)


def test_naive_forward_lets_the_student_stub_through():
    def stub(m, x):
        raise NotImplementedError("Exercise 1: run the four branches")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.naive_forward(make_naive(stub))
