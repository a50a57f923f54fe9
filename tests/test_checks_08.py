"""The lesson 08 checks (images/s from timings, linear lr scaling with warmup) pass right answers
and answer typical mistakes with their hint."""

import math
import re
import secrets
import warnings

import pytest
import torch
from torch.nn import functional as F

from inception_lab import checks, train
from inception_lab.checks import LibraryShortcut


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
    "never scales down: max(1, batch / base_batch)": (
        lambda s, b, lr, b0, w: scaled_learning_rate(s, max(b, b0), lr, b0, w),
        "a batch SMALLER than base_batch gets a smaller rate",
    ),
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
    with pytest.raises(AssertionError, match=r"Hint: .*interpolate linearly"):
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


@pytest.mark.parametrize("check", [checks.throughput, checks.scaled_lr, checks.loss_scaling])
def test_a_number_instead_of_the_function_gets_a_hint(check):
    """The numbers the lesson prints (320 images/s, a rate of 0.4) passed instead of a function."""
    for typed in (320.0, 0.4):
        with pytest.raises(AssertionError, match="Hint: pass your function itself"):
            check(typed)


def test_scaled_lr_has_a_batch_below_the_base():
    # the shortcut of the issue, `base_lr * max(1, batch / base_batch)`, is right on every case
    # above the base: the cases must hold a batch below it, after warmup or without one
    from inception_lab.checks.lesson08 import _LR_CASES

    below = [c for c in _LR_CASES if c[1] < c[3] and c[0] >= c[4]]
    assert below
    assert any(scaled_learning_rate(*c) < c[2] for c in below)


def test_scaled_lr_random_case_catches_a_table_of_the_fixed_cases(monkeypatch):
    from inception_lab.checks import lesson08

    table = {case[:5]: scaled_learning_rate(*case) for case in lesson08._LR_CASES}
    monkeypatch.setattr(secrets, "randbits", lambda bits: 5)
    with pytest.raises(AssertionError, match="Hint:"):
        checks.scaled_lr(lambda *args: table.get(args, 0.1))


def test_throughput_random_case_catches_a_table_of_the_fixed_cases(monkeypatch):
    from inception_lab.checks import lesson08

    def table(t, b, w, n):
        known = any(list(times) == list(t) for times, *_ in lesson08._THROUGHPUT_CASES)
        return images_per_second(t, b, w, n) if known else 320.0

    monkeypatch.setattr(secrets, "randbits", lambda bits: 5)
    with pytest.raises(AssertionError, match="Hint:"):
        checks.throughput(table)


def test_random_cases_pass_right_answers(monkeypatch):

    for seed in range(10):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        checks.scaled_lr(scaled_learning_rate)
        checks.throughput(images_per_second)


# --------------------------------------------------------------------------- exercise 2
def mixed_precision_step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(images.device.type, dtype=dtype):
        loss = F.cross_entropy(model(images), labels)
    (loss * scale).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not all(torch.isfinite(g).all() for g in grads):
        optimizer.zero_grad(set_to_none=True)
        return scale / 2
    for g in grads:
        g.div_(scale)
    optimizer.step()
    return scale


def test_loss_scaling_correct_answer_passes(capsys):
    checks.loss_scaling(mixed_precision_step)
    assert capsys.readouterr().out.startswith("Correct: autocast on, the loss scaled")


def _not_finite(g):
    return ~torch.isfinite(g)


def _step(
    autocast=True,
    scale_loss=True,
    unscale=True,
    bad=_not_finite,
    every=True,
    zero_on_skip=True,
    zero_first=True,
    skip=True,
    halve=True,
    use_dtype=True,
):
    """The right step with one part changed (a typical mistake)."""

    def step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
        if zero_first:
            optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=dtype if use_dtype else torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(images), labels)
        (loss * scale if scale_loss else loss).backward()
        params = list(model.parameters()) if every else list(model.parameters())[:1]
        if any(bad(p.grad).any() for p in params):
            if zero_on_skip:
                optimizer.zero_grad(set_to_none=True)
            if not skip:
                optimizer.step()
            return scale / 2 if halve else scale
        if unscale:
            for p in model.parameters():
                p.grad /= scale
        optimizer.step()
        if not zero_first:
            optimizer.zero_grad(set_to_none=True)
        return scale

    return step


