"""Layers and Inception blocks: every idea of the Inception family as one small module.

Read top to bottom, this file follows the course:

1. `ConvBNAct`            the one place a convolution is defined (conv + optional BN + ReLU).
2. `NaiveInception`       four parallel branches (1x1, 3x3, 5x5, 3x3 max pool), concatenated.
3. `Inception`            the dimension-reduced v1 module: 1x1 convs shrink the channels first.
4. `InceptionA/B/C`       v2/v3 factorized modules: 5x5 -> two 3x3, n x n -> 1 x n + n x 1,
                          and the expanded filter bank with split 1x3 / 3x1 outputs; with
                          per-layer widths they are also Inception-v4's modules.
5. `Mixed`                any multi-branch block, written as the papers draw it: named branches
                          of `Conv`, `Pool` and `Split` specs (Inception-v4's stem is three).
6. `GridReduction`        halve the grid with parallel stride-2 convs and a stride-2 pool
                          (`reduction_a`: the v4 paper's Reduction-A with its k, l, m, n).
7. `AuxClassifier(V3)`    the auxiliary heads of v1 (GoogLeNet) and v3.
8. `InceptionResNetBlock` an Inception branch set, a linear 1x1 projection, scaled, added to x.

Shapes use PyTorch's (N, C, H, W) order. Every multi-branch block keeps its branches, in
concatenation order, in `self.branches` (an `nn.ModuleDict`), so that the profiler can report the
cost of each branch and the figures can draw them.

This file is longer than the package's other modules on purpose: it is the course's one
catalogue of blocks, in the order the lessons introduce them, and the later blocks are built
from the earlier ones; split into files, that reading order would be lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import nn

from ._validate import check_int, check_number, pair

Kernel = int | tuple[int, int]
Padding = str | int | tuple[int, int]


# --------------------------------------------------------------------------- input checks
def check_channels(**channels: int) -> None:
    """Raise a ValueError unless every named channel count is a positive integer (not a bool)."""
    for name, value in channels.items():
        check_int(name, value, what="a positive integer number of channels")


def check_input(module: nn.Module, x: torch.Tensor, in_ch: int) -> None:
    """Fail early, naming the block, when `x` is not a batch of `in_ch`-channel images.

    Called once at the entry of every block a learner calls directly (the multi-branch modules,
    the residual block, the aux heads); the convs inside trust their block and do not check.
    """
    if x.dim() != 4:
        raise ValueError(
            f"{type(module).__name__} expects a 4-d input (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_ch:
        raise ValueError(
            f"{type(module).__name__} expects {in_ch} input channels, got {x.shape[1]} "
            f"(input shape {tuple(x.shape)})"
        )


# --------------------------------------------------------------------------- 1. conv layer
class ConvBNAct(nn.Module):
    """Conv2d -> BatchNorm2d (optional) -> ReLU (optional).

    (N, in_ch, H, W) -> (N, out_ch, H', W'); with padding="same" and stride 1, H' = H, W' = W.

    The conv has a bias only when there is no BN (BN's own shift makes a bias redundant).
    `kernel_size` may be rectangular, e.g. (1, 7) for the factorized convs of Inception v3.
    `padding`: "same" (k // 2 per side; needs odd kernels), "valid" (0), or an int / pair.
    `bn_eps=1e-3` is the value used by the Inception papers' code and by torchvision.
    Its forward pass does not check its input (a network runs about a hundred of these per
    image): the block or network around it checks once, and a bare `ConvBNAct` called with the
    wrong channel count fails with PyTorch's own error from `nn.Conv2d`.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: Kernel,
        stride: int = 1,
        padding: str | int | tuple[int, int] = "same",
        bn: bool = True,
        act: bool = True,
        groups: int = 1,
        bn_eps: float = 1e-3,
    ):
        super().__init__()
        check_channels(in_ch=in_ch, out_ch=out_ch)
        kh, kw = pair("kernel_size", kernel_size)
        if padding == "same":
            if kh % 2 == 0 or kw % 2 == 0:
                raise ValueError(
                    f'padding="same" needs odd kernel sizes, got kernel_size={kernel_size!r}; '
                    "pass an explicit padding for even kernels"
                )
            padding = (kh // 2, kw // 2)
        elif padding == "valid":
            padding = 0
        elif isinstance(padding, str):
            raise ValueError(f'padding must be "same", "valid", an int or a pair, got {padding!r}')
        check_int("groups", groups)
        if in_ch % groups or out_ch % groups:
            raise ValueError(f"groups={groups} must divide in_ch={in_ch} and out_ch={out_ch}")
        self.in_ch, self.out_ch = in_ch, out_ch
        self.conv = nn.Conv2d(
            in_ch, out_ch, (kh, kw), stride=stride, padding=padding, groups=groups, bias=not bn
        )
        self.bn = nn.BatchNorm2d(out_ch, eps=bn_eps) if bn else nn.Identity()
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


# --------------------------------------------------------------------------- shared plumbing
class MultiBranch(nn.Module):
    """Run every branch on the same input and concatenate along channels.

    (N, in_ch, H, W) -> (N, sum of branch channels, H', W'). Subclasses fill `self.branches`.
    The idea of Inception: let the network use several kernel sizes at once and learn which
    matter, instead of choosing one size per layer by hand.
    """

    def __init__(self, in_ch: int, branches: Mapping[str, nn.Module], out_ch: int):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.branches = nn.ModuleDict(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x, self.in_ch)
        return torch.cat([branch(x) for branch in self.branches.values()], dim=1)


def _pool(kind: str, stride: int = 1, padding: int = 1) -> nn.Module:
    if kind == "max":
        return nn.MaxPool2d(3, stride=stride, padding=padding)
    if kind in ("avg", "avg_include_pad"):
        # "avg": border pixels are averaged over real pixels only, as TensorFlow's "SAME" average
        # pool does in the papers' code. "avg_include_pad" counts the zero padding too, which is
        # PyTorch's default and what torchvision's Inception v3 does (needed to match its outputs).
        include = kind == "avg_include_pad"
        return nn.AvgPool2d(3, stride=stride, padding=padding, count_include_pad=include)
    raise ValueError(f'pool must be "max", "avg" or "avg_include_pad", got {kind!r}')


# --------------------------------------------------------------------------- 2. naive module
class NaiveInception(MultiBranch):
    """The naive Inception module (GoogLeNet paper, Figure 2a).

    (N, in_ch, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + in_ch, H, W).

    Branches: 1x1 conv, 3x3 conv, 5x5 conv and a 3x3 max pool, all stride 1 and "same" padded so
    their outputs can be stacked. The pool branch cannot change the channel count, so every
    input channel passes through it: the output is always wider than the input, and a stack of
    these modules grows in width - and in cost - with depth.
    """

    def __init__(self, in_ch: int, ch1x1: int, ch3x3: int, ch5x5: int, bn: bool = False):
        check_channels(in_ch=in_ch, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5)
        branches = {
            "branch1x1": nn.Sequential(ConvBNAct(in_ch, ch1x1, 1, bn=bn)),
            "branch3x3": nn.Sequential(ConvBNAct(in_ch, ch3x3, 3, bn=bn)),
            "branch5x5": nn.Sequential(ConvBNAct(in_ch, ch5x5, 5, bn=bn)),
            "branch_pool": nn.Sequential(_pool("max")),
        }
        super().__init__(in_ch, branches, ch1x1 + ch3x3 + ch5x5 + in_ch)


# --------------------------------------------------------------------------- 3. v1 module
class Inception(MultiBranch):
    """The Inception module with dimension reductions (GoogLeNet paper, Figure 2b / Table 1).

    (N, in_ch, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).

    The arguments are the columns of the paper's Table 1. Cheap 1x1 convs (Network in Network)
    reduce the channels to `ch3x3red` / `ch5x5red` before the expensive 3x3 / 5x5 convs, and a 1x1
    projection to `pool_proj` channels follows the pool, so the output width is chosen, not grown.

    `bn=False, kernel5=5` is the paper (convs with bias, no BN). torchvision's GoogLeNet uses
    `bn=True, kernel5=3`: its "5x5" branch really has a 3x3 kernel, a known quirk it kept for
    compatibility with its pretrained weights. The branch keeps the name `branch5x5` either way.
    """

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        bn: bool = False,
        kernel5: int = 5,
    ):
        check_channels(
            in_ch=in_ch,
            ch1x1=ch1x1,
            ch3x3red=ch3x3red,
            ch3x3=ch3x3,
            ch5x5red=ch5x5red,
            ch5x5=ch5x5,
            pool_proj=pool_proj,
        )
        branches = {
            "branch1x1": nn.Sequential(ConvBNAct(in_ch, ch1x1, 1, bn=bn)),
            "branch3x3": nn.Sequential(
                ConvBNAct(in_ch, ch3x3red, 1, bn=bn), ConvBNAct(ch3x3red, ch3x3, 3, bn=bn)
            ),
            "branch5x5": nn.Sequential(
                ConvBNAct(in_ch, ch5x5red, 1, bn=bn), ConvBNAct(ch5x5red, ch5x5, kernel5, bn=bn)
            ),
            "branch_pool": nn.Sequential(_pool("max"), ConvBNAct(in_ch, pool_proj, 1, bn=bn)),
        }
        super().__init__(in_ch, branches, ch1x1 + ch3x3 + ch5x5 + pool_proj)


# --------------------------------------------------------------------------- 4. factorized
class InceptionA(MultiBranch):
    """Factorized module for the 35x35 grid (v3 paper Figure 5; also BN-Inception's module).

    (N, in_ch, H, W) -> (N, ch1x1 + ch3x3 + ch3x3dbl + pool_proj, H, W).

    A 5x5 conv sees as far as two stacked 3x3 convs, but costs 25 instead of 2 * 9 = 18 weights
    per channel pair: `branch3x3dbl` (1x1 -> 3x3 -> 3x3) replaces the 5x5 branch, 28% cheaper,
    with an extra ReLU in between.

    `single_kernel` is the kernel of the single-conv branch: 3 in the papers; torchvision's
    Inception v3 keeps a 5x5 there (`single_kernel=5`, branch named `branch5x5`).
    `factorized=False` builds the unfactorized twin for comparison: one 5x5 conv where the paper
    stacks two 3x3 (same widths, same branch names).
    """

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch3x3dblred: int,
        ch3x3dbl: int,
        pool_proj: int,
        pool: str = "avg",
        bn: bool = True,
        single_kernel: int = 3,
        factorized: bool = True,
    ):
        check_channels(
            in_ch=in_ch,
            ch1x1=ch1x1,
            ch3x3red=ch3x3red,
            ch3x3=ch3x3,
            ch3x3dblred=ch3x3dblred,
            ch3x3dbl=ch3x3dbl,
            pool_proj=pool_proj,
        )
        k = single_kernel
        dbl = (  # two stacked 3x3 see the same 5x5 window as one 5x5 conv
            [ConvBNAct(ch3x3dblred, ch3x3dbl, 3, bn=bn), ConvBNAct(ch3x3dbl, ch3x3dbl, 3, bn=bn)]
            if factorized
            else [ConvBNAct(ch3x3dblred, ch3x3dbl, 5, bn=bn)]
        )
        branches = {
            "branch1x1": nn.Sequential(ConvBNAct(in_ch, ch1x1, 1, bn=bn)),
            f"branch{k}x{k}": nn.Sequential(
                ConvBNAct(in_ch, ch3x3red, 1, bn=bn), ConvBNAct(ch3x3red, ch3x3, k, bn=bn)
            ),
            "branch3x3dbl": nn.Sequential(ConvBNAct(in_ch, ch3x3dblred, 1, bn=bn), *dbl),
            "branch_pool": nn.Sequential(_pool(pool), ConvBNAct(in_ch, pool_proj, 1, bn=bn)),
        }
        super().__init__(in_ch, branches, ch1x1 + ch3x3 + ch3x3dbl + pool_proj)


