"""Lesson 09 checks: reading the result tables of the Inception papers.

Exercise 1 computes top-k error from logits, the number every ILSVRC table reports. The check
runs the learner's `top_k_error(logits, labels, k)` on batches built so that each common mistake
gives a different number (top-1 for top-5, accuracy for error, percent for fraction, k off by
one, one row for the batch, ties counted against the true class), and names the mistake; then on
a batch of a shape, k and tied logits drawn afresh on every run. The course's `metrics`
(`metrics.accuracy` is top-k accuracy), `train` and `viz` functions raise while it runs.
Exercise 2 writes the ten crops of multi-crop evaluation; the reference is torchvision's
`ten_crop`, compared as a set of crops, so any order passes, and torchvision's crop functions
raise while the learner's function runs (the exercise is to cut the crops). One image size is
drawn afresh on every run. The references are private (`_top_k_reference`, `_reference_crops`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .. import metrics, train, viz
from .._validate import is_number
from ._common import Forbidden, call_learner, forbid, passed, private_rng, require, unseen_seed

# While the learner's top_k_error runs, the course's own helpers that compute it raise: the
# exercise is to compare each row's logits with its true class's.
_NO_COURSE_TOP_K = Forbidden(
    "the top-k error",
    targets=(metrics, train, viz),
    advice="compare each row's logits with the logit of its true class, and count the classes "
    "whose logit is strictly larger",
)


# --------------------------------------------------------------------------- exercise 1
def _top_k_reference(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """The fraction of rows whose true class is NOT among the k largest logits.

    A row is correct when fewer than k classes have a strictly larger logit than its true class:
    a class that ties with the true class does not push it out of the top k.
    """
    true = logits.gather(1, labels.view(-1, 1))
    beaten_by = (logits > true).sum(dim=1)
    return (beaten_by >= k).double().mean().item()


def _as_number(result: Any) -> float | None:
    """The learner's result as a float, or None if it is not one number."""
    if isinstance(result, torch.Tensor):
        return float(result.detach().double().item()) if result.numel() == 1 else None
    if is_number(result):
        return float(result)
    return None


def _top_k_batch(n: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits without ties, and labels spread over the ranks 0 .. classes - 1.

    The label of row i is the class at rank (i mod classes) of that row's logits, so that the
    top-1, top-3, top-5 ... errors are all different numbers (and none is 0 or 1).
    """
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=gen, dtype=torch.float64)
    order = logits.argsort(dim=1, descending=True)
    ranks = torch.arange(n) % classes
    labels = order[torch.arange(n), ranks[torch.randperm(n, generator=gen)]]
    return logits.float(), labels


def _tied_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Rows whose true class ties with other classes at the k-th place (k = 2 or 3).

    Row 0: the true class 2 ties with class 1 for the largest logit: correct for every k.
    Row 1: class 0 is larger, the true class 3 ties with class 4 for second place: correct for
    k >= 2. Row 2: three classes tie for first place with the true class 5: correct for every k.
    Row 3: two classes beat the true class 1, which ties with two more: correct for k >= 3.
    """
    logits = torch.tensor(
        [
            [0.0, 3.0, 3.0, 1.0, -1.0, 0.5],
            [4.0, 0.0, 1.0, 2.0, 2.0, -2.0],
            [2.0, 2.0, 0.0, 1.0, 2.0, 2.0],
            [5.0, 1.0, 4.0, 1.0, 1.0, 0.0],
        ]
    )
    labels = torch.tensor([2, 3, 5, 1])
    return logits, labels


def _diagnose_top_k(got: float, logits: torch.Tensor, labels: torch.Tensor, k: int) -> None:
    """Raise with the hint of the first typical mistake that explains `got` (if any)."""
    right = _top_k_reference(logits, labels, k)
    n = len(labels)
    slice_hint = "check how many classes your comparison or your slice keeps"
    accuracy_hint = (
        "you returned the accuracy: the error is the fraction of images the model gets WRONG, "
        "1 - accuracy."
    )
    percent_accuracy_hint = (
        "return the error as a fraction between 0 and 1 (you returned the accuracy in percent)."
    )
    count_hint = (
        "divide by the number of images in the batch: the error is a fraction, not a count."
    )
    mistakes = [
        (1 - right, accuracy_hint),
        (100 * right, "return a fraction between 0 and 1, not a percentage."),
        (100 * (1 - right), percent_accuracy_hint),
        (right * n, count_hint),
    ]
    if k > 1:
        argmax_hint = (
            f"for k = {k} a prediction is correct when the true class is ANY of the {k} classes "
            "with the largest logits, not only the argmax."
        )
        below_hint = (
            f"you used the top {k - 1} classes for k = {k}: {slice_hint} (does the true class "
            "beat itself?)."
        )
        mistakes.append((_top_k_reference(logits, labels, 1), argmax_hint))
        mistakes.append((_top_k_reference(logits, labels, k - 1), below_hint))
    above_hint = f"you used the top {k + 1} classes for k = {k}: {slice_hint}."
    mistakes.append((_top_k_reference(logits, labels, k + 1), above_hint))
    for value, hint in mistakes:
        require(not math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-6), hint)
    first_row = _top_k_reference(logits[:1], labels[:1], k)
    require(
        not (n > 1 and math.isclose(got, first_row) and not math.isclose(right, first_row)),
        "compute the error over the whole batch (every row of `logits`), not one image.",
    )
    require(
        False,
        f"for k = {k} on a batch of {n} images your function returned {got!r}; count the "
        "images whose true class is not among the k largest logits, and divide by the batch "
        "size.",
    )


