"""Lesson 06 checks: label smoothing (v3 paper, Szegedy et al. 2015, section 7) and calibration.

Exercise 1 writes the label-smoothed cross-entropy from scratch: the reference is
`F.cross_entropy(label_smoothing=eps)`, which raises inside the learner's function when asked to
smooth (the exercise is to build the targets), as do the course's helpers and timm's
`LabelSmoothingCrossEntropy`; a batch and an eps drawn on every run join the fixed cases.
Exercise 2 writes the expected calibration error (Guo et al. 2017) with equal-width bins
(lo, hi]; the reference is written by hand here, and the cases put confidences exactly on bin
edges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional as F

from .. import metrics, train, viz, widgets
from .._validate import is_number
from ._common import Forbidden, call_learner, forbid, passed, require, tensors_close, unseen_seed

# --------------------------------------------------------------------------- exercise 1
_SHORTCUT = (
    "this exercise is to smooth the targets yourself: F.cross_entropy's label_smoothing "
    "argument (and nn.CrossEntropyLoss's) does the work for you; build the smoothed targets "
    "and compare them with the log-probabilities"
)


def _smooths(position: int) -> Callable[..., bool]:
    """`when` for `forbid`: the call asks for label smoothing (keyword or `position`-th arg)."""

    def asks(*args: Any, **kwargs: Any) -> bool:
        value = kwargs.get("label_smoothing", args[position] if len(args) > position else 0.0)
        return bool(value)

    return asks


# The course's own helpers: `metrics.smoothed_target` builds the smoothed targets,
# `train.training_loss(..., label_smoothing=eps)` is the whole loss.
_NO_COURSE_LOSS = Forbidden(
    "the label-smoothed loss",
    targets=(metrics, train, viz, widgets),
    # timm's label-smoothing loss is this exercise's formula, (1 - eps) NLL + eps mean(-log p)
    lazy=("timm.loss:LabelSmoothingCrossEntropy.forward",),
    advice="build the smoothed targets with tensor operations and compare them with the "
    "log-probabilities",
)


def _run_loss(smoothed_cross_entropy: Callable, logits, labels, eps: float) -> Any:
    """The learner's loss, with the library's label smoothing (every route to it: F, nn, the
    C++ binding, torch.ops.aten) and the course's helpers made to raise."""
    with (
        forbid(_SHORTCUT, (F, "cross_entropy"), when=_smooths(7)),
        forbid(_SHORTCUT, (torch._C._nn, "cross_entropy_loss"), when=_smooths(5)),
        forbid(_SHORTCUT, (torch.ops.aten, "cross_entropy_loss"), when=_smooths(5)),
    ):
        return call_learner(
            smoothed_cross_entropy,
            logits,
            labels,
            eps,
            hint=f"smoothed_cross_entropy failed for logits of shape {tuple(logits.shape)} and "
            f"eps={eps}",
            forbidden=_NO_COURSE_LOSS,
        )


