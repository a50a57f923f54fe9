"""Lesson 01 checks: a right answer passes, each typical wrong answer gets its hint."""

import inspect
import re
import secrets
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lab import blocks, checks, profile
from inception_lab.checks import LibraryShortcut, lesson01


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


# --------------------------------------------------------------------------- shortcuts, exercise 1
def right_forward(m, x):
    return torch.cat(branches(m, x), dim=1)


def test_naive_forward_rejects_the_course_block_run_with_the_learners_weights():
    """Shortcut: build blocks.NaiveInception inside forward, give it the module's layers, run it."""

    def via_course_block(m, x):
        ref = blocks.NaiveInception(
            x.shape[1], m.conv1x1.out_channels, m.conv3x3.out_channels, m.conv5x5.out_channels
        )
        for name in ("1x1", "3x3", "5x5"):
            ref.branches[f"branch{name}"][0].conv = getattr(m, f"conv{name}")
        return ref(x)

    # building the course block (its ConvBNAct branches) already raises, as running it would
    with pytest.raises(LibraryShortcut, match=r"Hint: .*do not call blocks\.(ConvBNAct|Multi)"):
        checks.naive_forward(make_naive(via_course_block))
    x = torch.randn(1, 3, 5, 5)  # and the block works again afterwards
    assert blocks.NaiveInception(3, 1, 1, 1)(x).shape == (1, 6, 5, 5)


def frames_holding(predicate):
    """What a learner who walks up the stack could find: every local satisfying `predicate`."""
    found, frame = [], sys._getframe(1)
    while frame is not None:
        found += [v for v in frame.f_locals.values() if predicate(v)]
        frame = frame.f_back
    return found


def test_naive_forward_holds_no_expected_output_on_the_stack():
    """Shortcut: return the check's own expected output, found by introspection."""

    def thief(m, x):
        want_shape = (
            x.shape[0],
            sum(c.out_channels for c in (m.conv1x1, m.conv3x3, m.conv5x5)) + x.shape[1],
            *x.shape[2:],
        )
        stolen = frames_holding(lambda v: isinstance(v, torch.Tensor) and v.shape == want_shape)
        modules = frames_holding(lambda v: isinstance(v, blocks.NaiveInception))
        assert not modules, "the reference module is on the stack"
        return stolen[0] if stolen else torch.zeros(want_shape)

    with pytest.raises(AssertionError, match=r"Hint: channels 0..3 of the output should be"):
        checks.naive_forward(make_naive(thief))


def test_naive_forward_rejects_replacing_allclose():
    """Shortcut: make the comparison always succeed."""

    def cheat(m, x):
        torch.allclose = lambda *args, **kwargs: True
        return torch.zeros(x.shape[0], 18, *x.shape[2:])

    original = torch.allclose
    with pytest.raises(AssertionError, match=r"torch.allclose was replaced"):
        checks.naive_forward(make_naive(cheat))
    assert torch.allclose is original


def test_naive_forward_rejects_the_right_mean_in_the_right_shape():
    """Shortcut: a tensor of the right shape filled with the right output's mean."""

    def mean_only(m, x):
        with torch.no_grad():
            out = right_forward(m, x)
        return torch.full_like(out, out.mean().item())

    with pytest.raises(
        AssertionError, match=r"Hint: channels 0..3 of the output should be the 1x1"
    ):
        checks.naive_forward(make_naive(mean_only))


def test_naive_forward_checks_one_image_on_an_odd_non_square_grid():
    """A forward that assumes the first case's batch size fails on the awkward (1, 5, 7, 12) one."""

    def batch_of_two(m, x):
        return right_forward(m, x).reshape(2, -1, *x.shape[2:])

    with pytest.raises(AssertionError, match=r"your forward failed.*RuntimeError"):
        checks.naive_forward(make_naive(batch_of_two))


