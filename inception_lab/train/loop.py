"""The training loop: `fit` trains a model in place and returns its History.

For every batch, in order:
1. move the batch to the device (channels_last for 4-d images: NHWC convolutions are faster on
   CPUs and GPUs alike);
2. forward under autocast when mixed precision is on (`precision.choose_amp`);
3. loss = CE(main head) + 0.3 x CE(each auxiliary head) (`optim.training_loss`);
4. read the loss and stop with `TrainingDiverged` if it is not finite: on the CPU before every
   update, on a GPU every CHECK_EVERY_GPU steps (each read makes the CPU wait for the GPU);
5. backward (through the GradScaler for float16), optional gradient clipping, step, schedule step.
After every epoch: validation, one History record, a summary line, and with `checkpoint_dir` an
atomically written `last.pt` that `resume=True` continues from.
Under `torchrun` the model is wrapped in DistributedDataParallel (`distributed.wrap_ddp`).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from inception_lab import smoke
from inception_lab.train import checkpoint as ckpt
from inception_lab.train import optim
from inception_lab.train.device import configure_backends, pick_device, rank_device
from inception_lab.train.distributed import check_same_steps, dist_info, sum_over_ranks, wrap_ddp
from inception_lab.train.evaluation import check_first_batch, eval_sums, to_device
from inception_lab.train.history import History, TrainingDiverged
from inception_lab.train.precision import choose_amp, make_grad_scaler, use_channels_last
from inception_lab.train.progress import Progress

__all__ = ["CHECK_EVERY_GPU", "fit"]

CHECK_EVERY_GPU = 16  # steps between loss reads on a GPU (1 on the CPU)


def fit(
    model: nn.Module,
    data: Any,
    epochs: int,
    *,
    optimizer: str = "sgd",
    lr: float | None = None,
    weight_decay: float | None = None,
    schedule: str | None = "onecycle",
    label_smoothing: float = 0.0,
    aux_weight: float = 0.3,
    amp: str | bool = "auto",
    channels_last: str | bool = "auto",
    compile: bool | str = False,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    device: torch.device | str | None = None,
    grad_clip: float | None = None,
    steps_per_epoch: int | None = None,
    sync_bn: bool = False,
    deterministic: bool = False,
    progress: bool = True,
) -> History:
    """Train `model` in place for `epochs` epochs and return its History.

    data: a `Loaders` (its .train and .val are used) or a (train, val) pair of iterables of
        (images (N, C, H, W) float, labels (N,) int64) batches; val may be None. A loader's
        `set_epoch(epoch)` is called before each epoch (0-based), so shuffling can depend on
        (seed, epoch) only: that is what makes resuming exact.
    optimizer, lr, weight_decay: see `make_optimizer` (lr None: optim.DEFAULT_LR[optimizer]).
    schedule: "onecycle" (default), "cosine" or None, stepped every batch (`make_schedule`).
    label_smoothing, aux_weight: see `training_loss`.
    amp: "auto" | "bf16" | "fp16" | "off" (`choose_amp`). channels_last: "auto" (= on) | bool.
    compile: True (or a torch.compile backend name) to compile the model first.
    seed: seeds torch, numpy and random (+ rank under torchrun) at the start of a fresh run.
    checkpoint_dir: write `last.pt` there after every epoch (atomically). resume: continue from
        `checkpoint_dir/last.pt` if it exists (the settings must match the checkpoint's).
    device: default `pick_device()` (under torchrun with CUDA: cuda:LOCAL_RANK).
    grad_clip: clip the global gradient norm to this value. steps_per_epoch: train on at most
        this many batches per epoch (quick runs). sync_bn: SyncBatchNorm under DDP on CUDA
        (`distributed.wrap_ddp` says when it matters). deterministic: trade GPU speed for
        bit-reproducible runs (`device.configure_backends`). progress: bars and summary lines.

    Raises TrainingDiverged (with `.history`) on a NaN/inf loss; CheckpointError on a bad
    checkpoint. The model is left in eval mode. In a smoke run (`inception_lab.smoke`) at most
    smoke.MAX_EPOCHS epochs of smoke.STEPS batches are trained.
    """
    # Long only because of its signature and docstring (every option, documented); the loop
    # itself is the ~60 lines below, with setup, one step and the epoch's end in named helpers.
    schedule = None if schedule == "none" else schedule
    _check_arguments(
        model, epochs, schedule, label_smoothing, aux_weight, grad_clip, steps_per_epoch
    )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (where last.pt is)")
    train_loader, val_loader = _split_data(data)
    epochs, steps = smoke.epochs(epochs), _steps_per_epoch(train_loader, steps_per_epoch)
    rank, world_size = dist_info()
    run = _Run.setup(model, device, amp, channels_last, deterministic, progress and rank == 0)
    check_same_steps(steps, run.device)
    if optimizer in optim.OPTIMIZERS:  # resolve the defaults here so that the History records them
        lr = optim.DEFAULT_LR[optimizer] if lr is None else lr
        weight_decay = (
            optim.DEFAULT_WEIGHT_DECAY[optimizer] if weight_decay is None else weight_decay
        )
    opt = optim.make_optimizer(model, optimizer, lr, weight_decay)
    scheduler = optim.make_schedule(opt, schedule, epochs * steps)
    scaler = make_grad_scaler(run.device, run.amp)
    config = {
        "model": type(model).__qualname__,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "total_steps": epochs * steps,
        "label_smoothing": label_smoothing,
        "aux_weight": aux_weight,
        "amp": run.amp.name,
        "channels_last": run.channels_last,
        "grad_clip": grad_clip,
        "seed": seed,
        "device": run.device.type,
        "world_size": world_size,
        "sync_bn": sync_bn,
    }
    history = History(config=config)

    # ---- start fresh, or continue from the last checkpoint
    start, last_finite = 0, None
    path = None if checkpoint_dir is None else Path(checkpoint_dir) / ckpt.CHECKPOINT_NAME
    if resume and path.exists():
        state = (model, opt, scheduler, scaler, config)
        start, history, last_finite = ckpt.resume_training_state(path, *state, run.device)
        run.say(f"Resumed from {path} after epoch {start}.")
    else:
        if resume:
            run.say(f"No checkpoint at {path}: starting from scratch.")
        _seed_everything(seed + rank)  # different dropout masks per rank, same on every run
    if start >= epochs:
        run.say(f"The checkpoint already has {start} epochs (asked for {epochs}); nothing to do.")
        model.eval()
        return history

    net = wrap_ddp(model, run.device, sync_bn) if world_size > 1 else model
    if compile:
        net = torch.compile(net, backend=compile if isinstance(compile, str) else "inductor")
    step = _Step(net, opt, scheduler, scaler, run, aux_weight, label_smoothing, grad_clip)
    watch = _LossWatch(history, steps, last_finite, run.device)
    bars = Progress(run.verbose, epochs, start, steps)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            _set_epoch(train_loader, epoch)
            bars.start_epoch(epoch + 1, epochs, steps)
            net.train()
            watch.start_epoch(epoch + 1)
            for i, batch in enumerate(islice(train_loader, steps)):
                loss, hits, n = step(batch, first=(i == 0 and epoch == start))
                watch.add(i + 1, opt.param_groups[0]["lr"], loss, hits, n, bars)
                step.update(loss)
            watch.flush(bars)
            record = _end_epoch(watch, run, model, val_loader, epoch, t0)
            history.records.append(record)
            if path is not None:
                state = (model, opt, scheduler, scaler, history, watch.last_finite)
                ckpt.save_training_state(path, *state, run.device)
            bars.end_epoch(record, epochs)
    except KeyboardInterrupt:
        if path is not None and history.records:
            run.say(f"Interrupted. Continue with resume=True from {path} (epoch {len(history)}).")
        raise
    finally:
        bars.close()
    model.eval()
    return history


# =========================================================================== setup
def _check_arguments(
    model, epochs, schedule, label_smoothing, aux_weight, grad_clip, steps_per_epoch
) -> None:
    """Every argument checked before any work, with a message naming what was expected."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if schedule not in optim.SCHEDULES:
        raise ValueError(f"schedule must be one of {optim.SCHEDULES}, got {schedule!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if aux_weight < 0:
        raise ValueError(f"aux_weight must be >= 0, got {aux_weight!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be a positive number or None, got {grad_clip!r}")
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool)
        or not isinstance(steps_per_epoch, int)
        or steps_per_epoch < 1
    ):
        raise ValueError(
            f"steps_per_epoch must be a positive integer or None, got {steps_per_epoch!r}"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _split_data(data: Any) -> tuple[Iterable, Iterable | None]:
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(
        "data must be a Loaders (from inception_lab.data.make_loaders) or a (train, val) pair of "
        f"iterables of (images, labels) batches; got {type(data).__name__}"
    )


def _steps_per_epoch(train_loader: Any, steps_per_epoch: int | None) -> int:
    if not isinstance(train_loader, Sized):
        raise TypeError("the training loader must have len() (the number of batches per epoch)")
    steps = (
        len(train_loader) if steps_per_epoch is None else min(len(train_loader), steps_per_epoch)
    )
    steps = smoke.batches(steps)
    if steps == 0:
        raise ValueError(
            "the training loader has no batches (is the dataset smaller than a batch?)"
        )
    return steps


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _set_epoch(loader: Any, epoch: int) -> None:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif hasattr(getattr(loader, "sampler", None), "set_epoch"):  # a DataLoader with a sampler
        loader.sampler.set_epoch(epoch)


@dataclass
class _Run:
    """Where and how the run computes: device, precision, memory layout, and who prints."""

    device: torch.device
    amp: Any
    channels_last: bool
    verbose: bool

    @classmethod
    def setup(cls, model, device, amp, channels_last, deterministic, verbose) -> _Run:
        if device is None:
            distributed_cuda = dist_info()[1] > 1 and torch.cuda.is_available()
            device = rank_device() if distributed_cuda else pick_device(verbose=verbose)
        device = torch.device(device)
        run = cls(device, choose_amp(device, amp), use_channels_last(channels_last), verbose)
        configure_backends(device, deterministic)
        model.to(device)
        if run.channels_last:
            model.to(memory_format=torch.channels_last)
        return run

    def say(self, message: str) -> None:
        if self.verbose:
            print(message)

    def autocast(self):
        return torch.autocast(
            self.device.type, dtype=self.amp.dtype, enabled=self.amp.dtype is not None
        )


# =========================================================================== one step
class _Step:
    """Forward and loss of one batch (`__call__`), then the update (`update`)."""

    def __init__(self, net, opt, scheduler, scaler, run, aux_weight, label_smoothing, grad_clip):
        self.net, self.opt, self.scheduler, self.scaler, self.run = net, opt, scheduler, scaler, run
        self.aux_weight, self.label_smoothing, self.grad_clip = (
            aux_weight,
            label_smoothing,
            grad_clip,
        )
        self.params = [p for g in opt.param_groups for p in g["params"]]

    def __call__(self, batch, first: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
        images, labels = to_device(batch, self.run.device, self.run.channels_last)
        with self.run.autocast():
            output = self.net(images)
        if first:
            check_first_batch(images, labels, output)
        loss, logits = optim.training_loss(output, labels, self.aux_weight, self.label_smoothing)
        hits = (logits.detach().argmax(1) == labels).sum()
        return loss, hits, labels.shape[0]

    def update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(self.opt)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()


@dataclass
class _LossWatch:
    """Sums the epoch's loss and accuracy, reading losses in groups; raises on a non-finite one.

    A group is read before the update of its last step: on the CPU (groups of 1) the model never
    takes a non-finite step; on a GPU the first CHECK_EVERY_GPU - 1 steps of a group are applied
    before their losses are read, and the divergence report says so.
    """

    history: History
    steps: int
    last_finite: float | None
    device: torch.device
    epoch: int = 0
    pending: list = field(default_factory=list)
    sums: list = field(default_factory=lambda: [0.0, 0, 0])  # loss x images, correct, images
    lr: float = 0.0

    @property
    def every(self) -> int:
        return 1 if self.device.type == "cpu" else CHECK_EVERY_GPU

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.pending, self.sums = epoch, [], [0.0, 0, 0]

    def add(self, step: int, lr: float, loss, hits, n: int, bars: Progress) -> None:
        self.lr = lr
        self.pending.append((step, lr, loss.detach(), hits, n))
        if len(self.pending) >= self.every or step == self.steps:
            self.flush(bars)

    def flush(self, bars: Progress) -> None:
        if not self.pending:
            return
        losses = torch.stack([p[2].float() for p in self.pending])
        world_size = dist_info()[1]
        if world_size > 1:  # every rank reads the mean loss, so all ranks stop together
            dist.all_reduce(losses)
            losses /= world_size
        applied = self.pending[-1][0] - 1  # the last step's update has not happened yet
        for (step, lr, _, hits, n), value in zip(self.pending, losses.tolist()):
            if not math.isfinite(value):
                self._diverged(step, lr, value, applied)
            self.last_finite = value
            self.sums[0] += value * n
            self.sums[1] += int(hits)
            self.sums[2] += n
        bars.batches(len(self.pending), self.sums[0] / self.sums[2], self.sums[1] / self.sums[2])
        self.pending = []

    def _diverged(self, step: int, lr: float, value: float, applied: int) -> None:
        loss_sum, correct, n = self.sums
        self.history.diverged = {
            "epoch": self.epoch,
            "step": step,
            "steps_per_epoch": self.steps,
            "loss": value,
            "last_finite_loss": self.last_finite,
            "weights_after_step": max(applied, step - 1),
            "check_every": self.every,
            "lr": lr,
            "train_loss": loss_sum / n if n else None,
            "train_acc": correct / n if n else None,
        }
        raise TrainingDiverged(self.history)


def _end_epoch(watch: _LossWatch, run: _Run, model, val_loader, epoch: int, t0: float) -> dict:
    """The epoch's History record: training sums over all ranks, then validation."""
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    train_seconds = time.perf_counter() - t0
    loss_sum, correct, n = sum_over_ranks(list(watch.sums), run.device)
    if n == 0:
        raise ValueError(f"the training loader yielded no batches in epoch {epoch + 1}")
    record = {
        "epoch": epoch + 1,
        "train_loss": loss_sum / n,
        "train_acc": correct / n,
        "val_loss": None,
        "val_acc": None,
        "lr": watch.lr,
        "seconds": 0.0,
        "images_per_s": n / train_seconds,
    }
    if val_loader is not None:
        _set_epoch(val_loader, epoch)
        sums = eval_sums(model, val_loader, run.device, run.amp, run.channels_last)
        vl, vc, vn = sum_over_ranks(list(sums), run.device)
        if vn:
            record["val_loss"], record["val_acc"] = vl / vn, vc / vn
    record["seconds"] = time.perf_counter() - t0
    return record
