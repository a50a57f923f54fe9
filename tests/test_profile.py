"""Counting must be exact: hand formulas, the GoogLeNet paper's Table 1 (Szegedy et al. 2014),
and torchvision's models (their documented GFLOPS are MACs)."""

import pytest
import torch
import torchvision
from torch import nn

from inception_lab import blocks as B
from inception_lab import models, profile
from inception_lab.profile import (
    branch_costs,
    cost_table,
    count_flops,
    count_macs,
    count_params,
    count_weights,
    describe_layer,
    param_breakdown,
    receptive_field,
)


def meta(builder, *args, **kwargs):
    """Build on the meta device: exact shapes and counts, no arithmetic, instant."""
    with torch.device("meta"):
        return builder(*args, **kwargs)


# --------------------------------------------------------------------------- hand formulas
def conv_macs(c_in, c_out, k, stride, pad, groups, h, w, dilation=1):
    kh, kw = (k, k) if isinstance(k, int) else k
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    oh = (h + 2 * ph - dilation * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dilation * (kw - 1) - 1) // sw + 1
    return oh * ow * c_out * (c_in // groups) * kh * kw


CONVS = [
    # c_in, c_out, kernel, stride, padding, groups, H, W
    (3, 64, 7, 2, 3, 1, 224, 224),  # GoogLeNet conv1
    (192, 96, 3, 1, 1, 1, 28, 28),
    (64, 32, 3, 2, 0, 1, 35, 35),  # valid, stride 2 (grid reduction)
    (160, 160, (1, 7), 1, (0, 3), 1, 17, 17),  # rectangular
    (160, 192, (7, 1), 1, (3, 0), 1, 17, 17),
    (32, 64, (3, 5), (2, 1), (1, 2), 1, 20, 13),  # rectangular, mixed stride, non-square
    (64, 128, 3, 1, 1, 4, 14, 14),  # grouped
    (48, 48, 3, 1, 1, 48, 14, 14),  # depthwise
    (16, 8, 4, 3, 1, 2, 33, 31),  # even kernel, odd stride, groups
]


@pytest.mark.parametrize("c_in, c_out, k, stride, pad, groups, h, w", CONVS)
def test_conv_macs_match_hand_formula(c_in, c_out, k, stride, pad, groups, h, w):
    conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups)
    expected = conv_macs(c_in, c_out, k, stride, pad, groups, h, w)
    assert count_macs(conv, (c_in, h, w)) == expected
    assert count_flops(conv, (c_in, h, w)) == 2 * expected
    assert count_macs(conv, (5, c_in, h, w)) == 5 * expected  # a batch of 5 images


def test_dilated_conv_macs():
    conv = nn.Conv2d(8, 16, 3, padding=2, dilation=2)
    assert count_macs(conv, (8, 20, 20)) == conv_macs(8, 16, 3, 1, 2, 1, 20, 20, dilation=2)


def test_linear_macs_and_batch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 5, 37), nn.ReLU(), nn.Linear(37, 10))
    per_image = 100 * 37 + 37 * 10
    assert count_macs(model, (4, 5, 5)) == per_image
    assert count_macs(model, (3, 4, 5, 5)) == 3 * per_image
    assert count_flops(model, (4, 5, 5)) == 2 * per_image


def test_bn_relu_pool_cost_no_macs():
    model = nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3), nn.AvgPool2d(2))
    assert count_macs(model, (8, 30, 30)) == 0


def test_functional_ops_are_counted():
    class Functional(nn.Module):  # a conv that is not an nn.Conv2d child: hooks would miss it
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(6, 3, 5, 5))

        def forward(self, x):
            return nn.functional.conv2d(x, self.weight)

    assert count_macs(Functional(), (3, 12, 12)) == conv_macs(3, 6, 5, 1, 0, 1, 12, 12)


