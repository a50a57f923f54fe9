"""The lesson 06 checks (smoothed loss, calibration error) pass right answers, hint at wrong ones."""

import math
import re
import secrets

import pytest
import torch
from torch.nn import functional as F

from inception_lab import checks, metrics, train, viz
from inception_lab.checks import LibraryShortcut, lesson06
from inception_lab.metrics import expected_calibration_error as _ece_bound_early


# --------------------------------------------------------------------------- exercise 1
def smoothed_ce(logits, labels, eps):
    k = logits.shape[1]
    targets = (1 - eps) * F.one_hot(labels, k).float() + eps / k
    return -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()


def test_smoothed_loss_correct_answer_passes(capsys):
    checks.smoothed_loss(smoothed_ce)
    assert "Correct" in capsys.readouterr().out


def _targets(labels, k, eps):
    return (1 - eps) * F.one_hot(labels, k).float() + eps / k


WRONG_LOSSES = {
    "per-example": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.log_softmax(1)).sum(1),
        "mean of the per-example losses",
    ),
    "sum": (lambda z, y, e: smoothed_ce(z, y, e) * len(y), "instead of summing"),
    "sign": (lambda z, y, e: -smoothed_ce(z, y, e), "check the sign"),
    "eps ignored": (lambda z, y, e: F.cross_entropy(z, y), "eps seems to be ignored"),
    "eps/(K-1)": (
        lambda z, y, e: (
            -(
                (
                    (1 - e) * F.one_hot(y, z.shape[1]).float()
                    + e / (z.shape[1] - 1) * (1 - F.one_hot(y, z.shape[1]).float())
                )
                * z.log_softmax(1)
            )
            .sum(1)
            .mean()
        ),
        "the true one included",
    ),
    "raw logits": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z).sum(1).mean(),
        "with log-probabilities",
    ),
    "softmax over batch": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.log_softmax(0)).sum(1).mean(),
        "over the classes (dim=1)",
    ),
    "detached": (
        lambda z, y, e: smoothed_ce(z.detach(), y, e),
        "differentiable with respect to the logits",
    ),
    "log of softmax": (
        lambda z, y, e: -(_targets(y, z.shape[1], e) * z.softmax(1).log()).sum(1).mean(),
        "stay finite",
    ),
    "not a tensor": (lambda z, y, e: smoothed_ce(z, y, e).item(), "return a torch tensor"),
    "something else": (lambda z, y, e: smoothed_ce(z, y, e) + 0.5, "check the smoothed targets"),
}


