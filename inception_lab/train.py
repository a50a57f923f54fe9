"""The training engine: one loop for a laptop CPU, one GPU, or many GPUs under `torchrun`.

    history = fit(model, make_loaders("shapes"), epochs=5)   # trains `model` in place
    history.plot()

What the loop does, in order, for every batch:

1. move the batch to the device (channels_last memory layout for 4-d images: convolutions are
   markedly faster in NHWC, on CPUs as well as GPUs);
2. forward under autocast when mixed precision is on (bfloat16 where the GPU supports it,
   float16 + a GradScaler otherwise, float32 on the CPU);
3. loss = cross-entropy of the main head + `aux_weight` x the cross-entropy of each auxiliary
   head (GoogLeNet's paper weights each auxiliary loss by 0.3); accuracy counts the main head only;
4. stop with `TrainingDiverged` if the loss is not finite, otherwise backward, optional gradient
   clipping, step, schedule step. (On a CPU the loss is checked before every update, so the
   weights stay at the last finite step; on a GPU it is read every 16 steps, because each read
   makes the CPU wait for the GPU.)

After every epoch: validation (main head only, plain cross-entropy), one `History` record, a
one-line summary, and, with `checkpoint_dir`, an atomically written `last.pt` that `resume=True`
continues from exactly (same weights as an uninterrupted run, to float tolerance).

Under `torchrun` the model is wrapped in DistributedDataParallel: each rank trains on its own
shard of the data, gradients are averaged, and only rank 0 prints and writes files.

Command line: `python -m inception_lab.train --help`.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import inspect
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = [
    "AmpChoice",
    "CheckpointError",
    "History",
    "TrainingDiverged",
    "choose_amp",
    "dist_backend",
    "evaluate",
    "fit",
    "load_checkpoint",
    "main",
    "make_optimizer",
    "make_schedule",
    "pick_device",
    "predict",
    "save_checkpoint",
    "training_loss",
]

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULES = ("onecycle", "cosine", None)
AMP_MODES = ("auto", "bf16", "fp16", "off")
# Peak learning rates (the default one-cycle schedule ramps up to this value and back down).
# RMSprop: the Inception v3 paper's 0.045; with its eps = 1.0 the step is close to SGD's.
DEFAULT_LR = {"sgd": 0.05, "rmsprop": 0.045, "adamw": 2e-3}
# SGD: the usual 5e-4 of ImageNet CNNs; RMSprop: 4e-5 as in the Inception v3/v4 training code;
# AdamW's decoupled decay is a fraction per step, so it wants a larger number.
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "rmsprop": 4e-5, "adamw": 0.05}

CHECKPOINT_FORMAT = "inception_lab.train.checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "last.pt"


# =========================================================================== devices & precision
def pick_device(verbose: bool = True) -> torch.device:
    """The fastest device available: a CUDA GPU, then Apple's MPS, then the CPU.

    Prints which one it picked and why (unless `verbose=False`).
    """
    if torch.cuda.is_available():
        device = torch.device("cuda")
        why = f"CUDA GPU found: {torch.cuda.get_device_name(0)}"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
        why = "no CUDA GPU, but an Apple GPU (MPS) is available"
    else:
        device = torch.device("cpu")
        why = f"no CUDA or Apple GPU found; {torch.get_num_threads()} CPU threads"
    if verbose:
        print(f"Using device {device.type!r} ({why}).")
    return device


@dataclass(frozen=True)
class AmpChoice:
    """What mixed precision does: autocast `dtype` (None = plain float32) and GradScaler use."""

    dtype: torch.dtype | None
    use_scaler: bool
    reason: str

    @property
    def name(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16", None: "off"}[self.dtype]


def choose_amp(
    device: torch.device | str, amp: str | bool = "auto", *, bf16_supported: bool | None = None
) -> AmpChoice:
    """Decide the autocast dtype for `device`.

    amp="auto": bfloat16 on CUDA GPUs with native bf16 (Ampere and newer; same exponent range as
    float32, so no loss scaling is needed), float16 + GradScaler on older CUDA GPUs (float16's
    small range makes small gradients underflow unless the loss is scaled up first), off on the
    CPU and MPS (CPU autocast is slower than float32 for these convolutions).
    amp="bf16" / "fp16" force a dtype on any device (fp16 always with a GradScaler), "off"
    (or False) disables it. `bf16_supported` overrides the query of the GPU (for tests).
    """
    device = torch.device(device)
    if amp is True:
        amp = "auto"
    if amp is False or amp is None:
        amp = "off"
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES} (or True/False), got {amp!r}")
    if amp == "off":
        return AmpChoice(None, False, "mixed precision off")
    if amp == "bf16":
        return AmpChoice(torch.bfloat16, False, "bfloat16 requested")
    if amp == "fp16":
        return AmpChoice(torch.float16, True, "float16 requested (with loss scaling)")
    if device.type != "cuda":
        return AmpChoice(None, False, f"float32 on {device.type} (amp='auto' uses it on CUDA only)")
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported(including_emulation=False)
    if bf16_supported:
        return AmpChoice(torch.bfloat16, False, "bfloat16: this GPU supports it natively")
    return AmpChoice(torch.float16, True, "float16 + GradScaler: this GPU has no native bfloat16")


def _use_channels_last(channels_last: str | bool) -> bool:
    # "auto" is on everywhere: NHWC convolutions are faster for these models on CPU (about 2x on
    # the course's 2-core reference machine, see benchmarks/README.md) and on tensor-core GPUs.
    if channels_last == "auto":
        return True
    if isinstance(channels_last, bool):
        return channels_last
    raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")


def dist_backend(device: torch.device | str) -> str:
    """The torch.distributed backend for `device`: NCCL between CUDA GPUs, gloo on CPUs."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def _dist_info() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) without torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


