"""Lesson 03 checks: GoogLeNet's auxiliary classifiers and what its pooled head saves.

Exercise 1 builds the two auxiliary heads of the paper's GoogLeNet from torch.nn layers and its
weighted training loss; the course's own heads (`blocks.AuxClassifier`) and training loss
(`train.training_loss`) raise a hint. Exercise 2 counts what a fully connected head on the last
feature map would cost against the paper's global-average-pooled head, parameters and MACs,
without building a layer or running the counter. References: the paper's description of the
auxiliary head (Szegedy et al. 2014, section 5), `torch.nn.functional.cross_entropy` head by
head, and real `nn.Linear` heads counted with `profile` after the learner's code has run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .. import blocks, profile, train
from .._validate import is_int, pair
from ._common import (
    Forbidden,
    call_learner,
    counting_tools,
    passed,
    private_rng,
    require,
    unseen_seed,
)

__all__ = ["auxiliary_training", "head_costs"]

_AUX_WEIGHT = 0.3  # the paper's weight of each auxiliary loss
# The auxiliary head of the GoogLeNet paper (section 5), as the layers a forward pass runs:
# (layer type, what must hold, the hint when it does not).
_PAPER_AUX_HEAD = (
    (nn.AvgPool2d,
     lambda m: pair("kernel", m.kernel_size) == (5, 5) and pair("stride", m.stride) == (3, 3),
     "it starts with the paper's average pooling: a fixed 5x5 window with stride 3"),
    (nn.Conv2d, lambda m: pair("kernel", m.kernel_size) == (1, 1) and m.out_channels == 128,
     "after the pooling, a 1x1 convolution reduces the channels to the paper's width (128)"),
    (nn.Linear, lambda m: m.out_features == 1024,
     "then a fully connected layer as wide as the paper's (1024 units)"),
    (nn.Dropout, lambda m: m.p == 0.7,
     "the paper drops a large share of that layer's outputs during training: dropout 0.7"),
    (nn.Linear, lambda m: m.out_features == 1000,
     "a last linear layer gives one score per ImageNet class"),
)  # fmt: skip


_HEAD_LAYERS = (
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.MaxPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Conv2d,
    nn.Linear,
    nn.Dropout,
    # normalization layers are not in the paper's head (torchvision's adds batch norm)
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
    nn.GroupNorm,
)


# Elementwise nonlinearities other than the ReLU, as ATen names them (an in-place variant ends
# in "_"): a head that runs one of them is not the paper's, however it calls it.
_OTHER_ACTIVATIONS = frozenset(
    "sigmoid tanh gelu silu mish elu celu selu leaky_relu rrelu_with_noise _prelu_kernel "
    "softplus log_sigmoid_forward hardtanh hardsigmoid hardswish softshrink hardshrink glu "
    "_softmax _log_softmax".split()
)


def _is_zero(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == 0


def _activation(op: str, args: tuple) -> str | None:
    """The name "relu" for a ReLU however it is written (nn.ReLU, F.relu, torch.relu, in place
    or not, clamp(min=0), threshold(0, 0)), the ATen name of any other nonlinearity, else None."""
    base = op.removesuffix("_")
    if base == "relu":
        return "relu"
    if base == "clamp_min" and len(args) > 1 and _is_zero(args[1]):
        return "relu"
    if base == "clamp" and len(args) > 1 and _is_zero(args[1]):
        if len(args) < 3 or args[2] is None:
            return "relu"
    if base == "threshold" and len(args) > 2 and _is_zero(args[1]) and _is_zero(args[2]):
        return "relu"
    return base if base in _OTHER_ACTIVATIONS else None


def _layers_run(
    head: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[nn.Module], Any, list[tuple[str, int]]]:
    """The head's output on x (eval mode, no gradients); the pool, conv, linear and dropout layers
    it ran, in order; the output of the last of them; and the activations it ran, each as
    (name, how many of those layers had finished when it ran), seen as ATen operators."""
    from torch.utils._python_dispatch import TorchDispatchMode

    ran: list[tuple[nn.Module, Any]] = []
    activations: list[tuple[str, int]] = []

    class Activations(TorchDispatchMode):
        def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
            name = _activation(func._schema.name.split("::")[-1], args)
            if name is not None:
                activations.append((name, len(ran)))
            return func(*args, **(kwargs or {}))

    handles = [
        m.register_forward_hook(lambda mod, args, out: ran.append((mod, out)))
        for m in head.modules()
        if isinstance(m, _HEAD_LAYERS)
    ]
    try:
        with torch.no_grad(), Activations():
            out = head.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return out, [layer for layer, _ in ran], ran[-1][1] if ran else None, activations


def _nonlinearity_gap(head: nn.Module, shape: tuple[int, ...]) -> float:
    """|f(a) + f(b) - f(0) - f(a + b)|, largest entry, relative to the largest |f(a)|, |f(b)|,
    |f(a + b)|, for the head f in eval mode and random inputs a, b: zero, up to float rounding,
    when f is affine (no nonlinearity between its layers)."""
    a, b = torch.randn(shape), torch.randn(shape)
    with torch.no_grad():
        fa, fb, f0, fab = (head.eval()(x) for x in (a, b, torch.zeros(shape), a + b))
    scale = max(t.abs().max().item() for t in (fa, fb, fab))
    return (fa + fb - f0 - fab).abs().max().item() / scale if scale > 0 else 0.0


# Where an activation runs, by how many of the head's five layers have finished: the paper's
# ReLUs run after the 1x1 conv (2) and after the 1024-unit FC layer (3, or 4 after the dropout,
# which in eval mode changes nothing).
_RELU_AFTER_CONV, _RELU_AFTER_FC = {2}, {3, 4}
_WHERE = {
    0: "before the average pooling",
    1: "between the pooling and the 1x1 convolution",
    5: "after the last linear layer",
}
_AFFINE_TOLERANCE = 1e-3  # an affine head: ~1e-6 in float32; the paper's head: ~0.3


# The course's heads, however they are held (even out of sight of `.modules()`), raise while the
# learner's head runs.
_COURSE_HEADS = Forbidden(
    "the auxiliary head",
    targets=(
        (blocks.AuxClassifier, "forward"),
        (blocks.AuxClassifierV3, "forward"),
        (blocks._AuxHead, "pool_input"),
    ),
    advice="build it from torch.nn layers, as the paper's section 5 describes it",
)


def _check_aux_head(name: str, head: Any, in_ch: int, block: str) -> None:
    """The head maps (N, in_ch, 14, 14) -> (N, 1000) with the paper's layers, in order."""
    require(
        isinstance(head, nn.Module),
        f"{name} should be a module (e.g. an nn.Sequential of the paper's layers), "
        f"got {type(head).__name__}",
    )
    course = [type(m).__name__ for m in head.modules() if isinstance(m, blocks._AuxHead)]
    require(
        not course,
        f"{name} is (or holds) the course's own head, blocks.{course[0] if course else ''}; this "
        "exercise asks you to build it yourself from torch.nn layers, as the paper's section 5 "
        "describes it",
    )
    out, ran, last, activations = call_learner(
        _layers_run,
        head,
        torch.randn(2, in_ch, 14, 14),
        forbidden=_COURSE_HEADS,
        check_helper=True,  # the check's own recording pass runs the module
        hint=f"{name} failed on the output of inception {block} (shape (N, C, 14, 14) with C = "
        "the module's output width, the sum of its four branch widths in Table 1)",
    )
    require(
        isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 1000),
        f"{name} should map a batch of {block} feature maps to one score per ImageNet class, "
        f"shape (N, 1000); it returned {tuple(getattr(out, 'shape', ()))}",
    )
    for i, (kind, ok, hint) in enumerate(_PAPER_AUX_HEAD):
        layer = ran[i] if i < len(ran) else None
        require(
            isinstance(layer, kind) and ok(layer),
            f"{name} is not the paper's auxiliary head: {hint}. Layer {i + 1} that your head "
            f"runs is {_describe(layer)}",
        )
    require(
        len(ran) == len(_PAPER_AUX_HEAD),
        f"{name} runs more layers than the paper's head: {', '.join(map(_describe, ran))}",
    )
    require(
        isinstance(last, torch.Tensor) and torch.equal(out, last),
        f"{name} returns something other than what its last linear layer computes: the scores "
        "are the output of the head's last FC layer, as they come out of it",
    )
    require(
        ran[2].in_features == 128 * 4 * 4,
        f"{name}: the paper's 5x5/3 average pool (no padding) turns the 14x14 map into a 4x4 "
        "grid, and the first FC layer reads the 128 channels at each of its positions; yours "
        f"reads {ran[2].in_features} numbers",
    )
    _check_relus(name, head, in_ch, block, activations)


