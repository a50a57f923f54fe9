"""The command line: `python -m inception_lab.train --help`.

One process trains on the best device available; `torchrun --nproc_per_node=N -m
inception_lab.train ...` trains with N processes (DistributedDataParallel). A bad argument, an
unknown model, an unusable checkpoint or a diverged run ends with one `error: ...` line on stderr
and a non-zero exit code, never a Python traceback.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import inspect
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from inception_lab.train.checkpoint import CheckpointError
from inception_lab.train.device import pick_device, rank_device
from inception_lab.train.distributed import dist_backend, replica_difference
from inception_lab.train.history import TrainingDiverged, summary
from inception_lab.train.loop import fit
from inception_lab.train.optim import DEFAULT_LR, DEFAULT_WEIGHT_DECAY, OPTIMIZERS
from inception_lab.train.precision import AMP_MODES

__all__ = ["build_parser", "main"]

EXIT_USAGE, EXIT_DIVERGED = 2, 3  # a bad argument or checkpoint; a diverged run


class UsageError(ValueError):
    """A command-line argument that cannot work; main prints it as one `error:` line."""


def _number(kind: type, accept: Callable[[float], bool], expected: str) -> Callable[[str], Any]:
    """An argparse `type=` that parses `kind` and rejects values `accept` refuses, saying
    `expected` (argparse turns the ArgumentTypeError into one `error:` line)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: 0 < v < math.inf, "a positive finite number")
_nonnegative_float = _number(float, lambda v: 0 <= v < math.inf, "a finite number >= 0")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


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
    add = p.add_argument_group("model and data").add_argument
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
    add("--train-size", type=_positive_int, help="use only this many training images")
    add("--val-size", type=_nonnegative_int, help="use only this many validation images")
    add("--no-augment", action="store_true", help="no random crop / flip of training images")
    add(
        "--workers",
        type=_nonnegative_int,
        help="DataLoader worker processes; default: make_loaders' choice (0 for in-memory data)",
    )


def _add_optimization(p: argparse.ArgumentParser) -> None:
    add = p.add_argument_group("optimization").add_argument
    add("--batch-size", type=_positive_int, default=128, help="images per step on each process")
    add("--epochs", type=_positive_int, default=5, help="number of epochs")
    add(
        "--steps-per-epoch",
        type=_positive_int,
        help="train on at most this many batches per epoch; default: the whole training set",
    )
    add("--optimizer", choices=OPTIMIZERS, default="sgd", help="optimizer")
    add(
        "--lr",
        type=_positive_float,
        help=f"peak learning rate; default per optimizer: {DEFAULT_LR}",
    )
    add(
        "--weight-decay",
        type=_nonnegative_float,
        help=f"weight decay of conv/linear weights; default per optimizer: {DEFAULT_WEIGHT_DECAY}",
    )
    add(
        "--schedule",
        choices=["onecycle", "cosine", "none"],
        default="onecycle",
        help="learning-rate schedule, stepped every batch",
    )
    add("--label-smoothing", type=_fraction, default=0.0, help="label smoothing eps of the loss")
    add(
        "--aux-weight",
        type=_nonnegative_float,
        default=0.3,
        help="weight of each auxiliary head's loss",
    )
    add("--grad-clip", type=_positive_float, help="clip the gradient norm to this value")


def _add_hardware(p: argparse.ArgumentParser) -> None:
    add = p.add_argument_group("hardware and precision").add_argument
    add(
        "--amp",
        choices=AMP_MODES,
        default="auto",
        help="mixed precision: auto = bf16 on GPUs that have it, fp16 + GradScaler on other "
        "GPUs, off on CPU",
    )
    add(
        "--channels-last",
        choices=["auto", "on", "off"],
        default="auto",
        help="NHWC memory layout (auto = on: faster convolutions on CPU and GPU)",
    )
    add("--compile", action="store_true", help="torch.compile the model")
    add("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    add(
        "--sync-bn",
        action="store_true",
        help="under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)",
    )
    add(
        "--deterministic",
        action="store_true",
        help="on GPUs: no cuDNN autotuning or TF32, so a rerun gives the same weights (slower)",
    )


