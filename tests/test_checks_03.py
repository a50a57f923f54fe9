"""Lesson 03 checks: a right answer passes, each typical wrong answer gets its hint."""

import inspect
import re
import sys

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from inception_lab import blocks, checks, models, profile, train
from inception_lab.checks import LibraryShortcut, lesson03


def right_loss(outputs, labels, aux_weight=0.3):
    if isinstance(outputs, torch.Tensor):
        return F.cross_entropy(outputs, labels)
    logits, *aux = outputs
    return F.cross_entropy(logits, labels) + aux_weight * sum(
        F.cross_entropy(a, labels) for a in aux
    )


def ce(outputs, labels):
    return [F.cross_entropy(o, labels) for o in outputs]


# --------------------------------------------------------------------------- the paper's aux head
# GoogLeNet paper (Szegedy et al. 2014), section 5: 5x5 average pool with stride 3, 1x1 conv with
# 128 filters + ReLU, FC with 1024 units + ReLU, dropout 0.7, linear softmax classifier.
def paper_head(in_ch, pool=None, conv_ch=128, hidden=1024, p=0.7, conv=None):
    return nn.Sequential(
        pool if pool is not None else nn.AvgPool2d(5, stride=3),
        conv if conv is not None else nn.Conv2d(in_ch, conv_ch, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(conv_ch * 16, hidden),
        nn.ReLU(),
        nn.Dropout(p),
        nn.Linear(hidden, 1000),
    )


def heads():
    return paper_head(512), paper_head(528)


def test_auxiliary_training_accepts_the_solution(capsys):
    checks.auxiliary_training(*heads(), right_loss)
    assert "Correct" in capsys.readouterr().out


def test_auxiliary_training_leaves_the_global_random_stream_alone():
    aux_4a, aux_4d = heads()
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    checks.auxiliary_training(aux_4a, aux_4d, right_loss)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    ("loss_fn", "hint"),
    [
        (lambda o, y: right_loss(o, y).item(), "one scalar tensor"),
        (lambda o, y: right_loss(o, y).detach(), "carry gradients"),
        (lambda o, y: F.cross_entropy(o[0], y), "auxiliary outputs are ignored"),
        (lambda o, y: sum(ce(o, y)), "small weight"),
        (lambda o, y: 0.3 * sum(ce(o, y)), "main head keeps weight 1"),
        (lambda o, y: ce(o, y)[0] + 0.3 * (ce(o, y)[1] + ce(o, y)[2]) / 2, "don't average"),
        (lambda o, y: ce(o, y)[0] + 0.4 * (ce(o, y)[1] + ce(o, y)[2]), "weight the paper gives"),
        (
            lambda o, y: (
                F.cross_entropy(o[0], y)
                + 0.3 * (F.cross_entropy(o[1], y) + F.cross_entropy(o[-1], y))
            ),
            "instead of assuming exactly two",
        ),
        (
            lambda o, y: F.cross_entropy(o[0], y) + 0.3 * sum(ce(o[1:], y)),
            "in eval mode a model returns only the logits",
        ),
    ],
)
def test_auxiliary_training_hints_at_a_wrong_loss(loss_fn, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.auxiliary_training(*heads(), loss_fn)


@pytest.mark.parametrize(
    ("aux_4a", "aux_4d", "hint"),
    [
        ("head", paper_head(528), "should be a module"),
        (paper_head(480), paper_head(528), "aux_4a failed"),
        (paper_head(512), paper_head(512), "aux_4d failed"),
        (
            nn.Sequential(*paper_head(512)[:-1], nn.Linear(1024, 10)),
            paper_head(528),
            r"\(N, 1000\)",
        ),
    ],
)
def test_auxiliary_training_hints_at_wrong_heads(aux_4a, aux_4d, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.auxiliary_training(aux_4a, aux_4d, right_loss)


def right_fc(c, h, w, k):
    """One weight per (input number, class) plus a bias per class; each weight used once."""
    return c * h * w * k + k, c * h * w * k


def right_gap(c, h, w, k):
    """Pooling has no parameters and no multiply-adds; the Linear reads c numbers."""
    return c * k + k, c * k


def test_head_costs_accepts_the_solution(capsys):
    checks.head_costs(right_fc, right_gap)
    out = capsys.readouterr().out
    assert "Correct" in out
    # The numbers the lesson prints, from the formulas the check compares with real heads.
    assert right_fc(1024, 7, 7, 1000) == (50_177_000, 50_176_000)
    assert right_gap(1024, 7, 7, 1000) == (1_025_000, 1_024_000)
    assert "50,177,000 parameters and 50,176,000 MACs" in out and "49x and 49x fewer" in out


def fc_with(params=None, macs=None):
    def fc(c, h, w, k):
        right = right_fc(c, h, w, k)
        return (params(c, h, w, k) if params else right[0], macs(c, h, w, k) if macs else right[1])

    return fc


def gap_with(params=None, macs=None):
    def gap(c, h, w, k):
        right = right_gap(c, h, w, k)
        return (params(c, h, w, k) if params else right[0], macs(c, h, w, k) if macs else right[1])

    return gap


@pytest.mark.parametrize(
    ("fc", "gap", "hint"),
    [
        (fc_with(params=lambda c, h, w, k: float(c * h * w * k + k)), right_gap, "two ints"),
        (lambda c, h, w, k: c * h * w * k + k, right_gap, "should return two numbers"),
        (fc_with(params=lambda c, h, w, k: c * h * w * k), right_gap, "not the biases: a Linear"),
        (fc_with(params=lambda c, h, w, k: c * k + k), right_gap, "every position"),
        (fc_with(params=lambda c, h, w, k: c * h * w * k + c), right_gap, "after flattening"),
        (fc_with(macs=lambda c, h, w, k: c * h * w * k + k), right_gap, "a bias is added"),
        (fc_with(macs=lambda c, h, w, k: c * h * w), right_gap, "every weight of the FC layer"),
        (right_fc, gap_with(params=lambda c, h, w, k: c * k), "not the biases of the Linear"),
        (
            right_fc,
            gap_with(params=lambda c, h, w, k: right_fc(c, h, w, k)[0]),
            "no longer depends on the grid size",
        ),
        (right_fc, gap_with(params=lambda c, h, w, k: 0), "pooling itself has no parameters"),
        (
            right_fc,
            gap_with(macs=lambda c, h, w, k: c * h * w + c * k),
            "averaging only adds",
        ),
        (right_fc, gap_with(macs=lambda c, h, w, k: c * h * w * k), "runs once per image"),
        # the non-square map: a formula that uses the height twice
        (
            fc_with(
                params=lambda c, h, w, k: c * h * h * k + k, macs=lambda c, h, w, k: c * h * h * k
            ),
            right_gap,
            r"for a 96 x 3 x 5 map",
        ),
    ],
)
def test_head_costs_hints_at_wrong_counts(fc, gap, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.head_costs(fc, gap)


def test_head_costs_rejects_typed_literals():
    """Shortcut: GoogLeNet's numbers typed in."""
    with pytest.raises(AssertionError, match=r"same numbers .* as for GoogLeNet's 7x7x1024 map"):
        checks.head_costs(lambda *a: (50_177_000, 50_176_000), lambda *a: (1_025_000, 1_024_000))


def test_head_costs_rejects_answers_looked_up_for_the_listed_maps():
    """Shortcut: a table of the answers for the maps the check's source lists."""
    from inception_lab.checks.lesson03 import _HEAD_CASES

    fc_table = {case: right_fc(*case) for case in _HEAD_CASES}
    gap_table = {case: right_gap(*case) for case in _HEAD_CASES}
    with pytest.raises(AssertionError, match="right for the maps listed in the check but not"):
        checks.head_costs(
            lambda *case: fc_table.get(case, (1, 1)), lambda *case: gap_table.get(case, (1, 1))
        )


def linear_counted(c, h, w, k):
    """Shortcut (issue 24): count a real nn.Linear."""
    layer = nn.Linear(c * h * w, k)
    n = sum(p.numel() for p in layer.parameters())
    return n, n - k


PREBUILT = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))  # built before the check runs


def profiled(c, h, w, k):
    """Shortcut: the course's counter, on any head at hand."""
    return profile.count_params(PREBUILT) * 0 + c * h * w * k + k, profile.count_macs(
        PREBUILT, (1, 4, 4)
    )


def parameters_counted(c, h, w, k):
    """Shortcut: counting the parameters of a layer built earlier, rescaled."""
    return sum(p.numel() for p in PREBUILT.parameters()) * 0 + c * h * w * k + k, c * h * w * k


def flop_counted(c, h, w, k):
    """Shortcut: PyTorch's counter on a functional linear layer (meta tensors)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, weight = torch.empty(1, c * h * w, device="meta"), torch.empty(k, c * h * w, device="meta")
    with FlopCounterMode(display=False) as counter:
        F.linear(x, weight)
    return c * h * w * k + k, counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("fc", "called"),
    [
        (linear_counted, r"nn.Linear\(...\)"),
        (profiled, "profile.count_params"),
        (parameters_counted, "nn.Module.parameters"),
        (flop_counted, "FlopCounterMode"),
    ],
)
def test_head_costs_rejects_counting_built_layers(fc, called):
    with pytest.raises(LibraryShortcut, match="write the count yourself; do not call " + called):
        checks.head_costs(fc, right_gap)
    assert sum(p.numel() for p in nn.Linear(4, 2).parameters()) == 10  # restored afterwards


def test_a_non_module_head_is_reported_not_crashed():
    with pytest.raises(AssertionError, match="should be a module"):
        checks.auxiliary_training(nn.Linear(2, 2).weight, None, right_loss)


def test_auxiliary_training_accepts_a_hand_built_paper_head(capsys):
    checks.auxiliary_training(paper_head(512), paper_head(528), right_loss)
    assert "Correct" in capsys.readouterr().out


def gap_linear(in_ch):
    """The shortcut the issue found accepted: global pooling + one linear layer, (N, 1000)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, 1000))


