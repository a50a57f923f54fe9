"""The objective and the optimizer: what one training step minimises, and how it steps.

- `training_loss`: cross-entropy of the main head plus 0.3 x each auxiliary head (GoogLeNet,
  Szegedy et al. 2015, section 5), with optional label smoothing (Inception v3, section 7).
- `make_optimizer`: SGD with Nesterov momentum, RMSProp with the Inception v3 paper's settings,
  or AdamW; weight decay on conv and linear weights only.
- `make_schedule`: one-cycle (the default), cosine, or a constant learning rate, stepped per batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DEFAULT_LR",
    "DEFAULT_WEIGHT_DECAY",
    "OPTIMIZERS",
    "SCHEDULES",
    "make_optimizer",
    "make_schedule",
    "training_loss",
]

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("onecycle", "cosine", None)
# Peak learning rates (the default one-cycle schedule ramps up to this value and back down).
# RMSprop: the Inception v3 paper's 0.045; with its eps = 1.0 the step is close to SGD's.
DEFAULT_LR = {"sgd": 0.05, "rmsprop": 0.045, "adamw": 2e-3}
# SGD: the usual 5e-4 of ImageNet CNNs; RMSprop: 4e-5 as in the Inception v3/v4 training code;
# AdamW's decoupled decay is a fraction per step, so it wants a larger number.
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "rmsprop": 4e-5, "adamw": 0.05}


def training_loss(
    output: torch.Tensor | tuple | list,
    labels: torch.Tensor,
    aux_weight: float = 0.3,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss of one batch and the main head's logits.

    `output` is the model's logits (N, K), or, for a model with auxiliary classifiers in training
    mode, a tuple (logits, aux1, aux2, ...) of (N, K) tensors with the main head first.
        loss = CE(logits) + aux_weight * sum_i CE(aux_i)
    (GoogLeNet: aux_weight = 0.3). CE uses label smoothing `label_smoothing` (eps): the target is
    (1 - eps) * one_hot + eps / K, as in the Inception v3 paper. Computed in float32.
    """
    if isinstance(output, (tuple, list)):
        logits, *aux = output
        aux = [a for a in aux if a is not None]  # torchvision puts None for a disabled head
    else:
        logits, aux = output, []
    for name, t in [("logits", logits)] + [(f"auxiliary output {i}", a) for i, a in enumerate(aux)]:
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[0] != labels.shape[0]:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(
                f"the model's {name} should be a (N, num_classes) tensor with N = "
                f"{labels.shape[0]} (the batch size), got {shape}"
            )
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    for a in aux:
        loss = loss + aux_weight * F.cross_entropy(
            a.float(), labels, label_smoothing=label_smoothing
        )
    return loss, logits


def make_optimizer(
    model: nn.Module,
    name: str = "sgd",
    lr: float | None = None,
    weight_decay: float | None = None,
) -> torch.optim.Optimizer:
    """SGD (momentum 0.9, Nesterov), RMSprop (decay 0.9, eps 1.0, momentum 0.9: the Inception v3
    paper's settings) or AdamW. `lr` / `weight_decay` default to DEFAULT_LR / DEFAULT_WEIGHT_DECAY.

    Weight decay applies to conv and linear weights only: decaying BN's scale and shift or the
    biases (1-d parameters) only fights the normalization and costs accuracy.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    weight_decay = DEFAULT_WEIGHT_DECAY[name] if weight_decay is None else weight_decay
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True)")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1.0, momentum=0.9)
    return torch.optim.AdamW(groups, lr=lr)


def make_schedule(
    optimizer: torch.optim.Optimizer, schedule: str | None, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step learning-rate schedule over `total_steps` optimizer steps.

    "onecycle": warm up from lr/25 to the optimizer's lr over the first 30% of the steps, then
    anneal to ~0 (Smith's one-cycle policy: fast, robust training in few epochs).
    "cosine": cosine decay from lr to 0. None: constant lr.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if schedule is None:
        return None
    if schedule == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