# =========================================================================== loss
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


# =========================================================================== optimizer & schedule
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


# =========================================================================== history
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _json_safe(obj: Any) -> Any:
    # Strict JSON has no NaN/Infinity; a diverged run has them. Store them as strings.
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _json_restore(obj: Any) -> Any:
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    if isinstance(obj, dict):
        return {k: _json_restore(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_restore(v) for v in obj]
    return obj


RECORD_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
    "images_per_s",
)


@dataclass
class History:
    """What happened during training, one record per completed epoch.

    records[i] keys: epoch (1-based), train_loss, train_acc, val_loss, val_acc (accuracies are
    fractions in [0, 1]; val_* are None without validation data), lr (of the epoch's last step),
    seconds (whole epoch, validation included), images_per_s (training steps only).
    `diverged`: None, or a dict (epoch, step, loss, last_finite_loss, lr, ...) when training
    stopped on a non-finite loss. `config`: the settings of the run.
    `history["val_acc"]` is the list of one column.
    """

    records: list[dict] = field(default_factory=list)
    diverged: dict | None = None
    config: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        if key not in RECORD_KEYS:
            raise KeyError(f"no column {key!r} in a History; columns: {', '.join(RECORD_KEYS)}")
        return [r[key] for r in self.records]

    def to_dict(self) -> dict:
        return {"records": self.records, "diverged": self.diverged, "config": self.config}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        if not isinstance(d, dict) or not isinstance(d.get("records"), list):
            raise TypeError("not a History: expected a dict with a 'records' list")
        return cls(list(d["records"]), d.get("diverged"), dict(d.get("config") or {}))

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write as (strict) JSON, atomically; returns the path."""
        text = json.dumps(_json_safe(self.to_dict()), indent=1, allow_nan=False)
        return _atomic_write(Path(path), lambda f: f.write(text.encode()))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        try:
            d = json.loads(Path(path).read_text())
            return cls.from_dict(_json_restore(d))
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"cannot read a History from {str(path)!r}: {e}") from e

    def plot(self, **kwargs):
        """Loss and accuracy curves: `inception_lab.viz.plot_history(self)` (returns a Figure)."""
        from inception_lab import viz  # lazy: matplotlib is not needed to train

        return viz.plot_history(self, **kwargs)

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else None
        tail = f", last={_summary(last)}" if last else ""
        div = f", diverged at epoch {self.diverged['epoch']}" if self.diverged else ""
        return f"History({len(self)} epochs{tail}{div})"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. `.history` holds the completed epochs (and `.diverged`),
    so a notebook can plot the run next to a stable one:

        try:
            h = fit(model, data, 5, lr=10.0)
        except TrainingDiverged as e:
            h = e.history
    """

    def __init__(self, history: History):
        info = history.diverged
        self.history = history
        self.epoch, self.step = info["epoch"], info["step"]
        self.last_finite_loss, self.lr = info["last_finite_loss"], info["lr"]
        last = "none" if self.last_finite_loss is None else f"{self.last_finite_loss:.4g}"
        super().__init__(
            f"training diverged: loss = {info['loss']} at epoch {self.epoch}, step {self.step} "
            f"of {info['steps_per_epoch']} (learning rate {self.lr:.4g}); last finite loss {last}. "
            "Try a smaller lr, grad_clip=..., or (for residual Inception) scaling the residuals; "
            "the epochs before it are in this exception's .history."
        )


