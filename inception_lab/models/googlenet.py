"""GoogLeNet (Inception v1) and the same topology with BatchNorm and factorized 5x5 convs.

googlenet(variant="paper" | "torchvision")   Szegedy et al. 2014, Table 1
bn_inception()                               GoogLeNet + the BN paper's two changes

Both take keyword arguments only: `num_classes`, `in_channels`, `dropout`, `aux_logits`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .._validate import check_int
from ..blocks import AuxClassifier, ConvBNAct, Inception, InceptionA
from .network import Network
from .registry import register

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


def table1_stages(
    in_ch: int,
    module: Callable[..., nn.Module],
    pool: Callable[[str], nn.Module],
    scaled: Callable[[int], int] = int,
) -> dict[str, nn.Module]:
    """Table 1's stages: `module(in_ch, *widths)` per row, `pool(name)` between the grids.

    `scaled` maps each width of the table to the width built (the mini models divide by 6).
    Each module's input width is the previous module's output width.
    """
    stages: dict[str, nn.Module] = {}
    for name, widths in TABLE1.items():
        stages[name] = pool(name) if widths is None else module(in_ch, *map(scaled, widths))
        in_ch = stages[name].out_ch if widths else in_ch
    return stages


@register(
    input_size=224,
    family="GoogLeNet",
    paper="Szegedy et al. 2014, Going Deeper with Convolutions: Table 1, Figures 2(b) and 3",
)
def googlenet(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float | None = None,
    aux_logits: bool = False,
    variant: str = "paper",
    lrn: bool = False,
) -> Network:
    """GoogLeNet (Szegedy et al. 2014), Table 1. (N, in_channels, 224, 224) -> (N, num_classes).

    Grid: 224 -> 112 (conv1) -> 56 (maxpool1) -> 28 (maxpool2) -> 14 (maxpool3) -> 7 (maxpool4).
    Smallest input: 31x31 ("paper"), 15x15 ("torchvision", as its weights' meta["min_size"]).

    `variant="paper"`: convs with biases and no BN, true 5x5 branches, 3x3/2 max pools, dropout
    0.4, optional LRN after maxpool1 and conv3 (`lrn=True`), aux heads with the paper's 5x5/3 pool
    (which needs inputs of about 224x224: a 14x14 to 16x16 grid at inception4a).
    Conv + linear weights (no biases, no aux): 6,990,272; ~1.583 G MACs at 224x224.
    `variant="torchvision"`: torchvision's layout exactly (BN after every conv, a 3x3 kernel in
    the "5x5" branch, maxpool4 2x2/2, dropout 0.2, aux heads pooling adaptively to 4x4); load its
    weights with `load_torchvision_state_dict`. Like torchvision without pretrained weights, no
    input transform is applied. Aux heads (`aux_logits=True`) tap inception4a and inception4d.
    `dropout=None` is the variant's own head dropout (0.4 or 0.2).
    """
    check_int("num_classes", num_classes)  # before the aux heads use it
    check_int("in_channels", in_channels)
    if variant not in ("paper", "torchvision"):
        raise ValueError(f'googlenet variant must be "paper" or "torchvision", got {variant!r}')
    torchvision_layout = variant == "torchvision"
    if torchvision_layout and lrn:
        raise ValueError("torchvision's GoogLeNet has no LRN; use lrn=True with variant='paper'")
    if dropout is None:
        dropout = 0.2 if torchvision_layout else 0.4
    bn = torchvision_layout

    def inception(*widths: int) -> Inception:
        return Inception(*widths, bn=bn, kernel5=3 if torchvision_layout else 5)

    def maxpool(name: str = "") -> nn.MaxPool2d:  # torchvision's maxpool4 is 2x2/2
        kernel = 2 if torchvision_layout and name == "maxpool4" else 3
        return nn.MaxPool2d(kernel, stride=2, ceil_mode=True)

    def norm(name: str) -> dict[str, nn.Module]:  # LRN as in the paper's Caffe model
        return {name: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)} if lrn else {}

    stages = {
        "conv1": ConvBNAct(in_channels, 64, 7, stride=2, bn=bn),  # 112x112
        "maxpool1": maxpool(),  # 56x56
        **norm("lrn1"),
        "conv2": ConvBNAct(64, 64, 1, bn=bn),
        "conv3": ConvBNAct(64, 192, 3, bn=bn),
        **norm("lrn2"),
        "maxpool2": maxpool(),  # 28x28: inception3a-b; 14x14: 4a-e; 7x7: 5a-b
        **table1_stages(192, inception, maxpool),
    }
    aux = None
    if aux_logits:
        aux = {
            "aux1": ("inception4a", AuxClassifier(512, num_classes, bn=bn, adaptive_pool=bn)),
            "aux2": ("inception4d", AuxClassifier(528, num_classes, bn=bn, adaptive_pool=bn)),
        }
    return Network(f"googlenet ({variant})", stages, num_classes, dropout, aux)


@register(
    input_size=224,
    family="BN-Inception",
    paper="Szegedy et al. 2014, Table 1, with two changes of Ioffe & Szegedy 2015, section 4.2",
)
def bn_inception(
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    dropout: float = 0.4,
    aux_logits: bool = False,
) -> Network:
    """GoogLeNet with the BN paper's two changes. (N, in_channels, 224, 224) -> (N, num_classes).

    Not the network of Ioffe & Szegedy 2015 ("BN-Inception"): this is GoogLeNet's Table 1 with
    exactly two of that paper's changes applied, so that it can be compared line by line with
    `googlenet(variant="paper")` (a "BN-GoogLeNet"):
    1. BatchNorm after every conv (the convs lose their biases);
    2. each 5x5 conv factorized into two stacked 3x3 (`InceptionA`, whose `branch3x3dbl` takes
       the place of `branch5x5`, with Table 1's `ch5x5red` / `ch5x5` as its widths).
    Stem, max pools, grid sizes and widths are GoogLeNet's. The BN paper's own network differs in
    ways we do not follow: other widths (e.g. 64 instead of 32 in 3a's double-3x3 branch),
    average pooling in some modules, stride-2 Inception modules instead of max pools between
    the grids, and no dropout (we keep v1's 0.4). Smallest input: 31x31.
    """
    check_int("num_classes", num_classes)
    check_int("in_channels", in_channels)

    def inception(*widths: int) -> InceptionA:  # Table 1's columns; 5x5 -> 3x3dbl
        return InceptionA(*widths, pool="max", bn=True, single_kernel=3)

    def maxpool(name: str = "") -> nn.MaxPool2d:
        return nn.MaxPool2d(3, stride=2, ceil_mode=True)

    stages = {
        "conv1": ConvBNAct(in_channels, 64, 7, stride=2),  # 112x112
        "maxpool1": maxpool(),  # 56x56
        "conv2": ConvBNAct(64, 64, 1),
        "conv3": ConvBNAct(64, 192, 3),
        "maxpool2": maxpool(),  # 28x28, then 14x14 and 7x7 as in GoogLeNet
        **table1_stages(192, inception, maxpool),
    }
    aux = None
    if aux_logits:
        aux = {
            "aux1": ("inception4a", AuxClassifier(512, num_classes, bn=True, adaptive_pool=True)),
            "aux2": ("inception4d", AuxClassifier(528, num_classes, bn=True, adaptive_pool=True)),
        }
    return Network("bn_inception", stages, num_classes, dropout, aux)
