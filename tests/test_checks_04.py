"""Lesson 04 checks: a right answer passes, each typical wrong answer gets its hint."""

import inspect
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inception_lab import blocks, checks
from inception_lab.blocks import ConvBNAct
from inception_lab.checks import LibraryShortcut, lesson04
from inception_lab.checks.lesson04 import _window


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


class Parallel(nn.Module):
    """Shortcut (issue 24): a (1, 7) and a (7, 1) conv of the same input, ADDED: it has the
    right kernels, shape and weights, and a 7x7 extent, but sees a cross of 13 pixels."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.row, self.col = ConvBNAct(in_ch, out_ch, (1, 7)), ConvBNAct(in_ch, out_ch, (7, 1))

    def forward(self, x):
        return self.row(x) + self.col(x)


class ParallelConcat(Parallel):
    """The same two convs side by side, concatenated (half the output channels each)."""

    def __init__(self, in_ch, out_ch):
        nn.Module.__init__(self)
        half = max(out_ch // 2, 1)
        self.row = ConvBNAct(in_ch, half, (1, 7))
        self.col = ConvBNAct(in_ch, out_ch - half if out_ch > 1 else 1, (7, 1))

    def forward(self, x):
        out = torch.cat([self.row(x), self.col(x)], dim=1)
        return out[
            :, : self.row.out_ch + self.col.out_ch - (self.row.out_ch == self.col.out_ch == 1)
        ]


class Shifted(nn.Module):
    """A pair in series whose 1x7 conv pads one side only: the window is 7x7 and complete, but
    not centred on the output pixel (an odd offset)."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.row = ConvBNAct(in_ch, out_ch, (1, 7), padding=(0, 6))
        self.col = ConvBNAct(out_ch, out_ch, (7, 1))

    def forward(self, x):
        return self.col(self.row(x)[..., : x.shape[-1]])


class HiddenFull(nn.Module):
    """The two ConvBNAct declared (so the module looks right), a functional 7x7 conv run."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.row, self.col = ConvBNAct(in_ch, out_ch, (1, 7)), ConvBNAct(out_ch, out_ch, (7, 1))
        self.full = nn.Parameter(torch.randn(out_ch, in_ch, 7, 7) * 0.1)

    def forward(self, x):
        return torch.relu(F.conv2d(x, self.full, padding=3))


class OneConvRun(nn.Module):
    """Both convs declared, only the 1x7 one run: the right layers, a 1x7 window."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.row, self.col = ConvBNAct(in_ch, out_ch, (1, 7)), ConvBNAct(out_ch, out_ch, (7, 1))

    def forward(self, x):
        return self.row(x)


@pytest.mark.parametrize(
    ("make_pair", "hint"),
    [
        (Parallel, r"output pixel \(10, 10\) sees a cross of 13 pixels.*in series"),
        (ParallelConcat, "sees a cross of 13 pixels"),
        (Shifted, r"exactly the 7x7 window centred on it.*columns 4..10"),
        (HiddenFull, r"runs convolutions with kernels \[\(7, 7\)\]"),
        (OneConvRun, r"runs convolutions with kernels \[\(1, 7\)\]"),
        (
            lambda i, o: blocks.Mixed(i, {"pair": [(o, (1, 7)), (o, (7, 1))]}),
            r"do not call blocks.MultiBranch\(...\)",
        ),
    ],
)
def test_factorized_7x7_rejects_pairs_that_do_not_see_the_window(make_pair, hint, capsys):
    with pytest.raises(AssertionError, match="Hint: .*" + hint):
        checks.factorized_7x7(make_pair)
    assert "Correct" not in capsys.readouterr().out


def test_factorized_7x7_course_block_is_restored():
    with pytest.raises(LibraryShortcut):
        checks.factorized_7x7(lambda i, o: blocks.Mixed(i, {"pair": [(o, (1, 7)), (o, (7, 1))]}))
    block = blocks.Mixed(3, {"pair": [(2, (1, 7)), (2, (7, 1))]})
    assert block(torch.randn(1, 3, 9, 9)).shape == (1, 2, 9, 9)


def window_size(module, in_ch, pos=(10, 10)):
    return int(_window(module, in_ch, 21, pos).sum())


