"""Tests for inception_lab.models: shapes, parameter counts and MACs against the papers' arithmetic
and torchvision, torchvision weights giving torchvision's outputs, the aux-head contract, bad input,
and bf16 autocast with channels_last inputs. (Logits against timm's Inception-v4 and
Inception-ResNet-v2: tests/test_family_reference.py.)

Sources of the expected numbers: the GoogLeNet paper's Table 1 (Szegedy et al. 2014, "Going
Deeper with Convolutions"), worked out layer by layer below; torchvision 0.29's `googlenet` and
`inception_v3` (counted with `sum(p.numel())` and torch's FlopCounterMode; torchvision documents
1.498 and 5.713 "GFLOPS", which are multiply-adds); the Inception-v4 paper (Szegedy et al. 2016,
"Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
arXiv:1602.07261), its Figures 7 and 10-14 and Table 1, for Inception-ResNet-v1."""

import ast
import dataclasses
import inspect
import types
from pathlib import Path

import pytest
import torch
import torchvision
from _random_weights import randomize_
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from inception_lab import blocks, models, profile
from inception_lab.models import (
    bn_inception,
    build,
    googlenet,
    inception_resnet_v1,
    inception_resnet_v2_half,
    inception_v3,
    inception_v4,
    list_models,
    load_torchvision_state_dict,
    mini_baseline,
    mini_bn_inception,
    mini_custom,
    mini_factorized,
    mini_googlenet,
    mini_inception_resnet,
    mini_naive,
    model_spec,
)

MINIS = [
    "mini_baseline",
    "mini_naive",
    "mini_reduced",
    "mini_googlenet",
    "mini_bn_inception",
    "mini_factorized",
    "mini_inception_resnet",
]

# GoogLeNet's Table 1, written out independently of models.TABLE1:
#        in  1x1  3x3red 3x3  5x5red 5x5  pool_proj  grid (at 224x224)
TABLE1 = [
    (192, 64, 96, 128, 16, 32, 32, 28),  # 3a
    (256, 128, 128, 192, 32, 96, 64, 28),  # 3b
    (480, 192, 96, 208, 16, 48, 64, 14),  # 4a
    (512, 160, 112, 224, 24, 64, 64, 14),  # 4b
    (512, 128, 128, 256, 24, 64, 64, 14),  # 4c
    (512, 112, 144, 288, 32, 64, 64, 14),  # 4d
    (528, 256, 160, 320, 32, 128, 128, 14),  # 4e
    (832, 256, 160, 320, 32, 128, 128, 7),  # 5a
    (832, 384, 192, 384, 48, 128, 128, 7),  # 5b
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, size: int, in_ch: int = 3) -> int:
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, in_ch, size, size))
    return counter.get_total_flops() // 2  # FlopCounterMode counts 2 FLOPs per MAC


def module_weights(row: tuple, kernel5: int = 5) -> int:
    cin, c1, r3, c3, r5, c5, pp, _ = row
    return cin * c1 + cin * r3 + 9 * r3 * c3 + cin * r5 + kernel5**2 * r5 * c5 + cin * pp


# --------------------------------------------------------------------------- registry
def test_registry_lists_every_model():
    assert list_models() == [
        "googlenet",
        "bn_inception",
        "inception_v3",
        "inception_v4",
        "inception_resnet_v1",
        "inception_resnet_v2",
        "inception_resnet_v2_half",
        *MINIS,
    ]
    assert isinstance(build("mini_googlenet", num_classes=7), models.Network)
    assert build("mini_naive", num_classes=7).fc.out_features == 7


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet50'; valid names: googlenet, "):
        build("resnet50")
    with pytest.raises(ValueError, match="mini_inception_resnet"):
        build("mini_inception")


def test_unknown_model_error_lists_every_name():
    with pytest.raises(ValueError, match="unknown model") as error:
        model_spec("inception_v5")
    assert all(name in str(error.value) for name in list_models())


# The head dropout each builder hard-coded before `dropout` became an argument (its default now),
# and the grid the last stage gives at the input size the model was designed for: 224 -> 7 (the
# GoogLeNet paper's Table 1), 299 -> 8 (the v3 paper's Table 1, the v4 paper's Figures 9 and 15),
# 32 -> 4 for every mini model.
DEFAULTS = {  # name -> (head dropout, final grid at the registered input size)
    "googlenet": (0.4, 7),
    "bn_inception": (0.4, 7),
    "inception_v3": (0.5, 8),
    "inception_v4": (0.2, 8),
    "inception_resnet_v1": (0.2, 8),
    "inception_resnet_v2": (0.2, 8),
    "inception_resnet_v2_half": (0.2, 8),
    "mini_baseline": (0.4, 4),
    "mini_naive": (0.4, 4),
    "mini_reduced": (0.4, 4),
    "mini_googlenet": (0.4, 4),
    "mini_bn_inception": (0.4, 4),
    "mini_factorized": (0.4, 4),
    "mini_inception_resnet": (0.2, 4),
}