def _layer_widths(name: str, value: int | Sequence[int], inner: int, count: int) -> list[int]:
    """Widths of a branch's `count` thin convs, input side first.

    An int is the v3 form: every inner conv keeps the reduction width `inner` and only the last
    one has `value` channels. A list or tuple of `count` ints gives every conv its own width
    (Inception-v4 widens inside the branch, e.g. 192 -> 224 -> 256).
    """
    if isinstance(value, list | tuple):
        if len(value) != count:
            raise ValueError(
                f"{name} must be a positive integer or {count} of them (one per conv of the "
                f"branch), got {value!r}"
            )
        for i, width in enumerate(value):
            check_channels(**{f"{name}[{i}]": width})
        return list(value)
    check_channels(**{name: value})
    return [inner] * (count - 1) + [value]


class InceptionB(MultiBranch):
    """Factorized module for the 17x17 grid (v3 paper Figure 6, n = 7; v4 paper Figure 5).

    (N, in_ch, H, W) -> (N, ch1x1 + ch7x7 + ch7x7dbl + pool_proj, H, W), counting the last width
    of a per-layer list.

    An n x n conv is replaced by a 1 x n conv followed by an n x 1 conv: the same n x n window,
    2n instead of n^2 weights per channel pair (for n = 7: 14 instead of 49). `branch7x7` does
    this once, `branch7x7dbl` twice. With int widths (v3) the inner convs keep the reduced width
    `ch7x7red` / `ch7x7dblred`; Inception-v4 widens inside the branches, so `ch7x7` may also be
    the widths of its two convs, e.g. (224, 256), and `ch7x7dbl` the widths of its four, e.g.
    (192, 224, 224, 256). The order of the 7x1 and 1x7 convs follows torchvision and the released
    TF-slim models (the double branch starts with 7x1), so their weights load.
    `factorized=False` builds the unfactorized twin: each 1 x n + n x 1 pair becomes one n x n
    conv to the pair's output width.
    """

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch7x7red: int,
        ch7x7: int | Sequence[int],
        ch7x7dblred: int,
        ch7x7dbl: int | Sequence[int],
        pool_proj: int,
        n: int = 7,
        pool: str = "avg",
        bn: bool = True,
        factorized: bool = True,
    ):
        check_channels(
            in_ch=in_ch,
            ch1x1=ch1x1,
            ch7x7red=ch7x7red,
            ch7x7dblred=ch7x7dblred,
            pool_proj=pool_proj,
        )
        single = _layer_widths("ch7x7", ch7x7, ch7x7red, 2)
        double = _layer_widths("ch7x7dbl", ch7x7dbl, ch7x7dblred, 4)
        check_int("n", n)
        if n % 2 == 0:
            raise ValueError(
                f"InceptionB: n must be odd (its 1 x n and n x 1 convs keep the grid size by "
                f"padding n // 2 on each side, which only centres an odd window), got n={n}"
            )

        def window(cin: int, mid: int, cout: int, first: Kernel, second: Kernel) -> list:
            """One n x n window: two thin convs (cin -> mid -> cout), or one n x n conv."""
            if not factorized:
                return [ConvBNAct(cin, cout, n, bn=bn)]
            return [ConvBNAct(cin, mid, first, bn=bn), ConvBNAct(mid, cout, second, bn=bn)]

        row, col = (1, n), (n, 1)
        branches = {
            "branch1x1": nn.Sequential(ConvBNAct(in_ch, ch1x1, 1, bn=bn)),
            f"branch{n}x{n}": nn.Sequential(
                ConvBNAct(in_ch, ch7x7red, 1, bn=bn), *window(ch7x7red, *single, row, col)
            ),
            f"branch{n}x{n}dbl": nn.Sequential(
                ConvBNAct(in_ch, ch7x7dblred, 1, bn=bn),
                *window(ch7x7dblred, double[0], double[1], col, row),
                *window(double[1], double[2], double[3], col, row),
            ),
            "branch_pool": nn.Sequential(_pool(pool), ConvBNAct(in_ch, pool_proj, 1, bn=bn)),
        }
        super().__init__(in_ch, branches, ch1x1 + single[-1] + double[-1] + pool_proj)


