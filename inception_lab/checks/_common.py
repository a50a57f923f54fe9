"""What every check shares: the pass message, the hint, and how a learner's code is called.

A check prints `Correct: ...` or raises an AssertionError whose message starts with
"Not yet. Hint:" and points to the idea to look at, never the answer. Learner code always runs
through `call_learner`, so that

- the student edition's stub, `raise NotImplementedError("Exercise N: ...")`, reaches the
  learner unchanged (its message names the exercise to write);
- any other exception from the learner's code becomes the check's hint (with the error), not a
  traceback into the course's code;
- `forbid` can make a library shortcut fail inside an exercise whose point is to write it
  (`call_learner(..., forbidden=Forbidden(...))` runs the learner's code inside it);
- the learner's code cannot quietly replace what the check compares with (`torch.allclose`,
  the checks' own functions, the course's reference blocks): `call_learner` restores anything
  the call replaced, or an earlier cell replaced (against a record taken when the checks
  loaded, `snapshot_course`), and says so;
- the checks' own functions (their private references, case generators and diagnoses) raise
  while the learner's code runs: none of them is a solution to import.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import math
import secrets
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

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


class Forbidden(NamedTuple):
    """What an exercise asks the learner to write, and what would write it for them.

    `task` names the work ("batch norm"); the hint becomes "this exercise asks you to write
    <task> yourself; do not call <the function called>" plus `advice`. `targets` are
    `(owner, name)` attributes or whole modules (every public function defined in them, e.g.
    `profile`); `aten` are substrings of ATen operator names (e.g. "batch_norm"), blocked
    however they are reached (F.batch_norm, nn.BatchNorm2d, torch.ops.aten..., a name imported
    earlier). `when` narrows the attribute targets as in `forbid`. `lazy` names targets in
    libraries the course does not import, as "module:attribute.path" (see `forbid`).
    """

    task: str
    targets: tuple = ()
    aten: tuple[str, ...] = ()
    advice: str = ""
    when: Callable[..., bool] | None = None
    lazy: tuple[str, ...] = ()

    @property
    def hint(self) -> str:
        advice = f"; {self.advice}" if self.advice else ""
        return f"this exercise asks you to write {self.task} yourself; do not call {{name}}{advice}"

    def __add__(self, other: Any) -> Forbidden:  # two exercises' lists in one check
        if not isinstance(other, Forbidden):
            return NotImplemented
        return self._replace(
            targets=self.targets + other.targets,
            aten=self.aten + other.aten,
            lazy=self.lazy + other.lazy,
        )

    def active(self) -> contextlib.AbstractContextManager:
        """The context manager that blocks everything listed (see `forbid`)."""
        return forbid(self.hint, *self.targets, aten=self.aten, when=self.when, lazy=self.lazy)


def call_learner(
    func: Callable[..., T],
    *args: Any,
    hint: str,
    forbidden: Forbidden | None = None,
    check_helper: bool = False,
    **kwargs: Any,
) -> T:
    """`func(*args, **kwargs)`, the learner's code, with its errors turned into a hint.

    NotImplementedError (the student edition's stub) and `LibraryShortcut` pass through as they
    are; any other exception becomes `AssertionError("Not yet. Hint: <hint> (the error was ...)")`.
    With `forbidden`, everything it lists raises `LibraryShortcut` during the call; so do the
    checks' own functions (their private references among them), unless the check says
    `check_helper=True`: `func` is then its own helper that runs the learner's module (a
    recording pass). Anything the call replaced among what the checks compare with, or that an
    earlier cell replaced, is restored, and the check fails with a hint (see `_Guard`).
    """
    guard = _Guard()
    own = contextlib.nullcontext() if check_helper else forbid(_OWN_CODE_HINT, *_checks_functions())
    try:
        with own, forbidden.active() if forbidden is not None else contextlib.nullcontext():
            return func(*args, **kwargs)
    except (NotImplementedError, LibraryShortcut):
        raise
    except Exception as err:
        guard.verify()
        raise AssertionError(
            f"Not yet. Hint: {hint} (the error was {type(err).__name__}: {err})"
        ) from err
    finally:
        guard.verify()


def counting_tools() -> tuple:
    """`Forbidden` targets for the exercises that count parameters or MACs by hand: everything
    that would count for the learner. The course's counters and cost tables (`profile`,
    `costtable`, `widgets`), torch's FLOP counters (`FlopCounterMode`, its formulas,
    `torch.profiler` with `with_flops`), and building a layer to count it (any convolution, and
    `Module.parameters`)."""
    import torch
    import torch.autograd.profiler
    from torch import nn
    from torch.utils import flop_counter

    from .. import costtable, profile

    formulas = ("conv_flop_count", "conv_flop", "conv_backward_flop", "mm_flop", "addmm_flop")
    targets: list = [profile, costtable]
    targets += [(flop_counter, name) for name in formulas if hasattr(flop_counter, name)]
    targets += [
        (flop_counter.FlopCounterMode, "__init__"),
        (flop_counter.FlopCounterMode, "__enter__"),
        (torch.profiler.profile, "__init__"),
        (torch.autograd.profiler.profile, "__init__"),
        (nn.modules.conv._ConvNd, "__init__"),
        (nn.Module, "parameters"),
        (nn.Module, "named_parameters"),
    ]
    try:
        from .. import widgets  # the lessons' explorers count with `profile`
    except ImportError:  # pragma: no cover - ipywidgets missing: nothing to block
        pass
    else:
        targets.append(widgets)
    return tuple(targets)


# --------------------------------------------------------------------------- forbid
def _display_name(owner: Any, name: str) -> str:
    """How a hint names `owner.name`: `torch.nn.functional.batch_norm`, `profile.count_macs`,
    `nn.Linear(...)` for a class's __init__."""
    if isinstance(owner, type):
        prefix = {
            "torch.nn": "nn.",
            "inception_lab.blocks": "blocks.",
            "torch.profiler": "torch.profiler.",
            "torch.autograd.profiler": "torch.autograd.profiler.",
            "torch.optim.lr_scheduler": "torch.optim.lr_scheduler.",
        }
        cls = next((p for m, p in prefix.items() if owner.__module__.startswith(m)), "")
        cls += owner.__name__
        return f"{cls}(...)" if name == "__init__" else f"{cls}.{name}"
    module = getattr(owner, "__name__", type(owner).__name__)
    return f"{module.removeprefix('inception_lab.')}.{name}"


