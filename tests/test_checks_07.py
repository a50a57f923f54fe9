"""The lesson 07 checks (scaled residual forward, largest stable scale) pass right answers and
answer typical mistakes with their hint."""

import re
import secrets

import pytest
import torch

from inception_lab import blocks, checks, models, train
from inception_lab.checks import LibraryShortcut
from inception_lab.checks.lesson07 import _residual_reference_block


# --------------------------------------------------------------------------- exercise 1
def scaled_residual(x, branches, project, scale):
    mixed = torch.cat([branch(x) for branch in branches], dim=1)
    return torch.relu(x + scale * project(mixed))


def _project(x, branches, project, order=1):
    return project(torch.cat([b(x) for b in branches[::order]], dim=1))


def test_scaled_residual_correct_answer_passes(capsys):
    checks.scaled_residual_forward(scaled_residual)
    assert "Correct" in capsys.readouterr().out


def test_reference_block_is_the_formula():
    # The check's reference: y = ReLU(x + scale * project(concat(branches(x)))), by hand.
    block = _residual_reference_block(0.3)
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        by_hand = scaled_residual(x, list(block.branches.values()), block.project, 0.3)
        assert torch.allclose(block(x), by_hand, atol=1e-6)
    assert [b[-1].out_ch for b in block.branches.values()] == [4, 5]


WRONG_FORWARDS = {
    "no relu": (lambda x, b, p, s: x + s * _project(x, b, p), "the ReLU is missing"),
    "relu on branch": (
        lambda x, b, p, s: x + torch.relu(s * _project(x, b, p)),
        "apply the ReLU AFTER the addition",
    ),
    "scaled shortcut": (
        lambda x, b, p, s: torch.relu(s * (x + _project(x, b, p))),
        "scale only the residual branch",
    ),
    "scaled input": (
        lambda x, b, p, s: torch.relu(s * x + _project(x, b, p)),
        "not the input x",
    ),
    "no shortcut": (lambda x, b, p, s: torch.relu(s * _project(x, b, p)), "add the input x back"),
    "reversed order": (
        lambda x, b, p, s: torch.relu(x + s * _project(x, b, p, order=-1)),
        "in the order given by `branches`",
    ),
    "scale ignored": (
        lambda x, b, p, s: torch.relu(x + _project(x, b, p)),
        "multiply the projected",
    ),
    "fixed scale": (
        lambda x, b, p, s: torch.relu(x + 0.2 * _project(x, b, p)),
        "use the `scale` argument",
    ),
    "sum instead of concat": (
        lambda x, b, p, s: torch.relu(x + s * p(sum(br(x)[:, :4] for br in b))),
        "join their outputs along the channels",
    ),
    "wrong shape": (
        lambda x, b, p, s: torch.cat([br(x) for br in b], dim=1),
        "the input's shape",
    ),
    "no return": (lambda x, b, p, s: None, "return a tensor"),
}


@pytest.mark.parametrize("mistake", WRONG_FORWARDS)
def test_scaled_residual_wrong_answers_get_their_hint(mistake):
    func, hint = WRONG_FORWARDS[mistake]
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        checks.scaled_residual_forward(func)


def _course_block_forward(x, branches, project, scale):
    from types import SimpleNamespace

    fake = SimpleNamespace(
        branches=dict(enumerate(branches)), project=project, scale=scale, in_ch=x.shape[1]
    )
    return blocks.InceptionResNetBlock.forward(fake, x)


def _course_block_rebuilt(x, branches, project, scale):
    block = blocks.InceptionResNetBlock(x.shape[1], {"b": [(4, 1)]}, scale=scale)
    block.branches = torch.nn.ModuleDict({str(i): b for i, b in enumerate(branches)})
    block.project = project
    return block(x)


def _multibranch_concat(x, branches, project, scale):
    from types import SimpleNamespace

    fake = SimpleNamespace(branches=dict(enumerate(branches)), in_ch=x.shape[1])
    return torch.relu(x + scale * project(blocks.MultiBranch.forward(fake, x)))


@pytest.mark.parametrize(
    "shortcut",
    [_course_block_forward, _course_block_rebuilt, _multibranch_concat],
    ids=[
        "InceptionResNetBlock.forward on the given modules",
        "an InceptionResNetBlock rebuilt",
        "MultiBranch.forward for the concatenation",
    ],
)
def test_scaled_residual_rejects_the_course_block(shortcut):
    with pytest.raises(
        AssertionError,
        match=r"^Not yet. Hint: this exercise asks you to write "
        r"the block's forward pass yourself; do not call blocks\.",
    ):
        checks.scaled_residual_forward(shortcut)
    block = _residual_reference_block(0.3)  # restored afterwards
    assert block(torch.zeros(1, 6, 3, 3)).shape == (1, 6, 3, 3)


