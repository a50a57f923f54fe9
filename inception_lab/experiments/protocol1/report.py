"""What a lesson prints from the ledger: where the results come from, each configuration's mean
and spread over seeds, the difference between two configurations against that spread, and how a
learner's live run compares with the stored seeds.

Every function returns text (a lesson prints it), so the numbers a lesson's prose interprets are
printed by code, never typed by hand.
"""

from __future__ import annotations

import math
from typing import Any

from .ledger import summarize

__all__ = ["compare", "live_vs_ledger", "provenance", "table"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def provenance(data: dict[str, Any]) -> str:
    """One line: how many runs, on which machine(s), with which command to recompute them."""
    machines = sorted({f"{r['machine']['cpu']} ({r['machine']['device']}, "
                       f"{r['machine']['threads']} thread{'s' * (r['machine']['threads'] > 1)})"
                       for r in data["runs"]})  # fmt: skip
    seeds = sorted({r["seed"] for r in data["runs"]})
    budget = data.get("budget", "cpu")
    return (
        f"Ledger '{data['experiment']}': {len(data['runs'])} runs, seeds {seeds}, budget {budget}, "
        f"computed on {'; '.join(machines)}. Recompute: "
        f"python -m inception_lab.experiments run {data['experiment']} --budget {budget}"
    )


def table(data: dict[str, Any], metric: str = "test_acc", labels: list[str] | None = None) -> str:
    """One line per configuration: mean ± sample sd over seeds, [min, max], n, as percentages."""
    rows = summarize(data, metric)
    width = max(len(label) for label in rows)
    lines = []
    for label, s in rows.items():
        if labels is not None and label not in labels:
            continue
        sd = "n/a" if math.isnan(s["sd"]) else _pct(s["sd"])
        lines.append(f"{label:{width}s}  {_pct(s['mean'])} ± {sd}  "
                     f"[{_pct(s['min'])}, {_pct(s['max'])}]  {s['n']} seeds")  # fmt: skip
    return "\n".join(lines)


def compare(data: dict[str, Any], a: str, b: str, metric: str = "test_acc") -> str:
    """The difference a - b of the seed means, against the seeds' spread.

    Names a winner only when every seed of one is beyond every seed of the other ("on every
    seed"), or the gap exceeds twice the larger sd; otherwise "within the seed spread". For
    ECE, NLL and loss metrics lower is better."""
    rows = summarize(data, metric)
    for label in (a, b):
        if label not in rows:
            raise ValueError(f"{data['experiment']} has no runs of {label!r}; it has {list(rows)}")
    sa, sb = rows[a], rows[b]
    gap = sa["mean"] - sb["mean"]
    spread = max(sa["sd"], sb["sd"])
    # accuracy-like metrics: higher is better ("ahead"); errors (ECE, NLL, loss): lower is better
    lower_better = any(word in metric for word in ("ece", "nll", "loss"))
    winner = a if (gap < 0) == lower_better else b
    ahead = "better (lower)" if lower_better else "ahead"
    if sa["min"] > sb["max"] or sb["min"] > sa["max"]:
        verdict = f"{winner} is {ahead} on every seed"
    elif not math.isnan(spread) and abs(gap) > 2 * spread:
        verdict = f"{winner} is {ahead} by more than twice the seed sd"
    else:
        verdict = "the gap is within the seed spread: no difference shown"
    return (f"{metric}: {a} {_pct(sa['mean'])} ± {_pct(sa['sd'])}, {b} {_pct(sb['mean'])} ± "
            f"{_pct(sb['sd'])} ({sa['n']} and {sb['n']} seeds); difference {100 * gap:+.1f} "
            f"points: {verdict}")  # fmt: skip


def live_vs_ledger(value: float, data: dict[str, Any], label: str, metric: str = "test_acc",
                   note: str = "") -> str:  # fmt: skip
    """How one live result compares with the stored seeds of `label` (inside or outside their
    range), with a reminder of what differs (`note`: e.g. fewer epochs, easier data)."""
    s = summarize(data, metric)[label]
    where = ("inside" if s["min"] <= value <= s["max"]
             else "below" if value < s["min"] else "above")  # fmt: skip
    text = (f"your run: {_pct(value)}; the ledger's {s['n']} seeds of {label!r}: "
            f"{_pct(s['min'])} to {_pct(s['max'])} (mean {_pct(s['mean'])}): {where} their range")  # fmt: skip
    return text + (f" ({note})" if note else "")