def _check_relus(
    name: str, head: nn.Module, in_ch: int, block: str, activations: list[tuple[str, int]]
) -> None:
    """The head's nonlinearities are the paper's: ReLUs after the 1x1 conv and after the
    1024-unit layer, nothing else, and the head is not affine in eval mode."""
    others = sorted({act for act, _ in activations if act != "relu"})
    require(
        not others,
        f"{name} runs {', '.join(others)}: the paper's head uses the ReLU (rectified linear "
        "unit) as its nonlinearity, nn.ReLU or F.relu",
    )
    gap = call_learner(
        _nonlinearity_gap,
        head,
        (2, in_ch, 14, 14),
        forbidden=_COURSE_HEADS,
        check_helper=True,  # the check's own test runs the module
        hint=f"{name} failed on the output of inception {block}",
    )
    require(
        gap > _AFFINE_TOLERANCE,
        f"{name} is linear in evaluation mode: for random inputs a and b, f(a) + f(b) - f(0) "
        "equals f(a + b), so its layers add up to a single affine map. The paper's head has a "
        "nonlinearity (a ReLU) after the 1x1 convolution and after the 1024-unit layer",
    )
    relus = {position for act, position in activations if act == "relu"}
    require(
        bool(relus & _RELU_AFTER_CONV),
        f"{name}: the paper applies a ReLU (nn.ReLU or F.relu) to the output of the 1x1 "
        "convolution, before the first FC layer; your head runs none there",
    )
    require(
        bool(relus & _RELU_AFTER_FC),
        f"{name}: the 1024-unit FC layer is followed by a ReLU too, before the last linear "
        "layer; your head runs none there",
    )
    extra = sorted(relus - _RELU_AFTER_CONV - _RELU_AFTER_FC)
    require(
        not extra,
        f"{name} runs a ReLU {' and '.join(_WHERE[p] for p in extra)}, where the paper's head "
        "has none: its two ReLUs follow the 1x1 convolution and the 1024-unit layer",
    )


