"""The experiment ledger: the catalog, the verdict rule, resumable runs with sweeps, probes that
leave the model alone and provenance."""

from __future__ import annotations

import json
import math
import random
import statistics

import pytest
import torch
from torch import nn

from inception_lab.blocks import Inception
from inception_lab.experiments import __main__ as cli
from inception_lab.experiments import catalog, ledger, probes, report, runner, stats
from inception_lab.metrics import expected_calibration_error

CLEAN = runner.SourceState("abc123", None)


# --------------------------------------------------------------------------- the catalog
def test_every_lesson_declares_primary_comparisons_over_five_seeds():
    lessons = {e.lesson for e in catalog.EXPERIMENTS.values()}
    for lesson in ("01", "02", "03", "04", "05", "06", "07", "08", "10"):
        assert lesson in lessons, lesson
    for e in catalog.EXPERIMENTS.values():
        if e.name == "ceiling":
            continue
        assert any(c.primary for c in e.comparisons), e.name
        for label in e.primary_arms:
            assert len(e.seeds(label)) >= 5, (e.name, label)
        for label in e.arms:
            assert len(e.seeds(label)) >= 3, (e.name, label)


def test_questioned_rates_come_from_sweeps_of_at_least_three_rates():
    for name in ("recipe", "batch_norm", "residual_scaling", "factorization"):
        e = catalog.EXPERIMENTS[name]
        for label, arm in e.arms.items():
            assert len(arm.lr_sweep) >= 3 or arm.lr_from, (name, label)
    with pytest.raises(ValueError, match="at least 3 rates"):
        catalog.Experiment("x", "00", "?", {"a": catalog.Arm("mini_baseline", lr_sweep=(1, 2))}, ())
    with pytest.raises(ValueError, match="unknown arm"):
        catalog.Experiment(
            "x", "00", "?", {"a": catalog.Arm("mini_baseline")}, (catalog.Comparison("a", "b"),)
        )


def test_long_budget_covers_the_primary_comparisons_of_lessons_01_03_05_07_10():
    for name in ("multiscale", "googlenet_vs_cnn", "batch_norm", "residual_scaling", "family"):
        e = catalog.EXPERIMENTS[name]
        primary = [(c.a, c.b) for c in e.comparisons if c.primary]
        assert any({a, b} == set(e.long) for a, b in primary), name
        assert all(len(e.seeds(label, "cpu-long")) >= 5 for label in e.long)


def test_resolve_merges_overrides_and_scales_the_budgets():
    e = catalog.EXPERIMENTS["recipe"]
    cpu = catalog.resolve(e, "RMSProp")
    assert cpu["fit"]["optimizer"] == "rmsprop" and cpu["fit"]["epochs"] == catalog.FIT["epochs"]
    assert cpu["data"]["clutter"] == catalog.DATA["clutter"]  # merged, not replaced
    assert catalog.resolve(e, "RMSProp", lr=0.03)["fit"]["lr"] == 0.03
    long = catalog.resolve(e, "RMSProp", "cpu-long")
    assert long["fit"]["epochs"] == catalog.LONG_FACTOR * cpu["fit"]["epochs"]
    gpu = catalog.resolve(e, "RMSProp", "gpu")
    assert gpu["model_args"]["width"] == 2.0 and gpu["data"]["train_size"] == 10000
    assert catalog.FIT["lr"] == 1e-2  # resolve copies; it never edits the defaults
    with pytest.raises(ValueError, match="no configuration 'nope'"):
        catalog.resolve(e, "nope")
    with pytest.raises(ValueError, match="budget"):
        catalog.resolve(e, "RMSProp", "tpu")


def test_the_widened_factorized_arm_costs_what_the_unfactorized_one_does():
    from inception_lab.models import build
    from inception_lab.profile import count_macs

    e = catalog.EXPERIMENTS["factorization"]
    macs = {}
    for label in ("factorized, widened", "unfactorized"):
        config = catalog.resolve(e, label)
        macs[label] = count_macs(
            build(config["model"], num_classes=10, **config["model_args"]), (3, 32, 32)
        )
    assert macs["factorized, widened"] == pytest.approx(macs["unfactorized"], rel=0.02)


