"""Inception-ResNet-v1 and -v2 (Szegedy, Ioffe, Vanhoucke, Alemi 2016, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", arXiv:1602.07261).

    inception_resnet_v1()        the paper's Figures 14, 10, 7, 11, 12, 13 (Figure 15's schema)
    inception_resnet_v2()        the released network (timm's `inception_resnet_v2`)
    inception_resnet_v2_half()   the same at half depth (5 / 10 / 5 blocks), with a width knob

Both are built from `inception_lab.blocks`: `InceptionResNetBlock` for the residual blocks,
`reduction_a` / `GridReduction` for the grid reductions. Every builder takes keyword arguments
only: `num_classes`, `in_channels`, `dropout`, and its own knobs.
"""

from __future__ import annotations

from torch import nn

from .._validate import check_int
from ..blocks import ConvBNAct, GridReduction, InceptionA, InceptionResNetBlock, reduction_a
from .network import Network, block_depths, channel_scaler
from .registry import register

# Inception-ResNet-v1's residual blocks: the branches before the linear 1x1 projection back to
# the block's width (all convs "same"-padded, stride 1).
V1_BLOCK_A = {  # Figure 10, on 35x35x256
    "branch1x1": [(32, 1)],
    "branch3x3": [(32, 1), (32, 3)],
    "branch3x3dbl": [(32, 1), (32, 3), (32, 3)],
}
V1_BLOCK_B = {  # Figure 11, on 17x17x896
    "branch1x1": [(128, 1)],
    "branch7x7": [(128, 1), (128, (1, 7)), (128, (7, 1))],
}
V1_BLOCK_C = {  # Figure 13, on 8x8x1792
    "branch1x1": [(192, 1)],
    "branch3x3": [(192, 1), (192, (1, 3)), (192, (3, 1))],
}
# Table 1 of the paper: Reduction-A's filter numbers k, l, m, n.
V1_REDUCTION_A_FILTERS = (192, 192, 256, 384)
V2_REDUCTION_A_FILTERS = (256, 256, 384, 384)
# The residual scales of the released Inception-ResNet-v2 (A, B, C); the paper: 0.1 to 0.3.
V2_SCALES = (0.17, 0.10, 0.20)


@register(
    input_size=299,
    family="Inception-ResNet-v1",
    paper="Szegedy et al. 2016, arXiv:1602.07261: Figure 15 (stem Figure 14, blocks Figures "
    "10-13, Reduction-A Figure 7 and Table 1)",
)
def inception_resnet_v1(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.2,
    scale: float | None = None,
) -> Network:
    """Inception-ResNet-v1 (v4 paper, Figure 15's schema). (N, C, 299, 299) -> (N, num_classes).

    Grid: 299 -> 35 (stem) -> 17 (Reduction-A) -> 8 (Reduction-B). Smallest input 75x75.
    - stem (Figure 14): 3x3/2 32 V, 3x3 32 V, 3x3 64, 3x3/2 max pool V, 1x1 80, 3x3 192 V,
      3x3/2 256 V: 35x35x256;
    - 5 x Inception-ResNet-A (Figure 10): 1x1 32 | 1x1 32 -> 3x3 32 | 1x1 32 -> 3x3 32 -> 3x3 32,
      linear 1x1 to 256, added to the input, ReLU;
    - Reduction-A (Figure 7) with Table 1's k, l, m, n = 192, 192, 256, 384: 17x17x896;
    - 10 x Inception-ResNet-B (Figure 11): 1x1 128 | 1x1 128 -> 1x7 128 -> 7x1 128, linear 1x1
      to 896;
    - Reduction-B (Figure 12): 1x1 256 -> 3x3/2 384 | 1x1 256 -> 3x3/2 256 |
      1x1 256 -> 3x3 256 -> 3x3/2 256 | 3x3/2 max pool: 8x8x1792;
    - 5 x Inception-ResNet-C (Figure 13): 1x1 192 | 1x1 192 -> 1x3 192 -> 3x1 192, linear 1x1
      to 1792;
    - global average pool, dropout 0.2 (keep 0.8), linear.
    22,756,328 parameters and 6.21 G MACs at 299x299 with 1000 classes (counted by
    `inception_lab.profile`): about Inception v3's cost (23.8 M, 5.71 G), as the paper pairs them.

    There is no released reference to check against; where the paper leaves a choice open:
    - Residual scales: section 3.3 scales residuals by 0.1-0.3 only for very wide networks and
      gives no numbers for v1. `scale=None` uses the released v2's 0.17 / 0.10 / 0.20 for the
      A / B / C blocks; a number in (0, 1] is used for every block (1.0: no scaling).
    - BatchNorm: section 3.3 puts BN on top of the "traditional" layers but not on the sums, so
      every conv has BN except the linear 1x1 projections, which have a bias and no BN (as in the
      released v2).
    - The last C block keeps its ReLU (Figure 13 draws one); the released v2's last block drops
      it, but v1 was not released.
    - Branch order in the concatenations: the figures' left-to-right order is not a layer
      order; we put the pool branch of a reduction last, as the released models do. Any order
      gives the same network up to a permutation of channels.
    """
    check_int("num_classes", num_classes)
    check_int("in_channels", in_channels)
    scales = V2_SCALES if scale is None else (scale, scale, scale)
    valid = "valid"
    stages: dict[str, nn.Module] = {
        "Conv2d_1a_3x3": ConvBNAct(in_channels, 32, 3, stride=2, padding=valid),  # 149x149
        "Conv2d_2a_3x3": ConvBNAct(32, 32, 3, padding=valid),  # 147x147
        "Conv2d_2b_3x3": ConvBNAct(32, 64, 3),  # 147x147
        "maxpool1": nn.MaxPool2d(3, stride=2),  # 73x73
        "Conv2d_3b_1x1": ConvBNAct(64, 80, 1),  # 73x73
        "Conv2d_4a_3x3": ConvBNAct(80, 192, 3, padding=valid),  # 71x71
        "Conv2d_4b_3x3": ConvBNAct(192, 256, 3, stride=2, padding=valid),  # 35x35x256
    }
    for index in range(1, 6):  # 35x35x256
        stages[f"block_a{index}"] = InceptionResNetBlock(256, V1_BLOCK_A, scales[0])
    stages["reduction_a"] = reduction_a(256, V1_REDUCTION_A_FILTERS)  # 17x17x896
    for index in range(1, 11):  # 17x17x896
        stages[f"block_b{index}"] = InceptionResNetBlock(896, V1_BLOCK_B, scales[1])
    stages["reduction_b"] = GridReduction(  # 8x8x1792
        896,
        {
            "branch3x3a": [(256, 1), (384, 3)],
            "branch3x3b": [(256, 1), (256, 3)],
            "branch3x3dbl": [(256, 1), (256, 3), (256, 3)],
        },
    )
    for index in range(1, 6):  # 8x8x1792
        stages[f"block_c{index}"] = InceptionResNetBlock(1792, V1_BLOCK_C, scales[2])
    return Network("inception_resnet_v1", stages, num_classes, dropout)