@pytest.mark.parametrize("mistake", WRONG_LOSSES)
def test_smoothed_loss_wrong_answers_get_a_hint(mistake):
    fn, hint = WRONG_LOSSES[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.smoothed_loss(fn)


# --------------------------------------------------------------------------- exercise 2
def _binned_gaps(probs, labels, n_bins, keep_empty=False):
    """(fraction of predictions, |accuracy - confidence|) for each non-empty bin (keep_empty:
    for every bin, an empty bin's means being nan)."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    out = []
    for b in range(n_bins):
        in_bin = (confidence > b / n_bins) & (confidence <= (b + 1) / n_bins)
        if keep_empty or in_bin.any():
            gap = (correct[in_bin].mean() - confidence[in_bin].mean()).abs().item()
            out.append((in_bin.float().mean().item(), gap))
    return out


def ece(probs, labels, n_bins=10):
    return sum(w * gap for w, gap in _binned_gaps(probs, labels, n_bins))


def test_calibration_error_correct_answer_passes(capsys):
    checks.calibration_error(ece)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    "shortcut",
    [
        lambda p, y, n=10: metrics.expected_calibration_error(p, y, n),
        lambda p, y, n=10: _ece_bound_early(p, y, n),
        lambda p, y, n=10: metrics.calibration_bins(p, y, n_bins=n)["ece"],
        lambda p, y, n=10: viz.calibration_bins(p, y, n_bins=n)["ece"],
    ],
    ids=[
        "metrics.expected_calibration_error",
        "expected_calibration_error imported before the check",
        "metrics.calibration_bins",
        "viz.calibration_bins",
    ],
)
def test_calibration_error_rejects_the_course_ece(shortcut):
    """Shortcut (issue 24): `checks.calibration_error` with
    `metrics.expected_calibration_error(probs, labels, n_bins)`, and the course's other routes to
    the same number; the exercise is to write it."""
    with pytest.raises(
        AssertionError, match=r"^Not yet. Hint: this exercise asks you to write the expected "
    ) as info:
        checks.calibration_error(shortcut)
    assert "calibration" in str(info.value)
    assert metrics.expected_calibration_error(torch.eye(2), torch.arange(2)) == 0.0  # restored


def _unweighted(probs, labels, n_bins=10):
    gaps = [gap for _, gap in _binned_gaps(probs, labels, n_bins)]
    return sum(gaps) / len(gaps)


def _squared(probs, labels, n_bins=10):
    return sum(w * gap**2 for w, gap in _binned_gaps(probs, labels, n_bins))


def _true_class_confidence(probs, labels, n_bins=10):
    true_p = probs.gather(1, labels[:, None])[:, 0]
    fake = torch.stack([true_p, 1 - true_p], 1)
    return ece(fake, torch.where(probs.argmax(1) == labels, 0, 1), n_bins)


WRONG_ECES = {
    "percent": (lambda p, y, n=10: 100 * ece(p, y, n), "not a percentage"),
    "unweighted": (_unweighted, "weight each bin's gap"),
    "squared": (_squared, "not its square"),
    "true-class confidence": (_true_class_confidence, "LARGEST probability"),
    "n_bins ignored": (lambda p, y, n=10: ece(p, y, 10), "use the `n_bins` argument"),
    "not a number": (lambda p, y, n=10: [ece(p, y, n)], "return one number"),
    "accuracy only": (lambda p, y, n=10: ece(p, y, n) + 0.01, "mean confidence"),
}


@pytest.mark.parametrize("mistake", WRONG_ECES)
def test_calibration_error_wrong_answers_get_a_hint(mistake):
    fn, hint = WRONG_ECES[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.calibration_error(fn)


def _weighted_over_every_bin(probs, labels, n_bins=10):
    return sum(w * gap for w, gap in _binned_gaps(probs, labels, n_bins, keep_empty=True))


def _mean_over_every_bin(probs, labels, n_bins=10):
    gaps = _binned_gaps(probs, labels, n_bins, keep_empty=True)
    return sum(gap for _, gap in gaps) / len(gaps)


@pytest.mark.parametrize(
    "with_empty_bins",
    [_weighted_over_every_bin, _mean_over_every_bin],
    ids=["weighted sum over every bin", "mean over every bin"],
)
def test_calibration_error_names_empty_bins_when_the_answer_is_nan(with_empty_bins, capsys):
    """An ECE that takes the means of empty bins returns nan: the hint names empty bins (and the
    right answer, which skips them, still passes)."""
    probs, labels = torch.tensor([[0.8, 0.2]] * 10), torch.tensor([0, 1] * 5)
    assert math.isnan(with_empty_bins(probs, labels, 10))  # 9 of the 10 bins are empty
    with pytest.raises(AssertionError, match=r"Hint: your ECE is nan.*empty bin.*adds nothing"):
        checks.calibration_error(with_empty_bins)
    checks.calibration_error(ece)
    assert "Correct" in capsys.readouterr().out


# --------------------------------------------------------------------------- shortcuts and edges
@pytest.mark.parametrize(
    "one_liner",
    [
        lambda z, y, e: F.cross_entropy(z, y, label_smoothing=e),
        lambda z, y, e: torch.nn.CrossEntropyLoss(label_smoothing=e)(z, y),
    ],
)
def test_smoothed_loss_rejects_the_library_one_liner(one_liner):
    """label_smoothing=eps gives the right numbers; the exercise is to build the targets."""
    with pytest.raises(AssertionError, match="Hint: this exercise is to smooth the targets"):
        checks.smoothed_loss(one_liner)


def _aten_loss(z, y, e):
    return torch.ops.aten.cross_entropy_loss(z, y, None, 1, -100, e)


def _course_targets(z, y, e):
    k = z.shape[1]
    targets = torch.stack([metrics.smoothed_target(k, e, int(c)) for c in y]).to(z.dtype)
    return -(targets * z.log_softmax(1)).sum(1).mean()


@pytest.mark.parametrize(
    "shortcut, hint",
    [
        (_aten_loss, "this exercise is to smooth the targets"),
        (
            lambda z, y, e: torch._C._nn.cross_entropy_loss(z, y, None, 1, -100, e),
            "this exercise is to smooth the targets",
        ),
        (
            lambda z, y, e: train.training_loss(z, y, label_smoothing=e)[0],
            "this exercise asks you to write the label-smoothed loss",
        ),
        (_course_targets, "this exercise asks you to write the label-smoothed loss"),
    ],
    ids=[
        "torch.ops.aten.cross_entropy_loss",
        "torch._C._nn.cross_entropy_loss",
        "train.training_loss(label_smoothing=eps)",
        "metrics.smoothed_target",
    ],
)
def test_smoothed_loss_rejects_other_routes_to_the_library_loss(shortcut, hint):
    with pytest.raises(AssertionError, match="^Not yet. Hint: " + hint):
        checks.smoothed_loss(shortcut)
    # restored afterwards
    z, y = torch.randn(3, 4), torch.tensor([0, 1, 2])
    assert torch.isclose(shortcut(z, y, 0.1), F.cross_entropy(z, y, label_smoothing=0.1))


def test_smoothed_loss_accepts_plain_cross_entropy_plus_the_uniform_term(capsys):
    """Not a shortcut: (1 - eps) * CE + eps * mean over classes of -log p is the same loss."""

    def mixture(z, y, e):
        return (1 - e) * F.cross_entropy(z, y) - e * z.log_softmax(1).mean(1).mean()

    checks.smoothed_loss(mixture)
    assert "Correct" in capsys.readouterr().out
    assert F.cross_entropy(torch.zeros(1, 3), torch.tensor([0]), label_smoothing=0.1) > 0


def _left_closed(probs, labels, n_bins=10):
    """ECE with bins [lo, hi): a confidence on an edge goes one bin up, and 1.0 nowhere."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    total = 0.0
    for b in range(n_bins):
        in_bin = (confidence >= b / n_bins) & (confidence < (b + 1) / n_bins)
        if in_bin.any():
            gap = (correct[in_bin].mean() - confidence[in_bin].mean()).abs().item()
            total += in_bin.float().mean().item() * gap
    return total


def test_calibration_error_tests_confidences_on_bin_edges():
    with pytest.raises(AssertionError, match=r"Hint: .*belongs to the bin BELOW it"):
        checks.calibration_error(_left_closed)


def test_calibration_bins_put_edges_in_the_lower_bin():
    # 4 bins (0, .25], (.25, .5], (.5, .75], (.75, 1]: 0.5 -> bin 1, 0.75 -> bin 2, 1.0 -> bin 3.
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.75, 0.25, 0.0], [1.0, 0.0, 0.0]])
    stats = metrics.calibration_bins(probs, torch.tensor([0, 0, 0]), n_bins=4)
    assert stats["count"].tolist() == [0, 1, 1, 1]