def test_scaled_residual_exercise_does_not_state_the_formula():
    # the exercise asks for the idea: neither the learner's docstring nor the exercise line of
    # the lesson (nor the lesson's text before the exercise) writes the formula out
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks/07_residual_scaling.ipynb").read_text())
    text = [("".join(c["source"])) for c in nb["cells"]]
    upto = next(i for i, t in enumerate(text) if "checks.scaled_residual_forward" in t)
    before = "\n".join(text[: upto + 1])
    for written in ("ReLU(x + scale", "relu(x + scale", "project(concat", "\\mathrm{ReLU}\\big(x"):
        assert written not in before.split("### BEGIN SOLUTION")[0], written


def test_scaled_residual_random_scale_catches_a_table_of_the_fixed_ones(monkeypatch):
    # right for the three fixed scales only (a table typed from them)

    def table(x, b, p, s):
        return torch.relu(x + {0.2: 0.2, 1.0: 1.0, 0.5: 0.5}.get(s, 0.3) * _project(x, b, p))

    monkeypatch.setattr(secrets, "randbits", lambda bits: 0)
    with pytest.raises(AssertionError, match="Hint:"):
        checks.scaled_residual_forward(table)


def test_scaled_residual_lets_the_student_stub_through():
    """The student edition's stub raises NotImplementedError("Exercise 1: ..."): the learner
    must see that message, not a hint about a failed concatenation."""

    def stub(x, branches, project, scale):
        raise NotImplementedError("Exercise 1: write the forward pass")

    with pytest.raises(NotImplementedError, match="Exercise 1"):
        checks.scaled_residual_forward(stub)


def test_scaled_residual_check_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    checks.scaled_residual_forward(scaled_residual)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------------------------- exercise 2
# A tiny stand-in for the lesson's setting (six residual blocks on the 4x4 grid, five batches of
# random images, a high constant learning rate): quick, and with a boundary between candidates.
TINY_MODEL = {"depth": (0, 0, 6), "width": 0.25, "bn": False}
TINY_FIT = {"lr": 0.5, "schedule": None, "seed": 0, "progress": False}
TINY_CANDIDATES = [1.0, 0.5, 0.3, 0.2, 0.1]


def first_stable(scales, model_kwargs, fit_kwargs, batches, seed):
    """The first scale, in the order given, whose run trains every step without diverging."""
    for scale in scales:
        torch.manual_seed(seed)
        model = models.mini_inception_resnet(scale=scale, **model_kwargs)
        try:
            train.fit(model, (batches, None), 1, **fit_kwargs)
        except train.TrainingDiverged:
            continue
        return scale
    return None


def find_largest_stable(candidates, model_kwargs, fit_kwargs, batches, seed):
    """The lesson's sweep, as the learner writes it."""
    return first_stable(sorted(candidates, reverse=True), model_kwargs, fit_kwargs, batches, seed)


def find_smallest_stable(candidates, model_kwargs, fit_kwargs, batches, seed):
    """A wrong sweep: from the smallest up, so it stops at the first (smallest) stable scale."""
    return find_largest_stable(sorted(candidates)[:1], model_kwargs, fit_kwargs, batches, seed)


@pytest.fixture(scope="module", autouse=True)
def flush_denormals():
    """Diverging runs pass through tiny (denormal) floats, which a CPU handles about 10x more
    slowly; flushing them to zero keeps these tests quick. The check and the fixture below run
    under the same setting, so they agree on which scales diverge."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def tiny_sweep():
    """The batches, and whether each candidate diverges, found by a plain loop over train.fit."""
    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g))
        for _ in range(5)
    ]
    diverged = {}
    for scale in TINY_CANDIDATES:
        torch.manual_seed(0)
        model = models.mini_inception_resnet(scale=scale, **TINY_MODEL)
        try:
            train.fit(model, (batches, None), 1, **TINY_FIT)
            diverged[scale] = False
        except train.TrainingDiverged:
            diverged[scale] = True
    return batches, diverged


def _largest_stable(diverged):
    return max(s for s, d in diverged.items() if not d)


def test_tiny_setting_has_a_boundary(tiny_sweep):
    # Otherwise the tests below could not tell a right answer from a wrong one; a stable scale
    # below the answer lets the check's second sweep (without the answer) move the limit down.
    _, diverged = tiny_sweep
    assert diverged[1.0] and not diverged[0.1]
    best = _largest_stable(diverged)
    assert all(diverged[s] for s in TINY_CANDIDATES if s > best)
    assert best > min(TINY_CANDIDATES)


def check(find, batches):
    checks.largest_stable_scale(find, TINY_CANDIDATES, TINY_MODEL, TINY_FIT, batches, 0)


def test_largest_stable_scale_right_sweep_passes(tiny_sweep, capsys):
    batches, diverged = tiny_sweep
    check(find_largest_stable, batches)
    out = capsys.readouterr().out
    assert out.startswith("Correct") and f"scale {_largest_stable(diverged)}" in out
    # all three calls ran: the answer taken out, and fewer batches (the limit moves up)
    assert "once" in out and "when only the first" in out


def test_largest_stable_scale_rejects_a_typed_number(tiny_sweep):
    """The issue's shortcut: the number printed above the exercise, typed in."""
    batches, diverged = tiny_sweep
    best = _largest_stable(diverged)
    with pytest.raises(AssertionError, match=r"Hint: .*pass your sweep function itself"):
        check(best, batches)
    with pytest.raises(AssertionError, match=r"Hint: .*not one of them"):
        check(lambda *args: best, batches)  # a "sweep" that returns the typed number


