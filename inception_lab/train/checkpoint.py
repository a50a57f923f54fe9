"""Checkpoints: everything needed to continue a run exactly where it stopped.

`fit(..., checkpoint_dir=d)` writes `d/last.pt` after every epoch, atomically (a crash mid-write
leaves the previous file intact): weights, optimizer and schedule state, the loss scaler, every
random generator, and the History. `fit(..., resume=True)` continues from it. Files are read with
`torch.load(weights_only=True)`, which refuses arbitrary pickled objects, so a checkpoint from
elsewhere cannot run code on this machine.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from inception_lab._io import atomic_write
from inception_lab.train.distributed import dist_info
from inception_lab.train.history import History, _json_restore, _json_safe

__all__ = ["CHECKPOINT_NAME", "CheckpointError", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "inception_lab.train.checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "last.pt"
# Settings that must agree for a resumed run to continue the same run.
RESUME_KEYS = ("optimizer", "lr", "weight_decay", "schedule", "total_steps", "amp")


class CheckpointError(RuntimeError):
    """A checkpoint file could not be used; nothing was loaded from it."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """torch.save `state` to `path` atomically (temporary file + fsync + rename)."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    return atomic_write(Path(path), lambda f: torch.save(state, f))


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint file at {str(path)!r}"
            + (" (that is a folder: pass the file, e.g. last.pt in it)" if path.is_dir() else "")
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message goes on to suggest weights_only=False, which would execute whatever
        # the file contains: never pass that advice on for a file of unknown origin.
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt, or holds Python objects other than tensors, "
            "numbers and plain containers (so it is not an Inception Lab checkpoint); nothing was "
            "loaded, and it should not be loaded fully: that could run code from the file"
        ) from e
    except Exception as e:  # truncated zip, not a torch file, ...
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a checkpoint "
            f"({type(e).__name__}: {_first_line(e)}); nothing was loaded"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an Inception Lab training checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {ckpt.get('version')}, this code reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return ckpt


def _first_line(e: Exception) -> str:
    lines = str(e).splitlines()
    return lines[0][:200] if lines else ""


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


def save_training_state(path, model, opt, scheduler, scaler, history, last_loss, device) -> None:
    """Write everything `resume_training_state` needs after the epochs of `history` (rank 0
    writes; under torchrun every rank contributes its random-generator state)."""
    rank, world = dist_info()
    epoch = len(history.records)
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


def resume_training_state(path, model, opt, scheduler, scaler, config, device):
    """Load everything from `path`, or raise CheckpointError leaving `model` as it was.
    Returns (epochs done, History, last finite loss)."""
    rank = dist_info()[0]
    ckpt = _read_checkpoint(path)
    _check_state_matches(path, model, ckpt)
    saved = ckpt.get("config", {})
    keys = [k for k in RESUME_KEYS if k != "total_steps" or config["schedule"] is not None]
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
