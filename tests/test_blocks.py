"""Tests for inception_lab.blocks: shapes, parameter counts against hand formulas, bad input.

Every expected parameter count is written out here from the papers' arithmetic
(k_h * k_w * c_in * c_out weights per conv, + c_out biases when there is no BN, + 2 * c per BN),
never computed with the code under test. The widths come from the papers' tables and figures:
GoogLeNet (Szegedy et al. 2014) Table 1; Inception v3 (Szegedy et al. 2015) Figures 5-7 and 10;
Inception-v4 / Inception-ResNet (Szegedy et al. 2016, arXiv:1602.07261) Figures 3-8, 10-13,
16-19 and Table 1.
"""

import re

import pytest
import torch
from torch import nn

from inception_lab.blocks import (
    AuxClassifier,
    AuxClassifierV3,
    Conv,
    ConvBNAct,
    GridReduction,
    Inception,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionResNetBlock,
    Mixed,
    MultiBranch,
    NaiveInception,
    Pool,
    Split,
    SplitConv,
    reduction_a,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv(c_in: int, c_out: int, kh: int, kw: int | None = None, bn: bool = True) -> int:
    """Hand formula for one ConvBNAct: weights, then a bias (no BN) or BN's gamma and beta."""
    kw = kh if kw is None else kw
    return kh * kw * c_in * c_out + (2 * c_out if bn else c_out)


def run(block: nn.Module, n: int, c: int, h: int, w: int) -> torch.Tensor:
    block.eval()
    with torch.no_grad():
        return block(torch.randn(n, c, h, w))


# --------------------------------------------------------------------------- ConvBNAct
@pytest.mark.parametrize(
    ("kernel", "bn", "expected"),
    [
        (3, True, 3 * 3 * 16 * 32 + 2 * 32),
        (3, False, 3 * 3 * 16 * 32 + 32),
        (1, True, 16 * 32 + 2 * 32),
        ((1, 7), True, 7 * 16 * 32 + 2 * 32),
        ((7, 1), False, 7 * 16 * 32 + 32),
        (5, False, 25 * 16 * 32 + 32),
    ],
)
def test_convbnact_params(kernel, bn, expected):
    layer = ConvBNAct(16, 32, kernel, bn=bn)
    assert n_params(layer) == expected
    assert (layer.conv.bias is None) == bn  # a bias only when there is no BN
    assert isinstance(layer.bn, nn.BatchNorm2d if bn else nn.Identity)
    assert (layer.in_ch, layer.out_ch) == (16, 32)


def test_convbnact_bn_eps_matches_the_papers_code():
    assert ConvBNAct(3, 8, 3).bn.eps == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "size", "expected"),
    [
        (3, 1, "same", (17, 17), (17, 17)),
        ((1, 7), 1, "same", (17, 12), (17, 12)),
        ((7, 1), 1, "same", (9, 8), (9, 8)),
        (3, 2, "valid", (35, 35), (17, 17)),
        (3, 2, "valid", (299, 299), (149, 149)),
        (7, 2, "same", (224, 224), (112, 112)),
        (3, 2, 1, (32, 31), (16, 16)),
        (5, 1, "valid", (5, 5), (1, 1)),
    ],
)
def test_convbnact_shapes(kernel, stride, padding, size, expected):
    out = run(ConvBNAct(4, 6, kernel, stride=stride, padding=padding), 2, 4, *size)
    assert out.shape == (2, 6, *expected)


def test_convbnact_relu_and_linear():
    x = torch.randn(2, 4, 8, 8)
    assert (ConvBNAct(4, 6, 3).eval()(x) >= 0).all()
    linear = ConvBNAct(4, 6, 3, bn=False, act=False)
    assert (linear(x) < 0).any()  # no ReLU: negative values survive
    assert torch.allclose(linear(x), linear.conv(x))


# --------------------------------------------------------------------------- naive module
def test_naive_inception_params_and_growing_width():
    block = NaiveInception(32, 8, 16, 4)
    expected = conv(32, 8, 1, bn=False) + conv(32, 16, 3, bn=False) + conv(32, 4, 5, bn=False)
    assert n_params(block) == expected
    assert block.out_ch == 8 + 16 + 4 + 32  # the pool branch passes every input channel
    assert list(block.branches) == ["branch1x1", "branch3x3", "branch5x5", "branch_pool"]
    with_bn = NaiveInception(32, 8, 16, 4, bn=True)
    assert n_params(with_bn) == conv(32, 8, 1) + conv(32, 16, 3) + conv(32, 4, 5)


