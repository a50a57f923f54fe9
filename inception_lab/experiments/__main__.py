"""python -m inception_lab.experiments list | show NAME | run NAME ... | verify NAME --seed S

    list                       every experiment: its lesson, question and what is stored
    show NAME [--metric M]     per configuration: each seed's value, mean and spread
    run NAME ... [--budget cpu|gpu] [--seeds 0,1,2] [--labels A,B]
                               train what is missing, writing experiments/results/NAME.json
                               after every run (resumable: run it again to continue)
    verify NAME --seed S [--label L]
                               re-train one stored run and say whether it reproduces

Run long jobs in the background: `nohup make experiments EXP="NAME ..." > build/exp.log &`.
"""

from __future__ import annotations

import argparse
import sys

from . import ledger
from .catalog import EXPERIMENTS, resolve


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes integers like 0,1,2, got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes integers >= 0 like 0,1,2, got {text!r}")
    return seeds


def _list() -> None:
    for name, e in EXPERIMENTS.items():
        try:
            runs = len(ledger.load(name)["runs"])
        except FileNotFoundError:
            runs = 0
        total = len(e.configs) * len(e.seeds)
        print(f"{name:18s} lesson {e.lesson:6s} {runs:3d}/{total} runs stored  {e.question}")


def _show(name: str, metric: str, budget: str) -> None:
    data = ledger.load(name, budget)
    e = ledger.get(name)
    print(f"{name} (lesson {e.lesson}): {e.question}")
    print(f"{metric}, per configuration: mean ± sd over seeds [min, max]; every seed's value")
    for label, s in ledger.summarize(data, metric).items():
        config = resolve(e, label, budget)
        values = ", ".join(f"{v:.3f}" for v in s["values"])
        print(f"  {label:34s} {s['mean']:.3f} ± {s['sd']:.3f} [{s['min']:.3f}, {s['max']:.3f}] "
              f"n={s['n']}  ({values})  {config['model']}")  # fmt: skip
    machines = {
        (r["machine"]["cpu"], r["machine"]["threads"], r["machine"]["torch"]) for r in data["runs"]
    }
    for cpu, threads, torch_version in sorted(machines):
        print(f"computed on: {cpu}, {threads} thread(s), torch {torch_version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inception_lab.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("name", choices=list(EXPERIMENTS))
    show.add_argument("--metric", default="test_acc")
    show.add_argument("--budget", choices=("cpu", "gpu"), default="cpu")
    run = sub.add_parser("run")
    run.add_argument("names", nargs="*", choices=list(EXPERIMENTS), help="default: all")
    run.add_argument("--budget", choices=("cpu", "gpu"), default="cpu")
    run.add_argument("--seeds", type=_seeds, default=None)
    run.add_argument("--labels", default=None, help="comma-separated configuration labels")
    run.add_argument("--results", default=None, help="folder of the results files (default: "
                     "experiments/results/)")  # fmt: skip
    verify = sub.add_parser("verify")
    verify.add_argument("name", choices=list(EXPERIMENTS))
    verify.add_argument("--seed", type=int, required=True)
    verify.add_argument("--label", default=None)
    verify.add_argument("--budget", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "show":
            _show(args.name, args.metric, args.budget)
        elif args.command == "run":
            labels = None if args.labels is None else [s.strip() for s in args.labels.split(",")]
            for name in args.names or list(EXPERIMENTS):
                ledger.run(name, args.budget, args.seeds, labels, args.results)
        else:
            result = ledger.verify(args.name, args.seed, args.label, args.budget)
            print(f"{args.name} {result['label']!r} seed {args.seed}: stored test accuracy "
                  f"{result['stored']:.4f}, now {result['now']:.4f}: {result['verdict']}")  # fmt: skip
            return (
                0
                if result["exact"] or (not result["same_machine"] and result["within_spread"])
                else 1
            )
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
