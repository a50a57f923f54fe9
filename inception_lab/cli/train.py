"""The training command line: `python -m inception_lab.train --help`.

One process trains on the best device available; `torchrun --nproc_per_node=N -m
inception_lab.train ...` trains with N processes (DistributedDataParallel). A bad argument, an
unknown model, an unusable checkpoint or a diverged run ends with one `error: ...` line on stderr
and a non-zero exit code, never a Python traceback.

It puts a course model (`inception_lab.models`) and a dataset (`inception_lab.data`) together for
the engine, which knows neither; so it lives in `cli/`, above all three (docs/architecture.md),
and `inception_lab/train/__main__.py` only calls `main`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import importlib
import os
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from inception_lab import models
from inception_lab._validate import check_int
from inception_lab.data import make_loaders
from inception_lab.train.checkpoint import CheckpointError
from inception_lab.train.config import FIELDS, FitConfig
from inception_lab.train.device import pick_device, rank_device
from inception_lab.train.distributed import dist_backend, replica_difference
from inception_lab.train.history import TrainingDiverged, summary
from inception_lab.train.loop import fit

__all__ = ["build_parser", "main"]

EXIT_USAGE, EXIT_DIVERGED = 2, 3  # a bad argument or checkpoint; a diverged run


class UsageError(ValueError):
    """A command-line argument that cannot work; main prints it as one `error:` line."""


def _checked(name: str, kind: type, check: Callable[[str, Any], Any]) -> Callable[[str], Any]:
    """An argparse `type=`: parse `kind`, then run `check(name, value)` (a FitConfig field's check
    or an `inception_lab._validate` one); argparse prints a refusal as one `error:` line."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            expected = {int: "an integer", float: "a number"}.get(kind, kind.__name__)
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        try:
            return check(name, value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def _count(name: str, minimum: int) -> Callable[[str], int]:
    return _checked(name, int, lambda n, v: check_int(n, v, minimum))


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: keep it as a string


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: x)" only where there is a value to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with its error as one line: `error: <what is wrong> (see --help)`."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _add_model_and_data(p: argparse.ArgumentParser) -> None:
    add = p.add_argument_group("model, data and output (not options of fit)").add_argument
    add(
        "--model",
        default="mini_googlenet",
        help="a name from inception_lab.models.list_models(), or 'package.module:function' "
        "for your own model factory (called with num_classes=..., in_channels=...)",
    )
    add(
        "--model-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra keyword argument for the model, e.g. --model-arg aux_logits=True (repeatable)",
    )
    add(
        "--dataset",
        default="shapes",
        help="shapes (generated, no files needed), cifar10, fashion_mnist or imagefolder "
        "(files under --data-root; see inception_lab.data.make_loaders)",
    )
    add(
        "--data-root",
        help="directory of the datasets (nothing is downloaded); default: the project's data/ "
        "folder or $INCEPTION_LAB_DATA",
    )
    add("--train-size", type=_count("train_size", 1), help="use only this many training images")
    add("--val-size", type=_count("val_size", 0), help="use only this many validation images")
    add("--no-augment", action="store_true", help="no random crop / flip of training images")
    add(
        "--workers",
        type=_count("workers", 0),
        help="DataLoader worker processes; default: make_loaders' choice (0 for in-memory data)",
    )
    add(
        "--batch-size",
        type=_count("batch_size", 1),
        default=128,
        help="images per step on each process",
    )
    add(
        "--out",
        help="where to write the History JSON; default: runs/<model>-<dataset>/history.json",
    )


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    """One flag per FitConfig field, from its declaration: --field-name (and its aliases), its
    default, its help text, its choices; a True/False field is --name / --no-name, any other is
    parsed as the first of int, float, str in its annotation and checked by the field's check."""
    hints = typing.get_type_hints(FitConfig)
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(FitConfig):
        meta = f.metadata
        if meta["group"] not in groups:
            groups[meta["group"]] = p.add_argument_group(f"{meta['group']} (options of fit)")
        flags = [f"--{f.name.replace('_', '-')}", *meta.get("aliases", ())]
        kw: dict[str, Any] = {"dest": f.name, "default": f.default, "help": meta["help"]}
        if isinstance(f.default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        elif "choices" in meta:
            kw["choices"] = meta["choices"]
        else:
            kinds = typing.get_args(hints[f.name]) or (hints[f.name],)
            kind = next(k for k in (int, float, str) if k in kinds)
            kw["type"] = _checked(f.name, kind, meta["check"])
        groups[meta["group"]].add_argument(*flags, **kw)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m inception_lab.train",
        description=(
            "Train a model of the course on one of its datasets; print one line per epoch and a\n"
            "final summary; write the History as JSON (--out) and, with --checkpoint-dir, last.pt\n"
            "after every epoch."
        ),
        epilog="""examples:
  python -m inception_lab.train --model mini_googlenet --dataset shapes --epochs 5
  python -m inception_lab.train --model mini_googlenet --model-arg aux_logits=True \\
      --label-smoothing 0.1 --checkpoint-dir runs/ck --resume
  torchrun --nproc_per_node=4 -m inception_lab.train --model mini_bn_inception --epochs 30

Under torchrun (--nproc_per_node=N) it trains with DistributedDataParallel (NCCL on GPUs,
gloo on CPUs): every rank trains on its own shard of the data with --batch-size images per
step (the global batch is N x --batch-size); only rank 0 prints and writes files.
Exit codes: 0 done, 2 a bad argument or an unusable checkpoint, 3 training diverged (the
History is still written).""",
        formatter_class=_HelpFormatter,
    )
    _add_model_and_data(p)
    _add_fit_options(p)
    return p


