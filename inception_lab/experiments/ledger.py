"""The ledger: experiments/results/NAME[.long|.gpu].json, one file per experiment and budget.

`run(name)` trains what the file does not hold yet, in order: each learning-rate sweep (every
rate x `SWEEP_SEEDS`, extended by one rate while its best is at an edge), then each arm's seeds
at its chosen rate. The file is rewritten atomically after each run, so a killed job loses at
most the run in progress and the next `run` continues. `load` reads a file, `summarize` gives
each arm's values by seed, `chosen_lr` states the sweep's rule, `verify` re-trains a stored run.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from inception_lab._io import atomic_write
from inception_lab._validate import check_int

from .catalog import EXPERIMENTS, SWEEP_SEEDS, Experiment, resolve
from .runner import ROOT, SourceState, source_state, train_run

__all__ = [
    "RESULTS",
    "chosen_lr",
    "epoch_metric",
    "get",
    "load",
    "run",
    "summarize",
    "train_one",
    "verify",
]

RESULTS = ROOT / "experiments" / "results"
FORMAT = 2
MAX_EXTENSIONS = 2  # rates a sweep may add beyond its declared ones when its best is at an edge
_SUFFIX = {"cpu": "", "cpu-long": ".long", "gpu": ".gpu"}


def get(name: str) -> Experiment:
    """The experiment called `name` (a clear error listing the names otherwise)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def path_of(name: str, budget: str = "cpu", results: Path | None = None) -> Path:
    if budget not in _SUFFIX:
        raise ValueError(f"budget must be one of {list(_SUFFIX)}, got {budget!r}")
    return (RESULTS if results is None else Path(results)) / f"{name}{_SUFFIX[budget]}.json"


def load(name: str, budget: str = "cpu", results: Path | None = None) -> dict[str, Any]:
    """The stored results of one experiment: {"format", "experiment", "lesson", "question",
    "budget", "provenance", "runs": [record, ...]}. Raises FileNotFoundError naming the command
    that computes them."""
    get(name)
    path = path_of(name, budget, results)
    if not path.exists():
        raise FileNotFoundError(
            f"no results for {name!r} at budget {budget!r} in {path.parent}; compute them with "
            f"`python -m inception_lab.experiments run {name} --budget {budget}`"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} has format {data.get('format')}, this code reads {FORMAT}")
    return data


def _empty(experiment: Experiment, budget: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "experiment": experiment.name,
        "lesson": experiment.lesson,
        "question": experiment.question,
        "budget": budget,
        "provenance": {},
        "runs": [],
    }


# --------------------------------------------------------------------------- sweeps
def _sweep_rates(experiment: Experiment, label: str, runs: list[dict]) -> list[float]:
    stored = {r["config"]["fit"]["lr"] for r in runs if r["label"] == label}
    return sorted(set(experiment.arms[label].lr_sweep) | stored)


def chosen_lr(experiment: Experiment, label: str, runs: list[dict]) -> dict[str, Any]:
    """The sweep of a tuned arm (its own, or the one `lr_from` names) and its choice.

    Rule: the rate with the highest mean final validation accuracy over `SWEEP_SEEDS` (ties: the
    lower rate). Returns {"arm", "rates": {lr: mean val_acc or None}, "lr" (None until every
    rate has every sweep seed), "at_edge", "next" (a rate to add when the choice is at an edge
    and the sweep may still grow, else None)}."""
    arm = experiment.arms[label]
    owner = arm.lr_from or label
    if not experiment.arms[owner].lr_sweep:
        raise ValueError(f"{experiment.name}/{label} has no learning-rate sweep")
    rates = _sweep_rates(experiment, owner, runs)
    table: dict[float, float | None] = {}
    for lr in rates:
        vals = {
            r["seed"]: r["val_acc"]
            for r in runs
            if r["label"] == owner and r["config"]["fit"]["lr"] == lr
        }
        done = all(s in vals for s in SWEEP_SEEDS)
        table[lr] = sum(vals[s] for s in SWEEP_SEEDS) / len(SWEEP_SEEDS) if done else None
    out = {"arm": owner, "rates": table, "lr": None, "at_edge": None, "next": None}
    if any(v is None for v in table.values()):
        return out
    best = max(rates, key=lambda lr: (table[lr], -lr))
    at_edge = best in (rates[0], rates[-1])
    out.update(lr=best, at_edge=at_edge)
    declared = experiment.arms[owner].lr_sweep
    if at_edge and len(rates) - len(declared) < MAX_EXTENSIONS:
        ratio = rates[1] / rates[0]
        out["next"] = float(f"{best * ratio:.1g}" if best == rates[-1] else f"{best / ratio:.1g}")
    return out


