"""Lesson 10 checks: the capstone design, and the cost of a depthwise separable convolution.

Exercise 1 designs the stages of a mini network (`models.mini_custom`) under a cost budget.
`capstone_budget` counts it and checks its structure (instant): every stage is built from
`inception_lab.blocks` and `torch.nn` layers, and every multi-branch block in it runs in the
forward pass, runs all its branches, changes the stage's output and carries a real share of the
stage's MACs (so a block that is built but bypassed, multiplied by zero or starved does not count).
`capstone_challenge` trains the design and the plain CNN (`models.mini_baseline(bn=True)`) with
the experiment ledger's own recipe on the ledger's harder data (the "family" experiment, seed 0),
judges both on held-out images drawn with a data seed that no lesson uses, and prints the plain
CNN's seeds from the ledger beside them. `capstone_judge` (`python -m
inception_lab.checks.capstone_judge DIR`) grades a folder of entries the same way on one machine.
Exercise 2 computes the cost of a depthwise separable convolution (Chollet 2017) by hand; the
reference is the profiler on real grouped convolutions, and building convolutions or calling the
profiler raises while the learner's function runs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .. import blocks, models, profile, train
from .._validate import is_int
from ..data.shapes import SHAPES_MEAN, SHAPES_STD, generate_shapes
from ..experiments import get, load, prediction_interval, resolve, summarize
from ..experiments.runner import run_loaders
from ._common import (
    Forbidden,
    call_learner,
    counting_tools,
    passed,
    require,
    run_recording,
    unseen_seed,
)

CAPSTONE_MAX_MACS = 5_500_000  # per 32x32 image; about half of the baseline's 11.2 M
CAPSTONE_MAX_PARAMS = 120_000  # about half of the baseline's 244 K
# The challenge's training: the experiment ledger's own run of the plain CNN of its "family"
# experiment (lesson 10, section 4), seed 0: the harder data (4,000 training images drawn with
# the seed, crop + flip augmentation), 10 epochs of AdamW with a one-cycle schedule ("fit"),
# head dropout 40% (the check sets it for your network too). The plain CNN's training here is
# the ledger's seed 0 run (to the digit with the ledger's thread count).
CAPSTONE_TRAINING: dict[str, Any] = {
    **resolve(get("family"), "plain CNN"),
    "head_dropout": 0.4,
    "seed": 0,
}
CAPSTONE_HELD_OUT = 2000  # held-out images, drawn with a data seed no lesson uses
# The verdict: at least this lead over the plain CNN trained beside your network (2 points),
# and above the range where a new seed of the plain CNN falls 95% of the time (the ledger's).
CAPSTONE_MARGIN = 0.02
_HELD_OUT_DATA_SEED = 1009  # the check's own draw; the judge can take another (--held-out-seed)
_MULTI = (blocks.MultiBranch, blocks.InceptionResNetBlock)
_BLOCK_SHARE = 0.10  # each multi-branch block: at least 10% of its stage's MACs
_STAGE_SHARE = 1 / 3  # all of them together: at least a third


# --------------------------------------------------------------------------- exercise 1: budget
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


def _allowed(module: nn.Module) -> bool:
    """A module of the course's blocks, a torch.nn layer or container: nothing with a forward
    pass written for the occasion (which could bypass a block, or compute what no one counts)."""
    where = type(module).__module__
    return where == blocks.__name__ or where.startswith("torch.nn.")


def _stage_macs(model: nn.Module) -> dict[str, int]:
    """MACs per qualified module name of one forward pass on one 32x32 image (modules that do
    not run are absent)."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.eval()(torch.zeros(1, 3, 32, 32))
    root = type(model).__name__ + "."
    return {
        key.removeprefix(root): sum(ops.values()) // 2
        for key, ops in counter.get_flop_counts().items()
        if key.startswith(root)
    }


