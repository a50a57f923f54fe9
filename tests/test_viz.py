"""Every figure renders headless (Agg) and shows what it claims: titles, bars, labels, values."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.ticker import PercentFormatter
from torch import nn

from inception_lab import blocks as B
from inception_lab import models, profile, viz
from inception_lab.train import History


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def render(fig):
    """Draw the figure as a notebook would (catches errors that only appear at draw time)."""
    fig.canvas.draw()
    return fig


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def meta(builder, *args, **kwargs):
    with torch.device("meta"):
        return builder(*args, **kwargs)


NAIVE = (B.NaiveInception, 192, 64, 128, 32)
REDUCED = (B.Inception, 192, 64, 96, 128, 16, 32, 32)


# --------------------------------------------------------------------------- cost figures
def test_plot_branch_costs_naive_vs_reduced():
    naive, reduced = meta(*NAIVE), meta(*REDUCED)
    fig = render(viz.plot_branch_costs(naive, reduced, (192, 28, 28), labels=("naive", "reduced")))
    ax_params, ax_macs = fig.axes
    assert (
        "28x28x192" in fig._suptitle.get_text() and "naive vs reduced" in fig._suptitle.get_text()
    )
    assert len(bars(ax_params)) == len(bars(ax_macs)) == 4 + 4
    assert [t.get_text() for t in ax_macs.get_xticklabels()] == list(reduced.branches)
    assert "MACs" in ax_macs.get_ylabel() and "parameters" in ax_params.get_ylabel()
    # bar heights are the branch costs (naive bars first, in branch order)
    expected = [r["macs"] for r in profile.branch_costs(naive, (192, 28, 28))]
    expected += [r["macs"] for r in profile.branch_costs(reduced, (192, 28, 28))]
    assert [b.get_height() for b in bars(ax_macs)] == expected
    assert "12.4M" in texts(fig)  # the reduced 5x5 branch's 12,443,648 MACs, labelled
    legend = [t.get_text() for t in ax_macs.get_legend().get_texts()]
    assert legend == ["naive: 303M total", "reduced: 128M total"]


def test_plot_branch_costs_single_block_with_projection():
    res = meta(B.InceptionResNetBlock.a, 320)
    fig = render(viz.plot_branch_costs(res, None, (320, 35, 35)))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][-1] == "project"
    assert len(bars(fig.axes[1])) == 4
    with pytest.raises(ValueError, match="one label per block"):
        viz.plot_branch_costs(res, res, (320, 35, 35), labels=("only one",))


def test_plot_layer_costs():
    model = meta(models.googlenet, variant="paper")
    fig = render(viz.plot_layer_costs(model, (3, 224, 224)))
    ax_params, ax_macs = fig.axes
    names = [n for n, _ in model.named_children()]
    assert len(bars(ax_params)) == len(bars(ax_macs)) == len(names)
    assert [t.get_text() for t in ax_params.get_yticklabels()] == names
    assert "1,582,671,872" in ax_macs.get_title()
    assert "MACs per image (millions)" == ax_macs.get_xlabel()
    assert "googlenet (paper)" in fig._suptitle.get_text()
    assert "22%" in texts(fig)  # conv3 holds 22% of the MACs


def test_plot_stack_growth_naive_grows_reduced_stays_flat():
    naive = nn.Sequential(
        meta(B.NaiveInception, 192, 64, 128, 32), meta(B.NaiveInception, 416, 64, 128, 32)
    )
    reduced = nn.Sequential(meta(*REDUCED), meta(B.Inception, 256, 64, 96, 128, 16, 32, 32))
    fig = render(viz.plot_stack_growth({"naive": naive, "reduced": reduced}, (192, 28, 28)))
    ax_ch, ax_params, ax_macs = fig.axes
    assert "28x28x192" in fig._suptitle.get_text()
    assert "channels" in ax_ch.get_ylabel() and "MACs" in ax_macs.get_ylabel()
    # one line per stack; the y values are the blocks' widths and costs, first block first
    (n_ch, r_ch), (n_mac, r_mac) = ax_ch.get_lines(), ax_macs.get_lines()
    assert list(n_ch.get_ydata()) == [416, 640] and list(r_ch.get_ydata()) == [256, 256]
    # naive block 2: every filter spans 416 channels; by hand, weights x 28 x 28 pixels
    by_hand = 28 * 28 * 416 * (64 * 1 + 128 * 9 + 32 * 25)
    assert list(n_mac.get_ydata()) == [profile.count_macs(naive[0], (192, 28, 28)), by_hand]
    assert list(r_mac.get_xdata()) == [1, 2]
    assert r_mac.get_ydata()[1] == profile.count_macs(reduced[1], (256, 28, 28))
    assert [ln.get_ydata()[1] for ln in ax_params.get_lines()] == [
        profile.count_params(naive[1]),
        profile.count_params(reduced[1]),
    ]
    with pytest.raises(ValueError, match="at least one stack"):
        viz.plot_stack_growth({}, (192, 28, 28))


def test_plot_cost_map_reference_and_course_models():
    fig = render(viz.plot_cost_map())
    ax = fig.axes[0]
    labels = texts(fig)
    for name in [*viz.REFERENCE_MODELS, *viz.course_models()]:
        assert name in labels
    points = {t.get_text(): tuple(t.xy) for t in ax.texts if t.get_text() in viz.REFERENCE_MODELS}
    assert points["GoogLeNet"] == (1_498_376_192, 6_624_904)  # (MACs, params), counted live
    assert points["VGG-16"][1] == 138_357_544
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "MACs per image" in ax.get_xlabel() and "parameters" in ax.get_ylabel()
    assert "1 MAC = 2 FLOPs" in ax.get_title()
    # no label covers another one
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    overlaps = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
    assert overlaps == []


def test_plot_cost_map_own_models_only():
    tiny = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
    fig = render(viz.plot_cost_map({"tiny": (tiny, (3, 32, 32))}, include_reference=False))
    dots = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    offsets = [tuple(c.get_offsets()[0]) for c in dots if len(c.get_offsets())]
    assert offsets == [(30 * 30 * 8 * 27 + 7200 * 10, profile.count_params(tiny))]
    assert texts(fig) == ["tiny"]
    with pytest.raises(ValueError, match=r"must be \(model, input_size\)"):
        viz.plot_cost_map({"tiny": tiny})
    with pytest.raises(ValueError, match="nothing to plot"):
        viz.plot_cost_map({}, include_reference=False)


# --------------------------------------------------------------------------- block diagrams
def test_draw_block_inception():
    fig = render(viz.draw_block(meta(*REDUCED)))
    labels = texts(fig)
    for label in [
        "1x1 conv, 64",
        "1x1 conv, 96",
        "3x3 conv, 128",
        "1x1 conv, 16",
        "5x5 conv, 32",
        "3x3 max pool",
        "1x1 conv, 32",
        "concat, 256",
        "input, 192 channels",
    ]:
        assert label in labels
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == 1 + 7 + 1  # input, the layers, concat
    assert fig.axes[0].get_title() == "Inception: 192 → 256 channels"


def test_draw_block_factorized_and_split():
    fig = render(viz.draw_block(meta(B.InceptionB, 768, 192, 160, 192, 160, 192, 192)))
    assert "1x7 conv, 160" in texts(fig) and "7x1 conv, 192" in texts(fig)
    assert "3x3 avg pool" in texts(fig)
    fig = render(viz.draw_block(meta(B.InceptionC, 1280, 320, 384, 384, 448, 384, 192)))
    assert texts(fig).count("1x3 conv, 384") == 2 and texts(fig).count("3x1 conv, 384") == 2
    assert "concat, 2048" in texts(fig)


def test_draw_block_residual():
    fig = render(viz.draw_block(meta(B.InceptionResNetBlock.a, 320), title="Inception-ResNet-A"))
    labels = texts(fig)
    for label in ["1x1 conv, 320 (linear)", "x 0.17 (scale)", "+", "ReLU", "concat, 128"]:
        assert label in labels
    assert any("shortcut" in t for t in labels)
    assert fig.axes[0].get_title() == "Inception-ResNet-A"
    fig = render(viz.draw_block(meta(B.InceptionResNetBlock.a, 320, residual=False)))
    assert "+" not in texts(fig) and "(no shortcut)" in texts(fig)


def test_draw_blocks_side_by_side():
    blocks = [
        meta(*NAIVE),
        meta(*REDUCED),
        meta(B.InceptionA, 192, 64, 48, 64, 64, 96, 32),
        meta(B.InceptionResNetBlock.a, 320),
    ]
    titles = ["naive", "reduced", "factorized", "residual"]
    fig = render(viz.draw_blocks(blocks, titles))
    assert [ax.get_title() for ax in fig.axes] == titles
    assert "5x5 conv, 32" in texts(fig) and "x 0.17 (scale)" in texts(fig)
    assert len({ax.get_ylim() for ax in fig.axes}) == 1  # one scale for all
    # draw_block into a given axes returns that axes' figure
    fig2, ax = plt.subplots()
    assert viz.draw_block(blocks[0], ax=ax) is fig2
    with pytest.raises(ValueError, match="has no branches"):
        viz.draw_block(nn.Conv2d(3, 3, 3))
    with pytest.raises(ValueError, match="one title per block"):
        viz.draw_blocks(blocks, ["x"])


# --------------------------------------------------------------------------- receptive field
def test_plot_receptive_field_default():
    fig = render(viz.plot_receptive_field())
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "one 5x5 conv\nwindow 5x5, 25 weights per channel pair",
        "two 3x3 convs\nwindow 5x5, 18 weights per channel pair",
        "1x5 conv, then 5x1 conv\nwindow 5x5, 10 weights per channel pair",
    ]
    # two stacked 3x3: paths 1 2 3 2 1 along each axis; the centre is reached 9 ways
    image = fig.axes[1].images[0].get_array()
    assert image.max() == 9 and image.count() == 25
    np.testing.assert_array_equal(np.ma.getdata(image)[1:6, 1], [1, 2, 3, 2, 1])
    assert texts(fig)[:5] == ["1"] * 5  # one 5x5: every pixel reached once


def test_plot_receptive_field_custom_and_bad():
    fig = render(viz.plot_receptive_field({"3x3/2 then 3x3": [(3, 2), nn.Conv2d(1, 1, 3)]}))
    assert fig.axes[0].get_title().startswith("3x3/2 then 3x3\nwindow 7x7, 18 weights")
    with pytest.raises(ValueError, match="one layer per item"):
        viz.plot_receptive_field({"seq": [nn.Sequential(nn.Conv2d(1, 1, 3))]})
    with pytest.raises(ValueError):
        viz.plot_receptive_field({"bad": "3x3"})


# --------------------------------------------------------------------------- training curves
def record(epoch, loss, acc, val=True):
    return {
        "epoch": epoch,
        "train_loss": loss,
        "train_acc": acc,
        "val_loss": loss * 1.1 if val else None,
        "val_acc": acc * 0.9 if val else None,
        "lr": 0.1 / epoch,
        "seconds": 1.0,
        "images_per_s": 100.0,
    }


def test_plot_history_one_run():
    history = History([record(e, 2 / e, 0.2 * e) for e in range(1, 5)])
    fig = render(viz.plot_history(history))
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_ylabel() == "loss (cross-entropy)" and ax_acc.get_ylabel() == "accuracy"
    assert [line.get_label() for line in ax_loss.lines] == ["train", "val"]
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), [2, 1, 2 / 3, 0.5])
    np.testing.assert_allclose(ax_acc.lines[1].get_xdata(), [1, 2, 3, 4])
    assert ax_acc.yaxis.get_major_formatter()(0.5, 0) == "50%"
    fig = render(viz.plot_history(history.records, metrics=("lr",)))  # records work too
    assert fig.axes[0].get_ylabel() == "learning rate"


def test_plot_history_compares_runs_and_marks_divergence():
    good = History([record(e, 2 / e, 0.2 * e, val=False) for e in range(1, 5)])
    bad = History(
        [record(e, 2 / e, 0.2 * e, val=False) for e in range(1, 3)],
        diverged={
            "epoch": 3,
            "step": 5,
            "steps_per_epoch": 10,
            "loss": float("nan"),
            "last_finite_loss": 4.0,
            "lr": 1.0,
        },
    )
    fig = render(viz.plot_history({"lr 0.1": good, "lr 1.0": bad}))
    ax_loss = fig.axes[0]
    labels = [line.get_label() for line in ax_loss.lines]
    assert labels == ["lr 0.1 train", "lr 1.0 train", "lr 1.0 diverged (epoch 3)"]  # no val data
    marker = ax_loss.lines[-1]
    assert marker.get_marker() == "x"
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (2.5, 4.0)  # epoch 2 + 5/10 steps
    with pytest.raises(ValueError, match="expected a History"):
        viz.plot_history([1, 2, 3])


# --------------------------------------------------------------------------- calibration
def test_calibration_bins_by_hand():
    probs = torch.tensor(
        [[0.95, 0.03, 0.02], [0.95, 0.05, 0.0], [0.55, 0.45, 0.0], [0.35, 0.33, 0.32]]
    )
    labels = torch.tensor([0, 1, 0, 2])  # right, wrong, right, wrong
    stats = viz.calibration_bins(probs, labels, n_bins=10)
    assert stats["count"].tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 0, 2]
    np.testing.assert_allclose(stats["accuracy"][[3, 5, 9]], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(stats["confidence"][[3, 5, 9]], [0.35, 0.55, 0.95])
    assert np.isnan(stats["accuracy"][0])
    expected = 2 / 4 * abs(0.5 - 0.95) + 1 / 4 * abs(1 - 0.55) + 1 / 4 * abs(0 - 0.35)
    assert stats["ece"] == pytest.approx(expected)


def test_calibration_bins_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 7, generator=gen), 1)
    labels = torch.randint(0, 7, (500,), generator=gen)
    conf, pred = probs.max(1)
    ece = 0.0
    for b in range(15):  # bins (b/15, (b+1)/15]
        inside = (conf > b / 15) & (conf <= (b + 1) / 15)
        if inside.any():
            gap = (pred[inside] == labels[inside]).float().mean() - conf[inside].mean()
            ece += inside.float().mean().item() * abs(gap.item())
    assert viz.calibration_bins(probs, labels, 15)["ece"] == pytest.approx(ece, abs=1e-6)


def test_calibration_bins_bad_input():
    with pytest.raises(ValueError, match="softmax"):
        viz.calibration_bins(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be"):
        viz.calibration_bins(torch.full((4, 2), 0.5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must be in"):
        viz.calibration_bins(torch.full((4, 2), 0.5), torch.tensor([0, 1, 2, 0]))


def test_plot_reliability_and_confidence_hist():
    gen = torch.Generator().manual_seed(1)
    probs = torch.softmax(2 * torch.randn(300, 5, generator=gen), 1)
    labels = torch.randint(0, 5, (300,), generator=gen)
    stats = viz.calibration_bins(probs, labels, 10)
    fig = render(viz.plot_reliability(probs, labels, n_bins=10))
    ax, ax_n = fig.axes
    assert ax.get_title() == f"Reliability diagram (ECE = {stats['ece']:.3f}, 10 bins)"
    filled = int((stats["count"] > 0).sum())
    assert len(bars(ax)) == 2 * filled  # accuracy bars and gap bars
    assert [b.get_height() for b in bars(ax_n)] == stats["count"].tolist()
    assert "confidence" in ax_n.get_xlabel()

    sharp = torch.softmax(5 * torch.randn(300, 5, generator=gen), 1)
    fig = render(viz.plot_confidence_hist({"plain": sharp, "smoothed": probs}, n_bins=20))
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == f"plain (mean {sharp.max(1).values.mean():.2f})"
    assert len(bars(ax)) == 2 * 20
    assert sum(b.get_height() for b in bars(ax)[:20]) == 300


# --------------------------------------------------------------------------- label smoothing
def test_label_smoothing_math():
    target = viz.smoothed_target(10, 0.1, true_class=3)
    expected = torch.full((10,), 0.01, dtype=torch.float64)
    expected[3] = 0.91
    torch.testing.assert_close(target, expected)
    z, loss = viz.smoothing_loss_curve(4, 0.2)
    # by hand: cross-entropy against the smoothed target, logits (z, 0, 0, 0)
    log_norm = torch.log(torch.exp(z) + 3)
    hand = -((1 - 0.2 + 0.05) * (z - log_norm) + 3 * 0.05 * (0 - log_norm))
    torch.testing.assert_close(loss, hand)
    best = viz.smoothing_optimum(4, 0.2)
    assert abs(float(z[loss.argmin()]) - best) < 0.06  # grid step 0.05
    assert viz.smoothing_optimum(4, 0.0) == float("inf")
    with pytest.raises(ValueError, match="eps"):
        viz.smoothed_target(10, 1.5)


def test_plot_label_smoothing():
    fig = render(viz.plot_label_smoothing(num_classes=5, eps=0.2))
    ax_t, ax_l = fig.axes
    assert fig._suptitle.get_text() == "Label smoothing with eps = 0.2, 5 classes"
    np.testing.assert_allclose([b.get_height() for b in bars(ax_t)], [0.84] + [0.04] * 4)
    assert [line.get_label() for line in ax_l.lines[:2]] == ["no smoothing (eps = 0)", "eps = 0.2"]
    assert f"minimum at z = {viz.smoothing_optimum(5, 0.2):.2f}" in texts(fig)


def test_plot_accuracy_vs_macs():
    results = {
        "baseline": {"macs": 11_171_840, "acc": 0.5},
        "mine": {"macs": 4_663_872, "acc": 0.75, "params": 71_098},
    }
    fig = render(viz.plot_accuracy_vs_macs(results, chance=0.1, highlight=["mine"]))
    (ax,) = fig.axes
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(
        np.vstack([p.get_offsets() for p in points]), [[11_171_840, 0.5], [4_663_872, 0.75]]
    )
    assert ax.get_xscale() == "log"
    assert ax.lines[0].get_ydata()[0] == 0.1  # the chance line
    assert {"baseline", "mine", "chance (10%)"} <= set(texts(fig))
    assert "MACs per image" in ax.get_xlabel() and ax.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="highlight"):
        viz.plot_accuracy_vs_macs(results, highlight=["yours"])
    with pytest.raises(ValueError, match="fraction"):
        viz.plot_accuracy_vs_macs({"a": {"macs": 1e6, "acc": 75.0}})
    with pytest.raises(ValueError, match="'macs' and 'acc'"):
        viz.plot_accuracy_vs_macs({"a": {"acc": 0.5}})


def test_plot_history_keeps_curves_readable_when_the_loss_exploded():
    """A run whose last finite loss was 1e20 must not squash the other curves to a flat line:
    its marker sits at the top of the curves' range, with the value written next to it."""
    good = History([record(e, 2 / e, 0.2 * e, val=False) for e in range(1, 5)])
    bad = History(
        [],
        diverged={
            "epoch": 1,
            "step": 4,
            "steps_per_epoch": 32,
            "loss": float("nan"),
            "last_finite_loss": 1.7e20,
            "lr": 0.5,
        },
    )
    fig = render(viz.plot_history({"BN": good, "no BN": bad}))
    ax_loss = fig.axes[0]
    low, high = ax_loss.get_ylim()
    assert high < 3  # the curves (0.5 .. 2.0) still fill the panel
    marker = ax_loss.lines[-1]
    assert marker.get_marker() == "x" and marker.get_label() == "no BN diverged (epoch 1)"
    assert marker.get_xdata()[0] == pytest.approx(4 / 32)
    assert low <= marker.get_ydata()[0] <= high
    assert any(t.get_text() == "loss 1.7e+20" for t in ax_loss.texts)