def gap_mlp(in_ch):
    """Every layer of the paper's head after the pooling, but behind a global pool: (N, 1000)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(in_ch, 1024),
        nn.ReLU(),
        nn.Dropout(0.7),
        nn.Linear(1024, 1000),
    )


def conv_before_pool(in_ch):
    """The paper's layers in another order: the 1x1 conv runs on the 14x14 map, then the pool."""
    head = paper_head(in_ch)
    return nn.Sequential(head[1], head[2], head[0], *head[3:])


@pytest.mark.parametrize(
    ("make_head", "hint"),
    [
        (gap_linear, "average pooling: a fixed 5x5 window with stride 3"),
        (lambda c: paper_head(c, pool=nn.AdaptiveAvgPool2d(4)), "a fixed 5x5 window"),
        (lambda c: paper_head(c, pool=nn.MaxPool2d(5, stride=3)), "average pooling"),
        (lambda c: paper_head(c, conv_ch=64), "1x1 convolution reduces the channels"),
        (lambda c: paper_head(c, hidden=512), "1024 units"),
        (lambda c: paper_head(c, p=0.5), "dropout 0.7"),
        (
            lambda c: nn.Sequential(*paper_head(c)[:6], *paper_head(c)[7:]),
            "dropout 0.7",
        ),
        (gap_mlp, "a fixed 5x5 window with stride 3"),
        (conv_before_pool, "starts with the paper's average pooling"),
        (lambda c: paper_head(c, conv=nn.Conv2d(c, 128, 3, padding=1)), "a 1x1 convolution"),
        (
            lambda c: nn.Sequential(*paper_head(c), nn.ReLU(), nn.Linear(1000, 1000)),
            "runs more layers than the paper's head",
        ),
    ],
)
def test_auxiliary_training_rejects_heads_that_are_not_the_papers(make_head, hint, capsys):
    with pytest.raises(AssertionError, match="Hint: .*" + hint):
        checks.auxiliary_training(make_head(512), make_head(528), right_loss)
    assert "Correct" not in capsys.readouterr().out


