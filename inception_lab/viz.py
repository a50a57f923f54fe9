"""Figures for the course: costs, block diagrams, receptive fields, training curves, calibration.

Every function returns a matplotlib `Figure` (made with pyplot, so a notebook cell that ends with
`plt.show()` displays it) and works headless with the Agg backend. Counts come from
`inception_lab.profile`; axes name their unit: parameters, or MACs (multiply-accumulates,
1 MAC = 2 FLOPs).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
from torch import nn

from . import profile
from .blocks import ConvBNAct, SplitConv

# --------------------------------------------------------------------------- number formats
_SCALES = ((1e9, "billions", "G"), (1e6, "millions", "M"), (1e3, "thousands", "K"))


def _short(value: float) -> str:
    """12_443_648 -> "12.4M"; 165_888 -> "166K"; 32 -> "32" (for bar labels)."""
    for div, _, suffix in _SCALES:
        if abs(value) >= div:
            m = value / div
            return (f"{m:.3g}" if m < 100 else f"{m:.0f}") + suffix
    return f"{value:,.0f}"


def _count_axis(axis, values: Sequence[float], what: str) -> None:
    """Label an axis of counts in a readable scale: "MACs per image (millions)", ticks "1,500"."""
    top = max((abs(v) for v in values), default=0)
    div, word = next(((d, w) for d, w, _ in _SCALES if top >= 10 * d), (1, ""))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / div:,.4g}"))
    axis.set_label_text(f"{what} ({word})" if word else what)


def _log_count_axis(axis, what: str) -> None:
    axis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    axis.set_label_text(f"{what} (log scale; K = thousand, M = million, G = billion)")


def _hwc(input_size: Sequence[int]) -> str:
    c, h, w = tuple(input_size)[-3:]
    return f"{h}x{w}x{c}"


# --------------------------------------------------------------------------- cost figures
def plot_branch_costs(
    block_a: nn.Module,
    block_b: nn.Module | None,
    input_size: Sequence[int],
    labels: Sequence[str] | None = None,
) -> Figure:
    """Parameters and MACs per branch of two blocks side by side (e.g. naive versus reduced).

    Both blocks run on the same input of `input_size` (C, H, W); `block_b=None` shows one block.
    Left: parameters per branch; right: MACs per image per branch; one bar per branch and block,
    labelled with its value. The legend gives each block's total.
    """
    blocks = [b for b in (block_a, block_b) if b is not None]
    if labels is None:
        labels = [type(b).__name__ for b in blocks]
        if len(set(labels)) < len(labels):
            labels = [f"{name} {i + 1}" for i, name in enumerate(labels)]
    labels = list(labels)
    if len(labels) != len(blocks):
        raise ValueError(f"need one label per block ({len(blocks)}), got {labels!r}")
    tables = [profile.branch_costs(b, input_size) for b in blocks]
    names = list(dict.fromkeys(n for t in tables for n in t.names))  # union, in order
    x = np.arange(len(names))
    width = 0.8 / len(tables)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, key, what in zip(axes, ("params", "macs"), ("parameters", "MACs per image")):
        for i, (table, label) in enumerate(zip(tables, labels, strict=True)):
            xs = [x[names.index(n)] + (i - (len(tables) - 1) / 2) * width for n in table.names]
            values = [row[key] for row in table]
            bars = ax.bar(xs, values, width, label=f"{label}: {_short(table.total[key])} total")
            ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=2)
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_xlabel("branch")
        _count_axis(ax.yaxis, [r[key] for t in tables for r in t], what)
        ax.set_title(f"{what.split()[0]} per branch")
        ax.margins(y=0.15)
        ax.legend(fontsize=8)
    fig.suptitle(f"Cost per branch on a {_hwc(input_size)} input: " + " vs ".join(labels))
    return fig


def plot_layer_costs(model: nn.Module, input_size: Sequence[int]) -> Figure:
    """Where do the parameters and the MACs of a model live? One bar per layer (child module).

    Two horizontal bar charts sharing the layer axis (first layer at the top): parameters, and
    MACs per image, each bar labelled with its share of the total. From `profile.cost_table`.
    """
    table = profile.cost_table(model, input_size)
    names = table.names
    y = np.arange(len(names))
    fig, axes = plt.subplots(
        1, 2, figsize=(11, 0.9 + 0.28 * len(names)), sharey=True, layout="constrained"
    )
    for ax, key, what, color in zip(
        axes, ("params", "macs"), ("parameters", "MACs per image"), ("C0", "C1"), strict=True
    ):
        values = [row[key] for row in table]
        total = table.total[key] or 1
        bars = ax.barh(y, values, color=color)
        ax.bar_label(bars, labels=[f"{v / total:.0%}" if v else "" for v in values], fontsize=7)
        _count_axis(ax.xaxis, values, what)
        ax.set_title(f"{what}: {table.total[key]:,} in total")
        ax.margins(x=0.12)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("layer (input at the top)")
    fig.suptitle(
        f"Where do the parameters and MACs of {profile.model_name(model)} live? "
        f"(input {_hwc(input_size)})"
    )
    return fig


def plot_stack_growth(stacks: Mapping[str, nn.Module], input_size: Sequence[int]) -> Figure:
    """What stacking blocks costs: width, parameters and MACs of each block of a stack, by depth.

    `stacks` maps a label to a stack (e.g. an `nn.Sequential` of Inception modules) whose
    children run one after the other on an input of `input_size` (C, H, W). Three panels, one
    line per stack, x = position of the child in the stack (1 = first): output channels,
    parameters, and MACs per image of that child. A stack of naive modules grows on all three;
    a stack of dimension-reduced modules stays flat. From `profile.cost_table`.
    """
    if not stacks:
        raise ValueError("plot_stack_growth needs at least one stack")
    tables = {label: profile.cost_table(stack, input_size) for label, stack in stacks.items()}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
    panels = (
        ("channels", "output channels"),
        ("params", "parameters per block"),
        ("macs", "MACs per image per block"),
    )
    for ax, (key, what) in zip(axes, panels, strict=True):
        values = []
        for label, table in tables.items():
            depth = np.arange(1, len(table) + 1)
            if key == "channels":  # output_size reads "HxWxC"
                ys = [int(row["output_size"].split("x")[-1]) for row in table]
            else:
                ys = [row[key] for row in table]
            ax.plot(depth, ys, marker="o", label=label)
            last = f"{ys[-1]:,}" if key == "channels" else _short(ys[-1])
            ax.annotate(last, (depth[-1], ys[-1]), xytext=(4, 4),
                        textcoords="offset points", fontsize=8)  # fmt: skip
            values += ys
        ax.set_xlabel("block in the stack (1 = first)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _count_axis(ax.yaxis, values, what)
        ax.margins(x=0.15, y=0.12)
        ax.set_ylim(bottom=0)
        ax.set_title(what[0].upper() + what[1:])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Stacking blocks on a {_hwc(input_size)} input: cost of each block, by depth")
    return fig


# torchvision models built without weights, counted at their native input size.
REFERENCE_MODELS = {
    "AlexNet": ("alexnet", {}, (3, 224, 224)),
    "VGG-16": ("vgg16", {}, (3, 224, 224)),
    "GoogLeNet": ("googlenet", {"aux_logits": False, "init_weights": False}, (3, 224, 224)),
    "ResNet-50": ("resnet50", {}, (3, 224, 224)),
    "Inception v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, (3, 299, 299)),
}


@functools.cache
def reference_costs(name: str) -> tuple[int, int]:
    """(parameters, MACs per image) of a torchvision reference model, counted live once.

    The model is built on the "meta" device: shapes and counts are exact, no arithmetic runs,
    no weights are downloaded. `name` is a key of `REFERENCE_MODELS`.
    """
    import torchvision

    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {name!r}; known: {list(REFERENCE_MODELS)}")
    builder, kwargs, input_size = REFERENCE_MODELS[name]
    with torch.device("meta"):
        model = getattr(torchvision.models, builder)(weights=None, **kwargs)
    return profile.count_params(model), profile.count_macs(model, input_size)


# The course's own models (inception_lab.models), at the input size each was designed for.
COURSE_MODELS = {
    "googlenet": (3, 224, 224),
    "bn_inception": (3, 224, 224),
    "inception_v3": (3, 299, 299),
    "inception_resnet": (3, 299, 299),
    "mini_baseline": (3, 32, 32),
    "mini_naive": (3, 32, 32),
    "mini_googlenet": (3, 32, 32),
    "mini_bn_inception": (3, 32, 32),
    "mini_factorized": (3, 32, 32),
    "mini_inception_resnet": (3, 32, 32),
}


@functools.cache
def course_costs(name: str) -> tuple[int, int]:
    """(parameters, MACs per image) of a course model with its default arguments, at its
    native input size (`COURSE_MODELS`), counted live on the meta device once."""
    from . import models

    if name not in COURSE_MODELS:
        raise ValueError(f"unknown course model {name!r}; known: {list(COURSE_MODELS)}")
    with torch.device("meta"):
        model = models.build(name)
    return profile.count_params(model), profile.count_macs(model, COURSE_MODELS[name])


def plot_cost_map(
    models: Mapping[str, tuple[nn.Module, Sequence[int]]] | None = None,
    include_reference: bool = True,
) -> Figure:
    """Parameters versus MACs per image, both on log axes, one labelled point per model.

    `models` maps a name to `(model, input_size)`, drawn as red squares; None (the default)
    means the course's models (`COURSE_MODELS`: full size at 224 or 299 pixels, minis at 32).
    `include_reference` adds torchvision's AlexNet, VGG-16, GoogLeNet, ResNet-50 and Inception
    v3 (grey circles) at their native input sizes. Everything is counted live (built on the
    meta device, cached in this process). Down and to the left is cheaper: GoogLeNet sits far
    below VGG-16 on both axes.
    """
    if models is None:
        costs = {name: course_costs(name) for name in COURSE_MODELS}
    else:
        costs = {}
        for name, entry in models.items():
            if not (isinstance(entry, tuple | list) and len(entry) == 2):
                raise ValueError(f"models[{name!r}] must be (model, input_size), got {entry!r}")
            model, input_size = entry
            costs[name] = (profile.count_params(model), profile.count_macs(model, input_size))
    if not costs and not include_reference:
        raise ValueError("nothing to plot: pass models or include_reference=True")
    points = []  # (name, params, macs, is_reference)
    if include_reference:
        points += [(n, *reference_costs(n), True) for n in REFERENCE_MODELS]
    points += [(n, params, macs, False) for n, (params, macs) in costs.items()]
    fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    for _, params, macs, ref in points:
        color, marker = ("0.55", "o") if ref else ("C3", "s")
        ax.scatter(macs, params, s=45, zorder=3, color=color, marker=marker)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.margins(0.25)
    _log_count_axis(ax.xaxis, "MACs per image")
    _log_count_axis(ax.yaxis, "parameters")
    ax.grid(True, which="major", alpha=0.3)
    handles = []
    if include_reference:
        handles.append(ax.scatter([], [], color="0.55", marker="o", label="torchvision reference"))
    if costs:
        handles.append(ax.scatter([], [], color="C3", marker="s", label="course models"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title("Parameters versus multiply-adds (1 MAC = 2 FLOPs)")
    _place_labels(ax, [(name, macs, params) for name, params, macs, _ in points])
    return fig


def plot_accuracy_vs_macs(
    results: Mapping[str, Mapping[str, float]],
    chance: float | None = None,
    highlight: Sequence[str] = (),
) -> Figure:
    """Accuracy versus MACs per image (log axis), one labelled point per model.

    `results` maps a label to a dict with at least "macs" (MACs per image) and "acc" (accuracy,
    a fraction in [0, 1]), e.g. one entry per model trained at the same budget. `chance` draws
    the accuracy of guessing as a dashed line; labels in `highlight` are drawn as red squares
    (e.g. your own design). Up and to the left is better: more accurate for less computation.
    """
    if not results:
        raise ValueError("plot_accuracy_vs_macs needs at least one result")
    for label, r in results.items():
        if not isinstance(r, Mapping) or "macs" not in r or "acc" not in r:
            raise ValueError(f"results[{label!r}] must be a dict with 'macs' and 'acc', got {r!r}")
        if not (r["macs"] > 0 and 0 <= r["acc"] <= 1):
            raise ValueError(
                f"results[{label!r}]: macs must be > 0 and acc a fraction in [0, 1], "
                f"got macs={r['macs']!r}, acc={r['acc']!r}"
            )
    unknown = [h for h in highlight if h not in results]
    if unknown:
        raise ValueError(f"highlight names unknown results {unknown}; known: {list(results)}")
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    for label, r in results.items():
        mine = label in highlight
        ax.scatter(r["macs"], r["acc"], s=55 if mine else 45, zorder=3,
                   color="C3" if mine else "C0", marker="s" if mine else "o")  # fmt: skip
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=1)
        ax.annotate(f"chance ({chance:.0%})", (0.01, chance), xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", fontsize=8, color="0.4")  # fmt: skip
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.12)
    _log_count_axis(ax.xaxis, "MACs per image")
    lo, hi = ax.get_xlim()
    if hi / lo < 30:  # a narrow range has few decade ticks: label the minor ticks (2M, 3M, ...)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("accuracy")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title("Accuracy versus multiply-adds (1 MAC = 2 FLOPs)")
    _place_labels(ax, [(label, r["macs"], r["acc"]) for label, r in results.items()])
    return fig


# Where a label may go, in points from its dot: right, left, above, below, further out.
_LABEL_SPOTS = [(6, 3, "left"), (-6, 3, "right"), (6, -11, "left"), (-6, -11, "right"),
                (0, 9, "center"), (0, -17, "center"), (6, 14, "left"), (6, -22, "left"),
                (-6, 14, "right"), (-6, -22, "right")]  # fmt: skip


def _place_labels(ax: Axes, labels: list[tuple[str, float, float]]) -> None:
    """Annotate points so that no label covers another label or a point (greedy: each label
    takes the first free spot around its point; if none is free, the first spot)."""
    fig = ax.figure
    fig.draw_without_rendering()  # settle the layout first: it moves the points
    renderer = fig.canvas.get_renderer()
    dots = [ax.transData.transform((x, y)) for _, x, y in labels]
    taken = []
    for name, x, y in labels:
        text = ax.annotate(name, (x, y), (0, 0), textcoords="offset points", fontsize=9)
        for dx, dy, ha in _LABEL_SPOTS:
            text.set_position((dx, dy))
            text.set_horizontalalignment(ha)
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            hits_label = any(box.overlaps(other) for other in taken)
            hits_dot = any(box.contains(px, py) for px, py in dots)
            if not hits_label and not hits_dot:
                break
        else:
            text.set_position(_LABEL_SPOTS[0][:2])
            text.set_horizontalalignment(_LABEL_SPOTS[0][2])
        taken.append(text.get_window_extent(renderer))


# --------------------------------------------------------------------------- block diagrams
_COLORS = {
    "1x1": "#fff2b3",
    "conv": "#cfe3ff",
    "pool": "#ffd6cc",
    "join": "#d6f0d2",
    "io": "#eeeeee",
}


def _box(ax: Axes, x: float, y: float, w: float, text: str, kind: str, h: float = 0.56) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=_COLORS[kind],
            edgecolor="0.3",
            linewidth=0.8,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    style = {"arrowstyle": "-|>", "color": "0.35", "lw": 0.8, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=style)


def _kind(label: str) -> str:
    return "pool" if "pool" in label else "1x1" if label.startswith("1x1") else "conv"


def _branch_layers(branch: nn.Module) -> list[list[str]]:
    """Labels of a branch's layers, input first; a SplitConv is one layer of two boxes."""
    layers = list(branch) if isinstance(branch, nn.Sequential) else [branch]
    quiet = (nn.BatchNorm2d, nn.ReLU, nn.Identity)
    return [
        [profile.describe_layer(m.split_1xn), profile.describe_layer(m.split_nx1)]
        if isinstance(m, SplitConv)
        else [profile.describe_layer(m)]
        for m in layers
        if not isinstance(m, quiet)
    ]


