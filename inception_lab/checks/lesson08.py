"""Lesson 08 checks: measuring throughput, a mixed-precision training step, and the linear
learning-rate scaling rule.

Exercise 1 turns step timings into images per second. Exercise 2 writes one training step with
autocast and dynamic loss scaling (what `torch.amp.GradScaler` does, by hand): the check trains a
tiny model that records whether autocast was on and the gradient that reached its logits, injects
an inf and a NaN gradient on chosen steps, and compares every update with an SGD step on the
unscaled gradients; GradScaler, its ATen kernels and the course's training helpers raise while
the learner's step runs. Exercise 3 writes the linear scaling rule with gradual warmup (Goyal et
al. 2017, sections 2.1 and 2.2); PyTorch's schedulers (LinearLR ramps a rate) raise while it
runs. Exercises 1 and 3 are checked against hand formulas on several cases, with arguments that
differ from the lesson's example and from the signatures' defaults, a batch below the base batch
(the rule scales down too), and one case drawn at random on every run, so a typed number (the
lesson prints 320 images/s and a rate of 0.4) or a typed default fails with its own hint.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .. import train
from .._validate import is_number
from ._common import Forbidden, call_learner, passed, require, tensors_close, unseen_seed


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def _as_number(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    require(
        is_number(value),
        f"return one number ({what}), got {type(value).__name__}.",
    )
    return float(value)


def _require_function(func: Any, name: str) -> None:
    require(
        callable(func),
        f"pass your function itself ({name}), not a value it returned: the check calls it on "
        f"cases of its own; got {func!r}.",
    )


_THROUGHPUT_CASES = (  # (step seconds, batch_size, warmup, world_size)
    ([2.0, 0.5, 0.25, 0.25, 0.5], 64, 2, 1),
    ([1.5, 0.1, 0.3, 0.2], 128, 1, 1),
    ([3.0, 1.0, 0.2, 0.2, 0.4, 0.2], 32, 2, 4),
    ([0.4, 0.1, 0.3], 256, 0, 2),
)


def _diagnose_throughput(value: float, times: list, batch: int, warmup: int, world: int) -> None:
    """Name the typical mistake behind a wrong images/s (always raises)."""
    timed = times[warmup:]
    want = world * batch * len(timed) / sum(timed)
    context = (
        f"for step times {times} s, batch_size={batch}, warmup={warmup}, "
        f"world_size={world}: got {value:g}. "
    )
    require(not _close(value, 1 / want), context + "images/s is images divided by seconds.")
    require(
        not _close(value, world * batch * len(times) / sum(times)) or warmup == 0,
        context + "leave out the first `warmup` steps: they include one-time costs "
        "(memory allocation, picking convolution algorithms) that a long run does not pay again.",
    )
    require(
        not _close(value, world * sum(batch / t for t in timed) / len(timed)),
        context + "do not average the per-step rates: a slow step then counts as much as a "
        "fast one. Divide all the images by all the time instead.",
    )
    for fixed in range(len(times)):  # e.g. `step_seconds[2:]`, the default typed in
        if fixed != warmup and _close(
            value, world * batch * len(times[fixed:]) / sum(times[fixed:])
        ):
            require(
                False,
                context + "leave out as many steps as the `warmup` argument says, not a fixed "
                "number.",
            )
    require(
        not _close(value, world * 64 * len(timed) / sum(timed)) or batch == 64,
        context + "use the `batch_size` argument, not the example's batch of 64.",
    )
    require(
        not _close(value, batch * len(timed) / sum(timed)) or world == 1,
        context + "under torchrun every one of the `world_size` processes handles "
        "`batch_size` images per step, at the same time.",
    )
    require(
        not _close(value, world * batch / sum(timed)),
        context + "count the images of every timed step, not of one step.",
    )
    require(
        False,
        context + "count every image that every process handled in the timed steps, and the "
        "time those steps took.",
    )


def throughput(images_per_second: Callable) -> None:
    """Check `images_per_second(step_seconds, batch_size, warmup, world_size)` -> float.

    step_seconds: the duration of each training step in seconds, in order; the first `warmup`
    steps are excluded (they include one-time set-up costs); every one of `world_size` processes
    handles `batch_size` images per step. Expected: world_size * batch_size * (number of timed
    steps) / (their total time).
    """
    _require_function(images_per_second, "images_per_second")
    g = torch.Generator().manual_seed(unseen_seed())  # one case nobody can know in advance
    drawn = (
        [
            round(float(t), 3)
            for t in torch.empty(int(torch.randint(3, 12, (1,), generator=g))).uniform_(
                0.05, 2.0, generator=g
            )
        ],
        int(torch.randint(1, 513, (1,), generator=g)),
        int(torch.randint(0, 3, (1,), generator=g)),
        int(torch.randint(1, 9, (1,), generator=g)),
    )
    for times, batch, warmup, world in (*_THROUGHPUT_CASES, drawn):
        got = call_learner(
            images_per_second,
            list(times),
            batch,
            warmup,
            world,
            hint=f"images_per_second({times}, {batch}, {warmup}, {world}) failed",
        )
        value = _as_number(got, "images/s")
        timed = times[warmup:]
        if not _close(value, world * batch * len(timed) / sum(timed)):
            _diagnose_throughput(value, list(times), batch, warmup, world)
    passed("images/s = images processed by all processes / time, warm-up steps left out.")


# --------------------------------------------------------------------------- exercise 2
_NO_GRAD_SCALER = Forbidden(
    "the loss scaling",
    targets=(train, (torch.amp.GradScaler, "__init__")),
    aten=("_amp_foreach_non_finite_check_and_unscale", "_amp_update_scale"),
    advice="multiply the loss by `scale` before backward(), divide the gradients by it, and "
    "look for inf or NaN in them yourself (the course's `train` helpers are off in this "
    "exercise: compute the loss with F.cross_entropy)",
)


class _Probe(nn.Module):
    """A tiny classifier (6 -> 16 -> 4) that records, at every forward pass, whether autocast
    was on and in which dtype its first layer ran, and the gradient that reaches its logits."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 4)
        self.seen: list[tuple[bool, torch.dtype]] = []
        self.logits: list[torch.Tensor] = []
        self.logit_grads: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        self.seen.append((torch.is_autocast_enabled(x.device.type), h.dtype))
        out = self.fc2(torch.relu(h))
        self.logits.append(out.detach().float())
        if out.requires_grad:
            out.register_hook(lambda g: self.logit_grads.append(g.detach().float()))
        return out


