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
import html
import operator
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from .blocks import ConvBNAct, SplitConv

InputSize = Sequence[int]  # (C, H, W) for one image, or (N, C, H, W) for a batch


# --------------------------------------------------------------------------- argument checks
def _check_module(module: Any, what: str = "module") -> nn.Module:
    if not isinstance(module, nn.Module):
        msg = f"{what} must be a torch.nn.Module, got {type(module).__name__}"
        raise ValueError(msg)  # noqa: TRY004 (the course raises ValueError for every bad argument)
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


def _hwc(shape: Sequence[int]) -> str:
    """(N, C, H, W) -> "HxWxC", the paper's Table 1 notation; (N, F) -> "1x1xF"."""
    if len(shape) == 4:
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    if len(shape) == 2:
        return f"1x1x{shape[1]}"
    return "x".join(str(d) for d in shape[1:])


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


# --------------------------------------------------------------------------- describing layers
def _conv_label(conv: nn.Conv2d) -> str:
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    stride = "" if (sh, sw) == (1, 1) else f"/{sh}" if sh == sw else f"/{sh}x{sw}"
    groups = f", groups={conv.groups}" if conv.groups > 1 else ""
    return f"{kh}x{kw}{stride} conv, {conv.out_channels}{groups}"


def describe_layer(module: nn.Module) -> str:
    """A short human label in the papers' notation: "1x1 conv, 64", "3x3/2 max pool", ...

    Stride is written after a slash only when it is not 1 (the paper's "7x7/2"). A conv without
    a ReLU is marked "(linear)"; a sequence is joined with arrows; a `SplitConv` as "a | b".
    """
    _check_module(module)
    if isinstance(module, ConvBNAct):
        linear = " (linear)" if isinstance(module.act, nn.Identity) else ""
        return _conv_label(module.conv) + linear
    if isinstance(module, nn.Conv2d):
        return _conv_label(module)
    if isinstance(getattr(module, "conv", None), nn.Conv2d) and len(list(module.children())) <= 3:
        return _conv_label(module.conv)  # torchvision's BasicConv2d (conv + BN [+ ReLU])
    if isinstance(module, SplitConv):
        return f"{describe_layer(module.split_1xn)} | {describe_layer(module.split_nx1)}"
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        k, s = module.kernel_size, module.stride
        k = k if isinstance(k, int) else k[0]
        s = s if isinstance(s, int) else s[0]
        kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
        return f"{k}x{k}{'' if s == 1 else f'/{s}'} {kind} pool"
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        kind = "avg" if isinstance(module, nn.AdaptiveAvgPool2d) else "max"
        size = module.output_size
        if size in (1, (1, 1)):
            return f"global {kind} pool"
        h, w = (size, size) if isinstance(size, int) else size
        return f"adaptive {kind} pool to {h}x{w}"
    if isinstance(module, nn.Linear):
        return f"linear, {module.out_features}"
    if isinstance(module, nn.Dropout):
        return f"dropout {module.p:.0%}"
    if isinstance(module, nn.Sequential):
        quiet = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Flatten)
        return " → ".join(describe_layer(m) for m in module if not isinstance(m, quiet))
    return type(module).__name__


# --------------------------------------------------------------------------- tables
_BASE_COLUMNS = ("layer", "type", "output_size", "depth", "params", "macs")