def _expand(targets: Iterable[Any]) -> list[tuple[Any, str]]:
    """(owner, name) pairs; a module stands for every public function defined in it (the
    course's own modules) or every public function it holds (another library's)."""
    pairs: list[tuple[Any, str]] = []
    for target in targets:
        if isinstance(target, types.ModuleType):
            for name, value in vars(target).items():
                if name.startswith("_") or not inspect.isfunction(value):
                    continue
                if value.__module__.split(".")[0] == target.__name__.split(".")[0]:
                    pairs.append((target, name))
        else:
            owner, name = target
            pairs.append((owner, name))
    return pairs


# Code objects `forbid` swapped in, by id: a swapped function raises the message stored here.
_SWAPPED: dict[int, tuple[types.CodeType, str]] = {}
# The wrappers `forbid` put on owners in place of what it blocks (those it cannot swap), by id.
_FORBID_WRAPPERS: dict[int, Callable] = {}


def _shortcut_code(*args: Any, **kwargs: Any) -> None:
    # Runs as the code of a forbidden function, with that function's module globals, which do
    # not know this module: only builtins may be named here.
    raise __import__("inception_lab.checks._common", fromlist=["_"])._swapped_error(
        __import__("sys")._getframe()
    )


def _swapped_error(frame: types.FrameType) -> LibraryShortcut:
    _, message = _SWAPPED.get(id(frame.f_code), (None, "Not yet. Hint: do not call this here"))
    return LibraryShortcut(message)


def _swappable(owner: Any, name: str, value: Any) -> bool:
    """A plain Python function without a closure, defined in a module or as the class's own
    attribute: its code can be swapped, which also catches names bound to it earlier."""
    own = isinstance(owner, types.ModuleType) or name in vars(owner)
    return own and isinstance(value, types.FunctionType) and value.__closure__ is None


class _AtenBlock:
    """A TorchDispatchMode (built on first use) raising `LibraryShortcut` for every ATen op
    whose name contains one of `patterns`: the route to it does not matter."""

    def __new__(cls, hint: str, patterns: tuple[str, ...]) -> Any:
        from torch.utils._python_dispatch import TorchDispatchMode

        class Block(TorchDispatchMode):
            def __torch_dispatch__(self, func, types_, args=(), kwargs=None):
                op = func._schema.name.split("::")[-1]
                if any(p in op for p in patterns):
                    name = f"PyTorch's {op} (torch.ops.aten.{op}, which the library's functions "
                    name += "and layers for it run)"
                    raise LibraryShortcut("Not yet. Hint: " + hint.replace("{name}", name))
                return func(*args, **(kwargs or {}))

        return Block()


