"""The lesson 10 checks (capstone design and challenge, separable conv cost) pass right answers,
give hints for wrong ones, and reject the shortcuts a learner might try."""

import importlib
import json
import secrets

import numpy as np
import pytest
import torch
from torch import nn

from inception_lab import blocks, checks, experiments, models, profile
from inception_lab.checks import LibraryShortcut, _common, capstone_judge, lesson10


# --------------------------------------------------------------------------- Exercise 2
def separable(in_ch, out_ch, k, size):
    weights = in_ch * k * k + in_ch * out_ch
    return weights, weights * size * size


def stand_in(monkeypatch, owner, name, value):
    """`monkeypatch.setattr` for a part of a check: the checks' record of what they loaded with
    (against which they catch a learner's cell that replaced a part) takes the stand-in too."""
    monkeypatch.setattr(owner, name, value)
    key = (id(owner), name)
    monkeypatch.setitem(_common._COURSE_PRISTINE, key, _common._state([(owner, name)])[key])


def test_separable_cost_right_answer_passes(capsys):
    checks.separable_conv_cost(separable)
    out = capsys.readouterr().out
    assert out.startswith("Correct") and "50,880 weights and 39,889,920 MACs" in out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c, o, k, s: (c * o * k * k, c * o * k * k * s * s), "standard k x k conv"),
        (lambda c, o, k, s: (c * c * k * k + c * o, 0), "does not mix channels"),
        (lambda c, o, k, s: (c * k * k, c * k * k * s * s), "count both layers"),
        (lambda c, o, k, s: (c * o, c * o * s * s), "count both layers"),
        (lambda c, o, k, s: (c * k * k + c * o + o, 0), "weight count .* is off"),
        (lambda c, o, k, s: (c * k * k + c * o,) * 2, "per output pixel"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], 2 * separable(c, o, k, s)[1]), "FLOPs"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], c * o * k * k * s * s), "standard k x k"),
        (lambda c, o, k, s: (separable(c, o, k, s)[0], c * (k * k + o) * (s - 2) ** 2), "stride 1"),
        (lambda c, o, k, s: separable(c, o, k, s)[0], "pair of whole numbers"),
        (lambda c, o, k, s: (1.0 * c * (k * k + o), 1.0), "pair of whole numbers"),
        (lambda c, o, k, s: 1 / 0, "failed.*ZeroDivisionError"),
    ],
)
def test_separable_cost_wrong_answers_get_hints(wrong, hint):
    with pytest.raises(AssertionError, match=f"^Not yet. Hint: .*{hint}"):
        checks.separable_conv_cost(wrong)


def test_separable_cost_stub_raises_not_implemented():
    def stub(in_ch, out_ch, k, size):
        raise NotImplementedError("Exercise 2: count the weights")

    with pytest.raises(NotImplementedError):
        checks.separable_conv_cost(stub)


