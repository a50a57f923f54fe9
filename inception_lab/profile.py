"""Counting the cost of a network: parameters, multiply-adds (MACs), per layer and per branch.

The Inception papers argue about cost - "a computational budget of 1.5 billion multiply-adds at
inference" - so the course must count exactly and say in which unit:

- **MACs** (multiply-accumulates) are what the papers call "multiply-adds" and what torchvision's
  "GFLOPS" column really lists. **1 MAC = 2 FLOPs.** Every function, column and label here names
  its unit.
- MACs are counted by `torch.utils.flop_counter.FlopCounterMode`, which sees every convolution
  and matrix multiply at dispatch level (functional calls too), not by hand-written hooks.
  Like the papers, it counts convolutions and linear layers only: BatchNorm, ReLU, pooling and
  additions cost zero MACs.
- The paper's "params" columns count *weights*: `count_weights` counts conv and linear weights
  only (no biases, no BatchNorm), `count_params` counts every parameter, as `sum(p.numel())`.

Counting runs the model once in eval mode under `torch.no_grad()` on a zero input. A model on the
"meta" device is counted without doing any arithmetic (`with torch.device("meta"): model = ...`),
which is how big reference models are counted in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from .costtable import CostTable, describe_layer, hwc
from .receptive_field import ReceptiveField, receptive_field

__all__ = [
    "CostTable",
    "ReceptiveField",
    "branch_costs",
    "branches_of",
    "cost_table",
    "count_flops",
    "count_macs",
    "count_params",
    "count_weights",
    "describe_layer",
    "model_name",
    "param_breakdown",
    "receptive_field",
]

InputSize = Sequence[int]  # (C, H, W) for one image, or (N, C, H, W) for a batch


# --------------------------------------------------------------------------- argument checks
def _check_module(module: Any, what: str = "module") -> nn.Module:
    if not isinstance(module, nn.Module):
        msg = f"{what} must be a torch.nn.Module, got {type(module).__name__}"
        raise ValueError(msg)  # the course raises ValueError for every bad argument
    return module


def model_name(model: nn.Module) -> str:
    """A model's own `.name` (e.g. "googlenet (paper)") if it has one, else its class name."""
    name = getattr(model, "name", None)
    return name if isinstance(name, str) and name else type(model).__name__


def _batch_shape(input_size: InputSize) -> tuple[int, int, int, int]:
    """(C, H, W) -> (1, C, H, W); (N, C, H, W) stays; anything else is a ValueError."""
    try:
        dims = tuple(operator.index(d) for d in input_size)
    except TypeError:
        dims = ()
    if len(dims) not in (3, 4) or any(d <= 0 for d in dims):
        raise ValueError(
            f"input_size must be (C, H, W) or (N, C, H, W) with positive integers, "
            f"e.g. (3, 224, 224); got {input_size!r}"
        )
    return dims if len(dims) == 4 else (1, *dims)


# --------------------------------------------------------------------------- parameters
def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (weights, biases, BatchNorm scales and shifts), each counted once."""
    _check_module(module)
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_weights(module: nn.Module) -> int:
    """Conv and linear weights only - no biases, no BatchNorm - as the papers count "params"."""
    _check_module(module)
    layers = (nn.modules.conv._ConvNd, nn.Linear)
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, layers))


def _parts(module: nn.Module) -> dict[str, nn.Module]:
    """The parts a block or model is made of: branches (and projection) of a block, else children.

    Branches come from `.branches` (our blocks) or from children named `branch*` (torchvision's
    Inception blocks); any other children of a block (e.g. an Inception-ResNet `project`) follow.
    """
    branches = getattr(module, "branches", None)
    if isinstance(branches, nn.ModuleDict):
        parts = dict(branches.items())
        parts.update((n, c) for n, c in module.named_children() if c is not branches)
        return parts
    return dict(module.named_children())


def branches_of(block: nn.Module) -> dict[str, nn.Module]:
    """The branches of a multi-branch block, in concatenation order, then any other parts (an
    Inception-ResNet `project`); for a block without `.branches`, its children named branch*."""
    parts = _parts(_check_module(block, "block"))
    if not isinstance(getattr(block, "branches", None), nn.ModuleDict):
        parts = {n: c for n, c in parts.items() if n.startswith("branch")}
    if not parts:
        raise ValueError(
            f"{type(block).__name__} has no branches: expected a multi-branch block (with a "
            ".branches ModuleDict, or children named branch*); for a plain stack of layers use "
            "cost_table"
        )
    return parts


def param_breakdown(module: nn.Module, weights_only: bool = False) -> dict[str, int]:
    """Parameters per part: per branch (and projection) of a block, per child of anything else.

    Parameters held by the module itself rather than by a part are listed under "(own)".
    `weights_only=True` counts conv and linear weights only, like the papers.
    """
    _check_module(module)
    count = count_weights if weights_only else count_params
    parts = {name: count(part) for name, part in _parts(module).items()}
    own = count(module) - sum(parts.values())
    if own:
        parts["(own)"] = own
    return parts


# --------------------------------------------------------------------------- tracing one forward
_CONV_OPS = {
    torch.conv1d,
    torch.conv2d,
    torch.conv3d,
    torch.conv_transpose1d,
    torch.conv_transpose2d,
    torch.conv_transpose3d,
    nn.functional.linear,
}


class _ConvDepth(TorchFunctionMode):
    """Tags every tensor with how many conv/linear layers lie on its longest path from the input.

    Depth follows the data, not the module tree: a conv adds one, anything else (concat, add,
    pool, BN) takes the deepest of its inputs. So an Inception module is 2 deep (1x1 then 3x3),
    whatever its class looks like - the "depth" column of the GoogLeNet paper's Table 1.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        depth = max((getattr(t, "_conv_depth", 0) for t in inputs), default=0)
        depth += func in _CONV_OPS
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not isinstance(t, nn.Parameter):
                t._conv_depth = depth
        return out