# =========================================================================== checkpoints
class CheckpointError(RuntimeError):
    """A checkpoint file could not be used; nothing was loaded from it."""


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> Path:
    """Write `path` through a temporary file in the same directory, fsync, then os.replace:
    readers see the old file or the new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """torch.save `state` to `path` atomically (temporary file + fsync + rename)."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    return _atomic_write(Path(path), lambda f: torch.save(state, f))


def _read_checkpoint(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, not a torch file, unpicklable content, ...
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not an Inception Lab checkpoint "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); nothing was loaded"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an Inception Lab training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {ckpt.get('version')}, this code reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return ckpt


def _check_state_matches(path: Path, model: nn.Module, ckpt: dict) -> None:
    """Raise CheckpointError unless the checkpoint's weights fit `model` exactly."""
    cls = type(model).__qualname__
    if ckpt.get("model_class") != cls:
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds a {ckpt.get('model_class')}, not a {cls}"
        )
    saved, own = ckpt["model"], model.state_dict()
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit this {cls}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]} (a different architecture or configuration?)"
        )
    bad = [
        (k, tuple(saved[k].shape), tuple(v.shape))
        for k, v in own.items()
        if tuple(saved[k].shape) != tuple(v.shape)
    ]
    if bad:
        k, a, b = bad[0]
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit this {cls}: {len(bad)} tensors differ in "
            f"shape, e.g. {k}: checkpoint {a}, model {b} (a different width or num_classes?)"
        )


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None) -> dict:
    """Read a checkpoint written by `fit` and return it as a dict (keys: model, optimizer,
    scheduler, scaler, rng, epoch, history, config, model_class, ...).

    With `model`, also load its weights into `model` after checking that every tensor name and
    shape matches; on any mismatch a CheckpointError names the file and `model` is untouched.
    """
    path = Path(path)
    ckpt = _read_checkpoint(path)
    if model is not None:
        _check_state_matches(path, model, ckpt)
        model.load_state_dict(ckpt["model"])
    return ckpt


