"""Interactive explorers (ipywidgets 8): move a slider, see the cost change.

Each explorer is a thin layer over a pure function that the tests call directly:

- `bottleneck_explorer()`  over `bottleneck_costs`:    direct conv vs 1x1 reduction first;
- `factorization_explorer()` over `factorization_costs`: n x n vs stacked 3x3 vs 1 x n + n x 1;
- `label_smoothing_explorer()` over `label_smoothing_summary` and `viz.plot_label_smoothing`.

An exception inside a widget callback would be swallowed silently, so every explorer catches
the ValueError of its pure function and shows the message in the widget instead.
Each explorer is an `Explorer` (a VBox): `.controls` holds its sliders by name, `.output` the
HTML widget with the numbers, `.result` the latest result of the pure function (None after bad
input) and `.error` the latest error message (or None).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from torch import nn

from . import profile, viz
from ._validate import check_int, pair


# --------------------------------------------------------------------------- pure functions
def _cost(layers: list[nn.Module], in_ch: int, size: int) -> tuple[int, int]:
    """(weights, MACs) of a stack of convs on an in_ch x size x size input, counted by
    `profile` on the meta device: exact, and instant even for wide layers."""
    stack = nn.Sequential(*layers)
    return profile.count_weights(stack), profile.count_macs(stack, (in_ch, size, size))


def _conv(in_ch: int, out_ch: int, kernel: int | tuple[int, int]) -> nn.Conv2d:
    kh, kw = pair("kernel", kernel)
    with torch.device("meta"):
        return nn.Conv2d(in_ch, out_ch, (kh, kw), padding=(kh // 2, kw // 2), bias=False)


def _saving(new: int, old: int) -> float:
    return 100.0 * (1 - new / old)


def bottleneck_costs(in_ch: int, red_ch: int, out_ch: int, kernel: int, size: int) -> dict:
    """A k x k conv from in_ch to out_ch channels on a size x size map, directly or after a 1x1
    conv that first reduces the input to red_ch channels (GoogLeNet's dimension reduction).

    Weights only (no biases), MACs per image, "same" padding. Returns
    {"direct": {"weights", "macs"}, "bottleneck": {"weights", "macs"}, "saving_weights_pct",
    "saving_macs_pct"} (the savings are negative when the bottleneck costs more).
    A reduction wider than the input (red_ch > in_ch) is refused with a ValueError: it would
    add work instead of saving it.
    """
    sizes = {"in_ch": in_ch, "red_ch": red_ch, "out_ch": out_ch, "kernel": kernel, "size": size}
    for name, value in sizes.items():
        check_int(name, value)
    if kernel % 2 == 0:
        raise ValueError(f"kernel size must be odd (1, 3, 5, 7, ...), got {kernel}")
    if red_ch > in_ch:
        raise ValueError(
            f"the reduction ({red_ch} channels) is wider than the input ({in_ch} channels): "
            "a 1x1 bottleneck must reduce the channels - choose at most the input width"
        )
    dw, dm = _cost([_conv(in_ch, out_ch, kernel)], in_ch, size)
    bw, bm = _cost([_conv(in_ch, red_ch, 1), _conv(red_ch, out_ch, kernel)], in_ch, size)
    return {
        "direct": {"weights": dw, "macs": dm},
        "bottleneck": {"weights": bw, "macs": bm},
        "saving_weights_pct": _saving(bw, dw),
        "saving_macs_pct": _saving(bm, dm),
    }


def factorization_costs(n: int, in_ch: int, out_ch: int, size: int) -> list[dict]:
    """Three ways to see an n x n window, on a size x size map, from in_ch to out_ch channels:

    1. one n x n conv;
    2. (n - 1) / 2 stacked 3x3 convs (5x5 -> two 3x3, the v3 paper's Figure 5);
    3. a 1 x n conv, then an n x 1 conv (Figure 6: n^2 -> 2n weights per channel pair).
    Intermediate layers have out_ch channels. Rows: {"design", "weights", "macs",
    "receptive_field" (a profile.ReceptiveField), "saving_pct" (of weights, vs the n x n conv)}.
    n must be odd and at least 3.
    """
    for name, value in {"n": n, "in_ch": in_ch, "out_ch": out_ch, "size": size}.items():
        check_int(name, value)
    if n < 3 or n % 2 == 0:
        raise ValueError(f"n must be odd and at least 3 (3, 5, 7, ...), got {n}")
    k = (n - 1) // 2
    designs = {
        f"one {n}x{n} conv": [_conv(in_ch, out_ch, n)],
        f"{k} stacked 3x3 conv{'s' if k > 1 else ''}": [
            _conv(in_ch if i == 0 else out_ch, out_ch, 3) for i in range(k)
        ],
        f"1x{n} conv, then {n}x1 conv": [
            _conv(in_ch, out_ch, (1, n)),
            _conv(out_ch, out_ch, (n, 1)),
        ],
    }
    rows = []
    for design, layers in designs.items():
        weights, macs = _cost(layers, in_ch, size)
        rows.append(
            {
                "design": design,
                "weights": weights,
                "macs": macs,
                "receptive_field": profile.receptive_field(layers),
            }
        )
    for row in rows:
        row["saving_pct"] = _saving(row["weights"], rows[0]["weights"])
    return rows


def label_smoothing_summary(eps: float, num_classes: int) -> dict:
    """The smoothed target and where the loss is lowest (true-class logit z, other logits 0).

    Returns {"target_true", "target_other" (probabilities), "optimum_logit" (inf for eps = 0),
    "min_loss" (the smoothed loss at that logit; its floor: the target's entropy)}.
    """
    target = viz.smoothed_target(num_classes, eps)
    best = viz.smoothing_optimum(num_classes, eps)
    if eps == 0:
        min_loss = 0.0
    else:
        _, loss = viz.smoothing_loss_curve(num_classes, eps, torch.tensor([best]))
        min_loss = float(loss[0])
    return {
        "target_true": float(target[0]),
        "target_other": float(target[1]),
        "optimum_logit": best,
        "min_loss": min_loss,
    }


# --------------------------------------------------------------------------- the widget shell
class Explorer(widgets.VBox):
    """Sliders, and an HTML output recomputed whenever a slider moves.

    `compute(**slider values)` is a pure function; `render(result, values) -> html` formats it;
    `figure(**slider values)`, if given, is drawn into an Image widget below the numbers.
    `.refresh()` recomputes and returns the result (None after bad input, see `.error`).
    CSS classes (stable, for browser tests): the box "<css>-explorer", the numbers
    "<css>-result", each slider "<css>-<name>" (e.g. "bottleneck-in-ch").
    """

    def __init__(
        self,
        css: str,
        intro: str,
        controls: dict[str, widgets.ValueWidget],
        compute: Callable[..., Any],
        render: Callable[[Any, dict[str, Any]], str],
        figure: Callable[..., Any] | None = None,
    ):
        self.controls, self.compute, self.render, self.figure = controls, compute, render, figure
        self.output = widgets.HTML()
        self.output.add_class(f"{css}-result")
        self.image = widgets.Image(format="png") if figure else None
        self.result: Any = None
        self.error: str | None = None
        for name, control in controls.items():
            control.style.description_width = "initial"
            control.add_class(f"{css}-{name.replace('_', '-')}")
            control.observe(lambda change: self.refresh(), names="value")
        children = [widgets.HTML(intro), *controls.values(), self.output]
        super().__init__(children + ([self.image] if self.image else []))
        self.add_class(f"{css}-explorer")
        self.refresh()

    @property
    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Any:
        values = self.values
        try:
            result = self.compute(**values)
            text = self.render(result, values)
            if self.image is not None:
                fig = self.figure(**values)
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=80)
                plt.close(fig)  # drawn into the Image widget; keep pyplot from showing it again
                self.image.value = buf.getvalue()
        except Exception as err:  # a callback's exception would vanish: show it
            # A ValueError is a refused combination of slider values; anything else is a bug.
            prefix = "Not possible" if isinstance(err, ValueError) else "Error"
            self.result, self.error = None, str(err)
            self.output.value = (
                f'<div class="explorer-error" style="color:#b00020">'
                f"<b>{prefix}:</b> {html.escape(str(err))}</div>"
            )
            return None
        self.result, self.error = result, None
        self.output.value = text
        return result


def _slider(description: str, value: int, lo: int, hi: int, step: int = 1) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        layout=widgets.Layout(width="480px"),
    )


def _bars(items: list[tuple[str, int]], unit: str) -> str:
    """A small horizontal bar chart in HTML (cheap to redraw on every slider move)."""
    top = max(v for _, v in items) or 1
    rows = "".join(
        f'<div style="display:flex;align-items:center;margin:2px 0">'
        f'<span style="width:150px">{html.escape(label)}</span>'
        f'<span class="explorer-bar" style="display:inline-block;height:14px;'
        f'width:{240 * v / top:.1f}px;background:{color}"></span>'
        f'<span style="margin-left:6px">{v:,} {unit}</span></div>'
        for (label, v), color in zip(items, ("#4c78a8", "#f58518", "#54a24b"), strict=False)
    )
    return f"<div>{rows}</div>"


_TABLE = '<table style="border-collapse:collapse">{}</table>'
_TD = '<td style="text-align:right;padding:2px 10px">{}</td>'


def _saving_text(pct: float) -> str:
    return f"{pct:.1f}% less" if pct >= 0 else f"{-pct:.1f}% more"


# --------------------------------------------------------------------------- explorers
def bottleneck_explorer(
    in_ch: int = 192, red_ch: int = 64, out_ch: int = 96, kernel: int = 3, size: int = 28
) -> Explorer:
    """Weights and MACs of a k x k conv with and without a 1x1 bottleneck in front.

    The defaults are a teaching example on inception 3a's input (28x28x192, reduce to 64, 3x3
    conv to 96; 3a's own 3x3 branch reduces to 96 and convolves to 128): 165,888 -> 67,584
    weights. A reduction wider than the input is refused with a message.

    """

    def render(r: dict, v: dict) -> str:
        k = v["kernel"]
        direct = f"{k}x{k} conv, {v['in_ch']} → {v['out_ch']}"
        bneck = f"1x1 conv to {v['red_ch']}, then {k}x{k} conv to {v['out_ch']}"
        head = f"<tr><th></th>{_TD.format('<b>weights</b>')}{_TD.format('<b>MACs</b>')}</tr>"
        rows = [
            (direct, r["direct"]["weights"], r["direct"]["macs"]),
            (bneck, r["bottleneck"]["weights"], r["bottleneck"]["macs"]),
        ]
        body = "".join(
            f"<tr><td>{html.escape(n)}</td>{_TD.format(f'{w:,}')}{_TD.format(f'{m:,}')}</tr>"
            for n, w, m in rows
        )
        saving = (
            f"<tr><td><b>bottleneck saves</b></td>"
            f"{_TD.format(_saving_text(r['saving_weights_pct']))}"
            f"{_TD.format(_saving_text(r['saving_macs_pct']))}</tr>"
        )
        chart = _bars(
            [("direct", r["direct"]["macs"]), ("with bottleneck", r["bottleneck"]["macs"])],
            "MACs",
        )
        return (
            f"<p>On a {v['size']}x{v['size']}x{v['in_ch']} input, per image "
            f"(1 MAC = 2 FLOPs):</p>" + _TABLE.format(head + body + saving) + chart
        )

    return Explorer(
        "bottleneck",
        "<b>1x1 bottleneck explorer</b>: reduce the channels with a cheap 1x1 conv before the "
        "expensive k x k conv.",
        {
            "in_ch": _slider("input channels", in_ch, 8, 1024, 8),
            "red_ch": _slider("reduction (1x1) channels", red_ch, 8, 1024, 8),
            "out_ch": _slider("output channels", out_ch, 8, 1024, 8),
            "kernel": _slider("kernel size (k x k)", kernel, 1, 7, 2),
            "size": _slider("feature map size (H = W)", size, 1, 112),
        },
        bottleneck_costs,
        render,
    )


def factorization_explorer(
    n: int = 5, in_ch: int = 192, out_ch: int = 192, size: int = 28
) -> Explorer:
    """Weights, MACs and receptive field of one n x n conv, stacked 3x3 convs, and a 1 x n conv
    followed by an n x 1 conv: the same window, fewer weights (v3 paper, section 3)."""

    def render(rows: list[dict], _: dict) -> str:
        head = "<tr><th>design</th>" + "".join(
            _TD.format(f"<b>{h}</b>")
            for h in ("weights", "MACs", "receptive field", "weights vs n x n")
        )
        cells = [
            [
                f"{r['weights']:,}",
                f"{r['macs']:,}",
                str(r["receptive_field"]),
                "-" if i == 0 else _saving_text(r["saving_pct"]),
            ]
            for i, r in enumerate(rows)
        ]
        body = "".join(
            f"<tr><td>{html.escape(r['design'])}</td>{''.join(map(_TD.format, c))}</tr>"
            for r, c in zip(rows, cells, strict=True)
        )
        chart = _bars([(r["design"], r["weights"]) for r in rows], "weights")
        return _TABLE.format(head + "</tr>" + body) + chart

    return Explorer(
        "factorization",
        "<b>Factorization explorer</b>: three ways to see an n x n window. Weights only (no "
        "biases); MACs per image (1 MAC = 2 FLOPs); inner layers have the output width.",
        {
            "n": _slider("window n (n x n)", n, 3, 11, 2),
            "in_ch": _slider("input channels", in_ch, 8, 1024, 8),
            "out_ch": _slider("output channels", out_ch, 8, 1024, 8),
            "size": _slider("feature map size (H = W)", size, 1, 112),
        },
        factorization_costs,
        render,
    )


def label_smoothing_explorer(eps: float = 0.1, num_classes: int = 10) -> Explorer:
    """The smoothed target distribution and the loss against the true-class logit, for a
    slider over eps and the number of classes (v3 paper, section 7)."""

    def render(r: dict, _: dict) -> str:
        best = r["optimum_logit"]
        where = (
            "The loss has no minimum: without smoothing it keeps falling as the logit grows, "
            "so training pushes the logits without bound."
            if best == float("inf")
            else f"The loss is lowest at logit z = {best:.2f} (loss {r['min_loss']:.3f}); "
            "pushing z further costs loss, so the logits stay bounded."
        )
        return (
            f"<p>Target: <b>{r['target_true']:.3f}</b> for the true class, "
            f"<b>{r['target_other']:.4f}</b> for each other class.<br>{where}</p>"
        )

    eps_slider = widgets.FloatSlider(
        value=eps,
        min=0.0,
        max=0.5,
        step=0.01,
        description="epsilon",
        layout=widgets.Layout(width="480px"),
        continuous_update=False,
    )
    classes = _slider("number of classes", num_classes, 2, 100)
    classes.continuous_update = False
    return Explorer(
        "label-smoothing",
        "<b>Label smoothing explorer</b>: target = (1 - eps) * one_hot + eps / K.",
        {"eps": eps_slider, "num_classes": classes},
        label_smoothing_summary,
        render,
        figure=viz.plot_label_smoothing,
    )