@pytest.mark.parametrize("size", [(16, 16), (7, 9), (1, 1)])
def test_naive_inception_shapes_and_pool_passthrough(size):
    block = NaiveInception(12, 5, 6, 7).eval()
    x = torch.randn(2, 12, *size)
    with torch.no_grad():
        out = block(x)
    assert out.shape == (2, 5 + 6 + 7 + 12, *size)
    pooled = nn.functional.max_pool2d(x, 3, stride=1, padding=1)
    assert torch.equal(out[:, -12:], pooled)  # last channels: the 3x3 max pool of the input


# --------------------------------------------------------------------------- v1 module
def test_inception_paper_params_match_table1_weights():
    # Weights only (no biases) of the GoogLeNet paper's Table 1 rows, multiplied out by hand.
    def weights(block):
        return sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))

    assert weights(Inception(192, 64, 96, 128, 16, 32, 32)) == 163_328  # 3a
    assert weights(Inception(256, 128, 128, 192, 32, 96, 64)) == 388_096  # 3b
    assert weights(Inception(832, 384, 192, 384, 48, 128, 128)) == 1_442_816  # 5b


@pytest.mark.parametrize(("bn", "kernel5"), [(False, 5), (True, 3), (True, 5), (False, 3)])
def test_inception_params_formula(bn, kernel5):
    cin, c1, r3, c3, r5, c5, pp = 48, 16, 24, 32, 4, 8, 8
    expected = (
        conv(cin, c1, 1, bn=bn)
        + conv(cin, r3, 1, bn=bn)
        + conv(r3, c3, 3, bn=bn)
        + conv(cin, r5, 1, bn=bn)
        + conv(r5, c5, kernel5, bn=bn)
        + conv(cin, pp, 1, bn=bn)
    )
    block = Inception(cin, c1, r3, c3, r5, c5, pp, bn=bn, kernel5=kernel5)
    assert n_params(block) == expected
    assert list(block.branches) == ["branch1x1", "branch3x3", "branch5x5", "branch_pool"]
    assert block.branches["branch5x5"][1].conv.kernel_size == (kernel5, kernel5)


@pytest.mark.parametrize("size", [(28, 28), (14, 14), (7, 5), (1, 1)])
def test_inception_shapes(size):
    out = run(Inception(192, 64, 96, 128, 16, 32, 32), 2, 192, *size)
    assert out.shape == (2, 256, *size)


def test_multibranch_contract():
    for block in [
        NaiveInception(8, 2, 2, 2),
        Inception(8, 2, 2, 2, 2, 2, 2),
        InceptionA(8, 2, 2, 2, 2, 2, 2),
        InceptionB(8, 2, 2, 2, 2, 2, 2),
        InceptionC(8, 2, 2, 2, 2, 2, 2),
        GridReduction(8, {"branch3x3": [(4, 3)]}),
        Mixed(8, {"a": [(2, 1), Split(3)], "b": [Pool("avg"), (2, 1)]}),
    ]:
        assert isinstance(block, MultiBranch)
        assert isinstance(block.branches, nn.ModuleDict)
        assert all(isinstance(b, nn.Sequential) for b in block.branches.values())
        out = run(block, 1, 8, 9, 9)
        assert out.shape[1] == block.out_ch  # the declared width is the real one


# --------------------------------------------------------------------------- v3 A / B / C
@pytest.mark.parametrize(("single_kernel", "factorized"), [(3, True), (5, True), (3, False)])
def test_inception_a_params(single_kernel, factorized):
    cin, c1, r3, c3, rd, cd, pp = 192, 64, 48, 64, 64, 96, 32
    double = conv(rd, cd, 3) + conv(cd, cd, 3) if factorized else conv(rd, cd, 5)
    expected = (
        conv(cin, c1, 1)
        + conv(cin, r3, 1)
        + conv(r3, c3, single_kernel)
        + conv(cin, rd, 1)
        + double
        + conv(cin, pp, 1)
    )
    block = InceptionA(
        cin, c1, r3, c3, rd, cd, pp, single_kernel=single_kernel, factorized=factorized
    )
    assert n_params(block) == expected
    k = single_kernel
    assert list(block.branches) == ["branch1x1", f"branch{k}x{k}", "branch3x3dbl", "branch_pool"]
    assert run(block, 2, cin, 35, 35).shape == (2, c1 + c3 + cd + pp, 35, 35)


def test_inception_a_factorization_saves_28_percent_on_the_double_branch():
    def weights(block):  # the double branch after its 1x1 reduction
        tail = block.branches["branch3x3dbl"][1:]
        return sum(m.weight.numel() for m in tail.modules() if isinstance(m, nn.Conv2d))

    two_3x3 = InceptionA(64, 8, 8, 8, 32, 32, 8, bn=False)
    one_5x5 = InceptionA(64, 8, 8, 8, 32, 32, 8, bn=False, factorized=False)
    assert (weights(two_3x3), weights(one_5x5)) == (2 * 9 * 32 * 32, 25 * 32 * 32)  # 18 vs 25