class SplitConv(nn.Module):
    """A 1 x n conv and an n x 1 conv side by side on the same input, concatenated.

    (N, in_ch, H, W) -> (N, 2 * ch_each, H, W): each of the two convs has `ch_each` channels, and
    `.out_ch` (= 2 * ch_each) is the width of the output, as for every other block. Used at the
    end of the branches of `InceptionC`.
    """

    def __init__(self, in_ch: int, ch_each: int, n: int = 3, bn: bool = True):
        super().__init__()
        self.in_ch, self.ch_each, self.out_ch = in_ch, ch_each, 2 * ch_each
        self.split_1xn = ConvBNAct(in_ch, ch_each, (1, n), bn=bn)
        self.split_nx1 = ConvBNAct(in_ch, ch_each, (n, 1), bn=bn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.split_1xn(x), self.split_nx1(x)], dim=1)


class InceptionC(MultiBranch):
    """Expanded filter bank for the coarsest (8x8) grid (v3 paper Figure 7; v4 paper Figure 6).

    (N, in_ch, H, W) -> (N, ch1x1 + 2 * ch3x3 + 2 * (split width of ch3x3dbl) + pool_proj, H, W).

    On a coarse grid the paper widens instead of deepening: the last 3x3 of each branch is split
    into a 1x3 and a 3x1 conv that run side by side (`SplitConv`) and both feed the concat, so
    each of these branches outputs twice its width. High-dimensional representations are easier
    to process locally (the v3 paper's principle 2).
    `ch3x3dbl` as an int (v3): 1x1 -> 3x3 -> split, all `ch3x3dbl` wide. As three ints
    `(w_3x1, w_1x3, w_split)` (Inception-v4, e.g. (448, 512, 256)): the middle 3x3 is factorized
    too, 1x1 -> 3x1 -> 1x3 -> split of `w_split` each (3x1 first, as in the released TF-slim
    model, so its weights load).
    `factorized=False` builds the unfactorized twin: a 3x3 conv of the same total width in place
    of each `SplitConv` (and of v4's 3x1 + 1x3 pair).
    """

    def __init__(
        self,
        in_ch: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch3x3dblred: int,
        ch3x3dbl: int | Sequence[int],
        pool_proj: int,
        pool: str = "avg",
        bn: bool = True,
        factorized: bool = True,
    ):
        check_channels(
            in_ch=in_ch,
            ch1x1=ch1x1,
            ch3x3red=ch3x3red,
            ch3x3=ch3x3,
            ch3x3dblred=ch3x3dblred,
            pool_proj=pool_proj,
        )
        if isinstance(ch3x3dbl, list | tuple):
            *middle, split_width = _layer_widths("ch3x3dbl", ch3x3dbl, ch3x3dblred, 3)
            kernels: list[Kernel] = [(3, 1), (1, 3)] if factorized else [3]
            middle = middle if factorized else middle[-1:]
        else:
            check_channels(ch3x3dbl=ch3x3dbl)
            middle, split_width, kernels = [ch3x3dbl], ch3x3dbl, [3]

        def split(cin: int, ch_each: int) -> nn.Module:
            """1x3 | 3x1 side by side (2 * ch_each channels), or the 3x3 conv they replace."""
            if factorized:
                return SplitConv(cin, ch_each, bn=bn)
            return ConvBNAct(cin, 2 * ch_each, 3, bn=bn)

        double, ch = [ConvBNAct(in_ch, ch3x3dblred, 1, bn=bn)], ch3x3dblred
        for width, kernel in zip(middle, kernels, strict=True):
            double.append(ConvBNAct(ch, width, kernel, bn=bn))
            ch = width
        branches = {
            "branch1x1": nn.Sequential(ConvBNAct(in_ch, ch1x1, 1, bn=bn)),
            "branch3x3": nn.Sequential(
                ConvBNAct(in_ch, ch3x3red, 1, bn=bn), split(ch3x3red, ch3x3)
            ),
            "branch3x3dbl": nn.Sequential(*double, split(ch, split_width)),
            "branch_pool": nn.Sequential(_pool(pool), ConvBNAct(in_ch, pool_proj, 1, bn=bn)),
        }
        super().__init__(in_ch, branches, ch1x1 + 2 * ch3x3 + 2 * split_width + pool_proj)


