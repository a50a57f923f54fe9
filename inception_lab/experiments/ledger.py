"""The ledger: experiments/results/NAME.json, one file per experiment, one record per run.

`run(name)` trains every (configuration, seed) that the file does not hold yet and rewrites the
file atomically after each run, so a killed job loses at most the run in progress and the next
`run` continues where it stopped. `load(name)` reads a file, `summarize` gives mean, spread and
every seed's value per configuration, `verify` re-trains one stored run and compares.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from inception_lab import smoke
from inception_lab._io import atomic_write

from .catalog import EXPERIMENTS, Experiment, resolve
from .runner import ROOT, train_run

__all__ = ["RESULTS", "get", "load", "run", "summarize", "train_one", "verify"]

RESULTS = ROOT / "experiments" / "results"
FORMAT = 1


def get(name: str) -> Experiment:
    """The experiment called `name` (a clear error listing the names otherwise)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def path_of(name: str, budget: str = "cpu", results: Path | None = None) -> Path:
    folder = RESULTS if results is None else Path(results)
    return folder / (f"{name}.json" if budget == "cpu" else f"{name}.{budget}.json")


def load(name: str, budget: str = "cpu", results: Path | None = None) -> dict[str, Any]:
    """The stored results of one experiment: {"experiment", "question", "budget", "provenance",
    "runs": [record, ...]}. Raises FileNotFoundError naming the command that computes them."""
    get(name)
    path = path_of(name, budget, results)
    if not path.exists():
        raise FileNotFoundError(
            f"no results for {name!r} at budget {budget!r} in {path.parent}; compute them with "
            f"`python -m inception_lab.experiments run {name} --budget {budget}`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _empty(experiment: Experiment, budget: str) -> dict[str, Any]:
    return {"format": FORMAT, "experiment": experiment.name, "lesson": experiment.lesson,
            "question": experiment.question, "budget": budget, "provenance": {}, "runs": []}  # fmt: skip


def _key(label: str, seed: int) -> tuple[str, int]:
    return label, seed


def _stored_elsewhere(config: dict, seed: int, measure: tuple[str, ...], path: Path) -> dict | None:
    """A run of the same configuration and seed stored by another experiment (several lessons
    compare against the same model, e.g. the mini Inception v3 with AdamW), if it holds every
    measurement this experiment needs: training it again would give the same numbers."""
    for other in sorted(path.parent.glob("*.json")):
        if other == path or other.name.count(".") != path.name.count("."):  # same budget only
            continue
        try:
            runs = json.loads(other.read_text(encoding="utf-8"))["runs"]
        except (OSError, ValueError, KeyError):
            continue
        for r in runs:
            if r["seed"] == seed and r["config"] == config and all(m in r for m in measure):
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
    seeds: tuple[int, ...] | None = None,
    labels: list[str] | None = None,
    results: Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Train every missing (label, seed) of experiment `name` and store each run as it finishes.

    seeds: default the experiment's. labels: default all. Runs already in the file are skipped
    (resuming); a run whose configuration changed since it was stored is an error, not a skip.
    """
    experiment = get(name)
    if smoke.ACTIVE and (results is None or Path(results).resolve() == RESULTS.resolve()):
        raise RuntimeError(
            f"a smoke run ({smoke.ENV} is set) trains a few steps only: it may not write to the "
            f"ledger in {RESULTS}; pass another results folder"
        )
    seeds = experiment.seeds if seeds is None else tuple(seeds)
    labels = list(experiment.configs) if labels is None else labels
    path = path_of(name, budget, results)
    data = (
        json.loads(path.read_text(encoding="utf-8"))
        if path.exists()
        else _empty(experiment, budget)
    )
    done = {_key(r["label"], r["seed"]): r for r in data["runs"]}
    todo = [(label, seed) for seed in seeds for label in labels if _key(label, seed) not in done]
    for label in labels:
        config = resolve(experiment, label, budget)
        stale = [r["seed"] for r in data["runs"] if r["label"] == label and r["config"] != config]
        if stale:
            raise RuntimeError(
                f"{path.name}: the stored runs of {label!r} (seeds {stale}) used another "
                "configuration than the catalog's now; delete them or restore the catalog"
            )
    log(f"{name}: {len(done)} runs stored, {len(todo)} to train -> {path}")
    if not todo:
        if data["runs"] and data.get("provenance") != provenance_of(data, name, budget):
            data["provenance"] = provenance_of(data, name, budget)
            atomic_write(path, json.dumps(data, indent=1) + "\n")
        return data
    lock = _lock(path)
    try:
        for i, (label, seed) in enumerate(todo, 1):
            t0 = time.perf_counter()
            config = resolve(experiment, label, budget)
            record = _stored_elsewhere(config, seed, experiment.measure, path)
            if record is None:
                record = train_run(config, seed, experiment.measure)
            data["runs"].append({"label": label, **record})
            data["provenance"] = provenance_of(data, name, budget)
            atomic_write(path, json.dumps(data, indent=1) + "\n")
            source = f", copied from {record['copied_from']}" if "copied_from" in record else ""
            log(
                f"[{i}/{len(todo)}] {label!r} seed {seed}: test {record['test_acc']:.1%} "
                f"({time.perf_counter() - t0:.0f} s{source})"
            )
    finally:
        lock.unlink(missing_ok=True)
    return data


def train_one(name: str, label: str, seed: int = 0, epochs: int | None = None,
              budget: str = "cpu", device: Any = None) -> dict[str, Any]:  # fmt: skip
    """Train one configuration of an experiment live, as the ledger would (same data, recipe and
    measurements), optionally for fewer `epochs`; nothing is stored. Returns the run's record
    (see `runner.train_run`): a lesson compares it with the stored seeds (`report.live_vs_ledger`).
    """
    experiment = get(name)
    config = resolve(experiment, label, budget)
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        config["epochs"] = epochs
    return train_run(config, seed, experiment.measure, device)


def provenance_of(data: dict[str, Any], name: str, budget: str) -> dict[str, Any]:
    """Where the file's runs come from: the command that (re)computes them, every distinct
    machine (CPU or GPU model, SIMD level, threads, torch version, commit) with its run count, and
    the dates of the first and last run."""
    machines: dict[str, dict[str, Any]] = {}
    for r in data["runs"]:
        m = {k: v for k, v in r["machine"].items() if k != "date"}
        key = json.dumps(m, sort_keys=True)
        machines.setdefault(key, {**m, "runs": 0})["runs"] += 1
    dates = sorted(r["machine"]["date"] for r in data["runs"])
    return {
        "command": f"python -m inception_lab.experiments run {name} --budget {budget}",
        "environment": "OMP_NUM_THREADS=1 (make experiments), two experiments side by side",
        "machines": list(machines.values()),
        "first_run": dates[0] if dates else None,
        "last_run": dates[-1] if dates else None,
    }


def _stats(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return {"mean": mean, "sd": sd, "min": min(values), "max": max(values), "n": n}


def summarize(data: dict[str, Any], metric: str = "test_acc") -> dict[str, dict[str, Any]]:
    """Per configuration label (in catalog order): every seed's value of `metric` and their mean,
    sample standard deviation, min, max and count. `metric` is a record key, or a path into
    nested records with dots, e.g. "test_by_scale.small"."""
    out: dict[str, dict[str, Any]] = {}
    for r in data["runs"]:
        value: Any = r
        for part in metric.split("."):
            value = value[part]
        out.setdefault(r["label"], {"seeds": [], "values": []})
        out[r["label"]]["seeds"].append(r["seed"])
        out[r["label"]]["values"].append(float(value))
    order = list(get(data["experiment"]).configs)
    return {
        label: {**out[label], **_stats(out[label]["values"])}
        for label in sorted(out, key=lambda k: order.index(k) if k in order else len(order))
    }


def verify(name: str, seed: int, label: str | None = None, budget: str = "cpu",
           results: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Re-train one stored run (the first label, unless given) and compare its test accuracy.

    Trains with the stored run's thread count. Returns {"label", "seed", "stored", "now",
    "same_machine", "exact" (every epoch's validation accuracy and the test accuracy equal),
    "within_spread" (within the min-max range of the label's seeds widened by 2 sd), "verdict"}.
    """
    data = load(name, budget, results)
    experiment = get(name)
    label = label or next(iter(experiment.configs))
    stored = [r for r in data["runs"] if r["label"] == label and r["seed"] == seed]
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
    s = summarize(data)[label]
    margin = 2 * (s["sd"] if s["n"] > 1 else 0.0)
    within = s["min"] - margin <= new["test_acc"] <= s["max"] + margin
    if exact:
        verdict = "reproduced to the digit"
    elif same:
        verdict = "NOT reproduced: same machine type, different result"
    else:
        verdict = "reproduced within the seed spread" if within else "outside the seed spread"
    return {"label": label, "seed": seed, "stored": old["test_acc"], "now": new["test_acc"],
            "same_machine": same, "exact": exact, "within_spread": within, "verdict": verdict,
            "machine_now": new["machine"], "machine_stored": old["machine"]}  # fmt: skip