def _outermost_blocks(stage: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """The multi-branch blocks of a stage that sit inside no other multi-branch block."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in stage.named_modules(prefix=prefix):
        if isinstance(module, _MULTI) and not any(name.startswith(f + ".") for f, _ in found):
            found.append((name, module))
    return found


def _changes_output(stage: nn.Module, x: torch.Tensor, block: nn.Module) -> bool:
    """Whether noise added to `block`'s output reaches the stage's output."""
    with torch.no_grad():
        clean = stage(x)
        g = torch.Generator().manual_seed(10)

        def noisy(module, args, out):
            return out + out.std().clamp(min=1.0) * torch.randn(out.shape, generator=g)

        handle = block.register_forward_hook(noisy)
        try:
            shaken = stage(x)
        finally:
            handle.remove()
    return bool((shaken - clean).abs().max() > 1e-3 * clean.abs().max().clamp(min=1.0))


def _check_structure(model: nn.Module) -> None:
    """Every stage is made of allowed modules, holds multi-branch blocks, and each of them
    runs (all its branches too), shapes the stage's output and carries a share of its MACs."""
    macs = _stage_macs(model)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    _, ran = run_recording(model, x, lambda m: True)
    ran_ids = {id(m) for m, _, _ in ran}
    inputs = {id(m): inp for m, inp, _ in ran}
    for grid in (16, 8, 4):
        name = f"stage{grid}"
        stage = getattr(model, name)
        odd = [type(m).__name__ for m in stage.modules() if not _allowed(m)]
        require(
            not odd,
            f"the {grid}x{grid} stage contains {', '.join(sorted(set(odd)))}, a module with a "
            "forward pass of its own: build every stage from inception_lab.blocks (one block, "
            "or an nn.Sequential of blocks and torch.nn layers), so that what it computes is "
            "what the cost counts",
        )
        found = _outermost_blocks(stage, name)
        require(
            bool(found),
            f"the {grid}x{grid} stage has no multi-branch block: use at least one Inception "
            "module from inception_lab.blocks (Inception, InceptionA/B/C, InceptionResNetBlock, "
            "...) in every stage; a plain conv stack is the baseline you have to beat",
        )
        stage_macs = max(macs.get(name, 0), 1)
        for qualified, block in found:
            kind = type(block).__name__
            require(
                id(block) in ran_ids,
                f"the {kind} in the {grid}x{grid} stage ({qualified}) is built but never runs in "
                "the forward pass: a block counts only if the stage uses it",
            )
            branches = list(block.branches.values())
            idle = [b for b in branches if id(b) not in ran_ids]
            require(
                len(branches) >= 2 and not idle,
                f"the {kind} in the {grid}x{grid} stage ({qualified}) does not run several "
                "branches side by side: a multi-branch block needs at least two branches, all "
                "of them used",
            )
            require(
                _changes_output(stage, inputs[id(stage)], block),
                f"the output of the {kind} in the {grid}x{grid} stage ({qualified}) does not "
                "reach the stage's output: the stage must pass it on (not bypass it, drop it or "
                "multiply it by zero)",
            )
            share = macs.get(qualified, 0) / stage_macs
            require(
                share >= _BLOCK_SHARE,
                f"the {kind} in the {grid}x{grid} stage ({qualified}) carries only {share:.1%} "
                f"of the stage's MACs (at least {_BLOCK_SHARE:.0%} needed): a token block next "
                "to plain convs is still a plain conv stage. Make it do the stage's work",
            )
        share = sum(macs.get(q, 0) for q, _ in found) / stage_macs
        require(
            share >= _STAGE_SHARE,
            f"the multi-branch blocks of the {grid}x{grid} stage carry {share:.1%} of its MACs "
            f"(at least {_STAGE_SHARE:.0%} needed): the stage's work should be done by its "
            "Inception modules, not by the plain layers around them",
        )


def _capstone_costs(make_stage: Callable) -> tuple[nn.Module, int, int]:
    """Build the learner's network, check its structure and hold it to the budget; returns
    (model, params, MACs)."""
    model = _capstone_model(make_stage)
    _check_structure(model)
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
    `profile`; every stage is built from `inception_lab.blocks` and `torch.nn` layers and holds
    at least one multi-branch block; every multi-branch block runs with all its branches,
    changes its stage's output and carries at least 10% of the stage's MACs, and together they
    carry at least a third of it.
    """
    _, params, macs = _capstone_costs(make_stage)
    passed(
        f"your network has {params:,} parameters ({params / CAPSTONE_MAX_PARAMS:.0%} of the "
        f"budget) and costs {macs:,} MACs per image ({macs / CAPSTONE_MAX_MACS:.0%} of the "
        "budget). Whether it beats the plain CNN is checked after training (section 4)."
    )


# --------------------------------------------------------------------------- the challenge
_HELD_OUT: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
_BASELINE: dict[tuple, float] = {}


def _held_out(data_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CAPSTONE_HELD_OUT images of the ledger's data, drawn with `data_seed` (normalized like
    the training images) and their labels; generated in memory, never written to data/."""
    if data_seed not in _HELD_OUT:
        d = CAPSTONE_TRAINING["data"]
        arrays = generate_shapes(
            CAPSTONE_HELD_OUT,
            data_seed,
            "test",
            scale_ranges=d["scale_ranges"],
            clutter=d["clutter"],
        )
        images = torch.from_numpy(arrays["images"]).float() / 255
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (SHAPES_MEAN, SHAPES_STD))
        _HELD_OUT[data_seed] = ((images - mean) / std, torch.from_numpy(arrays["labels"]).long())
    return _HELD_OUT[data_seed]