def _check_random_batch(top_k_error: Callable) -> None:
    """One batch of a shape, k and integer logits (many ties) that nobody knows in advance."""
    gen = torch.Generator().manual_seed(unseen_seed())
    n, c = (
        int(torch.randint(2, 80, (1,), generator=gen)),
        int(torch.randint(2, 40, (1,), generator=gen)),
    )
    k = int(torch.randint(1, c + 1, (1,), generator=gen))
    logits = torch.randint(-3, 4, (n, c), generator=gen).float()
    labels = torch.randint(0, c, (n,), generator=gen)
    got = _as_number(
        call_learner(
            top_k_error,
            logits.clone(),
            labels.clone(),
            k,
            hint=f"your function failed on a batch of {n} images with {c} classes and k = {k}",
            forbidden=_NO_COURSE_TOP_K,
        )
    )
    require(
        got is not None and math.isclose(got, _top_k_reference(logits, labels, k), abs_tol=1e-6),
        f"on a random batch of {n} images with {c} classes, k = {k} and whole-number logits "
        f"(so many ties) your function returned {got!r}, which is not its top-k error: the "
        "answer must hold for any N, C and k from 1 to C, and ties must not push the true class "
        "out of the top k.",
    )


@private_rng(seed=9)
def top_k_error(top_k_error: Callable) -> None:
    """Check `top_k_error(logits, labels, k)`: logits (N, C), labels (N,) -> a fraction in [0, 1].

    Returns nothing and prints a pass message, or raises an AssertionError with a hint.
    """
    cases = [
        (*_top_k_batch(60, 12, seed=2), 5),  # k = 5 first: its neighbours k - 1, k + 1 exist
        (*_top_k_batch(60, 10, seed=1), 1),
        (*_top_k_batch(60, 10, seed=3), 3),
        (*_top_k_batch(7, 20, seed=4), 5),
        (*_top_k_batch(1, 1000, seed=5), 5),
    ]
    for logits, labels, k in cases:
        result = call_learner(
            top_k_error,
            logits.clone(),
            labels.clone(),
            k,
            hint="top_k_error(logits, labels, k) receives logits of shape (N, C), labels of "
            "shape (N,) and an int k; compare each row's logits with the logit of its true "
            "class and count the classes whose logit is strictly larger",
            forbidden=_NO_COURSE_TOP_K,
        )
        got = _as_number(result)
        require(
            got is not None,
            "return ONE number for the whole batch (a float, or a tensor with one element), "
            f"not {type(result).__name__}"
            + (f" of shape {tuple(result.shape)}" if isinstance(result, torch.Tensor) else "")
            + ": average over the images.",
        )
        if not math.isclose(got, _top_k_reference(logits, labels, k), abs_tol=1e-6):
            _diagnose_top_k(got, logits, labels, k)
    logits, labels = _tied_batch()
    for k in (1, 2, 3):
        got = _as_number(
            call_learner(
                top_k_error,
                logits.clone(),
                labels.clone(),
                k,
                hint="your function failed on a batch with tied logits",
                forbidden=_NO_COURSE_TOP_K,
            )
        )
        right = _top_k_reference(logits, labels, k)
        require(
            got is not None and math.isclose(got, right, abs_tol=1e-6),
            f"on logits with TIES (k = {k}) your function returned {got!r}: a class that ties "
            "with the true class must not push it out of the top k. `topk` breaks ties in an "
            "arbitrary order; count instead how many classes have a STRICTLY larger logit "
            "than the true class.",
        )
    _check_random_batch(top_k_error)
    passed(
        "top-1, top-3 and top-5 error on batches of 1, 7 and 60 images match, ties included: "
        "the error is the fraction of images whose true class is not among the k largest logits."
    )


