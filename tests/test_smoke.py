"""Smoke runs (`make smoke-gpu`): INCEPTION_LAB_SMOKE_STEPS cuts training and evaluation short.

The variable is read once, at import, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROGRAM = """
import json, torch
from torch import nn
from inception_lab import smoke, train

torch.manual_seed(0)
batches = [(torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4,))) for _ in range(10)]
model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
history = train.fit(model, (batches, batches), 5, progress=False)
result = train.evaluate(model, batches)
print(json.dumps({"active": smoke.ACTIVE, "epochs": len(history),
                  "steps": history.config["steps_per_epoch"], "evaluated": result["n"]}))
"""


def run(steps: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "INCEPTION_LAB_SMOKE_STEPS"}
    if steps is not None:
        env["INCEPTION_LAB_SMOKE_STEPS"] = steps
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=False
    )


def test_without_the_variable_nothing_is_cut():
    out = run(None)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"active": False, "epochs": 5, "steps": 10, "evaluated": 40}


def test_a_smoke_run_trains_two_epochs_of_a_few_steps_and_evaluates_a_few_batches():
    out = run("3")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"active": True, "epochs": 2, "steps": 3, "evaluated": 12}


def test_a_bad_value_is_refused_with_the_variable_named():
    out = run("two")
    assert out.returncode != 0
    assert (
        "INCEPTION_LAB_SMOKE_STEPS must be a positive integer" in out.stderr
        and "'two'" in out.stderr
    )
