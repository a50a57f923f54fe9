"""Explorers: the pure functions against hand formulas, and the widgets driven by their sliders."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from inception_lab import widgets as W
from inception_lab.profile import ReceptiveField


# --------------------------------------------------------------------------- bottleneck
def test_bottleneck_costs_reference_examples():
    r = W.bottleneck_costs(in_ch=192, red_ch=64, out_ch=96, kernel=3, size=28)
    assert r["direct"] == {"weights": 165_888, "macs": 130_056_192}
    assert r["bottleneck"] == {"weights": 67_584, "macs": 52_985_856}
    assert r["saving_weights_pct"] == pytest.approx(100 * (1 - 67_584 / 165_888))
    r = W.bottleneck_costs(in_ch=192, red_ch=16, out_ch=32, kernel=5, size=28)
    assert r["direct"] == {"weights": 153_600, "macs": 120_422_400}
    assert r["bottleneck"] == {"weights": 15_872, "macs": 12_443_648}


@pytest.mark.parametrize("c_in, red, c_out, k, size", [(512, 24, 64, 5, 14), (64, 64, 8, 7, 9)])
def test_bottleneck_costs_hand_formula(c_in, red, c_out, k, size):
    r = W.bottleneck_costs(c_in, red, c_out, k, size)
    direct = k * k * c_in * c_out
    bottleneck = c_in * red + k * k * red * c_out
    assert r["direct"] == {"weights": direct, "macs": direct * size * size}
    assert r["bottleneck"] == {"weights": bottleneck, "macs": bottleneck * size * size}


def test_bottleneck_costs_refusals():
    with pytest.raises(ValueError, match="wider than the input"):
        W.bottleneck_costs(64, 128, 64, 3, 28)
    with pytest.raises(ValueError, match="odd"):
        W.bottleneck_costs(64, 32, 64, 4, 28)
    with pytest.raises(ValueError, match=r"^size must be an integer >= 1, got 0$"):
        W.bottleneck_costs(64, 32, 64, 3, 0)
    with pytest.raises(ValueError, match=r"^red_ch must be an integer >= 1, got True$"):
        W.bottleneck_costs(64, True, 64, 3, 28)


def test_bottleneck_explorer_follows_its_sliders():
    ex = W.bottleneck_explorer()
    text = ex.output.value
    assert "165,888" in text and "67,584" in text and "130,056,192" in text
    assert "59.3% less" in text
    assert "bottleneck-explorer" in ex._dom_classes
    assert "bottleneck-result" in ex.output._dom_classes
    assert "bottleneck-in-ch" in ex.controls["in_ch"]._dom_classes
    assert ex.controls["red_ch"].description == "reduction (1x1) channels"

    ex.controls["kernel"].value = 5  # as a user moving the slider would
    ex.controls["red_ch"].value = 16
    ex.controls["out_ch"].value = 32
    assert ex.result == W.bottleneck_costs(192, 16, 32, 5, 28)
    assert "12,443,648" in ex.output.value and "120,422,400" in ex.output.value

    ex.controls["red_ch"].value = 256  # wider than the 192 input channels: refused, visibly
    assert ex.result is None and "wider than the input" in ex.error
    assert "Not possible" in ex.output.value and "wider than the input" in ex.output.value

    ex.controls["in_ch"].value = 512  # now the reduction fits again
    assert ex.error is None and ex.result == W.bottleneck_costs(512, 256, 32, 5, 28)
    assert f"{W.bottleneck_costs(512, 256, 32, 5, 28)['bottleneck']['macs']:,}" in ex.output.value


# --------------------------------------------------------------------------- factorization
def test_factorization_costs_weights_per_channel_pair():
    c = 64
    rows = W.factorization_costs(n=5, in_ch=c, out_ch=c, size=10)
    assert [r["design"] for r in rows] == [
        "one 5x5 conv",
        "2 stacked 3x3 convs",
        "1x5 conv, then 5x1 conv",
    ]
    assert [r["weights"] for r in rows] == [25 * c * c, 18 * c * c, 10 * c * c]
    assert [r["macs"] for r in rows] == [r["weights"] * 100 for r in rows]  # "same" padding
    assert [r["receptive_field"] for r in rows] == [ReceptiveField((5, 5), (1, 1))] * 3
    assert [round(r["saving_pct"]) for r in rows] == [0, 28, 60]

    rows = W.factorization_costs(n=3, in_ch=32, out_ch=16, size=8)
    assert [r["weights"] for r in rows] == [9 * 32 * 16, 9 * 32 * 16, 3 * 32 * 16 + 3 * 16 * 16]
    rows = W.factorization_costs(n=7, in_ch=8, out_ch=8, size=17)
    assert rows[1]["design"] == "3 stacked 3x3 convs" and rows[1]["weights"] == 27 * 64
    assert all(r["receptive_field"].size == (7, 7) for r in rows)
    with pytest.raises(ValueError, match="odd"):
        W.factorization_costs(n=4, in_ch=8, out_ch=8, size=8)


def test_factorization_explorer_follows_its_sliders():
    ex = W.factorization_explorer()
    assert "921,600" in ex.output.value and "28.0% less" in ex.output.value
    assert "factorization-result" in ex.output._dom_classes
    ex.controls["n"].value = 7
    assert "3 stacked 3x3 convs" in ex.output.value and "7x7" in ex.output.value
    assert ex.result == W.factorization_costs(7, 192, 192, 28)
    ex.controls["n"].value = 8  # even: refused with a message, not a traceback
    assert ex.result is None and "odd" in ex.output.value


# --------------------------------------------------------------------------- label smoothing
def test_label_smoothing_summary():
    r = W.label_smoothing_summary(eps=0.1, num_classes=10)
    assert r["target_true"] == pytest.approx(0.91) and r["target_other"] == pytest.approx(0.01)
    assert r["optimum_logit"] == pytest.approx(torch.log(torch.tensor(91.0)).item())
    # at the optimum the softmax equals the target, so the loss is the target's entropy
    entropy = -(0.91 * torch.log(torch.tensor(0.91)) + 9 * 0.01 * torch.log(torch.tensor(0.01)))
    assert r["min_loss"] == pytest.approx(entropy.item())
    assert W.label_smoothing_summary(0.0, 10)["optimum_logit"] == float("inf")


def test_label_smoothing_explorer_follows_its_sliders():
    ex = W.label_smoothing_explorer()
    assert "0.910" in ex.output.value and "z = 4.51" in ex.output.value
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    before = ex.image.value
    ex.controls["eps"].value = 0.0
    assert "no minimum" in ex.output.value and ex.image.value != before
    ex.controls["num_classes"].value = 2
    ex.controls["eps"].value = 0.2
    assert "0.900" in ex.output.value  # 1 - 0.2 + 0.2 / 2
    assert "label-smoothing-explorer" in ex._dom_classes