# --------------------------------------------------------------------------- the verdict rule
def test_t_quantiles_against_a_printed_table():
    # Student's t, 97.5% quantile (any statistics textbook's table)
    for df, value in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert stats.t_quantile(0.975, df) == pytest.approx(value, abs=5e-4)


def test_paired_difference_by_hand():
    d = stats.paired_difference({0: 0.90, 1: 0.92, 2: 0.91, 7: 0.5}, {0: 0.86, 1: 0.87, 2: 0.85})
    assert d.seeds == (0, 1, 2)  # seed 7 has no partner
    assert d.mean == pytest.approx(0.05)
    half = 4.302653 * 0.01 / math.sqrt(3)  # t(2) * sd of (0.04, 0.05, 0.06) / sqrt(n)
    assert (d.low, d.high) == (pytest.approx(0.05 - half), pytest.approx(0.05 + half))
    assert d.shown
    one = stats.paired_difference({0: 0.9}, {0: 0.1})
    assert not one.shown and math.isinf(one.low)
    with pytest.raises(ValueError, match="no seed in common"):
        stats.paired_difference({0: 1.0}, {1: 1.0})


def _simulate(rule, n_experiments: int, n_seeds: int, rng: random.Random, shared_sd=0.02) -> float:
    """How often `rule(a, b)` calls a difference between two arms with the same true mean: each
    seed shares a data effect between the arms (pairing) and adds each arm's own noise."""
    calls = 0
    for _ in range(n_experiments):
        shared = [rng.gauss(0, shared_sd) for _ in range(n_seeds)]
        a = {s: 0.8 + shared[s] + rng.gauss(0, 0.01) for s in range(n_seeds)}
        b = {s: 0.8 + shared[s] + rng.gauss(0, 0.02) for s in range(n_seeds)}  # unequal spread
        calls += rule(a, b)
    return calls / n_experiments


def test_the_verdict_rule_calls_a_difference_that_is_not_there_at_most_5_percent_of_the_time():
    n = 20000
    rate = _simulate(lambda a, b: stats.paired_difference(a, b).shown, n, 5, random.Random(0))
    se = math.sqrt(0.05 * 0.95 / n)
    assert rate <= 0.05 + 2.33 * se, rate  # one-sided 99%: consistent with at most 5%
    assert rate >= 0.05 - 4 * se, rate  # and not a rule that never calls anything
    # The first protocol's rule ("every seed of one beyond every seed of the other", 3 seeds
    # each, independent runs) fails this test: about 10% (2 of the 20 orderings of 3 + 3 values
    # separate them).
    old = _simulate(
        lambda a, b: min(a.values()) > max(b.values()) or min(b.values()) > max(a.values()),
        n,
        3,
        random.Random(1),
        shared_sd=0.0,
    )
    assert old > 0.08, old


def test_prediction_interval_by_hand():
    values = [0.80, 0.82, 0.84, 0.86, 0.88]
    low, high = stats.prediction_interval(values)
    half = 2.776445 * statistics.stdev(values) * math.sqrt(1 + 1 / 5)
    assert (low, high) == (pytest.approx(0.84 - half), pytest.approx(0.84 + half))
    with pytest.raises(ValueError, match="at least 2"):
        stats.prediction_interval([0.8])