@contextlib.contextmanager
def forbid(
    hint: str,
    *targets: Any,
    when: Callable[..., bool] | None = None,
    aten: Iterable[str] = (),
    lazy: Iterable[str] = (),
) -> Iterator:
    """Within the block, each target raises `LibraryShortcut("Not yet. Hint: " + hint)`.

    `targets`: `(owner, name)` attributes (a module's function, a class's method or
    `__init__`), or modules (every public function defined in them). A plain Python function
    has its code swapped, so a name bound to it before the block (`from x import f`) raises too;
    other callables are replaced on their owner. `aten`: substrings of ATen operator names,
    blocked below every Python name (a dispatch mode). `{name}` in `hint` becomes the name of
    what was called. `when(*args, **kwargs)` narrows attribute targets: the original runs unless
    `when` says the call is the shortcut (e.g. only `cross_entropy(..., label_smoothing > 0)`).
    `lazy`: "module:attribute.path" targets in a library the course does not import (timm):
    blocked like `targets` when the module is loaded, and its import refused within the block
    when it is not (importing it costs seconds that no check should spend for a shortcut).
    Everything is restored on exit, even after an error.
    """
    pairs = _expand(targets)
    unloaded: list[str] = []
    for spec in lazy:
        module_name, path = spec.split(":")
        if module_name not in sys.modules:
            unloaded.append(module_name)
            continue
        owner = sys.modules[module_name]
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        pairs.append((owner, name))
    swapped: list[tuple[types.FunctionType, types.CodeType]] = []
    replaced: list[tuple[Any, str, Any, bool]] = []

    def message(owner: Any, name: str) -> str:
        return "Not yet. Hint: " + hint.replace("{name}", _display_name(owner, name))

    def guard(original: Callable, text: str) -> Callable:
        @functools.wraps(original)
        def shortcut(*args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args, **kwargs):
                raise LibraryShortcut(text)
            return original(*args, **kwargs)

        _FORBID_WRAPPERS[id(shortcut)] = shortcut  # a forbid in progress, not the learner's
        return shortcut

    mode = _AtenBlock(hint, tuple(aten)) if aten else contextlib.nullcontext()
    finder = _ImportBlock(hint, tuple(unloaded)) if unloaded else None
    try:
        if finder is not None:
            sys.meta_path.insert(0, finder)
        for owner, name in pairs:
            original = getattr(owner, name)
            if when is None and _swappable(owner, name, original):
                if any(f is original for f, _ in swapped):
                    continue
                code = _shortcut_code.__code__.replace(co_name=original.__code__.co_name)
                _SWAPPED[id(code)] = (code, message(owner, name))
                swapped.append((original, original.__code__))
                original.__code__ = code
            else:
                own = not isinstance(owner, type) or name in vars(owner)
                replaced.append((owner, name, vars(owner).get(name, original), own))
                setattr(owner, name, guard(original, message(owner, name)))
        with mode:
            yield
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)
        for owner, name, original, own in reversed(replaced):
            _FORBID_WRAPPERS.pop(id(vars(owner).get(name)), None)
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        for function, code in swapped:
            _SWAPPED.pop(id(function.__code__), None)
            function.__code__ = code


class _ImportBlock:
    """A `sys.meta_path` finder refusing to import `modules` (and their submodules)."""

    def __init__(self, hint: str, modules: tuple[str, ...]) -> None:
        self.hint, self.modules = hint, modules

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        for module in self.modules:
            if fullname == module or fullname.startswith(module + "."):
                name = f"{module} (imported while your code ran)"
                raise LibraryShortcut("Not yet. Hint: " + self.hint.replace("{name}", name))


_OWN_CODE_HINT = (
    "the checks' own functions compute the expected answers; they are not a solution to call "
    "from your code (you called {name}): write the exercise yourself"
)


def _checks_functions() -> list[tuple[Any, str]]:
    """Every module-level function (public or private) of the lesson checks: references, case
    generators, diagnoses. `_common` (the machinery that runs the learner's code) is left out,
    and so are methods (the checks hand some of their objects to the learner's code)."""
    pairs = []
    for module_name, module in list(sys.modules.items()):
        if (
            module is None
            or not module_name.startswith("inception_lab.checks.")
            or (module_name == __name__)
        ):
            continue
        for name, value in list(vars(module).items()):
            if inspect.isfunction(value) and value.__module__ == module_name:
                pairs.append((module, name))
    return pairs