def test_naive_forward_checks_widths_drawn_at_random(monkeypatch):
    """Shortcut: right only on the inputs the check lists (answers looked up or special-cased)."""

    def listed_only(m, x):
        if tuple(x.shape) in {(2, 6, 9, 9), (1, 5, 7, 12)}:
            return right_forward(m, x)
        return torch.cat([*branches(m, x)[:3], x], dim=1)

    for _ in range(3):  # whatever the random case, it is caught
        with pytest.raises(AssertionError, match=r"Hint: channels .* should be the max pool"):
            checks.naive_forward(make_naive(listed_only))
    # seeds 5057 and 6587 once drew a (2, 6, 9, 9) and a (1, 5, 7, 12) input, the listed
    # shapes, which let this answer pass: the drawn grid is now never a listed one
    for seed in (5057, 6587):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        with pytest.raises(AssertionError, match=r"Hint: channels .* should be the max pool"):
            checks.naive_forward(make_naive(listed_only))
        checks.naive_forward(make_naive(right_forward))  # the redrawn case passes a right answer


# --------------------------------------------------------------------------- exercise 2
CONFIG_3B = {"in_ch": 256, "ch1x1": 128, "ch3x3": 192, "ch5x5": 96}


def right_counts(in_ch, ch1x1, ch3x3, ch5x5):
    """By hand: every conv has out x (k*k*in + 1) parameters; the pool passes in_ch channels on."""
    out = ch1x1 + ch3x3 + ch5x5 + in_ch
    return out, ch1x1 * (in_ch + 1) + ch3x3 * (9 * in_ch + 1) + ch5x5 * (25 * in_ch + 1)


def test_naive_counts_accepts_the_hand_formula(capsys):
    assert right_counts(**CONFIG_3B) == (672, 1_089_952)
    assert right_counts(192, 64, 128, 32) == (416, 387_296)  # inception 3a, lesson 02's table
    checks.naive_counts(right_counts)
    out = capsys.readouterr().out
    assert "Correct" in out and "672 output channels and 1,089,952 parameters" in out


def counts(channels=None, params=None):
    """A count_naive with one planted mistake: `channels` / `params` replace the right formula."""

    def count_naive(in_ch, ch1x1, ch3x3, ch5x5):
        right = right_counts(in_ch, ch1x1, ch3x3, ch5x5)
        c = channels(in_ch, ch1x1, ch3x3, ch5x5) if channels else right[0]
        p = params(in_ch, ch1x1, ch3x3, ch5x5) if params else right[1]
        return c, p

    return count_naive