# --------------------------------------------------------------------------- what to train next
def _next_run(experiment: Experiment, budget: str, runs: list[dict], tuned: dict | None):
    """The next (label, seed, lr) the file lacks, or None when complete. `tuned`: at the long
    budget, the short budget's runs (the rates are chosen there)."""
    have = {(r["label"], r["seed"], r["config"]["fit"]["lr"]) for r in runs}
    for label in experiment.arms_at(budget):
        arm = experiment.arms[label]
        lr = None
        if arm.lr_sweep or arm.lr_from:
            source = runs if tuned is None else tuned
            choice = chosen_lr(experiment, label, source)
            if tuned is None and arm.lr_sweep:  # the sweep itself, first
                for rate in _sweep_rates(experiment, label, runs):
                    for seed in SWEEP_SEEDS:
                        if (label, seed, rate) not in have:
                            return label, seed, rate
                if choice["next"] is not None:
                    return label, SWEEP_SEEDS[0], choice["next"]
            lr = choice["lr"]
            if lr is None:
                raise RuntimeError(
                    f"{experiment.name}/{label}: its sweep is not complete at the short budget; "
                    f"run `python -m inception_lab.experiments run {experiment.name}` first"
                )
        for seed in experiment.seeds(label, budget):
            rate = resolve(experiment, label, budget, lr)["fit"]["lr"]
            if (label, seed, rate) not in have:
                return label, seed, lr
    return None


def _stored_elsewhere(config, seed, measure, path: Path, source: SourceState) -> dict | None:
    """A run of the same configuration and seed that another experiment stored with the same
    code (commit, no uncommitted diff), if it holds every measurement this one needs: training
    it again would give the same numbers (probes never change the trained model)."""
    for other in sorted(path.parent.glob("*.json")):
        if other == path or other.name.count(".") != path.name.count("."):  # same budget only
            continue
        try:
            runs = json.loads(other.read_text(encoding="utf-8"))["runs"]
        except (OSError, ValueError, KeyError):
            continue
        for r in runs:
            m = r["machine"]
            if (
                r["seed"] == seed
                and r["config"] == config
                and all(k in r for k in measure)
                and (m["commit"], m["diff_sha256"]) == (source.commit, source.diff_sha256)
            ):
                copied = {k: v for k, v in r.items() if k != "label"}
                return {**copied, "copied_from": r.get("copied_from", other.stem)}
    return None


def _lock(path: Path) -> Path:
    """Claim NAME.lock next to the results, so two jobs never write one file; a lock left by a
    process that no longer runs is taken over."""
    lock = path.with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, OSError):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            raise RuntimeError(f"{path.name} is being computed by process {pid} ({lock})") from None
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return lock
    raise RuntimeError(f"could not claim {lock}")