def _describe(layer: nn.Module | None) -> str:
    if layer is None:
        return "missing"
    from .. import profile

    return f"'{profile.describe_layer(layer)}'"


def _head_outputs(seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Three heads' logits (8, 10) and the labels; the cross-entropies are computed only after
    the learner's loss has returned (see `_cross_entropies`)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (8,), generator=g)
    heads = [torch.randn(8, 10, generator=g, requires_grad=True) for _ in range(3)]
    return heads, labels


def _cross_entropies(heads: list[torch.Tensor], labels: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return [F.cross_entropy(h, labels) for h in heads]


_COURSE_LOSS = Forbidden(
    "the training loss",
    targets=(train,),
    advice="add up the heads' F.cross_entropy terms with their weights",
)


def _check_loss_value(got: Any, losses: list[torch.Tensor]) -> None:
    main, aux1, aux2 = losses
    require(
        isinstance(got, torch.Tensor) and got.dim() == 0,
        "loss_fn should return one scalar tensor (0-d), the sum of the weighted head losses; "
        f"got {type(got).__name__}"
        + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape") else ""),
    )
    require(
        got.requires_grad,
        "the loss must carry gradients back to the model: don't call .item(), .detach() or "
        "float() on it",
    )

    def near(x: torch.Tensor) -> bool:
        return abs(got.item() - x.item()) < 1e-5

    require(
        not near(main),
        "the auxiliary outputs are ignored: the training loss should also include the "
        "cross-entropy of each auxiliary head",
    )
    require(
        not near(main + aux1 + aux2),
        "all three heads count fully: the auxiliary losses are added with a small weight "
        "(the value the paper uses is in the text above)",
    )
    require(
        not near(_AUX_WEIGHT * (main + aux1 + aux2)),
        "only the auxiliary losses are down-weighted; the main head keeps weight 1",
    )
    require(
        not near(main + _AUX_WEIGHT * (aux1 + aux2) / 2),
        "each auxiliary head adds its own weighted term: sum them, don't average them",
    )
    require(
        near(main + _AUX_WEIGHT * (aux1 + aux2)),
        "each head's loss is the cross-entropy of its output; check the weight the paper gives "
        "the auxiliary ones (in the text above)",
    )


def _check_loss(loss_fn: Callable) -> None:
    hint = "loss_fn failed on a tuple (logits, aux1, aux2) of (8, 10) tensors"
    for seed in (3, unseen_seed()):  # a fixed batch, and one no one can know in advance
        heads, labels = _head_outputs(seed)
        got = call_learner(loss_fn, tuple(heads), labels, hint=hint, forbidden=_COURSE_LOSS)
        losses = _cross_entropies(heads, labels)
        _check_loss_value(got, losses)
    got.backward()
    require(
        heads[1].grad is not None and heads[2].grad is not None,
        "the loss must depend on the auxiliary outputs so that their gradients flow",
    )
    main, aux1, _ = losses
    one_aux = call_learner(loss_fn, (heads[0], heads[1]), labels, hint=hint, forbidden=_COURSE_LOSS)
    require(
        isinstance(one_aux, torch.Tensor)
        and abs(one_aux.item() - (main + _AUX_WEIGHT * aux1).item()) < 1e-5,
        "loop over all auxiliary outputs (everything after the first element of the tuple) "
        "instead of assuming exactly two: Inception v3 has a single auxiliary head",
    )
    eval_loss = call_learner(
        loss_fn,
        heads[0],
        labels,
        forbidden=_COURSE_LOSS,
        hint="in eval mode a model returns only the logits Tensor, not a tuple; handle that "
        "case too (isinstance(outputs, torch.Tensor))",
    )
    require(
        isinstance(eval_loss, torch.Tensor) and abs(eval_loss.item() - main.item()) < 1e-5,
        "for a plain logits Tensor (eval mode) the loss is just the cross-entropy of the logits",
    )


@private_rng(seed=0)
def auxiliary_training(aux_4a: nn.Module, aux_4d: nn.Module, loss_fn: Callable) -> None:
    """Lesson 03, Exercise 1: GoogLeNet's two auxiliary heads and its weighted training loss.

    `aux_4a` / `aux_4d`: heads for the 14x14 outputs of inception 4a (512 channels) and 4d
    (528 channels) of the paper's GoogLeNet, (N, C, 14, 14) -> (N, 1000), built from torch.nn
    layers as the paper describes them: 5x5/3 average pool to a 4x4 grid, 1x1 conv to 128 +
    ReLU, FC 2048 -> 1024 + ReLU, dropout 0.7, FC, the scores being what the last FC outputs.
    The ReLUs are seen as the operators the head runs (nn.ReLU, F.relu, clamp(min=0), in place
    or not), placed after the conv and after the first FC; any other nonlinearity (sigmoid,
    tanh, ...) is refused, and so is a head that is affine in eval mode (f(a) + f(b) - f(0) =
    f(a + b) for random a, b). The course's heads (`blocks.AuxClassifier`) are refused, held or
    run. `loss_fn(outputs, labels)`: for a training-mode tuple `(logits, aux1, ...)` the main
    cross-entropy plus 0.3 x each auxiliary one; for a plain logits Tensor (what a model returns
    in eval mode) the cross-entropy of the logits. The course's `train` functions
    (`train.training_loss`) raise a hint while `loss_fn` runs.
    """
    for name, head, in_ch, block in (("aux_4a", aux_4a, 512, "4a"), ("aux_4d", aux_4d, 528, "4d")):
        _check_aux_head(name, head, in_ch, block)
    _check_loss(loss_fn)
    passed(
        "the heads are the paper's (5x5/3 average pool, 1x1 conv 128 + ReLU, FC 1024 + ReLU, "
        "dropout 0.7, FC) on the 4a and 4d feature maps, and the loss is main + 0.3 x each "
        "auxiliary cross-entropy (and plain cross-entropy in eval mode)."
    )


# --------------------------------------------------------------------------- exercise 2
_NO_COUNTING = Forbidden(
    "the count",
    targets=(
        *counting_tools(),  # profile, FlopCounterMode and its formulas, torch.profiler, convs
        (nn.Linear, "__init__"),
        (nn.LazyLinear, "__init__"),
        (nn.Bilinear, "__init__"),
    ),
    advice="count from the sizes: how many numbers does the linear layer read, how many weights "
    "and biases does that take, and how many multiply-adds does one image cost?",
)
_HEAD_CASES = (  # (channels, height, width, classes)
    (1024, 7, 7, 1000),  # GoogLeNet's last map and ImageNet's classes
    (64, 4, 4, 10),  # a mini network
    (96, 3, 5, 7),  # a non-square map
    (1, 1, 1, 1),  # the edge: on a 1x1 map both heads are the same layer
)


def _counted_head(c: int, h: int, w: int, k: int, pooled: bool) -> tuple[int, int]:
    """(params, MACs per image) of a real head, counted by `profile` on the meta device."""
    with torch.device("meta"):
        layers = [nn.AdaptiveAvgPool2d(1)] if pooled else []
        head = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * (1 if pooled else h * w), k))
    return profile.count_params(head), profile.count_macs(head, (c, h, w))


