"""Inception-v4 (Szegedy, Ioffe, Vanhoucke, Alemi 2016, "Inception-v4, Inception-ResNet and the
Impact of Residual Connections on Learning", arXiv:1602.07261), the pure Inception network of
the paper's Figure 9, built from `inception_lab.blocks`.

Stage names follow the released TF-slim model (Conv2d_1a_3x3 ... Mixed_7d), as in `inception_v3`.
"""

from __future__ import annotations

from torch import nn

from .._validate import check_int
from ..blocks import (
    Conv,
    ConvBNAct,
    GridReduction,
    InceptionA,
    InceptionB,
    InceptionC,
    Mixed,
    Pool,
    reduction_a,
)
from .network import Network
from .registry import register

# Table 1 of the paper: the filter numbers k, l, m, n of Reduction-A in Inception-v4.
REDUCTION_A_FILTERS = (192, 224, 256, 384)


def v4_stem(in_channels: int = 3) -> dict[str, nn.Module]:
    """The stem of Inception-v4 (Figure 3): (N, in_channels, 299, 299) -> (N, 384, 35, 35).

    Three plain convs (299 -> 149 -> 147 -> 147, the first two "valid"), then three filter
    concats, each running a conv branch next to a pool or another conv branch:
    Mixed_3a  3x3/2 max pool | 3x3/2 conv 96                          147 -> 73, 64 -> 160
    Mixed_4a  1x1 64 -> 3x3 96 | 1x1 64 -> 1x7 64 -> 7x1 64 -> 3x3 96   73 -> 71 (valid 3x3s), 192
    Mixed_5a  3x3/2 conv 192 | 3x3/2 max pool                         71 -> 35, 384
    """
    valid = "valid"
    return {
        "Conv2d_1a_3x3": ConvBNAct(in_channels, 32, 3, stride=2, padding=valid),  # 149x149
        "Conv2d_2a_3x3": ConvBNAct(32, 32, 3, padding=valid),  # 147x147
        "Conv2d_2b_3x3": ConvBNAct(32, 64, 3),  # 147x147
        "Mixed_3a": Mixed(  # 73x73x160; the pool comes first in the released model's concat
            64,
            {
                "branch_pool": [Pool("max", stride=2, padding=valid)],
                "branch3x3": [Conv(96, 3, stride=2, padding=valid)],
            },
        ),
        "Mixed_4a": Mixed(  # 71x71x192
            160,
            {
                "branch3x3": [(64, 1), Conv(96, 3, padding=valid)],
                "branch7x7x3": [(64, 1), (64, (1, 7)), (64, (7, 1)), Conv(96, 3, padding=valid)],
            },
        ),
        "Mixed_5a": GridReduction(192, {"branch3x3": [(192, 3)]}),  # 35x35x384
    }


@register(
    input_size=299,
    family="Inception-v4",
    paper="Szegedy et al. 2016, arXiv:1602.07261: Figure 9 (stem Figure 3, modules Figures 4-8, "
    "Table 1)",
)
def inception_v4(*, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2) -> Network:
    """Inception-v4 (v4 paper, Figure 9). (N, in_channels, 299, 299) -> (N, num_classes).

    Grid: 299 -> 35 (stem, Figure 3) -> 17 (Reduction-A) -> 8 (Reduction-B). Smallest input 75x75.
    - stem (Figure 3): 35x35x384;
    - 4 x Inception-A (Figure 4): 1x1 96 | 1x1 64 -> 3x3 96 | 1x1 64 -> 3x3 96 -> 3x3 96 |
      avg pool -> 1x1 96; 384 channels;
    - Reduction-A (Figure 7) with Table 1's k, l, m, n = 192, 224, 256, 384: 17x17x1024;
    - 7 x Inception-B (Figure 5): 1x1 384 | 1x1 192 -> 1x7 224 -> 7x1 256 |
      1x1 192 -> 7x1 192 -> 1x7 224 -> 7x1 224 -> 1x7 256 | avg pool -> 1x1 128; 1024 channels;
    - Reduction-B (Figure 8): 1x1 192 -> 3x3/2 192 | 1x1 256 -> 1x7 256 -> 7x1 320 -> 3x3/2 320 |
      3x3/2 max pool: 8x8x1536;
    - 3 x Inception-C (Figure 6): 1x1 256 | 1x1 384 -> (1x3 256 | 3x1 256) |
      1x1 384 -> 3x1 448 -> 1x3 512 -> (1x3 256 | 3x1 256) | avg pool -> 1x1 256; 1536 channels;
    - global average pool, dropout 0.2 (the paper's keep probability 0.8), linear.
    42,679,816 parameters with 1000 classes, as timm's `inception_v4` (whose weights load with
    `load_timm_state_dict`). Where 1 x n and n x 1 convs follow each other, their order is the
    released TF-slim model's (the double branches start with the n x 1 conv); the order drawn in
    the paper's figures may differ, which changes neither the parameters nor the MACs. The
    average pools average over real pixels only, as TensorFlow's do.
    """
    check_int("num_classes", num_classes)
    check_int("in_channels", in_channels)
    stages = v4_stem(in_channels)
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_5e"):  # 35x35x384
        stages[name] = InceptionA(384, 96, 64, 96, 64, 96, 96)
    stages["Mixed_6a"] = reduction_a(384, REDUCTION_A_FILTERS)  # 17x17x1024
    for name in (
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_6f",
        "Mixed_6g",
        "Mixed_6h",
    ):
        stages[name] = InceptionB(1024, 384, 192, (224, 256), 192, (192, 224, 224, 256), 128)
    stages["Mixed_7a"] = GridReduction(  # 8x8x1536
        1024,
        {
            "branch3x3": [(192, 1), (192, 3)],
            "branch7x7x3": [(256, 1), (256, (1, 7)), (320, (7, 1)), (320, 3)],
        },
    )
    for name in ("Mixed_7b", "Mixed_7c", "Mixed_7d"):  # 8x8x1536
        stages[name] = InceptionC(1536, 256, 384, 256, 384, (448, 512, 256), 256)
    return Network("inception_v4", stages, num_classes, dropout)
