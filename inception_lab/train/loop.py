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
import random
import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from inception_lab.train import checkpoint as ckpt
from inception_lab.train import optim
from inception_lab.train.config import FitConfig, make_config
from inception_lab.train.device import configure_backends, pick_device, rank_device
from inception_lab.train.distributed import check_same_steps, dist_info, sum_over_ranks, wrap_ddp
from inception_lab.train.evaluation import check_first_batch, eval_sums, to_device
from inception_lab.train.history import History, TrainingDiverged
from inception_lab.train.precision import choose_amp, make_grad_scaler, use_channels_last
from inception_lab.train.progress import Progress

__all__ = ["CHECK_EVERY_GPU", "fit"]

CHECK_EVERY_GPU = 16  # steps between loss reads on a GPU (1 on the CPU)


def fit(
    model: nn.Module, data: Any, config: FitConfig | int | None = None, **overrides: Any
) -> History:
    """Train `model` in place and return its History.

    data: a `Loaders` (its .train and .val are used) or a (train, val) pair of iterables of
        (images (N, C, H, W) float, labels (N,) int64) batches; val may be None. A loader's
        `set_epoch(epoch)` is called before each epoch (0-based), so shuffling can depend on
        (seed, epoch) only: that is what makes resuming exact.
    config: a `FitConfig` (every option, its default and what it does), or an int as shorthand
        for its `epochs`; `overrides` are FitConfig field names, e.g. `fit(model, data, 5,
        lr=0.1)`; an unknown name is a TypeError listing them.

    History.config: `config.to_dict()` with the values the run resolved (lr, weight_decay,
    epochs, steps_per_epoch, total_steps, amp, channels_last, device, world_size, model).
    Raises TrainingDiverged (with `.history`) on a NaN/inf loss; CheckpointError on a bad
    checkpoint. The model is left in eval mode.
    """
    cfg = make_config(config, **overrides)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    train_loader, val_loader = _split_data(data)
    # The schedule spans the planned epochs; stop_after ends the run early on that schedule.
    planned, epochs = cfg.epochs_planned(), cfg.epochs_to_run()
    steps = _steps_per_epoch(train_loader, cfg)
    rank, world_size = dist_info()
    run = _Run.setup(model, cfg, cfg.progress and rank == 0)
    check_same_steps(steps, run.device)
    opt = optim.make_optimizer(model, cfg.optimizer, cfg.resolved_lr(), cfg.resolved_weight_decay())
    scheduler = optim.make_schedule(opt, cfg.schedule, planned * steps)
    scaler = make_grad_scaler(run.device, run.amp)
    resolved = {  # History.config: the options, with what this run made of them
        **cfg.to_dict(),
        "model": type(model).__qualname__,
        "lr": cfg.resolved_lr(),
        "weight_decay": cfg.resolved_weight_decay(),
        "epochs": planned,
        "stop_after": epochs if epochs < planned else None,
        "steps_per_epoch": steps,
        "total_steps": planned * steps,
        "amp": run.amp.name,
        "channels_last": run.channels_last,
        "device": run.device.type,
        "world_size": world_size,
    }
    history = History(config=resolved)

    # ---- start fresh, or continue from the last checkpoint
    start, last_finite = 0, None
    path = None if cfg.checkpoint_dir is None else Path(cfg.checkpoint_dir) / ckpt.CHECKPOINT_NAME
    if cfg.resume and path.exists():
        state = (model, opt, scheduler, scaler, resolved)
        start, history, last_finite = ckpt.resume_training_state(path, *state, run.device)
        run.say(f"Resumed from {path} after epoch {start}.")
    else:
        if cfg.resume:
            run.say(f"No checkpoint at {path}: starting from scratch.")
        _seed_everything(cfg.seed + rank)  # different dropout masks per rank, same on every run
    if start >= epochs:
        run.say(f"The checkpoint already has {start} epochs (asked for {epochs}); nothing to do.")
        model.eval()
        return history

    net = wrap_ddp(model, run.device, cfg.sync_bn) if world_size > 1 else model
    if cfg.compile_model:
        backend = cfg.compile_model if isinstance(cfg.compile_model, str) else "inductor"
        net = torch.compile(net, backend=backend)
    step = _Step(net, opt, scheduler, scaler, run, cfg)
    watch = _LossWatch(history, steps, last_finite, run.device)
    bars = Progress(run.verbose, epochs, start, steps)
    val_batches = cfg.cap_batches(None)
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
            record = _end_epoch(watch, run, model, val_loader, val_batches, epoch, t0)
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
def _split_data(data: Any) -> tuple[Iterable, Iterable | None]:
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(
        "data must be a Loaders (from inception_lab.data.make_loaders) or a (train, val) pair of "
        f"iterables of (images, labels) batches; got {type(data).__name__}"
    )