def test_plot_history_rejects_what_is_not_a_run():
    with pytest.raises(ValueError, match="list of per-epoch record dicts"):
        viz.plot_history([1, 2, 3])
    with pytest.raises(ValueError, match="for 'a'"):
        viz.plot_history({"a": "not a run"})


# --------------------------------------------------------------------------- pictures of the data
def test_show_batch_draws_a_labelled_grid():
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    fig = render(
        viz.show_batch(
            images, [0, 1, 2, 1, 0], ["a", "b", "c"], predictions=[0, 1, 0, 1, 0], ncols=3
        )
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["a / a", "b / b", "c / a", "b / b", "a / a"]
    wrong = next(ax for ax in fig.axes if ax.get_title() == "c / a")
    assert wrong.title.get_color() == "red"
    with pytest.raises(ValueError, match="images must be a tensor"):
        viz.show_batch(torch.zeros(2, 5, 4, 4))


def test_show_batch_and_show_scales_keep_their_signatures():
    """The notebooks call these with these parameters (they used to live in `data`)."""
    import inspect

    expected = {
        "show_batch": [
            "images",
            "labels",
            "class_names",
            "predictions",
            "mean",
            "std",
            "ncols",
            "max_images",
            "title",
        ],
        "show_scales": ["dataset", "label", "per_scale"],
    }
    for name, params in expected.items():
        assert list(inspect.signature(getattr(viz, name)).parameters) == params


# --------------------------------------------------------------------------- lesson 9 additions
def test_reference_models_include_the_v4_paper_networks():
    # the v4 paper's three networks are reference points, counted from the course's builders
    assert viz.reference_costs("Inception-v4") == (42_679_816, 12_253_974_624)
    assert viz.reference_costs("Inception-ResNet-v2")[0] == 55_843_464
    assert viz.reference_costs("Inception-ResNet-v1")[0] == 22_756_328
    assert viz.reference_costs("ResNet-152")[0] == 60_192_808
    # the half-depth Inception-ResNet-v2 is not on the map under a full-size name
    assert "inception_resnet_v2_half" not in viz.course_models()
    assert all("resnet" not in name or name.startswith("mini_") for name in viz.course_models())
    with pytest.raises(ValueError, match="unknown reference model"):
        viz.reference_costs("Inception-v5")


def test_draw_block_marks_valid_layers():
    v4 = meta(models.inception_v4)
    labels = texts(render(viz.draw_blocks([v4.Mixed_3a, v4.Mixed_4a, v4.Mixed_5a])))
    assert "3x3/2 max pool V" in labels and "3x3/2 conv, 96 V" in labels
    assert "3x3 conv, 96 V" in labels and "1x7 conv, 64" in labels  # same-padded: no V
    assert "3x3/2 conv, 192 V" in labels
    # a same-padded Inception block has no V at all
    assert not any(t.endswith(" V") for t in texts(render(viz.draw_block(meta(*REDUCED)))))


def test_plot_published_errors():
    from inception_lab.viz.costs import plot_published_errors

    rows = [
        {"model": "A", "evaluation": "single crop", "error": 10.0, "macs": 1e9, "params": 7e6},
        {"model": "A", "evaluation": "10 crops", "error": 9.0, "macs": 1e9, "params": 7e6},
        {"model": "B", "evaluation": "10 crops", "error": 5.0, "macs": 1e10, "params": 5e7},
    ]
    fig = render(plot_published_errors(rows))
    ax_macs, ax_params = fig.axes
    assert ax_macs.get_xscale() == ax_params.get_xscale() == "log"
    assert "MACs per image" in ax_macs.get_xlabel() and "parameters" in ax_params.get_xlabel()
    assert "top-5 error" in ax_macs.get_ylabel()
    legend = [t.get_text() for t in ax_macs.get_legend().get_texts()]
    assert legend == ["single crop", "10 crops"]
    # one label per model per panel, at its first point; one joining line for model A
    assert [t.get_text() for t in ax_macs.texts] == ["A", "B"]
    assert len(ax_macs.get_lines()) == 1
    offsets = [tuple(c.get_offsets()[0]) for c in ax_params.collections if len(c.get_offsets())]
    assert (7e6, 10.0) in offsets and (7e6, 9.0) in offsets
    fig.canvas.draw()
    for ax in fig.axes:
        boxes = [t.get_window_extent() for t in ax.texts]
        assert not any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i))
    with pytest.raises(ValueError, match="lacks"):
        plot_published_errors([{"model": "A"}])
    with pytest.raises(ValueError, match="at least one"):
        plot_published_errors([])


