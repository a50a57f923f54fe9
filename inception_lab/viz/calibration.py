"""Calibration and label smoothing: how confident a network is, and how smoothing changes it.

`plot_reliability` and `plot_confidence_hist` draw the statistics of `metrics.calibration_bins`;
`plot_label_smoothing` draws the smoothed target and the loss curve of `metrics` (Inception v3
paper, Szegedy et al. 2015, section 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ..metrics import calibration_bins, smoothed_target, smoothing_loss_curve, smoothing_optimum


def plot_reliability(probs: Any, labels: Any, n_bins: int = 10) -> Figure:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect
    calibration; red bars show the gap. ECE in the title; below, how many predictions per bin."""
    stats = calibration_bins(probs, labels, n_bins)
    edges, width = stats["edges"], 1 / n_bins
    centers = edges[:-1] + width / 2
    fig, (ax, ax_n) = plt.subplots(
        2,
        1,
        figsize=(5, 5.6),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 1]},
    )
    filled = stats["count"] > 0
    acc, conf = stats["accuracy"][filled], stats["confidence"][filled]
    ax.bar(centers[filled], acc, width, edgecolor="0.2", color="C0", label="accuracy")
    ax.bar(
        centers[filled],
        conf - acc,
        width,
        bottom=acc,
        color="C3",
        alpha=0.35,
        edgecolor="C3",
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy in the bin")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"Reliability diagram (ECE = {stats['ece']:.3f}, {n_bins} bins)")
    ax_n.bar(centers, stats["count"], width, color="0.6", edgecolor="0.3")
    ax_n.set_xlabel("confidence (top predicted probability)")
    ax_n.set_ylabel("predictions")
    ax_n.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return fig


def plot_confidence_hist(probs_dict: Mapping[str, Any], n_bins: int = 20) -> Figure:
    """Histogram of the top predicted probability for one or more models (e.g. trained with and
    without label smoothing), overlaid; the legend gives each model's mean confidence."""
    if not isinstance(probs_dict, Mapping) or not probs_dict:
        raise ValueError("probs_dict must be a non-empty dict {label: (N, num_classes) probs}")
    fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    bins = np.linspace(0, 1, n_bins + 1)
    for label, probs in probs_dict.items():
        p = torch.as_tensor(probs).detach().cpu().double().numpy()
        if p.ndim != 2:
            raise ValueError(f"probs for {label!r} must be (N, num_classes), got shape {p.shape}")
        conf = p.max(1)
        ax.hist(
            conf, bins=bins, alpha=0.5, edgecolor="0.2", label=f"{label} (mean {conf.mean():.2f})"
        )
    ax.set_xlabel("confidence (top predicted probability)")
    ax.set_ylabel("predictions")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(fontsize=8)
    ax.set_title("How confident are the predictions?")
    return fig


# --------------------------------------------------------------------------- label smoothing


def plot_label_smoothing(num_classes: int = 10, eps: float = 0.1) -> Figure:
    """Left: the smoothed target distribution (true class 0). Right: the loss against the
    true-class logit, with and without smoothing, and the minimum that smoothing creates."""
    target = smoothed_target(num_classes, eps)
    fig, (ax_t, ax_l) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    colors = ["C3"] + ["C0"] * (num_classes - 1)
    ax_t.bar(np.arange(num_classes), target.numpy(), color=colors)
    ax_t.set_xticks(np.arange(num_classes))
    ax_t.set_ylim(0, 1.05)
    ax_t.set_xlabel("class (red: the true class)")
    ax_t.set_ylabel("target probability")
    ax_t.set_title(
        f"Target: {1 - eps + eps / num_classes:.3g} for the true class, "
        f"{eps / num_classes:.3g} for each other"
    )
    z, loss0 = smoothing_loss_curve(num_classes, 0.0)
    _, loss = smoothing_loss_curve(num_classes, eps, z)
    ax_l.plot(z, loss0, "--", color="0.5", label="no smoothing (eps = 0)")
    ax_l.plot(z, loss, color="C3", label=f"eps = {eps:g}")
    if eps > 0:
        best = smoothing_optimum(num_classes, eps)
        if best <= float(z[-1]):
            ax_l.axvline(best, color="C3", lw=0.8, ls=":")
            ax_l.annotate(
                f"minimum at z = {best:.2f}",
                (best, ax_l.get_ylim()[1] * 0.9),
                xytext=(4, 0),
                textcoords="offset points",
                fontsize=8,
                color="C3",
            )
    ax_l.set_xlabel("true-class logit z (other logits 0)")
    ax_l.set_ylabel("cross-entropy loss")
    ax_l.legend(fontsize=8)
    ax_l.set_title("Loss as the true-class logit grows")
    fig.suptitle(f"Label smoothing with eps = {eps:g}, {num_classes} classes")
    return fig
