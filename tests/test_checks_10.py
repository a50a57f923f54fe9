"""The lesson 10 checks (capstone design, separable conv cost) pass right answers and give hints
for wrong ones."""

import pytest
from torch import nn

from inception_lab import blocks, checks
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
    assert out.startswith("Correct: challenge met on all 1 seeds") and "the baseline's" in out

    def starved(in_ch, grid):  # within budget, but squeezes everything through 4 channels
        return blocks.Inception(in_ch, 1, 1, 1, 1, 1, 1, bn=True)

    with pytest.raises(AssertionError, match="^Not yet. Hint: within the budget, but .* reaches"):
        checks.capstone_challenge(starved)


def test_capstone_rules_make_the_verdict_meaningful():
    # Several seeds and a margin well above the ~1.6-point standard error of one accuracy on
    # 1,000 validation images (binomial, p near 0.5).
    assert len(checks.CAPSTONE_SEEDS) >= 3
    assert checks.CAPSTONE_MARGIN >= 0.05
    assert checks.CAPSTONE_TRAINING["val_batches"] is None  # every validation image


def fake_training(monkeypatch, mine, base):
    """Replace the brief trainings by fixed accuracies per seed (the verdict's logic only)."""
    monkeypatch.setattr(lesson10, "_brief_accuracy", lambda build, seed: mine[seed])
    monkeypatch.setattr(lesson10, "_baseline_accuracy", lambda seed: base[seed])


@pytest.mark.parametrize(
    ("mine", "hint"),
    [
        # one seed and any margin used to pass: a 1-point lead on every seed is within noise
        ([0.41, 0.41, 0.41], "a lead of at least 5.0 points on average"),
        # a large average lead that comes from one lucky seed
        ([0.80, 0.39, 0.70], "a win on each of 3 seeds"),
    ],
)
def test_capstone_challenge_rejects_a_small_or_unsteady_lead(monkeypatch, mine, hint):
    fake_training(monkeypatch, mine, [0.40, 0.40, 0.40])
    with pytest.raises(AssertionError, match="^Not yet. Hint: within the budget.*" + hint):
        checks.capstone_challenge(good_stage)


def test_capstone_challenge_accepts_a_clear_lead(monkeypatch, capsys):
    fake_training(monkeypatch, [0.47, 0.46, 0.48], [0.40, 0.40, 0.41])
    checks.capstone_challenge(good_stage)
    assert "a lead of 6.7 points" in capsys.readouterr().out