def _diagram(block: nn.Module) -> tuple[list[list[list[str]]], nn.Module | None, int, float]:
    """(box labels per branch column, the residual projection or None, rows, width)."""
    parts = profile.branches_of(block)
    project = getattr(block, "project", None) if hasattr(block, "scale") else None
    columns = [_branch_layers(m) for m in parts.values() if m is not project]
    rows = max(len(c) for c in columns) + 2 + (4 if project is not None else 0)
    width = sum(_column_width(c) for c in columns) + (0.45 if project is not None else 0)
    return columns, project, rows, width


def _column_width(layers: list[list[str]]) -> float:
    return 1.0 if max(len(labels) for labels in layers) == 1 else 1.9  # split convs need room


def draw_block(block: nn.Module, ax: Axes | None = None, title: str | None = None) -> Figure:
    """A block diagram drawn from the module itself, input at the bottom, as the papers draw it.

    Each branch of `block.branches` is a column of boxes labelled with kernel size and output
    channels ("1x1 conv, 64", "3x3 max pool", "1x7 conv, 160"; "/2" marks stride 2), all
    joined at a "concat" box; a v3-C split conv is two boxes side by side. An
    `InceptionResNetBlock` continues with its linear 1x1 projection, the "x scale" box, the "+"
    with the shortcut from the input, and the ReLU. Draws into `ax` if given (then the figure
    of `ax` is returned); otherwise makes a figure sized to the block.
    """
    _, _, rows, width = _diagram(block)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.75 * width + 0.4, 0.75 * rows + 0.4))
    _draw_block(ax, block, title, rows)
    return ax.figure