def test_plot_published_errors_labels_sit_by_their_own_points():
    """Two pairs of models of nearly the same cost (lesson 9's v3 / Inception-ResNet-v1 and
    v4 / -v2), each measured two ways: every label is nearer to its own points than to any
    other model's, or is joined to one of them by a leader line."""
    from matplotlib.collections import LineCollection

    from inception_lab.viz.costs import plot_published_errors

    def pair(model, macs, params, single, multi):
        return [
            {"model": model, "evaluation": protocol, "error": error, "macs": macs, "params": params}
            for protocol, error in (("single crop", single), ("12 crops", multi))
        ]

    rows = [
        *pair("GoogLeNet", 1.58e9, 7.0e6, 10.07, 9.15),
        *pair("Inception v3", 5.71e9, 23.8e6, 5.6, 4.6),
        *pair("Inception-ResNet-v1", 6.21e9, 22.8e6, 5.5, 4.6),
        *pair("Inception-v4", 12.25e9, 42.7e6, 5.0, 4.2),
        *pair("Inception-ResNet-v2", 13.16e9, 55.8e6, 4.9, 4.1),
        {"model": "ResNet-152", "evaluation": "12 crops", "error": 5.71, "macs": 11.5e9,
         "params": 60.2e6},
        {"model": "VGG-16", "evaluation": "12 crops", "error": 9.33, "macs": 15.5e9,
         "params": 138e6},
    ]  # fmt: skip
    fig = render(plot_published_errors(rows))
    stub = fig.canvas.get_renderer().points_to_pixels(13.0)
    for ax, key in zip(fig.axes, ("macs", "params"), strict=True):
        owner = [r["model"] for r in rows]
        points = [ax.transData.transform((r[key], r["error"])) for r in rows]
        leaders = [
            ax.transData.transform(segment)
            for c in ax.collections
            if isinstance(c, LineCollection)
            for segment in c.get_segments()
        ]
        assert sorted(t.get_text() for t in ax.texts) == sorted(dict.fromkeys(owner))
        for text in ax.texts:
            box = text.get_window_extent()
            gap = [
                np.hypot(min(max(x, box.x0), box.x1) - x, min(max(y, box.y0), box.y1) - y)
                for x, y in points
            ]
            own = min(g for g, o in zip(gap, owner, strict=True) if o == text.get_text())
            other = min(g for g, o in zip(gap, owner, strict=True) if o != text.get_text())
            if own < stub:
                assert other > own, f"{text.get_text()} sits nearer another model's point"
            else:  # away from its points: a leader line from one of them to the label
                mine = [p for p, o in zip(points, owner, strict=True) if o == text.get_text()]
                assert any(
                    min(np.hypot(*(seg[0] - p)) for p in mine) < 1
                    and box.expanded(1.01, 1.01).contains(*seg[1])
                    for seg in leaders
                ), f"{text.get_text()} is away from its points with no leader line"


