"""Measurements an experiment takes besides accuracy: per object size, with one Inception branch
switched off, the gradient each stage receives, and calibration before and after temperature
scaling.

All take a trained model (or one at initialisation) and tensors on its device; none trains.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inception_lab.blocks import MultiBranch
from inception_lab.data.shapes import SCALE_NAMES
from inception_lab.metrics import expected_calibration_error
from inception_lab.train import optim

__all__ = [
    "BRANCHES",
    "accuracy_by_scale",
    "branch_ablation",
    "stage_grad_norms",
    "temperature_scaling",
]

BRANCHES = ("branch1x1", "branch3x3", "branch5x5", "branch_pool")


def accuracy_by_scale(probs: torch.Tensor, labels: torch.Tensor, scales: torch.Tensor) -> dict:
    """Accuracy over all images and per object scale. probs (N, K), labels (N,), scales (N,)
    (0/1/2). Returns {"all": acc, "small": acc, "medium": acc, "large": acc}, accs in [0, 1]."""
    if not len(probs) == len(labels) == len(scales):
        raise ValueError(
            f"probs, labels and scales must have one row per image, got {len(probs)}, "
            f"{len(labels)} and {len(scales)}"
        )
    hits = (probs.argmax(1) == labels).float()
    out = {"all": hits.mean().item()}
    for i, name in enumerate(SCALE_NAMES):
        mask = scales == i
        out[name] = hits[mask].mean().item() if mask.any() else math.nan
    return out


@contextmanager
def _branch_off(model: nn.Module, branch: str):
    """Within the block, every multi-branch module of `model` outputs zeros for `branch`."""
    hooks = []
    for module in model.modules():
        if isinstance(module, MultiBranch) and branch in module.branches:
            hooks.append(
                module.branches[branch].register_forward_hook(
                    lambda m, i, out: torch.zeros_like(out)
                )
            )
    if not hooks:
        raise ValueError(f"the model has no multi-branch module with a branch named {branch!r}")
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


@torch.no_grad()
def _probs(model: nn.Module, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    model.eval()
    return torch.cat(
        [model(images[i : i + batch]).float().softmax(1) for i in range(0, len(images), batch)]
    )


def branch_ablation(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, scales: torch.Tensor
) -> dict[str, dict]:
    """Accuracy per scale with each branch (1x1, 3x3, 5x5, pool) switched off in every module.

    images: normalised (N, C, H, W) on the model's device. Returns {branch: accuracy_by_scale}
    for the branches the model has, plus "none" (nothing switched off)."""
    out = {"none": accuracy_by_scale(_probs(model, images).cpu(), labels, scales)}
    for branch in BRANCHES:
        if any(isinstance(m, MultiBranch) and branch in m.branches for m in model.modules()):
            with _branch_off(model, branch):
                out[branch] = accuracy_by_scale(_probs(model, images).cpu(), labels, scales)
    return out


def stage_grad_norms(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, aux_weight: float
) -> dict[str, dict[str, float]]:
    """The gradient norm of each top-level stage's weights for one batch, in training mode.

    Returns {"main": {stage: norm}} for the main loss alone and, when the model has auxiliary
    heads, {"with_aux": {stage: norm}} for the training loss main + aux_weight * aux (GoogLeNet
    section 5: the heads are there to push gradient into the early stages). Dropout masks are
    seeded, so both losses see the same ones.
    """
    names = getattr(model, "stage_names", None)
    if names is None:
        raise ValueError("stage_grad_norms needs a course Network (it reads model.stage_names)")
    stages = {name: getattr(model, name) for name in names}
    was_training = model.training
    model.train()
    out = {}
    weights = {"main": 0.0}
    if model.aux_logits:
        weights["with_aux"] = aux_weight
    try:
        for key, weight in weights.items():
            model.zero_grad(set_to_none=True)
            torch.manual_seed(0)
            loss, _ = optim.training_loss(model(images), labels, aux_weight=weight)
            loss.backward()
            out[key] = {
                name: math.sqrt(
                    sum(
                        float(p.grad.pow(2).sum()) for p in stage.parameters() if p.grad is not None
                    )
                )
                for name, stage in stages.items()
                if any(True for _ in stage.parameters())
            }
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return out


def temperature_scaling(val_probs: Any, val_labels: Any, test_probs: Any, test_labels: Any) -> dict:
    """Fit one temperature T on the validation set (the NLL-minimising T on a log grid from 0.1
    to 10) and report the test set's ECE and NLL before and after dividing the logits by T
    (Guo et al. 2017, section 4.2). probs: softmax outputs (N, K); labels (N,)."""
    val_logp, test_logp = (
        torch.as_tensor(p).clamp_min(1e-12).log() for p in (val_probs, test_probs)
    )
    val_labels, test_labels = torch.as_tensor(val_labels), torch.as_tensor(test_labels)
    # log-softmax is shift-invariant, so log-probabilities / T give softmax(logits / T)
    grid = torch.logspace(-1.0, 1.0, 201, dtype=torch.float64)  # 0.1 ... 10
    nll = [F.cross_entropy(val_logp / t, val_labels).item() for t in grid]
    t_best = float(grid[int(torch.tensor(nll).argmin())])
    scaled = (test_logp / t_best).softmax(1)
    return {
        "temperature": t_best,
        "test_ece_before": expected_calibration_error(test_logp.exp(), test_labels),
        "test_ece_after": expected_calibration_error(scaled, test_labels),
        "test_nll_before": F.cross_entropy(test_logp, test_labels).item(),
        "test_nll_after": F.cross_entropy(test_logp / t_best, test_labels).item(),
    }