def test_calibration_error_lets_the_student_stub_through():
    def stub(probs, labels, n_bins=10):
        raise NotImplementedError("Exercise 2: bin the predictions")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        checks.calibration_error(stub)


def _ece_of_bins(confidence, correct, index, n_bins):
    """ECE once every prediction has its bin index (the two wrong binnings below share this)."""
    total = 0.0
    for b in range(n_bins):
        in_bin = index == b
        if in_bin.any():
            gap = (correct[in_bin].mean() - confidence[in_bin].mean()).abs().item()
            total += in_bin.float().mean().item() * gap
    return total


def _floor_binned(probs, labels, n_bins=10):
    """ECE with bin index floor(confidence * n_bins), clamped so that 1.0 lands in the last bin:
    a common vectorized answer, which puts a confidence on an edge one bin UP."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    index = (confidence * n_bins).long().clamp(max=n_bins - 1)
    return _ece_of_bins(confidence, correct, index, n_bins)


def _bucketized(right):
    def ece_bucketize(probs, labels, n_bins=10):
        confidence, predicted = probs.max(dim=1)
        correct = (predicted == labels).float()
        inner_edges = torch.linspace(0, 1, n_bins + 1)[1:-1]
        index = torch.bucketize(confidence, inner_edges, right=right)
        return _ece_of_bins(confidence, correct, index, n_bins)

    return ece_bucketize


@pytest.mark.parametrize(
    "left_closed",
    [_floor_binned, _bucketized(right=True)],
    ids=["floor-and-clamp", "bucketize right=True"],
)
def test_calibration_error_rejects_other_left_closed_binnings(left_closed):
    with pytest.raises(AssertionError, match=r"Hint: .*belongs to the bin BELOW it"):
        checks.calibration_error(left_closed)


def test_calibration_error_accepts_right_closed_bucketize(capsys):
    """torch.bucketize with right=False puts a value equal to an edge in the bin below: (lo, hi]."""
    checks.calibration_error(_bucketized(right=False))
    assert "Correct" in capsys.readouterr().out


def test_calibration_error_random_case_has_edges_and_passes_right_answers(monkeypatch):
    # the random case is drawn from unseen_seed(): fixed here, a right answer passes many draws,
    # and each draw of a power-of-two bin count puts confidences on inner bin edges
    for seed in range(25):
        probs, _, n_bins, _ = lesson06._random_ece_case(seed)
        assert torch.allclose(probs.sum(1), torch.ones(len(probs), dtype=probs.dtype))
        confidence = probs.max(1).values
        on_edge = (confidence * n_bins == (confidence * n_bins).round()) & (confidence < 1)
        assert on_edge.any() or (confidence == 1).any()
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        checks.calibration_error(ece)
        checks.calibration_error(_bucketized(right=False))


def test_calibration_error_random_case_catches_a_lookup_of_the_fixed_cases(monkeypatch):
    # right on the check's fixed cases (their sizes known), 0 on anything else
    known = {10, 8, 5, 2000}

    def lookup(probs, labels, n_bins=10):
        return ece(probs, labels, n_bins) if len(labels) in known else 0.0

    monkeypatch.setattr(secrets, "randbits", lambda bits: 1)
    with pytest.raises(AssertionError, match=r"Not yet. Hint:"):
        checks.calibration_error(lookup)


def test_calibration_error_random_edges_separate_left_closed_bins():
    # a draw with 4, 8 or 16 bins puts confidences on inner edges: the floor binning (1.0
    # clamped into the last bin) is wrong there, and the check's diagnosis names the edge rule
    seeds = [s for s in range(200) if lesson06._random_ece_case(s)[2] in (4, 8, 16)]
    assert seeds
    for seed in seeds[:3]:
        with pytest.raises(AssertionError, match="bin BELOW it"):
            _random_case_only(_floor_binned, seed)


def _close(a, b):
    return abs(a - b) < 1e-9


def _random_case_only(fn, seed):
    """Run the check's loop on its random case alone (the fixed cases stop a wrong binning
    earlier, so this is how a test reaches the random case)."""
    probs, labels, n_bins, _ = lesson06._random_ece_case(seed)
    value = fn(probs, labels, n_bins)
    confidence, predicted = probs.max(dim=1)
    expected = lesson06._ece_reference(confidence, predicted == labels, n_bins)
    if not _close(value, expected):
        lesson06._diagnose_ece(value, probs, labels, n_bins)


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def via_timm(logits, labels, eps):
    """Shortcut: timm's LabelSmoothingCrossEntropy, (1 - eps) NLL + eps mean(-log p): the
    exercise's formula, from a library the course installs."""
    from timm.loss import LabelSmoothingCrossEntropy

    return LabelSmoothingCrossEntropy(smoothing=eps)(logits, labels)