# --------------------------------------------------------------------------- runs, with a fake trainer
@pytest.fixture
def tiny(monkeypatch):
    """A swept arm and a fixed arm; the trainer is replaced by a formula of (arm, lr, seed), so
    the ledger's order, sweeps, resuming and copying are tested in milliseconds."""
    exp = catalog.Experiment(
        "tiny",
        "test",
        "does the ledger work?",
        {
            "swept": catalog.Arm("mini_baseline", lr_sweep=(0.01, 0.03, 0.1)),
            "borrow": catalog.Arm("mini_baseline", fit={"label_smoothing": 0.1}, lr_from="swept"),
            "fixed": catalog.Arm("mini_reduced"),
        },
        (catalog.Comparison("swept", "fixed", primary=True), catalog.Comparison("borrow", "swept")),
    )
    monkeypatch.setitem(catalog.EXPERIMENTS, "tiny", exp)
    monkeypatch.setattr(ledger, "source_state", lambda: CLEAN)
    trained = []

    def fake_train_run(config, seed, measure=(), device=None, source=None):
        trained.append((config["model"], config["fit"]["lr"], seed))
        # validation accuracy rises with the rate up to 0.3: the declared sweep's best (0.1) is
        # at its top edge, so the sweep must grow to 0.3 and then 0.9 (which is worse)
        val = 0.5 + 0.1 * math.log10(config["fit"]["lr"]) if config["fit"]["lr"] <= 0.3 else 0.2
        test = val + 0.01 * seed + (0.05 if config["model"] == "mini_baseline" else 0.0)
        return {
            "seed": seed,
            "data_seed": seed,
            "config": config,
            "val_acc": val,
            "test_acc": test,
            "epochs": [{"epoch": e, "val_acc": val * e / 3 + 0.001 * seed} for e in (1, 2, 3)],
            "machine": {
                "commit": source.commit,
                "cpu": "Test CPU",
                "device": "cpu",
                "threads": 1,
                "diff_sha256": source.diff_sha256,
                "date": "2026-01-01T00:00:00+00:00",
            },
        }

    monkeypatch.setattr(ledger, "train_run", fake_train_run)
    object.__setattr__(exp, "trained", trained)  # what the fake trainer was asked to train
    return exp


def test_run_sweeps_first_grows_a_sweep_at_its_edge_then_trains_the_seeds(tiny, tmp_path):
    data = ledger.run("tiny", results=tmp_path, log=lambda m: None)
    order = [(lr, seed) for model, lr, seed in tiny.trained if model == "mini_baseline"]
    sweep = [(lr, s) for lr in (0.01, 0.03, 0.1) for s in catalog.SWEEP_SEEDS]
    assert order[:6] == sweep
    assert order[6:10] == [(0.3, 0), (0.3, 1), (0.9, 0), (0.9, 1)]  # grown twice, then bracketed
    choice = ledger.chosen_lr(tiny, "swept", data["runs"])
    assert choice["lr"] == 0.3 and not choice["at_edge"] and choice["next"] is None
    summary = ledger.summarize(data)
    assert summary["swept"]["seeds"] == list(catalog.PRIMARY_SEEDS)
    assert summary["swept"]["lr"] == 0.3  # only the chosen rate's runs
    assert summary["borrow"]["lr"] == 0.3 and summary["borrow"]["n"] == 3  # exploratory: 3 seeds
    assert summary["fixed"]["lr"] == catalog.FIT["lr"]
    # Seeds 0 and 1 of the chosen rate are the sweep's runs, not trained twice.
    assert order.count((0.3, 0)) == 1 + 1  # once for "swept", once for "borrow"
    stored = json.loads((tmp_path / "tiny.json").read_text())
    assert stored["runs"] == data["runs"] and not (tmp_path / "tiny.lock").exists()
    before = len(tiny.trained)
    ledger.run("tiny", results=tmp_path, log=lambda m: None)  # complete: trains nothing
    assert len(tiny.trained) == before


def test_the_long_budget_takes_the_short_budgets_choice(tiny, tmp_path, monkeypatch):
    object.__setattr__(tiny, "long", ("swept", "fixed"))
    with pytest.raises(FileNotFoundError):
        ledger.run("tiny", "cpu-long", results=tmp_path, log=lambda m: None)
    ledger.run("tiny", results=tmp_path, log=lambda m: None)
    long = ledger.run("tiny", "cpu-long", results=tmp_path, log=lambda m: None)
    lrs = {
        (r["label"], r["config"]["fit"]["lr"], r["config"]["fit"]["epochs"]) for r in long["runs"]
    }
    assert lrs == {("swept", 0.3, 40), ("fixed", catalog.FIT["lr"], 40)}
    assert len(long["runs"]) == 2 * len(catalog.PRIMARY_SEEDS)