# --------------------------------------------------------------------------- exercise 2
def _reference_crops(images: torch.Tensor, size: int) -> list[torch.Tensor]:
    import torchvision.transforms.v2.functional as TF

    return list(TF.ten_crop(images, [size, size]))


def _find(crop: torch.Tensor, crops: list[torch.Tensor]) -> bool:
    return any(c.shape == crop.shape and torch.equal(c, crop) for c in crops)


_LIBRARY_CROPS = (
    "the exercise is to cut the crops yourself, not to call torchvision's crop functions "
    "({name}): slice the corners and the centre out of the tensor, and flip the last axis for "
    "the mirror images"
)


def _no_library_crops():
    """While the learner's function runs, torchvision's crop functions (ten_crop, five_crop,
    center_crop, crop: v1 and v2 functional APIs and the v2 kernels, which the TenCrop,
    FiveCrop and CenterCrop transforms call) raise `LibraryShortcut`."""
    import torchvision.transforms.functional as F1
    import torchvision.transforms.v2.functional as F2

    names = ("ten_crop", "five_crop", "center_crop", "crop")
    targets = [(F1, name) for name in names]
    targets += [(F2, name + part) for name in names for part in ("", "_image", "_video")]
    return forbid(_LIBRARY_CROPS, *targets)


@private_rng(seed=19)
def ten_crop(ten_crop: Callable) -> None:
    """Check `ten_crop(images, size)`: (N, C, H, W) -> (10, N, C, size, size), the four corner
    crops and the centre crop of the images and of their left-right mirror images, any order."""
    gen = torch.Generator().manual_seed(unseen_seed())  # one shape nobody can know in advance
    rh, rw = (int(v) for v in torch.randint(5, 40, (2,), generator=gen))
    rsize = int(torch.randint(1, min(rh, rw) + 1, (1,), generator=gen))
    for n, c, h, w, size in (
        (2, 3, 8, 10, 4),
        (1, 1, 12, 12, 6),
        (3, 2, 9, 11, 5),
        (2, 3, rh, rw, rsize),
    ):
        images = torch.randn(n, c, h, w)
        with _no_library_crops():
            result = call_learner(
                ten_crop,
                images.clone(),
                size,
                hint="ten_crop(images, size) receives a batch (N, C, H, W) and an int; slice it "
                "with images[..., top:top + size, left:left + size]",
            )
        if isinstance(result, list | tuple):
            require(
                all(isinstance(t, torch.Tensor) for t in result) and len(result) == 10,
                f"return the 10 crops stacked into one tensor, got {len(result)} items",
            )
            result = torch.stack(list(result))
        require(
            isinstance(result, torch.Tensor) and tuple(result.shape) == (10, n, c, size, size),
            f"for images of shape {(n, c, h, w)} and size {size}, return a tensor of shape "
            f"{(10, n, c, size, size)} (10 crops, each a batch of size x size images); got "
            + (str(tuple(result.shape)) if isinstance(result, torch.Tensor) else repr(result)),
        )
        crops = list(result)
        expected = _reference_crops(images, size)
        plain, mirrored = expected[:5], expected[5:]
        vertical = _reference_crops(images.flip(-2), size)
        require(
            all(_find(e, crops) for e in plain[:4]),
            f"the four corner crops: rows 0 .. {size - 1} or the last {size} rows, columns "
            f"0 .. {size - 1} or the last {size} columns (on a {h}x{w} image the height and "
            "the width differ: the corners at the bottom and at the right start at H - size "
            "and W - size).",
        )
        require(
            _find(plain[4], crops),
            f"the centre crop: on a {h}x{w} image it starts at row round((H - size) / 2) and "
            "column round((W - size) / 2).",
        )
        require(
            # a crop of the upside-down images counts against the answer only when it is
            # none of the ten right crops (with size 1 the centre pixel of an odd height is both)
            not any(_find(v, crops) and not _find(v, expected) for v in vertical),
            "mirror the images LEFT-RIGHT (flip the last axis, the width), not upside down.",
        )
        require(
            all(_find(m, crops) for m in mirrored),
            "the other five crops are the same five crops of the horizontally mirrored images "
            "(flip the last axis, then crop again).",
        )
    passed(
        "four corners and the centre, of the images and of their mirror images: 10 crops, each "
        "a full batch, so a model can score all of them in one pass."
    )
