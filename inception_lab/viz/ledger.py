"""Figures of the experiment ledger: every seed as a point, the mean and spread as a bar.

The data is what `inception_lab.experiments.load(name)` returns; the statistics come from
`experiments.summarize`, so a figure shows exactly the numbers `experiments.report` prints.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

__all__ = ["plot_seeds", "plot_seeds_by_scale"]


def _summary(data: dict[str, Any], metric: str) -> dict[str, dict[str, Any]]:
    from inception_lab.experiments import summarize  # viz does not import the runner at import

    return summarize(data, metric)


def _is_accuracy(metric: str) -> bool:
    """Accuracies are drawn in percent; ECE, temperatures, losses as numbers."""
    return metric.endswith("acc") or metric.startswith(("test_by_scale", "branch_ablation"))


def plot_seeds(
    data: dict[str, Any],
    metric: str = "test_acc",
    labels: list[str] | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """One column per configuration: each seed's `metric` as a dot, the mean as a bar with the
    sample sd as an error bar. Accuracies (`*acc`, `test_by_scale.*`, `branch_ablation.*`) are
    drawn in percent; other metrics (ECE, temperature, ...) as they are."""
    rows = _summary(data, metric)
    labels = [label for label in rows if labels is None or label in labels]
    if not labels:
        raise ValueError(f"none of the labels is in the ledger; it has {list(rows)}")
    own_figure = ax is None
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(labels)), 3.4))
    fig = ax.figure
    for x, label in enumerate(labels):
        s = rows[label]
        sd = 0.0 if np.isnan(s["sd"]) else s["sd"]
        ax.bar(x, s["mean"], width=0.6, color="C0", alpha=0.25, yerr=sd, capsize=4)
        jitter = np.linspace(-0.12, 0.12, len(s["values"])) if len(s["values"]) > 1 else [0.0]
        ax.scatter(x + np.asarray(jitter), s["values"], color="C0", s=18, zorder=3)
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0, ha="right"
                  if len(labels) > 3 else "center")  # fmt: skip
    values = [v for label in labels for v in rows[label]["values"]]
    if _is_accuracy(metric) and all(0 <= v <= 1 for v in values):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        low = min(values)
        ax.set_ylim(max(0.0, low - 0.1), min(1.0, max(values) + 0.05))
    ax.set_ylabel(metric.replace("_", " ").replace("acc", "accuracy"))
    ax.set_title(title or f"{data['experiment']}: every seed (dots), mean ± sd (bars)")
    if own_figure:  # a caller's figure keeps its own layout (e.g. constrained)
        fig.tight_layout()
    return fig


def plot_seeds_by_scale(
    data: dict[str, Any], labels: list[str] | None = None, title: str | None = None
) -> Figure:
    """Test accuracy per object size (small / medium / large) for each configuration: one panel
    per size, every seed a dot, the mean ± sd a bar."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, scale in zip(axes, ("small", "medium", "large")):
        plot_seeds(data, f"test_by_scale.{scale}", labels, title=f"{scale} objects", ax=ax)
        ax.set_ylabel("test accuracy" if scale == "small" else "")
    axes[0].set_ylim(0, 1)
    fig.suptitle(title or f"{data['experiment']}: test accuracy per object size over seeds")
    fig.tight_layout()
    return fig
