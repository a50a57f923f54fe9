"""Train one configuration for one seed and measure everything the ledger stores about it.

`train_run(config, seed, measure)` is the whole of one run: data, model, `train.fit`, then the
test accuracy (all, per object size), ECE, the final training loss, and the extra probes the
experiment asks for. It returns a JSON-ready record; `ledger` stores it. Nothing here knows
about files, except `source_state`, which says which code computes the runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from inception_lab.data import make_loaders
from inception_lab.metrics import expected_calibration_error
from inception_lab.models import build
from inception_lab.profile import count_macs, count_params
from inception_lab.train import fit, predict

from . import probes

__all__ = ["SourceState", "machine", "source_state", "train_run"]

ROOT = Path(__file__).resolve().parents[2]
_TRACKED = ("inception_lab", "pyproject.toml")  # what decides a run's numbers


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclasses.dataclass(frozen=True)
class SourceState:
    """The code a job computes with: its commit and, for an uncommitted tree, a hash of the diff."""

    commit: str
    diff_sha256: str | None

    @property
    def clean(self) -> bool:
        return self.diff_sha256 is None


def source_state() -> SourceState:
    """The commit of the package's checkout and a sha256 of `git diff HEAD` over the package
    and pyproject.toml when they differ from it ("unknown" outside a git checkout)."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        diff = _git("diff", "HEAD", "--", *_TRACKED)
        untracked = _git("ls-files", "--others", "--exclude-standard", "--", *_TRACKED)
    except (OSError, subprocess.CalledProcessError):
        return SourceState("unknown", None)
    if not diff and not untracked:
        return SourceState(commit, None)
    digest = hashlib.sha256((diff + "\n" + untracked).encode()).hexdigest()[:16]
    return SourceState(commit, digest)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device, source: SourceState | None = None) -> dict[str, Any]:
    """Where and with what a run was computed: device, CPU model and SIMD level, threads,
    Python / torch / torchvision / numpy versions, commit (and diff hash), date."""
    source = source_state() if source is None else source
    info = {
        "device": str(device),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "commit": source.commit,
        "diff_sha256": source.diff_sha256,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_loaders(config: dict[str, Any], seed: int, device: Any, test: bool = True):
    """A run's data: training and validation images drawn with `seed`, the fixed test set with
    the config's test_seed (`test=False`: a token test split, for a caller with its own test
    images); batch order and augmentation from `seed`. Generated in memory (~1 s per run)."""
    d = config["data"]
    variant = {"scale_ranges": d["scale_ranges"], "clutter": d["clutter"]}

    def draw(data_seed: int, sizes: dict[str, int]):
        with tempfile.TemporaryDirectory() as root:  # the generator's cache, not kept
            return make_loaders(
                "shapes",
                batch_size=d["batch_size"],
                device=device,
                root=root,
                seed=seed,
                data_seed=data_seed,
                sizes=sizes,
                **variant,
            )

    few = 30  # one balanced block of the split a draw does not need
    train = draw(seed, {"train": d["train_size"], "val": d["val_size"], "test": few})
    if not test:
        return train
    fixed = draw(d["test_seed"], {"train": few, "val": few, "test": d["test_size"]})
    return dataclasses.replace(train, test=fixed.test)


def _all(loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A split's normalised images, labels and scales, in dataset order, on `device`."""
    ds = loader.dataset
    return ds.normalize(ds.images).to(device), ds.labels, ds.scales


def train_run(
    config: dict[str, Any],
    seed: int,
    measure: tuple[str, ...] = (),
    device: Any = None,
    source: SourceState | None = None,
    smoke_steps: int | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train `config` (see `catalog.resolve`) with `seed` and return the run's record:
    {"seed", "config", "epochs": per-epoch History records, "final_train_loss", "val_acc",
    "test_acc", "test_by_scale", "test_ece", "train_seconds", "images_per_s", "params", "macs",
    "machine", and one entry per measurement in `measure`}. Accuracies in [0, 1].
    smoke_steps: a smoke run (a few batches per epoch and evaluation, `train.FitConfig`); the
    ledger never stores one. stop_after: train only the first epochs of the run (on its full
    schedule, so they equal the stored run's first epochs) and measure nothing on the test set;
    the ledger never stores such a run either."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    # a short look measures nothing on the test set, so it skips drawing it (its own seed:
    # the training data and the run are the same either way)
    short_look = stop_after is not None and stop_after < config["fit"]["epochs"]
    loaders = run_loaders(config, seed, device, test=not short_look)
    torch.manual_seed(seed)  # the weights' initialisation depends on the seed too
    model = build(config["model"], num_classes=10, **config["model_args"]).to(device)
    if config["head_dropout"] is not None:
        model.dropout.p = float(config["head_dropout"])
    record: dict[str, Any] = {"seed": seed, "data_seed": seed, "config": config}
    record["params"] = count_params(model)
    record["macs"] = count_macs(model, (3, 32, 32))
    if "grad_norm" in measure:  # one fixed batch of training images, before and after training
        train_images, train_labels, _ = _all(loaders.train, device)
        batch = (train_images[:128], train_labels[:128].to(device))
        aux_weight = config["fit"]["aux_weight"]
        record["grad_norm"] = {"init": probes.stage_grad_norms(model, *batch, aux_weight)}
    t0 = time.perf_counter()
    history = fit(
        model,
        loaders,
        seed=seed,
        device=device,
        progress=False,
        smoke_steps=smoke_steps,
        stop_after=stop_after,
        **config["fit"],
    )
    record["train_seconds"] = round(time.perf_counter() - t0, 2)
    record["epochs"] = history.to_dict()["records"]
    record["final_train_loss"] = history.records[-1]["train_loss"]
    speeds = [r["images_per_s"] for r in history.records]
    record["images_per_s"] = round(sum(speeds) / len(speeds), 1)
    record["val_acc"] = history.records[-1]["val_acc"]
    record["machine"] = machine(device, source)
    record["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    if stop_after is not None and len(history.records) < config["fit"]["epochs"]:  # a short look
        record["stopped_after"] = len(history.records)
        return record
    _measure_test(record, model, loaders, device, measure, smoke_steps)
    if "grad_norm" in measure:
        record["grad_norm"]["final"] = probes.stage_grad_norms(model, *batch, aux_weight)
    record["machine"] = record.pop("machine")  # keep the stored key order: machine last
    record["omp_num_threads"] = record.pop("omp_num_threads")
    return record


def _measure_test(record: dict, model, loaders, device, measure, smoke_steps) -> None:
    """Test accuracy (all, per object size), ECE, and the after-training probes, into record."""
    test_images, test_labels, test_scales = _all(loaders.test, device)
    test_probs, labels = predict(model, loaders.test, max_batches=smoke_steps)
    n = len(labels)  # a smoke run predicts a few batches only
    test_images, test_labels, test_scales = test_images[:n], test_labels[:n], test_scales[:n]
    if not torch.equal(labels.cpu(), test_labels.cpu()):  # the test loader must not shuffle
        raise RuntimeError("the test loader's order differs from the dataset's")
    record["test_by_scale"] = probes.accuracy_by_scale(test_probs, test_labels, test_scales)
    record["test_acc"] = record["test_by_scale"]["all"]
    record["test_ece"] = expected_calibration_error(test_probs, test_labels)
    if "branch_ablation" in measure:
        record["branch_ablation"] = probes.branch_ablation(
            model, test_images, test_labels, test_scales
        )
    if "temperature" in measure:
        val_probs, val_labels = predict(model, loaders.val, max_batches=smoke_steps)
        record["temperature"] = probes.temperature_scaling(
            val_probs, val_labels, test_probs, test_labels
        )
