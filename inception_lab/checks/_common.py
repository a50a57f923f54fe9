"""What every check shares: the pass message, the hint, and how a learner's code is called.

A check prints `Correct: ...` or raises an AssertionError whose message starts with
"Not yet. Hint:" and points to the idea to look at, never the answer. Learner code always runs
through `call_learner`, so that

- the student edition's stub, `raise NotImplementedError("Exercise N: ...")`, reaches the
  learner unchanged (its message names the exercise to write);
- any other exception from the learner's code becomes the check's hint (with the error), not a
  traceback into the course's code;
- `forbid` can make a library shortcut fail inside an exercise whose point is to write it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def passed(message: str) -> None:
    """Print the pass message of a check."""
    print(f"Correct: {message}")


def require(condition: bool, hint: str) -> None:
    """Raise an AssertionError carrying `hint` unless `condition` holds."""
    if not condition:
        raise AssertionError(f"Not yet. Hint: {hint}")


class LibraryShortcut(AssertionError):
    """Raised by a function that `forbid` replaced: the exercise is to write it by hand."""


def call_learner(func: Callable[..., T], *args: Any, hint: str, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, the learner's code, with its errors turned into a hint.

    NotImplementedError (the student edition's stub) and `LibraryShortcut` pass through as they
    are; any other exception becomes `AssertionError("Not yet. Hint: <hint> (the error was ...)")`.
    """
    try:
        return func(*args, **kwargs)
    except (NotImplementedError, LibraryShortcut):
        raise
    except Exception as err:
        raise AssertionError(
            f"Not yet. Hint: {hint} (the error was {type(err).__name__}: {err})"
        ) from err


@contextlib.contextmanager
def forbid(
    hint: str, *targets: tuple[Any, str], when: Callable[..., bool] | None = None
) -> Iterator:
    """Within the block, each `(module, name)` in `targets` raises `LibraryShortcut(hint)`.

    `when(*args, **kwargs)` narrows it: the original function runs unless `when` says the call
    is the shortcut (e.g. only `cross_entropy(..., label_smoothing > 0)`). Everything is restored
    on exit, even after an error.
    """
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def guard(original: Callable) -> Callable:
        @functools.wraps(original)
        def shortcut(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                raise LibraryShortcut(f"Not yet. Hint: {hint}")
            return original(*args, **kwargs)

        return shortcut

    try:
        for owner, name, original in originals:
            setattr(owner, name, guard(original))
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def private_rng(seed: int = 0) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: run a check on its own random stream seeded with `seed`, leaving the
    notebook's stream (and so every later cell's output) untouched."""

    def decorate(check: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> T:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return check(*args, **kwargs)

        return run

    return decorate


def run_recording(module: Any, x: Any, select: Callable[[Any], bool]) -> tuple[Any, list]:
    """`module(x)` in eval mode without gradients, and `(layer, input, output)` of every
    submodule for which `select(layer)` holds, in the order they ran (a layer that never runs is
    not listed). Lets a check see a module's structure as its forward pass uses it."""
    import torch

    ran: list = []
    handles = [
        m.register_forward_hook(lambda mod, args, out: ran.append((mod, args[0], out)))
        for m in module.modules()
        if select(m)
    ]
    try:
        with torch.no_grad():
            out = module.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return out, ran


def tensors_close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    """True when `a` is a tensor of `b`'s shape with the same values (to float32 rounding)."""
    import torch

    return (
        isinstance(a, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a.detach().double(), b.detach().double(), rtol=1e-4, atol=atol)
    )


def is_whole(value: Any) -> bool:
    """An int that is not a bool (hand counts must be whole numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)