def _gradscaler_step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
    scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        loss = F.cross_entropy(model(images), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale()


def _cuda_gradscaler_step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
    """Shortcut: the older torch.cuda.amp.GradScaler (a subclass), disabled on the CPU or not."""
    with warnings.catch_warnings():  # deprecated in favour of torch.amp.GradScaler("cuda")
        warnings.simplefilter("ignore", FutureWarning)
        scaler = torch.cuda.amp.GradScaler(init_scale=scale)
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        loss = F.cross_entropy(model(images), labels)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale()


def _foreach_unscale_step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
    # the ATen kernel GradScaler runs: unscales and looks for inf/NaN in one call
    optimizer.zero_grad()
    with torch.autocast("cpu", dtype=dtype):
        loss = F.cross_entropy(model(images), labels)
    (loss * scale).backward()
    found = torch.zeros(1)
    grads = [p.grad for p in model.parameters()]
    torch._amp_foreach_non_finite_check_and_unscale_(grads, found, torch.tensor(1 / scale))
    if found.item():
        return scale / 2
    optimizer.step()
    return scale


def _train_fit_step(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
    train.fit(model, ([(images, labels)], None), 1, amp="fp16", progress=False)
    return scale


WRONG_STEPS = {
    "no autocast": (_step(autocast=False), "under torch.autocast"),
    "autocast dtype fixed": (_step(use_dtype=False), "not in torch.float16"),
    "loss not scaled": (_step(scale_loss=False), "multiply the loss by `scale` before backward"),
    "gradients not unscaled": (_step(unscale=False), "divide every gradient by `scale`"),
    "steps on an overflow": (_step(skip=False), "skip this step entirely"),
    "isinf only": (_step(bad=torch.isinf), "one gradient was NaN"),
    "first parameter only": (_step(every=False), "check EVERY parameter's gradient"),
    "scale kept after a skip": (_step(halve=False), "halve the scale"),
    "old gradients kept": (_step(zero_on_skip=False, zero_first=False), "Clear them"),
}


@pytest.mark.parametrize("mistake", WRONG_STEPS)
def test_loss_scaling_wrong_steps_get_their_hint(mistake):
    func, hint = WRONG_STEPS[mistake]
    with pytest.raises(AssertionError, match="^Not yet. Hint: .*" + re.escape(hint)):
        checks.loss_scaling(func)


@pytest.mark.parametrize(
    "shortcut",
    [_gradscaler_step, _cuda_gradscaler_step, _foreach_unscale_step, _train_fit_step],
    ids=[
        "torch.amp.GradScaler",
        "torch.cuda.amp.GradScaler",
        "torch._amp_foreach_non_finite_check_and_unscale_",
        "train.fit(amp='fp16')",
    ],
)
def test_loss_scaling_rejects_library_loss_scaling(shortcut):
    with pytest.raises(
        AssertionError,
        match=r"^Not yet. Hint: this exercise asks you to write the loss scaling yourself",
    ):
        checks.loss_scaling(shortcut)
    assert torch.amp.GradScaler("cpu").get_scale() > 0  # restored afterwards


def test_loss_scaling_stub_and_non_function():
    def stub(*args):
        raise NotImplementedError("Exercise 2: write the step")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        checks.loss_scaling(stub)
    with pytest.raises(AssertionError, match="pass your function itself"):
        checks.loss_scaling(1024.0)


def test_loss_scaling_good_step_keeps_the_scale():
    def grows(model, images, labels, optimizer, scale, dtype=torch.bfloat16):
        return 2 * mixed_precision_step(model, images, labels, optimizer, scale, dtype)

    with pytest.raises(AssertionError, match="after a good step return the same scale"):
        checks.loss_scaling(grows)


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def test_shortcut_never_scaling_down_is_refused():
    """Shortcut (issue 24): `base_lr * max(1, batch / base_batch)`, which never scales down, with
    the warmup the exercise now asks for: refused on the cases with a batch below the base."""

    def never_down(step, batch_size, base_lr=0.1, base_batch=256, warmup_steps=0):
        return scaled_learning_rate(
            step, max(batch_size, base_batch), base_lr, base_batch, warmup_steps
        )

    with pytest.raises(AssertionError, match=r"Hint: .*batch SMALLER than base_batch"):
        checks.scaled_lr(never_down)


def via_linear_lr(step, batch_size, base_lr=0.1, base_batch=256, warmup_steps=0):
    """Shortcut: PyTorch's LinearLR does the warmup's ramp (from base_lr / target to target)."""
    target = base_lr * batch_size / base_batch
    if step >= warmup_steps:
        return target
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=target)
    ramp = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=base_lr / target, end_factor=1.0, total_iters=warmup_steps
    )
    for _ in range(step):
        optimizer.step()
        ramp.step()
    return optimizer.param_groups[0]["lr"]


def test_shortcut_a_pytorch_scheduler_is_refused():
    for case in [(0, 1024, 0.1, 256, 100), (50, 1024, 0.1, 256, 100), (7, 2048, 0.2, 256, 20)]:
        assert math.isclose(via_linear_lr(*case), scaled_learning_rate(*case))  # a real shortcut
    with pytest.raises(
        LibraryShortcut, match=r"write the learning rate yourself; do not call torch.optim"
    ):
        checks.scaled_lr(via_linear_lr)
    checks.scaled_lr(scaled_learning_rate)  # and the right answer still passes


def test_shortcut_patching_the_checks_comparison_in_an_earlier_cell_is_refused():
    """Shortcut: `checks.lesson08._close = lambda a, b: True` before the check, then any number
    (the 320 images/s the lesson prints)."""
    from inception_lab.checks import lesson08

    original = lesson08._close
    lesson08._close = lambda a, b: True
    try:
        with pytest.raises(AssertionError, match=r"lesson08._close was replaced before the check"):
            checks.throughput(lambda times, batch, warmup=2, world=1: 320.0)
        assert lesson08._close is original
    finally:
        lesson08._close = original