def run(
    name: str,
    budget: str = "cpu",
    results: Path | None = None,
    allow_dirty: bool = False,
    log=print,
) -> dict[str, Any]:
    """Train everything experiment `name` still lacks at `budget`, storing each run at once.

    Refuses an uncommitted tree (the runs must name the code that made them) unless
    `allow_dirty`, and then stores the diff's hash with every run. A stored run whose
    configuration no longer matches the catalog is an error, not a skip."""
    experiment = get(name)
    source = source_state()
    if not source.clean and not allow_dirty:
        raise RuntimeError(
            "the package has uncommitted changes: commit them first (the ledger records the "
            "commit of every run), or pass --allow-dirty to store a hash of the diff instead"
        )
    path = path_of(name, budget, results)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    data = _empty(experiment, budget) if data is None else data
    tuned = load(name, "cpu", results)["runs"] if budget == "cpu-long" else None
    _check_stale(experiment, budget, data)
    lock = _lock(path)
    try:
        while (todo := _next_run(experiment, budget, data["runs"], tuned)) is not None:
            label, seed, lr = todo
            t0 = time.perf_counter()
            config = resolve(experiment, label, budget, lr)
            record = _stored_elsewhere(config, seed, experiment.measure, path, source)
            if record is None:
                record = train_run(config, seed, experiment.measure, source=source)
            data["runs"].append({"label": label, **record})
            data["provenance"] = provenance_of(data, name, budget)
            atomic_write(path, json.dumps(data, indent=1) + "\n")
            source_note = (
                f", copied from {record['copied_from']}" if "copied_from" in record else ""
            )
            log(
                f"{name} [{budget}] {label!r} seed {seed} lr {config['fit']['lr']:g}: test "
                f"{record['test_acc']:.1%}, val {record['val_acc']:.1%} "
                f"({time.perf_counter() - t0:.0f} s{source_note})"
            )
    finally:
        lock.unlink(missing_ok=True)
    log(f"{name} [{budget}]: complete, {len(data['runs'])} runs in {path}")
    return data


def _check_stale(experiment: Experiment, budget: str, data: dict) -> None:
    for r in data["runs"]:
        arm = experiment.arms.get(r["label"])
        if arm is None:
            raise RuntimeError(f"{experiment.name}: stored arm {r['label']!r} left the catalog")
        lr = r["config"]["fit"]["lr"] if arm.lr_sweep or arm.lr_from else None
        expected = resolve(experiment, r["label"], budget, lr)
        if r["config"] != expected:
            raise RuntimeError(
                f"{experiment.name}: the stored run of {r['label']!r} seed {r['seed']} used "
                "another configuration than the catalog's now; delete it or restore the catalog"
            )


def provenance_of(data: dict[str, Any], name: str, budget: str) -> dict[str, Any]:
    """Where the file's runs come from: the command that (re)computes them, every distinct
    machine and code state with its run count, and the dates of the first and last run."""
    machines: dict[str, dict[str, Any]] = {}
    for r in data["runs"]:
        m = {k: v for k, v in r["machine"].items() if k != "date"}
        key = json.dumps(m, sort_keys=True)
        machines.setdefault(key, {**m, "runs": 0})["runs"] += 1
    dates = sorted(r["machine"]["date"] for r in data["runs"])
    return {
        "command": f"python -m inception_lab.experiments run {name} --budget {budget}",
        "environment": "OMP_NUM_THREADS=1 (make experiments), two jobs side by side",
        "machines": list(machines.values()),
        "first_run": dates[0] if dates else None,
        "last_run": dates[-1] if dates else None,
    }


# --------------------------------------------------------------------------- reading
def _value(record: dict, metric: str) -> float:
    value: Any = record
    for part in metric.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return float(value)


def epoch_metric(epoch: int, key: str = "val_acc") -> str:
    """The `summarize` metric of one epoch's record (1-based `epoch`), e.g. "epochs.2.val_acc"
    for the validation accuracy after epoch 3: what a short live run (`train_one(...,
    stop_after=3)`) is compared on."""
    check_int("epoch", epoch, minimum=1)
    return f"epochs.{epoch - 1}.{key}"