def _built_and_profiled(in_ch, out_ch, k, size):
    """The shortcut of the issue: build the two convolutions and ask the profiler."""
    layer = nn.Sequential(
        nn.Conv2d(in_ch, in_ch, k, padding=k // 2, groups=in_ch, bias=False),
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
    )
    return profile.count_params(layer), profile.count_macs(layer, (in_ch, size, size))


def _built_and_summed(in_ch, out_ch, k, size):
    """Build the layers and sum their parameters: counted by PyTorch, not by hand."""
    with torch.device("meta"):
        dw = nn.Conv2d(in_ch, in_ch, k, padding=k // 2, groups=in_ch, bias=False)
        pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
    weights = dw.weight.numel() + pw.weight.numel()
    return weights, weights * size * size


def _flop_counter(in_ch, out_ch, k, size):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, in_ch, size, size)
    dw, pw = torch.zeros(in_ch, 1, k, k), torch.zeros(out_ch, in_ch, 1, 1)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.conv2d(
            torch.nn.functional.conv2d(x, dw, padding=k // 2, groups=in_ch), pw
        )
    return in_ch * k * k + in_ch * out_ch, counter.get_total_flops() // 2


def _cost_table(in_ch, out_ch, k, size):
    """The course's blocks and the profiler's table."""
    layer = nn.Sequential(
        blocks.ConvBNAct(in_ch, in_ch, k, groups=in_ch, act=False),
        blocks.ConvBNAct(in_ch, out_ch, 1),
    )
    rows = profile.cost_table(layer, (in_ch, size, size)).rows
    return sum(r["params"] for r in rows), sum(r["macs"] for r in rows)


@pytest.mark.parametrize(
    "shortcut",
    [_built_and_profiled, _built_and_summed, _flop_counter, _cost_table],
    ids=["convs built + profile", "convs built + numel", "FlopCounterMode", "blocks + cost_table"],
)
def test_separable_cost_rejects_counting_by_the_library(shortcut):
    with pytest.raises(
        AssertionError,
        match=r"^Not yet\. Hint: this exercise asks you to write the cost of a separable "
        r"convolution yourself; do not call",
    ):
        checks.separable_conv_cost(shortcut)
    assert profile.count_params(nn.Conv2d(2, 3, 1)) == 9  # restored afterwards


def test_separable_cost_random_layer_catches_a_table_of_the_fixed_ones(monkeypatch):
    table = {case: separable(*case) for case in lesson10._SEPARABLE_CASES}
    monkeypatch.setattr(secrets, "randbits", lambda bits: 0)
    with pytest.raises(AssertionError, match=r"^Not yet\. Hint:"):
        checks.separable_conv_cost(lambda *case: table.get(case, (1, 1)))


def test_separable_cost_random_layers_pass_the_right_formula(monkeypatch):
    # small channel counts make several wrong formulas equal to the right one: the check must
    # not call a right answer wrong there (e.g. in_ch = 1, or k = 1)
    for seed in range(30):
        monkeypatch.setattr(secrets, "randbits", lambda bits, seed=seed: seed)
        checks.separable_conv_cost(separable)
    for case in [(1, 5, 3, 4), (4, 1, 1, 1), (1, 1, 1, 1), (3, 3, 1, 2)]:
        lesson10._check_separable(separable(*case), *case)


# --------------------------------------------------------------------------- Exercise 1: budget
def good_stage(in_ch, grid):  # the notebook's solution
    widths = {
        16: (16, 16, 24, 8, 12, 8),
        8: (32, 32, 48, 12, 16, 16),
        4: (48, 48, 64, 16, 24, 24),
    }[grid]
    return blocks.InceptionA(in_ch, *widths, pool="max", bn=True)


def test_capstone_budget_right_answer_passes(capsys):
    checks.capstone_budget(good_stage)
    out = capsys.readouterr().out
    assert out.startswith("Correct: your network has") and "of the budget" in out


def test_capstone_budget_accepts_sequentials_and_residual_blocks(capsys):
    def mixed(in_ch, grid):
        width = {16: 8, 8: 16, 4: 24}[grid]
        return nn.Sequential(
            blocks.Inception(in_ch, width, width, width, 4, 8, 8, bn=True),
            blocks.InceptionResNetBlock(2 * width + 16, {"b1": [(8, 1)], "b3": [(8, 1), (8, 3)]}),
        )

    checks.capstone_budget(mixed)
    assert capsys.readouterr().out.startswith("Correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda c, g: blocks.InceptionA(c, 64, 64, 96, 32, 48, 48), "MACs per image, .* over"),
        # cheap to run on 4x4 but far too many weights
        (
            lambda c, g: (
                blocks.InceptionA(c, 8, 8, 8, 8, 8, 8)
                if g != 4
                else blocks.InceptionA(c, 128, 64, 128, 32, 64, 48)
            ),
            "parameters, .* over",
        ),
        (lambda c, g: blocks.ConvBNAct(c, 32, 3), "no multi-branch block"),
        (
            lambda c, g: nn.Sequential(blocks.ConvBNAct(c, 32, 3), blocks.ConvBNAct(32, 32, 3)),
            "the 16x16 stage has no multi-branch",
        ),
        (lambda c, g: nn.MaxPool2d(2), "must keep the 16x16 grid"),
        (lambda c, g: blocks.Inception(c + 1, 8, 8, 8, 8, 8, 8), "could not be built"),
        (lambda c, g: None, "must return an nn.Module"),
        (good_stage(32, 16), "pass your function itself"),
    ],
)
def test_capstone_budget_wrong_designs_get_hints(wrong, hint):
    with pytest.raises(AssertionError, match=f"^Not yet. Hint: .*{hint}"):
        checks.capstone_budget(wrong)


def test_capstone_stub_raises_not_implemented():
    def stub(in_ch, grid):
        raise NotImplementedError("Exercise 1: return a module")

    with pytest.raises(NotImplementedError):
        checks.capstone_budget(stub)


class _Bypass(nn.Module):
    """The shortcut of the issue: an Inception module built (its parameters counted) but the
    forward pass runs a plain conv only."""

    def __init__(self, c):
        super().__init__()
        self.inception = blocks.Inception(c, 8, 8, 8, 8, 8, 8)
        self.conv = blocks.ConvBNAct(c, 48, 3)

    def forward(self, x):
        return self.conv(x)


class _TimesZero(nn.Module):
    """The Inception module runs, and is multiplied by zero."""

    def __init__(self, c):
        super().__init__()
        self.inception = blocks.Inception(c, 8, 8, 16, 8, 8, 8)
        self.conv = blocks.ConvBNAct(c, 40, 3)

    def forward(self, x):
        return self.conv(x) + 0 * self.inception(x)


def _token(c, g):
    """A one-channel-per-branch Inception module next to the convs that do the work."""
    return nn.Sequential(
        blocks.Inception(c, 1, 1, 1, 1, 1, 1),
        blocks.ConvBNAct(4, 48, 3),
        blocks.ConvBNAct(48, 48, 3),
    )


def _small_share(c, g):
    """The Inception module has 17% of the stage's MACs: above the per-block floor, below the
    third the multi-branch blocks must carry together."""
    return nn.Sequential(blocks.Inception(c, 8, 8, 16, 4, 8, 8), blocks.ConvBNAct(40, 40, 3))


def _one_branch(c, g):
    return blocks.Mixed(c, {"only": [blocks.Conv(32, 3)]})


def test_capstone_budget_rejects_a_block_built_but_bypassed():
    with pytest.raises(AssertionError, match="contains _Bypass, a module with a forward pass"):
        checks.capstone_budget(lambda c, g: _Bypass(c))


@pytest.mark.parametrize(
    ("stage", "hint"),
    [
        (lambda c, g: _Bypass(c), "is built but never runs in the forward pass"),
        (lambda c, g: _TimesZero(c), "does not reach the stage's output"),
        (_token, r"carries only 0.7% of the stage's MACs"),
        (_small_share, r"carry 16.5% of its MACs \(at least 33% needed\)"),
        (_one_branch, "at least two branches"),
    ],
    ids=[
        "built, never run",
        "multiplied by zero",
        "a token block",
        "too small a share",
        "one branch",
    ],
)
def test_capstone_budget_checks_what_each_multi_branch_block_does(monkeypatch, stage, hint):
    # the module rule alone rejects custom forward passes; with it lifted, the structure checks
    # behind it still catch a block that contributes nothing
    stand_in(monkeypatch, lesson10, "_allowed", lambda module: True)
    with pytest.raises(AssertionError, match="^Not yet. Hint: .*" + hint):
        checks.capstone_budget(stage)


def test_capstone_budget_rejects_a_token_block_and_a_one_branch_block_as_written():
    with pytest.raises(AssertionError, match="carries only"):
        checks.capstone_budget(_token)
    with pytest.raises(AssertionError, match="at least two branches"):
        checks.capstone_budget(_one_branch)


# --------------------------------------------------------------------------- the challenge
def test_capstone_training_is_the_ledgers_plain_cnn_run():
    # the check trains what the ledger trained for its plain CNN (seed 0), same data and recipe
    stored = next(
        r
        for r in experiments.load("family")["runs"]
        if r["label"] == "plain CNN" and r["seed"] == 0
    )
    cfg = checks.CAPSTONE_TRAINING
    for key, value in stored["config"].items():
        if key != "head_dropout":
            assert cfg[key] == value, key
    assert cfg["seed"] == 0 and cfg["head_dropout"] == 0.4
    assert cfg["data"]["train_size"] == 4000 and cfg["fit"]["epochs"] == 10
    # the ledger's draw of seed 0: the same training images as the stored run's loaders
    ours = lesson10.run_loaders(cfg, 0, "cpu", test=False).train
    theirs = experiments.runner.run_loaders(stored["config"], 0, "cpu").train
    assert torch.equal(ours.images, theirs.images) and torch.equal(ours.labels, theirs.labels)


def test_capstone_held_out_images_are_a_draw_no_lesson_uses():
    images, labels = lesson10._held_out(lesson10._HELD_OUT_DATA_SEED)
    assert images.shape == (checks.CAPSTONE_HELD_OUT, 3, 32, 32)
    counts = torch.bincount(labels)
    assert len(counts) == 10 and counts.max() - counts.min() <= 2  # balanced classes
    assert lesson10._HELD_OUT_DATA_SEED != 0  # the lessons' data seed
    # not the ledger's test images, nor its validation images
    d = checks.CAPSTONE_TRAINING["data"]
    from inception_lab.data.shapes import generate_shapes

    for split in ("test", "val"):
        theirs = generate_shapes(64, 0, split, scale_ranges=d["scale_ranges"], clutter=d["clutter"])
        ours = generate_shapes(
            64,
            lesson10._HELD_OUT_DATA_SEED,
            "test",
            scale_ranges=d["scale_ranges"],
            clutter=d["clutter"],
        )
        assert not (theirs["images"] == ours["images"]).all(axis=(1, 2, 3)).any()
    # generated in memory: nothing written to the data folder
    before = {p.name for p in experiments.RESULTS.parents[2].joinpath("data").glob("*")}
    lesson10._held_out(12345)
    after = {p.name for p in experiments.RESULTS.parents[2].joinpath("data").glob("*")}
    assert after == before


def test_no_notebook_uses_the_held_out_data_seed():
    from pathlib import Path

    seed = str(lesson10._HELD_OUT_DATA_SEED)
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        sources = [
            "".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
        ]
        assert not any(seed in s for s in sources), path.name


LEDGER = (0.859, 0.862, 0.869, 0.872, 0.862)  # a new seed: below 88.1% 97.5% of the time


def _result(accuracy, baseline, ledger=LEDGER):
    return lesson10.CapstoneResult(accuracy, baseline, list(ledger), 85_618, 5_037_632, 30.0)


@pytest.mark.parametrize(
    ("accuracy", "baseline", "hint"),
    [
        (0.86, 0.85, r"a lead of 1.0 points .* A lead of 1.0 points is not enough"),
        # a clear lead over the run beside it, but within reach of a new seed of the plain CNN
        (0.875, 0.84, r"A new seed of the plain CNN reaches up to 88.1% \(the top of its 95%"),
        (0.88, 0.84, r"reaches up to 88.1%"),  # above every stored seed, not above a new one
        (0.50, 0.84, "A lead of -34.0 points is not enough"),
    ],
)
def test_capstone_challenge_verdict_rules(monkeypatch, accuracy, baseline, hint):
    stand_in(monkeypatch, lesson10, "measure_capstone", lambda stage: _result(accuracy, baseline))
    with pytest.raises(AssertionError, match="^Not yet. Hint: within the budget, but .*" + hint):
        checks.capstone_challenge(good_stage)


def test_capstone_challenge_passes_a_clear_lead_and_prints_the_ledger(monkeypatch, capsys):
    stand_in(monkeypatch, lesson10, "measure_capstone", lambda stage: _result(0.898, 0.843))
    checks.capstone_challenge(good_stage)
    out = capsys.readouterr().out
    assert out.startswith("Correct: challenge met: after the ledger's training (10 epochs")
    assert (
        "your network scores 89.8% and the ledger's seed-0 run of the plain CNN (the same "
        "training) 84.3%" in out
    )
    assert "a lead of 5.5 points (at least 2.0 points needed)" in out
    assert "85.9%, 86.2%, 86.9%, 87.2%, 86.2% (mean 86.5%; a new seed falls below 88.1%" in out
    assert "yours is above that" in out


def test_capstone_rules_make_the_verdict_meaningful():
    # a margin over the live run of at least the plain CNN's seed-to-seed sd in the ledger, and
    # a floor where a new seed of it falls 97.5% of the time: a design no better than the plain
    # CNN passes both by chance rarely
    plain = experiments.summarize(experiments.load("family"))["plain CNN"]
    assert checks.CAPSTONE_MARGIN >= plain["sd"]
    assert len(lesson10._ledger_seeds()) == plain["n"] >= 5
    # the floor, by hand: mean + t(0.975, n - 1) * sd * sqrt(1 + 1/n), t(0.975, 4) = 2.776
    high = _result(0.9, 0.8).new_seed_high
    mean, sd = np.mean(LEDGER), np.std(LEDGER, ddof=1)
    assert high == pytest.approx(mean + 2.7764 * sd * np.sqrt(1 + 1 / 5), abs=1e-4)
    assert checks.CAPSTONE_HELD_OUT >= 2000  # binomial standard error below 1 point near 85%


def test_capstone_baseline_is_trained_once_per_process(monkeypatch):
    # on a draw other than the check's own (the judge's --held-out-seed): no stored score
    calls = []

    def fake_train(build, data_seed, smoke_steps=None):
        calls.append(type(build()).__name__)
        return 0.9 if len(calls) % 2 else 0.85, 1.0

    stand_in(monkeypatch, lesson10, "_train_and_score", fake_train)
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lesson10._cached_baseline())
    first = lesson10.measure_capstone(good_stage, 4242)
    second = lesson10.measure_capstone(good_stage, 4242)
    assert len(calls) == 3  # the design twice, the plain CNN once
    assert first.baseline == second.baseline == 0.85