@pytest.mark.parametrize(("n", "factorized"), [(7, True), (5, True), (7, False), (3, False)])
def test_inception_b_params(n, factorized):
    cin, c1, r7, c7, rd, cd, pp = 768, 192, 128, 192, 128, 192, 192
    if factorized:  # 1 x n then n x 1: 2n weights per channel pair
        one = conv(r7, r7, 1, n) + conv(r7, c7, n, 1)
        two = conv(rd, rd, n, 1) + conv(rd, rd, 1, n) + conv(rd, rd, n, 1) + conv(rd, cd, 1, n)
    else:
        one = conv(r7, c7, n)
        two = conv(rd, rd, n) + conv(rd, cd, n)
    expected = conv(cin, c1, 1) + conv(cin, r7, 1) + one + conv(cin, rd, 1) + two
    expected += conv(cin, pp, 1)
    block = InceptionB(cin, c1, r7, c7, rd, cd, pp, n=n, factorized=factorized)
    assert n_params(block) == expected
    names = ["branch1x1", f"branch{n}x{n}", f"branch{n}x{n}dbl", "branch_pool"]
    assert list(block.branches) == names
    assert run(block, 1, cin, 17, 17).shape == (1, c1 + c7 + cd + pp, 17, 17)


def test_inception_b_kernel_order_follows_torchvision():
    block = InceptionB(16, 4, 4, 4, 4, 4, 4)
    kernels = [
        m.kernel_size for m in block.branches["branch7x7dbl"].modules() if isinstance(m, nn.Conv2d)
    ]
    assert kernels == [(1, 1), (7, 1), (1, 7), (7, 1), (1, 7)]
    kernels = [
        m.kernel_size for m in block.branches["branch7x7"].modules() if isinstance(m, nn.Conv2d)
    ]
    assert kernels == [(1, 1), (1, 7), (7, 1)]


def test_split_conv():
    block = SplitConv(24, 16)  # 16 channels from each of the two convs
    assert n_params(block) == conv(24, 16, 1, 3) + conv(24, 16, 3, 1)
    assert block.split_1xn.conv.kernel_size == (1, 3)
    assert block.split_nx1.conv.kernel_size == (3, 1)
    assert (block.ch_each, block.out_ch) == (16, 32)  # out_ch: the output width, as everywhere
    assert run(block, 2, 24, 8, 6).shape == (2, 32, 8, 6)


@pytest.mark.parametrize("factorized", [True, False])
def test_inception_c_params(factorized):
    cin, c1, r3, c3, rd, cd, pp = 1280, 320, 384, 384, 448, 384, 192

    def split(c_in, c_out):  # 1x3 | 3x1 side by side, or one 3x3 of the same total width
        if factorized:
            return conv(c_in, c_out, 1, 3) + conv(c_in, c_out, 3, 1)
        return conv(c_in, 2 * c_out, 3)

    expected = conv(cin, c1, 1) + conv(cin, r3, 1) + split(r3, c3)
    expected += conv(cin, rd, 1) + conv(rd, cd, 3) + split(cd, cd) + conv(cin, pp, 1)
    block = InceptionC(cin, c1, r3, c3, rd, cd, pp, factorized=factorized)
    assert n_params(block) == expected
    assert block.out_ch == c1 + 2 * c3 + 2 * cd + pp == 2048
    assert run(block, 1, cin, 8, 8).shape == (1, 2048, 8, 8)
    assert isinstance(block.branches["branch3x3"][-1], SplitConv if factorized else ConvBNAct)


def test_inception_b_per_layer_widths_v4_figure_5():
    # Inception-v4's 17x17 module widens inside its branches: 192 -> 224 -> 256 and
    # 192 -> 192 -> 224 -> 224 -> 256 (in the released model's order: the double branch
    # starts with 7x1).
    block = InceptionB(1024, 384, 192, (224, 256), 192, (192, 224, 224, 256), 128)
    single = conv(1024, 192, 1) + conv(192, 224, 1, 7) + conv(224, 256, 7, 1)
    double = conv(1024, 192, 1) + conv(192, 192, 7, 1) + conv(192, 224, 1, 7)
    double += conv(224, 224, 7, 1) + conv(224, 256, 1, 7)
    assert n_params(block) == conv(1024, 384, 1) + single + double + conv(1024, 128, 1)
    assert block.out_ch == 384 + 256 + 256 + 128 == 1024
    widths = [
        m.out_channels for m in block.branches["branch7x7dbl"].modules() if isinstance(m, nn.Conv2d)
    ]
    assert widths == [192, 192, 224, 224, 256]
    assert run(block, 1, 1024, 17, 17).shape == (1, 1024, 17, 17)
    twin = InceptionB(1024, 384, 192, (224, 256), 192, (192, 224, 224, 256), 128, factorized=False)
    twin_double = conv(1024, 192, 1) + conv(192, 224, 7) + conv(224, 256, 7)
    assert n_params(twin) == conv(1024, 384, 1) + conv(1024, 192, 1) + conv(192, 256, 7) + (
        twin_double + conv(1024, 128, 1)
    )