def test_run_refuses_an_uncommitted_tree_unless_told_and_then_stores_the_diff_hash(
    tiny, tmp_path, monkeypatch
):
    monkeypatch.setattr(ledger, "source_state", lambda: runner.SourceState("abc123", "d1ff"))
    with pytest.raises(RuntimeError, match="uncommitted changes"):
        ledger.run("tiny", results=tmp_path, log=lambda m: None)
    data = ledger.run("tiny", results=tmp_path, allow_dirty=True, log=lambda m: None)
    assert {r["machine"]["diff_sha256"] for r in data["runs"]} == {"d1ff"}


def test_run_refuses_stored_runs_of_another_configuration(tiny, tmp_path):
    ledger.run("tiny", results=tmp_path, log=lambda m: None)
    tiny.arms["fixed"].fit["grad_clip"] = 1.0  # the catalog changed since the runs were stored
    with pytest.raises(RuntimeError, match="another configuration"):
        ledger.run("tiny", results=tmp_path, log=lambda m: None)


def test_runs_are_copied_between_experiments_only_from_the_same_code(tiny, tmp_path, monkeypatch):
    ledger.run("tiny", results=tmp_path, log=lambda m: None)
    twin = catalog.Experiment(
        "twin",
        "test",
        "?",
        {"fixed": tiny.arms["fixed"]},
        (catalog.Comparison("fixed", "fixed", primary=True),),
    )
    monkeypatch.setitem(catalog.EXPERIMENTS, "twin", twin)
    before = len(tiny.trained)
    data = ledger.run("twin", results=tmp_path, log=lambda m: None)
    assert len(tiny.trained) == before and {r["copied_from"] for r in data["runs"]} == {"tiny"}
    (tmp_path / "twin.json").unlink()
    monkeypatch.setattr(ledger, "source_state", lambda: runner.SourceState("def456", None))
    ledger.run("twin", results=tmp_path, log=lambda m: None)  # other code: trained again
    assert len(tiny.trained) == before + len(catalog.PRIMARY_SEEDS)


def test_a_busy_results_file_is_refused_and_a_stale_lock_taken_over(tiny, tmp_path):
    lock = tmp_path / "tiny.lock"
    lock.write_text("1")  # pid 1 is alive: another job computes this file
    with pytest.raises(RuntimeError, match="being computed by process 1"):
        ledger.run("tiny", results=tmp_path, log=lambda m: None)
    lock.write_text("999999999")  # no such process: a killed job's lock
    ledger.run("tiny", results=tmp_path, log=lambda m: None)
    assert not lock.exists()


def test_report_lines_state_the_interval_and_the_kind_of_comparison(tiny, tmp_path):
    data = ledger.run("tiny", results=tmp_path, log=lambda m: None)
    line = report.compare(data, "swept", "fixed")
    # test = val + 0.01 seed + 0.05 (mini_baseline): swept (val 0.4477 at lr 0.3) - fixed (val
    # 0.3) = +19.8 points on every seed, so the interval is a point
    assert line.startswith("[primary] test_acc: swept") and "5 paired seeds" in line
    assert (
        "difference +19.8 points, 95% CI [+19.8, +19.8]: difference shown: swept is ahead" in line
    )
    assert report.compare(data, "borrow", "swept").startswith("[exploratory]")
    assert "(the interval includes zero)" in report.compare(data, "borrow", "swept")
    assert "chosen 0.3" in report.sweep(data, "swept") and "inside the sweep" in report.sweep(
        data, "swept"
    )
    live = report.live_vs_ledger(0.5, data, "fixed")
    assert "falls in" in live and "above that interval" in live
    assert "Test CPU (cpu, 1 thread, commit abc123)" in report.provenance(data)


