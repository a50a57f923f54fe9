"""Networks of the Inception family, built only from `inception_lab.blocks`.

Every model is a `Network`: named stages run in order (their names follow the paper or
torchvision, so `named_children()`, the state_dict and the profiler's per-layer table read like
the paper's table), then global average pooling, dropout and a linear classifier.

Full size (ImageNet, 224x224 or 299x299):
    googlenet(variant="paper" | "torchvision")   Inception v1 (GoogLeNet paper, Table 1)
    bn_inception()                               v1 topology + BN + 5x5 factorized (BN paper)
    inception_v3()                               torchvision's Inception v3, layer for layer
    inception_resnet()                           a configurable Inception-ResNet (v4 paper)

Mini (32x32 inputs, ~5-15 M MACs, train in minutes on a CPU), one per step of the course:
    mini_baseline, mini_naive, mini_reduced, mini_googlenet, mini_bn_inception, mini_factorized,
    mini_inception_resnet
    mini_custom(make_stage)    a fixed stem and head around stages you design (not in `build`)

`build(name, **kwargs)` builds any of them by name; `list_models()` lists the names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .blocks import (
    AuxClassifier,
    ConvBNAct,
    GridReduction,
    Inception,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionResNetBlock,
    NaiveInception,
    check_channels,
)


# --------------------------------------------------------------------------- the network
class Network(nn.Module):
    """A CNN as the Inception papers draw it: named stages, then a classifier head.

    (N, in_ch, H, W) -> (N, num_classes) logits. With auxiliary heads, in `.train()` mode the
    output is a tuple `(logits, aux1, ...)` (main head first, aux heads in depth order); in
    `.eval()` mode the aux heads are skipped and only the logits are returned.

    `stages` become direct children under their own names, in order. `aux` maps a head's name to
    `(stage it taps, head)`. Head: global average pool -> dropout -> linear, as in all the papers.
    The input is checked before anything runs: 4-d, `in_ch` channels, and at least `min_size`
    pixels per side (the smallest input that the stages' strides and pools can process).
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
        _check_int("num_classes", num_classes)
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
        self.min_size = _min_input_size(list(stages.values()))
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


# --------------------------------------------------------------------------- size bookkeeping
def _out_size(n: int, kernel: int, stride: int, padding: int, dilation: int, ceil: bool) -> int:
    """Output length of a conv / pool along one axis, as PyTorch computes it (0: too small).

    With `ceil_mode` the last window may hang over the edge, so a pool can read an input smaller
    than its kernel; it must still start inside the (left-padded) input.
    """
    if n <= 0:
        return 0
    span = dilation * (kernel - 1) + 1
    out = (n + 2 * padding - span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= n + padding:
        out -= 1
    return max(out, 0)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


def _grid(module: nn.Module, hw: tuple[int, int]) -> tuple[int, int]:
    """(H, W) after `module` for an (H, W) input; a 0 means the input is too small."""
    if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
        k, s, p, d = (_pair(getattr(module, a, 1)) for a in ("kernel_size", "stride", "padding",
                                                              "dilation"))  # fmt: skip
        ceil = getattr(module, "ceil_mode", False)
        return tuple(_out_size(hw[i], k[i], s[i], p[i], d[i], ceil) for i in range(2))
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        size = module.output_size
        return (size, size) if isinstance(size, int) else size
    if isinstance(module, nn.ModuleDict):  # parallel branches: all of them must fit
        sizes = [_grid(branch, hw) for branch in module.values()]
        return tuple(min(s[i] for s in sizes) for i in range(2))
    for child in module.children():  # anything else runs its children in order
        hw = _grid(child, hw)
    return hw


def _min_input_size(stages: list[nn.Module]) -> int:
    """Smallest square input that every stage can process (computed once per model)."""
    for n in range(1, 4097):
        hw = (n, n)
        for stage in stages:
            hw = _grid(stage, hw)
        if min(hw) > 0:
            return n
    raise ValueError("no input size up to 4096 fits this network")


# --------------------------------------------------------------------------- argument checks
def _check_int(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _scaler(width: float, base: float = 1.0) -> Callable[[int], int]:
    """Channel multiplier: c(64) is 64 * width * base, rounded, at least 1."""
    if isinstance(width, bool) or not isinstance(width, int | float) or not width > 0:
        raise ValueError(f"width must be a positive channel multiplier, got {width!r}")
    if not math.isfinite(width):
        raise ValueError(f"width must be a finite channel multiplier, got {width!r}")
    return lambda ch: max(1, round(ch * width * base))


def _depths(depth: int | tuple[int, int, int]) -> tuple[int, int, int]:
    depth = (depth,) * 3 if isinstance(depth, int) and not isinstance(depth, bool) else depth
    if not isinstance(depth, tuple | list) or len(depth) != 3:
        raise ValueError(f"depth must be an int or three ints (A, B, C blocks), got {depth!r}")
    for grid, d in zip("ABC", depth):
        _check_int(f"depth of the {grid} stage", d, minimum=0)
    return tuple(depth)


# --------------------------------------------------------------------------- GoogLeNet (v1)
# The GoogLeNet paper's Table 1: the nine Inception modules in order, with the max pools between
# the grids (None). The columns are the arguments of `blocks.Inception` after `in_ch`:
#              1x1  3x3red 3x3  5x5red 5x5  pool_proj    -> out channels
TABLE1: dict[str, tuple[int, int, int, int, int, int] | None] = {
    "inception3a": (64, 96, 128, 16, 32, 32),  # 256
    "inception3b": (128, 128, 192, 32, 96, 64),  # 480
    "maxpool3": None,
    "inception4a": (192, 96, 208, 16, 48, 64),  # 512
    "inception4b": (160, 112, 224, 24, 64, 64),  # 512
    "inception4c": (128, 128, 256, 24, 64, 64),  # 512
    "inception4d": (112, 144, 288, 32, 64, 64),  # 528
    "inception4e": (256, 160, 320, 32, 128, 128),  # 832
    "maxpool4": None,
    "inception5a": (256, 160, 320, 32, 128, 128),  # 832
    "inception5b": (384, 192, 384, 48, 128, 128),  # 1024
}


def _table1_stages(
    in_ch: int,
    module: Callable[..., nn.Module],
    pool: Callable[[str], nn.Module],
    c: Callable[[int], int] = int,
) -> dict[str, nn.Module]:
    """Table 1's stages: `module(in_ch, *widths scaled by c)` per row, `pool(name)` between grids.

    Each module's input width is the previous module's output width.
    """
    stages: dict[str, nn.Module] = {}
    for name, widths in TABLE1.items():
        stages[name] = pool(name) if widths is None else module(in_ch, *map(c, widths))
        in_ch = stages[name].out_ch if widths else in_ch
    return stages


def googlenet(
    variant: str = "paper",
    aux_logits: bool = False,
    num_classes: int = 1000,
    lrn: bool = False,
    dropout: float | None = None,
) -> Network:
    """GoogLeNet (Szegedy et al. 2014), Table 1. (N, 3, 224, 224) -> (N, num_classes).

    Grid: 224 -> 112 (conv1) -> 56 (maxpool1) -> 28 (maxpool2) -> 14 (maxpool3) -> 7 (maxpool4).

    `variant="paper"`: convs with biases and no BN, true 5x5 branches, 3x3/2 max pools, dropout
    0.4, optional LRN after maxpool1 and conv3 (`lrn=True`), aux heads with the paper's 5x5/3 pool
    (which needs inputs of about 224x224: a 14x14 to 16x16 grid at inception4a).
    Conv + linear weights (no biases, no aux): 6,990,272; ~1.583 G MACs at 224x224.
    `variant="torchvision"`: torchvision's layout exactly (BN after every conv, a 3x3 kernel in
    the "5x5" branch, maxpool4 2x2/2, dropout 0.2, aux heads pooling adaptively to 4x4); load its
    weights with `load_torchvision_state_dict`. Like torchvision without pretrained weights, no
    input transform is applied. Aux heads (`aux_logits=True`) tap inception4a and inception4d.
    """
    _check_int("num_classes", num_classes)  # before the aux heads use it
    if variant not in ("paper", "torchvision"):
        raise ValueError(f'googlenet variant must be "paper" or "torchvision", got {variant!r}')
    tv = variant == "torchvision"
    if tv and lrn:
        raise ValueError("torchvision's GoogLeNet has no LRN; use lrn=True with variant='paper'")
    if dropout is None:
        dropout = 0.2 if tv else 0.4

    def inception(*widths: int) -> Inception:
        return Inception(*widths, bn=tv, kernel5=3 if tv else 5)

    def maxpool(name: str = "") -> nn.MaxPool2d:  # torchvision's maxpool4 is 2x2/2
        return nn.MaxPool2d(2 if tv and name == "maxpool4" else 3, stride=2, ceil_mode=True)

    def norm(name: str) -> dict[str, nn.Module]:  # LRN as in the paper's Caffe model
        return {name: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)} if lrn else {}

    stages = {
        "conv1": ConvBNAct(3, 64, 7, stride=2, bn=tv),  # 112x112
        "maxpool1": maxpool(),  # 56x56
        **norm("lrn1"),
        "conv2": ConvBNAct(64, 64, 1, bn=tv),
        "conv3": ConvBNAct(64, 192, 3, bn=tv),
        **norm("lrn2"),
        "maxpool2": maxpool(),  # 28x28: inception3a-b; 14x14: 4a-e; 7x7: 5a-b
        **_table1_stages(192, inception, maxpool),
    }
    aux = None
    if aux_logits:
        aux = {
            "aux1": ("inception4a", AuxClassifier(512, num_classes, bn=tv, adaptive_pool=tv)),
            "aux2": ("inception4d", AuxClassifier(528, num_classes, bn=tv, adaptive_pool=tv)),
        }
    return Network(f"googlenet ({variant})", stages, num_classes, dropout, aux)


def bn_inception(num_classes: int = 1000, aux_logits: bool = False) -> Network:
    """BN-Inception (Ioffe & Szegedy 2015). (N, 3, 224, 224) -> (N, num_classes).

    The paper's two architectural changes applied to GoogLeNet, and nothing else: BatchNorm after
    every conv, and each 5x5 conv factorized into two stacked 3x3 (`InceptionA`, whose
    `branch3x3dbl` takes the place of `branch5x5`). Stem, max pools, grid sizes and the widths of
    the paper's Table 1 are GoogLeNet's (`ch5x5red` / `ch5x5` become `ch3x3dblred` / `ch3x3dbl`),
    so the model can be compared line by line with `googlenet("paper")`. The BN paper's own
    network differs in details we do not follow: different widths (e.g. 64 instead of 32 in
    3a's double-3x3 branch), average pooling in some modules, stride-2 Inception modules instead
    of max pools between grids, and no dropout (we keep v1's 0.4).
    """

    _check_int("num_classes", num_classes)

    def inception(*widths: int) -> InceptionA:  # Table 1's columns; 5x5 -> 3x3dbl
        return InceptionA(*widths, pool="max", bn=True, single_kernel=3)

    def maxpool(name: str = "") -> nn.MaxPool2d:
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)

    stages = {
        "conv1": ConvBNAct(3, 64, 7, stride=2),  # 112x112
        "maxpool1": maxpool(),  # 56x56
        "conv2": ConvBNAct(64, 64, 1),
        "conv3": ConvBNAct(64, 192, 3),
        "maxpool2": maxpool(),  # 28x28, then 14x14 and 7x7 as in GoogLeNet
        **_table1_stages(192, inception, maxpool),
    }
    aux = None
    if aux_logits:
        aux = {
            "aux1": ("inception4a", AuxClassifier(512, num_classes, bn=True, adaptive_pool=True)),
            "aux2": ("inception4d", AuxClassifier(528, num_classes, bn=True, adaptive_pool=True)),
        }
    return Network("bn_inception", stages, num_classes, 0.4, aux)


# --------------------------------------------------------------------------- Inception v3
def inception_v3(aux_logits: bool = False, num_classes: int = 1000) -> Network:
    """Inception v3 (Szegedy et al. 2015) in torchvision's layout. (N, 3, 299, 299) -> (N, classes).

    Grid: 299 -> 149 -> 147 -> 73 -> 71 -> 35 (stem) -> 17 (Mixed_6a) -> 8 (Mixed_7a).
    Stage names are torchvision's (which come from the TF-slim graph), so its weights load with
    `load_torchvision_state_dict`. torchvision's modules map onto our blocks as: its InceptionA
    -> `InceptionA(single_kernel=5)` (it keeps a 5x5 where the paper has 3x3), InceptionB and
    InceptionD -> `GridReduction`, InceptionC -> `InceptionB` (n = 7), InceptionE ->
    `InceptionC`. Its average pools count the zero padding (`pool="avg_include_pad"`); the
    papers' TensorFlow code averages over real pixels only (our blocks' default `pool="avg"`).
    The aux head (`AuxLogits`, v3 form with BN) taps Mixed_6e; dropout 0.5.
    """
    _check_int("num_classes", num_classes)
    pool = "avg_include_pad"

    def mixed_a(in_ch: int, pool_proj: int) -> InceptionA:  # 35x35
        return InceptionA(in_ch, 64, 48, 64, 64, 96, pool_proj, pool=pool, single_kernel=5)

    def mixed_b(ch7x7red: int) -> InceptionB:  # 17x17, n = 7
        return InceptionB(768, 192, ch7x7red, 192, ch7x7red, 192, 192, pool=pool)

    def mixed_c(in_ch: int) -> InceptionC:  # 8x8
        return InceptionC(in_ch, 320, 384, 384, 448, 384, 192, pool=pool)

    stages = {
        "Conv2d_1a_3x3": ConvBNAct(3, 32, 3, stride=2, padding="valid"),  # 149x149
        "Conv2d_2a_3x3": ConvBNAct(32, 32, 3, padding="valid"),  # 147x147
        "Conv2d_2b_3x3": ConvBNAct(32, 64, 3),  # 147x147
        "maxpool1": nn.MaxPool2d(3, stride=2),  # 73x73
        "Conv2d_3b_1x1": ConvBNAct(64, 80, 1),  # 73x73
        "Conv2d_4a_3x3": ConvBNAct(80, 192, 3, padding="valid"),  # 71x71
        "maxpool2": nn.MaxPool2d(3, stride=2),  # 35x35
        "Mixed_5b": mixed_a(192, 32),  # 256
        "Mixed_5c": mixed_a(256, 64),  # 288
        "Mixed_5d": mixed_a(288, 64),  # 288
        "Mixed_6a": GridReduction(  # 17x17, 768
            288, {"branch3x3": [(384, 3)], "branch3x3dbl": [(64, 1), (96, 3), (96, 3)]}
        ),
        "Mixed_6b": mixed_b(128),
        "Mixed_6c": mixed_b(160),
        "Mixed_6d": mixed_b(160),
        "Mixed_6e": mixed_b(192),
        "Mixed_7a": GridReduction(  # 8x8, 1280
            768,
            {
                "branch3x3": [(192, 1), (320, 3)],
                "branch7x7x3": [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3)],
            },
        ),
        "Mixed_7b": mixed_c(1280),  # 2048
        "Mixed_7c": mixed_c(2048),  # 2048
    }
    aux = None
    if aux_logits:
        aux = {"AuxLogits": ("Mixed_6e", AuxClassifier(768, num_classes, variant="v3", bn=True))}
    return Network("inception_v3", stages, num_classes, 0.5, aux)