class CostTable:
    """A cost table: one row per layer (or branch) and a total row.

    `.rows` is a list of dicts with keys `layer`, `type`, `output_size` ("28x28x256", H x W x C
    as in the paper), `depth` (conv layers on the longest path through the layer), `params` and
    `macs` (multiply-accumulates, per image unless the input size had a batch dimension), plus any
    columns added with `add_column`. `.total` is the total row. `table["inception3a"]` looks a
    row up by layer name. Renders as HTML in a notebook and as text with `print(table)`.
    """

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        total: Mapping[str, Any],
        title: str = "",
        params_header: str = "params",
        extra: Sequence[str] = (),
    ):
        self.rows = [dict(r) for r in rows]
        self.total = dict(total)
        self.title = title
        self.params_header = params_header
        self.extra = tuple(extra)

    # lookup
    @property
    def names(self) -> list[str]:
        return [r["layer"] for r in self.rows]

    def __getitem__(self, name: str) -> dict[str, Any]:
        for row in self.rows:
            if row["layer"] == name:
                return row
        raise ValueError(f"unknown layer name {name!r}; the table has {self.names}")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def add_column(self, header: str, values: Mapping[str, Any], total: Any = None) -> CostTable:
        """A new table with one more column, e.g. the paper's numbers joined by layer name.

        `values` maps layer names to cell values (layers left out get an empty cell); a name the
        table does not have raises a ValueError.
        """
        if header in _BASE_COLUMNS or header in self.extra:
            raise ValueError(f"the table already has a column {header!r}")
        unknown = [name for name in values if name not in self.names]
        if unknown:
            raise ValueError(f"unknown layer name(s) {unknown}; the table has {self.names}")
        rows = [{**r, header: values.get(r["layer"])} for r in self.rows]
        return CostTable(
            rows,
            {**self.total, header: total},
            self.title,
            self.params_header,
            (*self.extra, header),
        )

    # rendering
    def _columns(self) -> list[tuple[str, str, bool]]:
        """(key, header, is_number) for every column, in order."""
        base = [
            ("layer", "layer", False),
            ("type", "type", False),
            ("output_size", "output size", False),
            ("depth", "depth", True),
            ("params", self.params_header, True),
            ("macs", "MACs", True),
        ]
        numeric = {
            h: all(isinstance(r.get(h), int | float | None) for r in [*self.rows, self.total])
            for h in self.extra
        }
        return base + [(h, h, numeric[h]) for h in self.extra]

    @staticmethod
    def _cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.1f}"
        return str(value)

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        cols = self._columns()
        body = [[self._cell(r.get(k)) for k, _, _ in cols] for r in [*self.rows, self.total]]
        return [h for _, h, _ in cols], body

    def to_text(self) -> str:
        headers, body = self._cells()
        numeric = [num for _, _, num in self._columns()]
        widths = [max(len(x) for x in col) for col in zip(headers, *body, strict=True)]

        def line(cells):
            return "  ".join(
                c.rjust(w) if num else c.ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        lines = [self.title] if self.title else []
        lines += [line(headers), rule, *map(line, body[:-1]), rule, line(body[-1])]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        headers, body = self._cells()
        numeric = [num for _, _, num in self._columns()]

        def row(cells, tag="td", style=""):
            tds = "".join(
                f'<{tag} style="text-align:{"right" if num else "left"}{style}">'
                f"{html.escape(c)}</{tag}>"
                for c, num in zip(cells, numeric, strict=True)
            )
            return f"<tr>{tds}</tr>"

        caption = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return (
            f'<table class="inception-lab-cost-table">{caption}'
            f"<thead>{row(headers, 'th')}</thead><tbody>"
            + "".join(row(cells) for cells in body[:-1])
            + row(body[-1], style="; font-weight:bold; border-top:1px solid")
            + "</tbody></table>"
        )


def _per(shape: tuple[int, int, int, int], input_size: InputSize) -> str:
    n, c, h, w = shape
    if len(input_size) == 3:
        return f"input {h}x{w}x{c}, MACs per image"
    return f"input {n} x {h}x{w}x{c}, MACs for the batch of {n}"


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
    rows = [
        {
            "layer": name,
            "type": describe_layer(child),
            "output_size": _hwc(trace.shapes[name]) if name in trace.shapes else None,
            "depth": trace.depths.get(name),
            "params": count(child),
            "macs": trace.flops.get(name, 0) // 2,
        }
        for name, child in children.items()
    ]
    total_params, total_macs = count(model), trace.flops[""] // 2
    other = {"params": total_params - sum(r["params"] for r in rows)}
    other["macs"] = total_macs - sum(r["macs"] for r in rows)
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
    total = {
        "layer": "total",
        "type": "",
        "output_size": None,
        "depth": trace.depth,
        "params": total_params,
        "macs": total_macs,
    }
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
    rows = []
    for name, part in parts.items():
        p = path[part]
        rows.append(
            {
                "layer": name,
                "type": describe_layer(part),
                "output_size": _hwc(trace.shapes[p]) if p in trace.shapes else None,
                "depth": trace.depths.get(p),
                "params": count_params(part),
                "macs": trace.flops.get(p, 0) // 2,
            }
        )
    total = {
        "layer": "total",
        "type": "",
        "output_size": None,
        "depth": trace.depth,
        "params": count_params(block),
        "macs": trace.flops[""] // 2,
    }
    title = f"{model_name(block)} per branch, {_per(_batch_shape(input_size), input_size)}"
    return CostTable(rows, total, title)


# --------------------------------------------------------------------------- receptive field
class ReceptiveField(NamedTuple):
    """`size`: (height, width) of the input window one output pixel sees.
    `jump`: (height, width) distance in input pixels between neighbouring outputs (the product
    of the strides)."""

    size: tuple[int, int]
    jump: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"


_RF_NEUTRAL = (nn.BatchNorm2d, nn.ReLU, nn.Identity, nn.Dropout)


def _rf_window(r, j, kernel, stride, dilation=(1, 1)):
    # Each extra kernel tap reaches `jump` input pixels further: r += (k - 1) * d * j; j *= s.
    r = tuple(ri + (k - 1) * d * ji for ri, k, d, ji in zip(r, kernel, dilation, j, strict=True))
    return r, tuple(ji * s for ji, s in zip(j, stride, strict=True))


def _pair_of(value: Any, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair
    ):
        raise ValueError(f"{what} must be a positive int or a pair of them, got {value!r}")
    return pair


def _rf_module(mod: nn.Module, r, j):
    if isinstance(mod, nn.Conv2d):
        return _rf_window(r, j, mod.kernel_size, mod.stride, mod.dilation)
    if isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
        dilation = getattr(mod, "dilation", 1)
        stride = mod.stride if mod.stride is not None else mod.kernel_size
        return _rf_window(
            r,
            j,
            _pair_of(mod.kernel_size, "pool kernel"),
            _pair_of(stride, "pool stride"),
            _pair_of(dilation, "pool dilation"),
        )
    if isinstance(mod, ConvBNAct):
        return _rf_module(mod.conv, r, j)
    if isinstance(mod, _RF_NEUTRAL):
        return r, j
    if isinstance(mod, nn.Sequential):
        for m in mod:
            r, j = _rf_module(m, r, j)
        return r, j
    parallel = None
    if isinstance(mod, SplitConv):
        parallel = [mod.split_1xn, mod.split_nx1]
    elif isinstance(getattr(mod, "branches", None), nn.ModuleDict):
        parallel = list(mod.branches.values())
    if parallel is None:
        raise ValueError(
            f"receptive_field does not know how {type(mod).__name__} moves a window; pass a "
            "stack of convs, pools, ConvBNActs, Sequentials and Inception blocks, or a list of "
            "(kernel, stride) pairs"
        )
    # Parallel branches see the input side by side: the block's window is the widest one.
    # (The 1x1 projection of an Inception-ResNet block and its shortcut add nothing.)
    ends = [_rf_module(m, r, j) for m in parallel]
    return (
        tuple(max(e[0][i] for e in ends) for i in range(2)),
        tuple(max(e[1][i] for e in ends) for i in range(2)),
    )


def receptive_field(layers: nn.Module | Sequence[Any]) -> ReceptiveField:
    """Receptive field of a stack of convs and pools, from input to output.

    `layers` is a module (a conv, pool, `ConvBNAct`, `nn.Sequential`, or an Inception block, whose
    window is its widest branch's) or a list of layers, each a module or a `(kernel, stride)`
    pair, where `kernel` is an int or an (kh, kw) pair; a bare int means stride 1. Examples:
    one 5x5 conv: [5] -> 5x5; two 3x3 convs: [3, 3] -> 5x5; 1x7 then 7x1:
    [((1, 7), 1), ((7, 1), 1)] -> 7x7 (a bare (1, 7) would mean kernel 1, stride 7).
    Padding does not change the window. Returns `ReceptiveField(size=(h, w), jump=(h, w))`.
    """
    items = [layers] if isinstance(layers, nn.Module) else layers
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise ValueError(  # noqa: TRY004 (a ValueError for every bad argument)
            f"layers must be an nn.Module or a list of (kernel, stride) pairs, got {layers!r}"
        )
    r, j = (1, 1), (1, 1)
    for item in items:
        if isinstance(item, nn.Module):
            r, j = _rf_module(item, r, j)
        elif isinstance(item, int) and not isinstance(item, bool):
            r, j = _rf_window(r, j, _pair_of(item, "kernel"), (1, 1))
        elif isinstance(item, Sequence) and len(item) == 2:
            r, j = _rf_window(r, j, _pair_of(item[0], "kernel"), _pair_of(item[1], "stride"))
        else:
            raise ValueError(
                f"each layer must be an nn.Module, a kernel size or a (kernel, stride) pair, "
                f"got {item!r}"
            )
    return ReceptiveField(r, j)