# --------------------------------------------------------------------------- worked examples
# The 1x1-reduction examples on inception 3a's 28x28x192 input (GoogLeNet paper, section 5 and
# Table 1: 3x3 reduce 96, 5x5 reduce 16), computed by hand: weights = k*k*in*out, MACs =
# weights * 28 * 28.
def test_reference_worked_examples():
    def stack(*convs):  # paper convs: no BN, so each conv has a bias that weights leave out
        return nn.Sequential(*[B.ConvBNAct(i, o, k, bn=False) for i, o, k in convs])

    size = (192, 28, 28)
    examples = [
        (stack((192, 96, 3)), 165_888, 130_056_192),
        (stack((192, 64, 1), (64, 96, 3)), 67_584, 52_985_856),
        (stack((192, 32, 5)), 153_600, 120_422_400),
        (stack((192, 16, 1), (16, 32, 5)), 15_872, 12_443_648),
    ]
    for model, weights, macs in examples:
        assert count_weights(model) == weights
        assert count_macs(model, size) == macs
        biases = sum(m.conv.out_channels for m in model)
        assert count_params(model) == weights + biases


def test_reference_examples_as_branches():
    # inception 3a's 5x5 branch is the 1x1-to-16-then-5x5-to-32 example; a 3x3red of 64 and a
    # 3x3 of 96 is the other one.
    block = B.Inception(192, 64, 64, 96, 16, 32, 32)
    table = branch_costs(block, (192, 28, 28))
    assert table["branch3x3"]["macs"] == 52_985_856
    assert table["branch5x5"]["macs"] == 12_443_648
    assert count_weights(block.branches["branch3x3"]) == 67_584
    assert count_weights(block.branches["branch5x5"]) == 15_872


# Weights (no biases) and MACs per row of the GoogLeNet paper's Table 1 (Szegedy et al. 2014),
# computed from the table's channel columns (k*k*in*out per conv; MACs = weights * H * W). The
# paper's own params/ops columns round these and differ on a few rows (conv1, 4c, 5a, 5b).
PAPER_TABLE = {
    "conv1": (9_408, 118.0),
    "inception3a": (163_328, 128.0),
    "inception3b": (388_096, 304.3),
    "inception4a": (375_552, 73.6),
    "inception4b": (448_512, 87.9),
    "inception4c": (509_440, 99.9),
    "inception4d": (604_672, 118.5),
    "inception4e": (867_328, 170.0),
    "inception5a": (1_042_432, 51.1),
    "inception5b": (1_442_816, 70.7),
    "fc": (1_024_000, 1.0),
}


def test_paper_googlenet_matches_reference_table():
    model = meta(models.googlenet, variant="paper")
    assert count_weights(model) == 6_990_272
    macs = count_macs(model, (3, 224, 224))
    assert round(macs / 1e9, 3) == 1.583
    table = cost_table(model, (3, 224, 224), weights_only=True)
    for name, (weights, mmacs) in PAPER_TABLE.items():
        assert table[name]["params"] == weights, name
        assert round(table[name]["macs"] / 1e6, 1) == mmacs, name
    # The paper's "conv 3x3" row is our conv2 (1x1) + conv3 (3x3).
    assert table["conv2"]["params"] + table["conv3"]["params"] == 114_688
    assert round((table["conv2"]["macs"] + table["conv3"]["macs"]) / 1e6, 1) == 359.7
    assert table.total["depth"] == 22  # "22 layers deep (when counting only layers with params)"


def test_torchvision_googlenet_macs():
    # torchvision.models.googlenet: 6,624,904 parameters without aux heads, and its documented
    # 1.498 "GFLOPS", which are MACs. Real arithmetic on the CPU once; the meta device must
    # give the same count.
    tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    assert count_macs(tv, (3, 224, 224)) == 1_498_376_192
    assert count_params(tv) == 6_624_904
    ours = meta(models.googlenet, variant="torchvision")
    assert count_macs(ours, (3, 224, 224)) == 1_498_376_192
    assert count_params(ours) == 6_624_904


def test_torchvision_inception_v3_macs():
    # torchvision.models.inception_v3: documented 5.713 "GFLOPS" (MACs), 23,834,568 parameters
    # without the aux head.
    tv = meta(torchvision.models.inception_v3, weights=None, aux_logits=False, init_weights=False)
    assert count_macs(tv, (3, 299, 299)) == 5_713_216_096
    assert count_flops(tv, (3, 299, 299)) == 2 * 5_713_216_096
    assert count_params(tv) == 23_834_568