def _train_and_score(
    build: Callable[[], nn.Module], data_seed: int, smoke_steps: int | None = None
) -> tuple[float, float]:
    """Train a model with CAPSTONE_TRAINING (built right after `torch.manual_seed(seed)`, as the
    ledger does) on the CPU and return (accuracy on the held-out images, training seconds).
    With `smoke_steps`: a few training steps and held-out batches only."""
    cfg, seed = CAPSTONE_TRAINING, CAPSTONE_TRAINING["seed"]
    loaders = run_loaders(cfg, seed, "cpu", test=False)  # the ledger's draw for this seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
        model.dropout.p = cfg["head_dropout"]  # the same head for both networks
        start = time.perf_counter()
        train.fit(
            model,
            (loaders.train, None),
            seed=seed,
            **cfg["fit"],  # the ledger's recipe
            device="cpu",
            progress=False,
            smoke_steps=smoke_steps,
        )
        seconds = time.perf_counter() - start
    images, labels = _held_out(data_seed)
    size = cfg["data"]["batch_size"]
    batches = [(images[i : i + size], labels[i : i + size]) for i in range(0, len(labels), size)]
    return train.evaluate(model, batches, max_batches=smoke_steps)["acc"], seconds


def _baseline_accuracy(data_seed: int) -> float:
    """The plain CNN's held-out accuracy under CAPSTONE_TRAINING, trained once per process
    (and per thread count, which changes the numbers)."""
    key = (data_seed, torch.get_num_threads(), repr(sorted(CAPSTONE_TRAINING.items())))
    if key not in _BASELINE:
        _BASELINE[key] = _train_and_score(lambda: models.mini_baseline(bn=True), data_seed)[0]
    return _BASELINE[key]


def _ledger_seeds() -> list[float]:
    """The plain CNN's test accuracy per seed in the ledger's "family" experiment."""
    return summarize(load("family"))["plain CNN"]["values"]


@dataclass
class CapstoneResult:
    """What the challenge measured for one design (accuracies as fractions)."""

    accuracy: float  # the design, on the held-out images
    baseline: float  # the plain CNN trained beside it, on the same images
    ledger: list[float]  # the plain CNN's seeds in the ledger, on the ledger's test images
    params: int
    macs: int
    seconds: float  # the design's training time on this machine

    @property
    def lead(self) -> float:
        return self.accuracy - self.baseline

    @property
    def new_seed_high(self) -> float:
        """The top of the 95% interval in which a new seed of the plain CNN falls (the
        ledger's seeds: mean + t * sd * sqrt(1 + 1/n))."""
        return prediction_interval(self.ledger)[1]

    @property
    def met(self) -> bool:
        return self.lead >= CAPSTONE_MARGIN and self.accuracy > self.new_seed_high


