"""The lesson 09 checks (top-k error, ten crops) pass right answers and answer each typical
mistake with its own hint."""

import re
import secrets

import pytest
import torch

from inception_lab import checks, metrics
from inception_lab.checks import LibraryShortcut, lesson09
from inception_lab.checks.lesson09 import _tied_batch, _top_k_batch, _top_k_reference
from inception_lab.metrics import accuracy as _accuracy_bound_early


# --------------------------------------------------------------------------- exercise 1
def by_comparison(logits, labels, k):
    true = logits.gather(1, labels[:, None])
    return ((logits > true).sum(dim=1) >= k).float().mean().item()


def with_topk(logits, labels, k):
    hits = (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return 1 - hits.float().mean()


def test_top_k_error_correct_answer_passes(capsys):
    checks.top_k_error(by_comparison)
    assert "Correct" in capsys.readouterr().out


def test_reference_by_hand():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([2, 1, 0])
    # ranks of the true class: 1 (second), 1 (tied second: 0.05 = 0.05), 2 (third)
    assert _top_k_reference(logits, labels, 1) == 1.0
    assert _top_k_reference(logits, labels, 2) == pytest.approx(1 / 3)
    assert _top_k_reference(logits, labels, 3) == 0.0


def test_tied_batch_is_as_documented():
    logits, labels = _tied_batch()
    assert [_top_k_reference(logits, labels, k) for k in (1, 2, 3)] == [0.5, 0.25, 0.0]


def test_batches_separate_the_mistakes():
    # every k of the check gives a different error, none of them 0 or 1
    logits, labels = _top_k_batch(60, 12, seed=2)
    errors = [_top_k_reference(logits, labels, k) for k in range(1, 8)]
    assert len(set(errors)) == len(errors) and 0 < min(errors) and max(errors) < 1


def _rank(logits, labels):
    return (logits > logits.gather(1, labels[:, None])).sum(dim=1)


WRONG_TOP_K = {
    "argmax only": (
        lambda lo, la, k: (lo.argmax(1) != la).float().mean(),
        "not only the argmax",
    ),
    "accuracy": (lambda lo, la, k: 1 - by_comparison(lo, la, k), "you returned the accuracy"),
    "percent": (lambda lo, la, k: 100 * by_comparison(lo, la, k), "not a percentage"),
    "accuracy in percent": (
        lambda lo, la, k: 100 * (1 - by_comparison(lo, la, k)),
        "accuracy in percent",
    ),
    "count": (lambda lo, la, k: (_rank(lo, la) >= k).sum().item(), "not a count"),
    "k - 1": (lambda lo, la, k: (_rank(lo, la) >= k - 1).float().mean(), f"top {0}"),
    "k + 1": (lambda lo, la, k: (_rank(lo, la) >= k + 1).float().mean(), "you used the top 6"),
    "true class counts itself": (
        lambda lo, la, k: ((lo >= lo.gather(1, la[:, None])).sum(1) >= k).float().mean(),
        "does the true class beat itself",
    ),
    "first image only": (lambda lo, la, k: by_comparison(lo[:1], la[:1], k), "whole batch"),
    "per image": (lambda lo, la, k: (_rank(lo, la) >= k).float(), "ONE number"),
    "ties against": (lambda lo, la, k: _ties_against(lo, la, k), "TIES"),
}


def _ties_against(logits, labels, k):
    """Counts every class that ties with the true class as beating it."""
    true = logits.gather(1, labels[:, None])
    beaten_by = (logits >= true).sum(dim=1) - 1
    return (beaten_by >= k).float().mean()


@pytest.mark.parametrize("name", list(WRONG_TOP_K))
def test_top_k_error_wrong_answers_get_their_hint(name):
    func, hint = WRONG_TOP_K[name]
    if name == "k - 1":
        hint = "you used the top"
    with pytest.raises(AssertionError, match=re.escape(hint)) as info:
        checks.top_k_error(func)
    assert str(info.value).startswith("Not yet. Hint:")


def test_top_k_error_k_minus_one_names_the_count():
    with pytest.raises(AssertionError, match=r"you used the top 4 classes for k = 5"):
        checks.top_k_error(lambda lo, la, k: (_rank(lo, la) >= k - 1).float().mean())


def test_top_k_error_topk_without_ties_reaches_the_tie_case():
    # torch.topk breaks ties arbitrarily: right on the random batches, but the tie case decides
    try:
        checks.top_k_error(with_topk)
    except AssertionError as err:
        assert "TIES" in str(err)


def test_top_k_error_errors_and_stubs():
    def crashes(logits, labels, k):
        return logits[labels]  # wrong indexing: a shape error on the (N, C) logits

    def stub(logits, labels, k):
        raise NotImplementedError("Exercise 1: write it")

    with pytest.raises(AssertionError, match=r"Not yet. Hint:") as info:
        checks.top_k_error(lambda lo, la, k: 1 / 0)
    assert "strictly larger" in str(info.value)
    assert "gather" not in str(info.value)  # the way to go, not the call that does it
    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.top_k_error(stub)
    with pytest.raises(AssertionError, match=r"ONE number|Not yet"):
        checks.top_k_error(crashes)


def test_top_k_error_reference_is_not_a_public_name():
    """Shortcut (issue 24): `top_k_error = checks.lesson09.reference_top_k_error`, the solution
    importable from the package: gone, and no public name of the module is a function other than
    the two checks (the private reference itself raises when used: see the audit below)."""
    assert not hasattr(lesson09, "reference_top_k_error")
    public = {
        name
        for name, value in vars(lesson09).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", "") == lesson09.__name__
    }
    assert public == {"top_k_error", "ten_crop"}
    assert "_top_k_reference" not in checks.__all__


def test_top_k_error_rejects_the_private_reference_too():
    # a learner who finds the private name still cannot change it: it is the check's own
    # computation, so replacing it is caught and restored
    def patches(logits, labels, k):
        lesson09._top_k_reference = lambda lo, la, kk: 0.0
        return 0.0

    original = lesson09._top_k_reference
    with pytest.raises(AssertionError, match=r"Not yet. Hint:"):
        checks.top_k_error(patches)
    assert lesson09._top_k_reference is original


@pytest.mark.parametrize(
    "shortcut",
    [
        lambda lo, la, k: 1 - metrics.accuracy(lo, la, k),
        lambda lo, la, k: 1 - _accuracy_bound_early(lo, la, k),
    ],
    ids=["1 - metrics.accuracy", "1 - metrics.accuracy bound before the check"],
)
def test_top_k_error_rejects_the_course_metrics(shortcut):
    with pytest.raises(AssertionError, match=r"^Not yet. Hint: .*top-k error yourself") as info:
        checks.top_k_error(shortcut)
    assert "accuracy" in str(info.value)
    assert metrics.accuracy(torch.eye(3), torch.arange(3), 1) == 1.0  # restored afterwards


def test_top_k_error_random_batch_catches_a_lookup_of_the_fixed_cases(monkeypatch):
    # answers right on the check's fixed batches (their shapes looked up), wrong on anything else
    fixed = {(60, 10), (60, 12), (7, 20), (1, 1000), (4, 6)}

    def lookup(logits, labels, k):
        return by_comparison(logits, labels, k) if tuple(logits.shape) in fixed else 0.5

    monkeypatch.setattr(secrets, "randbits", lambda bits: 3)  # a draw of neither shape nor 0.5
    with pytest.raises(AssertionError, match="on a random batch of"):
        checks.top_k_error(lookup)


def test_top_k_error_random_batch_has_ties_and_any_k(monkeypatch):
    # the random batch is drawn from unseen_seed(): fix it to see that a right answer passes
    # for many draws (ties, k = C included)
    for seed in range(20):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        lesson09._check_random_batch(by_comparison)


def test_top_k_error_leaves_the_notebook_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    checks.top_k_error(by_comparison)
    assert torch.equal(torch.rand(1), expected)


# --------------------------------------------------------------------------- exercise 2
def ten_crop(images, size):
    h, w = images.shape[-2:]
    top, left = round((h - size) / 2), round((w - size) / 2)
    crops = []
    for x in (images, images.flip(-1)):
        crops += [
            x[..., :size, :size],
            x[..., :size, w - size :],
            x[..., h - size :, :size],
            x[..., h - size :, w - size :],
            x[..., top : top + size, left : left + size],
        ]
    return torch.stack(crops)


def test_ten_crop_correct_answer_passes(capsys):
    checks.ten_crop(ten_crop)
    assert "Correct" in capsys.readouterr().out
    checks.ten_crop(lambda x, s: list(ten_crop(x, s))[::-1])  # a list, any order


def _corners_swapped(images, size):
    """Bottom-right corner taken with the height for both axes."""
    out = ten_crop(images, size)
    h = images.shape[-2]
    out[3] = images[..., h - size :, h - size : h]
    return out


def _only_centre(images, size):
    return ten_crop(images, size)[4:5].repeat(10, 1, 1, 1, 1)


def _centre_floor_wrong(images, size):
    out = ten_crop(images, size)
    out[4] = images[..., :size, :size].flip(-1)  # not the centre at all
    return out


def _vertical_flips(images, size):
    return torch.stack([*ten_crop(images, size)[:5], *ten_crop(images.flip(-2), size)[:5]])


def _no_flips(images, size):
    return torch.cat([ten_crop(images, size)[:5]] * 2)


WRONG_CROPS = {
    "corner with the height twice": (_corners_swapped, "four corner crops"),
    "only the centre": (_only_centre, "four corner crops"),
    "no centre": (_centre_floor_wrong, "the centre crop"),
    "vertical flips": (_vertical_flips, "LEFT-RIGHT"),
    "no flips": (_no_flips, "horizontally mirrored"),
    "five crops": (lambda x, s: ten_crop(x, s)[:5], "shape"),
    "one crop per image": (lambda x, s: ten_crop(x, s).transpose(0, 1), "shape"),
    "a list of 5": (lambda x, s: list(ten_crop(x, s)[:5]), "stacked"),
}


def _torchvision_ten_crop(images, size):
    import torchvision.transforms.v2.functional as TF

    return torch.stack(list(TF.ten_crop(images, [size, size])))


def _torchvision_v1_ten_crop(images, size):
    import torchvision.transforms.functional as TF

    return list(TF.ten_crop(images, [size, size]))


def _torchvision_transform(images, size):
    from torchvision import transforms

    return list(transforms.TenCrop(size)(images))


def _torchvision_five_crop(images, size):
    import torchvision.transforms.v2.functional as TF

    return [*TF.five_crop(images, [size, size]), *TF.five_crop(images.flip(-1), [size, size])]


def _torchvision_v2_transform(images, size):
    from torchvision.transforms import v2

    return list(v2.TenCrop(size)(images))


def _center_crop_and_corners(images, size):
    import torchvision.transforms.v2.functional as TF

    h, w = images.shape[-2:]
    crops = []
    for x in (images, images.flip(-1)):
        crops += [
            x[..., :size, :size],
            x[..., :size, w - size :],
            x[..., h - size :, :size],
            x[..., h - size :, w - size :],
            TF.center_crop(x, [size, size]),
        ]
    return torch.stack(crops)


@pytest.mark.parametrize(
    "shortcut",
    [
        _torchvision_ten_crop,
        _torchvision_v1_ten_crop,
        _torchvision_transform,
        _torchvision_v2_transform,
        _torchvision_five_crop,
        _center_crop_and_corners,
    ],
)
def test_ten_crop_rejects_torchvision_shortcuts(shortcut):
    with pytest.raises(AssertionError, match=r"^Not yet. Hint: the exercise is to cut the crops"):
        checks.ten_crop(shortcut)
    # restored afterwards: torchvision works again outside the check
    assert len(shortcut(torch.zeros(1, 1, 8, 8), 4)) == 10


@pytest.mark.parametrize("name", list(WRONG_CROPS))
def test_ten_crop_wrong_answers_get_their_hint(name):
    func, hint = WRONG_CROPS[name]
    with pytest.raises(AssertionError, match=re.escape(hint)):
        checks.ten_crop(func)


def test_ten_crop_stub_passes_through():
    def stub(images, size):
        raise NotImplementedError("Exercise 2: write it")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        checks.ten_crop(stub)


def test_ten_crop_random_size_catches_a_fixed_centre(monkeypatch):
    # right on the check's three fixed sizes (centre offsets typed in), wrong elsewhere
    offsets = {(8, 10, 4): (2, 3), (12, 12, 6): (3, 3), (9, 11, 5): (2, 3)}

    def typed_centre(images, size):
        h, w = images.shape[-2:]
        out = ten_crop(images, size)
        top, left = offsets.get((h, w, size), (0, 0))
        out[4] = images[..., top : top + size, left : left + size]
        out[9] = images.flip(-1)[..., top : top + size, left : left + size]
        return out

    monkeypatch.setattr(secrets, "randbits", lambda bits: 0)  # a size whose centre is not (0, 0)
    with pytest.raises(AssertionError, match="centre crop"):
        checks.ten_crop(typed_centre)


def test_ten_crop_random_sizes_pass_a_right_answer(monkeypatch):
    # seed 33 draws 23x8 images and size 1: the centre pixel of an odd height is also the
    # centre of the upside-down images, which once made the mirror hint refuse a right answer
    for seed in [*range(10), 33, 66, 125]:
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        checks.ten_crop(ten_crop)


def test_ten_crop_upside_down_mirror_is_refused_at_size_one(monkeypatch):
    def upside_down(images, size):
        return torch.cat([ten_crop(images, size)[:5], ten_crop(images.flip(-2), size)[:5]])

    monkeypatch.setattr(secrets, "randbits", lambda bits: 33)
    with pytest.raises(AssertionError, match="LEFT-RIGHT"):
        checks.ten_crop(upside_down)


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def test_shortcut_the_private_reference_passed_as_the_answer_is_refused():
    """Shortcut: `top_k_error = checks.lesson09._top_k_reference`, the private reference under
    the exercise's name (its signature is the exercise's)."""
    with pytest.raises(LibraryShortcut, match=r"checks' own functions.*lesson09._top_k_reference"):
        checks.top_k_error(_top_k_reference)
    with pytest.raises(LibraryShortcut, match=r"lesson09._reference_crops"):
        checks.ten_crop(lambda images, size: torch.stack(lesson09._reference_crops(images, size)))
    logits, labels = _tied_batch()
    assert _top_k_reference(logits, labels, 3) == 0.0  # usable again afterwards


def test_shortcut_timms_top_k_accuracy_is_refused_by_the_ties():
    """Shortcut: timm's `accuracy(output, target, topk=(k,))` (a library the course installs),
    as 1 - accuracy / 100; it ranks with topk, which breaks ties against the true class."""
    from timm.utils import accuracy

    def via_timm(logits, labels, k):
        return 1 - accuracy(logits, labels, topk=(k,))[0].item() / 100

    logits, labels, k = (*_top_k_batch(60, 12, seed=2), 5)
    assert abs(via_timm(logits, labels, k) - _top_k_reference(logits, labels, k)) < 1e-6
    with pytest.raises(AssertionError, match=r"Hint: on logits with TIES"):
        checks.top_k_error(via_timm)