def _stats(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return {"mean": mean, "sd": sd, "min": min(values), "max": max(values), "n": n}


def summarize(data: dict[str, Any], metric: str = "test_acc") -> dict[str, dict[str, Any]]:
    """Per arm (catalog order), the runs at its chosen rate (its sweep's other rates left out):
    {"by_seed": {seed: value}, "seeds", "values", "mean", "sd", "min", "max", "n", "lr"}.
    `metric` is a record key or a dotted path into it, e.g. "test_by_scale.small"."""
    experiment = get(data["experiment"])
    out: dict[str, dict[str, Any]] = {}
    for label, arm in experiment.arms.items():
        runs = [r for r in data["runs"] if r["label"] == label]
        if (arm.lr_sweep or arm.lr_from) and data["budget"] != "cpu-long":  # the long budget
            rate = chosen_lr(experiment, label, data["runs"])["lr"]  # trains the chosen rate only
            runs = [r for r in runs if r["config"]["fit"]["lr"] == rate]
        if not runs:
            continue
        by_seed = {r["seed"]: _value(r, metric) for r in sorted(runs, key=lambda r: r["seed"])}
        values = list(by_seed.values())
        out[label] = {
            "by_seed": by_seed,
            "seeds": list(by_seed),
            "values": values,
            "lr": runs[0]["config"]["fit"]["lr"],
            **_stats(values),
        }
    return out


def train_one(
    name: str,
    label: str,
    seed: int = 0,
    epochs: int | None = None,
    budget: str = "cpu",
    device: Any = None,
    smoke_steps: int | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train one arm live as the ledger did (same data, recipe, tuned rate and measurements),
    optionally for fewer `epochs` (a shorter schedule: another run) or only the first
    `stop_after` epochs of the ledger's run (the same schedule: they equal the stored run's first
    epochs, compared with `report.live_vs_ledger(..., metric=epoch_metric(stop_after))`), or as a
    smoke run; nothing is stored. Returns the run's record (see `runner.train_run`)."""
    experiment = get(name)
    arm = experiment.arms[label] if label in experiment.arms else None
    lr = None
    if arm is not None and (arm.lr_sweep or arm.lr_from):
        lr = chosen_lr(experiment, label, load(name)["runs"])["lr"]
    config = resolve(experiment, label, budget, lr)
    if epochs is not None:
        config["fit"]["epochs"] = check_int("epochs", epochs, minimum=1)
    if stop_after is not None and check_int("stop_after", stop_after) >= config["fit"]["epochs"]:
        raise ValueError(
            f"stop_after must be below the run's {config['fit']['epochs']} epochs (it stops the "
            f"run early), got {stop_after}"
        )
    return train_run(
        config, seed, experiment.measure, device, smoke_steps=smoke_steps, stop_after=stop_after
    )


def verify(
    name: str, seed: int, label: str | None = None, budget: str = "cpu", results: Path | None = None
) -> dict[str, Any]:
    """Re-train one stored run (the first arm's, unless `label`) with its stored configuration
    and thread count; compare every epoch's validation accuracy and the test accuracy.

    Returns {"label", "seed", "stored", "now", "same_machine", "exact", "verdict", ...}."""
    data = load(name, budget, results)
    experiment = get(name)
    label = label or next(iter(experiment.arms))
    summary = summarize(data).get(label)
    rate = None if summary is None else summary["lr"]
    stored = [
        r
        for r in data["runs"]
        if r["label"] == label
        and r["seed"] == seed
        and (rate is None or r["config"]["fit"]["lr"] == rate)
    ]
    if not stored:
        raise ValueError(f"{name} has no stored run of {label!r} with seed {seed}")
    old = stored[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(old["machine"]["threads"])
    try:
        new = train_run(old["config"], seed, experiment.measure)
    finally:
        torch.set_num_threads(threads)
    keys = ("cpu", "cpu_capability", "threads", "torch", "device")
    same = all(old["machine"][k] == new["machine"][k] for k in keys)
    exact = new["test_acc"] == old["test_acc"] and [e["val_acc"] for e in new["epochs"]] == [
        e["val_acc"] for e in old["epochs"]
    ]
    if exact:
        verdict = "reproduced to the digit"
    elif same:
        verdict = "NOT reproduced: same machine type, different result"
    else:
        verdict = "different machine type: compare with the seed spread (report.live_vs_ledger)"
    return {
        "label": label,
        "seed": seed,
        "stored": old["test_acc"],
        "now": new["test_acc"],
        "same_machine": same,
        "exact": exact,
        "verdict": verdict,
        "machine_now": new["machine"],
        "machine_stored": old["machine"],
    }
