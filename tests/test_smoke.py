"""Smoke runs (`make smoke-gpu`): a parameter, not an environment variable.

`make smoke-gpu` passes SMOKE_STEPS=2 to every notebook (papermill); the notebooks hand it to each
training call (`fit(..., smoke_steps=SMOKE_STEPS)`, `experiments.train_one(...)`,
`predict(..., max_batches=SMOKE_STEPS)`), which then trains at most SMOKE_MAX_EPOCHS epochs of
SMOKE_STEPS batches and evaluates SMOKE_STEPS batches.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from inception_lab import blocks, checks, train

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


class CountingLoader:
    """10 batches of 4 images; counts the batches each pass (epoch or evaluation) yields."""

    def __init__(self, batches: int = 10):
        torch.manual_seed(0)
        self.batches = [
            (torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4,))) for _ in range(batches)
        ]
        self.passes: list[int] = []

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        self.passes.append(0)
        for batch in self.batches:
            self.passes[-1] += 1
            yield batch


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def test_without_smoke_steps_nothing_is_cut():
    train_l, val_l = CountingLoader(), CountingLoader()
    history = train.fit(tiny_model(), (train_l, val_l), 5, progress=False, device="cpu")
    assert train_l.passes == [10] * 5 and val_l.passes == [10] * 5
    assert len(history) == 5 and history.config["steps_per_epoch"] == 10
    assert train.evaluate(tiny_model(), val_l)["n"] == 40


def test_a_smoke_run_trains_two_epochs_of_a_few_steps_and_evaluates_a_few_batches():
    train_l, val_l = CountingLoader(), CountingLoader()
    history = train.fit(
        tiny_model(), (train_l, val_l), 5, progress=False, device="cpu", smoke_steps=3
    )
    # islice stops after the 3rd batch: the loader is asked for no 4th one
    assert train_l.passes == [3, 3] and val_l.passes == [3, 3]
    assert len(history) == 2 == train.SMOKE_MAX_EPOCHS
    assert history.config["epochs"] == 2 and history.config["steps_per_epoch"] == 3
    assert history.config["total_steps"] == 6 and history.config["smoke_steps"] == 3
    assert train.evaluate(tiny_model(), val_l, max_batches=3)["n"] == 12
    probs, labels = train.predict(tiny_model(), val_l, max_batches=3)
    assert probs.shape == (12, 3) and torch.equal(
        labels, torch.cat([b[1] for b in val_l.batches[:3]])
    )


def test_smoke_steps_only_tightens_the_other_limits():
    train_l = CountingLoader()
    one = train.fit(tiny_model(), (train_l, None), 1, smoke_steps=3, progress=False, device="cpu")
    assert len(one) == 1 and train_l.passes == [3]  # fewer epochs than the smoke cap: kept
    train_l = CountingLoader()
    train.fit(
        tiny_model(),
        (train_l, None),
        2,
        steps_per_epoch=2,
        smoke_steps=3,
        progress=False,
        device="cpu",
    )
    assert train_l.passes == [2, 2]  # steps_per_epoch below smoke_steps: kept
    assert train.FitConfig(smoke_steps=3).cap_batches(None) == 3
    assert train.FitConfig(smoke_steps=3).cap_batches(5) == 3
    assert train.FitConfig().cap_batches(5) == 5


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "2"])
def test_a_bad_smoke_steps_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="smoke_steps must be an integer >= 1"):
        train.fit(tiny_model(), (CountingLoader(), None), 1, smoke_steps=bad)
    with pytest.raises(ValueError, match="max_batches must be an integer >= 1"):
        train.evaluate(tiny_model(), CountingLoader(), max_batches=bad)


def test_nothing_reads_an_environment_variable(monkeypatch):
    monkeypatch.setenv("INCEPTION_LAB_SMOKE_STEPS", "2")
    train_l = CountingLoader()
    history = train.fit(tiny_model(), (train_l, None), 3, progress=False, device="cpu")
    assert train_l.passes == [10] * 3 and len(history) == 3
    assert not (ROOT / "inception_lab" / "smoke.py").exists()


# --------------------------------------------------------------------------- the notebooks
def code_cells(path: Path) -> list[tuple[int, str, list[str]]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [
        (i, "".join(c["source"]), c["metadata"].get("tags", []))
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_takes_smoke_steps_as_a_parameter(path):
    cells = code_cells(path)
    (params,) = [src for _, src, tags in cells if "parameters" in tags]
    assert re.search(r"^SMOKE_STEPS = None\b", params, re.MULTILINE), params
    for i, src, _ in cells:
        assert "smoke." not in src and "INCEPTION_LAB_SMOKE_STEPS" not in src, (path.name, i)


# The calls that train or evaluate, and the keyword that cuts them short in a smoke run.
SMOKE_KEYWORD = {
    ("train", "fit"): "smoke_steps",
    ("experiments", "train_one"): "smoke_steps",
    ("checks", "capstone_challenge"): "smoke_steps",
    ("train", "predict"): "max_batches",
    ("train", "evaluate"): "max_batches",
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_training_call_in_a_notebook_passes_smoke_steps(path):
    """A call that trains without SMOKE_STEPS would run in full in `make smoke-gpu` (a call with
    **kwargs, like the exercise that receives fit's options, passes whatever it is given)."""
    for i, src, _ in code_cells(path):
        lines = [line for line in src.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            keyword = SMOKE_KEYWORD.get((owner, node.func.attr))
            if keyword is None:
                continue
            given = {k.arg for k in node.keywords}
            assert keyword in given or None in given, (
                f"{path.name}, cell {i}: {ast.unparse(node)} does not pass {keyword}=SMOKE_STEPS"
            )


def good_stage(in_ch, grid):  # lesson 10's solution (as in test_checks_10.py)
    widths = {16: (16, 16, 24, 8, 12, 8), 8: (32, 32, 48, 12, 16, 16), 4: (48, 48, 64, 16, 24, 24)}
    return blocks.InceptionA(in_ch, *widths[grid], pool="max", bn=True)


def test_the_capstone_check_in_a_smoke_run_trains_a_few_steps_and_gives_no_verdict(
    monkeypatch, capsys
):
    runs, evaluated = [], []
    real_fit, real_evaluate = train.fit, train.evaluate

    def fit(*args, **kwargs):
        runs.append(real_fit(*args, **kwargs).config)

    def evaluate(*args, **kwargs):
        evaluated.append(real_evaluate(*args, **kwargs)["n"])
        return {"acc": 0.0}

    monkeypatch.setattr(train, "fit", fit)
    monkeypatch.setattr(train, "evaluate", evaluate)
    checks.capstone_challenge(good_stage, smoke_steps=1)
    assert "no verdict" in capsys.readouterr().out
    assert [(r["epochs"], r["steps_per_epoch"]) for r in runs] == [(2, 1), (2, 1)]
    batch = checks.CAPSTONE_TRAINING["data"]["batch_size"]
    assert len(evaluated) == 2 and all(0 < n <= batch for n in evaluated)  # one batch each


def test_course_passes_smoke_steps_to_papermill(monkeypatch, tmp_path):
    """`make smoke-gpu` = `course.py run --budget gpu --smoke-steps 2`: the notebook gets
    SMOKE_STEPS=2 as a papermill parameter."""
    import papermill

    import course

    seen = {}

    def execute_notebook(src, out, parameters, **kwargs):
        seen.update(parameters)
        Path(out).write_text(Path(src).read_text(encoding="utf-8"), encoding="utf-8")

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    src = ROOT / "notebooks" / "02_bottleneck_1x1.ipynb"
    result = course.run_notebook(src, tmp_path / "out.ipynb", "gpu", None, None, smoke_steps=2)
    assert result.status == "ok" and seen == {"BUDGET": "gpu", "SMOKE_STEPS": 2}
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nsmoke-gpu:")[1].split("\n\n")[0]
    assert "--smoke-steps 2" in recipe and "INCEPTION_LAB_SMOKE_STEPS" not in makefile