def test_inception_b_int_widths_are_the_per_layer_widths_of_v3():
    v3 = InceptionB(768, 192, 128, 192, 128, 192, 192)
    spelled_out = InceptionB(768, 192, 128, (128, 192), 128, (128, 128, 128, 192), 192)
    shapes = [p.shape for p in v3.parameters()]
    assert [p.shape for p in spelled_out.parameters()] == shapes


def test_inception_c_per_layer_widths_v4_figure_6():
    # Inception-v4's 8x8 module: the double branch is 1x1 384 -> 3x1 448 -> 1x3 512 -> split 256.
    block = InceptionC(1536, 256, 384, 256, 384, (448, 512, 256), 256)
    branch3x3 = conv(1536, 384, 1) + conv(384, 256, 1, 3) + conv(384, 256, 3, 1)
    double = conv(1536, 384, 1) + conv(384, 448, 3, 1) + conv(448, 512, 1, 3)
    double += conv(512, 256, 1, 3) + conv(512, 256, 3, 1)
    assert n_params(block) == conv(1536, 256, 1) + branch3x3 + double + conv(1536, 256, 1)
    assert block.out_ch == 256 + 2 * 256 + 2 * 256 + 256 == 1536
    kernels = [
        m.kernel_size for m in block.branches["branch3x3dbl"].modules() if isinstance(m, nn.Conv2d)
    ]
    assert kernels == [(1, 1), (3, 1), (1, 3), (1, 3), (3, 1)]
    assert run(block, 1, 1536, 8, 8).shape == (1, 1536, 8, 8)
    twin = InceptionC(1536, 256, 384, 256, 384, (448, 512, 256), 256, factorized=False)
    twin_double = conv(1536, 384, 1) + conv(384, 512, 3) + conv(512, 512, 3)
    expected = conv(1536, 256, 1) + conv(1536, 384, 1) + conv(384, 512, 3) + twin_double
    assert n_params(twin) == expected + conv(1536, 256, 1)
    assert run(twin, 1, 1536, 8, 8).shape == (1, 1536, 8, 8)


def test_per_layer_width_errors():
    with pytest.raises(ValueError, match=r"ch7x7 must be a positive integer or 2 of them"):
        InceptionB(16, 4, 4, (4,), 4, 4, 4)
    with pytest.raises(ValueError, match=r"ch7x7dbl\[2\] must be a positive integer"):
        InceptionB(16, 4, 4, 4, 4, (4, 4, 0, 4), 4)
    with pytest.raises(ValueError, match=r"ch3x3dbl must be a positive integer or 3 of them"):
        InceptionC(16, 4, 4, 4, 4, (4, 4), 4)


# --------------------------------------------------------------------------- average pools
def test_avg_pool_kinds_differ_only_at_the_border():
    ones = torch.ones(1, 4, 5, 5)
    exclude = InceptionA(4, 2, 2, 2, 2, 2, 2, pool="avg").branches["branch_pool"][0]
    include = InceptionA(4, 2, 2, 2, 2, 2, 2, pool="avg_include_pad").branches["branch_pool"][0]
    assert torch.equal(exclude(ones), ones)  # real pixels only, as TensorFlow "SAME"
    corner = include(ones)[0, 0]
    assert corner[0, 0].item() == pytest.approx(4 / 9)  # 4 real pixels of 9 counted
    assert corner[2, 2].item() == pytest.approx(1.0)


# --------------------------------------------------------------------------- grid reduction
def test_grid_reduction_v3_35_to_17():
    branches = {"branch3x3": [(384, 3)], "branch3x3dbl": [(64, 1), (96, 3), (96, 3)]}
    block = GridReduction(288, branches)
    expected = conv(288, 384, 3) + conv(288, 64, 1) + conv(64, 96, 3) + conv(96, 96, 3)
    assert n_params(block) == expected
    assert block.out_ch == 288 + 384 + 96 == 768
    assert list(block.branches) == ["branch3x3", "branch3x3dbl", "branch_pool"]
    assert run(block, 1, 288, 35, 35).shape == (1, 768, 17, 17)
    assert block.branches["branch3x3dbl"][-1].conv.stride == (2, 2)  # only the last conv strides


