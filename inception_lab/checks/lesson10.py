"""Lesson 10 checks: the capstone design, and the cost of a depthwise separable convolution.

Exercise 1 designs the stages of a mini network (`models.mini_custom`) under a cost budget:
`capstone_budget` counts it (instant), `capstone_challenge` also trains it and the baseline (the
plain 3x3 CNN with BN, `models.mini_baseline(bn=True)`) briefly on the same data, with several
seeds, and checks that it wins clearly. Exercise 2 computes the cost of a depthwise separable
convolution (Chollet 2017) by hand; the reference is the profiler on real grouped convolutions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .. import blocks, data, models, profile, smoke, train
from ._common import call_learner, is_whole, passed, require

CAPSTONE_MAX_MACS = 5_500_000  # per 32x32 image; about half of the baseline's 11.2 M
CAPSTONE_MAX_PARAMS = 120_000  # about half of the baseline's 244 K
# The challenge's training: small and fixed, so that the check takes seconds per run and gives
# the same answer on every run of the same machine type. Both models get exactly this (same
# images, order, optimizer, schedule, and the same head dropout: 40%, as every model of the
# lesson's family comparison; the bench's own default is 20%). AdamW at 0.01 without
# augmentation: what makes the BN minis learn fastest from few images. val_batches=None: all
# 1,000 validation images.
CAPSTONE_TRAINING = {"train_size": 2000, "batch_size": 64, "epochs": 3, "optimizer": "adamw",
                     "lr": 1e-2, "augment": False, "val_batches": None,
                     "head_dropout": 0.4}  # fmt: skip
# The verdict's rules; `capstone_challenge` says why. Every seed of the design must beat every
# seed of the baseline (the ledger's "ahead on every seed"), and the mean lead must be at least
# CAPSTONE_MARGIN.
CAPSTONE_SEEDS = (0, 1, 2, 3)
CAPSTONE_MARGIN = 0.05  # the smallest mean accuracy lead that can pass, as a fraction (5 points)


def _capstone_model(make_stage: Callable) -> nn.Module:
    """`models.mini_custom(make_stage)` built from seed 0, or an AssertionError with a hint."""
    require(
        callable(make_stage) and not isinstance(make_stage, nn.Module),
        "pass your function itself (my_stage), not a module it returned; got "
        f"{type(make_stage).__name__}",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return call_learner(
            models.mini_custom, make_stage, hint="the network could not be built from your stages"
        )


def _stage_table(model: nn.Module) -> str:
    table = profile.cost_table(model, (3, 32, 32))
    return "; ".join(
        f"{r['layer']} {r['params'] / 1e3:.0f}K params, {r['macs'] / 1e6:.2f}M MACs"
        for r in table.rows
        if r["params"]
    )


def _capstone_costs(make_stage: Callable) -> tuple[nn.Module, int, int]:
    """Build the learner's network and hold it to the budget; returns (model, params, MACs)."""
    model = _capstone_model(make_stage)
    for grid in (16, 8, 4):
        stage = getattr(model, f"stage{grid}")
        multi = (blocks.MultiBranch, blocks.InceptionResNetBlock)
        require(
            any(isinstance(m, multi) for m in stage.modules()),
            f"the {grid}x{grid} stage has no multi-branch block: use at least one Inception "
            "module from inception_lab.blocks (Inception, InceptionA/B/C, InceptionResNetBlock, "
            "...) in every stage; a plain conv stack is the baseline you have to beat",
        )
    params, macs = profile.count_params(model), profile.count_macs(model, (3, 32, 32))
    require(
        macs <= CAPSTONE_MAX_MACS,
        f"your network costs {macs:,} MACs per image, {macs - CAPSTONE_MAX_MACS:,} over the "
        f"budget of {CAPSTONE_MAX_MACS:,}. Per layer: {_stage_table(model)}. A weight on the "
        "16x16 grid runs at 4x as many pixels as on 8x8 and 16x as many as on 4x4: keep the "
        "first stage narrow, put 1x1 reductions in front of the 3x3 and 5x5 convs, or "
        "factorize them",
    )
    require(
        params <= CAPSTONE_MAX_PARAMS,
        f"your network has {params:,} parameters, {params - CAPSTONE_MAX_PARAMS:,} over the "
        f"budget of {CAPSTONE_MAX_PARAMS:,}. Per layer: {_stage_table(model)}. Parameters pile "
        "up in the wide last stages: narrow their 3x3 convs, or reduce harder before them",
    )
    return model, params, macs