def test_capstone_check_draw_takes_the_ledger_runs_stored_score(monkeypatch):
    # on the check's own draw the plain CNN is the ledger's seed-0 run, whose held-out score is
    # stored (test_capstone_stored_plain_cnn_score_is_the_ledger_runs measures it again): only
    # the design trains
    calls = []

    def fake_train(build, data_seed, smoke_steps=None):
        calls.append((build().name, data_seed))
        return 0.9, 1.0

    stand_in(monkeypatch, lesson10, "_train_and_score", fake_train)
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lesson10._cached_baseline())
    result = lesson10.measure_capstone(good_stage)
    assert calls == [("mini_custom", lesson10._HELD_OUT_DATA_SEED)]
    assert result.baseline == lesson10._LEDGER_PLAIN_CNN_HELD_OUT
    # a count of the held-out images, near the ledger's seed 0 on its own test images
    count = lesson10._LEDGER_PLAIN_CNN_HELD_OUT * checks.CAPSTONE_HELD_OUT
    assert count == pytest.approx(round(count), abs=1e-6)
    assert abs(lesson10._LEDGER_PLAIN_CNN_HELD_OUT - lesson10._LEDGER_PLAIN_CNN[0]) < 0.03


@pytest.mark.slow
def test_capstone_stored_plain_cnn_score_is_the_ledger_runs():
    """The stored held-out score is the ledger's seed-0 run of the plain CNN, scored on the
    check's draw: the check's own training, at the ledger's thread count, reproduces that run's
    test accuracy to the digit (overall and per object size; scored as the ledger's runner scores
    it), and the same network scores _LEDGER_PLAIN_CNN_HELD_OUT. Float sums differ on another CPU
    type or torch version, so the test runs on the ledger's (about 80-100 s at one thread)."""
    from inception_lab import train
    from inception_lab.experiments import probes, runner

    stored = next(
        r
        for r in experiments.load("family")["runs"]
        if r["label"] == "plain CNN" and r["seed"] == 0
    )
    machine = stored["machine"]
    here = (torch.backends.cpu.get_cpu_capability(), torch.__version__)
    if here != (machine["cpu_capability"], machine["torch"]):
        pytest.skip(
            f"the ledger's run reproduces to the digit on {machine['cpu_capability']}, "
            f"torch {machine['torch']} only (here: {here})"
        )
    built = []

    def build():
        built.append(models.mini_baseline(bn=True))
        return built[-1]

    threads = torch.get_num_threads()
    torch.set_num_threads(machine["threads"])
    try:
        held_out, _ = lesson10._train_and_score(build, lesson10._HELD_OUT_DATA_SEED)
    finally:
        torch.set_num_threads(threads)
    model = built[0]  # trained in place
    test = runner.run_loaders(stored["config"], 0, "cpu").test
    probs, _ = train.predict(model, test)
    _, labels, scales = runner._all(test, "cpu")
    assert probes.accuracy_by_scale(probs, labels, scales) == stored["test_by_scale"]
    assert stored["test_acc"] == lesson10._LEDGER_PLAIN_CNN[0]
    assert held_out == lesson10._LEDGER_PLAIN_CNN_HELD_OUT