# --------------------------------------------------------------------------- 5. branch specs
class Conv(NamedTuple):
    """A conv layer in a branch spec (a `ConvBNAct`), e.g. `Conv(96, 3, stride=2, padding="valid")`.

    The papers' figures mark valid-padded convs with "V"; every other conv is "same"-padded.
    A plain pair `(out_ch, kernel)` in a spec means `Conv(out_ch, kernel)`.
    """

    out_ch: int
    kernel: Kernel
    stride: int = 1
    padding: Padding = "same"


class Pool(NamedTuple):
    """A 3x3 pool in a branch spec: `kind` "max", "avg" or "avg_include_pad" (see `_pool`).

    `padding`: "same" (1: the grid keeps its size at stride 1) or "valid" (0), or an int.
    A pool keeps the channels it is given, so a branch ending in a pool passes its input width on.
    """

    kind: str = "max"
    stride: int = 1
    padding: str | int = "same"


class Split(NamedTuple):
    """The end of a branch as a `SplitConv`: a 1 x n and an n x 1 conv side by side.

    It outputs 2 * `ch_each` channels.
    """

    ch_each: int
    n: int = 3


# A branch, written as the papers' figures draw it: its layers from input to output.
# E.g. [(64, 1), (96, 3)] is a 1x1 conv to 64 channels, then a 3x3 conv to 96.
Layer = tuple[int, Kernel] | Conv | Pool | Split
BranchSpec = Sequence[Layer]