# --------------------------------------------------------------------------- Inception-ResNet
def inception_resnet(
    num_classes: int = 1000,
    width: float = 1.0,
    depth: int | tuple[int, int, int] = (5, 10, 5),
    scale: float | None = None,
    in_channels: int = 3,
) -> Network:
    """A configurable Inception-ResNet (Szegedy et al. 2016). (N, C, 299, 299) -> (N, classes).

    Grid: 299 -> 35 (v3 stem) -> 17 (reduction_a) -> 8 (reduction_b). Widths are those of
    Inception-ResNet-v2 times `width`: Mixed_5b (an Inception-A module, as in the TF-slim model)
    widens the stem to 320, then `depth[0]` residual A blocks (35x35x320), reduction_a (k, l, m,
    n = 256, 256, 384, 384) to 17x17x1088, `depth[1]` B blocks, reduction_b to 8x8x2080,
    `depth[2]` C blocks, a 1x1 conv to 1536, global pool, dropout 0.2 (keep 0.8), linear.
    `depth=(10, 20, 10)` is v2's depth (v2's own stem is more elaborate than the v3 stem used here).
    `scale`: None uses v2's residual scales (0.17 / 0.1 / 0.2 for A / B / C); a number in (0, 1]
    is used for every block (1.0 = no scaling).
    """
    c, (n_a, n_b, n_c) = _scaler(width), _depths(depth)
    check_channels(in_channels=in_channels)
    scales = {} if scale is None else {"scale": scale}
    stages: dict[str, nn.Module] = {
        "Conv2d_1a_3x3": ConvBNAct(in_channels, c(32), 3, stride=2, padding="valid"),  # 149
        "Conv2d_2a_3x3": ConvBNAct(c(32), c(32), 3, padding="valid"),  # 147
        "Conv2d_2b_3x3": ConvBNAct(c(32), c(64), 3),
        "maxpool1": nn.MaxPool2d(3, stride=2),  # 73
        "Conv2d_3b_1x1": ConvBNAct(c(64), c(80), 1),
        "Conv2d_4a_3x3": ConvBNAct(c(80), c(192), 3, padding="valid"),  # 71
        "maxpool2": nn.MaxPool2d(3, stride=2),  # 35
        "Mixed_5b": InceptionA(c(192), c(96), c(48), c(64), c(64), c(96), c(64), single_kernel=5),
    }
    ch = stages["Mixed_5b"].out_ch  # 320
    for i in range(n_a):
        stages[f"block_a{i + 1}"] = InceptionResNetBlock.a(ch, c(32), **scales)
    stages["reduction_a"] = GridReduction(  # 17x17
        ch, {"branch3x3": [(c(384), 3)], "branch3x3dbl": [(c(256), 1), (c(256), 3), (c(384), 3)]}
    )
    ch = stages["reduction_a"].out_ch  # 1088
    for i in range(n_b):
        stages[f"block_b{i + 1}"] = InceptionResNetBlock.b(ch, c(128), **scales)
    stages["reduction_b"] = GridReduction(  # 8x8
        ch,
        {
            "branch3x3a": [(c(256), 1), (c(384), 3)],
            "branch3x3b": [(c(256), 1), (c(288), 3)],
            "branch3x3dbl": [(c(256), 1), (c(288), 3), (c(320), 3)],
        },
    )
    ch = stages["reduction_b"].out_ch  # 2080
    for i in range(n_c):
        stages[f"block_c{i + 1}"] = InceptionResNetBlock.c(ch, c(192), **scales)
    stages["conv_final"] = ConvBNAct(ch, c(1536), 1)
    return Network("inception_resnet", stages, num_classes, 0.2)