def _draw_block(ax: Axes, block: nn.Module, title: str | None, total_rows: int) -> None:
    columns, project, rows, width = _diagram(block)
    depth = rows - 2 - (4 if project is not None else 0)  # rows of branch boxes
    in_ch, out_ch = getattr(block, "in_ch", None), getattr(block, "out_ch", None)
    left = 0.45 if project is not None else 0.0  # room for the shortcut line
    ax.set_xlim(-0.05, width + 0.05)
    ax.set_ylim(-0.6, total_rows - 0.4)  # same scale for every block drawn side by side
    ax.axis("off")
    mid, span = left + (width - left) / 2, width - left - 0.2
    _box(ax, mid, 0, span, "input" + (f", {in_ch} channels" if in_ch else ""), "io")
    concat_y = depth + 1
    x0 = left
    for layers in columns:
        col = _column_width(layers)
        cx, x0 = x0 + col / 2, x0 + col
        below = [cx]  # x of the boxes feeding the next one (the input box, at first)
        for r, labels in enumerate(layers):
            y = depth - len(layers) + 1 + r  # align every branch to the top, next to the concat
            w = (col - 0.14) / len(labels) - 0.02 * (len(labels) - 1)
            xs = [cx + (k - (len(labels) - 1) / 2) * (w + 0.04) for k in range(len(labels))]
            for bx, label in zip(xs, labels, strict=True):
                _box(ax, bx, y, w, label, _kind(label))
                for sx in below:
                    _arrow(ax, (sx, 0.28 if r == 0 else y - 0.72), (bx, y - 0.28))
            below = xs
        for sx in below:
            _arrow(ax, (sx, depth + 0.28), (cx, concat_y - 0.28))
    concat_ch = project.in_ch if project is not None else out_ch
    _box(ax, mid, concat_y, span, "concat" + (f", {concat_ch}" if concat_ch else ""), "join")

    if project is not None:
        y = concat_y
        for label, kind in [
            (profile.describe_layer(project), "1x1"),
            (f"x {block.scale:g} (scale)", "join"),
        ]:
            _arrow(ax, (mid, y + 0.28), (mid, y + 0.72))
            y += 1
            _box(ax, mid, y, min(span, 2.4), label, kind)
        y += 1
        if getattr(block, "residual", True):
            _arrow(ax, (mid, y - 0.72), (mid, y - 0.2))
            ax.text(
                mid,
                y,
                "+",
                ha="center",
                va="center",
                fontsize=12,
                fontweight="bold",
                bbox={"boxstyle": "circle,pad=0.15", "facecolor": _COLORS["join"]},
            )
            # The shortcut: from the input, up the left side, into the "+".
            ax.plot([left + 0.1, 0.2, 0.2], [0, 0, y], color="0.35", lw=0.8)
            _arrow(ax, (0.2, y), (mid - 0.2, y))
            ax.text(
                0.25,
                y / 2,
                "shortcut (identity)",
                rotation=90,
                fontsize=7,
                va="center",
                ha="left",
                color="0.35",
            )
        else:
            ax.text(mid, y, "(no shortcut)", ha="center", va="center", fontsize=8, color="0.35")
        _arrow(ax, (mid, y + 0.2), (mid, y + 0.72))
        _box(ax, mid, y + 1, 1.2, "ReLU", "io")
    if title is None:
        title = type(block).__name__ + (f": {in_ch} → {out_ch} channels" if in_ch else "")
    ax.set_title(title, fontsize=10)


