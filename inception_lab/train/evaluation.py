"""Evaluation: loss and accuracy of the main head, and predicted probabilities.

Both run the model in eval mode (dropout off, BN with its running statistics, auxiliary heads
off) under no_grad, and restore the model's mode afterwards. `max_batches` reads only the first
batches of a loader (a smoke run passes its `smoke_steps`).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from inception_lab._validate import check_int
from inception_lab.train.optim import training_loss
from inception_lab.train.precision import AmpChoice, choose_amp

__all__ = ["evaluate", "predict"]


def to_device(batch: Any, device: torch.device, channels_last: bool):
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(
            f"a data loader must yield (images, labels) pairs, got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    images, labels = batch
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(device, non_blocking=True)


def check_first_batch(images: torch.Tensor, labels: torch.Tensor, output: Any) -> None:
    """Clear errors for the usual mistakes, checked once (reading labels costs a GPU sync)."""
    if not images.is_floating_point():
        raise TypeError(f"images must be a float tensor, got dtype {images.dtype}")
    if labels.dim() != 1 or labels.dtype != torch.int64:
        raise TypeError(
            f"labels must be a 1-d int64 tensor of class indices, got dtype {labels.dtype} "
            f"and shape {tuple(labels.shape)}"
        )
    logits = output[0] if isinstance(output, (tuple, list)) else output
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        return  # training_loss explains what the output should be
    k = logits.shape[1]
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(
            f"labels must lie in [0, {k - 1}] for a model with {k} outputs, got labels from "
            f"{int(labels.min())} to {int(labels.max())} (does num_classes match the data?)"
        )


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _check_loader(loader: Any, what: str, max_batches: int | None) -> None:
    if hasattr(loader, "train") and hasattr(loader, "val"):
        raise TypeError(f"{what} takes one loader, e.g. loaders.val or loaders.test, not Loaders")
    if not isinstance(loader, Iterable):
        raise TypeError(
            f"{what} needs an iterable of (images, labels), got {type(loader).__name__}"
        )
    if max_batches is not None:
        check_int("max_batches", max_batches)


@torch.no_grad()
def eval_sums(model, loader, device, amp: AmpChoice, channels_last: bool, max_batches=None):
    """(sum of per-image CE of the main head, number correct, number of images); no autograd."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    try:
        for i, batch in enumerate(islice(loader, max_batches)):
            images, labels = to_device(batch, device, channels_last)
            with torch.autocast(device.type, dtype=amp.dtype, enabled=amp.dtype is not None):
                output = model(images)
            if i == 0:
                check_first_batch(images, labels, output)
            logits = training_loss(output, labels)[1]
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            n += labels.shape[0]
    finally:
        model.train(was_training)
    return float(loss_sum), int(correct), n


def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    device: torch.device | str | None = None,
    amp: str | bool = "auto",
    max_batches: int | None = None,
) -> dict[str, float]:
    """Mean cross-entropy and accuracy of the main head over `loader` (model in eval mode, so
    auxiliary heads and dropout are off). Returns {"loss", "acc", "n"}; acc in [0, 1].

    `device` defaults to the model's; the model's train/eval mode is restored afterwards.
    `max_batches`: read at most this many batches (None: all).
    """
    _check_loader(loader, "evaluate", max_batches)
    device = model_device(model) if device is None else torch.device(device)
    loss_sum, correct, n = eval_sums(
        model, loader, device, choose_amp(device, amp), False, max_batches
    )
    if n == 0:
        raise ValueError("evaluate: the loader yielded no images")
    return {"loss": loss_sum / n, "acc": correct / n, "n": n}


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable,
    *,
    device: torch.device | str | None = None,
    amp: str | bool = "auto",
    max_batches: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, num_classes) of the main head and the labels (N,), on the CPU,
    in loader order (for calibration plots, confusion matrices, ...); of at most `max_batches`
    batches (None: all)."""
    _check_loader(loader, "predict", max_batches)
    device = model_device(model) if device is None else torch.device(device)
    amp_choice = choose_amp(device, amp)
    was_training = model.training
    model.eval()
    probs, labels_all = [], []
    try:
        for batch in islice(loader, max_batches):
            images, labels = to_device(batch, device, False)
            with torch.autocast(
                device.type, dtype=amp_choice.dtype, enabled=amp_choice.dtype is not None
            ):
                output = model(images)
            logits = output[0] if isinstance(output, (tuple, list)) else output
            probs.append(logits.float().softmax(1).cpu())
            labels_all.append(labels.cpu())
    finally:
        model.train(was_training)
    if not probs:
        raise ValueError("predict: the loader yielded no images")
    return torch.cat(probs), torch.cat(labels_all)
