"""The experiments: each asks the question one lesson asks, over paired seeds.

An experiment is a named set of configurations (label -> `Arm`) trained once per seed, and the
comparisons a lesson draws from them (`Comparison`), each marked primary (the lesson's question,
declared before the runs) or exploratory (everything else it prints). Every arm of one
experiment shares the data, the budget and the recipe unless its settings say otherwise, so a
difference between two arms has one cause.

Seeds pair the runs: seed s draws the training and validation images (`DATA`, a harder variant
of the course's shapes) and the batch order, the same for every arm, and initialises the
weights. The test set is one fixed draw of 6,000 images (2,000 per object size: a standard
error of about 0.9 points at 80% accuracy per size). Arms in a primary comparison run 5 seeds,
the others 3; an arm whose learning rate is in question (`lr_sweep`) takes it from a sweep on
the validation split (`SWEEP_SEEDS`, `ledger.chosen_lr` states the rule).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BUDGETS",
    "DATA",
    "EXPERIMENTS",
    "FIT",
    "PRIMARY_SEEDS",
    "SWEEP_SEEDS",
    "Arm",
    "Comparison",
    "Experiment",
    "resolve",
]

# Object sizes in px of the small / medium / large scale. The lessons' data: 6-10, 10-16, 16-28.
WIDE_SIZES = ((4.0, 7.0), (9.0, 15.0), (18.0, 32.0))
NO_SPREAD = ((11.0, 13.0), (11.0, 13.0), (11.0, 13.0))  # every object about the same size
ALL_SMALL = ((4.0, 7.0), (4.0, 7.0), (4.0, 7.0))  # every object tiny: "small" without "varied"

# The data of every run: train/val drawn with the run's seed, test fixed (test_seed).
DATA: dict[str, Any] = {
    "train_size": 4000,
    "val_size": 1000,
    "test_size": 6000,
    "test_seed": 0,
    "scale_ranges": WIDE_SIZES,
    "clutter": 5,
    "batch_size": 128,
}

# The training options every run starts from: `train.fit` keywords (the lessons' recipe).
FIT: dict[str, Any] = {
    "epochs": 10,
    "optimizer": "adamw",
    "lr": 1e-2,
    "weight_decay": None,  # None: the optimizer's default (`train.optim.DEFAULT_WEIGHT_DECAY`)
    "schedule": "onecycle",
    "label_smoothing": 0.0,
    "aux_weight": 0.3,
    "grad_clip": None,
}

PRIMARY_SEEDS = (0, 1, 2, 3, 4)  # arms in a primary comparison
EXPLORATORY_SEEDS = (0, 1, 2)  # the other arms
SWEEP_SEEDS = (0, 1)  # each rate of a learning-rate sweep

# "cpu": the short budget (10 epochs of 4,000 images = 310 steps); "cpu-long": 4x the steps for
# the arms of primary comparisons; "gpu": twice the width, all 10,000 images, 30 epochs.
BUDGETS = ("cpu", "cpu-long", "gpu")
LONG_FACTOR = 4


@dataclass(frozen=True)
class Arm:
    """One configuration: a model (registry name and builder arguments), its data and training
    settings that differ from `DATA` / `FIT`, and optionally the learning rates to sweep
    (`lr_sweep`, at least 3) or another arm whose tuned rate it borrows (`lr_from`)."""

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    head_dropout: float | None = None  # None: the model's own
    lr_sweep: tuple[float, ...] = ()
    lr_from: str | None = None


@dataclass(frozen=True)
class Comparison:
    """a - b on `metric`; `primary`: the question the lesson asks (declared before the runs)."""

    a: str
    b: str
    metric: str = "test_acc"
    primary: bool = False


@dataclass(frozen=True)
class Experiment:
    """One question (`question`) of one lesson (`lesson`), answered by `arms` x seeds.

    measure: extra measurements per run (see `probes`): "branch_ablation", "grad_norm",
    "temperature". long: the arms of the lesson's main primary comparison, also trained at the
    "cpu-long" budget (4x the steps)."""

    name: str
    lesson: str
    question: str
    arms: dict[str, Arm]
    comparisons: tuple[Comparison, ...]
    measure: tuple[str, ...] = ()
    long: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        for c in self.comparisons:
            for label in (c.a, c.b, *self.long):
                if label not in self.arms:
                    raise ValueError(f"{self.name}: comparison names unknown arm {label!r}")
        for label, arm in self.arms.items():
            if arm.lr_sweep and len(arm.lr_sweep) < 3:
                raise ValueError(f"{self.name}/{label}: a sweep needs at least 3 rates")
            if arm.lr_from is not None and not self.arms[arm.lr_from].lr_sweep:
                raise ValueError(f"{self.name}/{label}: lr_from names an arm without a sweep")

    @property
    def primary_arms(self) -> list[str]:
        names = {x for c in self.comparisons if c.primary for x in (c.a, c.b)}
        return [label for label in self.arms if label in names]

    def seeds(self, label: str, budget: str = "cpu") -> tuple[int, ...]:
        """The seeds `label` runs at this budget (the long budget: the `long` arms only)."""
        if budget == "cpu-long":
            return PRIMARY_SEEDS if label in self.long else ()
        return PRIMARY_SEEDS if label in self.primary_arms else EXPLORATORY_SEEDS

    def arms_at(self, budget: str) -> list[str]:
        """The arms trained at this budget, in catalog order."""
        return list(self.long) if budget == "cpu-long" else list(self.arms)


def resolve(experiment: Experiment, label: str, budget: str = "cpu", lr: float | None = None):
    """The full configuration of one arm: {"model", "model_args", "head_dropout", "data", "fit"}
    from `DATA` and `FIT` updated by the arm, then by the budget; `lr` (a tuned or swept rate)
    replaces the arm's own. Returns a new JSON-ready dict."""
    if label not in experiment.arms:
        raise ValueError(
            f"{experiment.name} has no configuration {label!r}; it has {list(experiment.arms)}"
        )
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    arm = experiment.arms[label]
    config = {
        "model": arm.model,
        "model_args": copy.deepcopy(arm.model_args),
        "head_dropout": arm.head_dropout,
        "data": {**copy.deepcopy(DATA), **copy.deepcopy(arm.data)},
        "fit": {**FIT, **arm.fit},
    }
    if lr is not None:
        config["fit"]["lr"] = lr
    if budget == "cpu-long":
        config["fit"]["epochs"] *= LONG_FACTOR
    elif budget == "gpu":
        config["model_args"]["width"] = config["model_args"].get("width", 1.0) * 2.0
        config["data"]["train_size"] = 10000
        config["fit"]["epochs"] = 30
    config["data"]["scale_ranges"] = [list(r) for r in config["data"]["scale_ranges"]]
    return config


