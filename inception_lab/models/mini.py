"""The mini models: the course's networks for 32x32 inputs (~5-15 M MACs, train in minutes on
a CPU), one per step of the course.

    mini_baseline          a plain 3x3 CNN, the control
    mini_naive             naive Inception modules (GoogLeNet paper, Figure 2a)
    mini_reduced           the same slots with 1x1 reductions (Figure 2b)
    mini_googlenet         GoogLeNet's Table 1 at 1/6 width
    mini_bn_inception      the same with BN and factorized 5x5 convs
    mini_factorized        Inception v3's sequence at 1/8 width
    mini_inception_resnet  Inception-ResNet blocks with residual scaling
    mini_custom            a fixed stem and head around stages you design (not in `build`)

Grid of every mini model: 32x32 (stem) -> 16x16 -> 8x8 -> 4x4, like GoogLeNet's 28 -> 14 -> 7.
A stage's input width is always the previous stage's output width (so any `width` works).
Every builder takes keyword arguments only (`mini_custom`: after `make_stage`): `num_classes`,
`in_channels`, `dropout` (the head's), `width`, and its own knobs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from .._validate import check_int
from ..blocks import (
    AuxClassifier,
    AuxClassifierV3,
    ConvBNAct,
    GridReduction,
    Inception,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionResNetBlock,
    NaiveInception,
)
from .googlenet import table1_stages
from .network import Network, block_depths, channel_scaler
from .registry import register

# Every mini model is registered for 32x32 inputs; they are listed after the full-size family,
# in the order of this file (the course's).
_mini = functools.partial(register, input_size=32, mini=True)
_GOOGLENET_PAPER = "Szegedy et al. 2014, Going Deeper with Convolutions"


def _pool() -> nn.MaxPool2d:
    """3x3/2 max pool that halves even grids exactly (32 -> 16 -> 8 -> 4)."""
    return nn.MaxPool2d(3, stride=2, padding=1)


def _planned_stages(
    in_channels: int,
    stem_ch: int,
    plan: dict[str, object],
    make: Callable[[int, object], nn.Module],
    bn: bool,
) -> dict[str, nn.Module]:
    """A 3x3 stem conv to `stem_ch` (32x32) and a max pool to 16x16, then `plan` in order:
    `make(in_ch, entry)` for each entry, a max pool for each None. Each stage reads the width
    the one before it gives."""
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, stem_ch, 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    ch = stem_ch
    for stage, entry in plan.items():
        stages[stage] = _pool() if entry is None else make(ch, entry)
        ch = ch if entry is None else stages[stage].out_ch
    return stages


@_mini(family="plain CNN", paper="none: the control, a stack of 3x3 convs (VGG-style)")
def mini_baseline(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    width: float = 1.0,
    bn: bool = False,
    kernel_size: int = 3,
) -> Network:
    """A plain CNN with one kernel size (3x3) for 32x32 inputs. (N, C, 32, 32) -> (N, classes).

    The control for the Inception models: the same grids (32 -> 16 -> 8 -> 4), the same depth in
    stages (one 3x3 conv where mini_googlenet has an Inception module, named conv3a ... conv5b to
    match), about the same MACs, but every layer uses a single 3x3 kernel. `kernel_size=5` (or 1,
    7) gives the single-kernel stack of another size (the stem stays 3x3; the stage names keep
    "conv"); `width` about 0.6 brings a 5x5 stack back to the 3x3 stack's MACs.
    """
    scaled = channel_scaler(width)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)
    if kernel_size not in (1, 3, 5, 7):
        raise ValueError(f"kernel_size must be 1, 3, 5 or 7, got {kernel_size!r}")
    plan = {"conv3a": 24, "conv3b": 32, "maxpool3": None,  # 8x8
            "conv4a": 40, "conv4b": 40, "conv4c": 40, "conv4d": 40, "conv4e": 64,
            "maxpool4": None,  # 4x4
            "conv5a": 96, "conv5b": 112}  # fmt: skip

    def conv3x3(in_ch: int, out: int) -> ConvBNAct:
        return ConvBNAct(in_ch, scaled(out), kernel_size, bn=bn)

    stages = _planned_stages(in_channels, scaled(24), plan, conv3x3, bn)
    return Network("mini_baseline", stages, num_classes, dropout)


@_mini(family="GoogLeNet", paper=f"{_GOOGLENET_PAPER}: Figure 2(a), the naive module")
def mini_naive(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    width: float = 1.0,
    bn: bool = False,
) -> Network:
    """A stack of naive Inception modules for 32x32 inputs. (N, C, 32, 32) -> (N, classes).

    Each `NaiveInception` passes all its input channels through its pool branch, so the width
    grows with every module (24 -> 48 -> 72 -> 120 -> 168 -> 216 at width 1) and so does the cost
    of the 3x3 and 5x5 convs that read it: the problem the 1x1 reductions of GoogLeNet solve.
    """
    scaled = channel_scaler(width)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)
    #       each module: 1x1, 3x3 and 5x5 convs of this width, plus all input channels
    plan = {"inception3a": 8, "inception3b": 8, "maxpool3": None,  # 8x8
            "inception4a": 16, "inception4b": 16, "maxpool4": None,  # 4x4
            "inception5a": 16}  # fmt: skip

    def naive(in_ch: int, branch_width: int) -> NaiveInception:
        return NaiveInception(in_ch, *[scaled(branch_width)] * 3, bn=bn)

    stages = _planned_stages(in_channels, scaled(24), plan, naive, bn)
    return Network("mini_naive", stages, num_classes, dropout)


@_mini(family="GoogLeNet", paper=f"{_GOOGLENET_PAPER}: Figure 2(b), 1x1 reductions")
def mini_reduced(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    width: float = 1.0,
    bn: bool = False,
) -> Network:
    """`mini_naive` rebuilt from dimension-reduced modules. (N, C, 32, 32) -> (N, classes).

    The same stem, grids (16 -> 8 -> 4) and five module slots with the same names as
    `mini_naive`, but each slot holds an `Inception` module: 1x1 reductions before its 3x3 and
    5x5 convs and a 1x1 projection after its pool. Widths were chosen to cost a little less than
    `mini_naive` (about 12.0M vs 14.2M MACs, 190K vs 225K parameters at width 1), which buys 3x3
    convs 3 to 7 times wider than the naive stack's: the trade GoogLeNet makes.
    """
    scaled = channel_scaler(width)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)
    #                 1x1 3x3red 3x3 5x5red 5x5 pool_proj    -> out (at width 1)
    plan = {"inception3a": (16, 16, 24, 4, 8, 8),  # 56
            "inception3b": (24, 24, 40, 6, 12, 12),  # 88
            "maxpool3": None,  # 8x8
            "inception4a": (32, 32, 64, 8, 16, 16),  # 128
            "inception4b": (40, 40, 80, 10, 20, 20),  # 160
            "maxpool4": None,  # 4x4
            "inception5a": (56, 56, 112, 12, 28, 28)}  # 224  # fmt: skip

    def reduced(in_ch: int, widths: tuple[int, ...]) -> Inception:
        return Inception(in_ch, *map(scaled, widths), bn=bn)

    stages = _planned_stages(in_channels, scaled(24), plan, reduced, bn)
    return Network("mini_reduced", stages, num_classes, dropout)


def _mini_v1(
    name: str,
    module: Callable[..., nn.Module],
    num_classes: int,
    in_channels: int,
    dropout: float,
    aux_logits: bool,
    width: float,
    bn: bool,
) -> Network:
    """GoogLeNet's Table 1 at 1/6 of its widths (times `width`) on 16 -> 8 -> 4 grids."""
    scaled = channel_scaler(width, base=1 / 6)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)
    stages = {
        "conv1": ConvBNAct(in_channels, scaled(192), 3, bn=bn),  # 32x32, GoogLeNet's stem width / 6
        "maxpool1": _pool(),  # 16x16: inception3a-b; 8x8: 4a-e; 4x4: 5a-b
        **table1_stages(scaled(192), module, lambda name: _pool(), scaled),
    }
    aux = None
    if aux_logits:  # v1 heads, shrunk so that they do not outweigh the network they help

        def head(stage: str) -> tuple[str, AuxClassifier]:
            in_ch, kw = stages[stage].out_ch, {"conv_ch": scaled(128), "hidden": scaled(1024)}
            return stage, AuxClassifier(in_ch, num_classes, bn=bn, adaptive_pool=True, **kw)

        aux = {"aux1": head("inception4a"), "aux2": head("inception4d")}
    return Network(name, stages, num_classes, dropout, aux)