def _build_model(spec: str, num_classes: int, in_channels: int, extra: dict) -> nn.Module:
    """A registry model (`models.build`), or your own factory given as "package.module:function";
    both are called with num_classes=..., in_channels=... and the --model-arg values."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise UsageError(
                f"--model {spec!r}: cannot import {attr!r} from {module_name!r} ({e})"
            ) from e
    elif spec in models.list_models():
        factory = functools.partial(models.build, spec)
    else:
        raise UsageError(
            f"--model {spec!r}: unknown; choose from {', '.join(models.list_models())}"
        )
    return factory(num_classes=num_classes, in_channels=in_channels, **extra)


def _model_args(items: list[str]) -> dict[str, Any]:
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--model-arg expects KEY=VALUE, got {item!r}")
        extra[key] = _parse_value(value)
    return extra


def _device(name: str | None, rank: int, world_size: int, verbose: bool) -> torch.device:
    """--device (checked by FitConfig; None: auto) as a torch.device; under torchrun with CUDA,
    this rank's GPU (LOCAL_RANK)."""
    device = pick_device(verbose=verbose and rank == 0) if name is None else torch.device(name)
    if world_size > 1 and device.type == "cuda":
        device = rank_device()
        torch.cuda.set_device(device)
    return device


def _fit_config(args: argparse.Namespace) -> FitConfig:
    """The FitConfig of the command line: one value per field, read from its flag."""
    try:
        return FitConfig(**{name: getattr(args, name) for name in FIELDS})
    except ValueError as e:  # a rule across fields, e.g. --resume without --checkpoint-dir
        raise UsageError(str(e)) from e


def _setup(args, rank: int, world_size: int, device: torch.device):
    """The loaders and the model; a bad dataset, size or model is a UsageError."""
    try:
        loaders = make_loaders(
            name=args.dataset,
            batch_size=args.batch_size,
            device=str(device),
            root=args.data_root,
            seed=args.seed,
            rank=rank,
            world_size=world_size,
            train_size=args.train_size,
            val_size=args.val_size,
            augment=not args.no_augment,
            num_workers=args.workers,
        )
        torch.manual_seed(args.seed)  # the same initial weights on every rank and every run
        extra = _model_args(args.model_arg)
        model = _build_model(args.model, loaders.num_classes, loaders.in_channels, extra)
    except (ValueError, TypeError, FileNotFoundError) as e:  # UsageError is a ValueError
        raise UsageError(str(e)) from e
    return loaders, model


def _train(config: FitConfig, loaders, model) -> tuple[Any, int]:
    """fit with the command line's settings; (History, exit code)."""
    try:
        history = fit(model, loaders, config)
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return e.history, EXIT_DIVERGED
    return history, 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 2 a bad argument or an unusable
    checkpoint, 3 diverged). Errors are one `error: ...` line on stderr (rank 0 only)."""
    args = build_parser().parse_args(argv)
    # torchrun sets WORLD_SIZE, RANK and LOCAL_RANK for every process it starts.
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    try:
        config = _fit_config(args)
        device = _device(config.device, rank, world_size, config.progress)
        config = dataclasses.replace(config, device=str(device))
        if world_size > 1:
            dist.init_process_group(backend=dist_backend(device))
        loaders, model = _setup(args, rank, world_size, device)
        if rank == 0 and config.progress:
            n_params = sum(p.numel() for p in model.parameters())
            print(
                f"{args.model}: {n_params:,} parameters; {args.dataset}: {len(loaders.train)} "
                f"batches of {args.batch_size} x {world_size} process(es) per epoch"
            )
        t0 = time.perf_counter()
        history, code = _train(config, loaders, model)
    except (UsageError, CheckpointError) as e:
        if rank == 0:
            print(f"error: {e}", file=sys.stderr)
        _teardown(world_size)
        return EXIT_USAGE
    try:
        _finish(args, history, code, model, device, rank, world_size, t0)
    finally:
        _teardown(world_size)
    return code


def _finish(args, history, code, model, device, rank, world_size, t0) -> None:
    """Check that the replicas agree, write the History, print the last line."""
    history.config.update(model_name=args.model, dataset=args.dataset, batch_size=args.batch_size)
    if world_size > 1 and code == 0:
        diff = replica_difference(model, device)
        if diff != 0.0:
            raise RuntimeError(f"DDP replicas disagree: max weight difference {diff:.3g}")
        if rank == 0:
            print(f"all {world_size} ranks hold identical weights (max difference 0)")
    if rank == 0:
        out = Path(args.out or f"runs/{args.model.replace(':', '.')}-{args.dataset}/history.json")
        history.to_json(out)
        if history.records:
            best = max((r["val_acc"] or 0.0) for r in history.records)
            print(
                f"done: {len(history)} epochs in {time.perf_counter() - t0:.1f} s; final "
                f"{summary(history.records[-1])}; best val acc {best:.1%}; history: {out}"
            )
    if world_size > 1:
        # Every rank finishes its last collective and rank 0 its writes before any rank tears
        # down: a gloo rank exiting while its peer still talks to it can abort ("terminate
        # called without an active exception"), seen once in CI.
        dist.barrier()


def _teardown(world_size: int) -> None:
    if world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()