# --------------------------------------------------------------------------- the experiments
BN = {"bn": True}
RATES_ADAMW = (3e-3, 1e-2, 3e-2)
STACK, REDUCED = "3x3 stack, wide spread", "reduced Inception, wide spread"


def _spread_arms() -> dict[str, Arm]:
    models = {
        "3x3 stack": ("mini_baseline", BN),
        "5x5 stack": ("mini_baseline", {"bn": True, "kernel_size": 5, "width": 0.6}),
        "naive Inception": ("mini_naive", BN),
        "reduced Inception": ("mini_reduced", BN),
    }
    arms = {}
    for spread, sizes, which in (
        ("wide spread", WIDE_SIZES, models),
        ("no spread", NO_SPREAD, ("3x3 stack", "reduced Inception")),
        ("all small", ALL_SMALL, ("3x3 stack", "reduced Inception")),
    ):
        for label in which:
            name, args = models[label]
            data = {} if sizes is WIDE_SIZES else {"scale_ranges": sizes}
            arms[f"{label}, {spread}"] = Arm(name, args, data)
    return arms


def _residual_arm(bn: bool, scale: float | None) -> Arm:
    args = {"bn": bn, "residual": False} if scale is None else {"bn": bn, "scale": scale}
    return Arm("mini_inception_resnet", args, lr_sweep=(1e-3, 3e-3, 1e-2))