@pytest.mark.parametrize(
    ("count_naive", "hint"),
    [
        (counts(channels=lambda i, a, b, c: a + b + c), "pool branch also feeds"),
        (counts(channels=lambda i, a, b, c: a + b + c + i + 1), "sum of the widths of all four"),
        (counts(params=lambda i, a, b, c: a * i + b * 9 * i + c * 25 * i), "also have a bias"),
        (
            counts(params=lambda i, a, b, c: a * (i + 1) + b * (3 * i + 1) + c * (5 * i + 1)),
            "k\\*k weights",
        ),
        (counts(params=lambda i, a, b, c: a * 2 + b * 10 + c * 26), "multiply its k\\*k weights"),
        (counts(params=lambda i, a, b, c: right_counts(i, a, b, c)[1] + 9 * i), "max pool has no"),
        (counts(params=lambda i, a, b, c: right_counts(i, a, b, c)[1] + 1), "Count conv by conv"),
        (counts(params=lambda i, a, b, c: float(right_counts(i, a, b, c)[1])), "whole number"),
        (lambda i, a, b, c: right_counts(i, a, b, c)[1], "should return two numbers"),
        (lambda i, a, b, c: 1 / 0, "count_naive failed.*ZeroDivisionError"),
    ],
)
def test_naive_counts_hints(count_naive, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.naive_counts(count_naive)


def test_naive_counts_edge_case_of_width_one():
    """A formula that is right for wide layers only: 'k*k*in*c + c' written as k*k*in*c + in."""

    def off_at_one(in_ch, ch1x1, ch3x3, ch5x5):
        out, params = right_counts(in_ch, ch1x1, ch3x3, ch5x5)
        return out, params if min(in_ch, ch1x1, ch3x3, ch5x5) > 1 else params + 1

    with pytest.raises(AssertionError, match=r"for NaiveInception\(in_ch=1, ch1x1=1"):
        checks.naive_counts(off_at_one)


def test_naive_counts_rejects_typed_literals():
    """Shortcut (issue 24): the numbers for inception 3b typed in, counted elsewhere."""
    with pytest.raises(AssertionError, match="same numbers for inception 3a as for inception 3b"):
        checks.naive_counts(lambda in_ch, ch1x1, ch3x3, ch5x5: (672, 1_089_952))


def test_naive_counts_rejects_answers_looked_up_for_the_listed_cases():
    """Shortcut: a table of the answers for the widths the check's source lists."""
    from inception_lab.checks.lesson01 import _COUNT_CASES

    table = {tuple(c.values()): right_counts(**c) for c in _COUNT_CASES}
    with pytest.raises(AssertionError, match="right for the widths listed in the check but not"):
        checks.naive_counts(lambda *widths: table.get(widths, (1, 1)))


def build_and_count(*widths):
    """Shortcut: build the course's block and count it."""
    module = blocks.NaiveInception(*widths)
    return module.out_ch, sum(p.numel() for p in module.parameters())


def convs_and_count(in_ch, ch1x1, ch3x3, ch5x5):
    """Shortcut: build the three convs with torch and count their parameters."""
    convs = [nn.Conv2d(in_ch, c, k) for c, k in ((ch1x1, 1), (ch3x3, 3), (ch5x5, 5))]
    return ch1x1 + ch3x3 + ch5x5 + in_ch, sum(p.numel() for c in convs for p in c.parameters())


def with_the_profiler(in_ch, ch1x1, ch3x3, ch5x5):
    """Shortcut: the course's counter on a module built some other way."""
    from inception_lab.profile import count_params  # a name bound before the call: still caught

    return ch1x1 + ch3x3 + ch5x5 + in_ch, count_params(nn.Identity())


@pytest.mark.parametrize(
    ("count_naive", "called"),
    [
        (build_and_count, r"blocks.NaiveInception\(...\)"),
        (convs_and_count, r"nn.Conv2d\(...\)"),
        (with_the_profiler, "profile.count_params"),
    ],
)
def test_naive_counts_rejects_counting_built_layers(count_naive, called):
    with pytest.raises(LibraryShortcut, match="write the counts yourself; do not call " + called):
        checks.naive_counts(count_naive)
    assert nn.Conv2d(2, 3, 1).weight.shape == (3, 2, 1, 1)  # restored afterwards
    assert profile.count_params(nn.Conv2d(2, 3, 1)) == 9


def test_no_solution_is_importable():
    """The package the learner has exposes the checks only: no reference solution by name."""
    public = {n for n in dir(lesson01) if not n.startswith("_")}
    defined = {
        n
        for n in public
        if inspect.isfunction(getattr(lesson01, n))
        and getattr(lesson01, n).__module__ == lesson01.__name__
    }
    assert defined == set(lesson01.__all__) == {"naive_forward", "naive_counts"}
    assert not [
        n for n in public if re.search("reference|solution|expected|answer", n, re.IGNORECASE)
    ]


def test_naive_forward_lets_the_student_stub_through():
    def stub(m, x):
        raise NotImplementedError("Exercise 1: run the four branches")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.naive_forward(make_naive(stub))


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def test_shortcut_patching_the_checks_helpers_in_an_earlier_cell_is_refused():
    """Shortcut: `checks.lesson01.require = lambda *a: None` (and its diagnoses) in a cell before
    the check, so that nothing can fail; the check restores them and says so."""
    originals = {n: getattr(lesson01, n) for n in ("require", "_check_shape", "_diagnose_branches")}
    for name in originals:
        setattr(lesson01, name, lambda *args, **kwargs: None)
    try:
        with pytest.raises(AssertionError, match=r"checks.lesson01.require.*replaced before"):
            checks.naive_forward(make_naive(lambda m, x: torch.zeros(1)))
        assert all(getattr(lesson01, n) is f for n, f in originals.items())  # restored
    finally:
        for name, f in originals.items():
            setattr(lesson01, name, f)
    checks.naive_forward(make_naive(right_forward))  # and the right answer passes again


def test_shortcut_rebinding_a_check_to_a_silent_function_is_refused():
    """Shortcut: `checks.naive_forward = lambda *a: None`, so that the check cell does nothing."""
    check = checks.naive_forward
    with pytest.raises(AttributeError, match="cannot be replaced"):
        checks.naive_forward = lambda *args: None
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del checks.naive_forward
    assert checks.naive_forward is check


def test_shortcut_the_course_blocks_branches_run_one_by_one_is_refused():
    """Shortcut: build blocks.NaiveInception in forward, plug in the module's convs, and run its
    branches (the course's ReLUs) one by one instead of the block's forward."""

    def borrowed_branches(m, x):
        ref = blocks.NaiveInception(
            x.shape[1], m.conv1x1.out_channels, m.conv3x3.out_channels, m.conv5x5.out_channels
        )
        for name in ("1x1", "3x3", "5x5"):
            ref.branches[f"branch{name}"][0].conv = getattr(m, f"conv{name}")
        return torch.cat([branch(x) for branch in ref.branches.values()], dim=1)

    with pytest.raises(LibraryShortcut, match=r"write the forward pass yourself; do not call"):
        checks.naive_forward(make_naive(borrowed_branches))


def test_shortcut_the_course_blocks_branches_built_in_init_are_refused(capsys):
    """Shortcut: build blocks.NaiveInception in __init__ (beside the given layers), plug the
    module's convs into its branches in forward, and concatenate those branches (the course's
    ReLUs). Building the course block in the constructor is refused too; the reference solution
    still passes the same check."""

    class BorrowsInInit(make_naive(right_forward)):  # the given layers, then the course block
        def __init__(self, in_ch, ch1x1, ch3x3, ch5x5):
            super().__init__(in_ch, ch1x1, ch3x3, ch5x5)
            self.ref = blocks.NaiveInception(in_ch, ch1x1, ch3x3, ch5x5)

        def forward(self, x):
            for name in ("1x1", "3x3", "5x5"):
                self.ref.branches[f"branch{name}"][0].conv = getattr(self, f"conv{name}")
            return torch.cat([branch(x) for branch in self.ref.branches.values()], 1)

    with pytest.raises(
        LibraryShortcut, match=r"do not call blocks\.(ConvBNAct|Multi).*keep the given __init__"
    ):
        checks.naive_forward(BorrowsInInit)
    checks.naive_forward(make_naive(right_forward))
    assert "Correct" in capsys.readouterr().out


def test_shortcut_a_conv3d_built_and_counted_is_refused():
    """Shortcut: nn.Conv2d is blocked, so build each conv as an nn.Conv3d with a 1 x k x k kernel
    (the same parameters) and count those."""

    def conv3d_count(in_ch, ch1x1, ch3x3, ch5x5):
        convs = [nn.Conv3d(in_ch, c, (1, k, k)) for c, k in ((ch1x1, 1), (ch3x3, 3), (ch5x5, 5))]
        return ch1x1 + ch3x3 + ch5x5 + in_ch, sum(p.numel() for c in convs for p in c.parameters())

    assert conv3d_count(**CONFIG_3B) == right_counts(**CONFIG_3B)  # a real shortcut
    with pytest.raises(LibraryShortcut, match="write the counts yourself; do not call"):
        checks.naive_counts(conv3d_count)
    checks.naive_counts(right_counts)
