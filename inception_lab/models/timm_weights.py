"""timm's Inception-v4 and Inception-ResNet-v2 weights in the course's networks.

timm (PyTorch Image Models) ports the released TF-slim models; its `inception_v4` keeps the
layers in one numbered `features` list and numbers the branches of each module (`branch0`,
`branch1`, ...), and its `inception_resnet_v2` names the modules after the TF-slim graph
(`mixed_5b`, `repeat`, `block8`, ...). Ours are named stages whose blocks keep their branches in
`.branches` under descriptive names. The tables below say, module by module, where each of
timm's tensors goes; `load_timm_state_dict` loads strictly, so a tensor without a place, or a
place without a tensor, is an error. Nothing here imports timm: a state_dict is only names and
tensors.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .network import Network

# --------------------------------------------------------------------------- Inception-v4
# timm's branch names -> ours, per kind of module (the layers inside a branch keep their
# indices; a branch that timm holds as a bare conv is layer 0 of our branch).
V4_RENAMES: dict[str, dict[str, str]] = {
    "conv": {},  # the stem's plain convs: conv.weight, bn.* as ours
    "mixed_3a": {"conv": "branches.branch3x3.0"},  # the max pool (branch_pool) has no weights
    "mixed_4a": {"branch0": "branches.branch3x3", "branch1": "branches.branch7x7x3"},
    "mixed_5a": {"conv": "branches.branch3x3.0"},
    "inception_a": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch3x3",
        "branch2": "branches.branch3x3dbl",
        "branch3": "branches.branch_pool",  # layer 0 the pool, layer 1 the 1x1 conv
    },
    "reduction_a": {"branch0": "branches.branch3x3.0", "branch1": "branches.branch3x3dbl"},
    "inception_b": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch7x7",
        "branch2": "branches.branch7x7dbl",
        "branch3": "branches.branch_pool",
    },
    "reduction_b": {"branch0": "branches.branch3x3", "branch1": "branches.branch7x7x3"},
    "inception_c": {  # timm keeps the convs of these branches flat; ours nest the split
        "branch0": "branches.branch1x1.0",
        "branch1_0": "branches.branch3x3.0",
        "branch1_1a": "branches.branch3x3.1.split_1xn",
        "branch1_1b": "branches.branch3x3.1.split_nx1",
        "branch2_0": "branches.branch3x3dbl.0",
        "branch2_1": "branches.branch3x3dbl.1",
        "branch2_2": "branches.branch3x3dbl.2",
        "branch2_3a": "branches.branch3x3dbl.3.split_1xn",
        "branch2_3b": "branches.branch3x3dbl.3.split_nx1",
        "branch3": "branches.branch_pool",
    },
}
# timm's features[i] -> (our stage, kind of module).
V4_FEATURES: dict[int, tuple[str, str]] = {
    0: ("Conv2d_1a_3x3", "conv"),
    1: ("Conv2d_2a_3x3", "conv"),
    2: ("Conv2d_2b_3x3", "conv"),
    3: ("Mixed_3a", "mixed_3a"),
    4: ("Mixed_4a", "mixed_4a"),
    5: ("Mixed_5a", "mixed_5a"),
    **{6 + i: (f"Mixed_5{letter}", "inception_a") for i, letter in enumerate("bcde")},
    10: ("Mixed_6a", "reduction_a"),
    **{11 + i: (f"Mixed_6{letter}", "inception_b") for i, letter in enumerate("bcdefgh")},
    18: ("Mixed_7a", "reduction_b"),
    **{19 + i: (f"Mixed_7{letter}", "inception_c") for i, letter in enumerate("bcd")},
}

# --------------------------------------------------------------------------- Inception-ResNet-v2
IRV2_RENAMES: dict[str, dict[str, str]] = {
    "conv": {},
    "mixed_5b": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch5x5",
        "branch2": "branches.branch3x3dbl",
        "branch3": "branches.branch_pool",
    },
    "block35": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch3x3",
        "branch2": "branches.branch3x3dbl",
        "conv2d": "project.conv",  # the linear 1x1 projection (weight and bias)
    },
    "mixed_6a": {"branch0": "branches.branch3x3.0", "branch1": "branches.branch3x3dbl"},
    "block17": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch7x7",
        "conv2d": "project.conv",
    },
    "mixed_7a": {
        "branch0": "branches.branch3x3a",
        "branch1": "branches.branch3x3b",
        "branch2": "branches.branch3x3dbl",
    },
    "block8": {
        "branch0": "branches.branch1x1.0",
        "branch1": "branches.branch3x3",
        "conv2d": "project.conv",
    },
}
# timm's top-level modules -> (our stage, kind of module).
IRV2_MODULES: dict[str, tuple[str, str]] = {
    "conv2d_1a": ("Conv2d_1a_3x3", "conv"),
    "conv2d_2a": ("Conv2d_2a_3x3", "conv"),
    "conv2d_2b": ("Conv2d_2b_3x3", "conv"),
    "conv2d_3b": ("Conv2d_3b_1x1", "conv"),
    "conv2d_4a": ("Conv2d_4a_3x3", "conv"),
    "mixed_5b": ("Mixed_5b", "mixed_5b"),
    "mixed_6a": ("reduction_a", "mixed_6a"),
    "mixed_7a": ("reduction_b", "mixed_7a"),
    "block8": ("block_c10", "block8"),  # the last block: scale 1.0, no ReLU
    "conv2d_7b": ("conv_final", "conv"),
}
# timm's repeated blocks, numbered from 0: (our stage prefix, kind). repeat_2 holds C blocks 1-9.
IRV2_REPEATS: dict[str, tuple[str, str]] = {
    "repeat": ("block_a", "block35"),
    "repeat_1": ("block_b", "block17"),
    "repeat_2": ("block_c", "block8"),
}
CLASSIFIERS = {"last_linear": "fc", "classif": "fc"}  # timm's v4 and IR-v2 names for the head


def _rename(rest: str, renames: Mapping[str, str]) -> str:
    """`branch1.2.conv.weight` -> `branches.branch3x3dbl.2.conv.weight` with a module's table."""
    head, _, tail = rest.partition(".")
    return f"{renames[head]}.{tail}" if head in renames else rest