# --------------------------------------------------------------------------- mini models (32x32)
# Grid of every mini model: 32x32 (stem) -> 16x16 -> 8x8 -> 4x4, like GoogLeNet's 28 -> 14 -> 7.
# A stage's input width is always the previous stage's output width (so any `width` works).
def _pool() -> nn.MaxPool2d:
    """3x3/2 max pool that halves even grids exactly (32 -> 16 -> 8 -> 4)."""
    return nn.MaxPool2d(3, stride=2, padding=1)


def _mini_v1(
    name: str,
    module: Callable[..., nn.Module],
    num_classes: int,
    width: float,
    in_channels: int,
    aux_logits: bool,
    bn: bool,
) -> Network:
    """GoogLeNet's Table 1 at 1/6 of its widths (times `width`) on 16 -> 8 -> 4 grids."""
    c = _scaler(width, base=1 / 6)
    check_channels(in_channels=in_channels)
    _check_int("num_classes", num_classes)
    stages = {
        "conv1": ConvBNAct(in_channels, c(192), 3, bn=bn),  # 32x32, GoogLeNet's stem width / 6
        "maxpool1": _pool(),  # 16x16: inception3a-b; 8x8: 4a-e; 4x4: 5a-b
        **_table1_stages(c(192), module, lambda name: _pool(), c),
    }
    aux = None
    if aux_logits:  # v1 heads, shrunk so that they do not outweigh the network they help

        def head(stage: str) -> tuple[str, AuxClassifier]:
            in_ch, kw = stages[stage].out_ch, {"conv_ch": c(128), "hidden": c(1024)}
            return stage, AuxClassifier(in_ch, num_classes, bn=bn, adaptive_pool=True, **kw)

        aux = {"aux1": head("inception4a"), "aux2": head("inception4d")}
    return Network(name, stages, num_classes, 0.4, aux)