def _first_tensor(x: Any) -> torch.Tensor | None:
    return next((t for t in tree_flatten(x)[0] if isinstance(t, torch.Tensor)), None)


class _Trace(NamedTuple):
    flops: dict[str, int]  # qualified module name ("" = the model) -> FLOPs, forward only
    shapes: dict[str, tuple[int, ...]]  # watched name -> output shape
    depths: dict[str, int]  # watched name -> conv layers between its input and its output
    depth: int  # conv layers on the longest input -> output path of the whole model


def _trace(model: nn.Module, input_size: InputSize, watch: Sequence[str] = ()) -> _Trace:
    """Run `model` once (eval mode, no grad) on zeros of `input_size` and record its cost.

    `watch` lists qualified submodule names whose output shape and depth to record.
    Raises a ValueError naming the input size (and the failing layer) if the model cannot run.
    """
    _check_module(model, "model")
    shape = _batch_shape(input_size)
    tensors = [*model.parameters(), *model.buffers()]
    floating = [t for t in tensors if t.is_floating_point()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dtype = floating[0].dtype if floating else torch.float32
    x = torch.zeros(shape, device=device, dtype=dtype)

    named = dict(model.named_modules())
    unknown = [n for n in watch if n not in named]
    if unknown:
        raise ValueError(f"unknown layer name(s) {unknown} in {model_name(model)}")
    depth_in, depth_out, shapes, running = {}, {}, {}, [""]
    handles = []

    def pre_hook(name):
        def hook(mod, args):
            running.append(name)
            t = _first_tensor(args)
            depth_in.setdefault(name, getattr(t, "_conv_depth", 0))

        return hook

    def post_hook(name):
        def hook(mod, args, out):
            running.pop()
            t = _first_tensor(out)
            if t is not None:
                shapes.setdefault(name, tuple(t.shape))
                depth_out.setdefault(name, getattr(t, "_conv_depth", 0))

        return hook

    # Hooks only record shapes and names for messages; the counting is FlopCounterMode's.
    for name, mod in named.items():
        if name:
            handles.append(mod.register_forward_pre_hook(pre_hook(name)))
            handles.append(mod.register_forward_hook(post_hook(name)))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        # Depth tags cost time on every op: only when a table asks for depths.
        with torch.no_grad(), counter, _ConvDepth() if watch else contextlib.nullcontext():
            out = model(x)
    except (RuntimeError, ValueError, IndexError) as err:
        where = f" (it failed in layer {running[-1]!r})" if running[-1] else ""
        # A ValueError is the model's own check and explains itself; torch's errors need a hint.
        hint = (
            ""
            if isinstance(err, ValueError)
            else ". Check that the input has as many channels as the model expects and is "
            "large enough to survive its downsampling"
        )
        raise ValueError(
            f"{model_name(model)} cannot run on input size {tuple(input_size)}, i.e. a batch "
            f"of shape {shape}{where}: {err}{hint}"
        ) from err
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    root = type(model).__name__
    flops = {"": counter.get_total_flops()}
    for key, ops in counter.get_flop_counts().items():
        if key.startswith(root + "."):
            flops[key[len(root) + 1 :]] = sum(ops.values())
    out_t = _first_tensor(out)
    return _Trace(
        flops=flops,
        shapes={n: shapes[n] for n in watch if n in shapes},
        depths={n: depth_out[n] - depth_in[n] for n in watch if n in depth_out},
        depth=getattr(out_t, "_conv_depth", 0),
    )


# --------------------------------------------------------------------------- MACs
def count_macs(model: nn.Module, input_size: InputSize) -> int:
    """Multiply-accumulates (MACs) of one forward pass at inference (eval mode).

    `input_size` is (C, H, W) - the MACs for ONE image - or (N, C, H, W) - the MACs for a batch
    of N images (N times as many). Counted with FlopCounterMode: convolutions and matrix
    multiplies only (BatchNorm, ReLU, pooling, additions count zero), auxiliary heads that eval
    mode skips are not counted. 1 MAC = 2 FLOPs; see `count_flops`.
    """
    return _trace(model, input_size).flops[""] // 2


def count_flops(model: nn.Module, input_size: InputSize) -> int:
    """FLOPs of one forward pass at inference: exactly 2 x `count_macs` (1 MAC = 2 FLOPs).

    Papers and torchvision's documentation often write "FLOPs" for what are MACs; this function
    returns real FLOPs (a multiply and an add each count one).
    """
    return _trace(model, input_size).flops[""]


# --------------------------------------------------------------------------- tables (see costtable)
def _per(shape: tuple[int, int, int, int], input_size: InputSize) -> str:
    n, c, h, w = shape
    if len(input_size) == 3:
        return f"input {h}x{w}x{c}, MACs per image"
    return f"input {n} x {h}x{w}x{c}, MACs for the batch of {n}"


def _row(name: str, part: nn.Module, path: str, trace: _Trace, count) -> dict[str, Any]:
    """One table row: a part of the model, found at `path` in the trace, counted by `count`."""
    return {
        "layer": name,
        "type": describe_layer(part),
        "output_size": hwc(trace.shapes[path]) if path in trace.shapes else None,
        "depth": trace.depths.get(path),
        "params": count(part),
        "macs": trace.flops.get(path, 0) // 2,
    }


def _total(trace: _Trace, params: int) -> dict[str, Any]:
    """The total row: the whole model's depth, parameters and MACs."""
    return {
        "layer": "total",
        "type": "",
        "output_size": None,
        "depth": trace.depth,
        "params": params,
        "macs": trace.flops[""] // 2,
    }


def cost_table(model: nn.Module, input_size: InputSize, weights_only: bool = False) -> CostTable:
    """Per-layer cost of a model, in the spirit of the GoogLeNet paper's Table 1.

    One row per child module of `model` (for our GoogLeNet: conv1, maxpool1, ..., inception3a,
    ..., fc), with its type, output size (H x W x C), depth (conv layers deep: 0 for a pool, 1 for
    a conv, 2 for an Inception module), parameters and MACs; then a total row, whose depth is the
    depth of the whole network. `input_size` is (C, H, W) (MACs per image) or (N, C, H, W).
    Layers that eval mode skips (auxiliary heads) show their parameters, 0 MACs, no output size.
    Work done outside any child (functional ops in the model's own forward), if any, gets a row
    "(other)", so the rows always add up to the total. `weights_only=True` counts conv and linear
    weights only in the params column (the paper's convention), headed "weights".
    """
    _check_module(model, "model")
    children = dict(model.named_children())
    trace = _trace(model, input_size, watch=list(children))
    count = count_weights if weights_only else count_params
    rows = [_row(name, child, name, trace, count) for name, child in children.items()]
    total = _total(trace, count(model))
    other = {key: total[key] - sum(r[key] for r in rows) for key in ("params", "macs")}
    if other["params"] or other["macs"]:
        rows.append(
            {
                "layer": "(other)",
                "type": "outside any child",
                "output_size": None,
                "depth": None,
                **other,
            }
        )
    title = f"{model_name(model)}, {_per(_batch_shape(input_size), input_size)}"
    return CostTable(rows, total, title, "weights" if weights_only else "params")


def branch_costs(block: nn.Module, input_size: InputSize) -> CostTable:
    """Parameters and MACs of each branch of an Inception block (plus its projection, if any).

    `input_size` is the block's input (C, H, W), e.g. (192, 28, 28) for inception 3a. Rows follow
    the concatenation order of `block.branches`; an `InceptionResNetBlock` gets one more row,
    `project`, for its linear 1x1 projection (its scaling and the residual add cost no MACs).
    Works on torchvision's Inception blocks too (children named branch*).
    """
    _check_module(block, "block")
    parts = branches_of(block)
    path = {m: n for n, m in block.named_modules()}
    trace = _trace(block, input_size, watch=[path[m] for m in parts.values()])
    rows = [_row(name, part, path[part], trace, count_params) for name, part in parts.items()]
    title = f"{model_name(block)} per branch, {_per(_batch_shape(input_size), input_size)}"
    return CostTable(rows, _total(trace, count_params(block)), title)