# --------------------------------------------------------------------------- params
def test_count_params_and_trainable_only():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
    assert count_params(model) == (3 * 9 * 8 + 8) + 16 + (16 + 2)
    model[0].requires_grad_(False)
    assert count_params(model, trainable_only=True) == 16 + 18
    assert count_weights(model) == 3 * 9 * 8 + 16  # conv and linear weights only


def test_param_breakdown_per_branch_and_child():
    block = B.Inception(192, 64, 96, 128, 16, 32, 32)
    parts = param_breakdown(block)
    assert list(parts) == list(block.branches)
    assert parts["branch1x1"] == 192 * 64 + 64
    assert sum(parts.values()) == count_params(block)

    res = B.InceptionResNetBlock.a(320)
    parts = param_breakdown(res, weights_only=True)
    assert list(parts) == [*res.branches, "project"]
    assert parts["project"] == 128 * 320  # concat width 32 + 32 + 64 -> 320
    assert sum(parts.values()) == count_weights(res)

    net = meta(models.googlenet, variant="paper")
    parts = param_breakdown(net)
    assert list(parts) == [n for n, _ in net.named_children()]
    assert parts["maxpool1"] == 0 and sum(parts.values()) == count_params(net)


def test_param_breakdown_lists_own_parameters():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.gain = nn.Parameter(torch.ones(2))

    assert param_breakdown(Scaled()) == {"conv": 6, "(own)": 2}


# --------------------------------------------------------------------------- cost table
def test_cost_table_rows_and_totals():
    model = meta(models.googlenet, variant="paper")
    table = cost_table(model, (3, 224, 224))
    assert table.names == [n for n, _ in model.named_children()]
    assert table.total["macs"] == count_macs(model, (3, 224, 224))
    assert table.total["macs"] == sum(r["macs"] for r in table.rows)
    assert table.total["params"] == count_params(model) == sum(r["params"] for r in table.rows)
    assert table["conv1"]["output_size"] == "112x112x64"
    assert table["inception3a"]["output_size"] == "28x28x256"
    assert table["fc"]["output_size"] == "1x1x1000"
    depths = {r["layer"]: r["depth"] for r in table}
    assert depths["maxpool1"] == 0 and depths["conv1"] == 1 and depths["inception4c"] == 2
    assert table["conv1"]["type"] == "7x7/2 conv, 64"
    assert table["maxpool1"]["type"] == "3x3/2 max pool"


def test_cost_table_batch_and_aux_heads():
    model = meta(models.googlenet, variant="paper", aux_logits=True)
    model.train()
    table = cost_table(model, (2, 3, 224, 224))
    assert model.training  # counting runs in eval mode and restores the mode afterwards
    assert table.total["macs"] == 2 * 1_582_671_872  # aux heads are skipped in eval mode
    assert table["aux1"]["macs"] == 0 and table["aux1"]["output_size"] is None
    assert table["aux1"]["params"] > 3_000_000
    assert "batch of 2" in table.title