def _rng_state(device: torch.device) -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    random.setstate(_as_tuple(state["python"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    if device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


# Settings that must agree for a resumed run to continue the same run.
_RESUME_KEYS = ("optimizer", "lr", "weight_decay", "schedule", "total_steps", "amp")


# =========================================================================== progress output
def _progress_mode() -> str:
    """'notebook' in a Jupyter kernel (JupyterLab, papermill, nbval), 'tty' in a terminal,
    'log' when output goes to a file or pipe (no bars there: they would flood the log)."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython installed
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
        return "notebook"
    return "tty" if sys.stderr.isatty() else "log"


class _Progress:
    """An epoch bar and a batch bar (tqdm.auto: widgets in Jupyter, text in a terminal), and the
    per-epoch summary lines. Silent when disabled (progress=False, or ranks other than 0).

    The batch bar is created once and reset every epoch: a notebook gets exactly two widgets
    (and a saved or papermill-executed notebook shows them in their final state), a terminal
    two lines. In a log file (no terminal, no notebook) there are no bars, only summary lines.
    """

    def __init__(self, enabled: bool, epochs: int, start: int, steps: int | None):
        self.enabled = enabled
        mode = _progress_mode() if enabled else "log"
        self.epoch_bar = self.batch_bar = None
        if mode != "log":
            from tqdm.auto import tqdm

            self.epoch_bar = tqdm(total=epochs, initial=start, desc="epochs", unit="epoch")
            # In a terminal the batch bar disappears at the end; in a notebook it stays, showing
            # the last epoch's final loss and accuracy.
            self.batch_bar = tqdm(
                total=steps, desc="batches", unit="batch", leave=mode == "notebook"
            )

    def start_epoch(self, epoch: int, epochs: int, steps: int | None) -> None:
        if self.batch_bar is not None:
            self.batch_bar.reset(total=steps)
            self.batch_bar.set_description(f"epoch {epoch}/{epochs}", refresh=False)

    def batches(self, n: int, loss: float, acc: float) -> None:
        if self.batch_bar is not None:
            self.batch_bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.1%}", refresh=False)
            self.batch_bar.update(n)

    def end_epoch(self, record: dict, epochs: int) -> None:
        if self.batch_bar is not None:
            self.batch_bar.refresh()
        if self.epoch_bar is not None:
            if record["val_acc"] is not None:
                self.epoch_bar.set_postfix(val_acc=f"{record['val_acc']:.1%}", refresh=False)
            self.epoch_bar.update(1)
        self.say(f"epoch {record['epoch']}/{epochs}  {_summary(record)}")

    def say(self, message: str) -> None:
        if not self.enabled:
            return
        if self.epoch_bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(message)  # printed above the bars, which stay intact
        else:
            print(message, flush=True)

    def close(self) -> None:
        for bar in (self.batch_bar, self.epoch_bar):
            if bar is not None:
                bar.close()
        self.batch_bar = self.epoch_bar = None


def _summary(r: dict) -> str:
    val = "" if r["val_loss"] is None else f"  val loss {r['val_loss']:.4f} acc {r['val_acc']:.1%}"
    return (
        f"train loss {r['train_loss']:.4f} acc {r['train_acc']:.1%}{val}  lr {r['lr']:.3g}  "
        f"{r['seconds']:.1f} s ({r['images_per_s']:,.0f} img/s)"
    )


# =========================================================================== evaluation
def _batch(batch: Any, device: torch.device, channels_last: bool):
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


def _check_first_batch(images: torch.Tensor, labels: torch.Tensor, output: Any) -> None:
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


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _check_loader(loader: Any, what: str) -> None:
    if hasattr(loader, "train") and hasattr(loader, "val"):
        raise TypeError(f"{what} takes one loader, e.g. loaders.val or loaders.test, not Loaders")
    if not isinstance(loader, Iterable):
        raise TypeError(
            f"{what} needs an iterable of (images, labels), got {type(loader).__name__}"
        )


@torch.no_grad()
def _eval_sums(model, loader, device, amp: AmpChoice, channels_last: bool, max_batches=None):
    """(sum of per-image CE of the main head, number correct, number of images); no autograd."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    n = 0
    try:
        for i, batch in enumerate(islice(loader, max_batches)):
            images, labels = _batch(batch, device, channels_last)
            with torch.autocast(device.type, dtype=amp.dtype, enabled=amp.dtype is not None):
                output = model(images)
            if i == 0:
                _check_first_batch(images, labels, output)
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
    """
    _check_loader(loader, "evaluate")
    device = _model_device(model) if device is None else torch.device(device)
    loss_sum, correct, n = _eval_sums(
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
    in loader order (for calibration plots, confusion matrices, ...)."""
    _check_loader(loader, "predict")
    device = _model_device(model) if device is None else torch.device(device)
    amp_choice = choose_amp(device, amp)
    was_training = model.training
    model.eval()
    probs, labels_all = [], []
    try:
        for batch in islice(loader, max_batches):
            images, labels = _batch(batch, device, False)
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


# =========================================================================== fit
def _split_data(data: Any) -> tuple[Iterable, Iterable | None]:
    if hasattr(data, "train") and hasattr(data, "val"):
        return data.train, data.val
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1]
    raise TypeError(
        "data must be a Loaders (from inception_lab.data.make_loaders) or a (train, val) pair of "
        f"iterables of (images, labels) batches; got {type(data).__name__}"
    )


def _set_epoch(loader: Any, epoch: int) -> None:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif hasattr(getattr(loader, "sampler", None), "set_epoch"):  # a DataLoader with a sampler
        loader.sampler.set_epoch(epoch)


def _reduce(values: list[float], device: torch.device) -> list[float]:
    """Sum `values` over all ranks (identity on one process)."""
    if _dist_info()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


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
    progress: bool = True,
) -> History:
    """Train `model` in place for `epochs` epochs and return its History.

    data: a `Loaders` (its .train and .val are used) or a (train, val) pair of iterables of
        (images (N, C, H, W) float, labels (N,) int64) batches; val may be None. A loader's
        `set_epoch(epoch)` is called before each epoch (0-based), so shuffling can depend on
        (seed, epoch) only: that is what makes resuming exact.
    optimizer, lr, weight_decay: see `make_optimizer` (lr None: DEFAULT_LR[optimizer]).
    schedule: "onecycle" (default), "cosine" or None, stepped every batch (`make_schedule`).
    label_smoothing, aux_weight: see `training_loss`.
    amp: "auto" | "bf16" | "fp16" | "off" (`choose_amp`). channels_last: "auto" (= on) | bool.
    compile: True (or a torch.compile backend name) to compile the model first.
    seed: seeds torch, numpy and random (+ rank under torchrun) at the start of a fresh run.
    checkpoint_dir: write `last.pt` there after every epoch (atomically). resume: continue from
        `checkpoint_dir/last.pt` if it exists (the settings must match the checkpoint's).
    device: default `pick_device()` (under torchrun with CUDA: this rank's GPU).
    grad_clip: clip the global gradient norm to this value. steps_per_epoch: train on at most
        this many batches per epoch (quick runs). progress: bars and summary lines (rank 0).

    Raises TrainingDiverged (with `.history`) on a NaN/inf loss; CheckpointError on a bad
    checkpoint. Under torch.distributed (torchrun), wraps the model in DistributedDataParallel.
    The model is left in eval mode.
    """
    # ---- check the arguments before any work
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if schedule == "none":
        schedule = None
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    if aux_weight < 0:
        raise ValueError(f"aux_weight must be >= 0, got {aux_weight!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be a positive number or None, got {grad_clip!r}")
    if steps_per_epoch is not None and (
        not isinstance(steps_per_epoch, int) or steps_per_epoch < 1
    ):
        raise ValueError(
            f"steps_per_epoch must be a positive integer or None, got {steps_per_epoch!r}"
        )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (where last.pt is)")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    train_loader, val_loader = _split_data(data)
    if not isinstance(train_loader, Sized):
        raise TypeError("the training loader must have len() (the number of batches per epoch)")
    steps = (
        len(train_loader) if steps_per_epoch is None else min(len(train_loader), steps_per_epoch)
    )
    if steps == 0:
        raise ValueError(
            "the training loader has no batches (is the dataset smaller than a batch?)"
        )

    rank, world_size = _dist_info()
    if device is None:
        if world_size > 1 and torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
        else:
            device = pick_device(verbose=progress and rank == 0)
    device = torch.device(device)
    amp_choice = choose_amp(device, amp)
    use_cl = _use_channels_last(channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest conv
        torch.set_float32_matmul_precision("high")  # TF32 tensor cores for float32 matmuls

    if world_size > 1:  # every rank must take the same number of steps, or DDP deadlocks
        lo_hi = torch.tensor([-steps, steps], device=device)
        dist.all_reduce(lo_hi, op=dist.ReduceOp.MAX)
        if -lo_hi[0] != lo_hi[1]:
            raise ValueError(
                f"the ranks' training loaders have from {-int(lo_hi[0])} to {int(lo_hi[1])} "
                "batches per epoch; every rank needs the same number (shard the data evenly)"
            )

    model.to(device)
    if use_cl:
        model.to(memory_format=torch.channels_last)
    if optimizer in OPTIMIZERS:  # resolve the defaults here so that the History records them
        lr = DEFAULT_LR[optimizer] if lr is None else lr
        weight_decay = DEFAULT_WEIGHT_DECAY[optimizer] if weight_decay is None else weight_decay
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    total_steps = epochs * steps
    scheduler = make_schedule(opt, schedule, total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_choice.use_scaler)
    config = {
        "model": type(model).__qualname__,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "total_steps": total_steps,
        "label_smoothing": label_smoothing,
        "aux_weight": aux_weight,
        "amp": amp_choice.name,
        "channels_last": use_cl,
        "grad_clip": grad_clip,
        "seed": seed,
        "device": device.type,
        "world_size": world_size,
    }
    history = History(config=config)

    # ---- start fresh, or continue from the last checkpoint
    start_epoch, last_finite = 0, None
    ckpt_path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME
    say = print if (progress and rank == 0) else (lambda *a, **k: None)
    if resume and ckpt_path.exists():
        start_epoch, history, last_finite = _resume(
            ckpt_path, model, opt, scheduler, scaler, config, device, rank
        )
        say(f"Resumed from {ckpt_path} after epoch {start_epoch}.")
    else:
        if resume:
            say(f"No checkpoint at {ckpt_path}: starting from scratch.")
        _seed_everything(seed + rank)  # different dropout masks per rank, same on every run
    if start_epoch >= epochs:
        say(f"The checkpoint already has {start_epoch} epochs (asked for {epochs}); nothing to do.")
        model.eval()
        return history

    net = model  # what the loop calls; `model` stays the plain module (saved, evaluated)
    if world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    if compile:
        net = torch.compile(net, backend=compile if isinstance(compile, str) else "inductor")

    # On a GPU, reading the loss every step stalls the queue; read it every few steps instead.
    sync_every = 1 if device.type == "cpu" else 16
    params = [p for g in opt.param_groups for p in g["params"]]
    bars = _Progress(progress and rank == 0, epochs, start_epoch, steps)
    try:
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            _set_epoch(train_loader, epoch)
            bars.start_epoch(epoch + 1, epochs, steps)
            net.train()
            loss_sum = correct = n = 0.0
            pending: list[tuple[int, float, torch.Tensor, torch.Tensor, int]] = []
            for step, batch in enumerate(islice(train_loader, steps)):
                images, labels = _batch(batch, device, use_cl)
                with torch.autocast(
                    device.type, dtype=amp_choice.dtype, enabled=amp_choice.dtype is not None
                ):
                    output = net(images)
                if step == 0 and epoch == start_epoch:
                    _check_first_batch(images, labels, output)
                loss, logits = training_loss(output, labels, aux_weight, label_smoothing)
                lr_now = opt.param_groups[0]["lr"]
                hits = (logits.detach().argmax(1) == labels).sum()
                pending.append((step, lr_now, loss.detach(), hits, labels.shape[0]))
                if len(pending) >= sync_every or step == steps - 1:
                    # Read the losses (all ranks' sum under DDP, so every rank stops together).
                    losses = torch.stack([p[2].float() for p in pending])
                    if world_size > 1:
                        dist.all_reduce(losses)
                        losses /= world_size
                    for (s, lr_s, _, h, b), v in zip(pending, losses.tolist()):
                        if not math.isfinite(v):
                            history.diverged = {
                                "epoch": epoch + 1,
                                "step": s + 1,
                                "steps_per_epoch": steps,
                                "loss": v,
                                "last_finite_loss": last_finite,
                                "lr": lr_s,
                                "train_loss": loss_sum / n if n else None,
                                "train_acc": correct / n if n else None,
                            }
                            raise TrainingDiverged(history)
                        last_finite = v
                        loss_sum += v * b
                        correct += int(h)
                        n += b
                    bars.batches(len(pending), loss_sum / n, correct / n)
                    pending = []
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(params, grad_clip)
                scaler.step(opt)
                scaler.update()
                if scheduler is not None:
                    scheduler.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            train_seconds = time.perf_counter() - t0
            loss_sum, correct, n = _reduce([loss_sum, correct, n], device)
            if n == 0:
                raise ValueError(f"the training loader yielded no batches in epoch {epoch + 1}")

            record = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / n,
                "train_acc": correct / n,
                "val_loss": None,
                "val_acc": None,
                "lr": lr_now,
                "seconds": 0.0,
                "images_per_s": n / train_seconds,
            }
            if val_loader is not None:
                _set_epoch(val_loader, epoch)
                vl, vc, vn = _reduce(
                    list(_eval_sums(model, val_loader, device, amp_choice, use_cl)), device
                )
                if vn:
                    record["val_loss"], record["val_acc"] = vl / vn, vc / vn
            record["seconds"] = time.perf_counter() - t0
            history.records.append(record)
            if ckpt_path is not None:
                _save_training_state(
                    ckpt_path,
                    model,
                    opt,
                    scheduler,
                    scaler,
                    epoch + 1,
                    history,
                    last_finite,
                    device,
                    rank,
                    world_size,
                )
            bars.end_epoch(record, epochs)
    except KeyboardInterrupt:
        bars.close()
        if ckpt_path is not None and history.records:
            say(f"Interrupted. Continue with resume=True from {ckpt_path} (epoch {len(history)}).")
        raise
    finally:
        bars.close()
    model.eval()
    return history


def _save_training_state(
    path, model, opt, scheduler, scaler, epoch, history, last_loss, device, rank, world
):
    rng = _rng_state(device)
    rngs = [rng]
    if world > 1:  # every rank's RNG, so each rank's dropout continues exactly after a resume
        rngs = [None] * world
        dist.all_gather_object(rngs, rng)
    if rank == 0:
        save_checkpoint(
            path,
            {
                "model_class": type(model).__qualname__,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rngs,
                "epoch": epoch,
                "last_loss": last_loss,
                "history": _json_safe(history.to_dict()),
                "config": history.config,
                "torch_version": str(torch.__version__),
            },
        )
    if world > 1:
        dist.barrier()  # no rank runs ahead of a checkpoint it may need to resume from


def _resume(path, model, opt, scheduler, scaler, config, device, rank):
    """Load everything from `path`, or raise CheckpointError leaving `model` as it was."""
    ckpt = _read_checkpoint(path)
    _check_state_matches(path, model, ckpt)
    saved = ckpt.get("config", {})
    keys = [k for k in _RESUME_KEYS if k != "total_steps" or config["schedule"] is not None]
    diff = [k for k in keys if saved.get(k) != config[k]]  # a constant lr may run longer
    if diff:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r}, now {config[k]!r}" for k in diff)
        hint = (
            " (the schedule's length is epochs x steps_per_epoch)" if "total_steps" in diff else ""
        )
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written by a run with other settings ({detail}){hint}; "
            "resume with the same settings, or use a new checkpoint_dir"
        )
    if (ckpt["scheduler"] is None) != (scheduler is None):
        raise CheckpointError(f"checkpoint {str(path)!r}: schedule mismatch")
    backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        history = History.from_dict(_json_restore(ckpt["history"]))
        rngs = ckpt["rng"]
        _set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0], device)
    except Exception as e:
        model.load_state_dict(backup)
        raise CheckpointError(
            f"checkpoint {str(path)!r} could not be restored ({type(e).__name__}: {e}); "
            "the model was left unchanged"
        ) from e
    return int(ckpt["epoch"]), history, ckpt.get("last_loss")


