"""The code style CI enforces: `ruff check` and `ruff format --check` pass on the whole repository.

`make lint` runs the same two commands; these tests put them in a bare `pytest` too (they take
about a second), so a change that breaks the style fails the unit tests, not only the lint job.
The rule sets are those of [tool.ruff.lint] in pyproject.toml.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    # `python -m ruff` runs the ruff of this environment (the dev extra), with the configuration
    # found from the working directory: pyproject.toml. No cache: a test leaves no files behind.
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache"],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_ruff_check_passes_on_the_repository():
    result = _ruff("check", "--quiet", ".")
    assert result.returncode == 0, (
        f"ruff check . (fix: make format)\n{result.stdout}{result.stderr}"
    )


def test_ruff_format_check_passes_on_the_repository():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, f"ruff format --check . (fix: make format)\n{result.stdout}"


def test_ruff_enforces_each_selected_rule_family():
    # One violation per family of [tool.ruff.lint] select: unsorted imports (I), an unused import
    # (F), a mutable default argument (bugbear, B), typing.List where `list` is valid from Python
    # 3.9 (pyupgrade, UP), and list concatenation where unpacking would do (ruff's own, RUF).
    source = (
        "import sys\n"
        "import os\n"
        "from typing import List\n"
        "\n"
        "\n"
        "def f(x: List[int] = []) -> List[int]:\n"
        "    return [1] + x + [len(sys.argv)]\n"
    )
    result = _ruff(
        "check",
        "--output-format",
        "json",
        "--stdin-filename",
        "inception_lab/_style_probe.py",
        "-",
        stdin=source,
    )
    codes = {d["code"] for d in json.loads(result.stdout)}
    assert {"I001", "F401", "B006", "UP006", "RUF005"} <= codes, codes