def test_largest_stable_scale_when_every_candidate_is_stable(tiny_sweep, capsys):
    """The answer is then the largest candidate, with nothing above it to compare (this crashed
    the check once, in a smoke run where 2 steps left every scale stable)."""
    batches, diverged = tiny_sweep
    stable = [s for s in TINY_CANDIDATES if not diverged[s]]
    checks.largest_stable_scale(find_largest_stable, stable, TINY_MODEL, TINY_FIT, batches, 0)
    assert "(it is the largest candidate)" in capsys.readouterr().out


def test_largest_stable_scale_rejects_a_typed_limit(tiny_sweep):
    """A "sweep" built around the typed limit: the largest candidate up to it. It survives the
    second call (the answer taken out), but not the third, on fewer batches, where the next
    larger scale trains too."""
    batches, diverged = tiny_sweep
    best = _largest_stable(diverged)
    with pytest.raises(AssertionError, match=r"Hint: .*not from a limit found before"):
        check(lambda c, *args: max(s for s in c if s <= best), batches)


def test_largest_stable_scale_rejects_a_sweep_over_other_batches(tiny_sweep):
    """The right loop, but over the notebook's own batches instead of the argument."""
    batches, _ = tiny_sweep

    def sweep_ignoring_batches(candidates, model_kwargs, fit_kwargs, _batches, seed):
        return find_largest_stable(candidates, model_kwargs, fit_kwargs, batches, seed)

    with pytest.raises(AssertionError, match=r"Hint: .*the batches your function is given"):
        check(sweep_ignoring_batches, batches)


def test_largest_stable_scale_too_large_gets_a_hint(tiny_sweep):
    batches, diverged = tiny_sweep
    too_large = min(s for s in TINY_CANDIDATES if s > _largest_stable(diverged))
    with pytest.raises(AssertionError, match=r"Hint: .*diverges: training raises"):
        check(lambda c, *args: too_large if too_large in c else max(c), batches)


def test_largest_stable_scale_ascending_sweep_gets_a_hint(tiny_sweep):
    batches, _ = tiny_sweep
    with pytest.raises(AssertionError, match=r"Hint: .*also trains without diverging"):
        check(find_smallest_stable, batches)


def test_largest_stable_scale_rejects_a_sweep_in_the_given_order(tiny_sweep):
    """A loop over the candidates in the order given (no sort) passes the first call, whose
    candidates come largest first, but not the second, which gives them in ascending order."""
    batches, _ = tiny_sweep
    with pytest.raises(AssertionError, match=r"Hint: "):
        check(first_stable, batches)  # the candidates in the order given, unsorted


@pytest.mark.parametrize(
    ("answer", "hint"),
    [(None, "returned None"), ("0.3", "should return a number")],
)
def test_largest_stable_scale_bad_answers_get_a_hint(tiny_sweep, answer, hint):
    batches, _ = tiny_sweep
    with pytest.raises(AssertionError, match="Hint: .*" + re.escape(hint)):
        check(lambda *args: answer, batches)


def test_largest_stable_scale_lets_the_student_stub_through(tiny_sweep):
    def stub(*args):
        raise NotImplementedError("Exercise 2: try the candidate scales")

    with pytest.raises(NotImplementedError, match="Exercise 2"):
        check(stub, tiny_sweep[0])


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def test_shortcut_the_checks_own_trainer_is_refused(tiny_sweep):
    """Shortcut: the check's private `lesson07._Setting`, which trains a scale and says whether it
    diverged, in place of building, training and catching TrainingDiverged."""
    from inception_lab.checks import lesson07

    def borrowed(candidates, model_kwargs, fit_kwargs, batches, seed):
        setting = lesson07._Setting(model_kwargs, fit_kwargs, batches, seed)
        return next((s for s in sorted(candidates, reverse=True) if setting.stable(s)), None)

    batches, _ = tiny_sweep
    with pytest.raises(LibraryShortcut, match=r"write the sweep yourself; do not call .*_Setting"):
        check(borrowed, batches)


def test_shortcut_the_checks_private_reference_block_is_refused():
    """Shortcut: the check's private `_residual_reference_block`, run on x."""
    from inception_lab.checks import lesson07

    def borrowed(x, branches, project, scale):
        return lesson07._residual_reference_block(scale)(x)

    with pytest.raises(LibraryShortcut, match=r"lesson07._residual_reference_block"):
        checks.scaled_residual_forward(borrowed)