def _steps_per_epoch(train_loader: Any, cfg: FitConfig) -> int:
    """Batches per epoch: the loader's, cut to steps_per_epoch and, in a smoke run, smoke_steps."""
    if not isinstance(train_loader, Sized):
        raise TypeError("the training loader must have len() (the number of batches per epoch)")
    cap = cfg.cap_batches(cfg.steps_per_epoch)
    steps = len(train_loader) if cap is None else min(len(train_loader), cap)
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
    def setup(cls, model: nn.Module, cfg: FitConfig, verbose: bool) -> _Run:
        if cfg.device is not None:
            device = torch.device(cfg.device)
        elif dist_info()[1] > 1 and torch.cuda.is_available():
            device = rank_device()
        else:
            device = pick_device(verbose=verbose)
        amp, channels_last = choose_amp(device, cfg.amp), use_channels_last(cfg.channels_last)
        run = cls(device, amp, channels_last, verbose)
        configure_backends(device, cfg.deterministic)
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

    def __init__(self, net, opt, scheduler, scaler, run: _Run, cfg: FitConfig):
        self.net, self.opt, self.scheduler, self.scaler, self.run = net, opt, scheduler, scaler, run
        self.aux_weight, self.label_smoothing = cfg.aux_weight, cfg.label_smoothing
        self.grad_clip = cfg.grad_clip
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


class _Pending(NamedTuple):
    """One step whose loss has not been read yet (on a GPU, reading it waits for the GPU)."""

    step: int  # 1-based, within the epoch
    lr: float
    loss: torch.Tensor  # 0-d, detached
    hits: torch.Tensor  # 0-d int: correct predictions of the main head
    n: int  # images


@dataclass
class _Sums:
    """The epoch so far: loss x images, correct predictions, images."""

    loss: float = 0.0
    correct: int = 0
    images: int = 0

    def mean_loss(self) -> float | None:
        return self.loss / self.images if self.images else None

    def accuracy(self) -> float | None:
        return self.correct / self.images if self.images else None


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
    pending: list[_Pending] = field(default_factory=list)
    sums: _Sums = field(default_factory=_Sums)
    lr: float = 0.0

    @property
    def every(self) -> int:
        return 1 if self.device.type == "cpu" else CHECK_EVERY_GPU

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.pending, self.sums = epoch, [], _Sums()

    def add(self, step: int, lr: float, loss, hits, n: int, bars: Progress) -> None:
        self.lr = lr
        self.pending.append(_Pending(step, lr, loss.detach(), hits, n))
        if len(self.pending) >= self.every or step == self.steps:
            self.flush(bars)

    def flush(self, bars: Progress) -> None:
        if not self.pending:
            return
        losses = torch.stack([p.loss.float() for p in self.pending])
        world_size = dist_info()[1]
        if world_size > 1:  # every rank reads the mean loss, so all ranks stop together
            dist.all_reduce(losses)
            losses /= world_size
        applied = self.pending[-1].step - 1  # the last step's update has not happened yet
        for p, value in zip(self.pending, losses.tolist(), strict=True):
            if not math.isfinite(value):
                self._diverged(p.step, p.lr, value, applied)
            self.last_finite = value
            self.sums.loss += value * p.n
            self.sums.correct += int(p.hits)
            self.sums.images += p.n
        bars.batches(len(self.pending), self.sums.mean_loss(), self.sums.accuracy())
        self.pending = []

    def _diverged(self, step: int, lr: float, value: float, applied: int) -> None:
        self.history.diverged = {
            "epoch": self.epoch,
            "step": step,
            "steps_per_epoch": self.steps,
            "loss": value,
            "last_finite_loss": self.last_finite,
            "weights_after_step": max(applied, step - 1),
            "check_every": self.every,
            "lr": lr,
            "train_loss": self.sums.mean_loss(),
            "train_acc": self.sums.accuracy(),
        }
        raise TrainingDiverged(self.history)


def _end_epoch(
    watch: _LossWatch, run: _Run, model, val_loader, val_batches: int | None, epoch: int, t0: float
) -> dict:
    """The epoch's History record: training sums over all ranks, then validation (at most
    `val_batches` batches; None: all)."""
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    train_seconds = time.perf_counter() - t0
    sums = watch.sums
    loss_sum, correct, n = sum_over_ranks([sums.loss, sums.correct, sums.images], run.device)
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
        val_sums = eval_sums(model, val_loader, run.device, run.amp, run.channels_last, val_batches)
        vl, vc, vn = sum_over_ranks(list(val_sums), run.device)
        if vn:
            record["val_loss"], record["val_acc"] = vl / vn, vc / vn
    record["seconds"] = time.perf_counter() - t0
    return record
