"""python -m inception_lab.experiments list | show NAME | run NAME ... | verify NAME --seed S

    list                          every experiment: its lesson, question and what is stored
    show NAME [--metric M] [--budget B]
                                  per arm: mean ± sd and every seed; each sweep and its choice;
                                  every comparison with its paired 95% interval, primary or
                                  exploratory
    run NAME ... [--budget cpu|cpu-long|gpu] [--allow-dirty]
                                  train what is missing (sweeps first), writing
                                  experiments/results/NAME[.long|.gpu].json after every run
                                  (resumable: run it again to continue)
    verify NAME --seed S [--label L] [--budget B]
                                  re-train one stored run and say whether it reproduces

Run long jobs in the background: `nohup make experiments EXP="NAME ..." > build/exp.log &`.
"""

# `python -m inception_lab.experiments` runs `main` through inception_lab/experiments/__main__.py:
# the command line sits a layer above the ledger it drives (docs/architecture.md).

from __future__ import annotations

import argparse
import math
import sys

from ..experiments import ledger, report
from ..experiments.catalog import BUDGETS, EXPERIMENTS, resolve


def _list() -> None:
    for name, e in EXPERIMENTS.items():
        stored = []
        for budget in BUDGETS:
            try:
                stored.append(f"{len(ledger.load(name, budget)['runs'])} {budget}")
            except FileNotFoundError:
                pass
        runs = ", ".join(stored) or "nothing"
        print(f"{name:18s} lesson {e.lesson:4s} stored: {runs:22s} {e.question}")


def _show(name: str, metric: str, budget: str) -> None:
    data = ledger.load(name, budget)
    e = ledger.get(name)
    print(f"{name} (lesson {e.lesson}, budget {budget}): {e.question}")
    print(report.provenance(data))
    print(f"\n{metric}, per arm: mean ± sd over seeds [min, max]; every seed's value")
    for label, s in ledger.summarize(data, metric).items():
        model = resolve(e, label, budget, s["lr"])["model"]
        values = ", ".join(f"{seed}: {v:.3f}" for seed, v in s["by_seed"].items())
        sd = "n/a" if math.isnan(s["sd"]) else f"{s['sd']:.3f}"  # one seed has no spread
        print(
            f"  {label:44s} {s['mean']:.3f} ± {sd} [{s['min']:.3f}, {s['max']:.3f}] "
            f"n={s['n']} lr {s['lr']:g} {model}  ({values})"
        )
    if budget != "cpu-long":
        owners = {a.lr_from or label for label, a in e.arms.items() if a.lr_sweep or a.lr_from}
        if owners:
            print("\nlearning-rate sweeps")
        for label in sorted(owners, key=list(e.arms).index):
            print("  " + report.sweep(data, label))
    print("\ncomparisons (paired by seed; primary ones declared in the catalog)")
    lines = report.comparisons(data) if metric == "test_acc" else ""
    if metric != "test_acc":  # the declared pairs, on this metric, where both arms have runs
        rows = ledger.summarize(data, metric)
        pairs = dict.fromkeys((c.a, c.b) for c in e.comparisons if c.a in rows and c.b in rows)
        lines = "\n".join(report.compare(data, a, b, metric) for a, b in pairs)  # each pair once
    print("\n".join("  " + line for line in lines.splitlines()) or "  (none yet)")
    print("\n" + report.MANY_COMPARISONS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inception_lab.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("name", choices=list(EXPERIMENTS))
    show.add_argument("--metric", default="test_acc")
    show.add_argument("--budget", choices=BUDGETS, default="cpu")
    run = sub.add_parser("run")
    run.add_argument("names", nargs="*", choices=list(EXPERIMENTS), help="default: all")
    run.add_argument("--budget", choices=BUDGETS, default="cpu")
    run.add_argument(
        "--results",
        default=None,
        help="folder of the results files (default: experiments/results/)",
    )
    run.add_argument(
        "--allow-dirty",
        action="store_true",
        help="compute from an uncommitted tree, storing a hash of its diff with every run",
    )
    verify = sub.add_parser("verify")
    verify.add_argument("name", choices=list(EXPERIMENTS))
    verify.add_argument("--seed", type=int, required=True)
    verify.add_argument("--label", default=None)
    verify.add_argument("--budget", choices=BUDGETS, default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "show":
            _show(args.name, args.metric, args.budget)
        elif args.command == "run":
            for name in args.names or list(EXPERIMENTS):
                ledger.run(name, args.budget, args.results, args.allow_dirty)
        else:
            result = ledger.verify(args.name, args.seed, args.label, args.budget)
            print(
                f"{args.name} {result['label']!r} seed {args.seed}: stored test accuracy "
                f"{result['stored']:.4f}, now {result['now']:.4f}: {result['verdict']}"
            )
            return 0 if result["exact"] or not result["same_machine"] else 1
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