def _diagnose_loss(loss: torch.Tensor, logits, labels, eps: float) -> None:
    """Name the typical mistake behind a wrong smoothed loss (always raises)."""
    n, k = logits.shape
    expected = F.cross_entropy(logits, labels, label_smoothing=eps)
    one_hot = F.one_hot(labels, k).float()
    targets = (1 - eps) * one_hot + eps / k

    def loss_with(q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
        return -(q * log_p).sum(dim=1).mean()

    require(
        not tensors_close(loss, expected * n),
        "average over the batch instead of summing: nn.CrossEntropyLoss uses the mean.",
    )
    require(
        not tensors_close(loss, -expected),
        "check the sign: the loss of a good prediction is a small positive number.",
    )
    require(
        not (eps > 0 and tensors_close(loss, F.cross_entropy(logits, labels))),
        "eps seems to be ignored: the targets are no longer the one-hot labels.",
    )
    other = (1 - eps) * one_hot + eps / (k - 1) * (1 - one_hot)
    require(
        not tensors_close(loss, loss_with(other, logits.log_softmax(dim=1))),
        "spread eps over EVERY class, the true one included (eps / K each, not eps / (K - 1) "
        "over the other classes).",
    )
    require(
        not tensors_close(loss, loss_with(targets, logits)),
        "compare the targets with log-probabilities, not with the raw logits.",
    )
    require(
        not tensors_close(loss, loss_with(targets, logits.log_softmax(dim=0))),
        "take the softmax over the classes (dim=1), not over the batch (dim=0).",
    )
    require(
        False,
        f"for eps={eps} the loss differs from nn.CrossEntropyLoss(label_smoothing=eps): check "
        "the smoothed targets, then the cross-entropy between them and the predicted "
        "distribution.",
    )


def _check_loss_values(smoothed_cross_entropy: Callable, logits, labels) -> None:
    for eps in (0.1, 0.3, 0.0):
        loss = _run_loss(smoothed_cross_entropy, logits.clone(), labels, eps)
        expected = F.cross_entropy(logits, labels, label_smoothing=eps)
        require(
            isinstance(loss, torch.Tensor),
            f"return a torch tensor (the loss), got {type(loss).__name__}.",
        )
        require(
            not (loss.dim() == 1 and tensors_close(loss.mean(), expected)),
            "return the mean of the per-example losses over the batch (a single number), "
            "as nn.CrossEntropyLoss does by default.",
        )
        require(
            loss.dim() == 0, f"return a 0-d tensor (one number), got shape {tuple(loss.shape)}."
        )
        if not tensors_close(loss, expected):
            _diagnose_loss(loss, logits, labels, eps)


def _drawn_loss_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Logits (N, K), labels and an eps of sizes nobody knows in advance (N may be 1)."""
    g = torch.Generator().manual_seed(seed)
    n, k = (
        int(torch.randint(1, 20, (1,), generator=g)),
        int(torch.randint(2, 12, (1,), generator=g)),
    )
    eps = round(float(torch.rand(1, generator=g)) * 0.5 + 0.01, 3)
    return torch.randn(n, k, generator=g) * 4, torch.randint(0, k, (n,), generator=g), eps


def smoothed_loss(smoothed_cross_entropy: Callable) -> None:
    """Check `smoothed_cross_entropy(logits, labels, eps)` -> mean loss over the batch (0-d
    tensor) against `nn.CrossEntropyLoss(label_smoothing=eps)`, including its gradient.

    logits: (N, K) float; labels: (N,) int64 in [0, K); targets are (1 - eps) * one_hot + eps / K.
    Asking F.cross_entropy (or nn.CrossEntropyLoss) to smooth raises inside the function.
    """
    g = torch.Generator().manual_seed(6)
    logits = torch.randn(7, 5, generator=g) * 3
    labels = torch.randint(0, 5, (7,), generator=g)
    _check_loss_values(smoothed_cross_entropy, logits, labels)
    # A batch, a class count and an eps drawn on this run: a table of the fixed cases fails.
    z, y, eps = _drawn_loss_case(unseen_seed())
    loss = _run_loss(smoothed_cross_entropy, z.clone(), y, eps)
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
        require(False, f"return a 0-d tensor (one number), got {loss!r}.")
    if not tensors_close(loss, F.cross_entropy(z, y, label_smoothing=eps)):
        _diagnose_loss(loss, z, y, eps)
    # The gradient, for a smoothed case.
    z = logits.clone().requires_grad_(True)
    loss = _run_loss(smoothed_cross_entropy, z, labels, 0.2)
    z_ref = logits.clone().requires_grad_(True)
    F.cross_entropy(z_ref, labels, label_smoothing=0.2).backward()
    if loss.requires_grad:
        loss.backward()
    require(
        z.grad is not None and tensors_close(z.grad, z_ref.grad),
        "the loss must be differentiable with respect to the logits: build it from torch "
        "operations on `logits` only (no .detach(), .item() or numpy).",
    )
    # Numerical stability: with large logits, log(softmax(z)) underflows to -inf.
    big, label = torch.tensor([[200.0, 0.0, -200.0]]), torch.tensor([0])
    loss = _run_loss(smoothed_cross_entropy, big, label, 0.1)
    require(
        bool(torch.isfinite(loss))
        and tensors_close(loss, F.cross_entropy(big, label, label_smoothing=0.1), atol=1e-3),
        "with large logits (e.g. 200) the loss must stay finite: compute log-probabilities "
        "with torch.log_softmax, not torch.log(torch.softmax(...)), which underflows to -inf.",
    )
    passed("matches nn.CrossEntropyLoss(label_smoothing=eps) for eps = 0, 0.1, 0.3, gradient too.")


# --------------------------------------------------------------------------- exercise 2
def _ece_reference(
    confidence: torch.Tensor,
    correct: torch.Tensor,
    n_bins: int,
    weighted: bool = True,
    power: int = 1,
    right_closed: bool = True,
    top_in_last: bool = False,
) -> float:
    """Expected calibration error with equal-width confidence bins (lo, hi], written by hand.

    confidence: (N,) in [0, 1]; correct: (N,) bool, whether each prediction was right.
    `weighted=False`, `power=2` and `right_closed=False` (bins [lo, hi), where 1.0 falls in no
    bin, or with `top_in_last` in the last one, as floor(confidence * n_bins) clamped does) give
    common mistakes, so that the check can name them.
    """
    correct, gaps, n = correct.double(), [], len(correct)
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        if right_closed:
            in_bin = (confidence > lo) & (confidence <= hi)
        else:
            in_bin = (confidence >= lo) & (confidence < hi)
            if top_in_last and b == n_bins - 1:
                in_bin |= confidence == 1
        if in_bin.any():
            gap = abs((correct[in_bin].mean() - confidence[in_bin].double().mean()).item())
            gaps.append((in_bin.sum().item() / n, gap**power))
    if not weighted:
        return sum(gap for _, gap in gaps) / len(gaps)
    return sum(w * gap for w, gap in gaps)


def _ece_cases() -> list[tuple[torch.Tensor, torch.Tensor, int, str]]:
    """(probs (N, K), labels (N,), n_bins, what the case is) for the calibration check."""
    g = torch.Generator().manual_seed(60)
    n, k = 2000, 4
    probs = (torch.randn(n, k, generator=g, dtype=torch.float64) * 1.5).softmax(dim=1)
    labels = torch.where(
        torch.rand(n, generator=g, dtype=torch.float64) < 0.6,
        probs.argmax(dim=1),
        torch.randint(0, k, (n,), generator=g),
    )
    # Confidences exactly on the edges of 4 bins (0.5, 0.75 and 1.0 are exact in binary):
    # with (lo, hi] the 0.75 shares (0.5, 0.75] with the 0.6, and the 1.0 shares (0.75, 1]
    # with the 0.8; with [lo, hi) they would land one bin up, or nowhere.
    edges = torch.tensor(
        [[0.75, 0.25, 0.0], [0.6, 0.4, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0], [0.5, 0.3, 0.2]]
    )
    return [
        (torch.tensor([[0.8, 0.2]] * 10), torch.tensor([0, 1] * 5), 10, "hand-made"),
        (
            torch.tensor([[0.95, 0.05]] * 6 + [[0.55, 0.45]] * 2),
            torch.tensor([0] * 6 + [1] * 2),
            10,
            "hand-made",
        ),
        (edges, torch.tensor([0, 1, 0, 1, 0]), 4, "on bin edges"),
        (probs, labels, 10, "random"),
        (probs, labels, 15, "random"),
        (probs, labels, 5, "random"),
    ]


def _diagnose_ece(value: float, p: torch.Tensor, y: torch.Tensor, n_bins: int) -> None:
    """Name the typical mistake behind a wrong ECE (always raises)."""
    require(
        not math.isnan(value),
        "your ECE is nan, most likely from a bin with no predictions: the mean accuracy and "
        "mean confidence of an empty bin are means of nothing (0 / 0). An empty bin has weight "
        "0 and adds nothing to the ECE: skip it.",
    )
    confidence, predicted = p.max(dim=1)
    correct = predicted == y
    true_class = p.gather(1, y[:, None])[:, 0]
    expected = _ece_reference(confidence, correct, n_bins)
    mistakes = [
        (100 * expected, "return a fraction between 0 and 1, not a percentage."),
        *(
            (
                _ece_reference(confidence, correct, n_bins, right_closed=False, top_in_last=top),
                "a confidence exactly on a bin edge belongs to the bin BELOW it: the bins are "
                "(lo, hi], open at the bottom and closed at the top, so 1.0 is in the last bin.",
            )
            for top in (False, True)
        ),
        (
            _ece_reference(confidence, correct, n_bins, weighted=False),
            (
                "weight each bin's gap by the fraction of predictions that fall in it; a plain "
                "average over bins lets a nearly empty bin count as much as a full one."
            ),
        ),
        (
            _ece_reference(confidence, correct, n_bins, power=2),
            "use the absolute gap |accuracy - confidence|, not its square.",
        ),
        (
            _ece_reference(true_class, correct, n_bins),
            (
                "the confidence of a prediction is its LARGEST probability (the predicted class), "
                "not the probability of the true class."
            ),
        ),
        (
            _ece_reference(confidence, correct, 10),
            "use the `n_bins` argument: the bins are n_bins equal-width intervals of [0, 1].",
        ),
    ]
    for wrong, hint in mistakes:
        require(not math.isclose(value, wrong, rel_tol=1e-5, abs_tol=1e-6), hint)
    require(
        False,
        f"for n_bins={n_bins} your ECE is {value:.4f}: compare, bin by bin, the accuracy of the "
        "predictions in the bin with their mean confidence (for 10 predictions at confidence "
        "0.8, half of them right, the ECE is 0.3).",
    )


# The course computes the ECE itself (`metrics.expected_calibration_error`, and the bins of
# `metrics.calibration_bins`, which `viz` draws): the exercise is to write it.
_NO_COURSE_ECE = Forbidden(
    "the expected calibration error",
    targets=(metrics, train, viz, widgets),
    advice="bin the confidences yourself with tensor operations",
)


def _random_ece_case(seed: int) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """Predictions of a size, class count and bin count nobody knows in advance, a quarter of
    them with a confidence exactly on a bin edge: any edge b / n_bins when n_bins is a power of
    two (exact in binary, however the learner computes the edges), else the top edge 1.0."""
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(20, 400, (1,), generator=g))
    k = int(torch.randint(2, 8, (1,), generator=g))
    n_bins = int(torch.randint(2, 21, (1,), generator=g))
    probs = (torch.randn(n, k, generator=g, dtype=torch.float64) * 2).softmax(dim=1)
    # Rows whose top probability is exactly an edge (above 1 / k so that it stays the largest):
    # the rest of the mass spread evenly over the other classes.
    edges = torch.arange(1, n_bins + 1, dtype=torch.float64) / n_bins
    if n_bins & (n_bins - 1):  # not a power of two: b / n_bins is rounded, and so are edges
        edges = edges[-1:]
    edges = edges[edges * k > 1 + 1e-9]
    if len(edges):
        rows = torch.randperm(n, generator=g)[: n // 4]
        top = edges[torch.randint(0, len(edges), (len(rows),), generator=g)]
        probs[rows] = ((1 - top) / (k - 1))[:, None].expand(-1, k).clone()
        cls = torch.randint(0, k, (len(rows),), generator=g)
        probs[rows, cls] = top
    # Right with a probability that swings above and below the confidence as it grows, so that
    # the gaps change sign from bin to bin and the ECE depends on the binning (with a constant
    # sign every binning gives |mean accuracy - mean confidence|).
    confidence, predicted = probs.max(dim=1)
    right = torch.rand(n, generator=g, dtype=torch.float64) < 0.5 + 0.5 * torch.sin(9 * confidence)
    other = (predicted + torch.randint(1, k, (n,), generator=g)) % k
    labels = torch.where(right, predicted, other)
    return probs, labels, n_bins, "random (of a size drawn on this run)"


def calibration_error(expected_calibration_error: Callable) -> None:
    """Check `expected_calibration_error(probs, labels, n_bins)` -> float on hand-made cases,
    on confidences exactly on bin edges, and on random predictions, against an independent
    computation.

    probs: (N, K) rows summing to 1; labels: (N,) int64. ECE = sum over bins of
    (bin count / N) * |accuracy in bin - mean confidence in bin|, with n_bins equal-width bins
    (lo, hi] of the confidence (the largest probability of each row).
    """
    for p, y, n_bins, what in [*_ece_cases(), _random_ece_case(unseen_seed())]:
        value = call_learner(
            expected_calibration_error,
            p.clone(),
            y.clone(),
            n_bins,
            hint=f"expected_calibration_error failed on {len(y)} {what} predictions with "
            f"n_bins={n_bins}",
            forbidden=_NO_COURSE_ECE,
        )
        require(
            is_number(value) or (isinstance(value, torch.Tensor) and value.numel() == 1),
            f"return one number (a float), got {type(value).__name__}.",
        )
        value = float(value)
        confidence, predicted = p.max(dim=1)
        expected = _ece_reference(confidence, predicted == y, n_bins)
        if not math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-6):
            _diagnose_ece(value, p, y, n_bins)
    passed(
        "your ECE matches an independent computation on hand-made predictions, on confidences "
        "exactly on bin edges, and on random predictions."
    )