def test_window_probe_measures_windows():
    # Independent of the probe's own logic: stride-1 stacks of k1 and k2 see k1 + k2 - 1.
    assert window_size(right_pair(3, 4), 3) == 49
    assert window_size(nn.Sequential(ConvBNAct(3, 4, 3), ConvBNAct(4, 4, 3)), 3) == 25
    assert window_size(ConvBNAct(3, 4, (1, 7)), 3) == 7
    assert window_size(Parallel(3, 4), 3) == 13
    # near a corner, "same" padding clips the window to rows 0..5 (6) and columns 14..20 (7)
    assert window_size(right_pair(3, 4), 3, pos=(2, 17)) == 6 * 7
    seen = _window(Shifted(3, 4), 3, 21, (10, 10))
    shifted = torch.zeros(21, 21, dtype=torch.bool)
    shifted[7:14, 4:11] = True  # padding (0, 6) then cropping: columns 4..10 for column 10
    assert torch.equal(seen, shifted)


# --------------------------------------------------------------------------- exercise 2
IN, MIN_OUT, BUDGET = (2, 64, 16, 16), 128, 2_000_000


def grid(block, in_shape=IN, min_out_ch=MIN_OUT, budget_macs=BUDGET):
    return checks.grid_reduction(block, in_shape, min_out_ch, budget_macs)


class GridReduce(nn.Module):
    """The solution: a 1x1 reduction then a 3x3/2 conv, side by side with a 3x3/2 max pool."""

    def __init__(self, in_ch=64, red=32, out=64, padding=1, stride_kernel=3):
        super().__init__()
        conv_padding = padding if stride_kernel == 3 else 0
        self.branch = nn.Sequential(
            ConvBNAct(in_ch, red, 1),
            ConvBNAct(red, out, stride_kernel, stride=2, padding=conv_padding),
        )
        self.pool = nn.MaxPool2d(3, stride=2, padding=padding)

    def forward(self, x):
        return torch.cat([self.branch(x), self.pool(x)], dim=1)


def hand_macs(in_ch=64, red=32, out=64, size=16):
    """1x1 conv on the full grid, 3x3/2 conv on the half grid; the pool costs no MACs."""
    return in_ch * red * size * size + red * out * 9 * (size // 2) ** 2


def test_grid_reduction_accepts_the_solution(capsys):
    assert hand_macs() == 1_703_936 <= BUDGET
    grid(GridReduce())
    out = capsys.readouterr().out
    assert "Correct" in out and "(2, 128, 8, 8) for 1,703,936 MACs" in out


def test_grid_reduction_accepts_a_v3_like_block_with_two_conv_branches(capsys):
    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Sequential(ConvBNAct(64, 16, 1), ConvBNAct(16, 48, 3, stride=2, padding=1))
            self.b = nn.Sequential(
                ConvBNAct(64, 8, 1), ConvBNAct(8, 16, 3), ConvBNAct(16, 16, 3, stride=2, padding=1)
            )
            self.pool = nn.AvgPool2d(3, stride=2, padding=1)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x), self.pool(x)], dim=1)

    grid(TwoBranches())
    assert "2 stride-2 conv(s)" in capsys.readouterr().out


class PoolThenConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv = ConvBNAct(64, 128, 1)

    def forward(self, x):
        return self.conv(self.pool(x))


class ConvThenPool(nn.Module):
    """Full-resolution conv (stride 1), then the stride-2 pool: the pool does not see x."""

    def __init__(self):
        super().__init__()
        self.conv = ConvBNAct(64, 128, 3)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.strided = ConvBNAct(64, 128, 3, stride=2)  # declared, never called

    def forward(self, x):
        return self.pool(self.conv(x))


class UnusedPool(nn.Module):
    """Declares the pool of v3's Figure 10 but never calls it: two conv branches only."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.a = ConvBNAct(64, 64, 3, stride=2, padding=1)
        self.b = ConvBNAct(64, 64, 3, stride=2, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], dim=1)


class PooledConvBranch(nn.Module):
    """Pool on the input and concatenated, but the conv branch convolves the POOLED map."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv = ConvBNAct(64, 64, 3, stride=2, padding=1)

    def forward(self, x):
        pooled = self.pool(x)  # 8x8
        return torch.cat([self.conv(F.pad(pooled, (0, 8, 0, 8))), pooled], dim=1)


