"""`Network`, the one model class of the course, and the helpers every model file shares.

A `Network` is what the Inception papers draw: named stages run in order (their names follow the
paper, torchvision or the released TF-slim models, so `named_children()`, the state_dict and the
profiler's per-layer table read like the paper's table), then global average pooling, dropout
and a linear classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from .._validate import check_int, check_number, is_int, pair


class Network(nn.Module):
    """A CNN as the Inception papers draw it: named stages, then a classifier head.

    (N, in_ch, H, W) -> (N, num_classes) logits. With auxiliary heads, in `.train()` mode the
    output is a tuple `(logits, aux1, ...)` (main head first, aux heads in depth order); in
    `.eval()` mode the aux heads are skipped and only the logits are returned.

    `stages` become direct children under their own names, in order. `aux` maps a head's name to
    `(stage it taps, head)`. Head: global average pool -> dropout (probability `dropout`, in
    [0, 1)) -> linear, as in all the papers.
    The input is checked once, here, before anything runs: 4-d, `in_ch` channels, and at least
    `min_size` pixels per side (the smallest input that the stages' strides and pools can
    process); a ValueError naming the network says what was expected and what was given.
    """

    def __init__(
        self,
        name: str,
        stages: Mapping[str, nn.Module],
        num_classes: int,
        dropout: float,
        aux: Mapping[str, tuple[str, nn.Module]] | None = None,
    ):
        super().__init__()
        check_int("num_classes", num_classes)
        check_number("dropout", dropout, 0.0, 1.0, high_open=True)
        self.name = name
        self.in_ch = next(iter(stages.values())).in_ch
        self.out_ch = num_classes
        self.stage_names = list(stages)
        for stage_name, stage in stages.items():
            self.add_module(stage_name, stage)
        features = [m.out_ch for m in stages.values() if hasattr(m, "out_ch")][-1]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)
        self.taps: dict[str, str] = {}  # stage name -> aux head name
        for head_name, (stage_name, head) in (aux or {}).items():
            if stage_name not in stages:
                raise ValueError(f"aux head {head_name!r} taps unknown stage {stage_name!r}")
            self.add_module(head_name, head)
            self.taps[stage_name] = head_name
        self.aux_logits = bool(self.taps)
        self.min_size = min_input_size(list(stages.values()))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        self._check_input(x)
        aux_outputs = []
        for stage_name in self.stage_names:
            x = getattr(self, stage_name)(x)
            if self.training and stage_name in self.taps:
                aux_outputs.append(getattr(self, self.taps[stage_name])(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (x, *aux_outputs) if aux_outputs else x

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"{self.name} expects a 4-d input (N, C, H, W), got {tuple(x.shape)}")
        if x.shape[1] != self.in_ch:
            raise ValueError(
                f"{self.name} expects {self.in_ch} input channels, got {x.shape[1]} "
                f"(input shape {tuple(x.shape)})"
            )
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(
                f"{self.name} needs inputs of at least {self.min_size}x{self.min_size} pixels "
                f"(its strided convs and pools shrink anything smaller to nothing), got {h}x{w}"
            )


def _init_weights(model: nn.Module) -> None:
    # He (Kaiming) init keeps the signal's scale through deep ReLU stacks, which is what lets the
    # BN-free models (the GoogLeNet paper's, and the lessons' no-BN twins) train at all.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- minimum input size
def _min_length(out: int, kernel: int, stride: int, padding: int, dilation: int, ceil: bool) -> int:
    """Smallest input length for which a conv / pool gives at least `out` outputs on one axis.

    PyTorch's output length is floor((n + 2p - span) / s) + 1, with span = d (k - 1) + 1; solving
    "at least `out`" for n gives the first bound below. With `ceil_mode` (GoogLeNet's pools) the
    division rounds up instead, but the last window must still start inside the left-padded
    input, (out - 1) s < n + p: the larger of those two bounds is the answer.
    """
    span = dilation * (kernel - 1) + 1
    if not ceil:
        return max(1, (out - 1) * stride + span - 2 * padding)
    rounded_up = (out - 2) * stride + span - 2 * padding + 1
    starts_inside = (out - 1) * stride - padding + 1
    return max(1, rounded_up, starts_inside)


def _min_grid(module: nn.Module, out: tuple[int, int]) -> tuple[int, int]:
    """Smallest (H, W) input for which `module` outputs a grid of at least `out`."""
    if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
        kernel, stride = pair("kernel_size", module.kernel_size), pair("stride", module.stride)
        padding = pair("padding", module.padding, minimum=0)
        dilation = pair("dilation", getattr(module, "dilation", 1))
        ceil = getattr(module, "ceil_mode", False)
        return tuple(
            _min_length(out[i], kernel[i], stride[i], padding[i], dilation[i], ceil)
            for i in range(2)
        )
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        return (1, 1)  # any non-empty grid pools to the fixed output size
    if isinstance(module, nn.ModuleDict):  # parallel branches: the most demanding one decides
        needs = [_min_grid(branch, out) for branch in module.values()] or [out]
        return (max(n[0] for n in needs), max(n[1] for n in needs))
    for child in reversed(list(module.children())):  # anything else runs its children in order
        out = _min_grid(child, out)
    return out


def min_input_size(stages: list[nn.Module]) -> int:
    """Smallest square input that every stage can process, computed directly.

    Walks the stages backwards from a 1x1 output: each conv or pool needs the smallest input
    that still gives the grid the next layer needs (output lengths only grow with the input,
    so that is exact). Layers that keep the grid (BN, ReLU, "same" convs) need what they give.
    """
    need = (1, 1)
    for stage in reversed(stages):
        need = _min_grid(stage, need)
    return max(need)


# --------------------------------------------------------------------------- builder arguments
def channel_scaler(width: float, base: float = 1.0) -> Callable[[int], int]:
    """Channel multiplier: `scaled = channel_scaler(0.5)`; `scaled(64)` is 64 * width * base,
    rounded, at least 1."""
    check_number("width", width, 0.0, None, low_open=True, note="a channel multiplier")
    return lambda channels: max(1, round(channels * width * base))


def block_depths(depth: int | tuple[int, int, int]) -> tuple[int, int, int]:
    """(A, B, C) block counts of a residual network from an int (the same for all) or three."""
    depth = (depth,) * 3 if is_int(depth) else depth
    if not isinstance(depth, tuple | list) or len(depth) != 3:
        raise ValueError(f"depth must be an int or three ints (A, B, C blocks), got {depth!r}")
    for grid, count in zip("ABC", depth, strict=True):
        check_int(f"depth of the {grid} stage", count, minimum=0)
    return tuple(depth)
