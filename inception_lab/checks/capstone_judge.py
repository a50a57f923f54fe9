"""Grade a class's capstone entries on one machine: `python -m inception_lab.checks.capstone_judge
DIR [--held-out-seed N] [--csv FILE]`.

DIR holds one entry per learner: a lesson 10 notebook (`NAME.ipynb`: its import cell and the cell
that defines `my_stage` are run) or a Python file (`NAME.py` defining `my_stage(in_ch, grid)`), or
a folder per learner as `make grade` takes them (`NAME/10_capstone.ipynb`).
Every entry is held to the budget and the structure rules of `checks.capstone_budget`, then
trained and judged exactly as `checks.capstone_challenge` does, one after the other in this
process, against one plain CNN trained once: the same data, recipe, seed, thread count and CPU
for everyone. `--held-out-seed` draws the held-out images with a data seed that only the
instructor knows (the learners' notebooks used the check's own draw). Prints a table ranked by
held-out accuracy and the machine it was measured on, and writes it as CSV.

The entries are learners' code and run with your rights: grade them in a container or an account
made for it. Run time: about 20-40 s per entry on 2 CPU threads, plus one plain CNN.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write
from . import lesson10

_PRELUDE = (
    "import math\nimport torch\nfrom torch import nn\n"
    "from inception_lab import blocks, checks, models, profile, train, viz\n"
)


def load_entry(path: Path) -> Callable:
    """The `my_stage` function of one entry (a lesson 10 notebook or a .py file)."""
    if path.suffix == ".py":
        sources = [path.read_text(encoding="utf-8")]
    else:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        imports = [s for s in code if s.lstrip().startswith(("import ", "from "))][:1]
        stage = [s for s in code if "def my_stage" in s]
        if not stage:
            raise ValueError("no cell defines my_stage")
        # The exercise cell also calls checks.capstone_budget: harmless, and quiet here.
        sources = [*imports, stage[-1]]
    namespace: dict[str, Any] = {
        "__name__": "capstone_entry",
        "SEED": 0,
        "BUDGET": "cpu",
        "SMOKE_STEPS": None,
    }
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(_PRELUDE, "<prelude>", "exec"), namespace)
        for source in sources:
            lines = [line for line in source.splitlines() if not line.lstrip().startswith("%")]
            exec(compile("\n".join(lines), str(path), "exec"), namespace)
    if not callable(namespace.get("my_stage")):
        raise ValueError("my_stage is not defined as a function")
    return namespace["my_stage"]


CAPSTONE_NOTEBOOK = "10_capstone.ipynb"  # a learner's folder in `make grade`'s layout


def find_entries(folder: Path) -> list[tuple[str, Path]]:
    """(learner, file) for every entry of `folder`, by name: `NAME.ipynb` / `NAME.py` files, and
    `NAME/10_capstone.ipynb` in the per-learner folders of `make grade SUBMISSIONS=DIR`."""
    files = [(p.stem, p) for p in folder.iterdir() if p.is_file() and p.suffix in (".ipynb", ".py")]
    nested = [(p.name, p / CAPSTONE_NOTEBOOK) for p in folder.iterdir() if p.is_dir()]
    entries = files + [(name, path) for name, path in nested if path.is_file()]
    names = [name for name, _ in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"two entries for {', '.join(twice)} in {folder}: keep one of each")
    return sorted(entries)


def judge(entry: Path, held_out_seed: int | None, name: str | None = None) -> dict[str, Any]:
    """One row of the results: the entry's numbers and verdict, or why it could not be judged."""
    row: dict[str, Any] = {"entry": name or entry.stem}
    try:
        make_stage = load_entry(entry)
    except Exception as err:  # a learner's code: any error is the entry's
        return {**row, "verdict": f"not run: {type(err).__name__}: {err}"}
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = lesson10.measure_capstone(make_stage, held_out_seed)
    except AssertionError as err:  # the budget or the structure rules
        return {**row, "verdict": f"rules: {str(err).removeprefix('Not yet. Hint: ')}"}
    except Exception as err:  # the entry's code fails in training
        return {**row, "verdict": f"failed: {type(err).__name__}: {err}"}
    return {
        **row,
        "accuracy": round(result.accuracy, 4),
        "plain_cnn": round(result.baseline, 4),
        "lead_points": round(100 * result.lead, 1),
        "params": result.params,
        "macs": result.macs,
        "train_seconds": round(result.seconds, 1),
        "verdict": "met" if result.met else "not met",
    }


def machine() -> str:
    """The judging machine, as the table names it."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    capability = torch.backends.cpu.get_cpu_capability()
    return (
        f"{cpu} ({capability}), {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inception_lab.checks.capstone_judge",
        description="Grade every capstone entry in DIR on this machine, as checks.capstone_challenge "
        "does, and rank them by held-out accuracy.",
    )
    parser.add_argument(
        "folder",
        type=Path,
        help="one lesson 10 notebook or .py file per learner, or one folder per learner holding "
        f"{CAPSTONE_NOTEBOOK} (make grade's SUBMISSIONS layout)",
    )
    parser.add_argument(
        "--held-out-seed",
        type=int,
        default=None,
        help="data seed of the held-out images (default: the check's own draw); "
        "pick one the learners never saw",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        default=Path("build/capstone/results.csv"),
        help="where to write the table (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    try:
        entries = find_entries(args.folder)
    except ValueError as err:
        parser.error(str(err))
    if not entries:
        parser.error(
            f"no entries in {args.folder}: expected NAME.ipynb or NAME.py files, or "
            f"NAME/{CAPSTONE_NOTEBOOK} folders"
        )
    print(f"judging {len(entries)} entries on {machine()}", flush=True)
    rows = []
    for name, entry in entries:
        rows.append(judge(entry, args.held_out_seed, name))
        print(f"  {name}: {rows[-1]['verdict']}", flush=True)
    rows.sort(key=lambda r: -r.get("accuracy", -1.0))
    ledger = ", ".join(f"{v:.1%}" for v in lesson10._ledger_seeds())
    print(
        f"\nheld-out images: {lesson10.CAPSTONE_HELD_OUT:,}; the plain CNN's ledger seeds: {ledger}"
    )
    print(f"{'entry':24s} {'accuracy':>8s} {'plain CNN':>9s} {'lead':>6s} {'verdict'}")
    for r in rows:
        if "accuracy" in r:
            print(
                f"{r['entry']:24s} {r['accuracy']:8.1%} {r['plain_cnn']:9.1%} "
                f"{r['lead_points']:+6.1f} {r['verdict']}"
            )
        else:
            print(f"{r['entry']:24s} {'':8s} {'':9s} {'':6s} {r['verdict']}")
    fields = [
        "entry",
        "accuracy",
        "plain_cnn",
        "lead_points",
        "params",
        "macs",
        "train_seconds",
        "verdict",
    ]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.csv, table.getvalue())  # never a half-written table
    print(f"\nwritten: {args.csv} (measured on {machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