def mini_googlenet(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 3,
    aux_logits: bool = False,
    bn: bool = False,
) -> Network:
    """GoogLeNet for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    The nine Inception modules of Table 1 (`TABLE1`; names and order kept) at 1/6 of their widths
    (times `width`), on grids 16 -> 8 -> 4; the stem is a single 3x3 conv to 192 / 6 channels.
    Like the paper: no BN (set `bn=True` for BN), true 5x5 branches, max pools, dropout 0.4,
    optional v1 aux heads on inception4a / inception4d (adaptive 4x4 pool, widths 128 and 1024
    divided by 6 too).
    """

    def module(*widths: int) -> Inception:
        return Inception(*widths, bn=bn)

    return _mini_v1("mini_googlenet", module, num_classes, width, in_channels, aux_logits, bn)


def mini_bn_inception(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 3,
    aux_logits: bool = False,
    bn: bool = True,
) -> Network:
    """BN-Inception for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    `mini_googlenet`'s layout and widths with each 5x5 factorized into two 3x3 (`InceptionA`,
    max pool branch as in v1) and BN after every conv. `bn=False` gives the same network without
    BN (convs with biases), to measure what BN itself buys.
    """

    def module(*widths: int) -> InceptionA:
        return InceptionA(*widths, pool="max", bn=bn, single_kernel=3)

    return _mini_v1("mini_bn_inception", module, num_classes, width, in_channels, aux_logits, bn)