def head_with(in_ch, act=nn.ReLU, pool=None, grid=4):
    """The paper's layers with another activation (both places) or pooling grid."""
    return nn.Sequential(
        pool if pool is not None else nn.AvgPool2d(5, stride=3),
        nn.Conv2d(in_ch, 128, 1),
        act(),
        nn.Flatten(),
        nn.Linear(128 * grid * grid, 1024),
        act(),
        nn.Dropout(0.7),
        nn.Linear(1024, 1000),
    )


class FunctionalReLU(nn.Module):
    """The paper's head with its ReLUs written as calls in forward (here torch.clamp)."""

    def __init__(self, in_ch, after_conv=True, after_fc=True):
        super().__init__()
        self.pool, self.conv = nn.AvgPool2d(5, stride=3), nn.Conv2d(in_ch, 128, 1)
        self.fc1, self.drop, self.fc2 = (
            nn.Linear(2048, 1024),
            nn.Dropout(0.7),
            nn.Linear(1024, 1000),
        )
        self.after_conv, self.after_fc = after_conv, after_fc

    def forward(self, x):
        x = self.conv(self.pool(x))
        x = torch.clamp(x, min=0) if self.after_conv else x
        x = self.fc1(x.flatten(1))
        x = F.relu(x, inplace=True) if self.after_fc else x
        return self.fc2(self.drop(x))