def _explore(pairs: list[tuple[str, str]], metric: str = "test_acc") -> tuple[Comparison, ...]:
    return tuple(Comparison(a, b, metric) for a, b in pairs)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment(
            "ceiling",
            "all",
            "How high does a mini model go on this data with 2.5x the training images (all "
            "10,000) and twice the epochs? The reference the others are read against.",
            {
                "reduced Inception, 10,000 images, 20 epochs": Arm(
                    "mini_reduced", BN, {"train_size": 10000}, {"epochs": 20}
                )
            },
            (),
        ),  # fmt: skip
        Experiment(
            "bottleneck",
            "02",
            "Naive modules against dimension-reduced ones at about the same MACs.",
            {"naive": Arm("mini_naive", BN), "reduced": Arm("mini_reduced", BN)},
            (Comparison("reduced", "naive", primary=True),),
        ),
        Experiment(
            "multiscale",
            "01",
            "Does a multi-branch module beat a single 3x3 kernel at about the same MACs when "
            "object sizes vary? Is it the spread of sizes or their smallness that matters? Which "
            "branch do small and large objects rely on (each switched off at test time)?",
            _spread_arms(),
            (
                Comparison(REDUCED, STACK, primary=True),
                *_explore(
                    [
                        ("naive Inception, wide spread", STACK),
                        ("5x5 stack, wide spread", STACK),
                        ("reduced Inception, no spread", "3x3 stack, no spread"),
                        ("reduced Inception, all small", "3x3 stack, all small"),
                    ]
                ),
                *(Comparison(REDUCED, STACK, f"test_by_scale.{s}") for s in ("small", "large")),
            ),
            measure=("branch_ablation",),
            long=(REDUCED, STACK),
        ),
        Experiment(
            "googlenet_vs_cnn",
            "03",
            "The mini GoogLeNet against a plain 3x3 CNN of about the same MACs, and the auxiliary "
            "heads against none; the gradient each stage receives with and without the heads.",
            {
                "plain CNN": Arm("mini_baseline", BN),
                "mini GoogLeNet": Arm("mini_googlenet", BN),
                "mini GoogLeNet + aux heads": Arm("mini_googlenet", {**BN, "aux_logits": True}),
            },
            (
                Comparison("mini GoogLeNet", "plain CNN", primary=True),
                Comparison("mini GoogLeNet + aux heads", "mini GoogLeNet", primary=True),
            ),
            measure=("grad_norm",),
            long=("mini GoogLeNet", "plain CNN"),
        ),
        Experiment(
            "factorization",
            "04",
            "Factorized convolutions (3x3 pairs, 1xn + nx1) against their unfactorized twin at "
            "equal structure, and a factorized network widened to the twin's MACs (the paper "
            "spends the savings); each at its tuned learning rate.",
            {
                "factorized": Arm("mini_factorized", lr_sweep=RATES_ADAMW),
                "unfactorized": Arm("mini_factorized", {"factorized": False}, lr_sweep=RATES_ADAMW),
                # width 1.21: 14.34 M MACs against the twin's 14.41 M (printed by `show`)
                "factorized, widened": Arm(
                    "mini_factorized", {"width": 1.21}, lr_sweep=RATES_ADAMW
                ),
            },
            (
                Comparison("factorized", "unfactorized", primary=True),
                Comparison("factorized, widened", "unfactorized", primary=True),
            ),
        ),
        Experiment(
            "batch_norm",
            "05",
            "Batch norm against none (mini BN-Inception), each at its tuned learning rate; the "
            "sweeps show which rates each tolerates.",
            {
                "BN": Arm("mini_bn_inception", BN, lr_sweep=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1)),
                "no BN": Arm(
                    "mini_bn_inception", {"bn": False}, lr_sweep=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
                ),
            },
            (Comparison("BN", "no BN", primary=True),),
            long=("BN", "no BN"),
        ),
        Experiment(
            "label_smoothing",
            "06",
            "Label smoothing 0.1 against none: calibration (ECE) before and after temperature "
            "scaling, accuracy, NLL.",
            {
                "no smoothing": Arm("mini_factorized"),
                "smoothing 0.1": Arm("mini_factorized", fit={"label_smoothing": 0.1}),
            },
            (
                Comparison("smoothing 0.1", "no smoothing", "test_ece", primary=True),
                Comparison(
                    "smoothing 0.1", "no smoothing", "temperature.test_ece_after", primary=True
                ),
                Comparison("smoothing 0.1", "no smoothing"),
                Comparison("smoothing 0.1", "no smoothing", "temperature.test_nll_after"),
            ),
            measure=("temperature",),
        ),
        Experiment(
            "residual_scaling",
            "07",
            "Residual scale 1 / 0.3 / 0.1 without BN and 1 / 0.2 with BN, and shortcuts against "
            "none with BN (mini Inception-ResNet, 2 blocks per stage), each at its tuned rate.",
            {
                "no BN, scale 1": _residual_arm(False, 1.0),
                "no BN, scale 0.3": _residual_arm(False, 0.3),
                "no BN, scale 0.1": _residual_arm(False, 0.1),
                "BN, scale 1": _residual_arm(True, 1.0),
                "BN, scale 0.2": _residual_arm(True, 0.2),
                "BN, no shortcuts": _residual_arm(True, None),
            },
            (
                Comparison("no BN, scale 0.1", "no BN, scale 1", primary=True),
                Comparison("BN, scale 0.2", "BN, no shortcuts", primary=True),
                *_explore(
                    [("no BN, scale 0.3", "no BN, scale 1"), ("BN, scale 0.2", "BN, scale 1")]
                ),
            ),
            long=("no BN, scale 0.1", "no BN, scale 1"),
        ),
        Experiment(
            "recipe",
            "08",
            "SGD with momentum, RMSProp (the v3 paper's settings) and AdamW, each at its tuned "
            "rate and its own default weight decay; then the v3 recipe's other parts added to "
            "RMSProp one at a time: label smoothing 0.1, then gradient clipping 2.0.",
            {
                "SGD momentum": Arm(
                    "mini_factorized", fit={"optimizer": "sgd"}, lr_sweep=(0.01, 0.03, 0.1)
                ),
                "RMSProp": Arm(
                    "mini_factorized", fit={"optimizer": "rmsprop"}, lr_sweep=(0.015, 0.045, 0.135)
                ),
                "AdamW": Arm("mini_factorized", lr_sweep=RATES_ADAMW),
                "RMSProp + smoothing": Arm(
                    "mini_factorized",
                    fit={"optimizer": "rmsprop", "label_smoothing": 0.1},
                    lr_from="RMSProp",
                ),
                "v3 recipe (RMSProp + smoothing + clipping)": Arm(
                    "mini_factorized",
                    fit={"optimizer": "rmsprop", "label_smoothing": 0.1, "grad_clip": 2.0},
                    lr_from="RMSProp",
                ),
            },
            (
                Comparison("RMSProp", "AdamW", primary=True),
                Comparison("SGD momentum", "AdamW", primary=True),
                *_explore(
                    [
                        ("RMSProp + smoothing", "RMSProp"),
                        ("v3 recipe (RMSProp + smoothing + clipping)", "RMSProp + smoothing"),
                    ]
                ),
            ),
        ),
        Experiment(
            "family",
            "10",
            "The whole family at one recipe (AdamW 0.01) and one head dropout (0.4): which mini "
            "model learns the most from the same steps?",
            {
                "plain CNN": Arm("mini_baseline", BN),
                "GoogLeNet (v1 + BN)": Arm("mini_googlenet", BN),
                "BN-Inception": Arm("mini_bn_inception", BN),
                "Inception v3": Arm("mini_factorized"),
                # the others' own head dropout is 0.4; Inception-ResNet's (0.2) is raised to match
                "Inception-ResNet": Arm("mini_inception_resnet", head_dropout=0.4),
            },
            (
                Comparison("Inception v3", "plain CNN", primary=True),
                Comparison("Inception-ResNet", "plain CNN", primary=True),
                *_explore([("GoogLeNet (v1 + BN)", "plain CNN"), ("BN-Inception", "plain CNN")]),
            ),
            long=("Inception-ResNet", "plain CNN"),
            notes="Every model's head dropout is 0.4 (Inception-ResNet's own 0.2 is raised).",
        ),
    ]
}