# --------------------------------------------------------------------------- the experiment ledger
# Summary rows as `experiments.summarize(ledger, metric)` returns them (label -> row).
ROWS = {
    "naive": {"seeds": [0, 1, 2], "values": [0.61, 0.65, 0.66], "mean": 0.64, "sd": 0.0265},
    "reduced": {"seeds": [0, 1, 2], "values": [0.70, 0.74, 0.75], "mean": 0.73, "sd": 0.0265},
    "one seed": {"seeds": [0], "values": [0.5], "mean": 0.5, "sd": float("nan")},
}


def dots(ax) -> list[list[float]]:
    """The y values of each scatter (one per configuration), left to right."""
    return [list(c.get_offsets()[:, 1]) for c in ax.collections if isinstance(c, PathCollection)]


def test_plot_seeds_draws_every_seed_and_the_mean_of_the_rows():
    fig = render(viz.plot_seeds(ROWS, "test_acc", title="bottleneck"))
    (ax,) = fig.axes
    assert dots(ax) == [pytest.approx(r["values"]) for r in ROWS.values()]
    assert [b.get_height() for b in bars(ax)] == pytest.approx([r["mean"] for r in ROWS.values()])
    # each error bar spans mean ± sd; a single seed (sd nan) gets one of zero length
    spans = [
        [y for _, y in segment]
        for c in ax.containers
        if isinstance(c, BarContainer)
        for segment in c.errorbar.lines[2][0].get_segments()
    ]
    want = [[r["mean"] - s, r["mean"] + s] for r in ROWS.values() for s in [np.nan_to_num(r["sd"])]]
    assert spans == [pytest.approx(w) for w in want]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(ROWS)
    assert ax.get_title() == "bottleneck" and ax.get_ylabel() == "test accuracy"
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)  # accuracies in %


