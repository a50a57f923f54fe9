"""The experiment ledger: the course's training comparisons, computed once over seeds, stored
with their provenance in experiments/results/, and shown by the lessons.

    catalog  the experiments (which configurations, which seeds, what each one asks)
    runner   one run: data, model, `train.fit`, and its measurements
    probes   the measurements beyond accuracy (per object size, branches off, gradients, ECE)
    ledger   the results files: run (resumable), load, summarize, verify
    report   the text a lesson prints from them (provenance, table, compare, live_vs_ledger)

Command line: `python -m inception_lab.experiments list | show | run | verify` (see __main__).
"""

from .catalog import BASE, EXPERIMENTS, Experiment, resolve
from .ledger import RESULTS, get, load, run, summarize, train_one, verify
from .report import compare, live_vs_ledger, provenance, table

__all__ = ["BASE", "EXPERIMENTS", "RESULTS", "Experiment", "compare", "get", "live_vs_ledger",
           "load", "provenance", "resolve", "run", "summarize", "table", "train_one", "verify"]  # fmt: skip