@pytest.mark.parametrize(
    ("padding", "size", "expected"), [(0, 17, 8), (0, 35, 17), (1, 32, 16), (1, 8, 4), (1, 7, 4)]
)
def test_grid_reduction_sizes(padding, size, expected):
    spec = {
        "branch3x3": [(8, 1), (12, 3)],
        "branch7x7x3": [(8, 1), (8, (1, 7)), (8, (7, 1)), (8, 3)],
    }
    block = GridReduction(16, spec, padding=padding)
    expected_params = conv(16, 8, 1) + conv(8, 12, 3) + conv(16, 8, 1) + conv(8, 8, 1, 7)
    expected_params += conv(8, 8, 7, 1) + conv(8, 8, 3)
    assert n_params(block) == expected_params
    assert run(block, 2, 16, size, size).shape == (2, 16 + 12 + 8, expected, expected)


# --------------------------------------------------------------------------- branch specs
def test_mixed_builds_the_v4_stem_concats_of_figure_3():
    # Inception-v4 paper Figure 3: 147x147x64 -> (3x3/2 max pool | 3x3/2 conv 96) -> 73x73x160
    first = Mixed(
        64,
        {
            "branch_pool": [Pool("max", stride=2, padding="valid")],
            "branch3x3": [Conv(96, 3, stride=2, padding="valid")],
        },
    )
    assert n_params(first) == conv(64, 96, 3) and first.out_ch == 160
    x = torch.randn(1, 64, 147, 147)
    with torch.no_grad():
        out = first.eval()(x)
    assert out.shape == (1, 160, 73, 73)
    assert torch.equal(out[:, :64], nn.functional.max_pool2d(x, 3, stride=2))  # pool first
    # 73x73x160 -> (1x1 64 -> 3x3 96 V | 1x1 64 -> 1x7 64 -> 7x1 64 -> 3x3 96 V) -> 71x71x192
    second = Mixed(
        160,
        {
            "branch3x3": [(64, 1), Conv(96, 3, padding="valid")],
            "branch7x7x3": [(64, 1), (64, (1, 7)), (64, (7, 1)), Conv(96, 3, padding="valid")],
        },
    )
    expected = conv(160, 64, 1) + conv(64, 96, 3) + conv(160, 64, 1) + conv(64, 64, 1, 7)
    assert n_params(second) == expected + conv(64, 64, 7, 1) + conv(64, 96, 3)
    assert run(second, 1, 160, 73, 73).shape == (1, 192, 71, 71)
    assert isinstance(first, MultiBranch) and list(first.branches) == ["branch_pool", "branch3x3"]


def test_mixed_split_and_pool_specs():
    block = Mixed(
        16,
        {
            "branch3x3": [(8, 1), Split(4)],
            "branch_pool": [Pool("avg"), (6, 1)],
            "identity_pool": [Pool("max")],
        },
    )
    assert block.out_ch == 2 * 4 + 6 + 16  # a split doubles, a lone pool passes its input on
    assert n_params(block) == conv(16, 8, 1) + conv(8, 4, 1, 3) + conv(8, 4, 3, 1) + conv(16, 6, 1)
    assert isinstance(block.branches["branch3x3"][1], SplitConv)
    assert run(block, 2, 16, 9, 7).shape == (2, 30, 9, 7)


def test_mixed_bad_specs():
    with pytest.raises(ValueError, match="Mixed needs at least one branch, got none"):
        Mixed(16, {})
    with pytest.raises(ValueError, match="Mixed branch 'b' has no layers"):
        Mixed(16, {"b": []})
    with pytest.raises(ValueError, match="b width must be a positive integer"):
        Mixed(16, {"b": [Conv(0, 3)]})
    with pytest.raises(ValueError, match=r"^b kernel_size must be an int >= 1 or a pair of them"):
        Mixed(16, {"b": [(4, 0)]})
    with pytest.raises(ValueError, match='pool must be "max", "avg" or "avg_include_pad"'):
        Mixed(16, {"b": [Pool("min")]})


@pytest.mark.parametrize(
    ("in_ch", "filters", "out_ch"),
    [  # the Inception-v4 paper's Table 1: k, l, m, n
        (384, (192, 224, 256, 384), 1024),  # Inception-v4
        (256, (192, 192, 256, 384), 896),  # Inception-ResNet-v1
        (320, (256, 256, 384, 384), 1088),  # Inception-ResNet-v2 (released, 320 channels in)
    ],
)
def test_reduction_a_table1(in_ch, filters, out_ch):
    k, l_, m, n = filters
    block = reduction_a(in_ch, filters)
    assert isinstance(block, GridReduction)
    expected = conv(in_ch, n, 3) + conv(in_ch, k, 1) + conv(k, l_, 3) + conv(l_, m, 3)
    assert n_params(block) == expected
    assert block.out_ch == in_ch + n + m == out_ch
    assert run(block, 1, in_ch, 35, 35).shape == (1, out_ch, 17, 17)  # Figure 7: 35 -> 17
    with pytest.raises(ValueError, match=r"filters must be the four ints \(k, l, m, n\)"):
        reduction_a(in_ch, (192, 224, 256))