def _head_cost(fn: Callable, name: str, case: tuple[int, ...]) -> tuple[int, int]:
    c, h, w, k = case
    where = f" (for a {c} x {h} x {w} map and {k} classes)"
    got = call_learner(fn, c, h, w, k, hint=f"{name} failed" + where, forbidden=_NO_COUNTING)
    require(
        isinstance(got, tuple | list) and len(got) == 2,
        f"{name} should return two numbers, (params, macs); got {got!r}" + where,
    )
    require(
        all(is_int(v) for v in got),
        f"{name} should return two ints (numbers of parameters and of MACs), got {got!r}" + where,
    )
    return tuple(got)


def _diagnose_fc(got: tuple[int, int], case: tuple[int, ...], where: str) -> None:
    c, h, w, k = case
    params, macs = got
    want_params, want_macs = _counted_head(c, h, w, k, pooled=False)
    require(
        params != c * h * w * k or params == want_params,
        "fc_head_cost counts the weights but not the biases: a Linear layer also has one bias "
        "per output" + where,
    )
    require(
        params != c * k + k or params == want_params,
        "fc_head_cost: without pooling, the FC layer is connected to every position of the "
        "h x w grid of every channel, not to one number per channel" + where,
    )
    require(
        params == want_params,
        "fc_head_cost: how many numbers does the FC layer see after flattening the map, and how "
        "many weights and biases does each output then own?" + where,
    )
    require(
        macs != params or macs == want_macs,
        "fc_head_cost: a bias is added, not multiplied: by convention (the papers, "
        "FlopCounterMode) MACs count the weights' multiply-adds only" + where,
    )
    require(
        macs == want_macs,
        "fc_head_cost: for one image, every weight of the FC layer is used once (it reads each "
        "number of the flattened map once per class)" + where,
    )


