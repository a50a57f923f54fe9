"""The lesson 10 checks (capstone design, separable conv cost) pass right answers and give hints
for wrong ones."""

from types import SimpleNamespace

import pytest
from torch import nn

from inception_lab import blocks, checks, models
from inception_lab.checks import lesson10


# --------------------------------------------------------------------------- Exercise 2
def separable(in_ch, out_ch, k, size):
    weights = in_ch * k * k + in_ch * out_ch
    return weights, weights * size * size


def test_separable_cost_right_answer_passes(capsys):
    checks.separable_conv_cost(separable)
    out = capsys.readouterr().out
    assert out.startswith("Correct") and "50,880 weights and 39,889,920 MACs" in out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c, o, k, s: (c * o * k * k, c * o * k * k * s * s), "standard k x k conv"),
        (lambda c, o, k, s: (c * c * k * k + c * o, 0), "does not mix channels"),
        (lambda c, o, k, s: (c * k * k, c * k * k * s * s), "count both layers"),
        (lambda c, o, k, s: (c * o, c * o * s * s), "count both layers"),
        (lambda c, o, k, s: (c * k * k + c * o + o, 0), "weight count .* is off"),
        (lambda c, o, k, s: (c * k * k + c * o,) * 2, "per output pixel"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], 2 * separable(c, o, k, s)[1]), "FLOPs"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], c * o * k * k * s * s), "standard k x k"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], c * (k * k + o) * (s - 2) ** 2), "stride 1"),
        (lambda c, o, k, s: separable(c, o, k, s)[0], "pair of whole numbers"),
        (lambda c, o, k, s: (1.0 * c * (k * k + o), 1.0), "pair of whole numbers"),
        (lambda c, o, k, s: 1 / 0, "failed.*ZeroDivisionError"),
    ],
)
def test_separable_cost_wrong_answers_get_hints(wrong, hint):
    with pytest.raises(AssertionError, match=f"^Not yet. Hint: .*{hint}"):
        checks.separable_conv_cost(wrong)


def test_separable_cost_stub_raises_not_implemented():
    def stub(in_ch, out_ch, k, size):
        raise NotImplementedError("Exercise 2: count the weights")

    with pytest.raises(NotImplementedError):
        checks.separable_conv_cost(stub)


# --------------------------------------------------------------------------- Exercise 1
def good_stage(in_ch, grid):  # the notebook's solution
    widths = {
        16: (16, 16, 24, 8, 12, 8),
        8: (32, 32, 48, 12, 16, 16),
        4: (48, 48, 64, 16, 24, 24),
    }[grid]
    return blocks.InceptionA(in_ch, *widths, pool="max", bn=True)


def test_capstone_budget_right_answer_passes(capsys):
    checks.capstone_budget(good_stage)
    out = capsys.readouterr().out
    assert out.startswith("Correct: your network has") and "of the budget" in out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c, g: blocks.InceptionA(c, 64, 64, 96, 32, 48, 48), "MACs per image, .* over"),
        # cheap to run on 4x4 but far too many weights
        (
            lambda c, g: (
                blocks.InceptionA(c, 8, 8, 8, 8, 8, 8)
                if g != 4
                else blocks.InceptionA(c, 128, 64, 128, 32, 64, 48)
            ),
            "parameters, .* over",
        ),
        (lambda c, g: blocks.ConvBNAct(c, 32, 3), "no multi-branch block"),
        (
            lambda c, g: nn.Sequential(blocks.ConvBNAct(c, 32, 3), blocks.ConvBNAct(32, 32, 3)),
            "the 16x16 stage has no multi-branch",
        ),
        (lambda c, g: nn.MaxPool2d(2), "must keep the 16x16 grid"),
        (lambda c, g: blocks.Inception(c + 1, 8, 8, 8, 8, 8, 8), "could not be built"),
        (lambda c, g: None, "must return an nn.Module"),
        (good_stage(32, 16), "pass your function itself"),
    ],
)
def test_capstone_budget_wrong_designs_get_hints(wrong, hint):
    with pytest.raises(AssertionError, match=f"^Not yet. Hint: .*{hint}"):
        checks.capstone_budget(wrong)


def test_capstone_stub_raises_not_implemented():
    def stub(in_ch, grid):
        raise NotImplementedError("Exercise 1: return a module")

    with pytest.raises(NotImplementedError):
        checks.capstone_budget(stub)


def test_capstone_challenge_passes_a_good_design_and_fails_a_starved_one(monkeypatch, capsys):
    # Both train for real (a few seconds each), on seed 0 only to keep the test short: the
    # several-seed rule is tested below with fixed accuracies. The baseline is trained once.
    monkeypatch.setattr(lesson10, "CAPSTONE_SEEDS", (0,))
    checks.capstone_challenge(good_stage)
    out = capsys.readouterr().out
    assert out.startswith("Correct: challenge met: seed 0: ") and "beats the baseline's best" in out

    def starved(in_ch, grid):  # within budget, but squeezes everything through 4 channels
        return blocks.Inception(in_ch, 1, 1, 1, 1, 1, 1, bn=True)

    with pytest.raises(
        AssertionError,
        match="^Not yet. Hint: within the budget, but .* does not beat the baseline's best",
    ):
        checks.capstone_challenge(starved)