# --------------------------------------------------------------------------- aux heads
def test_aux_classifier_v1_paper():
    head = AuxClassifier(512, 1000)
    expected = conv(512, 128, 1, bn=False) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    assert n_params(head) == expected
    for size in (14, 15, 16):  # the 5x5/3 pool gives 4x4 on these grids only
        assert run(head, 2, 512, size, size).shape == (2, 1000)
    assert head.dropout.p == pytest.approx(0.7)


def test_aux_classifier_v1_adaptive_and_small():
    head = AuxClassifier(528, 10, bn=True, adaptive_pool=True, conv_ch=16, hidden=32)
    assert n_params(head) == conv(528, 16, 1) + 16 * 16 * 32 + 32 + 32 * 10 + 10
    for size in (4, 8, 14, 31):
        assert run(head, 2, 528, size, size).shape == (2, 10)


def test_aux_classifier_v3():
    head = AuxClassifierV3(768, 1000, bn=True)
    assert n_params(head) == conv(768, 128, 1) + conv(128, 768, 5) + 768 * 1000 + 1000
    for size in (17, 20, 35):
        assert run(head, 2, 768, size, size).shape == (2, 1000)
    adaptive = AuxClassifierV3(768, 10, adaptive_pool=True, conv_ch=16, hidden=96)
    assert n_params(adaptive) == conv(768, 16, 1, bn=False) + conv(16, 96, 5, bn=False) + 970
    assert run(adaptive, 1, 768, 8, 8).shape == (1, 10)


def test_aux_classifiers_keep_torchvision_layer_names():
    # torchvision's GoogLeNet InceptionAux: conv, fc1, fc2; its Inception3 InceptionAux: conv0,
    # conv1, fc. The weight loaders rely on these names.
    v1 = {k.split(".")[0] for k in AuxClassifier(16, 10, bn=True).state_dict()}
    v3 = {k.split(".")[0] for k in AuxClassifierV3(16, 10, bn=True).state_dict()}
    assert v1 == {"conv", "fc1", "fc2"}
    assert v3 == {"conv0", "conv1", "fc"}


def test_aux_classifier_grid_errors():
    with pytest.raises(ValueError, match=r"AuxClassifier \(v1\).*14x14 to 16x16.*got 13x13"):
        run(AuxClassifier(8, 10), 1, 8, 13, 13)
    with pytest.raises(ValueError, match=r"AuxClassifier \(v1\).*14x14 to 16x16.*got 14x17"):
        run(AuxClassifier(8, 10), 1, 8, 14, 17)
    with pytest.raises(ValueError, match=r"AuxClassifierV3 \(v3\).*at least a 17x17.*got 16x20"):
        run(AuxClassifierV3(8, 10), 1, 8, 16, 20)
    with pytest.raises(TypeError, match="variant"):  # one class per design, no switch
        AuxClassifier(8, 10, variant="v3")


# --------------------------------------------------------------------------- residual blocks
def test_inception_resnet_block_formula_a_b_c():
    c = 320
    a = InceptionResNetBlock.a(c)  # v2 widths: 32 | 32-32 | 32-48-64 -> 128 -> 320
    branches = conv(c, 32, 1) + conv(c, 32, 1) + conv(32, 32, 3)
    branches += conv(c, 32, 1) + conv(32, 48, 3) + conv(48, 64, 3)
    assert n_params(a) == branches + conv(128, c, 1, bn=False)
    c = 1088
    b = InceptionResNetBlock.b(c)  # 192 | 128-160(1x7)-192(7x1) -> 384 -> 1088
    branches = conv(c, 192, 1) + conv(c, 128, 1) + conv(128, 160, 1, 7) + conv(160, 192, 7, 1)
    assert n_params(b) == branches + conv(384, c, 1, bn=False)
    c = 2080
    cc = InceptionResNetBlock.c(c)  # 192 | 192-224(1x3)-256(3x1) -> 448 -> 2080
    branches = conv(c, 192, 1) + conv(c, 192, 1) + conv(192, 224, 1, 3) + conv(224, 256, 3, 1)
    assert n_params(cc) == branches + conv(448, c, 1, bn=False)
    assert (a.scale, b.scale, cc.scale) == pytest.approx((0.17, 0.1, 0.2))


