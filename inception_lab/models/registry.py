"""Every model of the course by name: `build("mini_googlenet", num_classes=10)`, `list_models()`."""

from __future__ import annotations

from collections.abc import Callable

from .googlenet import bn_inception, googlenet
from .inception_resnet import inception_resnet_v1, inception_resnet_v2, inception_resnet_v2_half
from .inception_v3 import inception_v3
from .inception_v4 import inception_v4
from .mini import (
    mini_baseline,
    mini_bn_inception,
    mini_factorized,
    mini_googlenet,
    mini_inception_resnet,
    mini_naive,
    mini_reduced,
)
from .network import Network

# In course order: the full-size family (with the input size each was designed for), then the
# 32x32 mini models.
MODELS: dict[str, Callable[..., Network]] = {
    "googlenet": googlenet,  # 224x224
    "bn_inception": bn_inception,  # 224x224
    "inception_v3": inception_v3,  # 299x299
    "inception_v4": inception_v4,  # 299x299
    "inception_resnet_v1": inception_resnet_v1,  # 299x299
    "inception_resnet_v2": inception_resnet_v2,  # 299x299
    "inception_resnet_v2_half": inception_resnet_v2_half,  # 299x299
    "mini_baseline": mini_baseline,
    "mini_naive": mini_naive,
    "mini_reduced": mini_reduced,
    "mini_googlenet": mini_googlenet,
    "mini_bn_inception": mini_bn_inception,
    "mini_factorized": mini_factorized,
    "mini_inception_resnet": mini_inception_resnet,
}

# Old names that `build` still accepts (not listed by `list_models`): "inception_resnet" was the
# half-depth Inception-ResNet-v2 builder's name before Inception-ResNet-v2 itself was added.
ALIASES: dict[str, str] = {"inception_resnet": "inception_resnet_v2_half"}


def list_models() -> list[str]:
    """Names accepted by `build`, in course order."""
    return list(MODELS)


def build(name: str, **kwargs) -> Network:
    """Build a model by name, e.g. `build("mini_googlenet", num_classes=10, width=0.5)`.

    `kwargs` go to the model's builder (see its docstring for what it accepts).
    """
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
