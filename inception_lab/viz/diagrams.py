"""Diagrams drawn from the modules themselves: Inception blocks as the papers draw them, and the
receptive field of a stack of convolutions.

`draw_block` reads a block's branches and layers (through `profile.branches_of` and
`profile.describe_layer`), so a diagram never disagrees with the code it shows.
`plot_receptive_field` shows which input pixels one output pixel sees, and through how many paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from torch import nn

from .. import profile
from ..blocks import ConvBNAct, SplitConv

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


def _is_valid_padded(layer: nn.Module) -> bool:
    """A conv or pool with a window larger than 1x1 and no padding: the papers' "V" layers,
    whose output grid is smaller than their input grid even at stride 1."""
    conv = layer.conv if isinstance(layer, ConvBNAct) else layer
    if isinstance(conv, nn.Conv2d):
        return max(conv.kernel_size) > 1 and conv.padding in (0, (0, 0), "valid")
    if isinstance(conv, nn.MaxPool2d | nn.AvgPool2d):
        return conv.kernel_size not in (1, (1, 1)) and conv.padding in (0, (0, 0))
    return False


def _label(layer: nn.Module) -> str:
    """A layer's box label; valid-padded layers end in " V", as in the v4 paper's figures."""
    return profile.describe_layer(layer) + (" V" if _is_valid_padded(layer) else "")


def _branch_layers(branch: nn.Module) -> list[list[str]]:
    """Labels of a branch's layers, input first; a SplitConv is one layer of two boxes."""
    layers = list(branch) if isinstance(branch, nn.Sequential) else [branch]
    quiet = (nn.BatchNorm2d, nn.ReLU, nn.Identity)
    return [
        [_label(m.split_1xn), _label(m.split_nx1)] if isinstance(m, SplitConv) else [_label(m)]
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
    channels ("1x1 conv, 64", "3x3 max pool", "1x7 conv, 160"; "/2" marks stride 2, a final
    "V" a valid-padded layer that shrinks the grid, as in the Inception-v4 paper), all
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
            raise ValueError(  # a ValueError for every bad argument
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
    kernels see the same window as one big kernel but reach its centre by more paths. That is
    wiring, not weighting: with equal weights the centre counts as many times a corner as it has
    paths, with random independent weights (as at initialisation) about the square root of that
    (Luo et al. 2016), and training can reshape it. Panel titles give the window and the conv
    weights per (input, output) channel pair.
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