def draw_blocks(blocks: Sequence[nn.Module], titles: Sequence[str] | None = None) -> Figure:
    """Several block diagrams side by side, on one scale (e.g. naive, reduced, factorized,
    residual); `titles` replaces the default titles (class name and channels)."""
    blocks = list(blocks)
    if not blocks:
        raise ValueError("draw_blocks needs at least one block")
    if titles is not None and len(titles) != len(blocks):
        raise ValueError(f"need one title per block ({len(blocks)}), got {len(titles)}")
    layouts = [_diagram(b) for b in blocks]
    widths = [width for *_, width in layouts]
    rows = max(r for _, _, r, _ in layouts)
    fig, axes = plt.subplots(
        1,
        len(blocks),
        figsize=(1.75 * sum(widths) + 0.4 * len(blocks), 0.75 * rows + 0.6),
        gridspec_kw={"width_ratios": widths},
        layout="constrained",
        squeeze=False,
    )
    for i, (ax, block) in enumerate(zip(axes[0], blocks, strict=True)):
        _draw_block(ax, block, None if titles is None else titles[i], rows)
    return fig


# --------------------------------------------------------------------------- receptive field
_RF_LEAVES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, ConvBNAct)


def _stack_specs(layers: Sequence[Any]) -> list[tuple[tuple[int, int], tuple[int, int], bool]]:
    """(kernel, stride, is_conv) per layer of a stack given as `profile.receptive_field` takes
    it, but one layer per item: kernel sizes, (kernel, stride) pairs, single convs or pools."""
    if isinstance(layers, nn.Module | str) or not isinstance(layers, Sequence) or not layers:
        raise ValueError(f"a stack must be a non-empty list of layers, got {layers!r}")
    specs = []
    for item in layers:
        if isinstance(item, nn.Module) and not isinstance(item, _RF_LEAVES):
            raise ValueError(  # noqa: TRY004 (a ValueError for every bad argument)
                f"plot one layer per item (a conv or a pool), got {type(item).__name__}"
            )
        rf = profile.receptive_field([item])  # validates; for one layer: (kernel, stride)
        is_conv = not isinstance(item, nn.MaxPool2d | nn.AvgPool2d)
        specs.append((rf.size, rf.jump, is_conv))
    return specs