# --------------------------------------------------------------------------- tampering
def _trusted() -> list[tuple[Any, str]]:
    """What the checks compare with, and so what a learner might replace to fake a pass."""
    import torch
    from torch import nn

    names = {
        torch: ("allclose", "equal", "isclose", "eq"),
        torch.Tensor: (
            "allclose",
            "equal",
            "isclose",
            "__eq__",
            "__ne__",
            "eq",
            "item",
            "tolist",
            "backward",
            "detach",
            "double",
            "float",
            "clone",
            "numel",
            "size",
            "dim",
            "abs",
            "sum",
            "all",
            "any",
        ),
        nn.Module: (
            "__call__",
            "_call_impl",
            "eval",
            "train",
            "parameters",
            "modules",
            "named_modules",
            "register_forward_hook",
            "state_dict",
            "load_state_dict",
        ),
        math: ("isclose", "isfinite", "ceil", "floor"),
        builtins: (
            "isinstance",
            "abs",
            "sum",
            "len",
            "all",
            "any",
            "print",
            "round",
            "int",
            "float",
            "max",
            "min",
            "type",
            "getattr",
            "hasattr",
            "id",
            "sorted",
            "zip",
        ),
    }
    return [(owner, name) for owner, attrs in names.items() for name in attrs]


def _course_attributes() -> list[tuple[Any, str]]:
    """The attributes of the checks and of the course's reference code: module functions and
    the methods of the classes they define."""
    pairs: list[tuple[Any, str]] = []
    prefixes = (
        "inception_lab.checks",
        "inception_lab.blocks",
        "inception_lab.profile",
        "inception_lab.costtable",
        "inception_lab._validate",
        "inception_lab.metrics",
    )
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(prefixes):
            continue
        for name, value in list(vars(module).items()):
            if name.startswith("__"):
                continue
            pairs.append((module, name))
            if isinstance(value, type) and value.__module__ == module_name:
                pairs.extend((value, attr) for attr in vars(value) if not attr.startswith("__"))
                pairs.extend(
                    (value, attr) for attr in ("__init__", "__call__") if attr in vars(value)
                )
    return pairs


def _state(pairs: list[tuple[Any, str]]) -> dict:
    state = {}
    for owner, name in pairs:
        value = (
            vars(owner).get(name, _MISSING)
            if isinstance(owner, type)
            else getattr(owner, name, _MISSING)
        )
        code = getattr(value, "__code__", None)
        state[(id(owner), name)] = (owner, name, value, code)
    return state


_MISSING = object()
# The trusted library functions as they were when the checks loaded (the notebook's first cell),
# before any learner code ran.
_PRISTINE: dict = _state(_trusted())


# The course's attributes as they were when the checks package finished loading (the notebook's
# first cell), before any learner code ran; filled by `snapshot_course` (checks/__init__.py).
_COURSE_PRISTINE: dict = {}


def snapshot_course() -> None:
    """Record the checks' and the course's reference attributes as they are now, once: a
    learner's cell that later replaces one (say `lesson01.require`) is caught at the next check."""
    if not _COURSE_PRISTINE:
        _COURSE_PRISTINE.update(_state(_course_attributes()))


class _Guard:
    """Remembers what the checks rely on before a learner's call; `verify()` after it restores
    whatever the call replaced (an attribute or a function's code) and fails with a hint. What
    was replaced before the call (in an earlier cell) is restored and reported at once."""

    def __init__(self) -> None:
        _restore_and_report(_PRISTINE, _state(_trusted()), before=True)
        now = _state(_course_attributes())
        pristine = {k: v for k, v in _COURSE_PRISTINE.items() if k in now}
        _restore_and_report(pristine, now, before=True)
        self.before = _state(_course_attributes())

    def verify(self) -> None:
        _restore_and_report(_PRISTINE, _state(_trusted()), before=False)
        now = _state(_course_attributes())
        _restore_and_report({k: v for k, v in self.before.items() if k in now}, now, before=False)


def _restore_and_report(want: dict, now: dict, before: bool) -> None:
    changed = []
    for key, (owner, name, value, code) in want.items():
        _, _, current, current_code = now.get(key, (owner, name, _MISSING, None))
        if current is value and current_code is code:
            continue
        if _FORBID_WRAPPERS.get(id(current)) is current:
            continue  # a `forbid` in progress (an attribute it replaced), not the learner's
        if code is not None and current is value and not _SWAPPED.get(id(current_code)):
            value.__code__ = code  # the code was swapped
        elif value is _MISSING:
            delattr(owner, name)
        elif current is not value:
            setattr(owner, name, value)
        else:
            continue  # a `forbid` in progress (its own swap), not the learner's
        changed.append(_display_name(owner, name))
    if changed:
        when = "before the check ran" if before else "while the check ran your code"
        verb = "was" if len(changed) == 1 else "were"
        raise AssertionError(
            f"Not yet. Hint: {', '.join(changed)} {verb} replaced {when}; the check compares your "
            "result with the course's own computation, so it restored the original. Write the "
            "exercise itself rather than changing what it is compared with"
        )


def unseen_seed() -> int:
    """A seed nobody can know in advance, for cases a learner cannot have looked up: a
    right answer passes them whatever the seed, so the output stays the same."""
    return secrets.randbits(62)


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