def test_cost_table_other_row_keeps_the_sum():
    class Tail(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Parameter(torch.randn(10, 4))

        def forward(self, x):
            return self.conv(x).mean((2, 3)) @ self.head.t()  # a matmul outside any child

    table = cost_table(Tail(), (3, 10, 10))
    assert table.names == ["conv", "(other)"]
    assert table["(other)"]["macs"] == 40 and table["(other)"]["params"] == 40
    assert table.total["macs"] == sum(r["macs"] for r in table) == 8 * 8 * 4 * 27 + 40


def test_cost_table_rendering_and_join():
    table = cost_table(B.Inception(192, 64, 96, 128, 16, 32, 32), (192, 28, 28))
    text = str(table)
    assert "128,049,152" in text and "MACs" in text and "total" in text.splitlines()[-1]
    html = table._repr_html_()
    assert "128,049,152" in html and "text-align:right" in html and "<th" in html
    joined = table.add_column("paper MACs (M)", {"branches": 128.0}, total=128.0)
    assert joined["branches"]["paper MACs (M)"] == 128.0
    assert "paper MACs (M)" in joined.to_text() and "128.0" in joined._repr_html_()
    with pytest.raises(ValueError, match="unknown layer name"):
        table.add_column("x", {"inception9z": 1})
    with pytest.raises(ValueError, match="unknown layer name 'nope'"):
        table["nope"]


def test_depth_follows_the_data():
    res = B.InceptionResNetBlock.a(64)
    table = branch_costs(res, (64, 9, 9))
    assert [r["depth"] for r in table] == [1, 2, 3, 1]  # three branches, then the projection
    assert table.total["depth"] == 4


# --------------------------------------------------------------------------- branch costs
def all_blocks():
    with torch.device("meta"):
        return [
            (B.NaiveInception(192, 64, 128, 32), (192, 28, 28)),
            (B.Inception(192, 64, 96, 128, 16, 32, 32), (192, 28, 28)),
            (B.InceptionA(192, 64, 48, 64, 64, 96, 32), (192, 35, 35)),
            (B.InceptionB(768, 192, 128, 192, 128, 192, 192), (768, 17, 17)),
            (B.InceptionC(1280, 320, 384, 384, 448, 384, 192), (1280, 8, 8)),
            (
                B.GridReduction(288, {"branch3x3": [(384, 3)], "dbl": [(64, 1), (96, 3), (96, 3)]}),
                (288, 35, 35),
            ),
            (B.InceptionResNetBlock.b(1088), (1088, 17, 17)),
        ]


@pytest.mark.parametrize("block, size", all_blocks(), ids=lambda v: type(v).__name__)
def test_branch_costs_cover_every_block(block, size):
    table = branch_costs(block, size)
    expected = list(block.branches) + (["project"] if hasattr(block, "project") else [])
    assert table.names == expected
    assert table.total["macs"] == count_macs(block, size) == sum(r["macs"] for r in table)
    assert table.total["params"] == count_params(block) == sum(r["params"] for r in table)
    h = block.eval()(torch.zeros(1, *size, device="meta")).shape[2]
    assert all(row["output_size"].startswith(f"{h}x{h}x") for row in table)


def test_branch_costs_hand_formulas():
    block = meta(B.Inception, 192, 64, 96, 128, 16, 32, 32)
    hw = 28 * 28
    table = branch_costs(block, (192, 28, 28))
    assert table["branch1x1"]["macs"] == hw * 192 * 64
    assert table["branch3x3"]["macs"] == hw * (192 * 96 + 96 * 9 * 128)
    assert table["branch5x5"]["macs"] == hw * (192 * 16 + 16 * 25 * 32)
    assert table["branch_pool"]["macs"] == hw * 192 * 32
    assert table["branch3x3"]["type"] == "1x1 conv, 96 → 3x3 conv, 128"

    grid = meta(B.GridReduction, 288, {"branch3x3": [(384, 3)]})
    table = branch_costs(grid, (288, 35, 35))
    assert table["branch3x3"]["macs"] == 17 * 17 * 288 * 9 * 384
    assert table["branch3x3"]["output_size"] == "17x17x384"

    res = meta(B.InceptionResNetBlock.c, 2080)
    table = branch_costs(res, (2080, 8, 8))
    concat = 192 + 256
    assert table["project"]["macs"] == 64 * concat * 2080
    assert table["project"]["type"] == "1x1 conv, 2080 (linear)"


def test_branch_costs_on_torchvision_block_and_refusals():
    tv = meta(torchvision.models.googlenet, weights=None, aux_logits=False, init_weights=False)
    tv_block = tv.inception3a
    table = branch_costs(tv_block, (192, 28, 28))
    assert table.names == ["branch1", "branch2", "branch3", "branch4"]
    assert table.total["macs"] == count_macs(tv_block, (192, 28, 28))
    with pytest.raises(ValueError, match="has no branches"):
        branch_costs(nn.Conv2d(3, 3, 3), (3, 8, 8))
    with pytest.raises(ValueError, match=r"must be a torch\.nn\.Module"):
        branch_costs("inception3a", (3, 8, 8))


# --------------------------------------------------------------------------- receptive field
def brute_force_rf(model: nn.Module, size: int = 41) -> tuple[int, int]:
    """Receptive field from gradients: which input pixels change the centre output pixel."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_receptive_field_of_the_factorizations():
    assert receptive_field([5]).size == (5, 5)
    assert receptive_field([3, 3]).size == (5, 5)
    assert receptive_field([((1, 7), 1), ((7, 1), 1)]).size == (7, 7)
    assert receptive_field([((1, 7), 1)]).size == (1, 7)
    assert str(receptive_field([3, 3, 3])) == "7x7"


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Conv2d(1, 1, 7, stride=2), nn.AvgPool2d(3, 2), nn.Conv2d(1, 1, 3)],
        [nn.Conv2d(1, 1, (1, 5)), nn.Conv2d(1, 1, (5, 1), stride=2), nn.Conv2d(1, 1, 3)],
        [nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, stride=(1, 2))],
    ],
)
def test_receptive_field_matches_gradients(layers):
    model = nn.Sequential(*layers)
    expected = brute_force_rf(model)
    assert receptive_field(model).size == expected
    assert receptive_field(layers).size == expected


def test_receptive_field_of_blocks_and_strides():
    rf = receptive_field([(7, 2), (3, 2), 3])
    assert rf.size == (19, 19) and rf.jump == (4, 4)
    assert receptive_field(B.InceptionA(32, 8, 8, 8, 8, 8, 8)).size == (5, 5)
    assert receptive_field(B.InceptionB(32, 8, 8, 8, 8, 8, 8)).size == (13, 13)  # dbl: 2 x (7 + 7)
    assert receptive_field(B.InceptionC(32, 8, 8, 8, 8, 8, 8)).size == (5, 5)
    assert receptive_field(B.InceptionResNetBlock.a(32)).size == (5, 5)
    assert receptive_field(B.ConvBNAct(3, 8, (1, 7))).size == (1, 7)


@pytest.mark.parametrize("bad", ["3x3", [0], [(3,)], [(3, 1, 1)], [nn.Linear(3, 3)], 5])
def test_receptive_field_bad_input(bad):
    with pytest.raises(ValueError):
        receptive_field(bad)


# --------------------------------------------------------------------------- bad input
def test_input_too_small_names_the_size():
    tv = meta(torchvision.models.googlenet, weights=None, aux_logits=False, init_weights=False)
    with pytest.raises(ValueError, match=r"input size \(3, 8, 8\).*maxpool3"):
        count_macs(tv, (3, 8, 8))
    with pytest.raises(ValueError, match=r"input size \(3, 16, 16\).*at least 31x31"):
        count_macs(meta(models.googlenet, variant="paper"), (3, 16, 16))
    with pytest.raises(ValueError, match=r"input size \(4, 28, 28\).*192 input channels"):
        cost_table(B.Inception(192, 64, 96, 128, 16, 32, 32), (4, 28, 28))


@pytest.mark.parametrize("size", [(3, 224), (3, 0, 5), (3.5, 2, 2), "3x224x224", (1, 2, 3, 4, 5)])
def test_bad_input_size(size):
    with pytest.raises(ValueError, match="input_size must be"):
        count_macs(nn.Conv2d(3, 3, 1), size)


@pytest.mark.parametrize(
    "call",
    [
        lambda: count_params("conv"),
        lambda: count_weights(None),
        lambda: count_macs(lambda x: x, (3, 8, 8)),
        lambda: cost_table([nn.Conv2d(3, 3, 1)], (3, 8, 8)),
        lambda: param_breakdown(3),
        lambda: describe_layer("conv"),
    ],
)
def test_non_modules_are_refused(call):
    with pytest.raises(ValueError, match=r"must be a torch\.nn\.Module"):
        call()


def test_counting_restores_mixed_training_modes():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout())
    model.train()
    model[1].eval()  # e.g. a frozen BN
    before = [m.training for m in model.modules()]
    count_macs(model, (3, 8, 8))
    assert [m.training for m in model.modules()] == before


def test_describe_layer():
    assert describe_layer(B.ConvBNAct(64, 160, (1, 7))) == "1x7 conv, 160"
    assert describe_layer(nn.MaxPool2d(3, 2)) == "3x3/2 max pool"
    assert describe_layer(nn.AvgPool2d(3, 1, 1)) == "3x3 avg pool"
    assert describe_layer(nn.Conv2d(8, 8, 3, groups=8)) == "3x3 conv, 8, groups=8"
    assert describe_layer(nn.Dropout(0.4)) == "dropout 40%"
    assert describe_layer(B.SplitConv(8, 4)) == "1x3 conv, 4 | 3x1 conv, 4"
    assert profile.model_name(meta(models.googlenet, variant="paper")) == "googlenet (paper)"