def _check_branch_specs(owner: str, branches: Mapping[str, BranchSpec], what: str) -> None:
    """Fail with the block's name and the branch's name on an empty or malformed spec."""
    if not branches:
        raise ValueError(f"{owner} needs at least one {what}, got none")
    for name, spec in branches.items():
        if isinstance(spec, str) or not isinstance(spec, Sequence) or not spec:
            raise ValueError(f"{owner} branch {name!r} has no layers")
        for layer in spec:
            if isinstance(layer, Pool):
                continue
            width = layer.ch_each if isinstance(layer, Split) else layer[0]
            check_channels(**{f"{name} width": width})
            if not isinstance(layer, Split):
                pair(f"{name} kernel_size", layer[1])


def _build_branch(in_ch: int, spec: BranchSpec, bn: bool) -> tuple[nn.Sequential, int]:
    """The layers of one branch as an `nn.Sequential`, and the channels it outputs."""
    layers, ch = [], in_ch
    for layer in spec:
        if isinstance(layer, Pool):
            padding = {"same": 1, "valid": 0}.get(layer.padding, layer.padding)
            layers.append(_pool(layer.kind, stride=layer.stride, padding=padding))
        elif isinstance(layer, Split):
            layers.append(SplitConv(ch, layer.ch_each, layer.n, bn=bn))
            ch = 2 * layer.ch_each
        else:
            out_ch, kernel, stride, padding = Conv(*layer)
            layers.append(ConvBNAct(ch, out_ch, kernel, stride=stride, padding=padding, bn=bn))
            ch = out_ch
    return nn.Sequential(*layers), ch