def test_model_specs_hold_the_metadata():
    assert list(DEFAULTS) == list_models()
    for name in list_models():
        spec = model_spec(name)
        assert spec.name == name and spec.builder is getattr(models, name)
        assert spec.mini == name.startswith("mini_")
        assert spec.family and spec.paper
    assert model_spec("inception_v3").family == "Inception v3"
    assert (
        "Table 1" in model_spec("googlenet").paper
        and "Figure 9" in model_spec("inception_v4").paper
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_spec("googlenet").input_size = 299
    with pytest.raises(ValueError, match="'googlenet' is already registered"):
        models.register(input_size=224, family="GoogLeNet", paper="-")(googlenet)
    assert len(list_models()) == len(set(list_models())) == 14


def test_registry_imports_no_model_file():
    # the model files import registry.py (for @register); the other way round would be a circle
    tree = ast.parse(Path(models.registry.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "collections.abc", "dataclasses", "typing", "network"}


@pytest.mark.parametrize("name", [*list_models(), "mini_custom"])
def test_builders_take_keyword_arguments_only(name):
    builder = getattr(models, name)
    params = inspect.signature(builder).parameters
    positional = [p.name for p in params.values() if p.kind is not p.KEYWORD_ONLY]
    assert positional == (["make_stage"] if name == "mini_custom" else [])
    assert {"num_classes", "in_channels", "dropout"} <= set(params)
    with pytest.raises(TypeError, match="positional argument"):
        builder(lambda c, g: nn.Identity(), 10) if name == "mini_custom" else builder(10)


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_with_the_common_arguments(name):
    spec, (dropout, grid) = model_spec(name), DEFAULTS[name]
    size = spec.input_size
    assert size == {7: 224, 8: 299, 4: 32}[grid]
    with torch.device("meta"):  # shapes only: cheap even for the full-size models
        default = build(name)
        model = build(name, num_classes=10, in_channels=1, dropout=0.25).eval()
    assert default.dropout.p == pytest.approx(dropout)
    assert model.dropout.p == pytest.approx(0.25)
    assert model.fc.out_features == 10 and model.in_ch == 1
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1
    last_grid = {}
    getattr(model, model.stage_names[-1]).register_forward_hook(
        lambda m, i, o: last_grid.__setitem__("hw", tuple(o.shape[-2:]))
    )
    out = model(torch.empty(2, 1, size, size, device="meta"))
    assert out.shape == (2, 10)
    assert last_grid["hw"] == (grid, grid)  # the input size is the one the model was designed for
    assert model.min_size <= size
    # the network checks its input once, at the boundary, naming itself
    with pytest.raises(ValueError, match=r"expects 1 input channels, got 3 \(input shape"):
        model(torch.empty(2, 3, size, size, device="meta"))
    with pytest.raises(ValueError, match=r"expects a 4-d input \(N, C, H, W\), got \(1, "):
        model(torch.empty(1, size, size, device="meta"))


@pytest.mark.parametrize("name", ["googlenet", "inception_v3", "mini_factorized"])
def test_num_classes_reach_the_aux_heads(name):
    with torch.device("meta"):
        model = build(name, num_classes=10, aux_logits=True).train()
    size = model_spec(name).input_size
    outputs = model(torch.empty(2, 3, size, size, device="meta"))
    assert isinstance(outputs, tuple) and [o.shape for o in outputs] == [(2, 10)] * len(outputs)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, "0.5", None])
def test_bad_dropout(dropout):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got "):
        build("mini_baseline", dropout=dropout)


def test_googlenet_dropout_defaults_to_its_variants():
    with torch.device("meta"):
        assert googlenet(variant="torchvision").dropout.p == pytest.approx(0.2)
        assert googlenet(variant="torchvision", dropout=0.3).dropout.p == pytest.approx(0.3)


# --------------------------------------------------------------------------- GoogLeNet, paper
def test_googlenet_paper_weights_and_macs_match_table1():
    model = googlenet(variant="paper")
    stem = 7 * 7 * 3 * 64 + 64 * 64 + 9 * 64 * 192
    weights = stem + sum(module_weights(row) for row in TABLE1) + 1024 * 1000
    assert weights == 6_990_272  # Table 1's channel numbers, multiplied out
    convs_and_linears = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert sum(m.weight.numel() for m in convs_and_linears) == weights
    # Biases on every conv and the classifier (no BN in the paper):
    biases = 64 + 64 + 192 + sum(sum(row[1:7]) for row in TABLE1) + 1000
    assert n_params(model) == weights + biases
    # MACs: weights x output positions, per layer.
    expected = 7 * 7 * 3 * 64 * 112**2 + (64 * 64 + 9 * 64 * 192) * 56**2 + 1024 * 1000
    expected += sum(module_weights(row) * row[-1] ** 2 for row in TABLE1)
    assert macs(model, 224) == expected
    assert round(expected / 1e6) == 1583  # the paper budgets "1.5 billion multiply-adds"


def test_googlenet_paper_layout():
    model = googlenet(variant="paper", aux_logits=True, lrn=True)
    assert [name for name, _ in model.named_children()] == [
        "conv1", "maxpool1", "lrn1", "conv2", "conv3", "lrn2", "maxpool2",
        "inception3a", "inception3b", "maxpool3",
        "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
        "inception5a", "inception5b", "avgpool", "dropout", "fc", "aux1", "aux2",
    ]  # fmt: skip
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model.inception3a.branches["branch5x5"][1].conv.kernel_size == (5, 5)
    assert model.maxpool4.kernel_size == 3
    assert model.dropout.p == pytest.approx(0.4)
    # Aux heads: 1x1 conv 128 (+bias), FC 2048 -> 1024, FC 1024 -> 1000, LRN adds no parameters.
    aux = sum(c * 128 + 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 for c in (512, 528))
    assert n_params(model) == n_params(googlenet(variant="paper")) + aux


def test_googlenet_paper_grid_sizes():
    model = googlenet(variant="paper").eval()
    sizes = {}
    for name in ("conv1", "maxpool1", "maxpool2", "maxpool3", "maxpool4", "inception5b"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape[1:]))
        )
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert sizes == {
        "conv1": (64, 112, 112),
        "maxpool1": (64, 56, 56),
        "maxpool2": (192, 28, 28),
        "maxpool3": (480, 14, 14),
        "maxpool4": (832, 7, 7),
        "inception5b": (1024, 7, 7),
    }


def test_googlenet_paper_aux_heads_need_224ish_inputs():
    model = googlenet(variant="paper", aux_logits=True).train()
    logits, aux1, aux2 = model(torch.randn(1, 3, 224, 224))  # no BN: batch 1 trains fine
    assert logits.shape == aux1.shape == aux2.shape == (1, 1000)
    with pytest.raises(ValueError, match=r"AuxClassifier \(v1\).*14x14 to 16x16.*got 12x12"):
        model(torch.randn(1, 3, 192, 192))
    model.eval()  # without the aux heads any size above the minimum works
    assert model(torch.randn(1, 3, 192, 192)).shape == (1, 1000)


