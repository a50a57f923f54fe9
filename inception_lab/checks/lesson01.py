"""Lesson 01 checks: the naive Inception module.

Exercise 1 writes a naive module's forward pass (four branches side by side, concatenated along
the channels); exercise 2 writes, by hand, the formula of its output width and parameter count.
The reference is `blocks.NaiveInception`, run on the same weights and input as the learner's
module, and counted (`p.numel()`) for the counts. While the learner's code runs, the course's
own block (built or run, in the module's constructor as in its forward) and anything that builds
or counts layers for the counts raise a hint; expected values are computed only after the
learner's code has returned, so nothing it could find on the stack holds them. Each check has a
case drawn at random that no one can look up in advance.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from .. import blocks
from .._validate import is_int
from ._common import (
    Forbidden,
    call_learner,
    counting_tools,
    passed,
    private_rng,
    require,
    unseen_seed,
)

__all__ = ["naive_counts", "naive_forward"]

# Distinct branch widths, so that a wrong concatenation order changes the channel layout.
_NAIVE_CFG = {"in_ch": 6, "ch1x1": 4, "ch3x3": 5, "ch5x5": 3}
_NAIVE_SHAPE = (2, _NAIVE_CFG["in_ch"], 9, 9)
# An awkward second case: one image, an odd non-square grid, a branch of width 1.
_AWKWARD_CFG, _AWKWARD_SHAPE = {"in_ch": 5, "ch1x1": 2, "ch3x3": 7, "ch5x5": 1}, (1, 5, 7, 12)
_LAYERS = ("conv1x1", "conv3x3", "conv5x5", "pool")
_NAMES = ("1x1 conv", "3x3 conv", "5x5 conv", "max pool")
_COURSE_BLOCK = Forbidden(
    "the forward pass",
    targets=(
        (blocks.MultiBranch, "forward"),
        (blocks.MultiBranch, "__init__"),  # a course block built to borrow its branches
        (blocks.ConvBNAct, "__init__"),
    ),
    advice="run your module's own layers (self.conv1x1, ...) on x",
)
# The constructor too: a course block built in __init__ would lend its branches to forward.
_COURSE_BLOCK_IN_INIT = _COURSE_BLOCK._replace(
    advice="keep the given __init__ (plain nn.Conv2d and nn.MaxPool2d layers) and run those "
    "layers on x in forward"
)


@private_rng(seed=0)
def naive_forward(module_class: type) -> None:
    """Check a learner's naive Inception module against `blocks.NaiveInception`.

    `module_class(in_ch, ch1x1, ch3x3, ch5x5)` must create `conv1x1`, `conv3x3`, `conv5x5`
    (nn.Conv2d with bias, "same" padding) and `pool`; its forward is the exercise. The check
    copies random reference weights into it and compares outputs, (N, in_ch, H, W) ->
    (N, ch1x1 + ch3x3 + ch5x5 + in_ch, H, W), on three inputs: a (2, 6, 9, 9) batch, one
    (1, 5, 7, 12) image with other widths, and widths and a shape drawn at random.
    """
    gen = torch.Generator().manual_seed(unseen_seed())
    cfg, n, h, w = _random_cfg(gen)
    cases = [
        (_NAIVE_CFG, _NAIVE_SHAPE, torch.Generator().manual_seed(0)),
        (_AWKWARD_CFG, _AWKWARD_SHAPE, torch.Generator().manual_seed(1)),
        (cfg, (n, cfg["in_ch"], h, w), gen),
    ]
    for case in cases:
        _check_forward_case(module_class, *case)
    cfg = _NAIVE_CFG
    passed(
        f"your module matches blocks.NaiveInception: {cfg['in_ch']} channels in, "
        f"{cfg['ch1x1'] + cfg['ch3x3'] + cfg['ch5x5'] + cfg['in_ch']} out, the spatial size kept "
        f"by every branch; also on a {_AWKWARD_SHAPE} input with other widths, and on a "
        "random one."
    )


def _random_cfg(gen: torch.Generator) -> tuple[dict[str, int], int, int, int]:
    """Distinct widths (so the channel layout names each branch) and an (N, H, W) at random."""
    widths = torch.randperm(12, generator=gen)[:4] + 1
    cfg = dict(zip(("in_ch", "ch1x1", "ch3x3", "ch5x5"), map(int, widths), strict=True))
    n, h, w = (
        int(v)
        for v in torch.randint(1, 4, (1,), generator=gen).tolist()
        + torch.randint(5, 15, (2,), generator=gen).tolist()
    )
    # never the grid of a listed input: a forward right only for the listed shapes would pass
    # the draws that repeat one, (2, 6, 9, 9) or (1, 5, 7, 12) (about 1 draw in 2,500)
    while (h, w) in {_NAIVE_SHAPE[2:], _AWKWARD_SHAPE[2:]}:
        h, w = (int(v) for v in torch.randint(5, 15, (2,), generator=gen))
    return cfg, n, h, w


def _check_forward_case(module_class: type, cfg: dict, shape: tuple, g: torch.Generator) -> None:
    """Run the learner's module on one case and raise the most precise hint if it is wrong."""
    ref = blocks.NaiveInception(**cfg).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    x = torch.randn(*shape, generator=g)
    mine = call_learner(
        module_class,
        *cfg.values(),
        forbidden=_COURSE_BLOCK_IN_INIT,
        hint=f"your class({_args(cfg)}) failed",
    )
    for name in _LAYERS:
        require(hasattr(mine, name), f"keep the layers the given __init__ creates (.{name})")
    with torch.no_grad():
        for name in ("1x1", "3x3", "5x5"):
            conv = ref.branches[f"branch{name}"][0].conv
            _require_layer_shape(getattr(mine, f"conv{name}").weight, conv.weight, name)
            getattr(mine, f"conv{name}").weight.copy_(conv.weight)
            getattr(mine, f"conv{name}").bias.copy_(conv.bias)
    del ref, conv  # nothing on the stack that computes the answer while the learner's code runs
    widths = {
        cfg["ch1x1"]: "1x1 conv",
        cfg["ch3x3"]: "3x3 conv",
        cfg["ch5x5"]: "5x5 conv",
        cfg["in_ch"]: "max pool",
    }
    with torch.no_grad(), _recording_joins() as joins:
        try:
            out = call_learner(
                mine,
                x.clone(),
                forbidden=_COURSE_BLOCK,
                hint="your forward failed. Run each branch on x, then join the four outputs "
                "along the channel axis (dim=1 of (N, C, H, W))",
            )
        except AssertionError:
            _diagnose_joins(joins, x, widths)  # a more precise hint, if the joins show the mistake
            raise
    # The expected values, only now.
    ref = blocks.NaiveInception(**cfg).eval()
    ref.load_state_dict(state)
    with torch.no_grad():
        want = ref(x)
        convs = [ref.branches[f"branch{n}"][0].conv(x) for n in ("1x1", "3x3", "5x5")]
        pooled = ref.branches["branch_pool"](x)
    if not (isinstance(out, torch.Tensor) and out.shape == want.shape):
        _diagnose_joins(joins, x, widths)
    _check_shape(out, want, x, cfg)
    if not torch.allclose(out, want, atol=1e-5):
        _diagnose_branches(out, convs, pooled)