class Mixed(MultiBranch):
    """Any multi-branch block, spelled out branch by branch as the papers' figures draw it.

    (N, in_ch, H, W) -> (N, sum of the branches' output channels, H', W').

    `branches` maps a name to a list of `Conv`, `Pool` and `Split` specs from input to output
    (a plain `(out_ch, kernel)` pair is a "same"-padded conv). Every branch must bring the grid to
    the same size, so that the outputs can be concatenated, in the order given. E.g. the second
    filter concat of Inception-v4's stem (v4 paper Figure 3), 73x73x160 -> 71x71x192:

        Mixed(160, {
            "branch3x3": [(64, 1), Conv(96, 3, padding="valid")],
            "branch7x7x3": [(64, 1), (64, (1, 7)), (64, (7, 1)), Conv(96, 3, padding="valid")],
        })

    The named blocks above (`Inception`, `InceptionA/B/C`, `GridReduction`) are fixed patterns of
    this one idea, with the papers' argument names.
    """

    def __init__(self, in_ch: int, branches: Mapping[str, BranchSpec], bn: bool = True):
        check_channels(in_ch=in_ch)
        _check_branch_specs(type(self).__name__, branches, "branch")
        built, out_ch = {}, 0
        for name, spec in branches.items():
            built[name], width = _build_branch(in_ch, spec, bn)
            out_ch += width
        super().__init__(in_ch, built, out_ch)


# --------------------------------------------------------------------------- 6. grid reduction
class GridReduction(Mixed):
    """Efficient grid-size reduction (v3 paper Figure 10; v4 paper Figures 7, 8, 12, 18).

    (N, in_ch, H, W) -> (N, in_ch + sum of branch widths, H', W'), H' = (H + 2p - 3) // 2 + 1.

    Halving the grid with a pool first loses information (a representational bottleneck);
    running the expensive conv at full resolution and pooling after costs 4x more. Instead,
    stride-2 conv branches and a stride-2 pool run in parallel and are concatenated: cheap, and
    the width grows while the grid shrinks.

    `branches` maps a name to a list of (out_ch, kernel) from input to output; the last conv of
    each branch is the stride-2 3x3, e.g. `{"branch3x3": [(384, 3)],
    "branch3x3dbl": [(64, 1), (96, 3), (96, 3)]}` (v3's 35 -> 17 reduction). The pool branch
    comes last. `padding=0` is the paper ("valid": 35 -> 17); `padding=1` halves even sizes
    exactly (32 -> 16).
    """

    def __init__(
        self,
        in_ch: int,
        branches: Mapping[str, BranchSpec],
        pool: str = "max",
        padding: int = 0,
        bn: bool = True,
    ):
        check_channels(in_ch=in_ch)
        _check_branch_specs("GridReduction", branches, "conv branch")
        specs: dict[str, BranchSpec] = {}
        for name, spec in branches.items():
            convs = [Conv(*layer) for layer in spec]  # only the last conv strides
            convs[-1] = convs[-1]._replace(stride=2, padding=padding)
            specs[name] = convs
        specs["branch_pool"] = [Pool(pool, stride=2, padding=padding)]
        super().__init__(in_ch, specs, bn=bn)


def reduction_a(in_ch: int, filters: tuple[int, int, int, int], bn: bool = True) -> GridReduction:
    """Reduction-A, 35x35 -> 17x17 (v4 paper Figure 7), the one reduction of three networks.

    (N, in_ch, 35, 35) -> (N, in_ch + n + m, 17, 17). `filters` are the paper's Table 1 columns
    (k, l, m, n): a 3x3/2 conv to n | 1x1 to k -> 3x3 to l -> 3x3/2 to m | 3x3/2 max pool.
    Table 1: Inception-v4 (192, 224, 256, 384), Inception-ResNet-v1 (192, 192, 256, 384),
    Inception-ResNet-v2 (256, 256, 384, 384).
    """
    if not (isinstance(filters, tuple | list) and len(filters) == 4):
        raise ValueError(f"filters must be the four ints (k, l, m, n) of Table 1, got {filters!r}")
    k_1x1, l_3x3, m_3x3, n_3x3 = filters
    branches = {"branch3x3": [(n_3x3, 3)], "branch3x3dbl": [(k_1x1, 1), (l_3x3, 3), (m_3x3, 3)]}
    return GridReduction(in_ch, branches, bn=bn)