def mini_baseline(
    num_classes: int = 10, width: float = 1.0, in_channels: int = 3, bn: bool = False
) -> Network:
    """A plain CNN with one kernel size (3x3) for 32x32 inputs. (N, C, 32, 32) -> (N, classes).

    The control for the Inception models: the same grids (32 -> 16 -> 8 -> 4), the same depth in
    stages (one 3x3 conv where mini_googlenet has an Inception module, named conv3a ... conv5b to
    match), about the same MACs, but every layer uses a single 3x3 kernel.
    """
    c = _scaler(width)
    check_channels(in_channels=in_channels)
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, c(24), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    ch = c(24)
    plan = {"conv3a": 24, "conv3b": 32, "maxpool3": None,  # 8x8
            "conv4a": 40, "conv4b": 40, "conv4c": 40, "conv4d": 40, "conv4e": 64,
            "maxpool4": None,  # 4x4
            "conv5a": 96, "conv5b": 112}  # fmt: skip
    for stage, out in plan.items():
        stages[stage] = _pool() if out is None else ConvBNAct(ch, c(out), 3, bn=bn)
        ch = c(out) if out else ch
    return Network("mini_baseline", stages, num_classes, 0.4)


def mini_naive(
    num_classes: int = 10, width: float = 1.0, in_channels: int = 3, bn: bool = False
) -> Network:
    """A stack of naive Inception modules for 32x32 inputs. (N, C, 32, 32) -> (N, classes).

    Each `NaiveInception` passes all its input channels through its pool branch, so the width
    grows with every module (24 -> 48 -> 72 -> 120 -> 168 -> 216 at width 1) and so does the cost
    of the 3x3 and 5x5 convs that read it: the problem the 1x1 reductions of GoogLeNet solve.
    """
    c = _scaler(width)
    check_channels(in_channels=in_channels)
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, c(24), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    ch = c(24)
    #       each module: 1x1, 3x3 and 5x5 convs of this width, plus all input channels
    plan = {"inception3a": 8, "inception3b": 8, "maxpool3": None,  # 8x8
            "inception4a": 16, "inception4b": 16, "maxpool4": None,  # 4x4
            "inception5a": 16}  # fmt: skip
    for stage, w in plan.items():
        stages[stage] = _pool() if w is None else NaiveInception(ch, c(w), c(w), c(w), bn=bn)
        ch = stages[stage].out_ch if w else ch
    return Network("mini_naive", stages, num_classes, 0.4)


