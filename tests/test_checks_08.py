"""The lesson 08 checks (images/s from timings, linear lr scaling with warmup) pass right answers
and answer typical mistakes with their hint."""

import re

import pytest

from inception_lab import checks


# --------------------------------------------------------------------------- exercise 1
def images_per_second(step_seconds, batch_size, warmup=2, world_size=1):
    timed = step_seconds[warmup:]
    return world_size * batch_size * len(timed) / sum(timed)


def test_throughput_correct_answer_passes(capsys):
    checks.throughput(images_per_second)
    assert "Correct" in capsys.readouterr().out


def test_throughput_hand_example():
    # 2 timed steps of 64 images in 0.25 + 0.25 s, after 2 warm-up steps: 256 images/s.
    assert images_per_second([2.0, 0.5, 0.25, 0.25], 64, 2, 1) == 256.0


WRONG_THROUGHPUT = {
    "inverted": (
        lambda t, b, w, n: sum(t[w:]) / (n * b * len(t[w:])),
        "images divided by seconds",
    ),
    "warm-up included": (
        lambda t, b, w, n: n * b * len(t) / sum(t),
        "leave out the first `warmup` steps",
    ),
    "mean of rates": (
        lambda t, b, w, n: n * sum(b / s for s in t[w:]) / len(t[w:]),
        "do not average the per-step rates",
    ),
    "one process": (
        lambda t, b, w, n: b * len(t[w:]) / sum(t[w:]),
        "every one of the `world_size` processes",
    ),
    "one step": (lambda t, b, w, n: n * b / sum(t[w:]), "count the images of every timed step"),
    "returns a list": (lambda t, b, w, n: [b / s for s in t], "return one number"),
    "fixed warm-up": (  # the signature's default, typed in: step_seconds[2:]
        lambda t, b, w, n: n * b * len(t[2:]) / sum(t[2:]),
        "as many steps as the `warmup` argument says",
    ),
    "fixed batch": (  # the example's batch of 64, typed in
        lambda t, b, w, n: n * 64 * len(t[w:]) / sum(t[w:]),
        "use the `batch_size` argument",
    ),
    "the example's result": (lambda t, b, w, n: 320.0, "count every image"),
}


@pytest.mark.parametrize("mistake", WRONG_THROUGHPUT)
def test_throughput_wrong_answers_get_their_hint(mistake):
    func, hint = WRONG_THROUGHPUT[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.throughput(func)


def test_throughput_unknown_mistake_gets_the_general_hint():
    with pytest.raises(AssertionError, match=r"Hint: .*count every image that every process"):
        checks.throughput(lambda t, b, w, n: 1.1 * images_per_second(t, b, w, n))


# --------------------------------------------------------------------------- exercise 2
def scaled_learning_rate(step, batch_size, base_lr, base_batch, warmup_steps):
    target = base_lr * batch_size / base_batch
    if step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * step / warmup_steps


def test_scaled_lr_correct_answer_passes(capsys):
    checks.scaled_lr(scaled_learning_rate)
    assert "Correct" in capsys.readouterr().out


def test_scaled_lr_hand_values():
    # Goyal et al.: 0.1 per 256 images; batch 1024 -> 0.4, reached after the warmup.
    assert scaled_learning_rate(0, 1024, 0.1, 256, 100) == pytest.approx(0.1)
    assert scaled_learning_rate(50, 1024, 0.1, 256, 100) == pytest.approx(0.25)
    assert scaled_learning_rate(100, 1024, 0.1, 256, 100) == pytest.approx(0.4)


def _ramp(step, warmup):
    return min(step / warmup, 1.0) if warmup else 1.0


WRONG_LR = {
    "not scaled": (lambda s, b, lr, b0, w: lr, "scale the learning rate with the batch size"),
    "inverse": (
        lambda s, b, lr, b0, w: scaled_learning_rate(s, b0 * b0 / b, lr, b0, w),
        "a LARGER batch gets a LARGER learning rate",
    ),
    "square root": (
        lambda s, b, lr, b0, w: scaled_learning_rate(s, b0 * (b / b0) ** 0.5, lr, b0, w),
        "not with its square root",
    ),
    "ramp from zero": (lambda s, b, lr, b0, w: lr * b / b0 * _ramp(s, w), "not at 0"),
    "no warmup": (lambda s, b, lr, b0, w: lr * b / b0, "ramp up to the scaled rate gradually"),
    "ramps forever": (
        lambda s, b, lr, b0, w: lr + (lr * b / b0 - lr) * (s / w if w else 1),
        "do not keep ramping",
    ),
    "off by one": (
        lambda s, b, lr, b0, w: scaled_learning_rate(s + 1, b, lr, b0, w),
        "count steps from 0",
    ),
    "fixed base_lr": (  # the signature's default, typed in
        lambda s, b, lr, b0, w: scaled_learning_rate(s, b, 0.1, b0, w),
        "use the `base_lr` argument",
    ),
    "fixed base_batch": (
        lambda s, b, lr, b0, w: scaled_learning_rate(s, b, lr, 256, w),
        "use the `base_batch` argument",
    ),
    "the pass message's rate": (lambda s, b, lr, b0, w: 0.4, "ramp up to the scaled rate"),
    "divides by zero": (
        lambda s, b, lr, b0, w: lr + (lr * b / b0 - lr) * min(s / w, 1.0),
        "with warmup_steps=0 there is no warmup",
    ),
}


@pytest.mark.parametrize("mistake", WRONG_LR)
def test_scaled_lr_wrong_answers_get_their_hint(mistake):
    func, hint = WRONG_LR[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.scaled_lr(func)


def test_scaled_lr_unknown_mistake_gets_the_general_hint():
    with pytest.raises(AssertionError, match="Hint: .*interpolate linearly"):
        checks.scaled_lr(lambda s, b, lr, b0, w: 0.9 * scaled_learning_rate(s, b, lr, b0, w))


def test_hints_do_not_spell_out_the_formula():
    """A hint points to the idea; the full formula is the exercise."""
    with pytest.raises(AssertionError) as err:
        checks.throughput(lambda t, b, w, n: 1.1 * images_per_second(t, b, w, n))
    assert "world_size * batch_size" not in str(err.value)
    with pytest.raises(AssertionError) as err:
        checks.scaled_lr(lambda s, b, lr, b0, w: 0.9 * scaled_learning_rate(s, b, lr, b0, w))
    assert "base_lr * batch_size / base_batch" not in str(err.value)


def test_student_stubs_pass_through():
    def stub(*args):
        raise NotImplementedError("Exercise 1: return the number of images")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.throughput(stub)
    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.scaled_lr(stub)


@pytest.mark.parametrize("check", [checks.throughput, checks.scaled_lr])
def test_a_number_instead_of_the_function_gets_a_hint(check):
    """The numbers the lesson prints (320 images/s, a rate of 0.4) passed instead of a function."""
    for typed in (320.0, 0.4):
        with pytest.raises(AssertionError, match="Hint: pass your function itself"):
            check(typed)
