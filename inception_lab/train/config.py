"""Every option of `fit`, declared once: `FitConfig`.

A training option lives in one place, a field of `FitConfig`, with its default, its check and its
help text. `fit(model, data, FitConfig(...))` or `fit(model, data, epochs=5, lr=0.1)` (keyword
overrides of the defaults) both build one; the History records it (`to_dict`); the command line
(`inception_lab/cli/train.py`) generates one flag per field from the same declaration. Adding an
option is adding a field here and reading it in `loop.py`.

    config = FitConfig(epochs=10, optimizer="adamw", label_smoothing=0.1)
    history = train.fit(model, loaders, config, seed=1)  # overrides win over the config's fields
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from inception_lab._validate import check_choice, check_int, check_number, is_int
from inception_lab.train.optim import DEFAULT_LR, DEFAULT_WEIGHT_DECAY, OPTIMIZERS
from inception_lab.train.precision import AMP_MODES

__all__ = ["FIELDS", "SMOKE_MAX_EPOCHS", "FitConfig", "make_config"]

# A smoke run trains at most this many epochs: enough to run the epoch loop, the schedule and a
# checkpoint twice.
SMOKE_MAX_EPOCHS = 2


# ---- per-field checks: (name, value) -> the value to store, or ValueError naming the field
def _positive_int(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


def _seed(name: str, value: Any) -> int:
    return check_int(name, value, minimum=0)


def _optional(check):
    """`check`, letting None through (None means "the default behaviour")."""

    def optional(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return optional


def _positive_number(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, None, low_open=True)


def _nonnegative_number(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, None)


def _fraction(name: str, value: Any) -> float:
    return check_number(name, value, 0.0, 1.0, high_open=True)


def _flag(name: str, value: Any) -> bool:
    if value is not True and value is not False:  # 0 and 1 are not flags
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _optimizer(name: str, value: Any) -> str:
    return check_choice(name, value, OPTIMIZERS)


def _schedule(name: str, value: Any) -> str | None:
    value = None if value == "none" else value  # the command line's spelling of None
    return check_choice(name, value, ("onecycle", "cosine", None))


def _amp(name: str, value: Any) -> str | bool:
    return value if isinstance(value, bool) else check_choice(name, value, AMP_MODES)


def _channels_last(name: str, value: Any) -> str | bool:
    value = {"on": True, "off": False}.get(value, value) if isinstance(value, str) else value
    return value if isinstance(value, bool) else check_choice(name, value, ("auto", "on", "off"))


def _compile(name: str, value: Any) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise ValueError(f"{name} must be True, False or a torch.compile backend name, got {value!r}")


def _path(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ValueError(f"{name} must be a folder path or None, got {value!r}")
    return os.fspath(value)


def _device(name: str, value: Any) -> str | None:
    if value is None or value == "auto":
        return None
    try:
        return str(torch.device(value))
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{name} must be auto (None), cpu, cuda, cuda:N or mps, got {value!r}"
        ) from None


def option(default: Any, check, doc: str, group: str, **cli: Any) -> Any:
    """A FitConfig field: its default, its check (run by `__post_init__`), its help text `doc`
    and its command-line group; `cli` may add `choices` (the command line's spellings) and
    `aliases` (extra flags)."""
    return field(default=default, metadata={"check": check, "help": doc, "group": group, **cli})


OPTIMIZATION, HARDWARE, RUN = (
    "optimization",
    "hardware and precision",
    "seed, checkpoints and output",
)


@dataclass(frozen=True)
class FitConfig:
    """The settings of one `fit` run. Frozen: derive variants with `dataclasses.replace` or
    `fit(..., config, lr=...)`. Every field is checked on construction (ValueError naming it);
    `FIELDS[name].metadata["help"]` is a field's help text, `to_dict()` the JSON-ready settings."""

    epochs: int = option(5, _positive_int, "number of epochs", OPTIMIZATION)
    stop_after: int | None = option(
        None,
        _optional(_positive_int),
        "train only the first this-many of the `epochs`, on the schedule of all of them: the "
        "first epochs of a longer run, equal to its stored ones (a lesson's short live run)",
        OPTIMIZATION,
    )
    steps_per_epoch: int | None = option(
        None,
        _optional(_positive_int),
        "train on at most this many batches per epoch; default: the whole training set",
        OPTIMIZATION,
    )
    optimizer: str = option(
        "sgd",
        _optimizer,
        "sgd (momentum 0.9, Nesterov), rmsprop (Inception v3's recipe) or adamw",
        OPTIMIZATION,
        choices=OPTIMIZERS,
    )
    lr: float | None = option(
        None,
        _optional(_positive_number),
        f"peak learning rate; default per optimizer: {DEFAULT_LR}",
        OPTIMIZATION,
    )
    weight_decay: float | None = option(
        None,
        _optional(_nonnegative_number),
        "weight decay of conv/linear weights (not biases or norms); default per optimizer: "
        f"{DEFAULT_WEIGHT_DECAY}",
        OPTIMIZATION,
    )
    schedule: str | None = option(
        "onecycle",
        _schedule,
        "learning-rate schedule, stepped every batch: onecycle, cosine or none (constant)",
        OPTIMIZATION,
        choices=("onecycle", "cosine", "none"),
    )
    label_smoothing: float = option(
        0.0, _fraction, "label smoothing eps of the loss, in [0, 1)", OPTIMIZATION
    )
    aux_weight: float = option(
        0.3, _nonnegative_number, "weight of each auxiliary head's loss", OPTIMIZATION
    )
    grad_clip: float | None = option(
        None,
        _optional(_positive_number),
        "clip the global gradient norm to this value; default: no clipping",
        OPTIMIZATION,
    )
    amp: str | bool = option(
        "auto",
        _amp,
        "mixed precision: auto = bf16 on GPUs that have it, fp16 + GradScaler on other GPUs, "
        "off on CPU; bf16, fp16 or off force it (True = auto, False = off)",
        HARDWARE,
        choices=AMP_MODES,
    )
    channels_last: str | bool = option(
        "auto",
        _channels_last,
        "NHWC memory layout: auto (= on: faster convolutions on CPU and GPU), on or off",
        HARDWARE,
        choices=("auto", "on", "off"),
    )
    compile_model: bool | str = option(
        False,
        _compile,
        "torch.compile the model (in Python: True, or a torch.compile backend name)",
        HARDWARE,
        aliases=("--compile",),
    )
    device: str | torch.device | None = option(  # noqa: RUF009 (option returns a field)
        None,
        _device,
        "auto (None: CUDA, then MPS, then CPU; under torchrun with CUDA: cuda:LOCAL_RANK), cpu, "
        "cuda, cuda:N or mps",
        HARDWARE,
    )
    sync_bn: bool = option(
        False,
        _flag,
        "under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)",
        HARDWARE,
    )
    deterministic: bool = option(
        False,
        _flag,
        "on GPUs: no cuDNN autotuning or TF32, so a rerun gives the same weights (slower)",
        HARDWARE,
    )
    seed: int = option(
        0,
        _seed,
        "random seed of torch, numpy and random (+ rank under torchrun): initialization, data "
        "order, dropout",
        RUN,
    )
    checkpoint_dir: str | os.PathLike | None = option(  # noqa: RUF009
        None,
        _path,
        "write last.pt here after every epoch (atomically); default: no checkpoints",
        RUN,
    )
    resume: bool = option(
        False,
        _flag,
        "continue from checkpoint_dir/last.pt if it exists (same settings required)",
        RUN,
    )
    progress: bool = option(True, _flag, "progress bars and one summary line per epoch", RUN)
    smoke_steps: int | None = option(
        None,
        _optional(_positive_int),
        "a smoke run (make smoke-gpu): at most this many batches per epoch and per evaluation, "
        f"and at most {SMOKE_MAX_EPOCHS} epochs; runs the code, learns nothing",
        RUN,
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = f.metadata["check"](f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)  # normalised: "none" -> None, "on" -> True
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where last.pt is)")

    def to_dict(self) -> dict[str, Any]:
        """Every field by name; JSON-ready (paths and devices are strings already)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def resolved_lr(self) -> float:
        """`lr`, or the optimizer's default peak learning rate."""
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    def resolved_weight_decay(self) -> float:
        """`weight_decay`, or the optimizer's default."""
        return (
            DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay
        )

    def epochs_planned(self) -> int:
        """The epochs the schedule spans: `epochs`, or at most SMOKE_MAX_EPOCHS in a smoke run."""
        return self.epochs if self.smoke_steps is None else min(self.epochs, SMOKE_MAX_EPOCHS)

    def epochs_to_run(self) -> int:
        """The epochs trained: `epochs_planned`, cut to `stop_after`."""
        planned = self.epochs_planned()
        return planned if self.stop_after is None else min(planned, self.stop_after)

    def cap_batches(self, n: int | None) -> int | None:
        """A cap on batches: `n` (None = all), tightened to `smoke_steps` in a smoke run."""
        if self.smoke_steps is None:
            return n
        return self.smoke_steps if n is None else min(n, self.smoke_steps)


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(FitConfig)}


def make_config(config: FitConfig | int | None = None, **overrides: Any) -> FitConfig:
    """The FitConfig of a `fit` call: `config` (a FitConfig; an int is shorthand for its epochs;
    None: the defaults) with `overrides` (FitConfig field names) replacing its fields.
    An unknown name is a TypeError listing the valid ones."""
    unknown = [name for name in overrides if name not in FIELDS]
    if unknown:
        hints = [m for name in unknown for m in difflib.get_close_matches(name, FIELDS, 1)]
        hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise TypeError(
            f"fit got unknown option(s) {', '.join(map(repr, unknown))}{hint}; the options are "
            f"the fields of FitConfig: {', '.join(FIELDS)}"
        )
    if config is None:
        return FitConfig(**overrides)
    if isinstance(config, FitConfig):
        return dataclasses.replace(config, **overrides)
    if is_int(config):
        if "epochs" in overrides:
            raise TypeError("fit got epochs twice: as the third argument and as epochs=")
        return FitConfig(epochs=config, **overrides)
    raise TypeError(
        f"fit's third argument must be a FitConfig (or an int: the number of epochs), got "
        f"{type(config).__name__}"
    )