def _v2_stages(
    width: float, depth: tuple[int, int, int], scale: float | None, in_channels: int
) -> dict[str, nn.Module]:
    """The released Inception-ResNet-v2's stages, `depth` = (A, B, C) blocks, widths x `width`."""
    scaled, (blocks_a, blocks_b, blocks_c) = channel_scaler(width), block_depths(depth)
    check_int("in_channels", in_channels)
    scales = V2_SCALES if scale is None else (scale, scale, scale)
    valid = "valid"
    stages: dict[str, nn.Module] = {  # the v3 stem, and an Inception-A module to 320 channels
        "Conv2d_1a_3x3": ConvBNAct(in_channels, scaled(32), 3, stride=2, padding=valid),  # 149
        "Conv2d_2a_3x3": ConvBNAct(scaled(32), scaled(32), 3, padding=valid),  # 147
        "Conv2d_2b_3x3": ConvBNAct(scaled(32), scaled(64), 3),
        "maxpool1": nn.MaxPool2d(3, stride=2),  # 73
        "Conv2d_3b_1x1": ConvBNAct(scaled(64), scaled(80), 1),
        "Conv2d_4a_3x3": ConvBNAct(scaled(80), scaled(192), 3, padding=valid),  # 71
        "maxpool2": nn.MaxPool2d(3, stride=2),  # 35
        "Mixed_5b": InceptionA(
            scaled(192), *map(scaled, (96, 48, 64, 64, 96, 64)), single_kernel=5
        ),
    }
    channels = stages["Mixed_5b"].out_ch  # 320
    for index in range(1, blocks_a + 1):
        stages[f"block_a{index}"] = InceptionResNetBlock.a(channels, scaled(32), scale=scales[0])
    stages["reduction_a"] = reduction_a(channels, tuple(map(scaled, V2_REDUCTION_A_FILTERS)))
    channels = stages["reduction_a"].out_ch  # 17x17x1088
    for index in range(1, blocks_b + 1):
        stages[f"block_b{index}"] = InceptionResNetBlock.b(channels, scaled(128), scale=scales[1])
    stages["reduction_b"] = GridReduction(  # Figure 18
        channels,
        {
            "branch3x3a": [(scaled(256), 1), (scaled(384), 3)],
            "branch3x3b": [(scaled(256), 1), (scaled(288), 3)],
            "branch3x3dbl": [(scaled(256), 1), (scaled(288), 3), (scaled(320), 3)],
        },
    )
    channels = stages["reduction_b"].out_ch  # 8x8x2080
    for index in range(1, blocks_c + 1):  # the last one: scale 1.0 and no ReLU after the sum
        last = index == blocks_c
        stages[f"block_c{index}"] = InceptionResNetBlock.c(
            channels, scaled(192), scale=1.0 if last else scales[2], relu=not last
        )
    stages["conv_final"] = ConvBNAct(channels, scaled(1536), 1)  # 8x8x1536
    return stages


