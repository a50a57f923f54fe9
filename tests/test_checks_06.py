"""The lesson 06 checks (smoothed loss, calibration error) pass right answers, hint at wrong ones."""

import re

import pytest
import torch
from torch.nn import functional as F

from inception_lab import checks, viz


# --------------------------------------------------------------------------- exercise 1
def smoothed_ce(logits, labels, eps):
    k = logits.shape[1]
    targets = (1 - eps) * F.one_hot(labels, k).float() + eps / k
    return -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()


def test_smoothed_loss_correct_answer_passes(capsys):
    checks.smoothed_loss(smoothed_ce)
    assert "Correct" in capsys.readouterr().out


def _targets(labels, k, eps):
    return (1 - eps) * F.one_hot(labels, k).float() + eps / k


WRONG_LOSSES = {
    "per-example": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.log_softmax(1)).sum(1),
        "mean of the per-example losses",
    ),
    "sum": (lambda z, y, e: smoothed_ce(z, y, e) * len(y), "instead of summing"),
    "sign": (lambda z, y, e: -smoothed_ce(z, y, e), "check the sign"),
    "eps ignored": (lambda z, y, e: F.cross_entropy(z, y), "eps seems to be ignored"),
    "eps/(K-1)": (
        lambda z, y, e: (
            -(
                (
                    (1 - e) * F.one_hot(y, z.shape[1]).float()
                    + e / (z.shape[1] - 1) * (1 - F.one_hot(y, z.shape[1]).float())
                )
                * z.log_softmax(1)
            )
            .sum(1)
            .mean()
        ),
        "the true one included",
    ),
    "raw logits": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z).sum(1).mean(),
        "use log-probabilities",
    ),
    "softmax over batch": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.log_softmax(0)).sum(1).mean(),
        "over the classes (dim=1)",
    ),
    "detached": (
        lambda z, y, e: smoothed_ce(z.detach(), y, e),
        "differentiable with respect to the logits",
    ),
    "log of softmax": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.softmax(1).log()).sum(1).mean(),
        "stay finite",
    ),
    "not a tensor": (lambda z, y, e: smoothed_ce(z, y, e).item(), "return a torch tensor"),
    "something else": (lambda z, y, e: smoothed_ce(z, y, e) + 0.5, "build targets q"),
}


@pytest.mark.parametrize("mistake", WRONG_LOSSES)
def test_smoothed_loss_wrong_answers_get_a_hint(mistake):
    fn, hint = WRONG_LOSSES[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.smoothed_loss(fn)


# --------------------------------------------------------------------------- exercise 2
def _binned_gaps(probs, labels, n_bins):
    """(fraction of predictions, |accuracy - confidence|) for each non-empty bin."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    out = []
    for b in range(n_bins):
        in_bin = (confidence > b / n_bins) & (confidence <= (b + 1) / n_bins)
        if in_bin.any():
            gap = (correct[in_bin].mean() - confidence[in_bin].mean()).abs().item()
            out.append((in_bin.float().mean().item(), gap))
    return out


def ece(probs, labels, n_bins=10):
    return sum(w * gap for w, gap in _binned_gaps(probs, labels, n_bins))


def test_calibration_error_correct_answer_passes(capsys):
    checks.calibration_error(ece)
    assert "Correct" in capsys.readouterr().out


def test_calibration_error_accepts_viz_calibration_bins(capsys):
    """The library's own calibration_bins gives the same ECE as the check's reference."""

    def via_viz(probs, labels, n_bins=10):
        return viz.calibration_bins(probs, labels, n_bins=n_bins)["ece"]

    checks.calibration_error(via_viz)
    assert "Correct" in capsys.readouterr().out


def _unweighted(probs, labels, n_bins=10):
    gaps = [gap for _, gap in _binned_gaps(probs, labels, n_bins)]
    return sum(gaps) / len(gaps)


def _squared(probs, labels, n_bins=10):
    return sum(w * gap**2 for w, gap in _binned_gaps(probs, labels, n_bins))


def _true_class_confidence(probs, labels, n_bins=10):
    true_p = probs.gather(1, labels[:, None])[:, 0]
    fake = torch.stack([true_p, 1 - true_p], 1)
    return ece(fake, torch.where(probs.argmax(1) == labels, 0, 1), n_bins)


WRONG_ECES = {
    "percent": (lambda p, y, n=10: 100 * ece(p, y, n), "not a percentage"),
    "unweighted": (_unweighted, "weight each bin's gap"),
    "squared": (_squared, "not its square"),
    "true-class confidence": (_true_class_confidence, "LARGEST probability"),
    "n_bins ignored": (lambda p, y, n=10: ece(p, y, 10), "use the `n_bins` argument"),
    "not a number": (lambda p, y, n=10: [ece(p, y, n)], "return one number"),
    "accuracy only": (lambda p, y, n=10: ece(p, y, n) + 0.01, "mean confidence"),
}


@pytest.mark.parametrize("mistake", WRONG_ECES)
def test_calibration_error_wrong_answers_get_a_hint(mistake):
    fn, hint = WRONG_ECES[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.calibration_error(fn)