def test_nll_prints_as_a_number_and_ece_in_points():
    data = ledger.load("label_smoothing")
    rows = ledger.summarize(data, "temperature.test_nll_after")
    d = [rows["smoothing 0.1"]["by_seed"][s] - rows["no smoothing"]["by_seed"][s] for s in range(5)]
    line = report.compare(data, "smoothing 0.1", "no smoothing", "temperature.test_nll_after")
    assert f"difference {sum(d) / 5:+.3f}, 95% CI [" in line
    assert "%" not in line.replace("95% CI", "")
    table = report.table(data, "temperature.test_nll_after")
    assert f"{rows['no smoothing']['mean']:.3f} ± " in table and "%" not in table
    ece = report.compare(data, "smoothing 0.1", "no smoothing", "test_ece")
    assert " points, 95% CI [" in ece and "%, no smoothing" in ece
    # a fitted temperature is neither better high nor low: the verdict says which is higher
    rows = ledger.summarize(data, "temperature.temperature")
    d = [rows["smoothing 0.1"]["by_seed"][s] - rows["no smoothing"]["by_seed"][s] for s in range(5)]
    higher = "smoothing 0.1" if sum(d) > 0 else "no smoothing"
    temperature = report.compare(data, "smoothing 0.1", "no smoothing", "temperature.temperature")
    assert temperature.endswith(f"difference shown: {higher} is higher"), temperature


def test_differences_are_the_numbers_compare_prints_primary_first():
    data = ledger.load("multiscale")
    found = report.differences(data)
    declared = ledger.get("multiscale").comparisons
    assert len(found) == len(declared) and next(iter(found)).startswith(
        "reduced Inception, wide spread - 3x3 stack, wide spread"
    )
    for c, (name, d) in zip(declared, found.items(), strict=True):
        rows = ledger.summarize(data, c.metric)
        by_hand = [rows[c.a]["by_seed"][s] - rows[c.b]["by_seed"][s] for s in d.seeds]
        assert d.differences == pytest.approx(by_hand) and c.a in name
        line = report.compare(data, c.a, c.b, c.metric)
        assert f"95% CI [{100 * d.low:+.1f}, {100 * d.high:+.1f}]" in line
    assert list(report.differences(data, primary_only=True)) == [next(iter(found))]


def test_a_live_run_of_a_stored_seed_is_compared_with_it_and_with_the_other_seeds(tiny, tmp_path):
    data = ledger.run("tiny", results=tmp_path, log=lambda m: None)
    metric = ledger.epoch_metric(2)  # the validation accuracy after epoch 2 (a short live run)
    assert metric == "epochs.1.val_acc"
    by_seed = ledger.summarize(data, metric)["fixed"]["by_seed"]
    runs = [r for r in data["runs"] if r["label"] == "fixed"]
    assert by_seed == {r["seed"]: r["epochs"][1]["val_acc"] for r in runs}
    others = [v for seed, v in by_seed.items() if seed != 0]
    low, high = stats.prediction_interval(others)  # seed 0 is not a new seed for its interval
    same = report.live_vs_ledger(by_seed[0], data, "fixed", metric, seed=0)
    assert "the ledger's seed 0: the same to the digit" in same
    assert f"falls in {100 * low:.1f}% to {100 * high:.1f}%" in same
    assert f"from the ledger's {len(others)} other seeds" in same
    moved = report.live_vs_ledger(by_seed[0] + 0.001, data, "fixed", metric, seed=0)
    assert "a different number" in moved
    with pytest.raises(ValueError, match="epoch must be"):
        ledger.epoch_metric(0)


def test_load_without_results_says_how_to_compute_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"inception_lab\.experiments run bottleneck"):
        ledger.load("bottleneck", results=tmp_path)


def test_unknown_experiment_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: ceiling, bottleneck"):
        ledger.get("nope")


def test_cli_errors_and_list(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "nope"])
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in catalog.EXPERIMENTS:
        assert name in out


def test_cli_show_on_another_metric_skips_arms_the_budget_did_not_train(capsys):
    """The long family ledger trains two of the five arms: `show` on a per-size metric compares
    the pair it has and does not fail on a declared comparison whose arm has no runs there."""
    assert (
        cli.main(["show", "family", "--budget", "cpu-long", "--metric", "test_by_scale.small"]) == 0
    )
    out = capsys.readouterr().out
    compared = [line for line in out.splitlines() if "95% CI" in line]
    assert len(compared) == 1 and "Inception-ResNet" in compared[0], out
    assert "Inception v3" not in "\n".join(compared)
    assert cli.main(["show", "multiscale", "--metric", "test_by_scale.medium"]) == 0
    compared = [line for line in capsys.readouterr().out.splitlines() if "95% CI" in line]
    assert len(compared) == len(set(compared)) == 5  # 7 declared lines, 5 distinct pairs