@_mini(family="GoogLeNet", paper=f"{_GOOGLENET_PAPER}: Table 1 at 1/6 of its widths")
def mini_googlenet(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    aux_logits: bool = False,
    width: float = 1.0,
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

    return _mini_v1(
        "mini_googlenet", module, num_classes, in_channels, dropout, aux_logits, width, bn
    )


@_mini(
    family="BN-Inception",
    paper=f"{_GOOGLENET_PAPER}, Table 1 at 1/6 width, with Ioffe & Szegedy 2015, section 4.2",
)
def mini_bn_inception(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    aux_logits: bool = False,
    width: float = 1.0,
    bn: bool = True,
) -> Network:
    """BN-Inception for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    `mini_googlenet`'s layout and widths with each 5x5 factorized into two 3x3 (`InceptionA`,
    max pool branch as in v1) and BN after every conv. `bn=False` gives the same network without
    BN (convs with biases), to measure what BN itself buys.
    """

    def module(*widths: int) -> InceptionA:
        return InceptionA(*widths, pool="max", bn=bn, single_kernel=3)

    return _mini_v1(
        "mini_bn_inception", module, num_classes, in_channels, dropout, aux_logits, width, bn
    )


@_mini(
    family="Inception v3",
    paper="Szegedy et al. 2015, Rethinking the Inception Architecture: Table 1's sequence, "
    "Figures 5-7 and 10, at 1/8 width",
)
def mini_factorized(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.4,
    aux_logits: bool = False,
    width: float = 1.0,
    factorized: bool = True,
    bn: bool = True,
) -> Network:
    """Inception v3 for 32x32 inputs. (N, in_channels, 32, 32) -> (N, num_classes).

    v3's sequence at about 1/8 of its widths: InceptionA x2 on 16x16, GridReduction to 8x8,
    InceptionB x2 (n = 5: on an 8x8 grid a 5-wide window plays the role of v3's 7 on 17x17),
    GridReduction to 4x4, InceptionC x2. Stage names follow `inception_v3`.
    `factorized=False` builds the unfactorized twin with the same topology and widths: 5x5
    instead of two 3x3, n x n instead of 1 x n + n x 1, 3x3 instead of the 1x3 | 3x1 split.
    `aux_logits=True` adds v3's single auxiliary head (`AuxLogits`, `AuxClassifierV3` with BN, as in
    the v3 paper's "BN-auxiliary") on the last 8x8 stage, Mixed_6c, where v3 taps its last 17x17
    stage; its widths (128 and 768 in v3) are divided by 8 like the rest of the model.
    """
    scaled = channel_scaler(width)
    window_size = 5  # the n of the 1 x n / n x n convs on the 8x8 grid (v3: 7 on 17x17)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)  # before the aux head uses it

    def module_a(in_ch: int, pool_proj: int) -> InceptionA:
        #                          1x1 3x3red 3x3 dblred dbl
        widths = map(scaled, (8, 6, 8, 8, 12, pool_proj))
        return InceptionA(in_ch, *widths, bn=bn, factorized=factorized)

    def module_b(in_ch: int) -> InceptionB:
        #                          1x1 nxn red, nxn, dblred, dbl, pool_proj
        widths = map(scaled, (24, 16, 24, 16, 24, 24))
        return InceptionB(in_ch, *widths, n=window_size, bn=bn, factorized=factorized)

    def module_c(in_ch: int) -> InceptionC:
        #                          1x1, 3x3red, 3x3 (x2), dblred, dbl (x2), pool_proj
        widths = map(scaled, (40, 48, 48, 56, 48, 24))
        return InceptionC(in_ch, *widths, bn=bn, factorized=factorized)

    n = window_size  # in the 8 -> 4 reduction: 1 x n + n x 1, or n x n in the twin
    window = [(scaled(24), (1, n)), (scaled(24), (n, 1))] if factorized else [(scaled(24), n)]
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, scaled(32), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
    }
    stages["Mixed_5b"] = module_a(scaled(32), 4)  # 32
    stages["Mixed_5c"] = module_a(stages["Mixed_5b"].out_ch, 8)  # 36
    stages["Mixed_6a"] = GridReduction(  # 8x8, 36 + 48 + 12 = 96
        stages["Mixed_5c"].out_ch,
        {
            "branch3x3": [(scaled(48), 3)],
            "branch3x3dbl": [(scaled(8), 1), (scaled(12), 3), (scaled(12), 3)],
        },
        padding=1,
        bn=bn,
    )
    stages["Mixed_6b"] = module_b(stages["Mixed_6a"].out_ch)  # 96
    stages["Mixed_6c"] = module_b(stages["Mixed_6b"].out_ch)  # 96
    stages["Mixed_7a"] = GridReduction(  # 4x4, 96 + 40 + 24 = 160
        stages["Mixed_6c"].out_ch,
        {
            "branch3x3": [(scaled(24), 1), (scaled(40), 3)],
            f"branch{n}x{n}x3": [(scaled(24), 1), *window, (scaled(24), 3)],
        },
        padding=1,
        bn=bn,
    )
    stages["Mixed_7b"] = module_c(stages["Mixed_7a"].out_ch)  # 256
    stages["Mixed_7c"] = module_c(stages["Mixed_7b"].out_ch)  # 256
    aux = None
    if aux_logits:
        head = AuxClassifierV3(
            stages["Mixed_6c"].out_ch,
            num_classes,
            bn=True,
            adaptive_pool=True,
            conv_ch=scaled(16),
            hidden=scaled(96),
        )
        aux = {"AuxLogits": ("Mixed_6c", head)}
    return Network("mini_factorized", stages, num_classes, dropout, aux)