def from_timm_key(key: str) -> str:
    """A timm `inception_v4` / `inception_resnet_v2` state_dict key -> the same tensor's key here.

    features.19.branch2_3a.conv.weight -> Mixed_7b.branches.branch3x3dbl.3.split_1xn.conv.weight
    repeat_1.4.branch1.2.bn.bias       -> block_b5.branches.branch7x7.2.bn.bias
    block8.conv2d.weight               -> block_c10.project.conv.weight
    """
    head, _, rest = key.partition(".")
    if head in CLASSIFIERS:
        return f"{CLASSIFIERS[head]}.{rest}"
    if head == "features":  # inception_v4
        index, _, rest = rest.partition(".")
        stage, kind = V4_FEATURES[int(index)]
        return f"{stage}.{_rename(rest, V4_RENAMES[kind])}"
    if head in IRV2_REPEATS:  # inception_resnet_v2's repeated blocks
        prefix, kind = IRV2_REPEATS[head]
        index, _, rest = rest.partition(".")
        return f"{prefix}{int(index) + 1}.{_rename(rest, IRV2_RENAMES[kind])}"
    if head in IRV2_MODULES:
        stage, kind = IRV2_MODULES[head]
        return f"{stage}.{_rename(rest, IRV2_RENAMES[kind])}"
    raise ValueError(f"no place for timm's tensor {key!r} in inception_v4 or inception_resnet_v2")


def load_timm_state_dict(model: Network, state_dict: Mapping[str, torch.Tensor]) -> Network:
    """Load timm's `inception_v4` or `inception_resnet_v2` state_dict into ours, strictly.

    `model` must be `inception_v4()` or `inception_resnet_v2()` with timm's `num_classes`.
    E.g. `load_timm_state_dict(inception_v4(), timm.create_model("inception_v4").state_dict())`.
    Returns `model`.
    """
    model.load_state_dict({from_timm_key(k): v for k, v in state_dict.items()})
    return model
