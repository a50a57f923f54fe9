"""The first ledger (frozen): experiments/results/protocol1/NAME.json, one record per run.

`load(name)` reads a file, `summarize` gives mean, spread and every seed's value per
configuration, `verify` re-trains one stored run and compares.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch


from .catalog import EXPERIMENTS, Experiment, resolve
from .runner import ROOT, train_run

__all__ = ["RESULTS", "get", "load", "summarize", "train_one", "verify"]

RESULTS = ROOT / "experiments" / "results" / "protocol1"
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