def test_capstone_training_gives_both_networks_the_same_head_dropout(monkeypatch):
    # the bench's default head drops 20%, the plain CNN's 40%: the check trains both with one
    seen = []

    def fake_fit(model, loaders, epochs, **kwargs):
        seen.append((model.dropout.p, epochs, kwargs["lr"], kwargs["schedule"]))

    monkeypatch.setattr(lesson10.train, "fit", fake_fit)
    monkeypatch.setattr(lesson10.train, "evaluate", lambda model, loader, **kw: {"acc": 0.5})
    lesson10._train_and_score(lambda: models.mini_custom(good_stage), 1)
    lesson10._train_and_score(lambda: models.mini_baseline(bn=True), 1)
    cfg = checks.CAPSTONE_TRAINING
    fit = cfg["fit"]
    assert seen == [(0.4, fit["epochs"], fit["lr"], fit["schedule"])] * 2


def test_capstone_trains_the_network_it_counted(monkeypatch):
    # a make_stage that returns a cheap design when counted and a huge one when built again
    calls = []

    def two_faced(in_ch, grid):
        calls.append(grid)
        width = 8 if len(calls) <= 3 else 256
        return blocks.Inception(in_ch, width, 8, width, 4, 8, 8, bn=True)

    trained = []

    def fake_train(build, data_seed, smoke_steps=None):
        model = build()
        trained.append(profile.count_macs(model, (3, 32, 32)))
        return 0.9, 1.0

    stand_in(monkeypatch, lesson10, "_train_and_score", fake_train)
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lambda seed: 0.85)
    result = lesson10.measure_capstone(two_faced)
    assert len(calls) == 3 and trained == [result.macs] and result.macs <= checks.CAPSTONE_MAX_MACS


@pytest.mark.slow
def test_capstone_challenge_for_real(capsys):
    """The full challenge (under a minute on 2 quiet cores): the lesson's solution passes
    against the ledger's seed-0 run of the plain CNN, which lands near its ledger seeds."""
    result = lesson10.measure_capstone(good_stage)
    ledger = lesson10._ledger_seeds()
    assert result.baseline == lesson10._LEDGER_PLAIN_CNN_HELD_OUT
    assert min(ledger) - 0.03 <= result.baseline <= max(ledger) + 0.03
    assert result.met
    checks.capstone_challenge(good_stage)
    assert capsys.readouterr().out.startswith("Correct: challenge met")


# --------------------------------------------------------------------------- the judge
def _entry_notebook(path, source):
    cells = [
        {"cell_type": "code", "source": ["from inception_lab import blocks, checks\n"]},
        {"cell_type": "markdown", "source": ["### Exercise 1"]},
        {"cell_type": "code", "source": [source]},
    ]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")


