"""Lesson 04 checks: factorized convolutions and efficient grid reduction (Inception v3).

Exercise 1 replaces a 7x7 conv by a 1x7 and a 7x1 conv in series; exercise 2 writes a
grid-reduction module that halves the grid with stride-2 conv branches side by side with a
stride-2 pool (v3 paper, Szegedy et al. 2015, section 5 and Figure 10) under a MAC budget. Both
are checked by running the learner's module and looking at its structure as it runs: which
convolutions run (at the operator level, so a functional conv counts too), which input pixels
one output pixel depends on (all 49 of its 7x7 window, no more), which layers run on what, and
whether every branch reaches the output. The course's own multi-branch blocks raise a hint
while the learner's code runs, and exercise 2's class is built again from `in_ch` under that ban
(a block that builds a `blocks.GridReduction` in `__init__` and keeps only its branches is
refused), and no layer of the block may belong to a course block built elsewhere.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from .. import blocks, profile
from ._common import (
    Forbidden,
    LibraryShortcut,
    call_learner,
    passed,
    private_rng,
    require,
    run_recording,
)

__all__ = ["factorized_7x7", "grid_reduction"]

_COURSE_BLOCKS = Forbidden(
    "the module",
    targets=(
        (blocks.MultiBranch, "__init__"),
        (blocks.MultiBranch, "forward"),
        (blocks, "reduction_a"),
    ),
    advice="build it from blocks.ConvBNAct (and nn.MaxPool2d) and write how its layers connect",
)


@contextlib.contextmanager
def _recording_convs() -> Iterator[list[tuple[int, ...]]]:
    """Within the block, the weight shape of every convolution that runs, however it is called
    (nn.Conv2d, F.conv2d, torch.ops.aten...): a dispatch mode sees the operator itself."""
    from torch.utils._python_dispatch import TorchDispatchMode

    shapes: list[tuple[int, ...]] = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            if "convolution" in func._schema.name and "backward" not in func._schema.name:
                shapes.append(tuple(args[1].shape))
            return func(*args, **(kwargs or {}))

    with Record():
        yield shapes


def _window(module: nn.Module, in_ch: int, size: int, pos: tuple[int, int]) -> torch.Tensor:
    """Which input pixels output pixel `pos` of `module` depends on: a (size, size) bool map.

    Works on a copy with random positive conv weights (no zero tap can hide a pixel) and BN
    layers that are identities in eval mode, on a positive input, so every ReLU passes and the
    input gradient is non-zero exactly where the output pixel looks.
    """
    probe = copy.deepcopy(module).eval()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
                m.reset_running_stats()
    x = (torch.rand(1, in_ch, size, size, generator=g) + 0.5).requires_grad_(True)
    with _COURSE_BLOCKS.active():
        y = probe(x)
    y[0, :, pos[0], pos[1]].sum().backward()
    return x.grad[0].abs().sum(0) > 0


def _square(size: int, pos: tuple[int, int], k: int = 7) -> torch.Tensor:
    """The k x k window centred on `pos`, clipped at the borders (what "same" padding gives)."""
    rows = (torch.arange(size) - pos[0]).abs() <= k // 2
    cols = (torch.arange(size) - pos[1]).abs() <= k // 2
    return rows[:, None] & cols[None, :]


def _describe_window(seen: torch.Tensor, pos: tuple[int, int]) -> str:
    rows, cols = seen.nonzero(as_tuple=True)
    if len(rows) == 0:
        return "no pixel at all"
    box = f"rows {int(rows.min())}..{int(rows.max())}, columns {int(cols.min())}..{int(cols.max())}"
    return f"{int(seen.sum())} pixels ({box})"


def _check_pair(pair: Any, in_ch: int, out_ch: int) -> None:
    """One factorized pair: its convs, its output shape, its window and its weight count."""
    where = f" (make_pair({in_ch}, {out_ch}))"
    require(
        isinstance(pair, nn.Module),
        f"make_pair should return a module (e.g. nn.Sequential), got {type(pair).__name__}",
    )
    convs = [m for m in pair.modules() if isinstance(m, nn.Conv2d)]
    kernels = sorted(tuple(c.kernel_size) for c in convs)
    require(
        kernels != [(7, 7)],
        "that is the unfactorized 7x7 conv; replace it by two thin convs, one kernel one "
        "pixel high and one kernel one pixel wide" + where,
    )
    require(
        kernels == [(1, 7), (7, 1)],
        "the pair needs exactly two convs, one with kernel_size=(1, 7) and one with "
        f"kernel_size=(7, 1); found kernels {kernels}" + where,
    )
    require(
        sum(isinstance(m, blocks.ConvBNAct) for m in pair.modules()) == 2,
        "build each conv with blocks.ConvBNAct so that BN and a ReLU follow each of them "
        "(the extra nonlinearity comes for free with the factorization)" + where,
    )
    with torch.no_grad(), _recording_convs() as ran:
        y = call_learner(
            pair.eval(),
            torch.randn(2, in_ch, 20, 20),
            forbidden=_COURSE_BLOCKS,
            hint="the pair failed on an input of shape (2, in_ch, 20, 20); the first conv takes "
            f"in_ch channels and the second takes what the first one outputs{where}",
        )
    require(
        isinstance(y, torch.Tensor) and y.dim() == 4,
        f"the pair should return a tensor (N, out_ch, H, W), got {type(y).__name__}" + where,
    )
    require(
        y.shape[1] == out_ch,
        f"the pair should output out_ch = {out_ch} channels, got {y.shape[1]}" + where,
    )
    require(
        tuple(y.shape[2:]) == (20, 20),
        "the grid size changed: keep the default padding='same' (and stride 1) so that "
        f"20x20 stays 20x20; got {tuple(y.shape[2:])}" + where,
    )
    ran_kernels = sorted(s[2:] for s in ran)
    require(
        ran_kernels == [(1, 7), (7, 1)],
        f"your pair's forward runs convolutions with kernels {ran_kernels}; it should run "
        "exactly two, its (1, 7) and its (7, 1) conv, each once" + where,
    )
    for pos in ((10, 10), (2, 17)):  # the centre, and a pixel near two borders
        seen = _window(pair, in_ch, 21, pos)
        want = _square(21, pos)
        if torch.equal(seen, want):
            continue
        cross = (torch.arange(21)[:, None] == pos[0]) | (torch.arange(21)[None, :] == pos[1])
        require(
            not torch.equal(seen, want & cross),
            f"output pixel {pos} sees a cross of {int(seen.sum())} pixels, one row and one "
            "column of its 7x7 window, not the whole window: the two convs run side by side on "
            "the input. Run the second conv on the FIRST conv's output (in series), so that the "
            "7x1 conv gathers seven of the 1x7 conv's rows" + where,
        )
        require(
            False,
            f"output pixel {pos} should depend on exactly the 7x7 window centred on it (clipped "
            f"at the borders, {int(want.sum())} pixels); it depends on "
            f"{_describe_window(seen, pos)}. Keep the convs' 'same' padding" + where,
        )
    weights = sum(torch.Size(s).numel() for s in ran)
    require(
        weights < 49 * in_ch * out_ch,
        f"the pair has {weights:,} conv weights, not fewer than one 7x7 conv "
        f"({49 * in_ch * out_ch:,}): keep the middle width at most max(in_ch, out_ch)" + where,
    )


@private_rng(seed=0)
def factorized_7x7(make_pair: Callable[[int, int], nn.Module]) -> None:
    """Lesson 04, Exercise 1: a 7x7 conv factorized into a 1x7 and a 7x1 `ConvBNAct`.

    `make_pair(in_ch, out_ch)` returns a module mapping (N, in_ch, H, W) -> (N, out_ch, H, W)
    made of two `blocks.ConvBNAct` with kernels (1, 7) and (7, 1), in series, in either order.
    The check measures the output shape, the convolutions that actually run (exactly those
    two), the window of an output pixel at the centre and near the borders (all 49 pixels of
    its 7x7 window and no other, measured with random weights) and the weight count (below the
    49 * in_ch * out_ch of one 7x7 conv). The course's multi-branch blocks raise a hint.
    """
    for in_ch, out_ch in ((8, 16), (12, 12), (3, 1)):
        pair = call_learner(
            make_pair,
            in_ch,
            out_ch,
            forbidden=_COURSE_BLOCKS,
            hint=f"make_pair({in_ch}, {out_ch}) failed",
        )
        _check_pair(pair, in_ch, out_ch)
    c = 192
    pair = call_learner(make_pair, c, c, forbidden=_COURSE_BLOCKS, hint=f"make_pair({c}, {c})")
    weights = sum(m.weight.numel() for m in pair.modules() if isinstance(m, nn.Conv2d))
    passed(
        f"all 49 pixels of the 7x7 window, same output shape; for {c} -> {c} channels the pair has "
        f"{weights:,} conv weights instead of {49 * c * c:,} ({1 - weights / (49 * c * c):.0%} "
        "fewer)."
    )


# --------------------------------------------------------------------------- exercise 2
def _strided(module: nn.Module) -> bool:
    stride = module.stride if module.stride is not None else module.kernel_size
    return stride in (2, (2, 2))


def _reduction_layers(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list, list]:
    """The block's output on x, and (layer, input, output) of every stride-2 pool and of every
    stride-2 conv that ran, in the order they ran."""

    def is_pool(m: nn.Module) -> bool:
        return isinstance(m, nn.MaxPool2d | nn.AvgPool2d) and _strided(m)

    def is_conv(m: nn.Module) -> bool:
        return isinstance(m, nn.Conv2d) and m.stride == (2, 2)

    with _COURSE_BLOCKS.active():
        y, ran = run_recording(block, x, lambda m: is_pool(m) or is_conv(m))
    pools = [(layer, inp, out) for layer, inp, out in ran if is_pool(layer)]
    return y, pools, [(layer, inp, out) for layer, inp, out in ran if is_conv(layer)]


def _channels_of(y: torch.Tensor, part: torch.Tensor) -> list[int]:
    """The output channels at which `part` (N, c, H, W) stands unchanged, as c consecutive
    channels of y; [] when it does not."""
    if part.shape[0] != y.shape[0] or part.shape[2:] != y.shape[2:]:
        return []
    c = part.shape[1]
    for i in range(y.shape[1] - c + 1):
        if torch.equal(y[:, i : i + c], part):
            return list(range(i, i + c))
    return []


def _check_in_parallel(
    block: nn.Module, y: torch.Tensor, x: torch.Tensor, pools: list, convs: list
) -> list[int]:
    """The pool and the strided convs run side by side on x, and the pooled map is in y once.
    Returns the output channels that hold the pooled map."""
    size = f"{x.shape[2]}x{x.shape[3]}"
    require(
        bool(pools),
        "your block's forward never runs a stride-2 pool (an nn.MaxPool2d or nn.AvgPool2d "
        "module): halve the grid with a pool branch side by side with the conv branches",
    )
    on_input = [out for _, inp, out in pools if inp.shape == x.shape and torch.equal(inp, x)]
    require(
        bool(on_input),
        f"the stride-2 pool should run on the block's own {size} input, as one branch among "
        "the others, not after another layer",
    )
    placed = [_channels_of(y, out) for out in on_input]
    require(
        any(placed),
        "the pooled map should reach the output as it is, concatenated with the conv "
        "branches' outputs, not fed into a conv after it (in series the pool first throws "
        "information away: the representational bottleneck of the v3 paper)",
    )
    require(
        any(inp.shape[2:] == x.shape[2:] for _, inp, _ in convs)
        and not _convs_read_the_pool(block, x),
        f"the conv branches should halve the grid themselves: a stride-2 conv that runs on the "
        f"{size} input grid, side by side with the pool, rather than convolving at full size "
        "and pooling after, or convolving the pooled map",
    )
    for layer, _, _ in convs:
        kh, kw = layer.kernel_size
        require(
            kh >= 2 and kw >= 2,
            f"a {kh}x{kw} conv with stride 2 reads only a quarter of the input pixels and skips "
            "the rest: give the strided conv a window at least as large as its stride (v3 uses "
            "3x3/2)",
        )
    return next(p for p in placed if p)


def _convs_read_the_pool(block: nn.Module, x: torch.Tensor) -> bool:
    """True when a stride-2 conv's input changes if the stride-2 pools' outputs change: the
    conv branch then runs after the pool (in series), whatever shapes it pads to."""

    def strided_inputs(shift: float) -> list[torch.Tensor]:
        inputs: list[torch.Tensor] = []
        hooks = []
        for m in block.modules():
            if isinstance(m, nn.MaxPool2d | nn.AvgPool2d) and _strided(m):
                hooks.append(m.register_forward_hook(lambda mod, args, out: out + shift))
            elif isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                hooks.append(m.register_forward_pre_hook(lambda mod, args: inputs.append(args[0])))
        try:
            with torch.no_grad(), _COURSE_BLOCKS.active():
                block.eval()(x)
        finally:
            for h in hooks:
                h.remove()
        return inputs

    plain, shifted = strided_inputs(0.0), strided_inputs(1.0)
    return len(plain) != len(shifted) or any(
        not torch.equal(a, b) for a, b in zip(plain, shifted, strict=True)
    )


def _check_every_channel_informs(block: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """No output channel is a copy of another, and every strided conv reaches the output."""
    flat = y.transpose(0, 1).reshape(y.shape[1], -1)
    same = (flat[:, None, :] == flat[None, :, :]).all(-1) & ~torch.eye(len(flat), dtype=torch.bool)
    if same.any():
        i, j = (int(v) for v in same.nonzero()[0])
        require(
            False,
            f"output channels {i} and {j} are identical: a branch (or the pooled map) is "
            "concatenated twice. A copy adds width but no information; every channel must be "
            "computed once",
        )
    probe = copy.deepcopy(block).eval()
    strided = [m for m in probe.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    with _COURSE_BLOCKS.active():
        out = probe(x)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    if out.requires_grad:  # else nothing learnable reaches the output at all
        (out * weight).sum().backward()
    for conv in strided:
        require(
            conv.weight.grad is not None and bool(conv.weight.grad.abs().sum() > 0),
            "a stride-2 conv runs but its result never reaches the block's output (it is "
            "dropped, zeroed or detached): every branch must feed the concatenation",
        )


def _rebuild_under_the_ban(block: nn.Module, in_ch: int) -> None:
    """Build the learner's class again as the exercise names it, `GridReduce(in_ch)`, with the
    course's multi-branch blocks forbidden. A class whose `__init__` builds a
    `blocks.GridReduction` (or any `blocks.MultiBranch`) and keeps only its branches raises
    `LibraryShortcut` here; a class that cannot be built from `in_ch` alone, or fails to, is
    left to the rest of the check, which judges the instance it was given."""
    cls = type(block)
    try:
        inspect.signature(cls).bind(in_ch)
    except (TypeError, ValueError):
        return
    try:
        call_learner(cls, in_ch, forbidden=_COURSE_BLOCKS, hint="building the class again failed")
    except LibraryShortcut:
        raise
    except AssertionError:
        return


def _borrowed_layers(block: nn.Module) -> str | None:
    """A layer of `block` that also belongs to a live course block (a `blocks.MultiBranch`, such
    as a `blocks.GridReduction` built in another cell), described; None when there is none.
    Objects are tested by `type()`, which (unlike isinstance) reads no `__class__` attribute and
    so wakes no deprecated alias that would warn."""
    mine = {id(m): name for name, m in block.named_modules()}
    for obj in gc.get_objects():
        if not issubclass(type(obj), blocks.MultiBranch) or obj is block:
            continue
        for name, m in obj.named_modules():
            if name and id(m) in mine:
                where = f"its {mine[id(m)]}" if mine[id(m)] else "the block itself"
                return f"{where} is {name!r} of a blocks.{type(obj).__name__}"
    return None


@private_rng(seed=0)
def grid_reduction(
    block: nn.Module, in_shape: tuple[int, ...], min_out_ch: int, budget_macs: int
) -> None:
    """Lesson 04, Exercise 2: an efficient grid-reduction module under a MAC budget.

    `block` maps (N, C, H, W) of `in_shape` to (N, C', H/2, W/2) with C' >= `min_out_ch` (more
    channels than it reads: no representational bottleneck) at most `budget_macs` MACs per image
    (counted by `profile.count_macs`), the efficient way (v3 paper, Figure 10): a stride-2 pool
    on the block's input whose output is concatenated unchanged, once, side by side with conv
    branches whose stride-2 conv (a window of at least 2x2) runs on the full-size grid; every
    branch reaches the output and no channel is a copy of another. The check records which
    layers run on what, so a pool or conv declared but never called, run in series, or zeroed,
    does not pass; the course's own blocks (`blocks.GridReduction`) raise a hint, whether the
    block holds one, runs one, takes its layers from one built elsewhere, or builds one in its
    `__init__` (the class is built again from `in_ch` with them forbidden).
    """
    _, c_in, h_in, w_in = in_shape
    require(
        isinstance(block, nn.Module),
        f"block should be a module (an instance of your nn.Module class), got "
        f"{type(block).__name__}",
    )
    course = [type(m).__name__ for m in block.modules() if isinstance(m, blocks.MultiBranch)]
    require(
        not course,
        f"your block holds the course's blocks.{course[0] if course else ''}; this exercise asks "
        "you to write the module yourself: its branches in __init__, and in forward how they run "
        "side by side and join",
    )
    borrowed = _borrowed_layers(block)
    require(
        borrowed is None,
        f"your block's layers come from one of the course's blocks ({borrowed}); this exercise "
        "asks you to build the branches yourself from blocks.ConvBNAct and nn.MaxPool2d, in "
        "__init__, and in forward to run them side by side and join them",
    )
    _rebuild_under_the_ban(block, c_in)
    out_hw = (h_in // 2, w_in // 2)
    x = torch.randn(*in_shape)
    y, pools, convs = call_learner(
        _reduction_layers,
        block,
        x,
        forbidden=_COURSE_BLOCKS,
        check_helper=True,  # the check's own recording pass runs the module
        hint=f"the block failed on an input of shape {tuple(in_shape)}",
    )
    require(
        isinstance(y, torch.Tensor) and y.dim() == 4,
        f"the block should return one tensor (N, C, H, W), got {type(y).__name__}",
    )
    require(
        tuple(y.shape[2:]) == out_hw,
        f"the grid should go from {h_in}x{w_in} to {out_hw[0]}x{out_hw[1]}, it became "
        f"{y.shape[2]}x{y.shape[3]}: look at the padding of every stride-2 layer (padding 1 "
        "halves an even size with a 3x3 window); every branch, the pool included, must use "
        "the same one",
    )
    require(
        y.shape[1] > c_in,
        f"the block outputs {y.shape[1]} channels from {c_in}: as the grid halves the "
        "representation shrinks fourfold per channel; the output must be wider than the input "
        "(the v3 paper's rule against representational bottlenecks)",
    )
    require(
        y.shape[1] >= min_out_ch,
        f"the block outputs {y.shape[1]} channels; at least {min_out_ch} were asked for (the "
        f"pool branch brings the {c_in} input channels; the conv branches the rest)",
    )
    pooled = _check_in_parallel(block, y, x, pools, convs)
    _check_every_channel_informs(block, x, y)
    second = (1, c_in, h_in + 2 * (h_in // 4), w_in)  # another grid: the block is not sized to one
    with torch.no_grad(), _COURSE_BLOCKS.active():
        y2 = call_learner(block.eval(), torch.randn(*second), hint=f"the block failed on {second}")
    require(
        tuple(y2.shape[2:]) == (second[2] // 2, second[3] // 2),
        f"on a {second[2]}x{second[3]} input the grid should become {second[2] // 2}x"
        f"{second[3] // 2}, it became {tuple(y2.shape[2:])}",
    )
    macs = profile.count_macs(block, tuple(in_shape[1:]))
    require(
        macs <= budget_macs,
        f"the block costs {macs:,} MACs per image, {macs - budget_macs:,} over the budget of "
        f"{budget_macs:,}: run the expensive conv on fewer channels (a 1x1 reduction in front "
        "of it, lesson 2) or on the coarse grid only (stride 2 in the 3x3 conv itself)",
    )
    n_convs = len({id(layer) for layer, inp, _ in convs if inp.shape[2:] == x.shape[2:]})
    passed(
        f"{tuple(in_shape)} -> {tuple(y.shape)} for {macs:,} MACs ({macs / budget_macs:.0%} of "
        f"the budget): {n_convs} stride-2 conv(s) on the {h_in}x{w_in} grid in parallel with a "
        f"stride-2 pool whose {len(pooled)} channels are concatenated, every channel computed "
        "once."
    )