# --------------------------------------------------------------------------- GoogLeNet, torchvision
@pytest.mark.parametrize(("aux_logits", "expected"), [(False, 6_624_904), (True, 13_004_888)])
def test_googlenet_torchvision_param_count(aux_logits, expected):
    theirs = torchvision.models.googlenet(weights=None, aux_logits=aux_logits, init_weights=True)
    ours = googlenet(variant="torchvision", aux_logits=aux_logits)
    assert n_params(ours) == n_params(theirs) == expected
    assert {n for n, _ in ours.named_children()} == {n for n, _ in theirs.named_children()}


def test_googlenet_torchvision_macs():
    assert (
        macs(googlenet(variant="torchvision"), 224) == 1_498_376_192
    )  # torchvision: 1.498 "GFLOPS"


def test_googlenet_torchvision_weights_give_torchvision_outputs():
    theirs = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    assert theirs.transform_input is False  # weights=None: no input transform, like ours
    randomize_(theirs)
    ours = load_torchvision_state_dict(
        googlenet(variant="torchvision", aux_logits=True), theirs.state_dict()
    )
    x = torch.randn(2, 3, 112, 112)  # any size works: torchvision's aux heads pool adaptively
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(x)
        assert expected.abs().mean() > 0.1  # outputs are not trivially small
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
        # Train mode: same dropout draws in the same order, batch statistics in BN.
        ours.train()
        theirs.train()
        torch.manual_seed(1)
        logits, aux1, aux2 = ours(x)
        torch.manual_seed(1)
        theirs_out = theirs(x)  # torchvision's order: (logits, aux2, aux1)
    for a, b in [
        (logits, theirs_out.logits),
        (aux1, theirs_out.aux_logits1),
        (aux2, theirs_out.aux_logits2),
    ]:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- Inception v3
@pytest.fixture(scope="module")
def v3_with_aux():
    """torchvision's Inception3 (random weights and BN statistics) and ours; built once."""
    theirs = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    return inception_v3(aux_logits=True), randomize_(theirs)


def test_inception_v3_param_count(v3_with_aux):
    ours, theirs = v3_with_aux
    assert n_params(ours) == n_params(theirs) == 27_161_264
    assert {n for n, _ in ours.named_children()} == {n for n, _ in theirs.named_children()}
    # torchvision's aux_logits=False model is the same minus its AuxLogits head.
    without_aux = n_params(theirs) - n_params(theirs.AuxLogits)
    assert n_params(inception_v3()) == without_aux == 23_834_568


def test_inception_v3_weights_give_torchvision_outputs(v3_with_aux):
    ours, theirs = v3_with_aux
    assert theirs.transform_input is False
    load_torchvision_state_dict(ours, theirs.state_dict())
    x = torch.randn(2, 3, 299, 299)  # the v3 aux head needs the 17x17 grid of a 299x299 input
    theirs.train()
    ours.train()
    with torch.no_grad():
        torch.manual_seed(2)
        logits, aux = ours(x)
        torch.manual_seed(2)
        expected = theirs(x)
    torch.testing.assert_close(logits, expected.logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(aux, expected.aux_logits, rtol=1e-5, atol=1e-5)
    assert logits.shape == aux.shape == (2, 1000)
    # eval mode (BN running statistics), logits only, any size from the minimum up.
    theirs.eval()
    ours.eval()
    x = torch.randn(1, 3, 107, 131)
    with torch.no_grad():
        expected = theirs(x)
        assert expected.abs().mean() > 0.1  # outputs are not trivially small
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
        # torchvision's pools count the zero padding; the papers' TensorFlow pools do not, and
        # that alone changes the outputs.
        pools = [m for m in ours.modules() if isinstance(m, nn.AvgPool2d) and m.padding == 1]
        assert len(pools) == 3 + 4 + 2  # the pool branches of Mixed_5b-d, 6b-e, 7b-c
        for m in pools:
            m.count_include_pad = False
        try:
            assert (ours(x) - expected).abs().max() > 1e-3
        finally:
            for m in pools:
                m.count_include_pad = True


def test_inception_v3_macs_and_grids(v3_with_aux):
    model, sizes = v3_with_aux[0].eval(), {}
    names = ("maxpool2", "Mixed_5d", "Mixed_6a", "Mixed_6e", "Mixed_7a", "Mixed_7c")
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape[1:]))
        )
        for name in names
    ]
    assert macs(model, 299) == 5_713_216_096  # torchvision: 5.713 "GFLOPS" (multiply-adds)
    for hook in hooks:
        hook.remove()
    assert sizes == {
        "maxpool2": (192, 35, 35),
        "Mixed_5d": (288, 35, 35),
        "Mixed_6a": (768, 17, 17),
        "Mixed_6e": (768, 17, 17),
        "Mixed_7a": (1280, 8, 8),
        "Mixed_7c": (2048, 8, 8),
    }


def test_torchvision_key_mapping_examples():
    key = models.from_torchvision_key
    assert (
        key("inception3a.branch2.1.conv.weight") == "inception3a.branches.branch3x3.1.conv.weight"
    )
    assert key("inception4e.branch1.bn.running_var") == (
        "inception4e.branches.branch1x1.0.bn.running_var"
    )
    assert key("Mixed_7b.branch3x3_2a.bn.bias") == "Mixed_7b.branches.branch3x3.1.split_1xn.bn.bias"
    assert key("Mixed_7c.branch3x3dbl_3b.conv.weight") == (
        "Mixed_7c.branches.branch3x3dbl.2.split_nx1.conv.weight"
    )
    assert key("Mixed_6a.branch3x3.conv.weight") == "Mixed_6a.branches.branch3x3.0.conv.weight"
    assert key("Mixed_5b.branch_pool.bn.weight") == "Mixed_5b.branches.branch_pool.1.bn.weight"
    assert key("Mixed_7a.branch7x7x3_4.conv.weight") == (
        "Mixed_7a.branches.branch7x7x3.3.conv.weight"
    )
    assert key("AuxLogits.conv1.conv.weight") == "AuxLogits.conv1.conv.weight"