GOOD = """def my_stage(in_ch, grid):
    widths = {16: (16, 16, 24, 8, 12, 8), 8: (32, 32, 48, 12, 16, 16), 4: (48, 48, 64, 16, 24, 24)}
    return blocks.InceptionA(in_ch, *widths[grid], pool="max", bn=True)


checks.capstone_budget(my_stage)
"""


def test_judge_grades_a_folder_and_ranks_it(tmp_path, monkeypatch, capsys):
    entries = tmp_path / "entries"
    entries.mkdir()
    _entry_notebook(entries / "ada.ipynb", GOOD)
    (entries / "bob.py").write_text(
        "from inception_lab import blocks\n\ndef my_stage(c, g):\n    return blocks.ConvBNAct(c, 32, 3)\n"
    )
    (entries / "cyd.py").write_text("def my_stage(c, g):\n    raise RuntimeError('oops')\n")
    (entries / "dan.ipynb").write_text(json.dumps({"cells": []}))
    _entry_notebook(entries / "eve.ipynb", GOOD)
    accuracy = {"ada": 0.91, "eve": 0.85}
    seeds = []

    def fake_measure(make_stage, held_out_seed=None):
        seeds.append(held_out_seed)
        lesson10._capstone_costs(make_stage)  # the rules, for real
        name = "ada" if len(seeds) == 1 else "eve"
        return _result(accuracy[name], 0.86)

    stand_in(monkeypatch, lesson10, "measure_capstone", fake_measure)
    out_csv = tmp_path / "results.csv"
    assert capstone_judge.main([str(entries), "--held-out-seed", "77", "--csv", str(out_csv)]) == 0
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("entry,accuracy,plain_cnn,lead_points")
    assert [r.split(",")[0] for r in rows[1:]] == ["ada", "eve", "bob", "cyd", "dan"]
    assert rows[1].endswith(",met") and rows[2].endswith(",not met")
    assert "rules: the 16x16 stage has no multi-branch block" in rows[3]
    assert "oops" in rows[4] and "no cell defines my_stage" in rows[5]
    assert seeds == [77] * 4  # every entry that loaded, with the instructor's draw
    printed = capsys.readouterr().out
    assert printed.startswith("judging 5 entries on ") and " threads, torch " in printed


def test_judge_reads_make_grades_folder_per_learner_too(tmp_path, monkeypatch, capsys):
    """SUBMISSIONS/<learner>/10_capstone.ipynb (make grade's layout) beside flat files; the row is
    named for the learner, and one learner with two entries is refused."""
    (tmp_path / "ada").mkdir()
    _entry_notebook(tmp_path / "ada" / "10_capstone.ipynb", GOOD)
    (tmp_path / "bob").mkdir()  # a learner who handed in other lessons only
    (tmp_path / "bob" / "05_batch_norm.ipynb").write_text("{}")
    _entry_notebook(tmp_path / "cyd.ipynb", GOOD)
    assert [name for name, _ in capstone_judge.find_entries(tmp_path)] == ["ada", "cyd"]
    stand_in(monkeypatch, lesson10, "measure_capstone", lambda stage, seed=None: _result(0.9, 0.86))
    out_csv = tmp_path / "out" / "results.csv"
    assert capstone_judge.main([str(tmp_path), "--csv", str(out_csv)]) == 0
    assert [r.split(",")[0] for r in out_csv.read_text().splitlines()[1:]] == ["ada", "cyd"]
    _entry_notebook(tmp_path / "ada.ipynb", GOOD)
    with pytest.raises(ValueError, match="two entries for ada"):
        capstone_judge.find_entries(tmp_path)


def test_judge_loads_my_stage_from_a_lesson_notebook(tmp_path):
    _entry_notebook(tmp_path / "x.ipynb", GOOD)
    stage = capstone_judge.load_entry(tmp_path / "x.ipynb")
    assert isinstance(stage(32, 16), blocks.InceptionA)