def _add_run(p: argparse.ArgumentParser) -> None:
    add = p.add_argument_group("seed, checkpoints and output").add_argument
    add(
        "--seed",
        type=_nonnegative_int,
        default=0,
        help="random seed (data order, initialization, dropout)",
    )
    add(
        "--checkpoint-dir",
        help="write last.pt here after every epoch (atomically); default: no checkpoints",
    )
    add("--resume", action="store_true", help="continue from --checkpoint-dir/last.pt")
    add(
        "--out",
        help="where to write the History JSON; default: runs/<model>-<dataset>/history.json",
    )
    add("--no-progress", action="store_true", help="no progress bars or per-epoch lines")


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
    for add_group in (_add_model_and_data, _add_optimization, _add_hardware, _add_run):
        add_group(p)
    return p


def _build_model(spec: str, num_classes: int, in_channels: int, extra: dict) -> nn.Module:
    """A registry model (`models.build`), or your own factory given as "package.module:function"."""
    from inception_lab import models

    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = signature_of = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise UsageError(
                f"--model {spec!r}: cannot import {attr!r} from {module_name!r} ({e})"
            ) from e
    elif spec in models.list_models():
        factory = functools.partial(models.build, spec)
        signature_of = models.MODELS[spec]
    else:
        raise UsageError(
            f"--model {spec!r}: unknown; choose from {', '.join(models.list_models())}"
        )
    # The full-size ImageNet models are RGB only: they take no in_channels argument.
    kwargs = {"num_classes": num_classes, **extra}
    if "in_channels" in inspect.signature(signature_of).parameters:
        kwargs["in_channels"] = in_channels
    elif in_channels != 3:
        raise UsageError(
            f"--model {spec!r} takes RGB images; the dataset has {in_channels} channels"
        )
    return factory(**kwargs)


def _model_args(items: list[str]) -> dict[str, Any]:
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--model-arg expects KEY=VALUE, got {item!r}")
        extra[key] = _parse_value(value)
    return extra


def _device(name: str, rank: int, world_size: int, verbose: bool) -> torch.device:
    """--device as a torch.device; under torchrun with CUDA, this rank's GPU (LOCAL_RANK)."""
    if name == "auto":
        device = pick_device(verbose=verbose and rank == 0)
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise UsageError(
                f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps"
            ) from None
    if world_size > 1 and device.type == "cuda":
        device = rank_device()
        torch.cuda.set_device(device)
    return device


def _setup(args, rank: int, world_size: int, device: torch.device):
    """The loaders and the model; a bad dataset, size or model is a UsageError."""
    from inception_lab.data import make_loaders

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


def _train(args, loaders, model, device) -> tuple[Any, int]:
    """fit with the command line's settings; (History, exit code)."""
    try:
        history = fit(
            model,
            loaders,
            args.epochs,
            optimizer=args.optimizer,
            lr=args.lr,
            weight_decay=args.weight_decay,
            schedule=None if args.schedule == "none" else args.schedule,
            label_smoothing=args.label_smoothing,
            aux_weight=args.aux_weight,
            amp=args.amp,
            channels_last={"auto": "auto", "on": True, "off": False}[args.channels_last],
            compile=args.compile,
            seed=args.seed,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
            device=device,
            grad_clip=args.grad_clip,
            steps_per_epoch=args.steps_per_epoch,
            sync_bn=args.sync_bn,
            deterministic=args.deterministic,
            progress=not args.no_progress,
        )
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
        device = _device(args.device, rank, world_size, not args.no_progress)
        if world_size > 1:
            dist.init_process_group(backend=dist_backend(device))
        loaders, model = _setup(args, rank, world_size, device)
        if rank == 0 and not args.no_progress:
            n_params = sum(p.numel() for p in model.parameters())
            print(
                f"{args.model}: {n_params:,} parameters; {args.dataset}: {len(loaders.train)} "
                f"batches of {args.batch_size} x {world_size} process(es) per epoch"
            )
        t0 = time.perf_counter()
        history, code = _train(args, loaders, model, device)
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