@pytest.mark.parametrize(
    "make", [InceptionResNetBlock.a, InceptionResNetBlock.b, InceptionResNetBlock.c]
)
@pytest.mark.parametrize("size", [(8, 8), (5, 7)])
def test_inception_resnet_block_keeps_shape(make, size):
    block = make(48, 16)
    assert run(block, 2, 48, *size).shape == (2, 48, *size)


@pytest.mark.parametrize("residual", [True, False])
def test_inception_resnet_block_equation(residual):
    block = InceptionResNetBlock.a(24, 8, scale=0.3, residual=residual).eval()
    x = torch.randn(2, 24, 6, 6)
    with torch.no_grad():
        mixed = torch.cat([b(x) for b in block.branches.values()], dim=1)
        branch = 0.3 * block.project(mixed)
        expected = torch.relu(x + branch if residual else branch)
        assert torch.allclose(block(x), expected, atol=1e-6)
    assert isinstance(block.project.act, nn.Identity)  # the projection is linear
    assert isinstance(block.project.bn, nn.Identity) and block.project.conv.bias is not None


def test_inception_resnet_block_without_relu():
    # The released Inception-ResNet-v2's last block: scale 1.0 and no ReLU after the sum.
    block = InceptionResNetBlock.c(32, 8, scale=1.0, relu=False).eval()
    x = torch.randn(2, 32, 5, 5)
    with torch.no_grad():
        mixed = torch.cat([b(x) for b in block.branches.values()], dim=1)
        assert torch.allclose(block(x), x + block.project(mixed), atol=1e-6)
        assert (block(x) < 0).any()
    assert InceptionResNetBlock.c(32, 8).relu is True  # the default keeps the ReLU


def test_inception_resnet_block_from_v1_figure_10():
    # Inception-ResNet-v1's 35x35 block: 32 | 32 -> 32 | 32 -> 32 -> 32, linear 1x1 to 256.
    spec = {
        "branch1x1": [(32, 1)],
        "branch3x3": [(32, 1), (32, 3)],
        "branch3x3dbl": [(32, 1), (32, 3), (32, 3)],
    }
    block = InceptionResNetBlock(256, spec, scale=0.17)
    branches = conv(256, 32, 1) + conv(256, 32, 1) + conv(32, 32, 3)
    branches += conv(256, 32, 1) + conv(32, 32, 3) + conv(32, 32, 3)
    assert n_params(block) == branches + conv(96, 256, 1, bn=False)
    assert run(block, 1, 256, 35, 35).shape == (1, 256, 35, 35)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8", None])
def test_bad_channel_counts(bad):
    message = rf"^out_ch must be a positive integer number of channels, got {re.escape(repr(bad))}$"
    with pytest.raises(ValueError, match=message):
        ConvBNAct(3, bad, 3)
    with pytest.raises(ValueError, match="ch3x3red must be a positive integer"):
        Inception(16, 4, bad, 4, 4, 4, 4)
    with pytest.raises(ValueError, match="pool_proj must be a positive integer"):
        InceptionA(16, 4, 4, 4, 4, 4, bad)
    with pytest.raises(ValueError, match="ch7x7dbl must be a positive integer"):
        InceptionB(16, 4, 4, 4, 4, bad, 4)
    with pytest.raises(ValueError, match="in_ch must be a positive integer"):
        InceptionC(bad, 4, 4, 4, 4, 4, 4)
    with pytest.raises(ValueError, match="ch5x5 must be a positive integer"):
        NaiveInception(16, 4, 4, bad)
    with pytest.raises(ValueError, match="branch3x3 width must be a positive integer"):
        GridReduction(16, {"branch3x3": [(bad, 3)]})
    with pytest.raises(ValueError, match="branch1x1 width must be a positive integer"):
        InceptionResNetBlock(16, {"branch1x1": [(bad, 1)]})
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        AuxClassifier(16, bad)
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        AuxClassifierV3(16, 10, hidden=bad)


@pytest.mark.parametrize("kernel", [2, 4, (1, 6), (2, 3)])
def test_even_kernels_need_explicit_padding(kernel):
    with pytest.raises(ValueError, match=r'padding="same" needs odd kernel sizes'):
        ConvBNAct(3, 8, kernel)
    assert ConvBNAct(3, 8, kernel, padding=0).conv.padding == (0, 0)  # explicit padding is fine


def test_even_kernels_in_blocks():
    with pytest.raises(ValueError, match="needs odd kernel sizes"):
        InceptionA(16, 4, 4, 4, 4, 4, 4, single_kernel=4)
    with pytest.raises(ValueError, match=r"InceptionB: n must be odd .*got n=6"):
        InceptionB(16, 4, 4, 4, 4, 4, 4, n=6)
    with pytest.raises(ValueError, match="needs odd kernel sizes"):
        Inception(16, 4, 4, 4, 4, 4, 4, kernel5=4)


