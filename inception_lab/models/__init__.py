"""Networks of the Inception family, built only from `inception_lab.blocks`, one file each.

Every model is a `Network` (network.py): named stages run in order, then global average
pooling, dropout and a linear classifier. The network checks its input once, at the boundary.

Every builder takes keyword arguments only, with the same names everywhere: `num_classes`,
`in_channels`, `dropout` (the head's; each builder's default is its paper's) and, where the model
has auxiliary heads, `aux_logits`; then its own knobs (`variant`, `width`, `depth`, `scale`, `bn`).
`inception_v3(10)` is a TypeError: write `inception_v3(num_classes=10)`.

Full size (ImageNet, 224x224 or 299x299):
    googlenet.py         googlenet(variant="paper" | "torchvision")   GoogLeNet paper, Table 1
                         bn_inception()       GoogLeNet + BN + 5x5 factorized (not the BN paper's
                                              exact network: see its docstring)
    inception_v3.py      inception_v3()       torchvision's Inception v3, layer for layer
    inception_v4.py      inception_v4()       v4 paper, Figure 9 (timm's inception_v4)
    inception_resnet.py  inception_resnet_v1()        v4 paper, Figures 14, 10-13
                         inception_resnet_v2()        the released network (timm's)
                         inception_resnet_v2_half()   the same at 5 / 10 / 5 blocks, with knobs

Mini (32x32 inputs, ~5-15 M MACs, train in minutes on a CPU), one per step of the course (mini.py):
    mini_baseline, mini_naive, mini_reduced, mini_googlenet, mini_bn_inception, mini_factorized,
    mini_inception_resnet
    mini_custom(make_stage)    a fixed stem and head around stages you design (not in `build`)

registry.py: each builder above (but `mini_custom`) is registered with `@register(input_size=,
family=, paper=)` in its own file. `build(name, **kwargs)` builds one by name, `list_models()`
lists the names in course order (full size, then the minis), `model_spec(name)` gives a
`ModelSpec` (name, builder, input_size, family, paper, mini).
torchvision_weights.py / timm_weights.py: load those libraries' weights into our twins.
"""

# isort: off
# Importing the model files registers their builders; within the full-size family and within
# the minis, `list_models()` keeps this order (the course's).
from .googlenet import TABLE1, bn_inception, googlenet
from .inception_v3 import inception_v3
from .inception_v4 import inception_v4
from .inception_resnet import inception_resnet_v1, inception_resnet_v2, inception_resnet_v2_half
from .mini import (
    mini_baseline,
    mini_bn_inception,
    mini_custom,
    mini_factorized,
    mini_googlenet,
    mini_inception_resnet,
    mini_naive,
    mini_reduced,
)

# isort: on
from .network import Network
from .registry import ModelSpec, build, list_models, model_spec, register
from .timm_weights import from_timm_key, load_timm_state_dict
from .torchvision_weights import from_torchvision_key, load_torchvision_state_dict

__all__ = [
    "TABLE1",
    "ModelSpec",
    "Network",
    "bn_inception",
    "build",
    "from_timm_key",
    "from_torchvision_key",
    "googlenet",
    "inception_resnet_v1",
    "inception_resnet_v2",
    "inception_resnet_v2_half",
    "inception_v3",
    "inception_v4",
    "list_models",
    "load_timm_state_dict",
    "load_torchvision_state_dict",
    "mini_baseline",
    "mini_bn_inception",
    "mini_custom",
    "mini_factorized",
    "mini_googlenet",
    "mini_inception_resnet",
    "mini_naive",
    "mini_reduced",
    "model_spec",
    "register",
]