# --------------------------------------------------------------------------- BN-Inception, ResNet
def test_bn_inception_is_googlenet_with_bn_and_two_3x3():
    model = bn_inception()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is None for m in convs)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert n_bn == len(convs)  # BN after every conv
    assert not any(m.kernel_size == (5, 5) for m in convs)
    # Weights: GoogLeNet's with each 5x5 (25 r5 c5) replaced by 3x3 (9 r5 c5) + 3x3 (9 c5 c5).
    stem = 7 * 7 * 3 * 64 + 64 * 64 + 9 * 64 * 192
    weights = stem + 1024 * 1000
    for cin, c1, r3, c3, r5, c5, pp, _ in TABLE1:
        weights += cin * c1 + cin * r3 + 9 * r3 * c3 + cin * r5 + 9 * r5 * c5 + 9 * c5 * c5
        weights += cin * pp
    bn = 2 * sum(m.out_channels for m in convs)
    assert n_params(model) == weights + bn + 1000  # + the classifier's bias
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_bn_inception_aux():
    model = bn_inception(num_classes=5, aux_logits=True).train()
    out = model(torch.randn(2, 3, 96, 96))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 5)] * 3


def conv(c_in: int, c_out: int, kh: int, kw: int | None = None, bn: bool = True) -> int:
    """Hand formula for one conv layer: weights, then BN's gamma and beta (or a bias)."""
    kw = kh if kw is None else kw
    return kh * kw * c_in * c_out + (2 * c_out if bn else c_out)


def stage_shapes(model: nn.Module, size: int, names: list[str]) -> dict[str, tuple[int, ...]]:
    """(C, H, W) after each named child for a (1, 3, size, size) input, on the meta device."""
    model, shapes = model.to("meta").eval(), {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:]))
        )
        for name in names
    ]
    model(torch.empty(1, 3, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    return shapes


# --------------------------------------------------------------------------- Inception-v4
def test_inception_v4_params_from_the_figures():
    # Szegedy et al. 2016 (arXiv:1602.07261): stem Figure 3, Inception-A/B/C Figures 4-6,
    # Reduction-A Figure 7 with Table 1's k, l, m, n = 192, 224, 256, 384, Reduction-B Figure 8.
    stem = conv(3, 32, 3) + conv(32, 32, 3) + conv(32, 64, 3) + conv(64, 96, 3)
    stem += conv(160, 64, 1) + conv(64, 96, 3)
    stem += conv(160, 64, 1) + conv(64, 64, 1, 7) + conv(64, 64, 7, 1) + conv(64, 96, 3)
    stem += conv(192, 192, 3)
    a = conv(384, 96, 1) + conv(384, 64, 1) + conv(64, 96, 3) + conv(384, 64, 1)
    a += conv(64, 96, 3) + conv(96, 96, 3) + conv(384, 96, 1)
    red_a = conv(384, 384, 3) + conv(384, 192, 1) + conv(192, 224, 3) + conv(224, 256, 3)
    b = conv(1024, 384, 1) + conv(1024, 192, 1) + conv(192, 224, 1, 7) + conv(224, 256, 7, 1)
    b += conv(1024, 192, 1) + conv(192, 192, 7, 1) + conv(192, 224, 1, 7)
    b += conv(224, 224, 7, 1) + conv(224, 256, 1, 7) + conv(1024, 128, 1)
    red_b = conv(1024, 192, 1) + conv(192, 192, 3) + conv(1024, 256, 1) + conv(256, 256, 1, 7)
    red_b += conv(256, 320, 7, 1) + conv(320, 320, 3)
    c = conv(1536, 256, 1) + conv(1536, 384, 1) + conv(384, 256, 1, 3) + conv(384, 256, 3, 1)
    c += conv(1536, 384, 1) + conv(384, 448, 3, 1) + conv(448, 512, 1, 3)
    c += conv(512, 256, 1, 3) + conv(512, 256, 3, 1) + conv(1536, 256, 1)
    expected = stem + 4 * a + red_a + 7 * b + red_b + 3 * c + 1536 * 1000 + 1000
    assert expected == 42_679_816  # timm's inception_v4 (tests/test_family_reference.py)
    with torch.device("meta"):
        assert n_params(inception_v4()) == expected


def test_inception_v4_grids_match_figure_9():
    names = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "Mixed_3a",
        "Mixed_4a",
        "Mixed_5a",
        "Mixed_5e",
        "Mixed_6a",
        "Mixed_6h",
        "Mixed_7a",
        "Mixed_7d",
    ]
    model = inception_v4()
    assert [n for n in model.stage_names if n.startswith("Mixed_5")][1:] == [
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_5e",
    ]
    assert len([n for n in model.stage_names if n.startswith("Mixed_6")]) == 1 + 7
    assert len([n for n in model.stage_names if n.startswith("Mixed_7")]) == 1 + 3
    assert stage_shapes(model, 299, names) == {
        "Conv2d_1a_3x3": (32, 149, 149),
        "Conv2d_2a_3x3": (32, 147, 147),
        "Conv2d_2b_3x3": (64, 147, 147),
        "Mixed_3a": (160, 73, 73),
        "Mixed_4a": (192, 71, 71),
        "Mixed_5a": (384, 35, 35),
        "Mixed_5e": (384, 35, 35),
        "Mixed_6a": (1024, 17, 17),
        "Mixed_6h": (1024, 17, 17),
        "Mixed_7a": (1536, 8, 8),
        "Mixed_7d": (1536, 8, 8),
    }
    assert model.dropout.p == pytest.approx(0.2)  # the paper's keep probability 0.8


# --------------------------------------------------------------------------- Inception-ResNet-v1
def test_inception_resnet_v1_params_from_the_figures():
    # The v4 paper's Inception-ResNet-v1: stem Figure 14, blocks Figures 10, 11, 13 (each with a
    # linear 1x1 projection: a bias, no BN), Reduction-A Figure 7 with Table 1's k, l, m, n =
    # 192, 192, 256, 384, Reduction-B Figure 12.
    stem = conv(3, 32, 3) + conv(32, 32, 3) + conv(32, 64, 3) + conv(64, 80, 1)
    stem += conv(80, 192, 3) + conv(192, 256, 3)
    a = conv(256, 32, 1) + conv(256, 32, 1) + conv(32, 32, 3) + conv(256, 32, 1)
    a += conv(32, 32, 3) + conv(32, 32, 3) + conv(96, 256, 1, bn=False)
    red_a = conv(256, 384, 3) + conv(256, 192, 1) + conv(192, 192, 3) + conv(192, 256, 3)
    b = conv(896, 128, 1) + conv(896, 128, 1) + conv(128, 128, 1, 7) + conv(128, 128, 7, 1)
    b += conv(256, 896, 1, bn=False)
    red_b = conv(896, 256, 1) + conv(256, 384, 3) + conv(896, 256, 1) + conv(256, 256, 3)
    red_b += conv(896, 256, 1) + conv(256, 256, 3) + conv(256, 256, 3)
    c = conv(1792, 192, 1) + conv(1792, 192, 1) + conv(192, 192, 1, 3) + conv(192, 192, 3, 1)
    c += conv(384, 1792, 1, bn=False)
    expected = stem + 5 * a + red_a + 10 * b + red_b + 5 * c + 1792 * 1000 + 1000
    with torch.device("meta"):
        model = inception_resnet_v1()
    assert n_params(model) == expected == 22_756_328
    # about Inception v3's 5.71 G MACs, as the paper pairs them (counted, not published)
    assert profile.count_macs(model, (3, 299, 299)) == 6_206_361_696


def test_inception_resnet_v1_shapes_match_the_figures():
    model = inception_resnet_v1()
    blocks = [n for n in model.stage_names if n.startswith("block_")]
    assert [sum(n.startswith(f"block_{g}") for n in blocks) for g in "abc"] == [5, 10, 5]
    names = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "maxpool1",
        "Conv2d_4a_3x3",
        "Conv2d_4b_3x3",
        "block_a5",
        "reduction_a",
        "block_b10",
        "reduction_b",
        "block_c5",
    ]
    branches = {}  # (block, branch) -> (C, H, W), for one block of each kind
    for block in ("block_a1", "block_b1", "block_c1", "reduction_a", "reduction_b"):
        for branch_name, branch in getattr(model, block).branches.items():
            branch.register_forward_hook(
                lambda m, i, o, key=(block, branch_name): branches.__setitem__(
                    key, tuple(o.shape[1:])
                )
            )
    assert stage_shapes(model, 299, names) == {
        "Conv2d_1a_3x3": (32, 149, 149),  # Figure 14
        "Conv2d_2a_3x3": (32, 147, 147),
        "maxpool1": (64, 73, 73),
        "Conv2d_4a_3x3": (192, 71, 71),
        "Conv2d_4b_3x3": (256, 35, 35),
        "block_a5": (256, 35, 35),
        "reduction_a": (896, 17, 17),  # 256 + n 384 + m 256
        "block_b10": (896, 17, 17),
        "reduction_b": (1792, 8, 8),  # 896 + 384 + 256 + 256 (Figure 12)
        "block_c5": (1792, 8, 8),
    }
    assert branches == {
        ("block_a1", "branch1x1"): (32, 35, 35),  # Figure 10: 32 | 32 | 32, then 1x1 to 256
        ("block_a1", "branch3x3"): (32, 35, 35),
        ("block_a1", "branch3x3dbl"): (32, 35, 35),
        ("block_b1", "branch1x1"): (128, 17, 17),  # Figure 11: 128 | 128, then 1x1 to 896
        ("block_b1", "branch7x7"): (128, 17, 17),
        ("block_c1", "branch1x1"): (192, 8, 8),  # Figure 13: 192 | 192, then 1x1 to 1792
        ("block_c1", "branch3x3"): (192, 8, 8),
        ("reduction_a", "branch3x3"): (384, 17, 17),  # n
        ("reduction_a", "branch3x3dbl"): (256, 17, 17),  # k -> l -> m
        ("reduction_a", "branch_pool"): (256, 17, 17),
        ("reduction_b", "branch3x3a"): (384, 8, 8),
        ("reduction_b", "branch3x3b"): (256, 8, 8),
        ("reduction_b", "branch3x3dbl"): (256, 8, 8),
        ("reduction_b", "branch_pool"): (896, 8, 8),
    }
    kernels = [m.conv.kernel_size for m in model.block_b1.branches["branch7x7"]]
    assert kernels == [(1, 1), (1, 7), (7, 1)]
    assert [
        (b.project.in_ch, b.project.out_ch)
        for b in (model.block_a1, model.block_b1, model.block_c1)
    ] == [(96, 256), (256, 896), (384, 1792)]
    assert [model.block_a1.scale, model.block_b1.scale, model.block_c1.scale] == pytest.approx(
        [0.17, 0.1, 0.2]
    )