def _diagnose_gap(got: tuple[int, int], case: tuple[int, ...], where: str) -> None:
    c, h, w, k = case
    params, macs = got
    want_params, want_macs = _counted_head(c, h, w, k, pooled=True)
    require(
        params != c * k or params == want_params,
        "gap_head_cost counts the weights but not the biases of the Linear layer" + where,
    )
    require(
        params != c * h * w * k + k or params == want_params,
        "gap_head_cost: after global average pooling each channel is a single number, so the "
        "Linear layer no longer depends on the grid size" + where,
    )
    require(
        params == want_params,
        "gap_head_cost: pooling itself has no parameters; count the Linear layer that follows "
        "it (inputs: one number per channel)" + where,
    )
    require(
        macs != c * h * w + c * k or macs == want_macs,
        "gap_head_cost: averaging only adds (and divides once per channel): no multiply-adds; "
        "count the Linear layer's, as the course's counter does" + where,
    )
    require(
        macs == want_macs,
        "gap_head_cost: the Linear layer runs once per image, on one number per channel" + where,
    )


def head_costs(
    fc_head_cost: Callable[[int, int, int, int], tuple[int, int]],
    gap_head_cost: Callable[[int, int, int, int], tuple[int, int]],
) -> None:
    """Lesson 03, Exercise 2: what a fully connected head costs against GoogLeNet's pooled one.

    `fc_head_cost(channels, height, width, num_classes)` -> (params, MACs per image) of one
    Linear layer on the flattened (channels x height x width) map, weights and biases;
    `gap_head_cost(...)` the same for global average pooling followed by one Linear layer. MACs
    count multiply-adds as the course's counter does (weights only; the pool only adds). The
    reference counts real heads with `profile` after the learner's functions return; while they
    run, building a linear layer, counting parameters and the counter raise a hint. Cases:
    GoogLeNet's 7x7x1024 map, a mini network's, a non-square map, a 1x1 map, and one drawn at
    random (so that answers looked up for the listed maps fail).
    """
    g = torch.Generator().manual_seed(unseen_seed())
    c, k = (int(v) for v in torch.randint(1, 1200, (2,), generator=g))
    h, w = (int(v) for v in torch.randint(1, 10, (2,), generator=g))
    drawn = (c, h, w, k)
    first = None
    for i, case in enumerate((*_HEAD_CASES, drawn)):
        c, h, w, k = case
        where = f" (for a {c} x {h} x {w} map and {k} classes)"
        fc = _head_cost(fc_head_cost, "fc_head_cost", case)
        gap = _head_cost(gap_head_cost, "gap_head_cost", case)
        right = (fc, gap) == (
            _counted_head(c, h, w, k, pooled=False),
            _counted_head(c, h, w, k, pooled=True),
        )
        if right:
            first = first or (fc, gap)
            continue
        require(
            i != len(_HEAD_CASES),
            "your functions are right for the maps listed in the check but not"
            + where
            + ", drawn at random: compute from the sizes, do not look answers up",
        )
        require(
            i == 0 or (fc, gap) != first,
            "your functions return the same numbers" + where + " as for GoogLeNet's 7x7x1024 "
            "map: compute them from the sizes, not typed-in values",
        )
        _diagnose_fc(fc, case, where)
        _diagnose_gap(gap, case, where)
    (fc_params, fc_macs), (gap_params, gap_macs) = first
    c, h, w, k = _HEAD_CASES[0]
    passed(
        f"for GoogLeNet's {h}x{w}x{c} map and {k} classes, flatten + FC: {fc_params:,} "
        f"parameters and {fc_macs:,} MACs; GAP + FC: {gap_params:,} parameters and "
        f"{gap_macs:,} MACs ({fc_params / gap_params:.0f}x and {fc_macs / gap_macs:.0f}x fewer)."
    )
