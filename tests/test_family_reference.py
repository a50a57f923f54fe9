"""The course's full-size networks against the reference implementations, tensor for tensor.

References, built with random weights (nothing is downloaded):
- timm (PyTorch Image Models) `inception_v4` and `inception_resnet_v2`, ports of the released
  TF-slim models of Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of
  Residual Connections on Learning" (arXiv:1602.07261);
- torchvision's `googlenet` (Szegedy et al. 2014, "Going Deeper with Convolutions") and
  `inception_v3` (Szegedy et al. 2015, "Rethinking the Inception Architecture").
Each reference's weights and BN statistics are randomized, loaded into ours through an explicit
key mapping (`load_timm_state_dict`, `load_torchvision_state_dict`), and both networks must give
the same eval-mode logits on a random batch: a misplaced, transposed or missing tensor, a
missing ReLU or a wrong residual scale changes them by far more than the tolerance.
"""

import pytest
import timm  # a test dependency: the dev extra (pip install -e '.[dev]')
import torch
import torchvision
from _random_weights import randomize_
from torch import nn

from inception_lab import models

TOLERANCE = 1e-4  # max absolute logit difference; float32 sums in a different order stay ~1e-5


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def max_logit_difference(ours: nn.Module, theirs: nn.Module, size: int) -> tuple[float, float]:
    """(max |ours - theirs|, mean |theirs|) of the eval-mode logits on a random batch of 2."""
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(x)
        expected = getattr(expected, "logits", expected)
        return (ours(x) - expected).abs().max().item(), expected.abs().mean().item()


# --------------------------------------------------------------------------- timm
# timm's parameter counts (1000 classes), which are the released TF-slim networks'.
TIMM_PARAMS = {"inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464}


@pytest.fixture(scope="module")
def timm_pairs():
    """name -> (ours with timm's weights, timm's model with random weights), built on demand,
    once per name (full-size models take a second or two to build)."""
    pairs = {}

    def get(name: str) -> tuple[nn.Module, nn.Module]:
        if name not in pairs:
            theirs = randomize_(timm.create_model(name, pretrained=False))
            ours = models.load_timm_state_dict(models.build(name), theirs.state_dict())
            pairs[name] = ours, theirs
        return pairs[name]

    return get


@pytest.mark.parametrize("name", list(TIMM_PARAMS))
def test_timm_parameter_counts(timm_pairs, name):
    ours, theirs = timm_pairs(name)
    assert n_params(ours) == n_params(theirs) == TIMM_PARAMS[name]


@pytest.mark.parametrize("name", list(TIMM_PARAMS))
def test_timm_weights_give_timm_logits(timm_pairs, name):
    ours, theirs = timm_pairs(name)
    difference, scale = max_logit_difference(ours, theirs, 299)  # the papers' 299x299 input
    assert scale > 0.1, "logits too small for the comparison to mean anything"
    assert difference <= TOLERANCE, f"{name}: logits differ by up to {difference:.2e}"


def test_inception_resnet_v2_last_block_has_no_relu(timm_pairs):
    # The released network's block8 (our block_c10) adds its residual with scale 1.0 and no ReLU
    # after the sum; the other C blocks (timm's repeat_2) use 0.2 and a ReLU.
    ours, _ = timm_pairs("inception_resnet_v2")
    last, other = ours.block_c10, ours.block_c9
    assert (last.scale, last.relu) == (1.0, False) and (other.scale, other.relu) == (0.2, True)
    x = torch.randn(2, 3, 107, 107, generator=torch.Generator().manual_seed(2))
    ours.eval()
    with torch.no_grad():
        without = ours(x)
        last.relu = True
        try:
            with_relu = ours(x)
        finally:
            last.relu = False
    assert (with_relu - without).abs().max() > 1e-2  # the ReLU would change the function


def test_timm_key_mapping_examples():
    key = models.from_timm_key
    assert key("features.0.conv.weight") == "Conv2d_1a_3x3.conv.weight"
    assert key("features.3.conv.bn.bias") == "Mixed_3a.branches.branch3x3.0.bn.bias"
    assert key("features.4.branch1.2.conv.weight") == "Mixed_4a.branches.branch7x7x3.2.conv.weight"
    assert key("features.9.branch3.1.bn.running_mean") == (
        "Mixed_5e.branches.branch_pool.1.bn.running_mean"
    )
    assert key("features.17.branch2.4.conv.weight") == (
        "Mixed_6h.branches.branch7x7dbl.4.conv.weight"
    )
    assert key("features.21.branch2_3b.conv.weight") == (
        "Mixed_7d.branches.branch3x3dbl.3.split_nx1.conv.weight"
    )
    assert key("last_linear.bias") == "fc.bias"
    assert key("repeat.0.branch2.2.bn.weight") == "block_a1.branches.branch3x3dbl.2.bn.weight"
    assert key("repeat_1.19.conv2d.bias") == "block_b20.project.conv.bias"
    assert key("repeat_2.8.branch1.1.conv.weight") == "block_c9.branches.branch3x3.1.conv.weight"
    assert key("block8.conv2d.weight") == "block_c10.project.conv.weight"
    assert key("mixed_7a.branch1.0.conv.weight") == "reduction_b.branches.branch3x3b.0.conv.weight"
    assert key("conv2d_7b.bn.running_var") == "conv_final.bn.running_var"
    assert key("classif.weight") == "fc.weight"
    with pytest.raises(ValueError, match=r"no place for timm's tensor 'stem\.conv\.weight'"):
        key("stem.conv.weight")


# --------------------------------------------------------------------------- torchvision
TORCHVISION = {  # name -> (torchvision builder, ours, input size, parameters without aux heads)
    "googlenet": (
        torchvision.models.googlenet,
        lambda: models.googlenet(variant="torchvision"),
        224,
        6_624_904,
    ),
    "inception_v3": (torchvision.models.inception_v3, models.inception_v3, 299, 23_834_568),
}


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_torchvision_weights_give_torchvision_logits(name):
    builder, ours_builder, size, expected_params = TORCHVISION[name]
    theirs = randomize_(builder(weights=None, aux_logits=False, init_weights=False))
    assert theirs.transform_input is False  # weights=None: no input transform, like ours
    ours = models.load_torchvision_state_dict(ours_builder(), theirs.state_dict())
    assert n_params(ours) == n_params(theirs) == expected_params
    difference, scale = max_logit_difference(ours, theirs, size)
    assert scale > 0.1, "logits too small for the comparison to mean anything"
    assert difference <= TOLERANCE, f"{name}: logits differ by up to {difference:.2e}"
