"""Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture") in torchvision's
layout, layer for layer, so that torchvision's weights load into it."""

from __future__ import annotations

from torch import nn

from .._validate import check_int
from ..blocks import (
    AuxClassifierV3,
    ConvBNAct,
    GridReduction,
    InceptionA,
    InceptionB,
    InceptionC,
)
from .network import Network
from .registry import register


@register(
    input_size=299,
    family="Inception v3",
    paper="Szegedy et al. 2015, Rethinking the Inception Architecture: Table 1, Figures 5-7, 10",
)
def inception_v3(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.5,
    aux_logits: bool = False,
) -> Network:
    """Inception v3 (Szegedy et al. 2015), torchvision's layout. (N, C, 299, 299) -> (N, classes).

    Grid: 299 -> 149 -> 147 -> 73 -> 71 -> 35 (stem) -> 17 (Mixed_6a) -> 8 (Mixed_7a).
    Smallest input: 75x75 (as torchvision's weights' meta["min_size"]).
    Stage names are torchvision's (which come from the TF-slim graph), so its weights load with
    `load_torchvision_state_dict`. torchvision's modules map onto our blocks as: its InceptionA
    -> `InceptionA(single_kernel=5)` (it keeps a 5x5 where the paper has 3x3), InceptionB and
    InceptionD -> `GridReduction`, InceptionC -> `InceptionB` (n = 7), InceptionE ->
    `InceptionC` (v3 paper Figures 5, 6, 7 and 10). Its average pools count the zero padding
    (`pool="avg_include_pad"`); the papers' TensorFlow code averages over real pixels only (our
    blocks' default `pool="avg"`).
    The aux head (`AuxLogits`, v3 form with BN) taps Mixed_6e; dropout 0.5.
    """
    check_int("num_classes", num_classes)
    check_int("in_channels", in_channels)
    pool = "avg_include_pad"

    def mixed_a(in_ch: int, pool_proj: int) -> InceptionA:  # 35x35
        return InceptionA(in_ch, 64, 48, 64, 64, 96, pool_proj, pool=pool, single_kernel=5)

    def mixed_b(ch7x7red: int) -> InceptionB:  # 17x17, n = 7
        return InceptionB(768, 192, ch7x7red, 192, ch7x7red, 192, 192, pool=pool)

    def mixed_c(in_ch: int) -> InceptionC:  # 8x8
        return InceptionC(in_ch, 320, 384, 384, 448, 384, 192, pool=pool)

    stages = {
        "Conv2d_1a_3x3": ConvBNAct(in_channels, 32, 3, stride=2, padding="valid"),  # 149x149
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
        aux = {"AuxLogits": ("Mixed_6e", AuxClassifierV3(768, num_classes, bn=True))}
    return Network("inception_v3", stages, num_classes, dropout, aux)
