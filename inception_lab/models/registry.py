"""Every model of the course by name: `build("mini_googlenet", num_classes=10)`, `list_models()`,
`model_spec(name)`.

Each model file registers its public builders with `@register(...)`, which records the builder
with its metadata (the input size it was designed for, the family it belongs to, where in which
paper it comes from). This module imports no model file (they import it); importing
`inception_lab.models` imports them all, in course order, which is the order of `list_models()`.

Every registered builder takes keyword-only arguments, with the same names for the same things:
`num_classes`, `in_channels`, `dropout` (the head's) and, where the model has auxiliary heads,
`aux_logits`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .network import Network

Builder = TypeVar("Builder", bound=Callable[..., Network])


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name (the builder's), builder and metadata.

    `input_size`: the side of the square images it was designed for (224 or 299 for the
    full-size family, 32 for the minis); `family`: the Inception network it is or stands for;
    `paper`: where it comes from (authors, year, figures and tables); `mini`: a 32x32 course
    model rather than a full-size one.
    """

    name: str
    builder: Callable[..., Network]
    input_size: int
    family: str
    paper: str
    mini: bool = False


_REGISTRY: dict[str, ModelSpec] = {}


def register(
    *, input_size: int, family: str, paper: str, mini: bool = False
) -> Callable[[Builder], Builder]:
    """Decorator that registers a builder under its function name, e.g.

        @register(input_size=299, family="Inception v3", paper="Szegedy et al. 2015, Table 1")
        def inception_v3(*, num_classes=1000, in_channels=3, dropout=0.5, aux_logits=False): ...

    The builder is returned unchanged. Registering a name twice is an error.
    """

    def decorator(builder: Builder) -> Builder:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, builder, input_size, family, paper, mini)
        return builder

    return decorator


def list_models() -> list[str]:
    """Names accepted by `build`, in course order: the full-size family, then the minis."""
    return [name for name, spec in _REGISTRY.items() if not spec.mini] + [
        name for name, spec in _REGISTRY.items() if spec.mini
    ]


def model_spec(name: str) -> ModelSpec:
    """The registered `ModelSpec` of `name`; a ValueError listing the valid names otherwise."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _REGISTRY[name]


def build(name: str, **kwargs) -> Network:
    """Build a model by name, e.g. `build("mini_googlenet", num_classes=10, width=0.5)`.

    `kwargs` go to the model's builder: every builder accepts `num_classes`, `in_channels` and
    `dropout`; see its docstring for the rest.
    """
    return model_spec(name).builder(**kwargs)