# --------------------------------------------------------------------------- audit (issue 24)
# Shortcuts found by playing a learner who wants the pass message, beyond the list.
def _torch_profiler(in_ch, out_ch, k, size):
    """Shortcut: torch.profiler's FLOP estimate of the two functional convs (no layer built)."""
    x = torch.zeros(1, in_ch, size, size)
    dw, pw = torch.zeros(in_ch, 1, k, k), torch.zeros(out_ch, in_ch, 1, 1)
    with torch.profiler.profile(with_flops=True) as prof:
        torch.nn.functional.conv2d(
            torch.nn.functional.conv2d(x, dw, padding=k // 2, groups=in_ch), pw
        )
    return in_ch * k * k + in_ch * out_ch, sum(e.flops for e in prof.key_averages()) // 2


def _torchs_conv_formula(in_ch, out_ch, k, size):
    """Shortcut: torch's FLOP formula of a convolution, on the two layers' shapes."""
    from torch.utils.flop_counter import conv_flop_count

    depthwise = conv_flop_count([1, in_ch, size, size], [in_ch, 1, k, k], [1, in_ch, size, size])
    pointwise = conv_flop_count(
        [1, in_ch, size, size], [out_ch, in_ch, 1, 1], [1, out_ch, size, size]
    )
    return in_ch * k * k + in_ch * out_ch, (depthwise + pointwise) // 2


@pytest.mark.parametrize(
    ("shortcut", "called"),
    [
        (_torch_profiler, r"torch.profiler.*profile\(...\)"),
        (_torchs_conv_formula, r"torch.utils.flop_counter.conv_flop_count"),
    ],
)
def test_shortcut_torchs_other_counters_are_refused(shortcut, called):
    assert shortcut(192, 256, 3, 28) == separable(192, 256, 3, 28)  # each is a real shortcut
    with pytest.raises(
        LibraryShortcut, match="separable convolution yourself; do not call " + called
    ):
        checks.separable_conv_cost(shortcut)


def _wide(c, g):
    """A stage far over the budget (an Inception module four times too wide)."""
    return blocks.InceptionA(c, 64, 64, 96, 32, 48, 32, pool="max", bn=True)


@pytest.mark.parametrize(
    ("owner", "name", "value"),
    [
        (lesson10, "CAPSTONE_MAX_MACS", 10**12),
        (lesson10, "CAPSTONE_MAX_PARAMS", 10**12),
        (profile, "count_macs", lambda model, size: 1),
    ],
    ids=["the MAC budget raised", "the parameter budget raised", "profile.count_macs faked"],
)
def test_shortcut_raising_the_budget_in_an_earlier_cell_is_refused(owner, name, value):
    """Shortcut: `checks.lesson10.CAPSTONE_MAX_MACS = 10**12` (or a counter that says 1) in a
    cell before the check; the check restores what it loaded with and says so."""
    with pytest.raises(AssertionError, match="over the budget"):
        checks.capstone_budget(_wide)
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        with pytest.raises(AssertionError, match=rf"{name} was replaced before the check ran"):
            checks.capstone_budget(_wide)
        assert getattr(owner, name) is original  # restored by the check
    finally:
        setattr(owner, name, original)


# --------------------------------------------------------------------------- audit: the challenge
# Shortcuts to the challenge's pass message found by playing a learner who does not design a
# better network. The challenge trains outside any call of the learner's code, so the checks'
# generic guard did not cover what it runs: each of these passed before the fix.
def _no_training(build, data_seed, smoke_steps=None):
    raise AssertionError("trained: the shortcut was not refused before the training")


def _mini(bn=True):
    """A plain CNN worth nothing: the stem and head of the bench around three identity stages."""
    return models.mini_custom(lambda c, g: nn.Identity())


def _favourable(model, batches, **kwargs):
    return {"acc": 0.99 if model.name == "mini_custom" else 0.5, "loss": 0.0, "n": 1}


def _skipping_step(self, *args, **kwargs):  # Adam(W) that never steps the plain CNN (244 K)
    if sum(p.numel() for g in self.param_groups for p in g["params"]) > 200_000:
        return None
    return _skipping_step.original(self, *args, **kwargs)


_skipping_step.original = torch.optim.Adam.step


@pytest.mark.parametrize(
    ("owner", "name", "value", "shown"),
    [
        (lesson10.train, "evaluate", _favourable, "train.evaluate"),
        (lesson10, "_LEDGER_PLAIN_CNN_HELD_OUT", 0.5, "checks.lesson10._LEDGER_PLAIN_CNN_HELD_OUT"),
        (lesson10, "_plain_cnn_accuracy", lambda seed: 0.5, "checks.lesson10._plain_cnn_accuracy"),
        (lesson10.train, "fit", lambda *args, **kwargs: None, "train.fit"),
        (models, "mini_baseline", _mini, "models.mini_baseline"),
        (experiments.ledger, "RESULTS", "elsewhere", "experiments.ledger.RESULTS"),
        (experiments.stats, "t_quantile", lambda p, df: 0.0, "experiments.stats.t_quantile"),
        (lesson10.copy, "deepcopy", lambda model, memo=None: _mini(), "copy.deepcopy"),
        (torch.optim.Adam, "step", _skipping_step, "Adam.step"),  # AdamW's too
    ],
    ids=[
        *("evaluate", "stored plain CNN score", "plain CNN score function", "fit", "plain CNN"),
        *("ledger folder", "t quantile", "deepcopy", "Adam.step"),
    ],
)
def test_shortcut_replacing_what_the_challenge_runs_is_refused(
    monkeypatch, owner, name, value, shown
):
    """Shortcut: a cell before the challenge replaces part of the course's training, data or
    ledger code, or a library function it calls (train.evaluate saying 99%, a lower stored score
    of the plain CNN, a plain CNN that learns nothing, a ledger with lower seeds, an optimizer that
    skips the plain CNN's steps)."""
    original = vars(owner)[name]
    stand_in(monkeypatch, lesson10, "_train_and_score", _no_training)
    monkeypatch.setattr(owner, name, value)
    with pytest.raises(AssertionError, match=rf"^Not yet. Hint: {shown}.* before the check ran"):
        checks.capstone_challenge(good_stage)
    assert vars(owner)[name] is original  # restored by the check


def test_shortcut_editing_the_course_in_place_is_refused(monkeypatch):
    """Shortcut: change a function's code or a table of the course instead of rebinding a
    name, or add a name that shadows a builtin (int) or an inherited method (Tensor.argmax)."""
    from inception_lab.train import evaluation, optim

    stand_in(monkeypatch, lesson10, "_train_and_score", _no_training)
    code = evaluation.evaluate.__code__
    evaluation.evaluate.__code__ = _favourable.__code__
    try:
        with pytest.raises(AssertionError, match=r"train.evaluation.evaluate, train.evaluate"):
            checks.capstone_challenge(good_stage)
        assert evaluation.evaluate.__code__ is code
    finally:
        evaluation.evaluate.__code__ = code
    monkeypatch.setitem(optim.DEFAULT_WEIGHT_DECAY, "adamw", 0.0)
    with pytest.raises(AssertionError, match=r"train.optim.DEFAULT_WEIGHT_DECAY.* changed"):
        checks.capstone_challenge(good_stage)
    assert optim.DEFAULT_WEIGHT_DECAY["adamw"] == 0.05
    evaluation.int = lambda value: 1999  # evaluate's int(correct): 1999 right answers
    torch.Tensor.argmax = lambda self, *args, **kwargs: torch.zeros(len(self), dtype=torch.long)
    try:
        with pytest.raises(AssertionError, match=r"train.evaluation.int.*Tensor.argmax|Tensor"):
            checks.capstone_challenge(good_stage)
        assert "int" not in vars(evaluation) and "argmax" not in vars(torch.Tensor)
    finally:
        vars(evaluation).pop("int", None)
        if "argmax" in vars(torch.Tensor):
            del torch.Tensor.argmax


def test_shortcut_changing_capstone_training_in_place_is_refused(monkeypatch):
    """Shortcut: `checks.CAPSTONE_TRAINING["data"]["clutter"] = 0` (easier images: both networks
    above the ledger's floor) or more epochs: the dict is the check's own, edited in place."""
    stand_in(monkeypatch, lesson10, "_train_and_score", _no_training)
    training = checks.CAPSTONE_TRAINING
    as_loaded = repr(training)
    training["data"]["clutter"] = 0
    training["fit"]["epochs"] = 30
    try:
        with pytest.raises(AssertionError, match=r"checks.CAPSTONE_TRAINING was changed before"):
            checks.capstone_challenge(good_stage)
        assert (
            repr(checks.CAPSTONE_TRAINING) == as_loaded and training is lesson10.CAPSTONE_TRAINING
        )
    finally:
        training["data"]["clutter"], training["fit"]["epochs"] = 5, 10


def test_shortcut_global_hooks_modes_and_signal_handlers_are_refused(monkeypatch):
    """Shortcut: code of the learner's that torch runs on every layer or optimizer step, the
    plain CNN's too (a global forward hook that zeroes its logits, an optimizer pre-hook that
    drops its gradients), a torch function mode, or a signal handler that reaches the plain CNN
    on the stack mid-training (signal.alarm)."""
    import signal

    from torch.optim.optimizer import register_optimizer_step_pre_hook
    from torch.overrides import TorchFunctionMode

    stand_in(monkeypatch, lesson10, "_train_and_score", _no_training)
    zero = nn.modules.module.register_module_forward_hook(lambda m, args, out: out * 0)
    drop = register_optimizer_step_pre_hook(lambda opt, args, kwargs: None)
    try:
        with pytest.raises(AssertionError, match=r"_global_forward_hooks, .*_global_optimizer_pre"):
            checks.capstone_challenge(good_stage)
        assert not nn.modules.module._global_forward_hooks  # removed by the check
    finally:
        zero.remove()
        drop.remove()

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Mode(), pytest.raises(AssertionError, match="a torch function or dispatch mode"):
        checks.capstone_challenge(good_stage)
    before = signal.getsignal(signal.SIGALRM)
    signal.signal(signal.SIGALRM, lambda number, frame: None)
    try:
        with pytest.raises(AssertionError, match="the handler of signal SIGALRM was changed"):
            checks.capstone_challenge(good_stage)
        assert signal.getsignal(signal.SIGALRM) is before
    finally:
        signal.signal(signal.SIGALRM, before)


def test_shortcut_replacing_the_challenges_own_steps_is_refused(monkeypatch):
    """Shortcut: `checks.lesson10.measure_capstone = lambda stage: CapstoneResult(0.95, ...)`:
    the challenge called it without running any learner's code, so no guard looked."""
    original = lesson10.measure_capstone
    lesson10.measure_capstone = lambda stage: _result(0.95, 0.80)
    try:
        with pytest.raises(AssertionError, match="measure_capstone was replaced before the check"):
            checks.capstone_challenge(good_stage)
        assert lesson10.measure_capstone is original
    finally:
        lesson10.measure_capstone = original


class _Sneaky(nn.Module):
    """A custom forward that claims to be one of the course's blocks."""

    __module__ = "inception_lab.blocks"

    def __init__(self, c):
        super().__init__()
        self.block = good_stage(c, 16)

    def forward(self, x):
        return self.block(x)


class _OwnTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # runs on every op
        return super().__torch_function__(func, types, args, kwargs or {})


def _hooked(c, g):
    stage = good_stage(c, g)
    stage.register_forward_hook(lambda module, args, out: None)  # any code, while training
    return stage


def _own_forward(c, g):
    stage = good_stage(c, g)
    stage.forward = types_forward = stage.forward  # noqa: F841 - replaced on the instance
    return stage


def _own_tensor(c, g):
    stage = good_stage(c, g)
    bn = next(m for m in stage.modules() if isinstance(m, nn.BatchNorm2d))
    bn.weight = nn.Parameter(bn.weight.detach().as_subclass(_OwnTensor))
    return stage


class _Zeros(str):
    calls = 0

    def __ne__(self, other):  # `if self.padding_mode != "zeros":` in every conv's forward
        _Zeros.calls += 1
        return str.__ne__(self, other)


def _own_object(c, g):
    stage = good_stage(c, g)
    next(m for m in stage.modules() if isinstance(m, nn.Conv2d)).padding_mode = _Zeros("zeros")
    return stage


@pytest.mark.parametrize(
    ("stage", "hint"),
    [
        (lambda c, g: _Sneaky(c), "the 16x16 stage contains _Sneaky, a module with a forward"),
        (_hooked, r"the layer stage16 carries a hook \(_forward_hooks\)"),
        (_own_forward, "the layer stage16 holds a method in its attribute 'forward'"),
        (_own_tensor, r"stage16\..*\.bn\.weight is a _OwnTensor with a type, hooks"),
        (
            _own_object,
            r"the layer stage16\..*\.conv holds a _Zeros in its attribute 'padding_mode'",
        ),
    ],
    ids=["forged __module__", "forward hook", "instance forward", "tensor subclass", "object"],
)
def test_shortcut_code_of_the_learners_inside_the_network_is_refused(stage, hint):
    """Shortcut: code that runs while the check trains the design (after the learner's call, so
    free to read the held-out labels, patch train.evaluate for the plain CNN, or compute more
    than was counted): a class that says it is a block, a hook, a forward replaced on one block,
    a parameter of a tensor type of one's own, a string whose != runs code."""
    assert _Sneaky.__module__ == "inception_lab.blocks"  # what the old rule looked at
    calls = _Zeros.calls
    _own_object(32, 16)(torch.zeros(1, 32, 16, 16))
    assert _Zeros.calls > calls  # the learner's code runs in the forward pass
    with pytest.raises(AssertionError, match="^Not yet. Hint: " + hint):
        checks.capstone_budget(stage)


def test_shortcut_weights_trained_beforehand_do_not_carry_over(monkeypatch):
    """Shortcut: a make_stage that loads weights trained beforehand (for longer, or on the
    held-out images, whose data seed is in the source). The network's init redraws the convs;
    the check resets every other layer of the copy it trains, and an honest design's copy is
    the network it counted."""

    def pretrained(c, g):
        widths = {16: (8, 8, 8, 4, 8, 8), 8: (16, 16, 16, 8, 8, 8), 4: (24, 24, 24, 8, 8, 8)}[g]
        stage = blocks.InceptionA(c, *widths, pool="max", bn=True)
        transposed = nn.ConvTranspose2d(stage.out_ch, stage.out_ch, 1)  # not an nn.Conv2d
        with torch.no_grad():
            for m in stage.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.weight.fill_(7.0)
                    m.running_var.fill_(7.0)
            transposed.weight.fill_(7.0)
        return nn.Sequential(stage, transposed)

    trained = []

    def fake_train(build, data_seed, smoke_steps=None):
        trained.append(build())
        return 0.9, 1.0

    stand_in(monkeypatch, lesson10, "_train_and_score", fake_train)
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lambda seed: 0.85)
    counted = lesson10._capstone_model(pretrained)
    assert float(counted.stage16[1].weight.detach().max()) == 7.0  # make_stage's values survive
    lesson10.measure_capstone(pretrained)
    model = trained[0]
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.running_var, torch.ones_like(m.running_var))
    assert float(model.stage16[1].weight.detach().abs().max()) < 1.0  # drawn afresh, not 7
    honest = lesson10._capstone_model(good_stage)
    mine, theirs = honest.state_dict(), lesson10._fresh_copy(honest).state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