def test_plot_seeds_keeps_the_rows_order_for_chosen_labels_and_numbers_other_metrics():
    fig = render(viz.plot_seeds(ROWS, "test_ece", labels=["reduced", "naive"]))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive", "reduced"]
    assert ax.get_ylabel() == "test ece"
    assert not isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)  # ECE: a number
    with pytest.raises(ValueError, match="none of the labels"):
        viz.plot_seeds(ROWS, labels=["absent"])


def test_plot_differences_draws_each_seed_the_mean_and_the_interval_red_when_it_excludes_zero():
    from inception_lab.experiments import paired_difference

    shown = paired_difference({0: 0.8, 1: 0.82, 2: 0.85}, {0: 0.7, 1: 0.75, 2: 0.74})
    unclear = paired_difference({0: 0.8, 1: 0.7, 2: 0.9}, {0: 0.75, 1: 0.78, 2: 0.8})
    lone = paired_difference({0: 0.8}, {0: 0.75})
    fig = render(viz.plot_differences({"a - b": shown, "c - d": unclear, "one seed": lone}))
    (ax,) = fig.axes
    # dots: the per-seed differences in points, one row per comparison, top to bottom
    assert [list(c.get_offsets()[:, 0]) for c in ax.collections] == [
        pytest.approx([10.0, 7.0, 11.0]),
        pytest.approx([5.0, -8.0, 10.0]),
        pytest.approx([5.0]),
    ]
    bars = [line for line in ax.lines if line.get_linewidth() == 4]
    assert [list(b.get_xdata()) for b in bars] == [
        pytest.approx([100 * shown.low, 100 * shown.high]),
        pytest.approx([100 * unclear.low, 100 * unclear.high]),
    ]  # the lone seed has no interval to draw
    assert shown.low > 0 and unclear.low < 0 < unclear.high
    assert [b.get_color() for b in bars] == ["C3", "C7"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a - b", "c - d", "one seed"]
    with pytest.raises(TypeError, match="paired difference"):
        viz.plot_differences({"a - b": (0.1, 0.0, 0.2)})
    with pytest.raises(TypeError, match="non-empty mapping"):
        viz.plot_differences({})


def test_plot_seeds_draws_what_experiments_summarize_returns():
    from inception_lab import experiments

    ledger = experiments.load("bottleneck")
    ax = render(viz.plot_seeds(experiments.summarize(ledger), title="x")).axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    by_label = {}  # the ledger's runs, grouped by hand
    for run in ledger["runs"]:
        by_label.setdefault(run["label"], []).append(run["test_acc"])
    assert sorted(labels) == sorted(by_label)
    assert dots(ax) == [pytest.approx(by_label[label]) for label in labels]
    heights = [b.get_height() for b in bars(ax)]
    assert heights == pytest.approx([np.mean(by_label[label]) for label in labels])


def test_plot_seeds_asks_for_summary_rows_not_the_ledger():
    ledger = {"experiment": "bottleneck", "runs": [{"label": "naive", "test_acc": 0.6}]}
    with pytest.raises(TypeError, match=r"experiments.summarize\(ledger, metric\).*'bottleneck'"):
        viz.plot_seeds(ledger)
    with pytest.raises(TypeError, match="non-empty mapping"):
        viz.plot_seeds({})
    with pytest.raises(TypeError, match=r"rows\['naive'\] must be a summary row"):
        viz.plot_seeds({"naive": [0.6, 0.7]})


def test_plot_seeds_by_scale_draws_one_panel_per_object_size():
    shift = {"small": -0.3, "medium": -0.1, "large": 0.0}
    by_scale = {
        size: {
            label: {**row, "values": [v + d for v in row["values"]], "mean": row["mean"] + d}
            for label, row in ROWS.items()
        }
        for size, d in shift.items()
    }
    fig = render(viz.plot_seeds_by_scale(by_scale, ["naive", "reduced"], title="per size"))
    assert fig.get_suptitle() == "per size"
    assert [ax.get_title() for ax in fig.axes] == [f"{size} objects" for size in shift]
    assert [ax.get_ylabel() for ax in fig.axes] == ["test accuracy", "", ""]
    for ax, (size, d) in zip(fig.axes, shift.items(), strict=True):
        want = [[v + d for v in ROWS[label]["values"]] for label in ("naive", "reduced")]
        assert dots(ax) == [pytest.approx(w) for w in want], size
        assert ax.get_ylim() == (0, 1)  # one 0-100% axis for all panels
    with pytest.raises(TypeError, match=r"rows_by_scale\['small'\]"):
        viz.plot_seeds_by_scale({"small": {}})