def test_inception_resnet_v1_runs_on_299():
    torch.manual_seed(0)
    model = inception_resnet_v1(num_classes=10, scale=0.3).eval()
    assert all(
        b.scale == pytest.approx(0.3) and b.relu
        for b in model.modules()
        if isinstance(b, blocks.InceptionResNetBlock)
    )
    with torch.no_grad():
        out = model(torch.randn(1, 3, 299, 299))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


# --------------------------------------------------------------------------- Inception-ResNet-v2
def test_inception_resnet_v2_half_layout_and_v2_widths():
    model = inception_resnet_v2_half(depth=(2, 3, 2))
    names = [n for n, _ in model.named_children()]
    assert [n for n in names if n.startswith("block_")] == [
        "block_a1",
        "block_a2",
        "block_b1",
        "block_b2",
        "block_b3",
        "block_c1",
        "block_c2",
    ]
    assert (model.block_a1.in_ch, model.block_b1.in_ch, model.block_c1.in_ch) == (320, 1088, 2080)
    assert (model.block_a1.scale, model.block_b1.scale, model.block_c1.scale) == pytest.approx(
        (0.17, 0.1, 0.2)
    )
    assert (model.block_c2.scale, model.block_c2.relu) == (1.0, False)  # the released last block
    assert all(
        b.scale == 1.0
        for b in inception_resnet_v2_half(depth=1, scale=1.0).modules()
        if isinstance(b, blocks.InceptionResNetBlock)
    )
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 75, 75)).shape == (1, 1000)
    # Each extra A block adds exactly one A block's parameters.
    small = inception_resnet_v2_half(width=0.25, depth=1)
    deeper = inception_resnet_v2_half(width=0.25, depth=(2, 1, 1))
    assert n_params(deeper) - n_params(small) == n_params(small.block_a1)


