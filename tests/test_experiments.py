"""The experiment ledger: configurations, resumable runs, summaries, probes and verification."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys

import pytest
import torch
from torch import nn

from inception_lab import experiments
from inception_lab.blocks import Inception
from inception_lab.experiments import __main__ as cli
from inception_lab.experiments import catalog, ledger, probes
from inception_lab.metrics import expected_calibration_error

TINY = {"train_size": 60, "val_size": 30, "test_size": 60}


@pytest.fixture
def tiny(monkeypatch):
    """A two-configuration experiment of one-epoch runs on 60 images (seconds, not minutes)."""
    config = {"model_args": {"width": 0.25}, "data": TINY, "epochs": 1, "batch_size": 30}
    exp = catalog.Experiment(
        "tiny",
        "test",
        "does the runner work?",
        {
            "cnn": {"model": "mini_baseline", **config},
            "reduced": {"model": "mini_reduced", **config},
        },
        seeds=(0, 1),
        measure=("branch_ablation",),
    )
    monkeypatch.setitem(catalog.EXPERIMENTS, "tiny", exp)
    return exp


def test_every_lesson_has_its_experiment():
    lessons = {e.lesson for e in experiments.EXPERIMENTS.values()}
    for lesson in ("01", "02", "03", "04", "05", "06", "07", "08", "09"):
        assert any(lesson in entry for entry in lessons), lesson
    for e in experiments.EXPERIMENTS.values():
        assert len(e.seeds) >= 3, e.name
        for label in e.configs:
            config = catalog.resolve(e, label)
            assert set(config) == set(catalog.BASE), (e.name, label)


def test_resolve_merges_settings_and_scales_up_for_the_gpu():
    e = experiments.EXPERIMENTS["batch_norm"]
    label = next(iter(e.configs))
    cpu, gpu = catalog.resolve(e, label), catalog.resolve(e, label, "gpu")
    assert cpu["model"] == "mini_bn_inception" and "bn" in cpu["model_args"]
    assert cpu["data"]["clutter"] == catalog.HARD_DATA["clutter"]  # merged, not replaced
    assert gpu["epochs"] > cpu["epochs"] and gpu["data"]["train_size"] > cpu["data"]["train_size"]
    assert gpu["model_args"]["width"] == 2.0
    assert catalog.BASE["data"] is catalog.HARD_DATA  # resolve copies; it never edits BASE
    with pytest.raises(ValueError, match="no configuration 'nope'"):
        catalog.resolve(e, "nope")
    with pytest.raises(ValueError, match="budget"):
        catalog.resolve(e, label, "tpu")


def test_unknown_experiment_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: ceiling, multiscale"):
        ledger.get("nope")


def test_run_stores_each_run_and_resumes(tiny, tmp_path):
    messages = []
    data = ledger.run("tiny", seeds=(0,), results=tmp_path, log=messages.append)
    stored = json.loads((tmp_path / "tiny.json").read_text())
    assert [r["label"] for r in stored["runs"]] == ["cnn", "reduced"]
    run = stored["runs"][0]
    assert len(run["epochs"]) == 1 and 0 <= run["test_acc"] <= 1
    assert set(run["test_by_scale"]) == {"all", "small", "medium", "large"}
    assert run["machine"]["threads"] >= 1 and run["machine"]["torch"] == torch.__version__
    assert set(stored["runs"][0]["branch_ablation"]) == {"none"}  # the plain CNN: no branches
    assert set(stored["runs"][1]["branch_ablation"]) == {"none", *probes.BRANCHES}
    assert not (tmp_path / "tiny.lock").exists()
    # A second call trains only what is missing (seed 1), and keeps the stored runs as they were.
    data = ledger.run("tiny", results=tmp_path, log=messages.append)
    assert [(r["label"], r["seed"]) for r in data["runs"]] == [
        ("cnn", 0), ("reduced", 0), ("cnn", 1), ("reduced", 1)
    ]  # fmt: skip
    assert data["runs"][0] == stored["runs"][0]
    assert "2 runs stored, 2 to train" in messages[-3]


def test_run_refuses_stored_runs_of_another_configuration(tiny, tmp_path):
    ledger.run("tiny", seeds=(0,), labels=["cnn"], results=tmp_path, log=lambda m: None)
    tiny.configs["cnn"]["epochs"] = 2  # the catalog changed since the run was stored
    with pytest.raises(RuntimeError, match="another configuration"):
        ledger.run("tiny", seeds=(0,), labels=["cnn"], results=tmp_path, log=lambda m: None)


def test_a_busy_results_file_is_refused_and_a_stale_lock_taken_over(tiny, tmp_path):
    lock = tmp_path / "tiny.lock"
    lock.write_text("1")  # pid 1 is alive: another job computes this file
    with pytest.raises(RuntimeError, match="being computed by process 1"):
        ledger.run("tiny", seeds=(0,), labels=["cnn"], results=tmp_path, log=lambda m: None)
    lock.write_text("999999999")  # no such process: a killed job's lock
    ledger.run("tiny", seeds=(0,), labels=["cnn"], results=tmp_path, log=lambda m: None)
    assert not lock.exists()


def test_summarize_against_statistics():
    data = {"experiment": "bottleneck", "runs": [
        {"label": "reduced", "seed": s, "test_acc": a, "test_by_scale": {"small": a / 2}}
        for s, a in enumerate([0.5, 0.7, 0.9])
    ] + [{"label": "naive", "seed": 0, "test_acc": 0.4, "test_by_scale": {"small": 0.1}}]}  # fmt: skip
    s = ledger.summarize(data)
    assert list(s) == ["naive", "reduced"]  # catalog order, not file order
    assert s["reduced"]["mean"] == pytest.approx(0.7)
    assert s["reduced"]["sd"] == pytest.approx(statistics.stdev([0.5, 0.7, 0.9]))
    assert (s["reduced"]["min"], s["reduced"]["max"], s["reduced"]["n"]) == (0.5, 0.9, 3)
    assert math.isnan(s["naive"]["sd"])
    assert ledger.summarize(data, "test_by_scale.small")["reduced"]["values"] == [0.25, 0.35, 0.45]


def test_load_without_results_says_how_to_compute_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="inception_lab.experiments run bottleneck"):
        ledger.load("bottleneck", results=tmp_path)


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


def test_stage_grad_norms_adds_the_aux_heads_gradient_to_early_stages_only():
    from inception_lab.models import build

    torch.manual_seed(0)
    model = build("mini_googlenet", aux_logits=True, bn=True, width=0.5)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    g = probes.stage_grad_norms(model, x, y, aux_weight=0.3)
    assert set(g) == {"main", "with_aux"}
    # Stages after the last tapped one (inception4d) get no gradient from the heads.
    assert g["with_aux"]["inception5b"] == pytest.approx(g["main"]["inception5b"])
    assert g["with_aux"]["inception3a"] != pytest.approx(g["main"]["inception3a"])
    plain = probes.stage_grad_norms(build("mini_baseline", width=0.5), x, y, 0.3)
    assert set(plain) == {"main"}


def test_cli_errors_and_list(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "nope"])
    assert "invalid choice" in capsys.readouterr().err
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in experiments.EXPERIMENTS:
        assert name in out


def test_verify_reproduces_the_cheapest_stored_run():
    """Re-train one stored run of the cheapest experiment: the same result to the digit on the
    machine type that stored it, within the seed spread elsewhere (under a minute)."""
    data = ledger.load("bottleneck")
    cheapest = min(data["runs"], key=lambda r: r["train_seconds"])
    result = ledger.verify("bottleneck", cheapest["seed"], cheapest["label"])
    if result["same_machine"]:
        assert result["exact"], result
    else:
        assert result["within_spread"], result


def _ledger(values: dict[str, list[float]]) -> dict:
    runs = [
        {"label": label, "seed": s, "test_acc": v, "test_by_scale": {k: v for k in
         ("small", "medium", "large")},
         "machine": {"cpu": "Test CPU", "device": "cpu", "threads": 1}}
        for label, vs in values.items() for s, v in enumerate(vs)
    ]  # fmt: skip
    return {"experiment": "bottleneck", "budget": "cpu", "runs": runs}


def test_compare_calls_a_gap_only_when_the_seeds_separate():
    apart = _ledger({"naive": [0.60, 0.62, 0.64], "reduced": [0.80, 0.82, 0.84]})
    text = experiments.compare(apart, "reduced", "naive")
    assert "difference +20.0 points" in text and "reduced is ahead on every seed" in text
    overlap = _ledger({"naive": [0.60, 0.75, 0.90], "reduced": [0.62, 0.80, 0.85]})
    assert "within the seed spread" in experiments.compare(overlap, "reduced", "naive")
    with pytest.raises(ValueError, match="no runs of 'nope'"):
        experiments.compare(apart, "nope", "naive")
    errors = _ledger({"naive": [0.02, 0.03, 0.025], "reduced": [0.09, 0.10, 0.08]})
    for run in errors["runs"]:
        run["test_ece"] = run["test_acc"]
    assert "naive is better (lower) on every seed" in experiments.compare(
        errors, "reduced", "naive", "test_ece"
    )


def test_table_provenance_and_live_run_text():
    data = _ledger({"naive": [0.5, 0.7, 0.9]})
    assert experiments.table(data) == "naive  70.0% ± 20.0%  [50.0%, 90.0%]  3 seeds"
    line = experiments.provenance(data)
    assert "3 runs, seeds [0, 1, 2]" in line and "Test CPU (cpu, 1 thread)" in line
    assert "python -m inception_lab.experiments run bottleneck --budget cpu" in line
    assert "inside their range" in experiments.live_vs_ledger(0.6, data, "naive")
    assert "below their range" in experiments.live_vs_ledger(0.4, data, "naive", note="3 epochs")


def test_plot_seeds_draws_every_seed_and_the_mean():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PathCollection

    from inception_lab import viz

    data = _ledger({"naive": [0.5, 0.7, 0.9], "reduced": [0.8, 0.85, 0.9]})
    fig = viz.plot_seeds(data)
    ax = fig.axes[0]
    dots = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(float(y) for d in dots for y in d[:, 1]) == [0.5, 0.7, 0.8, 0.85, 0.9, 0.9]
    assert [round(b.get_height(), 4) for b in ax.patches] == [0.7, 0.85]
    assert len(viz.plot_seeds_by_scale(data).axes) == 3
    with pytest.raises(ValueError, match="none of the labels"):
        viz.plot_seeds(data, labels=["nope"])


def test_the_gpu_budget_runs_end_to_end_in_a_smoke_run(tmp_path):
    """--budget gpu (wider model, all the data, more epochs), cut to a few steps by the smoke
    variable, on whatever device is here; a smoke run may not write into the committed ledger."""
    env = {**os.environ, "INCEPTION_LAB_SMOKE_STEPS": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "inception_lab.experiments", "run", "bottleneck", "--budget",
               "gpu", "--seeds", "0", "--labels", "reduced"]  # fmt: skip
    out = subprocess.run([*command, "--results", str(tmp_path)], env=env, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    (run,) = json.loads((tmp_path / "bottleneck.gpu.json").read_text())["runs"]
    assert run["smoke"] and run["config"]["model_args"]["width"] == 2.0
    assert run["config"]["data"]["train_size"] == 10000 and run["config"]["epochs"] == 30
    assert len(run["epochs"]) == 2  # smoke.MAX_EPOCHS
    refused = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "may not write to the ledger" in refused.stderr