def _coverage(specs) -> np.ndarray:
    """For one output pixel: how many paths through the stack reach each input pixel.

    A single 1 pushed backwards through each layer as a transposed convolution with an all-ones
    kernel; the nonzero area is the receptive field.
    """
    x = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    for (kh, kw), stride, _ in reversed(specs):
        x = F.conv_transpose2d(x, torch.ones(1, 1, kh, kw, dtype=torch.float64), stride=stride)
    return x[0, 0].numpy()


def plot_receptive_field(
    stacks: Mapping[str, Sequence[Any]] | None = None, margin: int = 1
) -> Figure:
    """Which input pixels one output pixel sees, for several stacks of layers side by side.

    `stacks` maps a title to a list of layers, one per item: a kernel size (stride 1), a
    (kernel, stride) pair with kernel an int or (kh, kw), or a single conv / pool module.
    Default: one 5x5 conv, two stacked 3x3 convs, and a 1x5 conv followed by a 5x1 conv.
    Each panel is a grid of input pixels: coloured cells are the receptive field (outlined),
    and the number in a cell counts the paths from the output pixel to it - stacked small
    kernels see the same window as one big kernel but weight its centre more. Panel titles give
    the window and the conv weights per (input, output) channel pair.
    """
    if stacks is None:
        stacks = {
            "one 5x5 conv": [5],
            "two 3x3 convs": [3, 3],
            "1x5 conv, then 5x1 conv": [((1, 5), 1), ((5, 1), 1)],
        }
    if not stacks:
        raise ValueError("plot_receptive_field needs at least one stack of layers")
    specs = {name: _stack_specs(layers) for name, layers in stacks.items()}
    maps = {name: _coverage(s) for name, s in specs.items()}
    side = max(max(m.shape) for m in maps.values()) + 2 * margin
    fig, axes = plt.subplots(
        1, len(maps), figsize=(3.4 * len(maps), 3.8), squeeze=False, layout="constrained"
    )
    for ax, (name, paths) in zip(axes[0], maps.items(), strict=True):
        grid = np.zeros((side, side))
        h, w = paths.shape
        top, left = (side - h) // 2, (side - w) // 2
        grid[top : top + h, left : left + w] = paths
        ax.imshow(np.ma.masked_equal(grid, 0), cmap="Blues", vmin=0, vmax=grid.max() * 1.15)
        for (r, c), v in np.ndenumerate(grid):
            if v:
                ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=8)
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=2, color="C3"))
        ax.set_xticks(np.arange(-0.5, side, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, side, 1), minor=True)
        ax.grid(which="minor", color="0.8", lw=0.6)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        weights = sum(kh * kw for (kh, kw), _, conv in specs[name] if conv)
        ax.set_title(f"{name}\nwindow {h}x{w}, {weights} weights per channel pair", fontsize=9)
        ax.set_xlabel("input pixels (numbers: paths to the output pixel)", fontsize=8)
    fig.suptitle("Receptive field of one output pixel")
    return fig


