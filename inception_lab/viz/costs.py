"""Cost figures: where the parameters and the multiply-adds of a block or a network live.

Every function returns a matplotlib `Figure`; counts come from `inception_lab.profile`, and axes
name their unit: parameters, or MACs (multiply-accumulates, 1 MAC = 2 FLOPs). The reference
points of the cost map are torchvision's models, counted live on the meta device.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
from torch import nn

from .. import profile
from ..costtable import hwc as _hwc
from ..models import build as build_model
from ..models import list_models, model_spec

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
    for ax, key, what in zip(
        axes, ("params", "macs"), ("parameters", "MACs per image"), strict=True
    ):
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
            ax.annotate(
                last, (depth[-1], ys[-1]), xytext=(4, 4), textcoords="offset points", fontsize=8
            )
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


# The published networks of the cost map, counted at their native input size: label ->
# (library, builder, keyword arguments, input size). torchvision's builders run without weights;
# the Inception-v4 paper's three networks come from the course's own builders (`inception_lab`):
# `inception_v4` and `inception_resnet_v2` have exactly timm's counts (tests/test_models.py);
# Inception-ResNet-v1 was never released, so its point is the course's reading of the paper.
REFERENCE_MODELS = {
    "AlexNet": ("torchvision", "alexnet", {}, (3, 224, 224)),
    "VGG-16": ("torchvision", "vgg16", {}, (3, 224, 224)),
    "GoogLeNet": (
        "torchvision", "googlenet", {"aux_logits": False, "init_weights": False}, (3, 224, 224)
    ),
    "ResNet-50": ("torchvision", "resnet50", {}, (3, 224, 224)),
    "ResNet-152": ("torchvision", "resnet152", {}, (3, 224, 224)),
    "Inception v3": (
        "torchvision", "inception_v3", {"aux_logits": False, "init_weights": False}, (3, 299, 299)
    ),
    "Inception-v4": ("inception_lab", "inception_v4", {}, (3, 299, 299)),
    "Inception-ResNet-v1": ("inception_lab", "inception_resnet_v1", {}, (3, 299, 299)),
    "Inception-ResNet-v2": ("inception_lab", "inception_resnet_v2", {}, (3, 299, 299)),
}  # fmt: skip


@functools.cache
def reference_costs(name: str) -> tuple[int, int]:
    """(parameters, MACs per image) of a published network of `REFERENCE_MODELS`, counted live
    once at its native input size.

    The model is built on the "meta" device: shapes and counts are exact, no arithmetic runs,
    no weights are downloaded.
    """
    import torchvision

    if name not in REFERENCE_MODELS:
        raise ValueError(f"unknown reference model {name!r}; known: {list(REFERENCE_MODELS)}")
    library, builder, kwargs, input_size = REFERENCE_MODELS[name]
    with torch.device("meta"):
        if library == "torchvision":
            model = getattr(torchvision.models, builder)(weights=None, **kwargs)
        else:
            model = build_model(builder, **kwargs)
    return profile.count_params(model), profile.count_macs(model, input_size)


def course_models() -> list[str]:
    """The course's models drawn on the cost map by default, in course order: every model of
    `inception_lab.models.list_models()` except the full-size ones whose family
    `REFERENCE_MODELS` already draws from the course's own builders (Inception-v4 and
    Inception-ResNet-v1/v2, drawn once, under the papers' names; the half-depth
    Inception-ResNet-v2 is of that family too)."""
    drawn = {
        model_spec(builder).family
        for library, builder, _, _ in REFERENCE_MODELS.values()
        if library == "inception_lab"
    }
    specs = [model_spec(name) for name in list_models()]
    return [spec.name for spec in specs if spec.mini or spec.family not in drawn]


@functools.cache
def course_costs(name: str) -> tuple[int, int]:
    """(parameters, MACs per image) of a course model (any name of `models.list_models()`) with
    its default arguments, at the input size it was designed for (`models.model_spec(name)`),
    counted live on the meta device once."""
    spec = model_spec(name)  # a ValueError listing the names for an unknown one
    with torch.device("meta"):
        model = spec.builder()
    size = spec.input_size
    return profile.count_params(model), profile.count_macs(model, (3, size, size))


def plot_cost_map(
    models: Mapping[str, tuple[nn.Module, Sequence[int]]] | None = None,
    include_reference: bool = True,
) -> Figure:
    """Parameters versus MACs per image, both on log axes, one labelled point per model.

    `models` maps a name to `(model, input_size)`, drawn as red squares; None (the default)
    means the course's models (`course_models()`: full size at 224 or 299 pixels, minis at 32).
    `include_reference` adds the published networks of `REFERENCE_MODELS` (grey circles) at
    their native input sizes: torchvision's AlexNet, VGG-16, GoogLeNet, ResNets and Inception
    v3, and the course's exact Inception-v4 and Inception-ResNet-v1/v2. Everything is counted
    live (built on the meta device, cached in this process). Down and to the left is cheaper: GoogLeNet sits far
    below VGG-16 on both axes.
    """
    if models is None:
        costs = {name: course_costs(name) for name in course_models()}
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
        handles.append(ax.scatter([], [], color="0.55", marker="o", label="published networks"))
    if costs:
        handles.append(ax.scatter([], [], color="C3", marker="s", label="course models"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title("Parameters versus multiply-adds (1 MAC = 2 FLOPs)")
    _place_labels(ax, [(name, macs, params) for name, params, macs, _ in points], leaders=True)
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
        ax.scatter(
            r["macs"],
            r["acc"],
            s=55 if mine else 45,
            zorder=3,
            color="C3" if mine else "C0",
            marker="s" if mine else "o",
        )
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=1)
        ax.annotate(
            f"chance ({chance:.0%})",
            (0.01, chance),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="0.4",
        )
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


_PROTOCOL_MARKERS = ("o", "D", "s", "^", "v")


def plot_published_errors(
    results: Sequence[Mapping[str, object]], metric: str = "top-5 error"
) -> Figure:
    """Published error rates against the cost the course counts: two panels, MACs and parameters.

    `results` holds one dict per published number, with "model" (a label), "evaluation" (how
    the paper evaluated it, e.g. "single crop" or "10 or 12 crops"), "error" (in percent, as the
    papers print it), "macs" (per image) and "params". Each evaluation protocol gets its own
    marker and colour, so that numbers measured differently are never read as one series; the
    points of one model are joined by a thin grey line (the same network, evaluated two ways)
    and carry one label, beside one of them and nearer to them than to any other model's point,
    or joined to one of them by a leader line where a cluster leaves no room.
    x axes are logarithmic; down and to the left is better: fewer errors for less cost.
    """
    rows = list(results)
    if not rows:
        raise ValueError("plot_published_errors needs at least one result")
    for row in rows:
        missing = [k for k in ("model", "evaluation", "error", "macs", "params") if k not in row]
        if missing:
            raise ValueError(f"result {row!r} lacks {missing}")
        if not (row["macs"] > 0 and row["params"] > 0 and 0 <= row["error"] <= 100):
            raise ValueError(f"result {row!r}: macs and params must be > 0, error in [0, 100]")
    protocols = list(dict.fromkeys(r["evaluation"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True, layout="constrained")
    for ax, key, what in zip(
        axes, ("macs", "params"), ("MACs per image", "parameters"), strict=True
    ):
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model]
            if len(mine) > 1:
                ax.plot(
                    [r[key] for r in mine],
                    [r["error"] for r in mine],
                    color="0.75",
                    lw=0.8,
                    zorder=1,
                )
        for i, protocol in enumerate(protocols):
            mine = [r for r in rows if r["evaluation"] == protocol]
            ax.scatter(
                [r[key] for r in mine],
                [r["error"] for r in mine],
                s=45,
                zorder=3,
                color=f"C{i}",
                marker=_PROTOCOL_MARKERS[i % len(_PROTOCOL_MARKERS)],
                label=protocol,
            )
        ax.set_xscale("log")
        ax.margins(x=0.3, y=0.12)
        _log_count_axis(ax.xaxis, what)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(f"{metric} against {what}")
    axes[0].set_ylabel(f"published {metric} (%, ILSVRC-2012 validation)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(title="evaluation", fontsize=8, loc="upper right")
    fig.suptitle(
        f"Published {metric} against the cost counted by the course (lower left is better)"
    )
    first = {}  # one label per model, by one of its points; last, once the layout is settled
    for r in rows:
        first.setdefault(r["model"], r)
    rest = [r for r in rows if not any(r is mine for mine in first.values())]
    for ax, key in zip(axes, ("macs", "params"), strict=True):
        _place_labels(
            ax,
            [(r["model"], r[key], r["error"]) for r in first.values()],
            leaders=True,
            unlabelled=[(r["model"], r[key], r["error"]) for r in rest],
        )
    return fig


# Where a label may go, in points from its dot: right, left, above, below, further out.
_LABEL_SPOTS = [(6, 3, "left"), (-6, 3, "right"), (6, -11, "left"), (-6, -11, "right"),
                (0, 9, "center"), (0, -17, "center"), (6, 14, "left"), (6, -22, "left"),
                (-6, 14, "right"), (-6, -22, "right")]  # fmt: skip


# With leader lines: rings of spots around the dot, nearest first, each ring starting to the
# right; a label away from its dot gets a thin line to it.
_RING_RADII = (8, 20, 34, 50, 68)
_RING_ANGLES = (0, 180, 30, -30, 150, -150, 60, -60, 120, -120, 90, -90)


def _ring_spots() -> list[tuple[float, float, str]]:
    spots = []
    for radius in _RING_RADII:
        for angle in _RING_ANGLES:
            dx = radius * np.cos(np.radians(angle))
            dy = radius * np.sin(np.radians(angle))
            ha = "left" if dx > 1 else "right" if dx < -1 else "center"
            spots.append((float(dx), float(dy) - 3.5, ha))  # -3.5: the text's middle on the ray
    return spots


def _nearest_on_box(point, box) -> tuple[float, float]:
    """The point of a display-space box nearest to `point`."""
    return min(max(point[0], box.x0), box.x1), min(max(point[1], box.y0), box.y1)


def _segment_near(a, b, point, distance: float) -> bool:
    """Whether the segment a-b passes within `distance` of `point` (display space)."""
    a, b, point = (np.asarray(v, dtype=float) for v in (a, b, point))
    ab = b - a
    t = 0.0 if not ab.any() else float(np.clip(np.dot(point - a, ab) / np.dot(ab, ab), 0, 1))
    return float(np.hypot(*(a + t * ab - point))) < distance


def _segment_hits_box(a, b, box) -> bool:
    """Whether the segment a-b enters a display-space box (sampled along its length)."""
    return any(
        box.contains(*(np.asarray(a) + t * (np.asarray(b) - np.asarray(a))))
        for t in np.linspace(0, 1, 25)
    )


def _place_labels(
    ax: Axes,
    labels: list[tuple[str, float, float]],
    leaders: bool = False,
    unlabelled: Sequence[tuple[str, float, float]] = (),
) -> None:
    """Annotate points so that no label covers another label or a point (greedy: each label
    takes the first free spot around its point; if none is free, the first spot).

    leaders=True (crowded maps): the spots are rings around the dot at growing distances, a
    label must stay inside the axes, the most crowded points are labelled first, a spot whose
    leader line would run over another dot or label is taken only if no other spot is free, and
    a label that is not next to its dot is joined to it by a thin grey line.

    `unlabelled` holds further points (name, x, y) that get no label of their own, e.g. the same
    model measured another way. Then no label covers them either, a label may sit by any point
    of its name (the nearer spots first; next to a close point of another name, the side away
    from it first), and a spot is taken only if every point of another name is clearly farther
    from the label than the label's nearest own point (or than a short leader line), unless no
    such spot is free: each label sits by its own points."""
    fig = ax.figure
    fig.draw_without_rendering()  # settle the layout first: it moves the points
    renderer = fig.canvas.get_renderer()
    every = [*labels, *unlabelled]  # (name, x, y)
    points = [ax.transData.transform((x, y)) for _, x, y in every]
    dots = points[: len(labels)]
    spots = _ring_spots() if leaders else _LABEL_SPOTS
    order = list(range(len(labels)))
    if leaders:  # the point with the most neighbours within 60 px first: it has the least room
        near = [sum(np.hypot(*(dots[i] - d)) < 60 for d in dots) for i in order]
        order.sort(key=lambda i: -near[i])
    frame = ax.get_window_extent(renderer)
    # room around a dot: a marker of size 45 (points^2) is about 7 points wide
    pad = renderer.points_to_pixels(4.0) if leaders else 0.0
    stub = renderer.points_to_pixels(13.0)  # a label closer than this to its dot needs no line
    taken = []
    lines = []  # leader lines, in display space

    def free(text, name: str, a) -> bool:
        box = text.get_window_extent(renderer).expanded(1.05, 1.1)
        if any(box.overlaps(other) for other in taken):
            return False
        if any(_segment_hits_box(*line, box) for line in lines):
            return False
        if any(
            box.x0 - pad <= px <= box.x1 + pad and box.y0 - pad <= py <= box.y1 + pad
            for px, py in points
        ):
            return False
        return not leaders or (
            frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        )

    def clear_leader(text, name: str, a) -> bool:
        b = _nearest_on_box(a, text.get_window_extent(renderer))
        if np.hypot(*(np.asarray(b) - a)) < stub:
            return True  # next to its dot: no line
        start = a + (np.asarray(b) - a) * (pad / np.hypot(*(np.asarray(b) - a)))
        others = [  # not a dot drawn on top of this one, nor a point of the same name
            p
            for p, (owner, _, _) in zip(points, every, strict=True)
            if owner != name and np.hypot(*(p - a)) > 1
        ]
        return not any(_segment_near(start, b, p, pad) for p in others) and not any(
            _segment_hits_box(start, b, other) for other in taken
        )

    def by_own_points(text, name: str, a) -> bool:
        box = text.get_window_extent(renderer)
        gaps = [
            (owner == name, np.hypot(*(np.asarray(_nearest_on_box(p, box)) - p)))
            for p, (owner, _, _) in zip(points, every, strict=True)
        ]
        own = min(gap for mine, gap in gaps if mine)
        return all(gap > min(own, stub) + pad for mine, gap in gaps if not mine)

    tests = [free]  # from the most demanding to the least
    if leaders:
        tests = [lambda *args: free(*args) and clear_leader(*args), *tests]
    if unlabelled:
        tests = [lambda *args, f=f: f(*args) and by_own_points(*args) for f in tests] + tests

    def away(spot, a, name: str) -> float:
        """0 or less for a spot on the side away from the nearest point of another name, when
        that point is close (the two labels of a near pair then face outwards)."""
        if not unlabelled:
            return 0.0
        u = a - min(
            (p for p, (owner, _, _) in zip(points, every, strict=True) if owner != name),
            key=lambda p: np.hypot(*(p - a)),
            default=a,
        )
        if not u.any() or np.hypot(*u) > 2 * stub:
            return 0.0
        v = np.array([spot[0], spot[1] + 3.5])  # the ray of a ring spot
        return -float(np.dot(u, v) / (np.hypot(*u) * np.hypot(*v)))

    for i in order:
        name = labels[i][0]
        # its own dot first, then the other points of its name; nearer spots first
        anchors = [i] + [k for k in range(len(labels), len(every)) if every[k][0] == name]
        candidates = [(spot, k) for spot in spots for k in anchors]
        if unlabelled:
            candidates.sort(
                key=lambda c: (
                    round(np.hypot(c[0][0], c[0][1] + 3.5)),
                    away(c[0], points[c[1]], name),
                )
            )
        text = ax.annotate(name, labels[i][1:], (0, 0), textcoords="offset points", fontsize=9)
        chosen = None
        for test in tests:
            for (dx, dy, ha), k in candidates:
                text.xy = every[k][1:]
                text.set_position((dx, dy))
                text.set_horizontalalignment(ha)
                if test(text, name, points[k]):
                    chosen = (k, dx, dy, ha)
                    break
            if chosen:
                break
        k, dx, dy, ha = chosen or (i, *spots[0])
        text.xy = every[k][1:]
        text.set_position((dx, dy))
        text.set_horizontalalignment(ha)
        box = text.get_window_extent(renderer)
        taken.append(box)
        end = _nearest_on_box(points[k], box)  # from the point to the nearest point of the label
        if leaders and np.hypot(*(np.asarray(end) - points[k])) >= stub:
            lines.append((points[k], end))
    if lines:
        segments = [[ax.transData.inverted().transform(p) for p in line] for line in lines]
        ax.add_collection(
            LineCollection(segments, colors="0.6", linewidths=0.6, zorder=2), autolim=False
        )