def test_inception_resnet_v2_half_at_full_depth_is_inception_resnet_v2():
    with torch.device("meta"):
        half = inception_resnet_v2_half()
        full = inception_resnet_v2_half(depth=(10, 20, 10))
        v2 = models.inception_resnet_v2()
    assert n_params(half) == 33_782_664
    assert n_params(full) == n_params(v2) == 55_843_464
    shapes = {k: v.shape for k, v in v2.state_dict().items()}
    assert {k: v.shape for k, v in full.state_dict().items()} == shapes


def test_old_name_inception_resnet_is_gone():
    # "inception_resnet" was the half-depth builder's old name; `models.inception_resnet` is the
    # model file again, and the registry knows only `inception_resnet_v2_half`.
    assert isinstance(models.inception_resnet, types.ModuleType)
    assert models.inception_resnet.inception_resnet_v2_half is inception_resnet_v2_half
    assert "inception_resnet" not in list_models()
    with pytest.raises(ValueError, match="unknown model 'inception_resnet'"):
        build("inception_resnet")


def test_inception_resnet_v2_half_width_and_channels():
    model = inception_resnet_v2_half(
        num_classes=10, width=0.25, depth=(1, 1, 1), in_channels=1
    ).eval()
    assert model.block_a1.in_ch == 80  # 320 / 4
    with torch.no_grad():
        assert model(torch.randn(2, 1, 75, 75)).shape == (2, 10)
        assert model(torch.randn(2, 1, 128, 100)).shape == (2, 10)


# --------------------------------------------------------------------------- minimum input size
@pytest.mark.parametrize(
    ("make", "minimum"),
    [
        (lambda: googlenet(variant="torchvision"), 15),  # torchvision's own meta["min_size"]
        (lambda: inception_v3(), 75),  # likewise
        (lambda: googlenet(variant="paper"), 31),  # its maxpool4 is 3x3/2 instead of 2x2/2
        (lambda: bn_inception(), 31),
        (lambda: inception_resnet_v2_half(width=0.25, depth=1), 75),
        (lambda: inception_v4(), 75),  # stem (v4 paper Figure 3) and two stride-2 reductions
        (lambda: inception_resnet_v1(), 75),  # stem (Figure 14) and two reductions
        (lambda: models.inception_resnet_v2(), 75),
    ],
)
def test_minimum_input_size(make, minimum):
    model = make().eval()
    assert model.min_size == minimum
    with torch.no_grad():
        assert model(torch.randn(1, 3, minimum, minimum)).shape == (1, 1000)
        with pytest.raises(ValueError, match=rf"needs inputs of at least {minimum}x{minimum} "):
            model(torch.randn(1, 3, minimum - 1, minimum + 20))
        with pytest.raises(ValueError, match=rf"got {minimum + 20}x{minimum - 1}$"):
            model(torch.randn(1, 3, minimum + 20, minimum - 1))


def test_torchvision_agrees_on_minimum_sizes():
    weights = torchvision.models
    assert weights.GoogLeNet_Weights.IMAGENET1K_V1.meta["min_size"] == (15, 15)
    assert weights.Inception_V3_Weights.IMAGENET1K_V1.meta["min_size"] == (75, 75)
    tv = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False).eval()
    with torch.no_grad(), pytest.raises(RuntimeError):  # torch's own, cryptic error at 14
        tv(torch.randn(1, 3, 14, 14))


# --------------------------------------------------------------------------- mini models
def test_mini_costs_at_width_1():
    built = {name: build(name) for name in MINIS}
    cost = {name: (n_params(model), macs(model, 32)) for name, model in built.items()}
    for name, (params, mac) in cost.items():
        assert 100_000 <= params <= 600_000, (name, params)
        assert 5_000_000 <= mac <= 15_000_000, (name, mac)
    baseline, inception = cost["mini_baseline"][1], cost["mini_googlenet"][1]
    assert abs(baseline - inception) / inception < 0.1  # compared at equal cost


def test_mini_googlenet_is_table1_divided_by_6():
    def c(ch):
        return round(ch / 6)

    expected, cin = 3 * 9 * c(192) + c(192), c(192)  # stem: 3x3 conv with bias
    for _, c1, r3, c3, r5, c5, pp, _ in TABLE1:
        c1, r3, c3, r5, c5, pp = map(c, (c1, r3, c3, r5, c5, pp))
        expected += module_weights((cin, c1, r3, c3, r5, c5, pp, 0)) + c1 + r3 + c3 + r5 + c5 + pp
        cin = c1 + c3 + c5 + pp
    expected += cin * 10 + 10
    model = mini_googlenet()
    assert n_params(model) == expected
    assert [n for n, _ in model.named_children()] == [
        "conv1", "maxpool1", "inception3a", "inception3b", "maxpool3",
        "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
        "inception5a", "inception5b", "avgpool", "dropout", "fc",
    ]  # fmt: skip


@pytest.mark.parametrize("name", MINIS)
@pytest.mark.parametrize(("size", "width", "in_ch"), [(32, 1.0, 3), (48, 0.5, 1), (28, 0.37, 3)])
def test_mini_shapes(name, size, width, in_ch):
    model = build(name, num_classes=7, width=width, in_channels=in_ch)
    x = torch.randn(2, in_ch, size, size - 4)
    assert model.train()(x).shape == (2, 7)
    with torch.no_grad():
        assert model.eval()(x).shape == (2, 7)


@pytest.mark.parametrize("name", MINIS)
def test_mini_width_scales_channels(name):
    narrow, wide = n_params(build(name, width=0.5)), n_params(build(name, width=2.0))
    base = n_params(build(name))
    assert narrow < base / 2.5 and wide > base * 2.5  # ~quadratic in width