# --------------------------------------------------------------------------- training curves
_METRIC_LABELS = {
    "loss": "loss (cross-entropy)",
    "acc": "accuracy",
    "lr": "learning rate",
    "seconds": "seconds per epoch",
    "images_per_s": "training images per second",
}


def plot_history(history_or_dict: Any, metrics: Sequence[str] = ("loss", "acc")) -> Figure:
    """Training curves from `train.History` (or a dict `{label: History}` to compare runs).

    One panel per metric: for "loss" and "acc", training (solid) and validation (dashed) per
    epoch; any other record key (e.g. "lr") is drawn as it is. A diverged run is drawn up to
    where it stopped and marked with an "x" at the step where the loss became non-finite.
    """
    runs = dict(history_or_dict) if isinstance(history_or_dict, Mapping) else {"": history_or_dict}
    if not runs:
        raise ValueError("plot_history needs at least one History")
    for label, h in runs.items():
        if not hasattr(h, "records"):
            raise ValueError(
                f"expected a History (with .records) or a dict of them, got {type(h).__name__}"
                + (f" for {label!r}" if label else "")
            )
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(5 * len(metrics), 3.8), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        markers = []  # diverged runs, drawn once the finite curves have set the axis range
        for i, (label, h) in enumerate(runs.items()):
            color = f"C{i % 10}"
            epochs = [r["epoch"] for r in h.records]
            split = metric in ("loss", "acc")
            keys = [f"train_{metric}", f"val_{metric}"] if split else [metric]
            for key, style in zip(keys, ("-", "--"), strict=False):
                ys = [r.get(key) for r in h.records]
                if not any(y is not None for y in ys):
                    continue
                ys = [np.nan if y is None else y for y in ys]
                name = key.split("_")[0] if split else key
                ax.plot(epochs, ys, style, color=color, marker=".", label=f"{label} {name}".strip())
            diverged = getattr(h, "diverged", None)
            if diverged and metric == "loss":
                steps = diverged.get("steps_per_epoch") or 1
                x = diverged["epoch"] - 1 + diverged.get("step", steps) / steps
                markers.append((x, diverged.get("last_finite_loss"), color, label, diverged))
        top = ax.get_ylim()[1] if ax.lines else None
        for x, y, color, label, diverged in markers:
            if y is None or not np.isfinite(y):
                y = ax.get_ylim()[1]
            elif top is not None and y > 10 * abs(top):
                # A loss that exploded (1e20 before the NaN) would squash every curve to a flat
                # line: pin the marker to the top of the curves' range and print its value.
                ax.annotate(f"loss {y:.3g}", (x, top), xytext=(6, -12), fontsize=7,
                            textcoords="offset points", color=color)  # fmt: skip
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