# --------------------------------------------------------------------------- one real run
def test_seeds_draw_their_own_training_images_and_share_one_test_set():
    config = catalog.resolve(catalog.EXPERIMENTS["bottleneck"], "naive")
    config["data"].update(train_size=60, val_size=30, test_size=60)
    a0, a1 = runner.run_loaders(config, 0, "cpu"), runner.run_loaders(config, 1, "cpu")
    assert not torch.equal(a0.train.dataset.images, a1.train.dataset.images)
    assert torch.equal(a0.test.dataset.images, a1.test.dataset.images)
    again = runner.run_loaders(config, 0, "cpu")  # another arm, same seed: the same images
    assert torch.equal(a0.train.dataset.images, again.train.dataset.images)


def test_one_real_run_records_what_the_ledger_needs():
    config = catalog.resolve(catalog.EXPERIMENTS["googlenet_vs_cnn"], "mini GoogLeNet + aux heads")
    config["data"].update(train_size=60, val_size=30, test_size=60, batch_size=30)
    config["model_args"]["width"] = 0.25
    config["fit"]["epochs"] = 1
    record = runner.train_run(config, 3, ("grad_norm",), "cpu", CLEAN)
    assert record["seed"] == record["data_seed"] == 3 and len(record["epochs"]) == 1
    assert math.isfinite(record["final_train_loss"]) and 0 <= record["test_acc"] <= 1
    machine = record["machine"]
    for key in ("python", "torch", "torchvision", "numpy", "cpu", "commit", "diff_sha256"):
        assert key in machine, key
    assert set(record["grad_norm"]) == {"init", "final"}


def test_a_smoke_run_is_measured_on_the_test_set_and_a_half_run_is_not():
    config = catalog.resolve(catalog.EXPERIMENTS["bottleneck"], "reduced")
    config["data"].update(train_size=60, val_size=30, test_size=60, batch_size=30)
    config["model_args"]["width"] = 0.25
    config["fit"]["epochs"] = 3
    # a smoke run (make smoke-gpu) stops after 2 epochs of a few batches: the lessons' gpu
    # branch still reads its test accuracy
    smoke = runner.train_run(config, 0, (), "cpu", CLEAN, smoke_steps=1)
    assert len(smoke["epochs"]) == 2 and 0 <= smoke["test_acc"] <= 1
    assert "stopped_after" not in smoke
    half = runner.train_run(config, 0, (), "cpu", CLEAN, stop_after=1)
    assert half["stopped_after"] == 1 and "test_acc" not in half
    # the half run skips drawing the test set; its first epoch is still the full run's
    full = runner.train_run(config, 0, (), "cpu", CLEAN)
    same = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")
    assert {k: half["epochs"][0][k] for k in same} == {k: full["epochs"][0][k] for k in same}


def test_probes_leave_the_model_and_the_random_generator_as_they_were():
    from inception_lab.models import build

    torch.manual_seed(0)
    model = build("mini_googlenet", num_classes=10, aux_logits=True, bn=True, width=0.5).eval()
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    g = probes.stage_grad_norms(model, x, y, aux_weight=0.3)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert torch.equal(rng, torch.get_rng_state()) and not model.training
    assert all(p.grad is None for p in model.parameters())
    # Stages after the last tapped one (inception4d) get no gradient from the heads.
    assert g["with_aux"]["inception5b"] == pytest.approx(g["main"]["inception5b"])
    assert g["with_aux"]["inception3a"] != pytest.approx(g["main"]["inception3a"])


def test_accuracy_by_scale_by_hand():
    probs = torch.eye(3)[[0, 1, 2, 0]]  # predictions 0, 1, 2, 0
    labels = torch.tensor([0, 1, 0, 0])
    scales = torch.tensor([0, 0, 1, 2])
    acc = probes.accuracy_by_scale(probs, labels, scales)
    assert acc == {"all": 0.75, "small": 1.0, "medium": 0.0, "large": 1.0}
    with pytest.raises(ValueError, match="one row per image"):
        probes.accuracy_by_scale(probs, labels[:2], scales)