def test_capstone_rules_make_the_verdict_meaningful():
    # Several seeds and a margin well above the ~1.6-point standard error of one accuracy on
    # 1,000 validation images (binomial, p near 0.5). With 4 seeds per network, a design no
    # better than the baseline has all 4 of its results above all 4 of the baseline's with
    # probability 1 / C(8, 4) = 1/70.
    assert len(checks.CAPSTONE_SEEDS) >= 4
    assert checks.CAPSTONE_MARGIN >= 0.05
    assert checks.CAPSTONE_TRAINING["val_batches"] is None  # every validation image


def test_capstone_training_gives_both_networks_the_same_head_dropout(monkeypatch):
    # the bench's default head drops 20%, the baseline's 40%: the check trains both with one value
    seen = []

    def fake_fit(model, loaders, epochs, **kwargs):
        seen.append(model.dropout.p)

    monkeypatch.setattr(lesson10.train, "fit", fake_fit)
    monkeypatch.setattr(lesson10.train, "evaluate", lambda model, loader, **kw: {"acc": 0.5})
    monkeypatch.setattr(lesson10.data, "make_loaders", lambda *a, **kw: SimpleNamespace(
        train=None, val=None))  # fmt: skip
    lesson10._brief_accuracy(lambda: models.mini_custom(good_stage), 0)
    lesson10._brief_accuracy(lambda: models.mini_baseline(bn=True), 0)
    assert seen == [checks.CAPSTONE_TRAINING["head_dropout"]] * 2


def fake_training(monkeypatch, mine, base):
    """Replace the brief trainings by fixed accuracies per seed (the verdict's logic only)."""
    monkeypatch.setattr(lesson10, "_brief_accuracy", lambda build, seed: mine[seed])
    monkeypatch.setattr(lesson10, "_baseline_accuracy", lambda seed: base[seed])


@pytest.mark.parametrize(
    ("mine", "base", "hint"),
    [
        # ahead on every seed, but by 1 point: below the 5-point floor
        ([0.41] * 4, [0.40] * 4, "A mean lead of 1.0 points is too small"),
        # a large mean lead that comes from lucky seeds: seed 1 loses
        ([0.80, 0.39, 0.70, 0.75], [0.40] * 4, r"worst seed so far \(39.0%\) does not beat"),
        # within the noise: a win on every seed and a 5.8-point mean lead (the old rule passed
        # it), but the baseline alone moves by 21 points from seed to seed, as brief runs of it
        # do, and the two ranges overlap
        (
            [0.50, 0.30, 0.40, 0.38],
            [0.47, 0.26, 0.29, 0.33],
            r"worst seed so far \(30.0%\) does not beat the baseline's best \(47.0%\)",
        ),
        # the same, where the design's own seeds are the unsteady ones
        (
            [0.62, 0.45, 0.47, 0.60],
            [0.40, 0.46, 0.40, 0.40],
            r"\(45.0%\) does not beat .*\(46.0%\)",
        ),
    ],
)
def test_capstone_challenge_rejects_a_small_unsteady_or_within_noise_lead(
    monkeypatch, mine, base, hint
):
    fake_training(monkeypatch, mine, base)
    with pytest.raises(AssertionError, match="^Not yet. Hint: within the budget.*" + hint):
        checks.capstone_challenge(good_stage)


def test_capstone_challenge_stops_training_once_the_ranges_overlap(monkeypatch):
    trained = []

    def mine(build, seed):
        trained.append(seed)
        return [0.50, 0.30, 0.90, 0.90][seed]

    monkeypatch.setattr(lesson10, "_brief_accuracy", mine)
    monkeypatch.setattr(lesson10, "_baseline_accuracy", lambda seed: 0.40)
    with pytest.raises(AssertionError, match="the remaining seeds were not trained"):
        checks.capstone_challenge(good_stage)
    assert trained == [0, 1]


def test_capstone_challenge_accepts_a_clear_lead(monkeypatch, capsys):
    # steady runs: the 5-point floor decides
    fake_training(monkeypatch, [0.47, 0.46, 0.48, 0.49], [0.40, 0.41, 0.41, 0.40])
    checks.capstone_challenge(good_stage)
    assert "by 7.0 points (at least 5.0 points needed)" in capsys.readouterr().out
    # an unsteady baseline: the design's worst seed still beats its best
    fake_training(monkeypatch, [0.72, 0.76, 0.73, 0.70], [0.47, 0.26, 0.29, 0.33])
    checks.capstone_challenge(good_stage)
    out = capsys.readouterr().out
    assert "Your worst seed (70.0%) beats the baseline's best (47.0%)" in out
    assert "seed 1: 76.0% vs 26.0%" in out and "by 39.0 points" in out