# =========================================================================== command line
def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: keep it as a string


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: x)" only where there is a value to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m inception_lab.train",
        description=(
            "Train a model of the course on one of its datasets; print one line per epoch and a\n"
            "final summary; write the History as JSON (--out) and, with --checkpoint-dir, last.pt\n"
            "after every epoch."
        ),
        epilog="""examples:
  python -m inception_lab.train --model mini_googlenet --dataset shapes --epochs 5
  python -m inception_lab.train --model mini_googlenet --model-arg aux_logits=True \\
      --label-smoothing 0.1 --checkpoint-dir runs/ck --resume
  torchrun --nproc_per_node=4 -m inception_lab.train --model mini_bn_inception --epochs 30

Under torchrun (--nproc_per_node=N) it trains with DistributedDataParallel (NCCL on GPUs,
gloo on CPUs): every rank trains on its own shard of the data with --batch-size images per
step (the global batch is N x --batch-size); only rank 0 prints and writes files.
Exit codes: 0 done, 2 unusable checkpoint, 3 training diverged (the History is still written).""",
        formatter_class=_HelpFormatter,
    )
    add = p.add_argument
    add(
        "--model",
        default="mini_googlenet",
        help="a name from inception_lab.models.list_models(), or 'package.module:function' "
        "for your own model factory (called with num_classes=..., in_channels=...)",
    )
    add(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra keyword argument for the model, e.g. --model-arg aux_logits=True (repeatable)",
    )
    add(
        "--dataset",
        default="shapes",
        help="shapes (generated, no files needed), cifar10, fashion_mnist or imagefolder "
        "(files under --data-root; see inception_lab.data.make_loaders)",
    )
    add(
        "--data-root",
        default=None,
        help="directory of the datasets (nothing is downloaded); default: the project's data/ "
        "folder or $INCEPTION_LAB_DATA",
    )
    add("--train-size", type=int, default=None, help="use only this many training images")
    add("--val-size", type=int, default=None, help="use only this many validation images")
    add("--no-augment", action="store_true", help="no random crop / flip of training images")
    add(
        "--workers",
        type=int,
        default=None,
        help="DataLoader worker processes; default: make_loaders' choice (0 for in-memory data)",
    )
    add("--batch-size", type=int, default=128, help="images per step on each process")
    add("--epochs", type=int, default=5, help="number of epochs")
    add(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="train on at most this many batches per epoch; default: the whole training set",
    )
    add("--optimizer", choices=OPTIMIZERS, default="sgd", help="optimizer")
    add(
        "--lr",
        type=float,
        default=None,
        help=f"peak learning rate; default per optimizer: {DEFAULT_LR}",
    )
    add(
        "--weight-decay",
        type=float,
        default=None,
        help=f"weight decay of conv/linear weights; default per optimizer: {DEFAULT_WEIGHT_DECAY}",
    )
    add(
        "--schedule",
        choices=["onecycle", "cosine", "none"],
        default="onecycle",
        help="learning-rate schedule, stepped every batch",
    )
    add("--label-smoothing", type=float, default=0.0, help="label smoothing eps of the loss")
    add("--aux-weight", type=float, default=0.3, help="weight of each auxiliary head's loss")
    add("--grad-clip", type=float, default=None, help="clip the gradient norm to this value")
    add(
        "--amp",
        choices=AMP_MODES,
        default="auto",
        help="mixed precision: auto = bf16 on GPUs that have it, fp16 + GradScaler on other "
        "GPUs, off on CPU",
    )
    add(
        "--channels-last",
        choices=["auto", "on", "off"],
        default="auto",
        help="NHWC memory layout (auto = on: faster convolutions on CPU and GPU)",
    )
    add("--compile", action="store_true", help="torch.compile the model")
    add("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    add("--seed", type=int, default=0, help="random seed (data order, initialization, dropout)")
    add(
        "--checkpoint-dir",
        default=None,
        help="write last.pt here after every epoch (atomically); default: no checkpoints",
    )
    add("--resume", action="store_true", help="continue from --checkpoint-dir/last.pt")
    add(
        "--out",
        default=None,
        help="where to write the History JSON; default: runs/<model>-<dataset>/history.json",
    )
    add("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    return p


def _build_model(spec: str, num_classes: int, in_channels: int, extra: dict) -> nn.Module:
    """A registry model (`models.build`), or your own factory given as "package.module:function"."""
    from inception_lab import models

    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = signature_of = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise SystemExit(f"--model {spec!r}: cannot import {attr!r} from {module_name!r} ({e})")
    elif spec in models.list_models():
        factory = functools.partial(models.build, spec)
        signature_of = models.MODELS[spec]
    else:
        raise SystemExit(
            f"--model {spec!r}: unknown; choose from {', '.join(models.list_models())}"
        )
    # The full-size ImageNet models are RGB only: they take no in_channels argument.
    kwargs = {"num_classes": num_classes, **extra}
    if "in_channels" in inspect.signature(signature_of).parameters:
        kwargs["in_channels"] = in_channels
    elif in_channels != 3:
        raise SystemExit(
            f"--model {spec!r} takes RGB images; the dataset has {in_channels} channels"
        )
    return factory(**kwargs)


def _replica_difference(model: nn.Module, device: torch.device) -> float:
    """Largest difference of any parameter between ranks (0.0 when DDP kept them in sync)."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(device)
    hi, lo = flat.clone(), flat.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    return float((hi - lo).max())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 2 unusable checkpoint, 3 diverged)."""
    args = build_parser().parse_args(argv)
    extra = {}
    for item in args.model_arg:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--model-arg expects KEY=VALUE, got {item!r}")
        extra[key] = _parse_value(value)

    # torchrun sets WORLD_SIZE, RANK and LOCAL_RANK for every process it starts.
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.device == "auto":
        device = pick_device(verbose=rank == 0 and not args.no_progress)
    else:
        device = torch.device(args.device)
    if world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group(backend=dist_backend(device))
    try:
        from inception_lab.data import make_loaders

        loaders = make_loaders(
            name=args.dataset,
            batch_size=args.batch_size,
            device=str(device),
            root=args.data_root,
            seed=args.seed,
            rank=rank,
            world_size=world_size,
            train_size=args.train_size,
            val_size=args.val_size,
            augment=not args.no_augment,
            num_workers=args.workers,
        )
        torch.manual_seed(args.seed)  # the same initial weights on every rank and every run
        model = _build_model(args.model, loaders.num_classes, loaders.in_channels, extra)
        out = Path(args.out or f"runs/{args.model.replace(':', '.')}-{args.dataset}/history.json")
        if rank == 0 and not args.no_progress:
            n_params = sum(p.numel() for p in model.parameters())
            print(
                f"{args.model}: {n_params:,} parameters; {args.dataset}: {len(loaders.train)} "
                f"batches of {args.batch_size} x {world_size} process(es) per epoch"
            )
        t0 = time.perf_counter()
        code = 0
        try:
            history = fit(
                model,
                loaders,
                args.epochs,
                optimizer=args.optimizer,
                lr=args.lr,
                weight_decay=args.weight_decay,
                schedule=None if args.schedule == "none" else args.schedule,
                label_smoothing=args.label_smoothing,
                aux_weight=args.aux_weight,
                amp=args.amp,
                channels_last={"auto": "auto", "on": True, "off": False}[args.channels_last],
                compile=args.compile,
                seed=args.seed,
                checkpoint_dir=args.checkpoint_dir,
                resume=args.resume,
                device=device,
                grad_clip=args.grad_clip,
                steps_per_epoch=args.steps_per_epoch,
                progress=not args.no_progress,
            )
        except TrainingDiverged as e:
            history, code = e.history, 3
            if rank == 0:
                print(f"error: {e}", file=sys.stderr)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        history.config.update(
            model_name=args.model, dataset=args.dataset, batch_size=args.batch_size
        )
        if world_size > 1 and code == 0:
            diff = _replica_difference(model, device)
            if diff != 0.0:
                raise RuntimeError(f"DDP replicas disagree: max weight difference {diff:.3g}")
            if rank == 0:
                print(f"all {world_size} ranks hold identical weights (max difference 0)")
        if rank == 0:
            history.to_json(out)
            if history.records:
                best = max((r["val_acc"] or 0.0) for r in history.records)
                print(
                    f"done: {len(history)} epochs in {time.perf_counter() - t0:.1f} s; final "
                    f"{_summary(history.records[-1])}; best val acc {best:.1%}; history: {out}"
                )
        if world_size > 1:
            # Every rank finishes its last collective and rank 0 its writes before any rank
            # tears down: a gloo rank exiting while its peer is still talking to it can abort
            # ("terminate called without an active exception"), seen once in CI.
            dist.barrier()
        return code
    finally:
        if world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