@_mini(
    family="Inception-ResNet",
    paper="Szegedy et al. 2016, arXiv:1602.07261: Figures 16, 17 and 19's blocks, residuals "
    "scaled as in section 3.3 (Figure 20)",
)
def mini_inception_resnet(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.2,
    width: float = 1.0,
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
    scaled, (blocks_a, blocks_b, blocks_c) = channel_scaler(width), block_depths(depth)
    check_int("in_channels", in_channels)
    check_int("num_classes", num_classes)
    block = {"scale": scale, "residual": residual, "bn": bn}
    stages: dict[str, nn.Module] = {
        "conv1": ConvBNAct(in_channels, scaled(32), 3, bn=bn),  # 32x32
        "maxpool1": _pool(),  # 16x16
        "conv2": ConvBNAct(scaled(32), scaled(48), 1, bn=bn),
    }
    # Per stage: its residual block, the block's branch width, and the grid reduction after it
    # (branches as (out_ch, kernel) layers; the last stage has none).
    plan = {
        "a": (InceptionResNetBlock.a, 8, [[(32, 3)], [(16, 1), (24, 3), (32, 3)]]),  # -> 8x8
        "b": (InceptionResNetBlock.b, 24, [[(24, 1), (40, 3)], [(24, 1), (32, 3), (40, 3)]]),
        "c": (InceptionResNetBlock.c, 32, None),
    }
    ch = scaled(48)
    for (stage, (make_block, branch_width, reduction)), n_blocks in zip(
        plan.items(), (blocks_a, blocks_b, blocks_c), strict=True
    ):
        for i in range(n_blocks):
            stages[f"block_{stage}{i + 1}"] = make_block(ch, scaled(branch_width), **block)
        if reduction is not None:
            branch3x3, branch3x3dbl = ([(scaled(w), k) for w, k in b] for b in reduction)
            branches = {"branch3x3": branch3x3, "branch3x3dbl": branch3x3dbl}
            stages[f"reduction_{stage}"] = GridReduction(ch, branches, padding=1, bn=bn)
            ch = stages[f"reduction_{stage}"].out_ch  # 112 after a, 192 after b (width 1)
    return Network("mini_inception_resnet", stages, num_classes, dropout)


def mini_custom(
    make_stage: Callable[[int, int], nn.Module],
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.2,
    stem_ch: int = 32,
) -> Network:
    """A mini network around stages you design (the capstone's bench). (N, C, 32, 32) -> (N, K).

    The grids of every mini model with a fixed stem and head: a 3x3 conv to `stem_ch` channels
    (BN, ReLU) on 32x32, then for grid = 16, 8, 4: a 3x3/2 max pool and `make_stage(in_ch, grid)`,
    named `stage16`, `stage8`, `stage4`; then global average pooling, dropout and a linear layer.
    `make_stage(in_ch, grid)` returns a module that maps (N, in_ch, grid, grid) to
    (N, out_ch, grid, grid): one block of `inception_lab.blocks`, or an `nn.Sequential` of them.
    Each stage's input width is the previous stage's output width, measured with one forward pass
    on zeros (and stored as the stage's `.out_ch`).
    """
    check_int("in_channels", in_channels)
    check_int("stem_ch", stem_ch)
    check_int("num_classes", num_classes)
    if not callable(make_stage):
        raise ValueError(  # the course raises ValueError for every bad argument
            f"make_stage must be a function (in_ch, grid) -> module, got {make_stage!r}"
        )
    stages: dict[str, nn.Module] = {"conv1": ConvBNAct(in_channels, stem_ch, 3)}  # 32x32
    ch = stem_ch
    for grid in (16, 8, 4):
        stages[f"maxpool{grid}"] = _pool()
        stage = make_stage(ch, grid)
        if not isinstance(stage, nn.Module):
            raise ValueError(
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
