"""Train one configuration for one seed and measure everything the ledger stores about it.

`train_run(config, seed, measure)` is the whole of one run: data, model, `train.fit`, then the
test accuracy (all, per object size), ECE, and the extra probes the experiment asks for. It
returns a JSON-ready record; `ledger` stores it. Nothing here knows about files.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from inception_lab import smoke
from inception_lab.data import make_loaders
from inception_lab.metrics import expected_calibration_error
from inception_lab.models import build
from inception_lab.profile import count_macs, count_params
from inception_lab.train import fit, predict

from . import probes

__all__ = ["machine", "train_run"]

ROOT = Path(__file__).resolve().parents[3]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "inception_lab"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(device: torch.device) -> dict[str, Any]:
    """Where a run was computed: device, CPU model and SIMD level, threads, versions, commit."""
    info = {
        "device": str(device),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "commit": _commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _loaders(config: dict[str, Any], seed: int, device: torch.device):
    d = config["data"]
    return make_loaders(
        "shapes", batch_size=config["batch_size"], device=device, seed=seed,
        train_size=d["train_size"], val_size=d["val_size"], test_size=d["test_size"],
        scale_ranges=d["scale_ranges"], clutter=d["clutter"],
    )  # fmt: skip


def _all(loader, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A split's normalised images, labels and scales, in dataset order, on `device`."""
    ds = loader.dataset
    return ds.normalize(ds.images).to(device), ds.labels, ds.scales


def train_run(
    config: dict[str, Any], seed: int, measure: tuple[str, ...] = (), device: Any = None
) -> dict[str, Any]:
    """Train `config` (see `catalog.BASE`) with `seed` and return the run's record:
    {"seed", "config", "epochs": per-epoch History records, "val_acc", "test_acc",
    "test_by_scale", "test_ece", "train_seconds", "images_per_s", "params", "macs", "machine",
    and one entry per measurement in `measure`}. Accuracies in [0, 1]."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaders = _loaders(config, seed, device)
    torch.manual_seed(seed)  # the weights' initialisation depends on the seed too
    model = build(config["model"], num_classes=10, **config["model_args"]).to(device)
    if config.get("head_dropout") is not None:
        model.dropout.p = float(config["head_dropout"])
    record: dict[str, Any] = {"seed": seed, "config": config}
    record["params"] = count_params(model)
    record["macs"] = count_macs(model, (3, 32, 32))
    if "grad_norm" in measure:  # one fixed batch of training images, before and after training
        train_images, train_labels, _ = _all(loaders.train, device)
        batch = (train_images[:128], train_labels[:128].to(device))
        record["grad_norm"] = {"init": probes.stage_grad_norms(model, *batch, config["aux_weight"])}
    t0 = time.perf_counter()
    history = fit(
        model, loaders, config["epochs"], optimizer=config["optimizer"], lr=config["lr"],
        weight_decay=config["weight_decay"], schedule=config["schedule"],
        label_smoothing=config["label_smoothing"], aux_weight=config["aux_weight"],
        grad_clip=config["grad_clip"], seed=seed, device=device, progress=False,
    )  # fmt: skip
    record["train_seconds"] = round(time.perf_counter() - t0, 2)
    record["epochs"] = history.to_dict()["records"]
    speeds = [r["images_per_s"] for r in history.records]
    record["images_per_s"] = round(sum(speeds) / len(speeds), 1)
    record["val_acc"] = history.records[-1]["val_acc"]

    test_images, test_labels, test_scales = _all(loaders.test, device)
    test_probs, labels = predict(model, loaders.test)  # a smoke run predicts a few batches only
    test_images, test_labels, test_scales = (
        t[: len(labels)] for t in (test_images, test_labels, test_scales)
    )
    if not torch.equal(labels.cpu(), test_labels.cpu()):  # the test loader must not shuffle
        raise RuntimeError("the test loader's order differs from the dataset's")
    record["test_by_scale"] = probes.accuracy_by_scale(test_probs, test_labels, test_scales)
    record["test_acc"] = record["test_by_scale"]["all"]
    record["test_ece"] = expected_calibration_error(test_probs, test_labels)
    if "branch_ablation" in measure:
        record["branch_ablation"] = probes.branch_ablation(
            model, test_images, test_labels, test_scales
        )
    if "grad_norm" in measure:
        record["grad_norm"]["final"] = probes.stage_grad_norms(model, *batch, config["aux_weight"])
    if "temperature" in measure:
        val_probs, val_labels = predict(model, loaders.val)
        record["temperature"] = probes.temperature_scaling(
            val_probs, val_labels, test_probs, test_labels
        )
    record["machine"] = machine(device)
    record["smoke"] = smoke.ACTIVE
    record["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return record