def mini_reduced(
    num_classes: int = 10, width: float = 1.0, in_channels: int = 3, bn: bool = False
) -> Network:
    """`mini_naive` rebuilt from dimension-reduced modules. (N, C, 32, 32) -> (N, classes).

    The same stem, grids (16 -> 8 -> 4) and five module slots with the same names as
    `mini_naive`, but each slot holds an `Inception` module: 1x1 reductions before its 3x3 and
    5x5 convs and a 1x1 projection after its pool. Widths were chosen to cost a little less than
    `mini_naive` (about 12.0M vs 14.2M MACs, 190K vs 225K parameters at width 1), which buys 3x3
    convs 3 to 7 times wider than the naive stack's: the trade GoogLeNet makes.
    """
    c = _scaler(width)
    check_channels(in_channels=in_channels)
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, c(24), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    ch = c(24)
    #                 1x1 3x3red 3x3 5x5red 5x5 pool_proj    -> out (at width 1)
    plan = {"inception3a": (16, 16, 24, 4, 8, 8),  # 56
            "inception3b": (24, 24, 40, 6, 12, 12),  # 88
            "maxpool3": None,  # 8x8
            "inception4a": (32, 32, 64, 8, 16, 16),  # 128
            "inception4b": (40, 40, 80, 10, 20, 20),  # 160
            "maxpool4": None,  # 4x4
            "inception5a": (56, 56, 112, 12, 28, 28)}  # 224  # fmt: skip
    for stage, widths in plan.items():
        stages[stage] = _pool() if widths is None else Inception(ch, *map(c, widths), bn=bn)
        ch = stages[stage].out_ch if widths else ch
    return Network("mini_reduced", stages, num_classes, 0.4)


def mini_factorized(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 3,
    factorized: bool = True,
    bn: bool = True,
    aux_logits: bool = False,
) -> Network:
    """Inception v3 for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    v3's sequence at about 1/8 of its widths: InceptionA x2 on 16x16, GridReduction to 8x8,
    InceptionB x2 (n = 5: on an 8x8 grid a 5-wide window plays the role of v3's 7 on 17x17),
    GridReduction to 4x4, InceptionC x2. Stage names follow `inception_v3`.
    `factorized=False` builds the unfactorized twin with the same topology and widths: 5x5
    instead of two 3x3, n x n instead of 1 x n + n x 1, 3x3 instead of the 1x3 | 3x1 split.
    `aux_logits=True` adds v3's single auxiliary head (`AuxLogits`, variant "v3" with BN, as in
    the v3 paper's "BN-auxiliary") on the last 8x8 stage, Mixed_6c, where v3 taps its last 17x17
    stage; its widths (128 and 768 in v3) are divided by 8 like the rest of the model.
    """
    c, n, f = _scaler(width), 5, factorized
    check_channels(in_channels=in_channels)

    def module_a(in_ch: int, pool_proj: int) -> InceptionA:  # 1x1, 3x3red, 3x3, dblred, dbl
        return InceptionA(in_ch, c(8), c(6), c(8), c(8), c(12), c(pool_proj), bn=bn,
                          factorized=f)  # fmt: skip

    def module_b(in_ch: int) -> InceptionB:  # 1x1, nxn red, nxn, dblred, dbl, pool_proj
        return InceptionB(in_ch, c(24), c(16), c(24), c(16), c(24), c(24), n=n, bn=bn,
                          factorized=f)  # fmt: skip

    def module_c(in_ch: int) -> InceptionC:  # 1x1, 3x3red, 3x3 (x2), dblred, dbl (x2), pool_proj
        return InceptionC(in_ch, c(40), c(48), c(48), c(56), c(48), c(24), bn=bn,
                          factorized=f)  # fmt: skip

    window = [(c(24), (1, n)), (c(24), (n, 1))] if f else [(c(24), n)]  # in the 8 -> 4 reduction
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, c(32), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    stages["Mixed_5b"] = module_a(c(32), 4)  # 32
    stages["Mixed_5c"] = module_a(stages["Mixed_5b"].out_ch, 8)  # 36
    stages["Mixed_6a"] = GridReduction(  # 8x8, 36 + 48 + 12 = 96
        stages["Mixed_5c"].out_ch,
        {"branch3x3": [(c(48), 3)], "branch3x3dbl": [(c(8), 1), (c(12), 3), (c(12), 3)]},
        padding=1,
        bn=bn,
    )
    stages["Mixed_6b"] = module_b(stages["Mixed_6a"].out_ch)  # 96
    stages["Mixed_6c"] = module_b(stages["Mixed_6b"].out_ch)  # 96
    stages["Mixed_7a"] = GridReduction(  # 4x4, 96 + 40 + 24 = 160
        stages["Mixed_6c"].out_ch,
        {
            "branch3x3": [(c(24), 1), (c(40), 3)],
            f"branch{n}x{n}x3": [(c(24), 1), *window, (c(24), 3)],
        },
        padding=1,
        bn=bn,
    )
    stages["Mixed_7b"] = module_c(stages["Mixed_7a"].out_ch)  # 256
    stages["Mixed_7c"] = module_c(stages["Mixed_7b"].out_ch)  # 256
    aux = None
    if aux_logits:
        head = AuxClassifier(stages["Mixed_6c"].out_ch, num_classes, variant="v3", bn=True,
                             adaptive_pool=True, conv_ch=c(16), hidden=c(96))  # fmt: skip
        aux = {"AuxLogits": ("Mixed_6c", head)}
    return Network("mini_factorized", stages, num_classes, 0.4, aux)