# --------------------------------------------------------------------------- 7. aux heads
class _AuxHead(nn.Module):
    """What the auxiliary heads of v1 and v3 share: an average pool on an intermediate map.

    An auxiliary head classifies from a feature map halfway up the network; during training its
    loss is added to the main loss (GoogLeNet: weight 0.3) to push gradient into the lower
    layers, and at inference it is dropped. Both papers pool with a fixed 5x5 window, stride 3,
    which gives the map size the head's next layer needs on some grids only; `adaptive_pool=True`
    pools to that size whatever the grid (torchvision's GoogLeNet, and our 32x32 mini models).

    A subclass sets `pooled`, the side of the map its next layer needs, and `exact`: whether it
    needs exactly that side (it flattens into a linear layer) or at least it; `version` names the
    paper in error messages. Its weights keep torchvision's layer names, so that they load.
    """

    pooled: int
    exact: bool
    version: str

    def __init__(
        self, in_ch: int, num_classes: int, conv_ch: int, hidden: int, adaptive_pool: bool
    ):
        super().__init__()
        check_channels(in_ch=in_ch, num_classes=num_classes, conv_ch=conv_ch, hidden=hidden)
        self.in_ch = in_ch
        self.pool = (
            nn.AdaptiveAvgPool2d(self.pooled) if adaptive_pool else nn.AvgPool2d(5, stride=3)
        )

    def pool_input(self, x: torch.Tensor) -> torch.Tensor:
        """Check x and pool it: (N, in_ch, H, W) -> (N, in_ch, pooled, pooled) (or larger)."""
        check_input(self, x, self.in_ch)
        if isinstance(self.pool, nn.AvgPool2d):  # the fixed 5x5/3 pool fits some grids only
            # It gives (s - 5) // 3 + 1 per side: `pooled` for s from 3 * pooled + 2 to + 4.
            low = 3 * self.pooled + 2
            high = low + 2 if self.exact else None
            h, w = x.shape[-2:]
            if not all(low <= s and (high is None or s <= high) for s in (h, w)):
                need = f"a {low}x{low} to {high}x{high}" if high else f"at least a {low}x{low}"
                raise ValueError(
                    f"{type(self).__name__} ({self.version}) with the 5x5/3 average pool needs "
                    f"{need} input grid, got {h}x{w}; use adaptive_pool=True for other grid sizes"
                )
        return self.pool(x)


class AuxClassifier(_AuxHead):
    """GoogLeNet's auxiliary classifier (GoogLeNet paper, section 5), after inception 4a and 4d.

    (N, in_ch, H, W) -> (N, num_classes).

    5x5 average pool with stride 3 (the 14x14 grid -> 4x4), 1x1 conv to 128 + ReLU, FC to 1024 +
    ReLU, dropout 0.7, linear. The paper's fixed pool gives 4x4 only on a 14x14 to 16x16 grid;
    torchvision's GoogLeNet uses `bn=True, adaptive_pool=True` (4x4 whatever the grid).
    `conv_ch` (128) and `hidden` (1024) are the head's widths; small models shrink them so that
    the head does not outweigh the network it helps.
    """

    pooled, exact, version = 4, True, "v1"  # a 4x4 map flattens into fc1

    def __init__(
        self,
        in_ch: int,
        num_classes: int,
        bn: bool = False,
        adaptive_pool: bool = False,
        dropout: float = 0.7,
        conv_ch: int = 128,
        hidden: int = 1024,
    ):
        super().__init__(in_ch, num_classes, conv_ch, hidden, adaptive_pool)
        self.conv = ConvBNAct(in_ch, conv_ch, 1, bn=bn)
        self.fc1 = nn.Linear(conv_ch * self.pooled * self.pooled, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool_input(x)), 1)
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