def measure_capstone(make_stage: Callable, held_out_seed: int | None = None) -> CapstoneResult:
    """Train the design and the plain CNN as `capstone_challenge` does and return the numbers
    (no verdict); the judge (`capstone_judge`) calls it for every entry."""
    # The network that was counted is the one trained (a copy, from its initial weights): a
    # make_stage that returns something else on a second call gains nothing.
    model, params, macs = _capstone_costs(make_stage)
    seed = _HELD_OUT_DATA_SEED if held_out_seed is None else held_out_seed
    accuracy, seconds = _train_and_score(lambda: copy.deepcopy(model), seed)
    return CapstoneResult(
        accuracy, _baseline_accuracy(seed), _ledger_seeds(), params, macs, seconds
    )


def _points(fraction: float) -> str:
    return f"{100 * fraction:.1f} points"


def _report(r: CapstoneResult) -> str:
    cfg, d = CAPSTONE_TRAINING, CAPSTONE_TRAINING["data"]
    ledger = ", ".join(f"{v:.1%}" for v in r.ledger)
    return (
        f"after the ledger's training ({cfg['fit']['epochs']} epochs on its {d['train_size']:,} "
        f"training images, seed {cfg['seed']}), on {CAPSTONE_HELD_OUT:,} held-out images your "
        f"network scores {r.accuracy:.1%} and the plain CNN trained beside it {r.baseline:.1%}, "
        f"a lead of {_points(r.lead)} (at least {_points(CAPSTONE_MARGIN)} needed). The plain "
        f"CNN's seeds in the ledger, on its own test images: {ledger} (mean "
        f"{sum(r.ledger) / len(r.ledger):.1%}; a new seed falls below {r.new_seed_high:.1%} "
        "97.5% of the time)"
    )


def capstone_challenge(make_stage: Callable, smoke_steps: int | None = None) -> None:
    """Lesson 10, Exercise 1 (the challenge): within the budget AND more accurate than the plain
    CNN (`models.mini_baseline(bn=True)`) after the experiment ledger's own training
    (CAPSTONE_TRAINING: the "family" experiment's data and recipe, seed 0, head dropout 40% for
    both networks), judged on CAPSTONE_HELD_OUT images drawn with a data seed that no lesson
    uses, so that no design can have been tuned on them.

    The verdict: the design must lead the plain CNN trained beside it by at least
    CAPSTONE_MARGIN (2 accuracy points) on the held-out images, AND score above the top of the
    95% interval in which a new seed of the plain CNN falls, from the ledger's seeds (on the
    ledger's test images, another draw of the same data: 2,000 held-out images have a
    binomial standard error of about 0.7 points near 88%). One run of each network is what the
    lesson's time budget allows (about 20-30 s each on 2 CPU threads); the ledger's seeds show
    how far the plain CNN moves from seed to seed, and the design has to clear where almost any
    run of it would land. Deterministic on one machine type; another CPU or thread count moves the
    numbers. `smoke_steps` (the notebook's SMOKE_STEPS, `make smoke-gpu`): train each network
    for a few steps and give no verdict.
    """
    if smoke_steps is not None:  # a few training steps run the code, decide nothing
        model = _capstone_costs(make_stage)[0]
        _train_and_score(lambda: copy.deepcopy(model), _HELD_OUT_DATA_SEED, smoke_steps)
        _train_and_score(lambda: models.mini_baseline(bn=True), _HELD_OUT_DATA_SEED, smoke_steps)
        print("smoke run: the challenge's training ran for a few steps; no verdict")
        return
    r = measure_capstone(make_stage)
    ideas = (
        " Ideas from the course: batch norm in every conv (bn=True), several kernel sizes side "
        "by side, 1x1 reductions, residual blocks (lesson 7), and spending the budget on the "
        "later, cheaper grids"
    )
    require(
        r.lead >= CAPSTONE_MARGIN,
        f"within the budget, but {_report(r)}. A lead of {_points(r.lead)} is not enough." + ideas,
    )
    require(
        r.accuracy > r.new_seed_high,
        f"within the budget, but {_report(r)}. A new seed of the plain CNN reaches up to "
        f"{r.new_seed_high:.1%} (the top of its 95% interval from the ledger's seeds): to count "
        "as better than a plain CNN, beat that too." + ideas,
    )
    with torch.device("meta"):
        baseline = models.mini_baseline(bn=True)
    passed(
        f"challenge met: {_report(r)}; yours is above that. Your network: {r.params:,} "
        f"parameters and {r.macs:,} MACs per image, trained in {r.seconds:.0f} s; the plain CNN: "
        f"{profile.count_params(baseline):,} and {profile.count_macs(baseline, (3, 32, 32)):,}."
    )