def mini_inception_resnet(
    num_classes: int = 10,
    width: float = 1.0,
    in_channels: int = 3,
    depth: int | tuple[int, int, int] = (2, 2, 2),
    scale: float = 0.2,
    residual: bool = True,
    bn: bool = True,
) -> Network:
    """Inception-ResNet for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    3x3 stem to 16x16 and a 1x1 conv to the A width, then `depth` = (A, B, C) residual blocks on
    16x16 / 8x8 / 4x4 grids with GridReductions in between (widths 48 -> 112 -> 192 at width 1).
    `scale` multiplies every residual branch (the v4 paper: 0.1-0.3; 1.0 = no scaling),
    `residual=False` removes the shortcuts, `bn=False` removes BN. A deep, wide stack (e.g.
    `depth=8, width=2`) without scaling or BN lets the residual sum grow block after block; this
    is the instability the paper's scaling cures.
    """
    c, (n_a, n_b, n_c) = _scaler(width), _depths(depth)
    check_channels(in_channels=in_channels)
    block = {"scale": scale, "residual": residual, "bn": bn}
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, c(32), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
        "conv2": ConvBNAct(c(32), c(48), 1, bn=bn),
    }
    ch = c(48)
    for i in range(n_a):
        stages[f"block_a{i + 1}"] = InceptionResNetBlock.a(ch, c(8), **block)
    stages["reduction_a"] = GridReduction(  # 8x8
        ch,
        {"branch3x3": [(c(32), 3)], "branch3x3dbl": [(c(16), 1), (c(24), 3), (c(32), 3)]},
        padding=1,
        bn=bn,
    )
    ch = stages["reduction_a"].out_ch  # 112
    for i in range(n_b):
        stages[f"block_b{i + 1}"] = InceptionResNetBlock.b(ch, c(24), **block)
    stages["reduction_b"] = GridReduction(  # 4x4
        ch,
        {
            "branch3x3": [(c(24), 1), (c(40), 3)],
            "branch3x3dbl": [(c(24), 1), (c(32), 3), (c(40), 3)],
        },
        padding=1,
        bn=bn,
    )
    ch = stages["reduction_b"].out_ch  # 192
    for i in range(n_c):
        stages[f"block_c{i + 1}"] = InceptionResNetBlock.c(ch, c(32), **block)
    return Network("mini_inception_resnet", stages, num_classes, 0.2)


