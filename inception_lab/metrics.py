"""The numbers behind the figures: accuracy, calibration, and the maths of label smoothing.

Nothing here draws: `viz` plots these results, `checks` and the tests compare with them.

- `accuracy`: top-k accuracy, as the papers report it (top-1 and top-5 error = 1 - accuracy).
- `calibration_bins` / `expected_calibration_error`: reliability statistics and the ECE (Guo et
  al. 2017) with equal-width confidence bins (lo, hi].
- `smoothed_target`, `smoothing_loss_curve`, `smoothing_optimum`: label smoothing (Inception v3
  paper, Szegedy et al. 2015, section 7).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._validate import check_int, check_number


# --------------------------------------------------------------------------- accuracy
def accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Fraction of rows whose true class is among the k highest scores (top-k accuracy).

    scores: (N, num_classes) logits or probabilities; labels: (N,) class indices. The papers'
    top-1 and top-5 *error* is `1 - accuracy(scores, labels, k)` for k = 1 and 5.
    """
    scores, labels = torch.as_tensor(scores), torch.as_tensor(labels)
    if scores.dim() != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must be (N, num_classes) with N > 0, got {tuple(scores.shape)}")
    if labels.shape != (scores.shape[0],):
        raise ValueError(f"labels must be ({scores.shape[0]},), got {tuple(labels.shape)}")
    check_int("k", k, maximum=scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return (top == labels[:, None]).any(dim=1).double().mean().item()


# --------------------------------------------------------------------------- calibration
def _probs_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated (N, K) float64 probabilities and (N,) integer labels, as numpy arrays."""
    p = torch.as_tensor(probs).detach().cpu().double().numpy()
    y = torch.as_tensor(labels).detach().cpu().numpy()
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"probs must be (N, num_classes) with N > 0, got shape {p.shape}")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be N = {p.shape[0]} class indices, got {y.dtype} {y.shape}")
    if (y < 0).any() or (y >= p.shape[1]).any():
        raise ValueError(f"labels must be in [0, {p.shape[1]}), got {y.min()}..{y.max()}")
    if (p < 0).any() or not np.allclose(p.sum(1), 1, atol=1e-3):
        raise ValueError("probs rows must be probabilities summing to 1: pass softmax(logits)")
    return p, y


def calibration_bins(probs: Any, labels: Any, n_bins: int = 10) -> dict[str, Any]:
    """Reliability statistics of predictions, and the expected calibration error (ECE).

    probs: (N, num_classes) predicted probabilities; labels: (N,) true classes. Confidence is
    the top probability; predictions fall into `n_bins` equal-width bins (lo, hi] of confidence
    (a confidence exactly on an edge belongs to the lower bin; 1.0 to the last).
    Returns numpy arrays of length `n_bins` - `confidence` (mean confidence in the bin, NaN if
    empty), `accuracy` (fraction correct, NaN if empty), `count` - plus `edges` (n_bins + 1) and
    `ece` = sum over bins of count / N * |accuracy - confidence| (Guo et al. 2017).
    """
    check_int("n_bins", n_bins)
    p, y = _probs_labels(probs, labels)
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == y).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    # side="left": a confidence equal to an edge gets that edge's index, so (lo, hi] after - 1.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy_ = np.bincount(idx, weights=correct, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / len(y) * np.abs(accuracy_[filled] - confidence[filled])))
    return {
        "ece": ece,
        "confidence": confidence,
        "accuracy": accuracy_,
        "count": count,
        "edges": edges,
    }


def expected_calibration_error(probs: Any, labels: Any, n_bins: int = 10) -> float:
    """The ECE of `calibration_bins`: probs (N, num_classes), labels (N,) -> a fraction."""
    return calibration_bins(probs, labels, n_bins)["ece"]


# --------------------------------------------------------------------------- label smoothing
def smoothed_target(num_classes: int, eps: float, true_class: int = 0) -> torch.Tensor:
    """The label-smoothed target (num_classes,), float64: (1 - eps) * one_hot + eps / num_classes
    (v3 paper, sec. 7)."""
    check_int("num_classes", num_classes, minimum=2)
    eps = check_number("eps", eps, 0, 1)
    check_int("true_class", true_class, minimum=0, maximum=num_classes - 1)
    target = torch.full((num_classes,), eps / num_classes, dtype=torch.float64)
    target[true_class] += 1 - eps
    return target


def smoothing_loss_curve(
    num_classes: int, eps: float, logits: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss against the true-class logit z, all other logits 0: returns (z, loss), both (L,).

    Computed with `F.cross_entropy(label_smoothing=eps)`. Without smoothing the loss keeps
    falling as z grows, so training pushes logits without bound; with eps > 0 it has a minimum
    at z* = log(1 + num_classes * (1 - eps) / eps) (see `smoothing_optimum`).
    """
    smoothed_target(num_classes, eps)  # validates
    z = torch.linspace(-2, 14, 321, dtype=torch.float64) if logits is None else logits.double()
    all_logits = torch.zeros(len(z), num_classes, dtype=torch.float64)
    all_logits[:, 0] = z
    labels = torch.zeros(len(z), dtype=torch.long)
    loss = F.cross_entropy(all_logits, labels, label_smoothing=eps, reduction="none")
    return z, loss


def smoothing_optimum(num_classes: int, eps: float) -> float:
    """The true-class logit (others 0) that minimises the smoothed loss; infinite for eps = 0."""
    smoothed_target(num_classes, eps)
    return float("inf") if eps == 0 else float(np.log1p(num_classes * (1 - eps) / eps))
