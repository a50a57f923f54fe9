"""What a lesson prints from the ledger: where the results come from, each arm's mean and spread
over seeds, each comparison as a paired difference with its 95% interval (primary or
exploratory), a learning-rate sweep, and how a learner's live run compares with the interval a
new seed would fall in.

Every function returns text (a lesson prints it), so the numbers a lesson's prose interprets are
printed by code, never typed by hand.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .catalog import Comparison
from .ledger import chosen_lr, get, summarize
from .stats import PairedDifference, paired_difference, prediction_interval

__all__ = [
    "across_budgets",
    "compare",
    "comparisons",
    "differences",
    "live_vs_ledger",
    "provenance",
    "sweep",
    "table",
]

MANY_COMPARISONS = (
    "Each line is one comparison; only the primary ones were declared before the runs. An "
    "exploratory comparison of two arms that do not differ shows an interval that excludes zero "
    "5% of the time (about one in 20 such comparisons), so read those as leads, not findings."
)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _in_percent(metric: str) -> bool:
    """Accuracies and ECE are fractions, printed in percent (differences in points); NLL, losses
    and temperatures are printed as plain numbers."""
    return "acc" in metric or "ece" in metric or metric.startswith(("test_by_scale", "branch"))


def _value_text(metric: str, x: float) -> str:
    return _pct(x) if _in_percent(metric) else f"{x:.3f}"


def _difference_text(metric: str, x: float) -> str:
    return f"{100 * x:+.1f}" if _in_percent(metric) else f"{x:+.3f}"


def metric_name(metric: str) -> str:
    """How a line names a metric: "epochs.2.val_acc" (a 0-based index into the per-epoch
    records, see `ledger.epoch_metric`) reads "val_acc after epoch 3"; others as they are."""
    found = re.fullmatch(r"epochs\.(\d+)\.(\w+)", metric)
    return f"{found[2]} after epoch {int(found[1]) + 1}" if found else metric


def _lower_better(metric: str) -> bool:
    return any(word in metric for word in ("ece", "nll", "loss"))


def _neither_better(metric: str) -> bool:
    """A fitted temperature is neither better high nor low: a verdict says which is higher."""
    return metric.rsplit(".", 1)[-1] == "temperature"


def provenance(data: dict[str, Any]) -> str:
    """One line: how many runs, at which budget, on which machine(s) and code, how to recompute."""
    machines = sorted(
        {
            f"{m['cpu']} ({m['device']}, {m['threads']} thread"
            f"{'s' * (m['threads'] > 1)}, commit {m['commit']})"
            for m in (r["machine"] for r in data["runs"])
        }
    )
    seeds = sorted({r["seed"] for r in data["runs"]})
    budget = data["budget"]
    return (
        f"Ledger '{data['experiment']}': {len(data['runs'])} runs, seeds {seeds}, budget {budget}, "
        f"computed on {'; '.join(machines)}. Recompute: "
        f"python -m inception_lab.experiments run {data['experiment']} --budget {budget}"
    )


def table(data: dict[str, Any], metric: str = "test_acc", labels: list[str] | None = None) -> str:
    """One line per arm: mean ± sample sd over seeds, [min, max], n seeds, its learning rate."""
    rows = summarize(data, metric)
    width = max(len(label) for label in rows)
    lines = []
    for label, s in rows.items():
        if labels is not None and label not in labels:
            continue
        sd = "n/a" if math.isnan(s["sd"]) else _value_text(metric, s["sd"])
        lines.append(
            f"{label:{width}s}  {_value_text(metric, s['mean'])} ± {sd}  "
            f"[{_value_text(metric, s['min'])}, {_value_text(metric, s['max'])}]  {s['n']} seeds  "
            f"lr {s['lr']:g}"
        )
    return "\n".join(lines)


def compare(data: dict[str, Any], a: str, b: str, metric: str = "test_acc") -> str:
    """a - b paired by seed: the mean difference, its 95% t-interval, and a verdict.

    "difference shown" only when the interval excludes zero; the line says whether the
    experiment declared this comparison primary or whether it is exploratory. For ECE, NLL and
    loss metrics lower is better; for a fitted temperature neither (the verdict says which is
    higher)."""
    rows = summarize(data, metric)
    for label in (a, b):
        if label not in rows:
            raise ValueError(f"{data['experiment']} has no runs of {label!r}; it has {list(rows)}")
    d = paired_difference(rows[a]["by_seed"], rows[b]["by_seed"])
    declared = [
        c for c in get(data["experiment"]).comparisons if (c.a, c.b, c.metric) == (a, b, metric)
    ]
    kind = "primary" if declared and declared[0].primary else "exploratory"
    if d.n < 2:
        verdict = "too few paired seeds for an interval"
    elif d.shown and _neither_better(metric):
        verdict = f"difference shown: {a if d.mean > 0 else b} is higher"
    elif d.shown:
        better = a if (d.mean > 0) != _lower_better(metric) else b
        verdict = f"difference shown: {better} is {'better (lower)' if _lower_better(metric) else 'ahead'}"
    else:
        verdict = "no difference shown (the interval includes zero)"
    mean_a = sum(rows[a]["by_seed"][s] for s in d.seeds) / d.n
    mean_b = sum(rows[b]["by_seed"][s] for s in d.seeds) / d.n
    value, diff = (lambda x: _value_text(metric, x)), (lambda x: _difference_text(metric, x))
    unit = " points" if _in_percent(metric) else ""
    return (
        f"[{kind}] {metric_name(metric)}: {a} {value(mean_a)}, {b} {value(mean_b)} ({d.n} paired "
        f"seeds); difference {diff(d.mean)}{unit}, 95% CI [{diff(d.low)}, {diff(d.high)}]: "
        f"{verdict}"
    )


def _steps(data: dict[str, Any]) -> int:
    config = data["runs"][0]["config"]
    return config["fit"]["epochs"] * (config["data"]["train_size"] // config["data"]["batch_size"])


def _change_text(d: PairedDifference, fmt, unit: str = "") -> str:
    if d.n < 2:
        return f"{fmt(d.mean)}{unit} ({d.n} paired seed): too few paired seeds for an interval"
    verdict = "change shown" if d.shown else "no change shown (the interval includes zero)"
    interval = f"95% CI [{fmt(d.low)}, {fmt(d.high)}]"
    return f"{fmt(d.mean)}{unit}, {interval} ({d.n} paired seeds): {verdict}"


def across_budgets(short: dict[str, Any], long: dict[str, Any], a: str, b: str) -> str:
    """Whether a's lead over b in test accuracy changed between two budgets of one experiment.

    Two lines, each paired by seed over the seeds all four runs share: the lead (a - b, points)
    after each budget and its change; and a's test errors as a share of b's (the ratio of the
    means) after each, with the per-seed ratio's change. Near 100% a lead in points must shrink
    as both networks approach the top; the share of errors is the scale-free reading. No
    experiment declares these changes before its runs, so both lines are [exploratory]."""
    rows = {"short": summarize(short), "long": summarize(long)}
    for budget, data in (("short", short), ("long", long)):
        for label in (a, b):
            if label not in rows[budget]:
                raise ValueError(
                    f"{data['experiment']} ({data['budget']}) has no runs of {label!r}"
                )
    seeds = sorted(
        set.intersection(*(set(rows[k][label]["by_seed"]) for k in rows for label in (a, b)))
    )
    if not seeds:
        raise ValueError(f"no seed has all four runs of {a!r} and {b!r} at both budgets")
    acc = {k: {label: rows[k][label]["by_seed"] for label in (a, b)} for k in rows}
    lead = {k: {s: acc[k][a][s] - acc[k][b][s] for s in seeds} for k in rows}
    share = {k: {s: (1 - acc[k][a][s]) / (1 - acc[k][b][s]) for s in seeds} for k in rows}
    mean_lead = {k: sum(lead[k].values()) / len(seeds) for k in rows}
    ratio = {
        k: sum(1 - acc[k][a][s] for s in seeds) / sum(1 - acc[k][b][s] for s in seeds) for k in rows
    }
    steps = {k: f"{_steps(d):,} steps" for k, d in (("short", short), ("long", long))}
    lead_change = paired_difference(lead["long"], lead["short"])
    share_change = paired_difference(share["long"], share["short"])
    points, plain = (lambda x: f"{100 * x:+.1f}"), (lambda x: f"{x:+.2f}")
    return (
        f"[exploratory] lead {a} - {b}, seeds {seeds}: {points(mean_lead['short'])} points after "
        f"{steps['short']}, {points(mean_lead['long'])} after {steps['long']}; "
        f"the change, paired by seed: {_change_text(lead_change, points, ' points')}\n"
        f"[exploratory] {a}'s test errors as a share of {b}'s (ratio of the means): "
        f"{ratio['short']:.2f} after "
        f"{steps['short']}, {ratio['long']:.2f} after {steps['long']}; the per-seed share's "
        f"change: {_change_text(share_change, plain)}"
    )


def comparisons(data: dict[str, Any], primary_only: bool = False) -> str:
    """Every comparison the experiment declares (primary first), one `compare` line each."""
    declared: list[Comparison] = sorted(
        get(data["experiment"]).comparisons, key=lambda c: not c.primary
    )
    rows = summarize(data)
    lines = [
        compare(data, c.a, c.b, c.metric)
        for c in declared
        if (c.primary or not primary_only) and c.a in rows and c.b in rows
    ]
    return "\n".join(lines)


def differences(data: dict[str, Any], primary_only: bool = False) -> dict[str, PairedDifference]:
    """The declared comparisons' paired differences (primary first), as `compare` computes them:
    "a - b (metric)" -> `PairedDifference` (per-seed differences, mean, 95% interval), for
    `viz.plot_differences`."""
    declared = sorted(get(data["experiment"]).comparisons, key=lambda c: not c.primary)
    out = {}
    for c in declared:
        rows = summarize(data, c.metric)
        if (c.primary or not primary_only) and c.a in rows and c.b in rows:
            key = f"{c.a} - {c.b}" + (
                "" if c.metric == "test_acc" else f" ({metric_name(c.metric)})"
            )
            out[key] = paired_difference(rows[c.a]["by_seed"], rows[c.b]["by_seed"])
    return out


def sweep(data: dict[str, Any], label: str) -> str:
    """A tuned arm's sweep: each rate's mean final validation accuracy, the choice, the rule."""
    experiment = get(data["experiment"])
    s = chosen_lr(experiment, label, data["runs"])
    parts = [f"{lr:g}: " + ("incomplete" if v is None else _pct(v)) for lr, v in s["rates"].items()]
    if s["lr"] is None:
        return f"{s['arm']} sweep (mean val accuracy): {', '.join(parts)}; no choice yet"
    where = "AT THE EDGE of the sweep" if s["at_edge"] else "inside the sweep"
    return (
        f"{s['arm']} sweep (mean val accuracy over seeds 0, 1): {', '.join(parts)}; chosen "
        f"{s['lr']:g} (highest mean validation accuracy, ties to the lower rate), {where}"
    )


def live_vs_ledger(
    value: float,
    data: dict[str, Any],
    label: str,
    metric: str = "test_acc",
    note: str = "",
    seed: int | None = None,
) -> str:
    """Where one live result falls against the 95% prediction interval of a new seed from the
    stored seeds of `label` (mean ± t * sd * sqrt(1 + 1/n)), with what differs (`note`).

    With the live run's `seed`, when the ledger stored that seed too: whether the live value is
    the stored one to the digit (the same computation), and the interval from the other seeds
    only (a seed is not a new seed for its own interval)."""
    s = summarize(data, metric)[label]
    by_seed = s["by_seed"]
    own = by_seed.get(seed) if seed is not None else None
    others = [v for k, v in by_seed.items() if own is None or k != seed]
    low, high = prediction_interval(others)
    where = "inside" if low <= value <= high else "below" if value < low else "above"
    show = lambda x: _value_text(metric, x)  # noqa: E731
    text = f"your run: {show(value)}"
    if own is not None:
        same = "the same to the digit" if value == own else f"{show(own)}: a different number"
        text = f"your run (seed {seed}): {show(value)}; the ledger's seed {seed}: {same}"
    whose = "other " if own is not None else ""
    text += (
        f"; a new seed of {label!r} falls in {show(low)} to {show(high)} 95% of the time (from "
        f"the ledger's {len(others)} {whose}seeds, mean {show(sum(others) / len(others))}): "
        f"{where} that interval"
    )
    return text + (f" ({note})" if note else "")