# --------------------------------------------------------------------------- calibration
def _probs_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
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
    the top probability; predictions fall into `n_bins` equal-width bins (lo, hi] of confidence.
    Returns numpy arrays of length `n_bins` - `confidence` (mean confidence in the bin, NaN if
    empty), `accuracy` (fraction correct, NaN if empty), `count` - plus `edges` (n_bins + 1) and
    `ece` = sum over bins of count / N * |accuracy - confidence| (Guo et al. 2017).
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p, y = _probs_labels(probs, labels)
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == y).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(idx, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(idx, weights=correct, minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / len(y) * np.abs(accuracy[filled] - confidence[filled])))
    return {
        "ece": ece,
        "confidence": confidence,
        "accuracy": accuracy,
        "count": count,
        "edges": edges,
    }


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
def smoothed_target(num_classes: int, eps: float, true_class: int = 0) -> torch.Tensor:
    """The label-smoothed target: (1 - eps) * one_hot + eps / num_classes (v3 paper, sec. 7)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not 0 <= eps <= 1:
        raise ValueError(f"eps must be in [0, 1], got {eps!r}")
    if not 0 <= true_class < num_classes:
        raise ValueError(f"true_class must be in [0, {num_classes}), got {true_class!r}")
    target = torch.full((num_classes,), eps / num_classes, dtype=torch.float64)
    target[true_class] += 1 - eps
    return target


def smoothing_loss_curve(
    num_classes: int, eps: float, logits: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss against the true-class logit z, all other logits 0: returns (z, loss).

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