def test_branch_off_equals_zeroing_the_branch_by_hand():
    torch.manual_seed(0)
    block = Inception(8, 4, 4, 6, 2, 3, 5).eval()
    model = nn.Sequential(block)
    x = torch.randn(2, 8, 6, 6)
    with probes._branch_off(model, "branch3x3"), torch.no_grad():
        off = model(x)
    with torch.no_grad():
        parts = [b(x) for b in block.branches.values()]
    parts[1] = torch.zeros_like(parts[1])
    assert torch.equal(off, torch.cat(parts, 1))
    with torch.no_grad():
        assert torch.equal(model(x), block(x))  # the hook is gone afterwards
    with pytest.raises(ValueError, match="no multi-branch module"), probes._branch_off(model, "x"):
        pass


def test_temperature_scaling_repairs_overconfidence():
    torch.manual_seed(0)
    n, k = 4000, 10
    logits = 2 * torch.randn(n, k)
    labels = torch.multinomial(logits.softmax(1), 1).squeeze(1)  # softmax(logits) is calibrated
    probs = (logits * 4).softmax(1)  # 4x too sharp: overconfident; T = 4 repairs it
    result = probes.temperature_scaling(probs[:2000], labels[:2000], probs[2000:], labels[2000:])
    assert result["temperature"] == pytest.approx(4.0, rel=0.15)
    assert result["test_ece_before"] == pytest.approx(
        expected_calibration_error(probs[2000:], labels[2000:])
    )
    assert result["test_ece_after"] < result["test_ece_before"] / 3
    assert result["test_nll_after"] < result["test_nll_before"]


def test_across_budgets_pairs_the_lead_and_the_error_share_by_seed():
    """The family ledger's two budgets, recomputed by hand from the stored runs: the lead's
    change and the error share's change, each a paired t-interval over the 5 common seeds
    (t at 97.5% with 4 degrees of freedom: 2.776)."""
    short, long = ledger.load("family"), ledger.load("family", "cpu-long")

    def acc(data, label):
        return {r["seed"]: r["test_acc"] for r in data["runs"] if r["label"] == label}

    a = {k: acc(d, "Inception-ResNet") for k, d in (("s", short), ("l", long))}
    b = {k: acc(d, "plain CNN") for k, d in (("s", short), ("l", long))}
    seeds = sorted(a["l"])
    assert seeds == [0, 1, 2, 3, 4]
    lead = [(a["l"][s] - b["l"][s]) - (a["s"][s] - b["s"][s]) for s in seeds]
    share = [(1 - a["l"][s]) / (1 - b["l"][s]) - (1 - a["s"][s]) / (1 - b["s"][s]) for s in seeds]
    half = 2.776 * statistics.stdev(lead) / math.sqrt(5)
    m = statistics.mean(lead)
    text = report.across_budgets(short, long, "Inception-ResNet", "plain CNN")
    first, second = text.splitlines()
    assert first.startswith("[exploratory] lead") and second.startswith("[exploratory]")
    assert "310 steps" in first and "1,240 steps" in first
    assert (
        f"{100 * m:+.1f} points, 95% CI [{100 * (m - half):+.1f}, {100 * (m + half):+.1f}]" in first
    )
    assert first.endswith(": change shown") == (m + half < 0 or m - half > 0)
    half, m = 2.776 * statistics.stdev(share) / math.sqrt(5), statistics.mean(share)
    assert f"{m:+.2f}, 95% CI [{m - half:+.2f}, {m + half:+.2f}]" in second
    ratio = sum(1 - a["l"][s] for s in seeds) / sum(1 - b["l"][s] for s in seeds)
    assert f"{ratio:.2f} after 1,240 steps" in second
    with pytest.raises(ValueError, match="no runs of 'Inception v3'"):
        report.across_budgets(short, long, "Inception v3", "plain CNN")
