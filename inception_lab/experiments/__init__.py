"""The experiment ledger: the course's training comparisons, computed once over paired seeds,
stored with their provenance in experiments/results/, and shown by the lessons.

    catalog  the experiments: arms, seeds, learning-rate sweeps, primary and exploratory comparisons
    runner   one run: data drawn with its seed, model, `train.fit`, and its measurements
    probes   the measurements beyond accuracy (per object size, branches off, gradients, ECE)
    stats    the verdict rule: paired differences, 95% t-intervals, prediction intervals
    ledger   the results files: run (resumable, sweeps first), load, summarize, verify
    report   the text a lesson prints from them (provenance, table, compare, sweep, live run)

Command line: `python -m inception_lab.experiments list | show | run | verify` (see __main__).
"""

from .catalog import DATA, EXPERIMENTS, FIT, Arm, Comparison, Experiment, resolve
from .ledger import (
    RESULTS,
    chosen_lr,
    epoch_metric,
    get,
    load,
    run,
    summarize,
    train_one,
    verify,
)
from .report import (
    MANY_COMPARISONS,
    across_budgets,
    compare,
    comparisons,
    differences,
    live_vs_ledger,
    provenance,
    sweep,
    table,
)
from .stats import paired_difference, prediction_interval

__all__ = [
    "DATA",
    "EXPERIMENTS",
    "FIT",
    "MANY_COMPARISONS",
    "RESULTS",
    "Arm",
    "Comparison",
    "Experiment",
    "across_budgets",
    "chosen_lr",
    "compare",
    "comparisons",
    "differences",
    "epoch_metric",
    "get",
    "live_vs_ledger",
    "load",
    "paired_difference",
    "prediction_interval",
    "provenance",
    "resolve",
    "run",
    "summarize",
    "sweep",
    "table",
    "train_one",
    "verify",
]
