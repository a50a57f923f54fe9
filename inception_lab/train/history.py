"""What a training run leaves behind: one record per epoch, and the report of a divergence.

A `History` is plain data (lists of numbers), written as strict JSON, so a run can be stored next
to its checkpoint and drawn later with `inception_lab.viz.plot_history(history)`; the engine itself
draws nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inception_lab._io import atomic_write

__all__ = ["RECORD_KEYS", "History", "TrainingDiverged", "summary"]

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
        return atomic_write(Path(path), lambda f: f.write(text.encode()))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        try:
            d = json.loads(Path(path).read_text())
            return cls.from_dict(_json_restore(d))
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"cannot read a History from {str(path)!r}: {e}") from e

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else None
        tail = f", last={summary(last)}" if last else ""
        div = f", diverged at epoch {self.diverged['epoch']}" if self.diverged else ""
        return f"History({len(self)} epochs{tail}{div})"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. `.history` holds the completed epochs (and `.diverged`),
    so a notebook can plot the run next to a stable one:

        try:
            h = fit(model, data, 5, lr=10.0)
        except TrainingDiverged as e:
            h = e.history

    `.step` is the first step with a non-finite loss, `.last_finite_step` the step before it.
    Which weights the model holds afterwards depends on how often the loss was read:
    `.weights_after_step` is the last step whose update was applied. On the CPU the loss is
    read before every update, so the model holds the weights of the last finite step; on a GPU
    it is read every few steps (each read makes the CPU wait for the GPU), so the model may hold
    weights updated by a few non-finite steps. Reload a checkpoint for trustworthy weights.
    """

    def __init__(self, history: History):
        info = history.diverged
        self.history = history
        self.epoch, self.step = info["epoch"], info["step"]
        self.last_finite_loss, self.lr = info["last_finite_loss"], info["lr"]
        self.last_finite_step = info["step"] - 1
        self.weights_after_step = info.get("weights_after_step", self.last_finite_step)
        last = "none" if self.last_finite_loss is None else f"{self.last_finite_loss:.4g}"
        if self.weights_after_step == self.last_finite_step:
            weights = "the model holds the weights of the last finite step"
        else:
            weights = (
                f"the model holds the weights after step {self.weights_after_step} (the loss is "
                f"read every {info.get('check_every', 1)} steps on this device), "
                f"{self.weights_after_step - self.last_finite_step} update(s) past the last "
                "finite one"
            )
        super().__init__(
            f"training diverged: loss = {info['loss']} at epoch {self.epoch}, step {self.step} "
            f"of {info['steps_per_epoch']} (learning rate {self.lr:.4g}); last finite loss {last} "
            f"at step {self.last_finite_step}; {weights}. Try a smaller lr, grad_clip=..., or "
            "(for residual Inception) scaling the residuals; the epochs before it are in this "
            "exception's .history."
        )


def summary(r: dict) -> str:
    val = "" if r["val_loss"] is None else f"  val loss {r['val_loss']:.4f} acc {r['val_acc']:.1%}"
    return (
        f"train loss {r['train_loss']:.4f} acc {r['train_acc']:.1%}{val}  lr {r['lr']:.3g}  "
        f"{r['seconds']:.1f} s ({r['images_per_s']:,.0f} img/s)"
    )