class Variant(GridReduce):
    """GridReduce with a planted change in forward."""

    def __init__(self, forward, **kwargs):
        super().__init__(**kwargs)
        self._forward = forward

    def forward(self, x):
        return self._forward(self, x)


@pytest.mark.parametrize(
    ("block", "hint"),
    [
        (None, "should be a module"),
        (GridReduce(in_ch=32), "the block failed on an input of shape"),
        (GridReduce(padding=0), "from 16x16 to 8x8, it became 7x7"),
        (
            Variant(lambda m, x: torch.cat([m.branch(x), m.pool(x)], 1)[..., :8, :8]),
            "on a 24x16 input the grid should become 12x8",
        ),
        (GridReduce(out=16), "outputs 80 channels; at least 128 were asked for"),
        (Variant(lambda m, x: m.pool(x) * 1.0 + 0 * m.branch(x).sum()), "must be wider than"),
        (GridReduce(red=64, out=64), "over the budget of 2,000,000"),  # 2,359,296 + 1x1
        (PoolThenConv(), "reach the output as it is"),
        (ConvThenPool(), "run on the block's own 16x16 input"),
        (UnusedPool(), "never runs a stride-2 pool"),
        (PooledConvBranch(), "halve the grid themselves"),
        # a 1x1 stride-2 conv: cheap, and it skips three pixels out of four
        (GridReduce(stride_kernel=1), "reads only a quarter"),
    ],
)
def test_grid_reduction_hints_at_a_wrong_block(block, hint, capsys):
    with pytest.raises(AssertionError, match="Hint: .*" + hint):
        grid(block)
    assert "Correct" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("forward", "hint"),
    [
        # shortcuts that inflate the width without computing it
        (lambda m, x: torch.cat([m.branch(x), m.pool(x), m.pool(x)], 1), "are identical"),
        (
            lambda m, x: torch.cat([m.branch(x), m.branch(x), m.pool(x)], 1),
            "are identical.*concatenated twice",
        ),
        (
            lambda m, x: torch.cat([0 * m.branch(x), m.pool(x)], 1),
            "are identical",  # zeroed channels
        ),
        (
            lambda m, x: torch.cat([m.branch(x).detach(), m.pool(x)], 1),
            "never reaches the block's output",
        ),
    ],
)
def test_grid_reduction_rejects_width_that_carries_nothing(forward, hint):
    with pytest.raises(AssertionError, match="Hint: .*" + hint):
        grid(Variant(forward))


def test_grid_reduction_rejects_the_course_block():
    """Shortcut: the course's blocks.GridReduction, or a module wrapping it."""
    course = blocks.GridReduction(64, {"b": [(16, 1), (64, 3)]}, padding=1)
    with pytest.raises(AssertionError, match=r"holds the course's blocks.GridReduction"):
        grid(course)

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = blocks.GridReduction(64, {"b": [(16, 1), (64, 3)]}, padding=1)

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(AssertionError, match=r"holds the course's blocks.GridReduction"):
        grid(Wrapper())


def test_grid_reduction_rejects_running_the_course_block_built_inside_forward():
    """Shortcut: a module of its own that builds and runs blocks.GridReduction in forward."""

    class Sneaky(GridReduce):
        def forward(self, x):
            return blocks.GridReduction(64, {"b": [(64, 3)]}, padding=1)(x)

    with pytest.raises(LibraryShortcut, match=r"do not call blocks.MultiBranch\(...\)"):
        grid(Sneaky())


def test_grid_reduction_lets_the_student_stub_through():
    class Stub(nn.Module):
        def forward(self, x):
            raise NotImplementedError("Exercise 2: build reduction")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        grid(Stub())


def test_no_solution_is_importable():
    public = {n for n in dir(lesson04) if not n.startswith("_")}
    defined = {
        n
        for n in public
        if inspect.isfunction(getattr(lesson04, n))
        and getattr(lesson04, n).__module__ == lesson04.__name__
    }
    assert defined == set(lesson04.__all__) == {"factorized_7x7", "grid_reduction"}
    assert not [
        n for n in public if re.search("reference|solution|expected|answer", n, re.IGNORECASE)
    ]


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the issue's list.
def test_shortcut_the_course_block_held_out_of_sight_is_refused():
    """Shortcut: the solution's layers as decoys, the output from a blocks.GridReduction built
    before the check (e.g. the one the lesson shows) held where `.modules()` does not look."""
    course = blocks.GridReduction(64, {"b": [(16, 1), (64, 3)]}, padding=1)

    class Hidden(GridReduce):
        def __init__(self):
            super().__init__()
            self.__dict__["course"] = course  # not a submodule

        def forward(self, x):
            return self.course(x)

    with pytest.raises(LibraryShortcut, match=r"do not call blocks.MultiBranch.forward"):
        grid(Hidden())