class AuxClassifierV3(_AuxHead):
    """Inception v3's auxiliary classifier (v3 paper, section 4 and Figure 8), on the 17x17 grid.

    (N, in_ch, H, W) -> (N, num_classes).

    5x5 average pool with stride 3 (17x17 -> 5x5), 1x1 conv to 128, 5x5 "valid" conv to 768,
    global average pool, linear; no dropout. The v3 paper found that it acts mainly as a
    regularizer, more so when the head is batch-normalized (`bn=True`: BN after both convs, as in
    torchvision).
    The fixed pool needs at least a 17x17 grid; `adaptive_pool=True` pools any grid to 5x5.
    `conv_ch` (128) and `hidden` (768) are the widths of its two convs.
    """

    pooled, exact, version = 5, False, "v3"  # at least 5x5 for the 5x5 "valid" conv

    def __init__(
        self,
        in_ch: int,
        num_classes: int,
        bn: bool = False,
        adaptive_pool: bool = False,
        conv_ch: int = 128,
        hidden: int = 768,
    ):
        super().__init__(in_ch, num_classes, conv_ch, hidden, adaptive_pool)
        self.conv0 = ConvBNAct(in_ch, conv_ch, 1, bn=bn)
        self.conv1 = ConvBNAct(conv_ch, hidden, 5, padding="valid", bn=bn)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool_input(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


# --------------------------------------------------------------------------- 8. residual
class InceptionResNetBlock(nn.Module):
    """Inception-ResNet block (Inception-v4 paper, Figures 10, 11, 13 and 16, 17, 19; section 3.3).

    (N, in_ch, H, W) -> (N, in_ch, H, W).

        y = ReLU(x + scale * project(concat(branches(x))))

    The branches are an Inception module without a pool branch (a spec as for `Mixed`, of
    "same"-padded stride-1 convs); `project` is a *linear* 1x1 conv (no BN, no ReLU, with a bias)
    back to `in_ch` channels so the sum is possible. The paper found that very wide networks
    (more than about 1000 filters) "died" early in training unless the residual was scaled down
    by 0.1-0.3 before the add; `scale=1.0` means no scaling. `residual=False` drops the shortcut
    (y = ReLU(scale * project(...))) for comparison. `relu=False` leaves out the ReLU after the
    sum: the released Inception-ResNet-v2 ends with such a block (scale 1.0, no ReLU).

    The A/B/C variants of Inception-ResNet-v2 are configurations: see `a()`, `b()`, `c()`.
    """

    def __init__(
        self,
        in_ch: int,
        branches: Mapping[str, BranchSpec],
        scale: float = 0.2,
        bn: bool = True,
        residual: bool = True,
        relu: bool = True,
    ):
        super().__init__()
        check_channels(in_ch=in_ch)
        scale = check_number("scale", scale, 0, 1, low_open=True, note="the paper uses 0.1-0.3")
        _check_branch_specs("InceptionResNetBlock", branches, "branch")
        self.in_ch, self.out_ch = in_ch, in_ch
        self.scale, self.residual, self.relu = scale, residual, relu
        built, concat = {}, 0
        for name, spec in branches.items():
            built[name], width = _build_branch(in_ch, spec, bn)
            concat += width
        self.branches = nn.ModuleDict(built)
        # Linear projection with a bias, no BN, no ReLU: it only matches the widths for the add.
        self.project = ConvBNAct(concat, in_ch, 1, bn=False, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(self, x, self.in_ch)
        mixed = torch.cat([branch(x) for branch in self.branches.values()], dim=1)
        y = self.scale * self.project(mixed)
        y = x + y if self.residual else y
        return torch.relu(y) if self.relu else y

    # Branch widths of Inception-ResNet-v2 at width w = 32 (A), 128 (B), 192 (C).
    @classmethod
    def a(cls, in_ch: int, w: int = 32, scale: float = 0.17, **kw) -> InceptionResNetBlock:
        """35x35 block (Figure 16): 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3."""
        spec = {
            "branch1x1": [(w, 1)],
            "branch3x3": [(w, 1), (w, 3)],
            "branch3x3dbl": [(w, 1), (3 * w // 2, 3), (2 * w, 3)],
        }
        return cls(in_ch, spec, scale, **kw)

    @classmethod
    def b(cls, in_ch: int, w: int = 128, scale: float = 0.1, **kw) -> InceptionResNetBlock:
        """17x17 block (Figure 17): 1x1 | 1x1 -> 1x7 -> 7x1."""
        spec = {
            "branch1x1": [(3 * w // 2, 1)],
            "branch7x7": [(w, 1), (5 * w // 4, (1, 7)), (3 * w // 2, (7, 1))],
        }
        return cls(in_ch, spec, scale, **kw)

    @classmethod
    def c(cls, in_ch: int, w: int = 192, scale: float = 0.2, **kw) -> InceptionResNetBlock:
        """8x8 block (Figure 19): 1x1 | 1x1 -> 1x3 -> 3x1."""
        spec = {
            "branch1x1": [(w, 1)],
            "branch3x3": [(w, 1), (7 * w // 6, (1, 3)), (4 * w // 3, (3, 1))],
        }
        return cls(in_ch, spec, scale, **kw)
