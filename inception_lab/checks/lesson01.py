"""Lesson 01 checks: the naive Inception module.

Exercise 1 writes a naive module's forward pass (four branches side by side, concatenated along
the channels); exercise 2 predicts its output width and parameter count by hand. The reference
is `blocks.NaiveInception`, run on the same weights and input as the learner's module.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Iterator
from typing import Any

import torch

from .. import blocks
from ._common import call_learner, is_whole, passed, private_rng, require

# Distinct branch widths, so that a wrong concatenation order changes the channel layout.
_NAIVE_CFG = {"in_ch": 6, "ch1x1": 4, "ch3x3": 5, "ch5x5": 3}
_LAYERS = ("conv1x1", "conv3x3", "conv5x5", "pool")
_NAMES = ("1x1 conv", "3x3 conv", "5x5 conv", "max pool")


@private_rng(seed=0)
def naive_forward(module_class: type) -> None:
    """Check a learner's naive Inception module against `blocks.NaiveInception`.

    `module_class(in_ch, ch1x1, ch3x3, ch5x5)` must create `conv1x1`, `conv3x3`, `conv5x5`
    (nn.Conv2d with bias, "same" padding) and `pool`; its forward is the exercise. The check
    copies the reference weights into it and compares outputs on a random (2, 6, 9, 9) batch:
    (N, in_ch, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + in_ch, H, W).
    """
    cfg = _NAIVE_CFG
    ref = blocks.NaiveInception(**cfg).eval()
    x = torch.randn(2, cfg["in_ch"], 9, 9)
    mine = module_class(*cfg.values())
    for name in _LAYERS:
        require(hasattr(mine, name), f"keep the layers the given __init__ creates (.{name})")
    with torch.no_grad():
        for name in ("1x1", "3x3", "5x5"):
            conv = ref.branches[f"branch{name}"][0].conv
            _require_layer_shape(getattr(mine, f"conv{name}").weight, conv.weight, name)
            getattr(mine, f"conv{name}").weight.copy_(conv.weight)
            getattr(mine, f"conv{name}").bias.copy_(conv.bias)
        want = ref(x)
        # Each branch on its own, with and without the ReLU, to say *which* part is wrong.
        convs = [ref.branches[f"branch{n}"][0].conv(x) for n in ("1x1", "3x3", "5x5")]
        pooled = ref.branches["branch_pool"](x)
        with _recording_joins() as joins:
            try:
                out = call_learner(
                    mine,
                    x.clone(),
                    hint="your forward failed. Run each branch on x, then join the four outputs "
                    "along the channel axis (dim=1 of (N, C, H, W))",
                )
            except AssertionError:
                _diagnose_joins(joins, x)  # a more precise hint, if the joins show the mistake
                raise
    if not (isinstance(out, torch.Tensor) and out.shape == want.shape):
        _diagnose_joins(joins, x)
    _check_shape(out, want, x)
    if torch.allclose(out, want, atol=1e-5):
        passed(
            f"your module matches blocks.NaiveInception: {cfg['in_ch']} channels in, "
            f"{out.shape[1]} out, the spatial size kept by every branch."
        )
        return
    _diagnose_branches(out, convs, pooled)


def _require_layer_shape(mine: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    require(
        tuple(mine.shape) == tuple(ref.shape),
        f"self.conv{name} has weights of shape {tuple(mine.shape)}, expected {tuple(ref.shape)}: "
        "keep the layers the given __init__ creates",
    )


# The widths of the check's branches are distinct, so a tensor's channel count names its branch.
_BRANCH_OF_WIDTH = {
    _NAIVE_CFG["ch1x1"]: "1x1 conv",
    _NAIVE_CFG["ch3x3"]: "3x3 conv",
    _NAIVE_CFG["ch5x5"]: "5x5 conv",
    _NAIVE_CFG["in_ch"]: "max pool",
}
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


def _diagnose_joins(joins: list, x: torch.Tensor) -> None:
    """Raise a hint when a recorded join shows the mistake: a branch output on another grid
    than the input's, torch.stack, or a join along another axis than the channels."""
    grid = tuple(x.shape[2:])
    for name, shapes, dim in joins:
        for shape in shapes:
            if len(shape) == 4 and shape[0] == x.shape[0] and tuple(shape[2:]) != grid:
                branch = _BRANCH_OF_WIDTH.get(shape[1])
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


def _check_shape(out: Any, want: torch.Tensor, x: torch.Tensor) -> None:
    require(
        isinstance(out, torch.Tensor),
        f"forward must return a tensor, it returned {type(out).__name__} (a missing `return`?)",
    )
    if out.dim() == 4 and out.shape[0] == 2 and out.shape[2:] == x.shape[2:]:
        require(
            out.shape[1] != want.shape[1] - x.shape[1],
            "the output is missing the pool branch: the max-pooled input is concatenated too",
        )
    if out.dim() == 4 and out.shape[0] == 2 and out.shape[2:] == x.shape[2:]:
        require(
            out.shape[1] == want.shape[1],
            f"the output has {out.shape[1]} channels, it should have {want.shape[1]}: "
            f"{_NAIVE_CFG['ch1x1']} + {_NAIVE_CFG['ch3x3']} + {_NAIVE_CFG['ch5x5']} from the three "
            f"convs and {x.shape[1]} from the pool branch. Does every branch run on the module's "
            "input x, and does each appear once?",
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


def naive_counts(
    out_channels: int, n_params: int, *, in_ch: int, ch1x1: int, ch3x3: int, ch5x5: int
) -> None:
    """Check a hand count of a naive module's output channels and parameters (weights + biases).

    The expected values are counted on a real `blocks.NaiveInception` (sum of `p.numel()`).
    """
    for name, value in (("out_channels", out_channels), ("n_params", n_params)):
        require(is_whole(value), f"{name} should be a whole number (an int), got {value!r}")
    module = blocks.NaiveInception(in_ch, ch1x1, ch3x3, ch5x5)
    want_params = sum(p.numel() for p in module.parameters())
    convs = {1: ch1x1, 3: ch3x3, 5: ch5x5}
    require(
        out_channels != ch1x1 + ch3x3 + ch5x5,
        "you added up the three conv branches; the pool branch also feeds the concatenation, "
        "and pooling keeps every input channel",
    )
    require(
        out_channels == module.out_ch,
        "the output width is the sum of the widths of all four branches; what width does "
        "a 3x3 max pool (stride 1) output for a 'in_ch'-channel input?",
    )
    require(
        n_params != sum(k * k * in_ch * c for k, c in convs.items()),
        "you counted the weights; these convs also have a bias (no BatchNorm here): "
        "one per output channel",
    )
    require(
        n_params != sum(k * in_ch * c + c for k, c in convs.items()),
        "a k x k filter has k*k weights per input channel, not k",
    )
    require(
        n_params != sum((k * k + 1) * c for k, c in convs.items()),
        "each filter spans every input channel: multiply its k*k weights by in_ch",
    )
    require(
        n_params == want_params,
        f"out_channels is right; the parameter count is not ({n_params:,}). Count conv by conv: "
        "each output channel owns one k x k filter over all input channels plus one bias; the "
        "max pool has no parameters",
    )
    in_5x5 = sum(p.numel() for p in module.branches["branch5x5"].parameters())
    passed(
        f"{out_channels} output channels and {n_params:,} parameters, "
        f"{100 * in_5x5 / n_params:.0f}% of them in the 5x5 branch alone."
    )