def test_bad_kernel_and_padding_values():
    with pytest.raises(ValueError, match=r"^kernel_size must be an int >= 1 or a pair of them"):
        ConvBNAct(3, 8, 0)
    with pytest.raises(ValueError, match=r"^kernel_size must be an int >= 1 or a pair of them"):
        ConvBNAct(3, 8, (1, 3, 3))
    with pytest.raises(ValueError, match='padding must be "same", "valid", an int or a pair'):
        ConvBNAct(3, 8, 3, padding="full")
    with pytest.raises(ValueError, match='pool must be "max", "avg" or "avg_include_pad"'):
        InceptionA(16, 4, 4, 4, 4, 4, 4, pool="min")


@pytest.mark.parametrize("scale", [0, -0.1, 1.5, True, "0.2", float("nan")])
def test_residual_scale_must_be_in_0_1(scale):
    with pytest.raises(ValueError, match=r"^scale must be in \(0, 1\] \(the paper uses 0.1-0.3\)"):
        InceptionResNetBlock.a(32, 8, scale=scale)
    assert InceptionResNetBlock.a(32, 8, scale=1).scale == 1.0  # an int is a number too


def test_empty_branch_specs():
    with pytest.raises(ValueError, match="GridReduction needs at least one conv branch"):
        GridReduction(16, {})
    with pytest.raises(ValueError, match="GridReduction branch 'b' has no layers"):
        GridReduction(16, {"b": []})
    with pytest.raises(ValueError, match="InceptionResNetBlock needs at least one branch"):
        InceptionResNetBlock(16, {})


@pytest.mark.parametrize(
    ("block", "name", "in_ch"),
    [
        (Mixed(16, {"b": [(8, 3)]}), "Mixed", 16),
        (NaiveInception(16, 4, 4, 4), "NaiveInception", 16),
        (Inception(16, 4, 4, 4, 4, 4, 4), "Inception", 16),
        (InceptionA(16, 4, 4, 4, 4, 4, 4), "InceptionA", 16),
        (InceptionB(16, 4, 4, 4, 4, 4, 4), "InceptionB", 16),
        (InceptionC(16, 4, 4, 4, 4, 4, 4), "InceptionC", 16),
        (GridReduction(16, {"b": [(4, 3)]}), "GridReduction", 16),
        (AuxClassifier(16, 10, adaptive_pool=True), "AuxClassifier", 16),
        (AuxClassifierV3(16, 10, adaptive_pool=True), "AuxClassifierV3", 16),
        (InceptionResNetBlock.a(16, 4), "InceptionResNetBlock", 16),
    ],
)
def test_wrong_input_channels_name_the_block(block, name, in_ch):
    with pytest.raises(ValueError, match=rf"^{name} expects {in_ch} input channels, got 3 "):
        block(torch.randn(1, 3, 17, 17))
    with pytest.raises(ValueError, match=rf"^{name} expects a 4-d input \(N, C, H, W\)"):
        block(torch.randn(in_ch, 17, 17))


def test_a_bare_conv_leaves_the_input_check_to_pytorch():
    # ConvBNAct runs ~100 times per forward pass of a network, so it does not check its input:
    # the block or network around it does. Alone, a wrong width fails inside nn.Conv2d.
    with pytest.raises(RuntimeError, match=r"expected input.*to have 16 channels, but got 3"):
        ConvBNAct(16, 8, 3)(torch.randn(1, 3, 17, 17))


# --------------------------------------------------------------------------- autocast, layout
@pytest.mark.parametrize(
    "block",
    [
        NaiveInception(16, 4, 4, 4),
        Inception(16, 4, 4, 4, 4, 4, 4),
        InceptionA(16, 4, 4, 4, 4, 4, 4),
        InceptionB(16, 4, 4, 4, 4, 4, 4),
        InceptionC(16, 4, 4, 4, 4, 4, 4),
        GridReduction(16, {"b": [(4, 1), (4, 3)]}, padding=1),
        InceptionResNetBlock.b(16, 8),
        InceptionB(16, 4, 4, (6, 8), 4, (4, 6, 6, 8), 4),
        InceptionC(16, 4, 4, 4, 4, (6, 8, 4), 4),
        Mixed(16, {"a": [Conv(8, 3, stride=2, padding=1)], "b": [Pool("max", 2, 1)]}),
    ],
)
def test_blocks_under_bf16_autocast_and_channels_last(block):
    x = torch.randn(2, 16, 8, 8).to(memory_format=torch.channels_last)
    block = block.to(memory_format=torch.channels_last).eval()
    with torch.no_grad():
        reference = block(x.contiguous())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = block(x)
    assert out.shape == reference.shape and torch.isfinite(out).all()
    assert torch.allclose(out.float(), reference, atol=0.1, rtol=0.05)