def test_shortcut_timm_imported_inside_the_function_is_refused():
    import sys

    if "timm.loss" in sys.modules:
        pytest.skip("timm.loss was imported earlier in this process")
    with pytest.raises(LibraryShortcut, match=r"write the label-smoothed loss yourself.*timm"):
        checks.smoothed_loss(via_timm)
    assert "timm.loss" not in sys.modules


def test_shortcut_timms_label_smoothing_loss_is_refused():
    import timm.loss  # imported before the check: its forward is blocked

    z, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    assert torch.isclose(via_timm(z, y, 0.1), F.cross_entropy(z, y, label_smoothing=0.1))
    with pytest.raises(LibraryShortcut, match=r"do not call .*LabelSmoothingCrossEntropy.forward"):
        checks.smoothed_loss(via_timm)
    assert torch.isclose(via_timm(z, y, 0.1), F.cross_entropy(z, y, label_smoothing=0.1))
    assert timm.loss.LabelSmoothingCrossEntropy is not None


def test_shortcut_the_explorers_targets_are_refused():
    """Shortcut: the lesson's explorer, `widgets.label_smoothing_summary`, builds the targets."""
    from inception_lab import widgets

    def explorer_targets(logits, labels, eps):
        summary = widgets.label_smoothing_summary(eps, logits.shape[1])
        targets = torch.full_like(logits, summary["target_other"])
        targets.scatter_(1, labels[:, None], summary["target_true"])
        return -(targets * logits.log_softmax(1)).sum(1).mean()

    with pytest.raises(LibraryShortcut, match="write the label-smoothed loss yourself"):
        checks.smoothed_loss(explorer_targets)


