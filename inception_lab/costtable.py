"""Cost tables as the papers print them: layer labels and the table a notebook renders.

`describe_layer` names a layer in the papers' notation ("3x3/2 max pool", "1x1 conv, 64");
`CostTable` holds the rows that `profile.cost_table` and `profile.branch_costs` count and renders
them as text (`print(table)`) or HTML (a notebook cell's output); `hwc` writes a shape as the
GoogLeNet paper's Table 1 does, H x W x C. Nothing here counts: see `profile`.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch import nn

from ._validate import is_int, pair
from .blocks import ConvBNAct, SplitConv


def hwc(shape: Sequence[int]) -> str:
    """A shape in Table 1's notation: (C, H, W) or (N, C, H, W) -> "HxWxC"; (N, F) -> "1x1xF"."""
    shape = tuple(shape)
    if len(shape) in (3, 4):
        c, h, w = shape[-3:]
        return f"{h}x{w}x{c}"
    if len(shape) == 2:
        return f"1x1x{shape[1]}"
    return "x".join(str(d) for d in shape[1:])


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
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
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
        (k, _), (s, _) = pair("kernel_size", module.kernel_size), pair("stride", module.stride)
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
        if is_int(value):  # a bool is printed as True / False
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
