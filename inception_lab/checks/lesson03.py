"""Lesson 03 checks: GoogLeNet's auxiliary classifiers and its classifier head.

Exercise 1 builds the two auxiliary heads of the paper's GoogLeNet and its weighted training
loss; exercise 2 counts the parameters of a flatten + FC head and of a global-average-pool + FC
head. References: the paper's description of the auxiliary head (Szegedy et al. 2014, section
5), `torch.nn.functional.cross_entropy` head by head, and real `nn.Linear` layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ._common import call_learner, is_whole, passed, private_rng, require, run_recording

AUX_WEIGHT = 0.3  # the paper's weight of each auxiliary loss
# The auxiliary head of the GoogLeNet paper (section 5), as the layers a forward pass runs:
# (layer type, what must hold, the hint when it does not).
_PAPER_AUX_HEAD = (
    (nn.AvgPool2d, lambda m: _pair(m.kernel_size) == (5, 5) and _pair(m.stride) == (3, 3),
     "it starts with the paper's average pooling: a fixed 5x5 window with stride 3"),
    (nn.Conv2d, lambda m: _pair(m.kernel_size) == (1, 1) and m.out_channels == 128,
     "after the pooling, a 1x1 convolution reduces the channels to the paper's width (128)"),
    (nn.Linear, lambda m: m.out_features == 1024,
     "then a fully connected layer as wide as the paper's (1024 units)"),
    (nn.Dropout, lambda m: m.p == 0.7,
     "the paper drops a large share of that layer's outputs during training: dropout 0.7"),
    (nn.Linear, lambda m: m.out_features == 1000,
     "a last linear layer gives one score per ImageNet class"),
)  # fmt: skip


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


_HEAD_LAYERS = (nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d,
                nn.Conv2d, nn.Linear, nn.Dropout)  # fmt: skip


def _layers_run(head: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[nn.Module]]:
    """The head's output on x and the pool, conv, linear and dropout layers it ran, in order."""
    out, ran = run_recording(head, x, lambda m: isinstance(m, _HEAD_LAYERS))
    return out, [layer for layer, _, _ in ran]


def _check_aux_head(name: str, head: Any, in_ch: int, block: str) -> None:
    """The head maps (N, in_ch, 14, 14) -> (N, 1000) with the paper's layers, in order."""
    require(
        isinstance(head, nn.Module),
        f"{name} should be a module (an nn.Module such as blocks.AuxClassifier), "
        f"got {type(head).__name__}",
    )
    out, ran = call_learner(
        _layers_run, head, torch.randn(2, in_ch, 14, 14),
        hint=f"{name} failed on the output of inception {block} (shape (N, C, 14, 14) with C = "
        "the module's output width, the sum of its four branch widths in Table 1)",
    )  # fmt: skip
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


def _describe(layer: nn.Module | None) -> str:
    if layer is None:
        return "missing"
    from .. import profile

    return f"'{profile.describe_layer(layer)}'"


def _reference_losses() -> tuple[list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    """Three heads' logits (8, 10), the labels, and each head's cross-entropy."""
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 10, (8,), generator=g)
    heads = [torch.randn(8, 10, generator=g, requires_grad=True) for _ in range(3)]
    return heads, labels, [F.cross_entropy(h, labels) for h in heads]


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
        not near(AUX_WEIGHT * (main + aux1 + aux2)),
        "only the auxiliary losses are down-weighted; the main head keeps weight 1",
    )
    require(
        not near(main + AUX_WEIGHT * (aux1 + aux2) / 2),
        "each auxiliary head adds its own weighted term: sum them, don't average them",
    )
    require(
        near(main + AUX_WEIGHT * (aux1 + aux2)),
        "each head's loss is the cross-entropy of its output; check the weight the paper gives "
        "the auxiliary ones (in the text above)",
    )