def test_mini_googlenet_aux_contract():
    model = mini_googlenet(aux_logits=True)
    logits, aux1, aux2 = model.train()(torch.randn(4, 3, 32, 32))
    assert logits.shape == aux1.shape == aux2.shape == (4, 10)
    (logits.sum() + 0.3 * (aux1.sum() + aux2.sum())).backward()  # all heads are trainable
    assert model.aux1.fc2.weight.grad is not None
    with torch.no_grad():
        out = model.eval()(torch.randn(4, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 10)
    heads = n_params(model.aux1) + n_params(model.aux2)
    assert heads < n_params(mini_googlenet())  # small heads for a small network


def test_mini_bn_flags():
    def has_bn(model):
        return any(isinstance(m, nn.BatchNorm2d) for m in model.modules())

    assert not has_bn(mini_googlenet()) and has_bn(mini_googlenet(bn=True))
    assert has_bn(mini_bn_inception()) and not has_bn(mini_bn_inception(bn=False))
    assert not has_bn(mini_baseline()) and not has_bn(mini_naive())
    # BN-Inception mini: mini_googlenet's layout, 5x5 factorized into two 3x3.
    bn_inc = mini_bn_inception()
    assert [n for n, _ in bn_inc.named_children()] == [
        n for n, _ in mini_googlenet().named_children()
    ]
    assert not any(m.kernel_size == (5, 5) for m in bn_inc.modules() if isinstance(m, nn.Conv2d))


def test_mini_naive_width_grows():
    model = mini_naive()
    widths = [m.out_ch for m in model.children() if isinstance(m, blocks.NaiveInception)]
    assert widths == [48, 72, 120, 168, 216]  # each module adds 3 x its branch width
    assert all(
        isinstance(m.branches["branch_pool"][0], nn.MaxPool2d)
        for m in model.children()
        if isinstance(m, blocks.NaiveInception)
    )


def test_mini_reduced_is_mini_naive_with_reductions():
    naive, reduced = mini_naive(), models.mini_reduced()
    assert [n for n, _ in naive.named_children()] == [n for n, _ in reduced.named_children()]
    modules = [m for m in reduced.children() if isinstance(m, blocks.Inception)]
    assert [m.out_ch for m in modules] == [56, 88, 128, 160, 224]
    # cheaper than the naive stack on both counts, yet every 3x3 conv is 3-7x wider
    assert n_params(reduced) < n_params(naive) and macs(reduced, 32) < macs(naive, 32)
    wide = [m.branches["branch3x3"][1].out_ch for m in modules]
    narrow = [
        m.branches["branch3x3"][0].out_ch
        for m in naive.children()
        if isinstance(m, blocks.NaiveInception)
    ]
    assert [w // n for w, n in zip(wide, narrow, strict=True)] == [3, 5, 4, 5, 7]
    # inception3a by hand: 24 channels in, 16x16 grid, weights x pixels
    by_hand = 16 * 16 * (24 * 16 + 24 * 16 + 16 * 24 * 9 + 24 * 4 + 4 * 8 * 25 + 24 * 8)
    with FlopCounterMode(display=False) as counter:
        reduced.inception3a(torch.zeros(1, 24, 16, 16))
    assert counter.get_total_flops() == 2 * by_hand


def test_mini_factorized_twin():
    fact, twin = mini_factorized(), mini_factorized(factorized=False)
    assert [n for n, _ in fact.named_children()] == [n for n, _ in twin.named_children()]

    def kernels(model):
        return {m.kernel_size for m in model.modules() if isinstance(m, nn.Conv2d)}

    assert {(1, 5), (5, 1), (1, 3), (3, 1)} <= kernels(fact) and (5, 5) not in kernels(fact)
    assert kernels(twin) == {(1, 1), (3, 3), (5, 5)}
    assert n_params(twin) > 1.4 * n_params(fact) and macs(twin, 32) > 1.4 * macs(fact, 32)
    # Same widths everywhere: every stage outputs the same shape.
    for a, b in zip(fact.children(), twin.children(), strict=True):
        assert getattr(a, "out_ch", None) == getattr(b, "out_ch", None)


def test_mini_inception_resnet_flags():
    model = mini_inception_resnet(depth=(1, 3, 2), scale=0.5, residual=False, bn=False)
    residual_blocks = [m for m in model.modules() if isinstance(m, blocks.InceptionResNetBlock)]
    assert len(residual_blocks) == 6
    assert all(b.scale == 0.5 and not b.residual for b in residual_blocks)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert (
        len(
            [
                m
                for m in mini_inception_resnet(depth=4).modules()
                if isinstance(m, blocks.InceptionResNetBlock)
            ]
        )
        == 12
    )
    assert mini_inception_resnet(depth=0)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_deep_unscaled_residual_stack_grows_and_scaling_tames_it():
    # The instability of the v4 paper's section 3.3: without BN, each unscaled residual branch
    # adds to the running sum, block after block; scale=0.1 keeps the sum near the input's size.
    def feature_rms(scale):
        torch.manual_seed(0)
        model = mini_inception_resnet(depth=(8, 0, 0), width=2.0, scale=scale, bn=False).eval()
        with torch.no_grad():
            x = model.conv2(model.maxpool1(model.conv1(torch.randn(8, 3, 32, 32))))
            y = x
            for i in range(8):
                y = getattr(model, f"block_a{i + 1}")(y)
        return (y.pow(2).mean() / x.pow(2).mean()).sqrt().item()

    assert feature_rms(1.0) > 10 * feature_rms(0.1)


def test_he_init_keeps_bn_free_signals_alive():
    torch.manual_seed(0)
    model = mini_googlenet().eval()
    features = {}
    model.inception5b.register_forward_hook(lambda m, i, o: features.__setitem__("x", o))
    with torch.no_grad():
        model(torch.randn(16, 3, 32, 32))
    assert 0.1 < features["x"].pow(2).mean().sqrt() < 10  # 20 conv layers deep, no BN


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", MINIS)
def test_mini_bad_arguments(name):
    with pytest.raises(ValueError, match=r"width must be in \(0, inf\) \(a channel mult.*got 0$"):
        build(name, width=0)
    with pytest.raises(ValueError, match=r"width must be in \(0, inf\).*got 'wide'"):
        build(name, width="wide")
    with pytest.raises(ValueError, match=r"width must be in \(0, inf\).*got inf"):
        build(name, width=float("inf"))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1, got 0"):
        build(name, num_classes=0)
    with pytest.raises(ValueError, match=r"in_channels must be an integer >= 1, got 2\.5"):
        build(name, in_channels=2.5)


@pytest.mark.parametrize("name", MINIS)
def test_wrong_input_channels_name_the_model(name):
    model = build(name)
    with pytest.raises(ValueError, match=rf"^{name} expects 3 input channels, got 1 "):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=rf"^{name} expects a 4-d input"):
        model(torch.randn(3, 32, 32))
    gray = build(name, in_channels=1)
    with pytest.raises(ValueError, match=rf"^{name} expects 1 input channels, got 3 "):
        gray(torch.randn(2, 3, 32, 32))


def test_full_size_bad_arguments():
    with pytest.raises(ValueError, match=r'variant must be "paper" or "torchvision", got \'v1\''):
        googlenet(variant="v1")
    with pytest.raises(ValueError, match="torchvision's GoogLeNet has no LRN"):
        googlenet(variant="torchvision", lrn=True)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1, got -1"):
        inception_v3(num_classes=-1)
    with pytest.raises(ValueError, match=r"^googlenet \(paper\) expects 3 input channels, got 4"):
        googlenet()(torch.randn(1, 4, 224, 224))


@pytest.mark.parametrize("scale", [0, 1.2, -0.2])
def test_bad_residual_scale(scale):
    with pytest.raises(ValueError, match=r"scale must be in \(0, 1\]"):
        mini_inception_resnet(scale=scale)
    with pytest.raises(ValueError, match=r"scale must be in \(0, 1\]"):
        inception_resnet_v2_half(depth=1, scale=scale)


@pytest.mark.parametrize("depth", [-1, (1, 2), (1, 2, 2.5), "3"])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match="depth"):
        mini_inception_resnet(depth=depth)


