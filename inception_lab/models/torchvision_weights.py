"""torchvision's GoogLeNet and Inception v3 weights in the course's twins of those networks.

Our blocks keep their branches in `.branches` under descriptive names (`branch3x3`), where
torchvision numbers them (`branch2`) or numbers the layers inside a branch (`branch5x5_2`); the
tensors themselves are the same, in the same order. `load_torchvision_state_dict` renames the
keys and loads strictly, so any tensor that has no place in our model is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .network import Network

# GoogLeNet numbers its four branches; ours are named after what they hold.
GOOGLENET_BRANCHES = {"branch2": "branch3x3", "branch3": "branch5x5", "branch4": "branch_pool"}
# A torchvision Inception3 branch layer: the branch name, then _<layer number><a|b half>?, e.g.
# branch3x3dbl_3b is the 3x1 half of the third layer of branch3x3dbl.
V3_LAYER = re.compile(r"(branch\w+?)(?:_(\d)([ab]?))?")


def from_torchvision_key(key: str) -> str:
    """A torchvision GoogLeNet / Inception3 state_dict key -> the same tensor's key here.

    inception3a.branch2.1.conv.weight -> inception3a.branches.branch3x3.1.conv.weight
    Mixed_7b.branch3x3_2a.bn.bias     -> Mixed_7b.branches.branch3x3.1.split_1xn.bn.bias
    """
    stage, branch, rest = [*key.split(".", 2), "", ""][:3]
    if stage.startswith("inception"):  # GoogLeNet numbers its branches; branch1 is a bare conv
        if branch == "branch1":
            return f"{stage}.branches.branch1x1.0.{rest}"
        return f"{stage}.branches.{GOOGLENET_BRANCHES[branch]}.{rest}"
    if stage.startswith("Mixed_"):  # v3 numbers the layers inside a branch: branch5x5_2 etc.
        if branch == "branch_pool":  # its pool is functional, so the conv is our layer 1
            return f"{stage}.branches.branch_pool.1.{rest}"
        name, number, half = V3_LAYER.fullmatch(branch).groups()
        layer = int(number) - 1 if number else 0
        split = {"a": ".split_1xn", "b": ".split_nx1", "": ""}[half or ""]
        return f"{stage}.branches.{name}.{layer}{split}.{rest}"
    return key  # stem convs, aux heads and fc have the same names


def load_torchvision_state_dict(model: Network, state_dict: Mapping[str, torch.Tensor]) -> Network:
    """Load a torchvision GoogLeNet or Inception3 state_dict into our twin of it, strictly.

    `model` must be `googlenet(variant="torchvision", aux_logits=...)` or
    `inception_v3(aux_logits=...)` with the same `aux_logits` and `num_classes` as the torchvision
    model. Returns `model`.
    """
    model.load_state_dict({from_torchvision_key(k): v for k, v in state_dict.items()})
    return model