def _args(cfg: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in cfg.items())


def _require_layer_shape(mine: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    require(
        tuple(mine.shape) == tuple(ref.shape),
        f"self.conv{name} has weights of shape {tuple(mine.shape)}, expected {tuple(ref.shape)}: "
        "keep the layers the given __init__ creates",
    )


_JOINS = (("cat", torch), ("concat", torch), ("concatenate", torch), ("stack", torch))


@contextlib.contextmanager
def _recording_joins() -> Iterator[list[tuple[str, list[tuple[int, ...]], Any]]]:
    """Within the block, every torch.cat / concat / concatenate / stack call is recorded as
    (function name, the shapes it joins, dim) before it runs; restored on exit."""
    joins: list[tuple[str, list[tuple[int, ...]], Any]] = []
    originals = [(owner, name, getattr(owner, name)) for name, owner in _JOINS]

    def recording(name: str, original: Any) -> Any:
        @functools.wraps(original)
        def join(tensors: Any, *args: Any, **kwargs: Any) -> Any:
            tensors = list(tensors)
            dim = args[0] if args else kwargs.get("dim", kwargs.get("axis", 0))
            shapes = [tuple(t.shape) for t in tensors if isinstance(t, torch.Tensor)]
            joins.append((name, shapes, dim))
            return original(tensors, *args, **kwargs)

        return join

    try:
        for owner, name, original in originals:
            setattr(owner, name, recording(name, original))
        yield joins
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _diagnose_joins(joins: list, x: torch.Tensor, branch_of_width: dict[int, str]) -> None:
    """Raise a hint when a recorded join shows the mistake: a branch output on another grid
    than the input's, torch.stack, or a join along another axis than the channels."""
    grid = tuple(x.shape[2:])
    for name, shapes, dim in joins:
        for shape in shapes:
            if len(shape) == 4 and shape[0] == x.shape[0] and tuple(shape[2:]) != grid:
                branch = branch_of_width.get(shape[1])
                which = f"the {branch} branch" if branch else f"a {shape[1]}-channel output"
                require(
                    False,
                    f"{which} has a {shape[2]}x{shape[3]} grid, but the input is "
                    f"{grid[0]}x{grid[1]}: every branch must keep the input's height and width "
                    "(stride 1 and 'same' padding), or the outputs cannot be stacked. Use the "
                    "layers the given __init__ creates",
                )
        require(
            name != "stack",
            "torch.stack puts the branch outputs along a NEW axis; they should be joined along "
            "the channel axis they already have",
        )
        if len(shapes) > 1 and all(len(s) == 4 for s in shapes):
            require(
                dim in (1, -3),
                f"you joined the branch outputs along dim={dim}; in (N, C, H, W) the branches "
                "are stacked along the channel axis",
            )


def _check_shape(out: Any, want: torch.Tensor, x: torch.Tensor, cfg: dict) -> None:
    require(
        isinstance(out, torch.Tensor),
        f"forward must return a tensor, it returned {type(out).__name__} (a missing `return`?)",
    )
    same_grid = out.dim() == 4 and out.shape[0] == x.shape[0] and out.shape[2:] == x.shape[2:]
    if same_grid:
        require(
            out.shape[1] != want.shape[1] - x.shape[1],
            "the output is missing the pool branch: the max-pooled input is concatenated too",
        )
        require(
            out.shape[1] == want.shape[1],
            f"for an input of shape {tuple(x.shape)} the output has {out.shape[1]} channels, it "
            f"should have {want.shape[1]}: {cfg['ch1x1']} + {cfg['ch3x3']} + {cfg['ch5x5']} from "
            f"the three convs and {x.shape[1]} from the pool branch. Does every branch run on "
            "the module's input x, and does each appear once?",
        )
    if out.dim() == 4 and tuple(out.shape[:2]) == tuple(want.shape[:2]):
        require(
            out.shape[2:] == x.shape[2:],
            f"the output has a {out.shape[2]}x{out.shape[3]} grid, but the input is "
            f"{x.shape[2]}x{x.shape[3]}: the module must keep the input's height and width "
            "(every branch has stride 1 and 'same' padding)",
        )
    require(
        tuple(out.shape) == tuple(want.shape),
        f"for an input of shape {tuple(x.shape)} the output should have shape "
        f"{tuple(want.shape)}, got {tuple(out.shape)}. Concatenate along the channel axis: "
        "in (N, C, H, W) that is dim=1",
    )


def _diagnose_branches(out: torch.Tensor, convs: list, pooled: torch.Tensor) -> None:
    """Name the first wrong part of an output of the right shape (always raises)."""
    parts = [torch.relu(c) for c in convs] + [pooled]
    widths = [p.shape[1] for p in parts]
    for order in list(itertools.permutations(range(4)))[1:]:  # every order but the right one
        require(
            not torch.allclose(out, torch.cat([parts[i] for i in order], dim=1), atol=1e-5),
            "all four branches are there but in another order: concatenate them in the order "
            "of `blocks.NaiveInception.branches`",
        )
    for i, (got, part) in enumerate(zip(torch.split(out, widths, dim=1), parts, strict=True)):
        if torch.allclose(got, part, atol=1e-5):
            continue
        if i < 3:
            require(
                not torch.allclose(got, convs[i], atol=1e-5),
                f"the {_NAMES[i]} branch is missing its ReLU: every conv output goes through one",
            )
        else:
            require(
                not torch.allclose(got, torch.relu(pooled), atol=1e-5),
                "the pool branch has no ReLU in blocks.NaiveInception: return the pooled input "
                "as it is",
            )
        start = sum(widths[:i])
        require(
            False,
            f"channels {start}..{start + widths[i] - 1} of the output should be the {_NAMES[i]} "
            f"branch applied to x; check that this branch runs on the module's input (use "
            f"self.{_LAYERS[i]}(x)).",
        )
    require(False, "the output differs from blocks.NaiveInception; compare it branch by branch")


# GoogLeNet's inception 3b and 3a (Szegedy et al. 2014, Table 1), then edge cases: widths of 1,
# and small odd widths.
_COUNT_CASES = (
    {"in_ch": 256, "ch1x1": 128, "ch3x3": 192, "ch5x5": 96},
    {"in_ch": 192, "ch1x1": 64, "ch3x3": 128, "ch5x5": 32},
    {"in_ch": 1, "ch1x1": 1, "ch3x3": 1, "ch5x5": 1},
    {"in_ch": 3, "ch1x1": 7, "ch3x3": 2, "ch5x5": 5},
)
_NO_BUILDING = Forbidden(
    "the counts",
    targets=(
        (blocks.NaiveInception, "__init__"),
        (blocks.ConvBNAct, "__init__"),
        (nn.Conv2d, "__init__"),
        (nn.LazyConv2d, "__init__"),
        *counting_tools(),  # any conv (Conv3d as a 1 x k x k one too), parameters(), profile
    ),
    advice="count each conv's weights and biases from its shape, without building it",
)


def naive_counts(count_naive: Callable[[int, int, int, int], tuple[int, int]]) -> None:
    """Lesson 01, Exercise 2: a hand formula of a naive module's output channels and parameters.

    `count_naive(in_ch, ch1x1, ch3x3, ch5x5)` returns `(out_channels, n_params)` of
    `blocks.NaiveInception(in_ch, ch1x1, ch3x3, ch5x5)`, weights and biases, computed from the
    widths (building layers or calling `profile` raises a hint while it runs). It is compared
    with a real module counted with `p.numel()` for inception 3b and 3a, widths of 1, small odd
    widths, and widths drawn at random (so that answers typed in for the listed cases fail).
    """
    rng = torch.Generator().manual_seed(unseen_seed())
    drawn = dict(
        zip(
            ("in_ch", "ch1x1", "ch3x3", "ch5x5"),
            map(int, torch.randint(1, 600, (4,), generator=rng)),
            strict=True,
        )
    )
    answers = []
    for i, cfg in enumerate((*_COUNT_CASES, drawn)):
        where = f" (for NaiveInception({_args(cfg)}))"
        got = call_learner(
            count_naive, *cfg.values(), hint="count_naive failed" + where, forbidden=_NO_BUILDING
        )
        require(
            isinstance(got, tuple | list) and len(got) == 2,
            f"count_naive should return two numbers, (out_channels, n_params); got {got!r}",
        )
        out_channels, n_params = got
        for name, value in (("out_channels", out_channels), ("n_params", n_params)):
            require(
                is_int(value), f"{name} should be a whole number (an int), got {value!r}" + where
            )
        if i == 1:
            require(
                (out_channels, n_params) != answers[0],
                "count_naive returns the same numbers for inception 3a as for inception 3b: "
                "compute them from the widths it is given, not typed-in values",
            )
        module = blocks.NaiveInception(**cfg)
        want = (module.out_ch, sum(p.numel() for p in module.parameters()))
        if (out_channels, n_params) != want and i == len(_COUNT_CASES):
            require(
                False,
                "count_naive is right for the widths listed in the check but not for "
                f"NaiveInception({_args(cfg)}), drawn at random: compute from the widths, do not "
                "look answers up",
            )
        _diagnose_counts(out_channels, n_params, want, cfg, where)
        answers.append((out_channels, n_params))
    out_channels, n_params = answers[0]
    module = blocks.NaiveInception(**_COUNT_CASES[0])
    in_5x5 = sum(p.numel() for p in module.branches["branch5x5"].parameters())
    passed(
        f"inception 3b's widths give {out_channels} output channels and {n_params:,} parameters, "
        f"{100 * in_5x5 / n_params:.0f}% of them in the 5x5 branch alone; right for 3a, edge "
        "cases and random widths too."
    )


def _diagnose_counts(out_channels: int, n_params: int, want: tuple, cfg: dict, where: str) -> None:
    """Name the typical mistake behind a wrong count (raises when a count is wrong)."""
    in_ch = cfg["in_ch"]
    convs = {1: cfg["ch1x1"], 3: cfg["ch3x3"], 5: cfg["ch5x5"]}
    require(
        out_channels != sum(convs.values()) or want[0] == out_channels,
        "you added up the three conv branches; the pool branch also feeds the concatenation, "
        "and pooling keeps every input channel" + where,
    )
    require(
        out_channels == want[0],
        "the output width is the sum of the widths of all four branches; what width does "
        "a 3x3 max pool (stride 1) output for an in_ch-channel input?" + where,
    )
    if n_params == want[1]:
        return
    require(
        n_params != sum(k * k * in_ch * c for k, c in convs.items()),
        "you counted the weights; these convs also have a bias (no BatchNorm here): "
        "one per output channel" + where,
    )
    require(
        n_params != sum(k * in_ch * c + c for k, c in convs.items()),
        "a k x k filter has k*k weights per input channel, not k" + where,
    )
    require(
        n_params != sum((k * k + 1) * c for k, c in convs.items()),
        "each filter spans every input channel: multiply its k*k weights by in_ch" + where,
    )
    require(
        n_params != sum((k * k * in_ch + 1) * c for k, c in convs.items()) + 9 * in_ch,
        "the max pool has no parameters: it only takes the largest value of each window" + where,
    )
    require(
        False,
        f"out_channels is right; the parameter count is not ({n_params:,}). Count conv by conv: "
        "each output channel owns one k x k filter over all input channels plus one bias; the "
        "max pool has no parameters" + where,
    )