@register(
    input_size=299,
    family="Inception-ResNet-v2",
    paper="Szegedy et al. 2016, arXiv:1602.07261: Figure 15 as released (blocks Figures 16, 17, "
    "19, Reduction-A Figure 7 and Table 1, Reduction-B Figure 18)",
)
def inception_resnet_v2(
    *, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2
) -> Network:
    """Inception-ResNet-v2 as released (timm's `inception_resnet_v2`). (N, C, 299, 299) -> (N, K).

    Grid: 299 -> 35 (stem) -> 17 (reduction_a) -> 8 (reduction_b). Smallest input 75x75.
    - stem: Inception v3's (to 35x35x192), then Mixed_5b, an Inception-A module with a 5x5
      branch, to 35x35x320;
    - 10 x Inception-ResNet-A (Figure 16; scale 0.17): 1x1 32 | 1x1 32 -> 3x3 32 |
      1x1 32 -> 3x3 48 -> 3x3 64, linear 1x1 back to 320;
    - Reduction-A (Figure 7) with Table 1's k, l, m, n = 256, 256, 384, 384: 17x17x1088;
    - 20 x Inception-ResNet-B (Figure 17; scale 0.10): 1x1 192 | 1x1 128 -> 1x7 160 -> 7x1 192,
      linear 1x1 back to 1088;
    - Reduction-B (Figure 18): 1x1 256 -> 3x3/2 384 | 1x1 256 -> 3x3/2 288 |
      1x1 256 -> 3x3 288 -> 3x3/2 320 | 3x3/2 max pool: 8x8x2080;
    - 10 x Inception-ResNet-C (Figure 19; scale 0.20): 1x1 192 | 1x1 192 -> 1x3 224 -> 3x1 256,
      linear 1x1 back to 2080; the tenth has scale 1.0 and no ReLU after its sum;
    - 1x1 conv to 1536, global average pool, dropout 0.2 (keep 0.8), linear.
    55,843,464 parameters with 1000 classes, as timm's `inception_resnet_v2` (whose weights load
    with `load_timm_state_dict`).

    How the released network differs from the paper: the paper's Figure 15 gives v2 the v4 stem
    (Figure 3, 35x35x384) and 5 / 10 / 5 blocks, so its figures project back to 384, 1154 and
    2048 channels; the released model has the v3 stem plus Mixed_5b (320 channels), 10 / 20 / 10
    blocks, the projections 320, 1088 and 2080, the last block without ReLU, and the 1x1 conv
    to 1536 before the pool. Its parameter count is the one the paper's cost comparison uses.
    """
    check_int("num_classes", num_classes)
    stages = _v2_stages(1.0, (10, 20, 10), None, in_channels)
    return Network("inception_resnet_v2", stages, num_classes, dropout)


@register(
    input_size=299,
    family="Inception-ResNet-v2",
    paper="Szegedy et al. 2016, arXiv:1602.07261: Figure 15's 5 / 10 / 5 blocks in the released "
    "Inception-ResNet-v2's layout",
)
def inception_resnet_v2_half(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.2,
    width: float = 1.0,
    depth: int | tuple[int, int, int] = (5, 10, 5),
    scale: float | None = None,
) -> Network:
    """Inception-ResNet-v2 at half its released depth, with knobs. (N, C, 299, 299) -> (N, K).

    `inception_resnet_v2`'s layout (stem, Mixed_5b, reductions, final 1x1 conv to 1536) with
    `depth` = (A, B, C) residual blocks, 5 / 10 / 5 by default (the counts the paper's Figure 15
    prints; the released network has 10 / 20 / 10), and every width times `width`. The last C
    block is the released network's (scale 1.0, no ReLU), so `depth=(10, 20, 10)` builds
    `inception_resnet_v2` itself. `scale`: None uses v2's residual scales (0.17 / 0.10 / 0.20
    for A / B / C); a number in (0, 1] is used for every block but the last (1.0 = no scaling).
    Smallest input: 75x75 at any width.
    """
    check_int("num_classes", num_classes)
    stages = _v2_stages(width, depth, scale, in_channels)
    return Network("inception_resnet_v2_half", stages, num_classes, dropout)
