"""The experiments: each asks the question one lesson asks, over several seeds.

An experiment is a named set of configurations (label -> the settings that differ from `BASE`)
trained once per seed. Every configuration of one experiment shares the data, the budget and the
recipe unless its label says otherwise, so a difference between two labels has one cause.

The data is a harder variant of the course's multiscale shapes (`HARD_DATA`): 4,000 training
images instead of 8,000-10,000, a wider range of object sizes and more clutter, so that models
trained until their curves flatten still stay apart instead of all reaching 99% (with the
lessons' easy data, every model reached 98.6-99.2% at 12 epochs: a ceiling where no architecture
can show anything).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = ["BASE", "EXPERIMENTS", "HARD_DATA", "Experiment", "resolve"]

# Object sizes in px of the small / medium / large scale. The course's data: 6-10, 10-16, 16-28.
WIDE_SIZES = ((4.0, 7.0), (9.0, 15.0), (18.0, 32.0))
NO_SPREAD = ((11.0, 13.0), (11.0, 13.0), (11.0, 13.0))  # every object about the same size
HARD_DATA = {"train_size": 4000, "val_size": 1000, "test_size": 2000,
             "scale_ranges": WIDE_SIZES, "clutter": 5}  # fmt: skip

# The recipe every run starts from (the lessons' recipe: AdamW, one-cycle, BN models).
BASE: dict[str, Any] = {
    "model": "mini_baseline",
    "model_args": {"bn": True},
    "data": HARD_DATA,
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adamw",
    "lr": 1e-2,
    "weight_decay": None,  # None: the optimizer's default (`train.optim.DEFAULT_WEIGHT_DECAY`)
    "schedule": "onecycle",
    "label_smoothing": 0.0,
    "aux_weight": 0.3,
    "grad_clip": None,
    "head_dropout": None,  # None: the model's own (0.4 for most minis, 0.2 for Inception-ResNet)
}

# At --budget gpu every run is wider, sees all the data and trains longer.
GPU_OVERRIDES: dict[str, Any] = {"width": 2.0, "train_size": 10000, "epochs": 30}


@dataclass(frozen=True)
class Experiment:
    """One question (`question`) of one lesson (`lesson`), answered by `configs` x `seeds`.

    configs: label -> settings that differ from `BASE` ("model_args" and "data" are merged key by
    key). measure: extra measurements per run (see `probes`): "branch_ablation", "grad_norm",
    "temperature".
    """

    name: str
    lesson: str
    question: str
    configs: dict[str, dict[str, Any]]
    seeds: tuple[int, ...] = (0, 1, 2)
    measure: tuple[str, ...] = ()
    notes: str = ""


def resolve(experiment: Experiment, label: str, budget: str = "cpu") -> dict[str, Any]:
    """The full configuration of one label: `BASE`, updated by the label's settings, then (at
    budget "gpu") by `GPU_OVERRIDES`. Returns a new dict (JSON-ready)."""
    if label not in experiment.configs:
        raise ValueError(
            f"{experiment.name} has no configuration {label!r}; it has {list(experiment.configs)}"
        )
    if budget not in ("cpu", "gpu"):
        raise ValueError(f"budget must be 'cpu' or 'gpu', got {budget!r}")
    config = copy.deepcopy(BASE)
    for key, value in copy.deepcopy(experiment.configs[label]).items():
        if key in ("model_args", "data"):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    if budget == "gpu":
        config["model_args"]["width"] = (
            config["model_args"].get("width", 1.0) * GPU_OVERRIDES["width"]
        )
        config["data"]["train_size"] = GPU_OVERRIDES["train_size"]
        config["epochs"] = GPU_OVERRIDES["epochs"]
    config["data"]["scale_ranges"] = [list(r) for r in config["data"]["scale_ranges"]]
    return config


def _models(**models: tuple[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {label: {"model": name, "model_args": args} for label, (name, args) in models.items()}


_SINGLE_VS_MULTI = {  # about 11-14 M MACs each (printed by `show`)
    "3x3 stack": ("mini_baseline", {"bn": True}),
    "5x5 stack": ("mini_baseline", {"bn": True, "kernel_size": 5, "width": 0.6}),
    "naive Inception": ("mini_naive", {"bn": True}),
    "reduced Inception": ("mini_reduced", {"bn": True}),
}


def _spread_sweep() -> dict[str, dict[str, Any]]:
    configs = {}
    for spread, sizes in (("no spread", NO_SPREAD), ("wide spread", WIDE_SIZES)):
        for label, (name, args) in _SINGLE_VS_MULTI.items():
            configs[f"{label}, {spread}"] = {
                "model": name,
                "model_args": args,
                "data": {"scale_ranges": sizes},
            }
    return configs


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "ceiling",
            "all",
            "How high can a mini model go on the ledger's hard data with 2.5x the training "
            "images (all 10,000) and twice the epochs? The reference the other experiments' "
            "accuracies are read against.",
            {
                "reduced Inception, 10,000 images, 20 epochs": {
                    "model": "mini_reduced",
                    "data": {"train_size": 10000},
                    "epochs": 20,
                },
            },
        ),
        Experiment(
            "multiscale",
            "01, 03",
            "Does a multi-branch module beat a single kernel size when object sizes vary, and "
            "does its advantage grow with the spread of sizes? Which branch do small and large "
            "objects rely on (each branch switched off at test time)?",
            _spread_sweep(),
            measure=("branch_ablation",),
        ),
        Experiment(
            "bottleneck",
            "02",
            "Naive modules against dimension-reduced ones at about the same MACs.",
            _models(
                naive=("mini_naive", {"bn": True}),
                reduced=("mini_reduced", {"bn": True}),
            ),
        ),
        Experiment(
            "googlenet_vs_cnn",
            "03",
            "The mini GoogLeNet against a plain 3x3 CNN of about the same MACs, with and without "
            "auxiliary heads; the gradient norm that reaches each stage with and without them.",
            _models(
                **{
                    "plain CNN": ("mini_baseline", {"bn": True}),
                    "mini GoogLeNet": ("mini_googlenet", {"bn": True}),
                    "mini GoogLeNet + aux heads": (
                        "mini_googlenet",
                        {"bn": True, "aux_logits": True},
                    ),
                }
            ),
            measure=("grad_norm",),
        ),
        Experiment(
            "factorization",
            "04",
            "Factorized convolutions (3x3 pairs, 1xn + nx1) against their unfactorized twins.",
            _models(
                factorized=("mini_factorized", {}),
                unfactorized=("mini_factorized", {"factorized": False}),
            ),
        ),
        Experiment(
            "batch_norm",
            "05",
            "Batch norm against none, over a sweep of learning rates (mini BN-Inception).",
            {
                f"{'BN' if bn else 'no BN'}, lr {lr:g}": {
                    "model": "mini_bn_inception",
                    "model_args": {"bn": bn},
                    "lr": lr,
                }
                for bn in (True, False)
                for lr in (1e-3, 3e-3, 1e-2)
            },
        ),
        Experiment(
            "label_smoothing",
            "06",
            "Label smoothing 0.1 against none: accuracy, and calibration (ECE) before and after "
            "temperature scaling, the fair comparison.",
            {
                "no smoothing": {"model": "mini_factorized", "model_args": {}},
                "smoothing 0.1": {
                    "model": "mini_factorized",
                    "model_args": {},
                    "label_smoothing": 0.1,
                },
            },
            measure=("temperature",),
        ),
        Experiment(
            "residual_scaling",
            "07",
            "Residual scale 1.0 / 0.3 / 0.1 without BN, and shortcuts against none, with and "
            "without BN (mini Inception-ResNet, 2 blocks per stage).",
            {
                **{
                    f"no BN, scale {scale:g}": {
                        "model": "mini_inception_resnet",
                        "model_args": {"bn": False, "scale": scale},
                        "lr": 3e-3,
                    }
                    for scale in (1.0, 0.3, 0.1)
                },
                **{
                    f"{'BN' if bn else 'no BN'}, no shortcuts": {
                        "model": "mini_inception_resnet",
                        "model_args": {"bn": bn, "residual": False},
                        "lr": 3e-3,
                    }
                    for bn in (True, False)
                },
                "BN, scale 0.2": {
                    "model": "mini_inception_resnet",
                    "model_args": {"bn": True, "scale": 0.2},
                    "lr": 3e-3,
                },
            },
        ),
        Experiment(
            "recipe",
            "08",
            "Inception v3's recipe (RMSProp, label smoothing 0.1, gradient clipping 2.0) against "
            "SGD with momentum and against AdamW (mini Inception v3).",
            {
                "v3 recipe (RMSProp)": {
                    "model": "mini_factorized",
                    "model_args": {},
                    "optimizer": "rmsprop",
                    "lr": 0.045,
                    "label_smoothing": 0.1,
                    "grad_clip": 2.0,
                },
                "SGD momentum": {
                    "model": "mini_factorized",
                    "model_args": {},
                    "optimizer": "sgd",
                    "lr": 0.05,
                },
                "AdamW": {"model": "mini_factorized", "model_args": {}},
            },
        ),
        Experiment(
            "family",
            "09",
            "The whole family at an equal budget and equal head dropout: which mini model "
            "learns the most from the same 10 epochs?",
            {
                **_models(
                    **{
                        "plain CNN": ("mini_baseline", {"bn": True}),
                        "GoogLeNet (v1 + BN)": ("mini_googlenet", {"bn": True}),
                        "BN-Inception (v2)": ("mini_bn_inception", {"bn": True}),
                        "Inception v3": ("mini_factorized", {}),
                    }
                ),
                # the others' own head dropout is 0.4; Inception-ResNet's (0.2) is raised to match
                "Inception-ResNet": {
                    "model": "mini_inception_resnet",
                    "model_args": {},
                    "head_dropout": 0.4,
                },
            },
            notes="Every model's head dropout is 0.4 (Inception-ResNet's own 0.2 is raised).",
        ),
    ]
}