def _check_loss(loss_fn: Callable) -> None:
    heads, labels, losses = _reference_losses()
    hint = "loss_fn failed on a tuple (logits, aux1, aux2) of (8, 10) tensors"
    got = call_learner(loss_fn, tuple(heads), labels, hint=hint)
    _check_loss_value(got, losses)
    got.backward()
    require(
        heads[1].grad is not None and heads[2].grad is not None,
        "the loss must depend on the auxiliary outputs so that their gradients flow",
    )
    main, aux1, _ = losses
    one_aux = call_learner(loss_fn, (heads[0], heads[1]), labels, hint=hint)
    require(
        isinstance(one_aux, torch.Tensor)
        and abs(one_aux.item() - (main + AUX_WEIGHT * aux1).item()) < 1e-5,
        "loop over all auxiliary outputs (everything after the first element of the tuple) "
        "instead of assuming exactly two: Inception v3 has a single auxiliary head",
    )
    eval_loss = call_learner(
        loss_fn, heads[0], labels,
        hint="in eval mode a model returns only the logits Tensor, not a tuple; handle that "
        "case too (isinstance(outputs, torch.Tensor))",
    )  # fmt: skip
    require(
        isinstance(eval_loss, torch.Tensor) and abs(eval_loss.item() - main.item()) < 1e-5,
        "for a plain logits Tensor (eval mode) the loss is just the cross-entropy of the logits",
    )


@private_rng(seed=0)
def auxiliary_training(aux_4a: nn.Module, aux_4d: nn.Module, loss_fn: Callable) -> None:
    """Lesson 03, Exercise 1: GoogLeNet's two auxiliary heads and its weighted training loss.

    `aux_4a` / `aux_4d`: heads for the 14x14 outputs of inception 4a (512 channels) and 4d
    (528 channels) of the paper's GoogLeNet, (N, C, 14, 14) -> (N, 1000), built as the paper
    describes them: 5x5/3 average pool, 1x1 conv to 128, FC 1024, dropout 0.7, FC (the ReLUs are
    not checked). `loss_fn(outputs, labels)`: for a training-mode tuple `(logits, aux1, ...)`
    the main cross-entropy plus 0.3 x each auxiliary one; for a plain logits Tensor (what a
    model returns in eval mode) the cross-entropy of the logits.
    """
    for name, head, in_ch, block in (("aux_4a", aux_4a, 512, "4a"), ("aux_4d", aux_4d, 528, "4d")):
        _check_aux_head(name, head, in_ch, block)
    _check_loss(loss_fn)
    passed(
        "the heads are the paper's (5x5/3 average pool, 1x1 conv 128, FC 1024, dropout 0.7, FC) "
        "on the 4a and 4d feature maps, and the loss is main + 0.3 x each auxiliary "
        "cross-entropy (and plain cross-entropy in eval mode)."
    )


@private_rng(seed=0)
def head_params(
    fc_head_params: Callable[[int, int, int, int], int],
    gap_head_params: Callable[[int, int], int],
) -> None:
    """Lesson 03, Exercise 2: parameter counts of a flatten+FC head and of a GAP+FC head.

    `fc_head_params(channels, height, width, num_classes)`: a Linear layer on the flattened
    (channels x height x width) map, weights and biases. `gap_head_params(channels, num_classes)`:
    global average pooling (no parameters) then a Linear layer on `channels` numbers. The
    reference counts the parameters of real `nn.Linear` layers.
    """

    def count(n_in: int, n_out: int) -> int:
        return sum(p.numel() for p in nn.Linear(n_in, n_out).parameters())

    for c, h, w, k in ((1024, 7, 7, 1000), (64, 4, 4, 10), (96, 3, 5, 7)):
        where = f" (for a {c} x {h} x {w} map and {k} classes)"
        fc = call_learner(fc_head_params, c, h, w, k, hint="fc_head_params failed" + where)
        gap = call_learner(gap_head_params, c, k, hint="gap_head_params failed" + where)
        require(
            is_whole(fc) and is_whole(gap),
            "both functions should return an int (a number of parameters)" + where,
        )
        require(
            fc != c * h * w * k,
            "fc_head_params counts the weights but not the biases: a Linear layer also has "
            "one bias per output" + where,
        )
        require(
            fc != c * k + k,
            "fc_head_params: without pooling, the FC layer is connected to every position of "
            "the h x w grid of every channel, not to one number per channel" + where,
        )
        require(
            fc == count(c * h * w, k),
            "fc_head_params: how many numbers does the FC layer see after flattening the map, "
            "and how many weights and biases does each output then own?" + where,
        )
        require(
            gap != c * k,
            "gap_head_params counts the weights but not the biases of the Linear layer" + where,
        )
        require(
            gap != fc,
            "gap_head_params: after global average pooling each channel is a single number, so "
            "the Linear layer no longer depends on the grid size" + where,
        )
        require(
            gap == count(c, k),
            "gap_head_params: pooling itself has no parameters; count the Linear layer that "
            "follows it (inputs: one number per channel)" + where,
        )
    passed("both head counts match real nn.Linear layers.")