# --------------------------------------------------------------------------- autocast, layout
FULL_SIZE = [
    ("googlenet", {"variant": "paper", "lrn": True}, 64),
    ("googlenet", {"variant": "torchvision", "aux_logits": True}, 64),
    ("bn_inception", {"aux_logits": True}, 64),
    ("inception_v3", {"aux_logits": True}, 107),
    ("inception_resnet_v2_half", {"width": 0.25, "depth": 1}, 80),
]


@pytest.mark.parametrize(("name", "kwargs", "size"), FULL_SIZE + [(name, {}, 32) for name in MINIS])
def test_bf16_autocast_with_channels_last(name, kwargs, size):
    torch.manual_seed(0)
    model = build(name, num_classes=10, **kwargs).eval().to(memory_format=torch.channels_last)
    x = torch.randn(1, 3, size, size).to(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = model(x.contiguous())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert out.shape == (1, 10) and out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    scale = reference.abs().max()
    assert (out.float() - reference).abs().max() < 0.1 * scale + 1e-3


@pytest.mark.parametrize(
    "name, kwargs", [("mini_googlenet", {"aux_logits": True}), ("mini_inception_resnet", {})]
)
def test_bf16_autocast_training_step(name, kwargs):
    model = build(name, **kwargs).train().to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = nn.functional.cross_entropy(logits, torch.arange(4))
    loss.backward()
    assert torch.isfinite(model.fc.weight.grad).all() and model.fc.weight.grad.abs().sum() > 0


def test_mini_custom_wraps_the_stages_you_design():
    from inception_lab.blocks import Inception, NaiveInception

    def stage(in_ch, grid):  # a reduced module whose widths depend on the grid
        w = {16: 8, 8: 16, 4: 24}[grid]
        block = Inception(in_ch, w, w, w, 4, w, w)
        return nn.Sequential(block, NaiveInception(block.out_ch, 4, 4, 4))

    torch.manual_seed(0)
    model = mini_custom(stage, num_classes=7)
    names = [n for n, _ in model.named_children()]
    assert names[:7] == [
        "conv1",
        "maxpool16",
        "stage16",
        "maxpool8",
        "stage8",
        "maxpool4",
        "stage4",
    ]
    # out widths: the reduced module gives 4w (its four branches), the naive one adds 3 x 4
    assert [model.stage16.out_ch, model.stage8.out_ch, model.stage4.out_ch] == [44, 76, 108]
    assert model.fc.in_features == 108
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    assert model.stage16[0].in_ch == 32 and model.stage4[0].in_ch == 76
    with pytest.raises(ValueError, match="keep the 8x8 grid"):
        mini_custom(lambda c, g: Inception(c, 8, 8, 8, 4, 8, 8) if g != 8 else nn.MaxPool2d(2))
    with pytest.raises(ValueError, match=r"must return an nn\.Module"):
        mini_custom(lambda c, g: 42)
    with pytest.raises(ValueError, match=r"fails on a \(1, 32, 16, 16\) input"):
        mini_custom(lambda c, g: nn.Conv2d(c + 1, 8, 1))
    with pytest.raises(ValueError, match="says out_ch=9 but outputs 8"):

        def liar(c, g):
            conv = nn.Conv2d(c, 8, 1)
            conv.out_ch = 9
            return conv

        mini_custom(liar)


def test_mini_factorized_aux_head_is_v3s_bn_auxiliary_on_the_last_8x8_stage():
    plain, model = models.mini_factorized(), models.mini_factorized(aux_logits=True)
    assert model.taps == {"Mixed_6c": "AuxLogits"}
    # v3 head at 1/8 width: 1x1 conv 96 -> 16 (+ BN), 5x5 conv 16 -> 96 (+ BN), linear 96 -> 10.
    head = (96 * 16 + 2 * 16) + (25 * 16 * 96 + 2 * 96) + (96 * 10 + 10)

    def n(m):
        return sum(p.numel() for p in m.parameters())

    assert n(model.AuxLogits) == head and n(model) == n(plain) + head
    x = torch.randn(2, 3, 32, 32)
    logits, aux = model.train()(x)
    assert logits.shape == aux.shape == (2, 10)
    assert model.eval()(x).shape == (2, 10)  # the head is skipped at evaluation