def test_shortcut_a_lowered_ledger_file_is_refused(tmp_path, monkeypatch):
    """Shortcut: write lower plain CNN seeds into experiments/results/family.json (here a copy
    in another folder): the floor (~88.2%) would drop to where any design clears it."""
    data = experiments.load("family")
    for run in data["runs"]:
        if run["label"] == "plain CNN":
            run["test_acc"] -= 0.05
    (tmp_path / "family.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(experiments.ledger, "RESULTS", tmp_path)
    with pytest.raises(AssertionError, match="no longer holds the plain CNN's seeds"):
        lesson10._ledger_seeds()


def test_capstone_ledger_pin_is_the_ledgers_file():
    # when the ledger is computed again, lesson10._LEDGER_PLAIN_CNN takes its new values, and
    # _LEDGER_PLAIN_CNN_HELD_OUT is measured again (test_capstone_stored_plain_cnn_score_is_the_
    # ledger_runs)
    plain = experiments.summarize(experiments.load("family"))["plain CNN"]
    assert tuple(plain["values"]) == lesson10._LEDGER_PLAIN_CNN and plain["seeds"] == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_shortcut_no_cache_of_the_challenge_is_a_module_attribute(monkeypatch):
    """Shortcut: `lesson10._BASELINE[key] = 0.5` (a low plain CNN) or `lesson10._HELD_OUT[seed] =
    easy images`: the held-out images are drawn again on every call, and the plain CNN's
    accuracy is kept in a closure."""
    stand_in(monkeypatch, lesson10, "_train_and_score", lambda build, seed, smoke=None: (0.8642, 1))
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lesson10._cached_baseline())
    assert lesson10._baseline_accuracy(7) == 0.8642
    tables = [v for v in vars(lesson10).values() if type(v) is dict]
    assert not any(0.8642 in t.values() for t in tables)
    (a, _), (b, _) = lesson10._held_out(7), lesson10._held_out(7)
    assert a is not b and torch.equal(a, b)