def mini_custom(
    make_stage: Callable[[int, int], nn.Module],
    num_classes: int = 10,
    in_channels: int = 3,
    stem_ch: int = 32,
    dropout: float = 0.2,
) -> Network:
    """A mini network around stages you design (the capstone's test bench). (N, C, 32, 32) -> (N, K).

    The grids of every mini model with a fixed stem and head: a 3x3 conv to `stem_ch` channels
    (BN, ReLU) on 32x32, then for grid = 16, 8, 4: a 3x3/2 max pool and `make_stage(in_ch, grid)`,
    named `stage16`, `stage8`, `stage4`; then global average pooling, dropout and a linear layer.
    `make_stage(in_ch, grid)` returns a module that maps (N, in_ch, grid, grid) to
    (N, out_ch, grid, grid): one block of `inception_lab.blocks`, or an `nn.Sequential` of them.
    Each stage's input width is the previous stage's output width, measured with one forward pass
    on zeros (and stored as the stage's `.out_ch`).
    """
    check_channels(in_channels=in_channels, stem_ch=stem_ch)
    _check_int("num_classes", num_classes)
    if not callable(make_stage):
        raise ValueError(  # noqa: TRY004 (the course raises ValueError for every bad argument)
            f"make_stage must be a function (in_ch, grid) -> module, got {make_stage!r}"
        )
    stages: dict[str, nn.Module] = {"conv1": ConvBNAct(in_channels, stem_ch, 3)}  # 32x32
    ch = stem_ch
    for grid in (16, 8, 4):
        stages[f"maxpool{grid}"] = _pool()
        stage = make_stage(ch, grid)
        if not isinstance(stage, nn.Module):
            raise ValueError(  # noqa: TRY004
                f"make_stage({ch}, {grid}) must return an nn.Module, got {type(stage).__name__}"
            )
        was_training = stage.training
        stage.eval()
        try:
            with torch.no_grad():
                out = stage(torch.zeros(1, ch, grid, grid))
        except Exception as err:
            raise ValueError(
                f"the module from make_stage({ch}, {grid}) fails on a (1, {ch}, {grid}, {grid}) "
                f"input: {type(err).__name__}: {err}"
            ) from err
        finally:
            stage.train(was_training)
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[-2:] != (grid, grid):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"the module from make_stage({ch}, {grid}) must keep the {grid}x{grid} grid "
                f"(the max pools between stages shrink it), got output {shape}"
            )
        declared = getattr(stage, "out_ch", None)
        if declared is not None and declared != out.shape[1]:
            raise ValueError(
                f"the module from make_stage({ch}, {grid}) says out_ch={declared} but outputs "
                f"{out.shape[1]} channels"
            )
        stage.out_ch = ch = out.shape[1]
        stages[f"stage{grid}"] = stage
    return Network("mini_custom", stages, num_classes, dropout)


# --------------------------------------------------------------------------- torchvision weights
def _from_torchvision(key: str) -> str:
    """A torchvision GoogLeNet / Inception3 state_dict key -> the same tensor's key here.

    inception3a.branch2.1.conv.weight -> inception3a.branches.branch3x3.1.conv.weight
    Mixed_7b.branch3x3_2a.bn.bias     -> Mixed_7b.branches.branch3x3.1.split_1xn.bn.bias
    """
    stage, branch, rest = (key.split(".", 2) + ["", ""])[:3]
    if stage.startswith("inception"):  # GoogLeNet numbers its branches; branch1 is a bare conv
        if branch == "branch1":
            return f"{stage}.branches.branch1x1.0.{rest}"
        named = {"branch2": "branch3x3", "branch3": "branch5x5", "branch4": "branch_pool"}
        return f"{stage}.branches.{named[branch]}.{rest}"
    if stage.startswith("Mixed_"):  # v3 numbers the layers inside a branch: branch5x5_2 etc.
        if branch == "branch_pool":  # its pool is functional, so the conv is our layer 1
            return f"{stage}.branches.branch_pool.1.{rest}"
        name, index, half = re.fullmatch(r"(branch\w+?)(?:_(\d)([ab]?))?", branch).groups()
        layer = int(index) - 1 if index else 0
        split = {"a": ".split_1xn", "b": ".split_nx1", "": ""}[half or ""]
        return f"{stage}.branches.{name}.{layer}{split}.{rest}"
    return key  # stem convs, aux heads and fc have the same names


def load_torchvision_state_dict(model: Network, state_dict: Mapping[str, torch.Tensor]) -> Network:
    """Load a torchvision GoogLeNet or Inception3 state_dict into our twin of it, strictly.

    `model` must be `googlenet("torchvision", aux_logits=...)` or `inception_v3(aux_logits=...)`
    with the same `aux_logits` and `num_classes` as the torchvision model. Returns `model`.
    """
    model.load_state_dict({_from_torchvision(k): v for k, v in state_dict.items()})
    return model


# --------------------------------------------------------------------------- registry
MODELS: dict[str, Callable[..., Network]] = {
    "googlenet": googlenet,
    "bn_inception": bn_inception,
    "inception_v3": inception_v3,
    "inception_resnet": inception_resnet,
    "mini_baseline": mini_baseline,
    "mini_naive": mini_naive,
    "mini_reduced": mini_reduced,
    "mini_googlenet": mini_googlenet,
    "mini_bn_inception": mini_bn_inception,
    "mini_factorized": mini_factorized,
    "mini_inception_resnet": mini_inception_resnet,
}


def list_models() -> list[str]:
    """Names accepted by `build`, in course order."""
    return list(MODELS)


def build(name: str, **kwargs) -> Network:
    """Build a model by name, e.g. `build("mini_googlenet", num_classes=10, width=0.5)`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
