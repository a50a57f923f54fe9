"""Fixtures shared by the tests of the course tools (tests/test_run_times.py, tests/test_lessons.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def copy_of_course(tmp_path: Path) -> Path:
    """What tools/lessons.py reads and writes, copied to tmp_path: the notebooks with
    lessons.toml and run_times.json, README.md, the instructor guide, the checks modules and
    their tests. The tools take the copy as their root; the repository stays untouched."""
    (tmp_path / "notebooks").mkdir()
    for path in (ROOT / "notebooks").iterdir():
        if path.suffix in {".ipynb", ".toml", ".json"}:
            shutil.copy(path, tmp_path / "notebooks" / path.name)
    for doc in ("README.md", "docs/instructor_guide.md"):
        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / doc, tmp_path / doc)
    shutil.copytree(
        ROOT / "inception_lab" / "checks",
        tmp_path / "inception_lab" / "checks",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tmp_path / "tests").mkdir()
    for path in (ROOT / "tests").glob("test_checks_*.py"):
        shutil.copy(path, tmp_path / "tests" / path.name)
    return tmp_path