def test_auxiliary_training_accepts_relus_written_in_other_ways(capsys):
    """In-place nn.ReLU, F.relu and clamp(min=0) are the paper's ReLU; so is a ReLU placed
    after the dropout (in eval mode the two commute)."""
    checks.auxiliary_training(
        head_with(512, act=lambda: nn.ReLU(inplace=True)), FunctionalReLU(528), right_loss
    )
    assert "Correct" in capsys.readouterr().out
    after_dropout = [paper_head(c) for c in (512, 528)]
    for head in after_dropout:
        head[5], head[6] = head[6], head[5]
    checks.auxiliary_training(*after_dropout, right_loss)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make_head", "hint"),
    [
        # (a) both ReLUs left out: in eval mode the head is one affine map
        (lambda c: head_with(c, act=nn.Identity), r"linear in evaluation mode: .*f\(a \+ b\)"),
        # (b) both ReLUs replaced by sigmoids: nonlinear, but not the paper's nonlinearity
        (lambda c: head_with(c, act=nn.Sigmoid), "runs sigmoid: the paper's head uses the ReLU"),
        (lambda c: head_with(c, act=nn.Tanh), "runs tanh"),
        # (c) a padded pool: a 5x5 grid, read by Linear(128 * 25, 1024)
        (
            lambda c: head_with(c, pool=nn.AvgPool2d(5, stride=3, padding=2), grid=5),
            "turns the 14x14 map into a 4x4 grid.*yours reads 3200 numbers",
        ),
        (lambda c: FunctionalReLU(c, after_conv=False), "ReLU .* to the output of the 1x1"),
        (lambda c: FunctionalReLU(c, after_fc=False), "1024-unit FC layer is followed by a ReLU"),
        (
            lambda c: nn.Sequential(*paper_head(c)[:1], nn.ReLU(), *paper_head(c)[1:]),
            "runs a ReLU between the pooling and the 1x1 convolution",
        ),
        # (d) torchvision's head: batch norm after the 1x1 conv, which the paper's has not
        (
            lambda c: nn.Sequential(*paper_head(c)[:2], nn.BatchNorm2d(128), *paper_head(c)[2:]),
            "BatchNorm2d",
        ),
    ],
)
def test_auxiliary_training_refuses_heads_without_the_papers_relus_or_grid(make_head, hint, capsys):
    with pytest.raises(AssertionError, match="Hint: aux_4a.*" + hint):
        checks.auxiliary_training(make_head(512), make_head(528), right_loss)
    assert "Correct" not in capsys.readouterr().out


def test_auxiliary_training_lets_the_student_stub_through():
    def stub(outputs, labels):
        raise NotImplementedError("Exercise 1: write googlenet_loss")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.auxiliary_training(*heads(), stub)


def test_auxiliary_training_rejects_the_course_heads_and_loss():
    """Shortcut (issue 24): the heads of the GoogLeNet built two cells earlier and the course's
    own training loss, nothing written."""
    with_aux = models.googlenet(variant="paper", aux_logits=True)
    with pytest.raises(AssertionError, match=r"Hint: aux_4a is .*the course's own head"):
        checks.auxiliary_training(
            with_aux.aux1,
            with_aux.aux2,
            lambda o, y, aux_weight=0.3: train.training_loss(o, y, aux_weight=aux_weight)[0],
        )


def test_auxiliary_training_rejects_a_head_wrapping_the_course_head():
    class Wrapper(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            self.inner = blocks.AuxClassifier(in_ch, 1000)

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(
        AssertionError, match=r"holds\) the course's own head, blocks.AuxClassifier"
    ):
        checks.auxiliary_training(Wrapper(512), Wrapper(528), right_loss)


def test_auxiliary_training_rejects_the_course_training_loss():
    """Shortcut: train.training_loss, called through any name bound to it."""
    from inception_lab.train.optim import training_loss

    def via_engine(outputs, labels, aux_weight=0.3):
        return training_loss(outputs, labels, aux_weight=aux_weight)[0]

    with pytest.raises(LibraryShortcut, match="write the training loss yourself; do not call"):
        checks.auxiliary_training(*heads(), via_engine)
    outputs = (torch.randn(2, 5), torch.randn(2, 5))
    labels = torch.tensor([0, 1])
    assert torch.allclose(training_loss(outputs, labels)[0], right_loss(outputs, labels))


def test_auxiliary_training_holds_no_expected_loss_on_the_stack():
    """Shortcut: find the check's per-head cross-entropies by walking up the stack."""

    def thief(outputs, labels, aux_weight=0.3):
        frame, found = sys._getframe(1), []
        while frame is not None:
            for value in frame.f_locals.values():
                if (
                    isinstance(value, list)
                    and len(value) == 3
                    and all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in value)
                ):
                    found.append(value)
            frame = frame.f_back
        assert not found, "the reference losses are on the stack"
        logits = outputs[0] if isinstance(outputs, tuple) else outputs
        return logits.sum() * 0

    with pytest.raises(AssertionError, match="Hint: each head's loss is the cross-entropy"):
        checks.auxiliary_training(*heads(), thief)


