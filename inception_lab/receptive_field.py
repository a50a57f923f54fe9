"""Receptive fields: which window of the input one output pixel sees.

Stacked small kernels see what one big kernel sees (two 3x3 convs: a 5x5 window), which is the
argument of the Inception v3 paper (Szegedy et al. 2015, section 3) for factorizing convolutions.
`receptive_field` follows a stack of convs and pools from the input to the output; an Inception
block's window is its widest branch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from torch import nn

from ._validate import is_int, pair
from .blocks import ConvBNAct, SplitConv


class ReceptiveField(NamedTuple):
    """`size`: (height, width) of the input window one output pixel sees.
    `jump`: (height, width) distance in input pixels between neighbouring outputs (the product
    of the strides)."""

    size: tuple[int, int]
    jump: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"


_RF_NEUTRAL = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout)


def _rf_window(r, j, kernel, stride, dilation=(1, 1)):
    # Each extra kernel tap reaches `jump` input pixels further: r += (k - 1) * d * j; j *= s.
    r = tuple(ri + (k - 1) * d * ji for ri, k, d, ji in zip(r, kernel, dilation, j, strict=True))
    return r, tuple(ji * s for ji, s in zip(j, stride, strict=True))


def _rf_module(mod: nn.Module, r, j):
    if isinstance(mod, nn.Conv2d):
        return _rf_window(r, j, mod.kernel_size, mod.stride, mod.dilation)
    if isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
        dilation = getattr(mod, "dilation", 1)
        stride = mod.stride if mod.stride is not None else mod.kernel_size
        return _rf_window(
            r,
            j,
            pair("pool kernel", mod.kernel_size),
            pair("pool stride", stride),
            pair("pool dilation", dilation),
        )
    if isinstance(mod, ConvBNAct):
        return _rf_module(mod.conv, r, j)
    if isinstance(mod, _RF_NEUTRAL):
        return r, j
    if isinstance(mod, nn.Sequential):
        for m in mod:
            r, j = _rf_module(m, r, j)
        return r, j
    parallel = None
    if isinstance(mod, SplitConv):
        parallel = [mod.split_1xn, mod.split_nx1]
    elif isinstance(getattr(mod, "branches", None), nn.ModuleDict):
        parallel = list(mod.branches.values())
    if parallel is None:
        raise ValueError(
            f"receptive_field does not know how {type(mod).__name__} moves a window; pass a "
            "stack of convs, pools, ConvBNActs, Sequentials and Inception blocks, or a list of "
            "(kernel, stride) pairs"
        )
    # Parallel branches see the input side by side: the block's window is the widest one.
    # (The 1x1 projection of an Inception-ResNet block and its shortcut add nothing.)
    ends = [_rf_module(m, r, j) for m in parallel]
    return (
        tuple(max(e[0][i] for e in ends) for i in range(2)),
        tuple(max(e[1][i] for e in ends) for i in range(2)),
    )


def receptive_field(layers: nn.Module | Sequence[Any]) -> ReceptiveField:
    """Receptive field of a stack of convs and pools, from input to output.

    `layers` is a module (a conv, pool, `ConvBNAct`, `nn.Sequential`, or an Inception block, whose
    window is its widest branch's) or a list of layers, each a module or a `(kernel, stride)`
    pair, where `kernel` is an int or an (kh, kw) pair; a bare int means stride 1. Examples:
    one 5x5 conv: [5] -> 5x5; two 3x3 convs: [3, 3] -> 5x5; 1x7 then 7x1:
    [((1, 7), 1), ((7, 1), 1)] -> 7x7 (a bare (1, 7) would mean kernel 1, stride 7).
    Padding does not change the window. Returns `ReceptiveField(size=(h, w), jump=(h, w))`.
    """
    items = [layers] if isinstance(layers, nn.Module) else layers
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ValueError(  # a ValueError for every bad argument
            f"layers must be an nn.Module or a list of (kernel, stride) pairs, got {layers!r}"
        )
    r, j = (1, 1), (1, 1)
    for item in items:
        if isinstance(item, nn.Module):
            r, j = _rf_module(item, r, j)
        elif is_int(item):
            r, j = _rf_window(r, j, pair("kernel", item), (1, 1))
        elif isinstance(item, Sequence) and len(item) == 2:
            r, j = _rf_window(r, j, pair("kernel", item[0]), pair("stride", item[1]))
        else:
            raise ValueError(
                f"each layer must be an nn.Module, a kernel size or a (kernel, stride) pair, "
                f"got {item!r}"
            )
    return ReceptiveField(r, j)
