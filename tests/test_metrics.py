"""The maths behind the figures: accuracy, calibration bins, and label smoothing, by hand."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from inception_lab import metrics, viz


def test_accuracy_top1_and_top5():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = torch.tensor([1, 0, 1, 2])
    assert metrics.accuracy(scores, labels) == 0.5  # rows 0 and 1
    assert metrics.accuracy(scores, labels, k=2) == 0.75  # row 2's class 1 is second
    assert metrics.accuracy(scores, labels, k=3) == 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "k", "match"),
    [
        (torch.zeros(3), torch.zeros(3, dtype=torch.long), 1, "scores must be"),
        (torch.zeros(2, 3), torch.zeros(3, dtype=torch.long), 1, "labels must be"),
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), 4, "k must be"),
    ],
)
def test_accuracy_rejects_bad_input(scores, labels, k, match):
    with pytest.raises(ValueError, match=match):
        metrics.accuracy(scores, labels, k)


def test_calibration_bins_by_hand():
    # Ten predictions at confidence 0.85, half of them right: bin (0.8, 0.9], gap 0.35.
    probs = torch.tensor([[0.85, 0.15]] * 10, dtype=torch.float64)
    stats = metrics.calibration_bins(probs, torch.tensor([0, 1] * 5))
    assert stats["count"][8] == 10 and stats["count"].sum() == 10
    assert math.isclose(stats["ece"], 0.35)
    assert np.isnan(stats["accuracy"][0])  # empty bins are NaN, not 0


def test_calibration_bins_are_closed_on_the_right():
    # (lo, hi]: 0.25 -> bin 0, 0.5 -> bin 1, 0.75 -> bin 2, 1.0 -> bin 3 (exact in binary).
    probs = torch.tensor(
        [[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0], [0.75, 0.25, 0, 0], [1.0, 0, 0, 0]]
    )
    stats = metrics.calibration_bins(probs, torch.zeros(4, dtype=torch.long), n_bins=4)
    assert stats["count"].tolist() == [1, 1, 1, 1]
    assert (
        metrics.expected_calibration_error(probs, torch.zeros(4, dtype=torch.long), 4)
        == (stats["ece"])
    )


def test_viz_re_exports_the_metrics():
    assert viz.calibration_bins is metrics.calibration_bins
    assert viz.smoothed_target is metrics.smoothed_target
    assert viz.smoothing_optimum is metrics.smoothing_optimum


def test_smoothed_target_and_its_optimum():
    # v3 paper, section 7: q = (1 - eps) * one_hot + eps / K.
    target = metrics.smoothed_target(10, 0.1, true_class=3)
    assert math.isclose(target[3].item(), 0.91) and math.isclose(target[0].item(), 0.01)
    assert math.isclose(target.sum().item(), 1.0)
    best = metrics.smoothing_optimum(10, 0.1)
    assert math.isclose(best, math.log(1 + 10 * 0.9 / 0.1))
    _z, loss = metrics.smoothing_loss_curve(10, 0.1, torch.tensor([best - 0.1, best, best + 0.1]))
    assert loss[1] < loss[0] and loss[1] < loss[2]  # a minimum at z*
    logits = torch.zeros(1, 10, dtype=torch.float64)
    logits[0, 0] = best
    by_hand = F.cross_entropy(logits, torch.tensor([0]), label_smoothing=0.1)
    assert torch.isclose(loss[1], by_hand)
    assert metrics.smoothing_optimum(10, 0.0) == math.inf