def test_auxiliary_training_checks_a_batch_drawn_at_random():
    """Shortcut: the right loss for the check's fixed batch only (looked up)."""
    from inception_lab.checks.lesson03 import _head_outputs

    _, fixed_labels = _head_outputs(3)

    def fixed_only(outputs, labels, aux_weight=0.3):
        if isinstance(outputs, tuple) and torch.equal(labels, fixed_labels):
            return right_loss(outputs, labels)
        return F.cross_entropy(outputs[0] if isinstance(outputs, tuple) else outputs, labels)

    with pytest.raises(AssertionError, match="Hint: the auxiliary outputs are ignored"):
        checks.auxiliary_training(*heads(), fixed_only)


def test_no_solution_is_importable():
    public = {n for n in dir(lesson03) if not n.startswith("_")}
    defined = {
        n
        for n in public
        if inspect.isfunction(getattr(lesson03, n))
        and getattr(lesson03, n).__module__ == lesson03.__name__
    }
    assert defined == set(lesson03.__all__) == {"auxiliary_training", "head_costs"}
    assert not [
        n for n in public if re.search("reference|solution|expected|answer", n, re.IGNORECASE)
    ]
    assert not hasattr(lesson03, "AUX_WEIGHT")  # the loss's weight is the learner's to find


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def test_shortcut_the_course_head_hidden_behind_decoy_layers_is_refused():
    """Shortcut: the paper's layers run for show, the output taken from the course's head (of
    the GoogLeNet built earlier) held where `.modules()` does not look."""

    class Decoy(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            self.layers = paper_head(in_ch)
            self.__dict__["real"] = blocks.AuxClassifier(in_ch, 1000)  # not a submodule

        def forward(self, x):
            self.layers(x)
            return self.real(x)

    with pytest.raises(LibraryShortcut, match=r"do not call blocks\.AuxClassifier\.forward"):
        checks.auxiliary_training(Decoy(512), Decoy(528), right_loss)


def test_shortcut_an_output_not_from_the_heads_last_layer_is_refused():
    """Shortcut: the paper's layers run for show, the output computed some other way."""

    class Elsewhere(nn.Module):
        def __init__(self, in_ch):
            super().__init__()
            self.layers = paper_head(in_ch)

        def forward(self, x):
            return self.layers(x).detach() * 0 + x.mean() * torch.ones(x.shape[0], 1000)

    with pytest.raises(AssertionError, match="other than what its last linear layer computes"):
        checks.auxiliary_training(Elsewhere(512), Elsewhere(528), right_loss)


def conv_as_linear(c, h, w, k):
    """Shortcut: nn.Linear is blocked, so build the FC layer as an h x w convolution."""
    conv = nn.Conv2d(c, k, (h, w))
    return conv.weight.numel() + k, conv.weight.numel()


def torchs_matmul_formula(c, h, w, k):
    """Shortcut: torch's FLOP formula of a matrix product, on shapes alone."""
    from torch.utils.flop_counter import mm_flop

    macs = mm_flop([1, c * h * w], [c * h * w, k]) // 2
    return macs + k, macs


def the_checks_counter(c, h, w, k):
    """Shortcut: the check's own private reference, `lesson03._counted_head`."""
    return lesson03._counted_head(c, h, w, k, pooled=False)


@pytest.mark.parametrize(
    ("fc", "called"),
    [
        (conv_as_linear, r"write the count yourself; do not call nn._ConvNd"),
        (torchs_matmul_formula, r"do not call torch.utils.flop_counter.mm_flop"),
        (the_checks_counter, r"checks' own functions.*lesson03._counted_head"),
    ],
)
def test_shortcut_other_counters_are_refused(fc, called):
    assert fc(64, 4, 4, 10) == right_fc(64, 4, 4, 10)  # each is a real shortcut
    with pytest.raises(LibraryShortcut, match=called):
        checks.head_costs(fc, right_gap)


def test_shortcut_torchvisions_googlenet_aux_head_is_refused():
    """Shortcut: torchvision's `InceptionAux` (its GoogLeNet's auxiliary head) with the paper's
    dropout: it pools adaptively to 4x4, not with the paper's fixed 5x5/3 window."""
    from torchvision.models.googlenet import InceptionAux

    with pytest.raises(AssertionError, match=r"Hint: aux_4a is not the paper's auxiliary head"):
        checks.auxiliary_training(
            InceptionAux(512, 1000, dropout=0.7), InceptionAux(528, 1000, dropout=0.7), right_loss
        )