def _logit_gradient(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """d(mean cross-entropy)/d(logits), (N, K), in float32: (softmax - one_hot) / N."""
    z = logits.clone().requires_grad_(True)
    F.cross_entropy(z, labels).backward()
    return z.grad


class _Step:
    """One call of the learner's step on the probe, with what the check needs to judge it: the
    parameters before, the gradients that reached each parameter (scaled, as backward() made
    them), the optimizer steps taken, and what the learner returned."""

    def __init__(self, model: _Probe, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def run(self, step: Callable, images, labels, scale: float, dtype, poison=None) -> Any:
        """`poison`: (parameter name, value) to write into one entry of that parameter's
        gradient during backward (an overflow the check injects)."""
        model = self.model
        model.seen.clear(), model.logits.clear(), model.logit_grads.clear()
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.grads: dict[str, torch.Tensor] = {}
        self.steps = 0
        handles = [self.optimizer.register_step_pre_hook(self._count)]
        for name, param in model.named_parameters():
            handles.append(param.register_hook(self._record(name, poison)))
        try:
            return call_learner(
                step,
                model,
                images,
                labels,
                self.optimizer,
                scale,
                dtype,
                hint=f"mixed_precision_step(model, images, labels, optimizer, scale={scale:g}, "
                f"dtype={dtype}) failed on a small classifier",
                forbidden=_NO_GRAD_SCALER,
            )
        finally:
            for h in handles:
                h.remove()

    def _count(self, *args: Any) -> None:
        self.steps += 1

    def _record(self, name: str, poison) -> Callable:
        def hook(grad: torch.Tensor) -> torch.Tensor:
            if poison is not None and poison[0] == name:
                grad = grad.clone()
                grad.view(-1)[0] = poison[1]
            self.grads[name] = self.grads.get(name, 0) + grad.detach().clone()
            return grad

        return hook

    def changed(self) -> list[str]:
        return [n for n, p in self.model.named_parameters() if not torch.equal(p, self.before[n])]


def _new_scale(value: Any, scale: float) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    require(
        is_number(value),
        f"return the loss scale for the next step (a number: {scale:g} after a good step, "
        f"{scale / 2:g} after a skipped one), got {type(value).__name__}.",
    )
    return float(value)


def _check_good_step(run: _Step, ref: tuple, value: Any, labels, scale: float, dtype) -> None:
    """A step without overflow: autocast, the loss scaled by `scale`, one optimizer step on the
    unscaled gradients, and the same scale returned."""
    model = run.model
    require(
        bool(model.seen) and all(on and got == dtype for on, got in model.seen),
        f"run the forward pass (and the loss) under torch.autocast(images.device.type, "
        f"dtype=dtype): the model's layers ran in {model.seen[0][1] if model.seen else 'nothing'}"
        f", not in {dtype}.",
    )
    require(
        len(model.logit_grads) == 1,
        "call backward() once per step, on the scaled loss of the batch"
        + (": no gradient reached the model" if not model.logit_grads else "."),
    )
    want = _logit_gradient(model.logits[0], labels)
    got = model.logit_grads[0]
    require(
        not torch.allclose(got, want, rtol=0.02, atol=1e-4) or scale == 1,
        "multiply the loss by `scale` before backward(): the gradients that backward() "
        "computes must be `scale` times too large, so that small ones survive in float16.",
    )
    require(
        torch.allclose(got, scale * want, rtol=0.02, atol=scale * 1e-4),
        f"backpropagate the mean cross-entropy of the batch times `scale` ({scale:g}): the "
        "gradient that reached the logits is not that.",
    )
    require(
        run.steps == 1,
        f"with finite gradients, take exactly one optimizer step (optimizer.step() ran "
        f"{run.steps} times)"
        + (
            ": are old gradients, such as the inf of a skipped step, still in .grad? Clear "
            "them (optimizer.zero_grad()) before backward(), or when you skip a step."
            if run.steps == 0
            else "."
        ),
    )
    ref_model, ref_opt = ref
    for (name, _), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        q.grad = run.grads[name] / scale
    ref_opt.step()
    if not all(
        tensors_close(p, q) for p, q in zip(model.parameters(), ref_model.parameters(), strict=True)
    ):
        require(
            False,
            "the update is not one optimizer step on the true gradients: divide every "
            "gradient by `scale` before optimizer.step() (the optimizer must see the gradients "
            "of the unscaled loss), and clear the old gradients before backward().",
        )
    new = _new_scale(value, scale)
    require(
        new == scale,
        f"after a good step return the same scale ({scale:g}), got {new:g} (GradScaler grows "
        "the scale again only after thousands of good steps; this step keeps it).",
    )


def _check_skipped_step(run: _Step, value: Any, scale: float, what: str) -> None:
    """A step with an inf or NaN gradient: no optimizer step, no weight changed, scale halved."""
    require(
        run.steps == 0 and not run.changed(),
        f"one gradient was {what}: skip this step entirely (do not call optimizer.step(), "
        "which would write the overflow into the weights); check EVERY parameter's gradient "
        "with torch.isfinite, which catches inf and NaN alike.",
    )
    new = _new_scale(value, scale)
    require(
        new == scale / 2,
        f"after a skipped step halve the scale ({scale:g} -> {scale / 2:g}), as GradScaler "
        f"does: it was too large for this step's gradients. Got {new:g}.",
    )


def loss_scaling(mixed_precision_step: Callable) -> None:
    """Check `mixed_precision_step(model, images, labels, optimizer, scale, dtype)` -> the next
    scale: one training step with autocast and dynamic loss scaling.

    On a tiny classifier, in bfloat16 and in float16 autocast on the CPU, with SGD (momentum and
    weight decay, so a step on zeroed gradients still moves the weights): a good step, one whose
    gradient the check sets to inf (in the last layer's bias), another good step at the halved
    scale (old gradients must be gone), one with a NaN (in the first layer's weight). A good step
    runs the forward pass under autocast in `dtype`, backpropagates the mean cross-entropy times
    `scale`, takes exactly one optimizer step on the gradients divided by `scale`, and returns
    `scale`; a step with an inf or NaN gradient takes no optimizer step, changes no weight and
    returns scale / 2. GradScaler, its ATen kernels and the course's `train` helpers raise while
    the step runs (the exercise is to write it).
    """
    require(
        callable(mixed_precision_step),
        "pass your function itself (mixed_precision_step), not what it returned; got "
        f"{mixed_precision_step!r}.",
    )
    for dtype in (torch.bfloat16, torch.float16):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(8)
            model = _Probe()
            images, labels = torch.randn(4, 8, 6), torch.randint(0, 4, (4, 8))
        settings = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-2}
        optimizer = torch.optim.SGD(model.parameters(), **settings)
        ref_model = copy.deepcopy(model)
        ref = (ref_model, torch.optim.SGD(ref_model.parameters(), **settings))
        run, scale = _Step(model, optimizer), 1024.0
        plan = [
            (None, ""),
            (("fc2.bias", float("inf")), "inf"),
            (None, ""),
            (("fc1.weight", float("nan")), "NaN"),
        ]
        for i, (poison, what) in enumerate(plan):
            value = run.run(mixed_precision_step, images[i], labels[i], scale, dtype, poison)
            if poison is None:
                _check_good_step(run, ref, value, labels[i], scale, dtype)
            else:
                _check_skipped_step(run, value, scale, what)
                scale /= 2
    passed(
        "autocast on, the loss scaled before backward(), one step on the unscaled gradients "
        "when they are finite; with an inf or a NaN gradient no step and the scale halved "
        "(bfloat16 and float16)."
    )


def _scaled(step: int, batch: float, base_lr: float, base_batch: int, warmup: int) -> float:
    """The reference: linear scaling, ramped linearly from base_lr over `warmup` steps."""
    target = base_lr * batch / base_batch
    if step >= warmup:
        return target
    return base_lr + (target - base_lr) * step / warmup


_LR_CASES = (  # (step, batch_size, base_lr, base_batch, warmup_steps)
    (0, 1024, 0.1, 256, 100),
    (50, 1024, 0.1, 256, 100),
    (100, 1024, 0.1, 256, 100),
    (500, 1024, 0.1, 256, 100),
    (30, 512, 0.05, 128, 40),
    (10, 2048, 0.1, 256, 0),
    (7, 2048, 0.2, 256, 20),
    (300, 64, 0.1, 256, 100),  # a batch BELOW the base: after warmup, a smaller rate
    (3, 128, 0.2, 512, 0),  # below the base, no warmup
)


def _random_lr_case() -> tuple[int, int, float, int, int]:
    """A case nobody can know in advance: batches from 8 to 8,192 on either side of the base,
    a step after the warmup (the ramp below the base is the same line, read backwards)."""
    g = torch.Generator().manual_seed(unseen_seed())
    base = 2 ** int(torch.randint(5, 10, (1,), generator=g))
    batch = 2 ** int(torch.randint(3, 14, (1,), generator=g))
    warmup = int(torch.randint(0, 200, (1,), generator=g))
    step = warmup + int(torch.randint(0, 1000, (1,), generator=g))
    base_lr = round(float(torch.empty(1).uniform_(0.001, 0.5, generator=g)), 4)
    return step, batch, base_lr, base, warmup


def _diagnose_lr(value: float, step: int, batch: int, base_lr: float, base: int, warmup: int):
    """Name the typical mistake behind a wrong learning rate (always raises)."""
    k = batch / base
    context = (
        f"for step={step}, batch_size={batch}, base_lr={base_lr}, base_batch={base}, "
        f"warmup_steps={warmup}: got {value:g}. "
    )
    ramp = min(step / warmup, 1.0) if warmup else 1.0
    mistakes = [  # the first failing case decides; the typed defaults fail first where they differ
        (
            _scaled(step, base, base_lr, base, warmup) if batch < base else None,
            (
                "a batch SMALLER than base_batch gets a smaller rate: the rule is linear both "
                "ways (batch_size / base_batch below 1 scales the rate down)."
            ),
        ),
        (
            _scaled(step, batch, 0.1, base, warmup) if base_lr != 0.1 else None,
            "use the `base_lr` argument, not a fixed rate such as the default 0.1.",
        ),
        (
            _scaled(step, batch, base_lr, 256, warmup) if base != 256 else None,
            "use the `base_batch` argument, not a fixed batch such as the default 256.",
        ),
        (base_lr, "scale the learning rate with the batch size (once warmup is over)."),
        (
            _scaled(step, base * base / batch, base_lr, base, warmup),
            "the ratio is upside down: a LARGER batch gets a LARGER learning rate.",
        ),
        (
            _scaled(step, base * k**0.5, base_lr, base, warmup),
            (
                "the linear rule scales with the batch-size ratio itself, not with its square root "
                "(that is another rule, used e.g. with Adam)."
            ),
        ),
        (
            base_lr * k * ramp,
            (
                "the ramp starts at base_lr (the rate known to be safe for the small batch), not at 0: "
                "at step 0 return base_lr."
            ),
        ),
        (
            base_lr * k,
            (
                "during the first warmup_steps steps, ramp up to the scaled rate gradually instead of "
                "starting at it."
            ),
        ),
        (
            base_lr + (base_lr * k - base_lr) * step / warmup if warmup else None,
            "after warmup_steps the rate stays at the scaled rate; do not keep ramping.",
        ),
        (
            _scaled(step + 1, batch, base_lr, base, warmup),
            (
                "count steps from 0: step 0 gets base_lr, and the scaled rate is reached at "
                "step == warmup_steps."
            ),
        ),
    ]
    for wrong, hint in mistakes:
        require(wrong is None or not _close(value, wrong), context + hint)
    require(
        False,
        context + "before warmup_steps, interpolate linearly between the rate of step 0 and "
        "the scaled rate; after it, keep the scaled rate.",
    )


# PyTorch's schedulers ramp a rate for the learner (LinearLR from base_lr / target to target,
# OneCycleLR, and the course's `train.make_schedule` around them): every scheduler's
# constructor, and the course's training helpers, raise while the learner's function runs.
_NO_SCHEDULER = Forbidden(
    "the learning rate",
    targets=(train, (torch.optim.lr_scheduler.LRScheduler, "__init__")),
    advice="compute the scaled rate and the warmup's straight line with arithmetic",
)


def scaled_lr(scaled_learning_rate: Callable) -> None:
    """Check `scaled_learning_rate(step, batch_size, base_lr, base_batch, warmup_steps)` -> float.

    The linear scaling rule (Goyal et al. 2017) with gradual warmup: the target rate is
    base_lr * batch_size / base_batch; during the first `warmup_steps` steps (0-based `step`)
    the rate ramps linearly from base_lr (at step 0) to the target (reached at step
    warmup_steps), then stays there. warmup_steps=0 means no warmup.
    """
    _require_function(scaled_learning_rate, "scaled_learning_rate")
    for step, batch, base_lr, base, warmup in (*_LR_CASES, _random_lr_case()):
        got = call_learner(
            scaled_learning_rate,
            step,
            batch,
            base_lr,
            base,
            warmup,
            hint=f"scaled_learning_rate({step}, {batch}, {base_lr}, {base}, {warmup}) failed"
            + (": with warmup_steps=0 there is no warmup, so nothing to divide by" * (not warmup)),
            forbidden=_NO_SCHEDULER,
        )
        value = _as_number(got, "a learning rate")
        if not _close(value, _scaled(step, batch, base_lr, base, warmup)):
            _diagnose_lr(value, step, batch, base_lr, base, warmup)
    passed(
        "linear scaling with warmup: for batch 1024 (base 0.1 at 256) the rate ramps from "
        "0.1 to 0.4 over the warmup, then stays at 0.4; a batch of 64 trains at 0.025."
    )