# --------------------------------------------------------------------------- exercise 2
_SEPARABLE_CASES = (  # (in_ch, out_ch, kernel, size): stride 1, "same" padding, no biases
    (192, 256, 3, 28),  # the width of GoogLeNet's inception 3a
    (32, 64, 3, 16),
    (64, 48, 5, 8),  # fewer outputs than inputs
    (3, 12, 7, 10),
)
# While the learner's count runs, nothing may count for it: no convolution can be built (so no
# layer's parameters can be summed) and the profiler, the cost tables and torch's FLOP counter
# raise.
_NO_COUNTING = Forbidden(
    "the cost of a separable convolution",
    targets=(
        *counting_tools(),  # profile, costtable, FlopCounterMode and its formulas, any conv
        (blocks.ConvBNAct, "__init__"),
    ),
    advice="count the weights of each conv and how often each is used, with arithmetic",
)


def _random_separable_case() -> tuple[int, int, int, int]:
    """A layer nobody can know in advance: channels 1-256, an odd kernel 1-7, a map 1-64."""
    g = torch.Generator().manual_seed(unseen_seed())
    cin, cout = (int(v) for v in torch.randint(1, 257, (2,), generator=g))
    k = int(torch.randint(0, 4, (1,), generator=g)) * 2 + 1
    size = int(torch.randint(1, 65, (1,), generator=g))
    return cin, cout, k, size


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
        isinstance(got, tuple | list) and len(got) == 2 and all(is_int(v) for v in got),
        f"return a pair of whole numbers (weights, macs); got {got!r}" + where,
    )
    weights, macs = got
    require(
        weights != cin * cout * k * k or weights == want_w,
        "that is the weight count of a standard k x k conv; the depthwise conv has one "
        "k x k filter per input channel, and the mixing of channels is left to the 1x1" + where,
    )
    require(
        weights != cin * cin * k * k + cin * cout or weights == want_w,
        "the depthwise conv does not mix channels: each input channel has ONE k x k filter "
        "of its own (groups = in_ch), not one per input channel" + where,
    )
    require(
        weights not in (cin * k * k, cin * cout) or weights == want_w,
        "count both layers: the k x k depthwise conv and the 1x1 pointwise conv" + where,
    )
    require(
        weights == want_w,
        f"your weight count {weights:,} is off; add the depthwise filters' weights and the "
        "1x1 conv's weights (no biases)" + where,
    )
    require(
        macs != weights or macs == want_m,
        "MACs are per output pixel: every weight is used once at each of the size x size "
        "positions" + where,
    )
    require(
        macs != 2 * want_m, "that is twice the MACs: you counted FLOPs (1 MAC = 2 FLOPs)" + where
    )
    require(
        macs != cin * cout * k * k * s * s or macs == want_m,
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
    padding. The reference counts real `nn.Conv2d` layers with `profile`, on the four fixed
    layers and one drawn at random on every run; building a convolution, the profiler, the cost
    tables and torch's FlopCounterMode raise while `separable_cost` runs (the exercise is to
    count by hand).
    """
    answers = []
    for cin, cout, k, s in (*_SEPARABLE_CASES, _random_separable_case()):
        got = call_learner(
            separable_cost,
            cin,
            cout,
            k,
            s,
            hint=f"separable_cost({cin}, {cout}, {k}, {s}) failed",
            forbidden=_NO_COUNTING,
        )
        _check_separable(got, cin, cout, k, s)
        answers.append(got)
    weights, macs = answers[0]
    passed(
        f"your counts match the profiler on all {len(answers)} layers (one of them drawn at "
        f"random), e.g. 192 -> 256 channels, 3x3, on 28x28: {weights:,} weights and {macs:,} MACs."
    )
