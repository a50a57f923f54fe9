"""The ledger's first protocol, frozen: 3 seeds, one fixed data draw for every seed, the verdict
"ahead on every seed". The lessons read it (experiments/results/protocol1/) until they move to
the current protocol (`inception_lab.experiments`); then this package and its files go.

Nothing here computes new runs for the ledger: `train_one` re-trains a stored configuration
live, as the lessons do, and `load` / `summarize` / `compare` read the stored files.
"""

from .catalog import BASE, EXPERIMENTS, Experiment, resolve
from .ledger import RESULTS, get, load, summarize, train_one, verify
from .report import compare, live_vs_ledger, provenance, table

__all__ = ["BASE", "EXPERIMENTS", "RESULTS", "Experiment", "compare", "get", "live_vs_ledger",
           "load", "provenance", "resolve", "summarize", "table", "train_one", "verify"]  # fmt: skip