def capstone_budget(make_stage: Callable) -> None:
    """Lesson 10, Exercise 1 (cost part): `models.mini_custom(make_stage)` fits the budget.

    At most CAPSTONE_MAX_MACS MACs per 32x32 image and CAPSTONE_MAX_PARAMS parameters, counted by
    `profile`, and every stage holds at least one multi-branch block from `inception_lab.blocks`.
    """
    _, params, macs = _capstone_costs(make_stage)
    passed(
        f"your network has {params:,} parameters ({params / CAPSTONE_MAX_PARAMS:.0%} of the "
        f"budget) and costs {macs:,} MACs per image ({macs / CAPSTONE_MAX_MACS:.0%} of the "
        "budget). Whether it beats the baseline is checked after training (section 4)."
    )


def _brief_accuracy(build: Callable[[], nn.Module], seed: int) -> float:
    """Build a model from `seed`, set its head dropout, train it with CAPSTONE_TRAINING (data
    order from `seed` too) and return its accuracy on the validation images."""
    cfg = CAPSTONE_TRAINING
    loaders = data.make_loaders(
        "shapes", batch_size=cfg["batch_size"], seed=seed, train_size=cfg["train_size"],
        augment=cfg["augment"],
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        model.dropout.p = cfg["head_dropout"]  # the same head for both networks
        train.fit(model, (loaders.train, None), cfg["epochs"], optimizer=cfg["optimizer"],
                  lr=cfg["lr"], seed=seed, device="cpu", progress=False)  # fmt: skip
    return train.evaluate(model, loaders.val, max_batches=cfg["val_batches"])["acc"]


_BASELINE_ACCURACY: dict[tuple, float] = {}


def _baseline_accuracy(seed: int) -> float:
    """The baseline's (plain 3x3 CNN with BN) accuracy under CAPSTONE_TRAINING for `seed`,
    trained once per process."""
    key = (seed, *sorted(CAPSTONE_TRAINING.items()))
    if key not in _BASELINE_ACCURACY:
        _BASELINE_ACCURACY[key] = _brief_accuracy(lambda: models.mini_baseline(bn=True), seed)
    return _BASELINE_ACCURACY[key]


def _points(fraction: float) -> str:
    return f"{100 * fraction:.1f} points"


def _runs(mine: list[float], base: list[float]) -> str:
    return "; ".join(f"seed {s}: {m:.1%} vs {b:.1%}" for s, m, b in zip(CAPSTONE_SEEDS, mine, base))


def _challenge_hint(mine: list[float], base: list[float], why: str) -> str:
    cfg = CAPSTONE_TRAINING
    return (
        f"within the budget, but after the same brief training ({cfg['train_size']:,} images, "
        f"{cfg['epochs']} epochs) your network against the baseline: {_runs(mine, base)}. {why} "
        f"The challenge asks that your worst seed beat the baseline's best, over "
        f"{len(CAPSTONE_SEEDS)} seeds, and a mean lead of at least {_points(CAPSTONE_MARGIN)}. "
        "Ideas from the course that make small networks learn fast: batch norm in every conv "
        "(bn=True), several kernel sizes side by side, and spending the budget on the later, "
        "cheaper grids"
    )


def capstone_challenge(make_stage: Callable) -> None:
    """Lesson 10, Exercise 1 (the challenge): within the budget AND clearly more accurate than
    the baseline (`models.mini_baseline(bn=True)`) when both get the same brief training,
    CAPSTONE_TRAINING (same images and order, same optimizer, same head dropout), evaluated on
    all 1,000 validation images.

    "Clearly" means two things, measured on CAPSTONE_SEEDS (four seeds; each changes the
    initialisation and the order of the images, the same for both networks):
    1. the design is ahead on every seed in the ledger's sense (`experiments.compare`): its
       worst seed beats the baseline's best seed, so the two ranges of results do not overlap;
    2. its mean lead is at least CAPSTONE_MARGIN (5 accuracy points).
    Why: one brief run is not a verdict. The binomial standard error of one accuracy near 50% on
    1,000 images is about 1.6 points, and a brief training of the baseline moves much more than
    that from seed to seed (the check prints every seed's accuracy, so the spread is visible).
    Rule 1 is about that spread: a design no better than the baseline gives results from the
    same distribution, and the four lowest of eight such results all fall on one network with
    probability 1 / 70 (about 1.4%), so a pass is not luck. Rule 2 asks for a lead worth having.
    Deterministic: the same design gets the same verdict on every run of the same machine type
    (another CPU or thread count changes the numbers).
    """
    _, params, macs = _capstone_costs(make_stage)
    mine, base = [], []
    for seed in CAPSTONE_SEEDS:  # stop as soon as the ranges overlap: more seeds cannot undo it
        mine.append(_brief_accuracy(lambda: models.mini_custom(make_stage), seed))
        base.append(_baseline_accuracy(seed))
        if smoke.ACTIVE:  # `make smoke-gpu`: a few training steps run the code, decide nothing
            print("smoke run: the challenge's training ran for a few steps; no verdict")
            return
        require(
            min(mine) > max(base),
            _challenge_hint(
                mine,
                base,
                f"Your worst seed so far ({min(mine):.1%}) does not beat the baseline's best "
                f"({max(base):.1%}): the two ranges overlap, so the remaining seeds were not "
                "trained.",
            ),
        )
    lead = sum(mine) / len(mine) - sum(base) / len(base)
    require(
        lead >= CAPSTONE_MARGIN,
        _challenge_hint(mine, base, f"A mean lead of {_points(lead)} is too small."),
    )
    with torch.device("meta"):
        baseline = models.mini_baseline(bn=True)
    passed(
        f"challenge met: {_runs(mine, base)}. Your worst seed ({min(mine):.1%}) beats the "
        f"baseline's best ({max(base):.1%}), and your mean, {sum(mine) / len(mine):.1%}, leads "
        f"the baseline's, {sum(base) / len(base):.1%}, by {_points(lead)} (at least "
        f"{_points(CAPSTONE_MARGIN)} needed). Your network: {params:,} parameters and {macs:,} "
        f"MACs; the baseline: {profile.count_params(baseline):,} and "
        f"{profile.count_macs(baseline, (3, 32, 32)):,}."
    )


_SEPARABLE_CASES = (  # (in_ch, out_ch, kernel, size): stride 1, "same" padding, no biases
    (192, 256, 3, 28),  # the width of GoogLeNet's inception 3a
    (32, 64, 3, 16),
    (64, 48, 5, 8),  # fewer outputs than inputs
    (3, 12, 7, 10),
)


def _check_separable(got: object, cin: int, cout: int, k: int, s: int) -> None:
    """One (weights, macs) answer against the profiler on real grouped convolutions."""
    with torch.device("meta"):  # counting needs shapes only
        layer = nn.Sequential(
            nn.Conv2d(cin, cin, k, padding=k // 2, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
        )
    want_w, want_m = profile.count_params(layer), profile.count_macs(layer, (cin, s, s))
    where = f" (for in_ch={cin}, out_ch={cout}, k={k}, size={s})"
    require(
        isinstance(got, tuple | list) and len(got) == 2 and all(is_whole(v) for v in got),
        f"return a pair of whole numbers (weights, macs); got {got!r}" + where,
    )
    weights, macs = got
    require(
        weights != cin * cout * k * k,
        "that is the weight count of a standard k x k conv; the depthwise conv has one "
        "k x k filter per input channel, and the mixing of channels is left to the 1x1" + where,
    )
    require(
        weights != cin * cin * k * k + cin * cout,
        "the depthwise conv does not mix channels: each input channel has ONE k x k filter "
        "of its own (groups = in_ch), not one per input channel" + where,
    )
    require(
        weights not in (cin * k * k, cin * cout),
        "count both layers: the k x k depthwise conv and the 1x1 pointwise conv" + where,
    )
    require(
        weights == want_w,
        f"your weight count {weights:,} is off; add the depthwise filters' weights and the "
        "1x1 conv's weights (no biases)" + where,
    )
    require(
        macs != weights,
        "MACs are per output pixel: every weight is used once at each of the size x size "
        "positions" + where,
    )
    require(
        macs != 2 * want_m, "that is twice the MACs: you counted FLOPs (1 MAC = 2 FLOPs)" + where
    )
    require(
        macs != cin * cout * k * k * s * s,
        "those are the MACs of a standard k x k conv, not of the separable one" + where,
    )
    require(
        macs == want_m,
        f"your MAC count {macs:,} is off; both layers run at every one of the size x size "
        "output positions, with stride 1" + where,
    )


def separable_conv_cost(separable_cost: Callable[[int, int, int, int], tuple[int, int]]) -> None:
    """Lesson 10, Exercise 2: `separable_cost(in_ch, out_ch, k, size) -> (weights, macs)` of a
    depthwise separable convolution on a size x size map: a k x k depthwise conv (one filter per
    input channel, groups=in_ch) then a 1x1 pointwise conv to out_ch; no biases, stride 1, "same"
    padding. The reference counts real `nn.Conv2d` layers with `profile`.
    """
    for cin, cout, k, s in _SEPARABLE_CASES:
        got = call_learner(
            separable_cost, cin, cout, k, s, hint=f"separable_cost({cin}, {cout}, {k}, {s}) failed"
        )
        _check_separable(got, cin, cout, k, s)
    weights, macs = separable_cost(192, 256, 3, 28)
    passed(
        f"your counts match the profiler on all {len(_SEPARABLE_CASES)} layers, e.g. "
        f"192 -> 256 channels, 3x3, on 28x28: {weights:,} weights and {macs:,} MACs."
    )