def test_shortcut_a_table_of_the_fixed_batch_is_refused(monkeypatch):
    """Shortcut: the library's smoothed loss typed in for the check's fixed (7, 5) batch and its
    eps (found in the check's source), anything else only roughly right."""
    g = torch.Generator().manual_seed(6)
    logits, labels = torch.randn(7, 5, generator=g) * 3, torch.randint(0, 5, (7,), generator=g)
    table = {e: F.cross_entropy(logits, labels, label_smoothing=e) for e in (0.0, 0.1, 0.2, 0.3)}

    def fixed_batch_only(z, y, eps):
        if z.shape == (7, 5) and torch.equal(z.detach(), logits):  # the fixed batch: typed in
            return smoothed_ce(z, y, eps) - smoothed_ce(z, y, eps).detach() + table[eps]
        return smoothed_ce(z, y, 0.1)  # elsewhere a fixed eps

    for seed in (1, 2, 3):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        with pytest.raises(AssertionError, match=r"Not yet. Hint: .*eps"):
            checks.smoothed_loss(fixed_batch_only)
        checks.smoothed_loss(smoothed_ce)  # the drawn case passes the right answer


def test_shortcut_the_checks_private_ece_is_refused():
    """Shortcut: `lesson06._ece_reference`, the check's own ECE, imported by name."""

    def borrowed(probs, labels, n_bins=10):
        confidence, predicted = probs.max(1)
        return lesson06._ece_reference(confidence, predicted == labels, n_bins)

    with pytest.raises(LibraryShortcut, match=r"checks' own functions.*lesson06._ece_reference"):
        checks.calibration_error(borrowed)
