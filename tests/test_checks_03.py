"""Lesson 03 checks: a right answer passes, each typical wrong answer gets its hint."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from inception_lab import blocks, checks


def right_loss(outputs, labels, aux_weight=0.3):
    if isinstance(outputs, torch.Tensor):
        return F.cross_entropy(outputs, labels)
    logits, *aux = outputs
    return F.cross_entropy(logits, labels) + aux_weight * sum(
        F.cross_entropy(a, labels) for a in aux
    )


def ce(outputs, labels):
    return [F.cross_entropy(o, labels) for o in outputs]


def heads():
    return blocks.AuxClassifier(512, 1000), blocks.AuxClassifier(528, 1000)


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
        ("head", blocks.AuxClassifier(528, 1000), "should be a module"),
        (blocks.AuxClassifier(480, 1000), blocks.AuxClassifier(528, 1000), "aux_4a failed"),
        (blocks.AuxClassifier(512, 1000), blocks.AuxClassifier(512, 1000), "aux_4d failed"),
        (blocks.AuxClassifier(512, 10), blocks.AuxClassifier(528, 1000), r"\(N, 1000\)"),
    ],
)
def test_auxiliary_training_hints_at_wrong_heads(aux_4a, aux_4d, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.auxiliary_training(aux_4a, aux_4d, right_loss)


def right_fc(c, h, w, k):
    return c * h * w * k + k


def right_gap(c, k):
    return c * k + k


def test_head_params_accepts_the_solution(capsys):
    checks.head_params(right_fc, right_gap)
    assert "Correct" in capsys.readouterr().out
    # The numbers the lesson prints, from the formulas the check compares with nn.Linear.
    assert right_fc(1024, 7, 7, 1000) == 50_177_000
    assert right_gap(1024, 1000) == 1_025_000


@pytest.mark.parametrize(
    ("fc", "gap", "hint"),
    [
        (lambda c, h, w, k: float(right_fc(c, h, w, k)), right_gap, "return an int"),
        (lambda c, h, w, k: c * h * w * k, right_gap, "but not the biases: a Linear"),
        (lambda c, h, w, k: c * k + k, right_gap, "every position"),
        (lambda c, h, w, k: c * h * w * k + c, right_gap, "after flattening the map"),
        (right_fc, lambda c, k: c * k, "but not the biases of the Linear"),
        (right_fc, lambda c, k: right_fc(c, 7, 7, k), "no longer depends on the grid size"),
        (right_fc, lambda c, k: 0, "pooling itself has no parameters"),
    ],
)
def test_head_params_hints_at_wrong_counts(fc, gap, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.head_params(fc, gap)


def test_a_non_module_head_is_reported_not_crashed():
    with pytest.raises(AssertionError, match="should be a module"):
        checks.auxiliary_training(nn.Linear(2, 2).weight, None, right_loss)


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


def test_auxiliary_training_lets_the_student_stub_through():
    def stub(outputs, labels):
        raise NotImplementedError("Exercise 1: write googlenet_loss")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.auxiliary_training(*heads(), stub)