def test_shortcut_torchvisions_inception_v3_reduction_is_refused():
    """Shortcut: torchvision's Inception v3 grid reduction (InceptionB), with a pool module to
    show: its unpadded stride-2 layers give 7x7, not the 8x8 the exercise asks for."""
    from torchvision.models.inception import InceptionB

    class Borrowed(nn.Module):
        def __init__(self):
            super().__init__()
            self.tv, self.pool = InceptionB(64), nn.MaxPool2d(3, stride=2, padding=1)

        def forward(self, x):
            return self.tv(x)

    with pytest.raises(AssertionError, match=r"Hint: the grid should go from 16x16 to 8x8"):
        grid(Borrowed())


def test_issue_shortcut_a_1x7_and_a_7x1_conv_added_in_parallel_is_refused():
    """Shortcut (issue 24): `checks.factorized_7x7` with a module that ADDS a (1, 7) and a (7, 1)
    convolution of the same input: it sees a cross of 13 pixels, not the 7x7 window, and used
    to print "Correct: same 7x7 window" (the window was measured as a row and a column extent)."""
    assert window_size(Parallel(3, 4), 3) == 13
    with pytest.raises(AssertionError, match=r"sees a cross of 13 pixels.*in series"):
        checks.factorized_7x7(Parallel)
    checks.factorized_7x7(right_pair)


def test_shortcut_branches_taken_from_a_course_block_built_in_init_are_refused(capsys):
    """Shortcut: build blocks.GridReduction in __init__, keep only its two branches (the block
    holds no course block, and the GridReduction is gone once __init__ returns), and concatenate
    them in forward. The check builds the class again with the course's blocks forbidden."""

    class Borrowing(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            course = blocks.GridReduction(in_ch, {"b": [(in_ch // 2, 1), (in_ch, 3)]}, padding=1)
            self.branch3x3 = course.branches["b"]
            self.pool = course.branches["branch_pool"]

        def forward(self, x):
            return torch.cat([self.branch3x3(x), self.pool(x)], dim=1)

    block = Borrowing(64)
    assert not any(isinstance(m, blocks.MultiBranch) for m in block.modules())
    with pytest.raises(LibraryShortcut, match=r"do not call blocks.MultiBranch\(...\)"):
        grid(block)
    assert "Correct" not in capsys.readouterr().out


def test_shortcut_branches_taken_from_a_course_block_built_elsewhere_are_refused():
    """Shortcut: the branches of a blocks.GridReduction built outside the class (another cell)."""
    course = blocks.GridReduction(64, {"b": [(32, 1), (64, 3)]}, padding=1)

    class Borrowing(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            self.branch3x3, self.pool = course.branches["b"], course.branches["branch_pool"]

        def forward(self, x):
            return torch.cat([self.branch3x3(x), self.pool(x)], dim=1)

    with pytest.raises(
        AssertionError,
        match=r"Hint: your block's layers come from one of the course's blocks "
        r"\(its branch3x3 is 'branches.b' of a blocks.GridReduction\)",
    ):
        grid(Borrowing(64))


def test_a_hand_written_solution_passes_next_to_a_live_course_block(capsys):
    """The lesson's own solution, GridReduce(in_ch), still passes the rebuilt-class and
    borrowed-layer checks, with a course GridReduction alive elsewhere (as in the lesson)."""
    shown = blocks.GridReduction(64, {"branch3x3": [(64, 3)]}, padding=1)  # noqa: F841

    class LessonGridReduce(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            self.branch3x3 = nn.Sequential(
                ConvBNAct(in_ch, in_ch // 2, 1),
                ConvBNAct(in_ch // 2, in_ch, 3, stride=2, padding=1),
            )
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)

        def forward(self, x):
            return torch.cat([self.branch3x3(x), self.pool(x)], dim=1)

    grid(LessonGridReduce(64))
    assert "Correct: (2, 64, 16, 16) -> (2, 128, 8, 8)" in capsys.readouterr().out
