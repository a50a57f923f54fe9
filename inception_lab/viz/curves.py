"""Training curves: loss, accuracy and any other per-epoch record of one or several runs.

`plot_history` takes what the training engine records (a `train.History`, its list of records,
or a dict of either to compare runs); it only reads `.records` and `.diverged`, so the engine
does not need this module to train.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

_METRIC_LABELS = {
    "loss": "loss (cross-entropy)",
    "acc": "accuracy",
    "lr": "learning rate",
    "seconds": "seconds per epoch",
    "images_per_s": "training images per second",
}


class _Run:
    """What a figure needs from one training run: its records and where it diverged."""

    def __init__(self, records: Sequence[Mapping[str, Any]], diverged: Mapping | None = None):
        self.records, self.diverged = list(records), diverged


def _as_run(run: Any, label: str) -> _Run:
    """A `train.History` (anything with `.records`) or a list of record dicts, as a `_Run`."""
    if hasattr(run, "records"):
        return _Run(run.records, getattr(run, "diverged", None))
    if isinstance(run, Sequence) and all(isinstance(r, Mapping) and "epoch" in r for r in run):
        return _Run(run)
    raise ValueError(
        "expected a History (with .records), a list of per-epoch record dicts, or a dict of "
        f"them, got {type(run).__name__}" + (f" for {label!r}" if label else "")
    )


def _as_runs(history_or_dict: Any) -> dict[str, _Run]:
    if isinstance(history_or_dict, Mapping) and not hasattr(history_or_dict, "records"):
        runs = {label: _as_run(h, label) for label, h in history_or_dict.items()}
    else:
        runs = {"": _as_run(history_or_dict, "")}
    if not runs:
        raise ValueError("plot_history needs at least one History")
    return runs


def _plot_curves(ax, run: _Run, metric: str, label: str, color: str) -> None:
    """Training (solid) and validation (dashed) curves of "loss"/"acc"; other keys as they are."""
    epochs = [r["epoch"] for r in run.records]
    split = metric in ("loss", "acc")
    keys = [f"train_{metric}", f"val_{metric}"] if split else [metric]
    for key, style in zip(keys, ("-", "--"), strict=False):
        ys = [r.get(key) for r in run.records]
        if not any(y is not None for y in ys):
            continue
        ys = [np.nan if y is None else y for y in ys]
        name = key.split("_")[0] if split else key
        ax.plot(epochs, ys, style, color=color, marker=".", label=f"{label} {name}".strip())


def _mark_divergence(ax, markers: list) -> None:
    """An "x" where each diverged run stopped, drawn once the finite curves set the axis range."""
    top = ax.get_ylim()[1] if ax.lines else None
    for x, y, color, label, diverged in markers:
        if y is None or not np.isfinite(y):
            y = ax.get_ylim()[1]
        elif top is not None and y > 10 * abs(top):
            # A loss that exploded (1e20 before the NaN) would squash every curve to a flat
            # line: pin the marker to the top of the curves' range and print its value.
            ax.annotate(
                f"loss {y:.3g}",
                (x, top),
                xytext=(6, -12),
                fontsize=7,
                textcoords="offset points",
                color=color,
            )
            y = top
        ax.plot(
            [x],
            [y],
            "x",
            color=color,
            markersize=10,
            mew=2,
            clip_on=False,
            label=f"{label} diverged (epoch {diverged['epoch']})".strip(),
        )


def plot_history(history_or_dict: Any, metrics: Sequence[str] = ("loss", "acc")) -> Figure:
    """Training curves of a run: a `train.History`, its `.records` (a list of per-epoch dicts
    with "epoch", "train_loss", "val_acc", ...), or a dict `{label: run}` to compare runs.

    One panel per metric: for "loss" and "acc", training (solid) and validation (dashed) per
    epoch; any other record key (e.g. "lr") is drawn as it is. A diverged run (a History whose
    `.diverged` is set) is drawn up to where it stopped and marked with an "x" at the step where
    the loss became non-finite.
    """
    runs = _as_runs(history_or_dict)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        markers = []
        for i, (label, run) in enumerate(runs.items()):
            color = f"C{i % 10}"
            _plot_curves(ax, run, metric, label, color)
            if run.diverged and metric == "loss":
                d = run.diverged
                steps = d.get("steps_per_epoch") or 1
                x = d["epoch"] - 1 + d.get("step", steps) / steps
                markers.append((x, d.get("last_finite_loss"), color, label, d))
        _mark_divergence(ax, markers)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
        if metric == "acc":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set_title(_METRIC_LABELS.get(metric, metric))
    return fig