def test_shortcut_a_trace_function_cannot_rewrite_the_evaluation(monkeypatch):
    """Shortcut: `sys.settrace` with a function that sets `correct` in the course's evaluation
    loop (a trace function may write a frame's locals): the check trains and evaluates with no
    trace, profile or garbage-collector callback of anyone's, and puts them back afterwards."""
    import gc
    import sys

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "eval_sums":
            return None

        def local(frame, event, arg):
            if event == "line" and frame.f_locals.get("n", 0) > 0:
                frame.f_locals["correct"] = torch.tensor(frame.f_locals["n"])
            return local

        return local

    model, x = models.mini_baseline(bn=True), torch.randn(64, 3, 32, 32)
    y = (model.eval()(x).argmax(1) + 1) % 10  # every prediction wrong
    sys.settrace(tracer)
    try:
        assert lesson10.train.evaluate(model, [(x, y)])["acc"] == 1.0  # a real shortcut
    finally:
        sys.settrace(None)
    seen = []

    def fake_train(build, data_seed, smoke_steps=None):
        seen.append((sys.gettrace(), sys.getprofile(), list(gc.callbacks)))
        return 0.9, 1.0

    callback = lambda phase, info: None  # noqa: E731
    stand_in(monkeypatch, lesson10, "_train_and_score", fake_train)
    stand_in(monkeypatch, lesson10, "_baseline_accuracy", lambda seed: 0.85)
    gc.callbacks.append(callback)
    sys.settrace(tracer)
    try:
        lesson10.measure_capstone(good_stage)
        assert sys.gettrace() is tracer and callback in gc.callbacks  # put back afterwards
    finally:
        sys.settrace(None)
        gc.callbacks.remove(callback)
    assert seen == [(None, None, [])]


def test_capstone_guard_passes_an_honest_session():
    # what torch changes by itself must not count as a learner's change: the profiler's wrapper
    # around an optimizer's step (put on the class when the first instance is built), modules
    # imported later
    for optimizer in (torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adam):
        optimizer([nn.Parameter(torch.zeros(1))], lr=0.1).step()
    importlib.import_module("torch.nn.utils.parametrize")
    lesson10._guard_challenge("in an honest session")


def test_capstone_guard_ignores_what_a_notebook_kernel_rebinds_and_catches_the_rest(monkeypatch):
    import builtins

    # ipykernel sets builtins.input for every cell it runs: no false alarm in a real kernel
    monkeypatch.setattr(builtins, "input", lambda prompt="": "")
    lesson10._guard_challenge("before the check ran")
    monkeypatch.setattr(builtins, "sum", lambda *args, **kwargs: 0)
    with pytest.raises(
        AssertionError, match=r"builtins\.sum was (changed|replaced) before the check ran"
    ):
        lesson10._guard_challenge("before the check ran")
