"""Figures of the experiment ledger: every seed as a point, the mean and spread as a bar.

They draw the summary rows of `experiments.summarize(ledger, metric)`: one row per configuration
label, with every seed's value ("values") and their "mean" and sample "sd". So a figure shows
exactly the numbers `experiments.table` and `experiments.compare` print, and `viz` never reads the
ledger itself (it sits beside `experiments` in docs/architecture.md, not above it):

    rows = experiments.summarize(ledger, "test_acc")
    viz.plot_seeds(rows, "test_acc", title="bottleneck: test accuracy over seeds")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

__all__ = ["plot_differences", "plot_seeds", "plot_seeds_by_scale"]

Rows = Mapping[str, Mapping[str, Any]]  # label -> {"values": [...], "mean": m, "sd": s, ...}
_ROW_KEYS = ("values", "mean", "sd")


def _check_rows(rows: Any, name: str = "rows") -> None:
    """Raise a TypeError unless `rows` is what `experiments.summarize` returns."""
    if isinstance(rows, Mapping) and "runs" in rows and "experiment" in rows:
        raise TypeError(
            f"{name} must be the summary rows of experiments.summarize(ledger, metric), "
            f"got the ledger of {rows['experiment']!r} itself"
        )
    if not isinstance(rows, Mapping) or not rows:
        raise TypeError(
            f"{name} must be a non-empty mapping label -> summary row (experiments.summarize), "
            f"got {type(rows).__name__}{' (empty)' if isinstance(rows, Mapping) else ''}"
        )
    for label, row in rows.items():
        if not isinstance(row, Mapping) or not all(key in row for key in _ROW_KEYS):
            raise TypeError(
                f"{name}[{label!r}] must be a summary row with keys {list(_ROW_KEYS)}, "
                f"got {sorted(row) if isinstance(row, Mapping) else type(row).__name__}"
            )


def _is_accuracy(metric: str) -> bool:
    """Accuracies are drawn in percent; ECE, temperatures, losses as numbers."""
    return metric.endswith("acc") or metric.startswith(("test_by_scale", "branch_ablation"))


def plot_seeds(
    rows: Rows,
    metric: str = "test_acc",
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """One column per configuration: each seed's value as a dot, the mean as a bar with the
    sample sd as an error bar.

    rows: `experiments.summarize(ledger, metric)`, label -> {"values", "mean", "sd", ...}.
    metric: what the rows measure; it names the y axis, and accuracies (`*acc`,
        `test_by_scale.*`, `branch_ablation.*`) are drawn in percent, other metrics (ECE,
        temperature, ...) as they are.
    labels: the configurations to draw, in the rows' order (default: all of them).
    """
    _check_rows(rows)
    labels = [label for label in rows if labels is None or label in labels]
    if not labels:
        raise ValueError(f"none of the labels is in the rows; they have {list(rows)}")
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
    slanted = len(labels) > 3
    ax.set_xticks(
        range(len(labels)),
        labels,
        rotation=20 if slanted else 0,
        ha="right" if slanted else "center",
    )
    values = [v for label in labels for v in rows[label]["values"]]
    if _is_accuracy(metric) and all(0 <= v <= 1 for v in values):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        low = min(values)
        ax.set_ylim(max(0.0, low - 0.1), min(1.0, max(values) + 0.05))
    ax.set_ylabel(metric.replace("_", " ").replace("acc", "accuracy"))
    ax.set_title(title or "every seed (dots), mean ± sd (bars)")
    if own_figure:  # a caller's figure keeps its own layout (e.g. constrained)
        fig.tight_layout()
    return fig


def plot_differences(
    differences: Mapping[str, Any], title: str | None = None, percent: bool = True
) -> Figure:
    """One row per comparison a - b: each seed's difference as a dot, the mean difference as a
    tick with its 95% interval as a bar, and zero as a line. A difference is shown when its bar
    does not cross the line (the verdict `experiments.compare` prints).

    differences: `experiments.differences(ledger)`, name -> an object with `differences`
        (per seed), `mean`, `low` and `high` (`experiments.paired_difference`'s result).
    percent: draw accuracy differences in points (x 100); False for ECE, NLL, temperatures.
    """
    if not isinstance(differences, Mapping) or not differences:
        raise TypeError(
            "differences must be a non-empty mapping name -> paired difference "
            f"(experiments.differences(ledger)), got {type(differences).__name__}"
        )
    for name, d in differences.items():
        if not all(hasattr(d, key) for key in ("differences", "mean", "low", "high")):
            raise TypeError(
                f"differences[{name!r}] must be a paired difference with .differences, .mean, "
                f".low and .high, got {type(d).__name__}"
            )
    scale = 100.0 if percent else 1.0
    names = list(differences)
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.2))
    for y, name in enumerate(names):
        d = differences[name]
        color = "C3" if d.low > 0 or d.high < 0 else "C7"
        if np.isfinite(d.low) and np.isfinite(d.high):  # one seed has no interval
            ax.plot([scale * d.low, scale * d.high], [y, y], color=color, lw=4, alpha=0.45)
        ax.plot([scale * d.mean], [y], "|", color=color, ms=14, mew=2)
        ax.scatter([scale * v for v in d.differences], [y] * len(d.differences), color="k", s=12)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()  # the first comparison (the primary one) on top
    ax.set_xlabel("a - b, " + ("points" if percent else "difference") + " (dots: seeds)")
    ax.set_title(title or "paired differences: mean and 95% interval (red: excludes zero)")
    fig.tight_layout()
    return fig


def plot_seeds_by_scale(
    rows_by_scale: Mapping[str, Rows],
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Test accuracy per object size for each configuration: one panel per size, in the order
    given, every seed a dot, the mean ± sd a bar, all panels on one 0-100% axis.

    rows_by_scale: object size -> its summary rows, e.g. for the ledger's three sizes

        sizes = ("small", "medium", "large")
        {s: experiments.summarize(ledger, f"test_by_scale.{s}") for s in sizes}
    """
    if not isinstance(rows_by_scale, Mapping) or not rows_by_scale:
        raise TypeError(
            "rows_by_scale must map each object size to experiments.summarize(ledger, "
            f"'test_by_scale.<size>'), got {type(rows_by_scale).__name__}"
        )
    for scale, rows in rows_by_scale.items():
        _check_rows(rows, f"rows_by_scale[{scale!r}]")
    n = len(rows_by_scale)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.6), sharey=True, squeeze=False)
    for i, (ax, (scale, rows)) in enumerate(zip(axes[0], rows_by_scale.items(), strict=True)):
        plot_seeds(rows, f"test_by_scale.{scale}", labels, title=f"{scale} objects", ax=ax)
        ax.set_ylabel("test accuracy" if i == 0 else "")
    axes[0][0].set_ylim(0, 1)
    fig.suptitle(title or "test accuracy per object size over seeds")
    fig.tight_layout()
    return fig
