"""The notebooks' run times come from one file: notebooks/run_times.json.

Every title cell, the welcome notebook's lesson table, the README's table and the instructor
guide's table state the file's seconds with the one rounding rule of tools/run_times.py, and the
file has one entry per notebook. tools/lessons.py writes and checks those texts (with the rest of
what the lesson list states: tests/test_lessons.py); the comparison is also run on planted copies
(the `copy_of_course` fixture of tests/conftest.py), to show that it fails when a stated time is
edited by hand, and that `lessons.write_texts` repairs exactly those texts.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

import lessons
import run_times as rt

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
RECORDED = rt.load(rt.file_path(ROOT))


def _title(root: Path, name: str) -> str:
    nb = json.loads((root / "notebooks" / name).read_text(encoding="utf-8"))
    return "".join(nb["cells"][0]["source"])


def _markdown(root: Path, name: str) -> str:
    nb = json.loads((root / "notebooks" / name).read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _edit_notebook(root: Path, name: str, old: str, new: str, cell: int | None = None) -> None:
    """Replace `old` by `new` in one markdown cell (the first that holds it, or `cell`)."""
    path = root / "notebooks" / name
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [nb["cells"][cell]] if cell is not None else nb["cells"]
    target = next(c for c in cells if old in "".join(c["source"]))
    target["source"] = "".join(target["source"]).replace(old, new, 1).splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# The rounding rule


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "about 5 s"),
        (4.9, "about 5 s"),
        (7.4, "about 5 s"),
        (7.5, "about 10 s"),  # halves round up
        (22.5, "about 25 s"),
        (38.6, "about 40 s"),
        (87.4, "about 85 s"),
        (87.5, "about 1.5 min"),  # 90 s and up (after rounding) in half minutes
        (90, "about 1.5 min"),
        (104.9, "about 1.5 min"),
        (105, "about 2 min"),
        (135, "about 2.5 min"),
        (352.6, "about 6 min"),
        (651.7, "about 11 min"),
    ],
)
def test_the_rounding_rule(seconds, text):
    assert rt.display(seconds) == text


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, "40"])
def test_the_rounding_rule_refuses_what_is_not_a_duration(bad):
    with pytest.raises(ValueError, match="finite number of seconds"):
        rt.display(bad)


def test_sentence_and_total_use_the_rule():
    assert rt.sentence(112, 2) == (
        '**Run time:** about 2 min at `BUDGET="cpu"` '
        "(measured with 2 CPU threads: see [run_times.json](run_times.json))"
    )
    assert "with 1 CPU thread:" in rt.sentence(5, 1)
    assert rt.SENTENCE.fullmatch(rt.sentence(40, 8))
    assert rt.total_phrase(651.7) == "the whole course takes about 11 min"


# ---------------------------------------------------------------------------------------------
# The repository agrees with the file


def test_every_notebook_has_an_entry_and_no_entry_is_stale():
    assert sorted(RECORDED.notebooks) == NOTEBOOKS
    assert RECORDED.machine["cpu"] and RECORDED.threads >= 1 and RECORDED.machine["torch"]
    for name, entry in RECORDED.notebooks.items():
        assert entry.seconds > 0 and entry.date and entry.commit, name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_title_cell_states_the_recorded_time(name):
    expected = rt.sentence(RECORDED.notebooks[name].seconds, RECORDED.threads)
    assert rt.title_problems(_title(ROOT, name), expected) == []


def _run_time_column(markdown: str) -> dict[str, str]:
    """{notebook: its run-time cell} of the first table whose header names a run time, the row's
    notebook found by the lesson number that starts its first cell ("3", "03 GoogLeNet")."""
    lines = markdown.split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|") and "run time" in ln.lower())
    header = [c.strip().lower() for c in lines[start].strip("|").split("|")]
    column = next(k for k, cell in enumerate(header) if "run time" in cell)
    stated = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        (name,) = [n for n in NOTEBOOKS if int(n[:2]) == int(re.match(r"\d+", cells[0])[0])]
        stated[name] = cells[column]
    return stated


@pytest.mark.parametrize(
    ("label", "notebooks"),
    [
        ("welcome", NOTEBOOKS[1:]),  # the lessons, not itself
        ("README", NOTEBOOKS),
        ("guide", NOTEBOOKS),
    ],
)
def test_table_rows_state_the_recorded_times(label, notebooks):
    text = {
        "welcome": lambda: _markdown(ROOT, "00_welcome.ipynb"),
        "README": lambda: (ROOT / "README.md").read_text(encoding="utf-8"),
        "guide": lambda: (ROOT / "docs" / "instructor_guide.md").read_text(encoding="utf-8"),
    }[label]()
    stated = _run_time_column(text)
    assert list(stated) == notebooks  # one row per notebook, in order
    for name in notebooks:
        assert stated[name] == rt.display(RECORDED.notebooks[name].seconds), name
    assert rt.total_problems(text, rt.total_phrase(RECORDED.total)) == []


def test_check_finds_no_disagreement():
    assert lessons.check(ROOT) == []


# ---------------------------------------------------------------------------------------------
# The comparison fails on planted edits, and write_texts repairs them


def test_a_title_edited_to_another_time_fails(copy_of_course):
    assert lessons.check(copy_of_course) == []
    name = "03_googlenet.ipynb"
    right = rt.display(RECORDED.notebooks[name].seconds)
    wrong = "about 3 min" if right != "about 3 min" else "about 1 min"
    _edit_notebook(copy_of_course, name, f"**Run time:** {right}", f"**Run time:** {wrong}", 0)
    problems = lessons.check(copy_of_course)
    assert len(problems) == 1 and problems[0].startswith(f"notebooks/{name}, cell 0:"), problems
    assert wrong in problems[0]
    # The same comparison on the text alone.
    expected = rt.sentence(RECORDED.notebooks[name].seconds, RECORDED.threads)
    assert rt.title_problems(expected.replace(right, wrong), expected)


def test_a_hand_typed_duration_next_to_the_sentence_fails():
    expected = rt.sentence(112, 2)
    assert rt.title_problems(f"# Lesson\n\n{expected}.\n", expected) == []
    problems = rt.title_problems(f"# Lesson\n\n{expected} (measured: 112 s).\n", expected)
    assert problems == ["durations typed by hand besides the run-time sentence: ['112 s']"]
    # The core-path paragraph's class length is a plan, not a run time (notebooks/README.md).
    core = "**Core path** (a 45-60 minute class): the whole lesson."
    assert rt.title_problems(f"# Lesson\n\n{expected}.\n\n{core}\n", expected) == []
    problems = rt.title_problems(f"# Lesson\n\n{expected}.\n\nA 45-60 minute lecture.\n", expected)
    assert problems == ["durations typed by hand besides the run-time sentence: ['60 minute']"]


def test_edited_tables_and_totals_fail_and_write_texts_repairs_only_them(copy_of_course):
    before = _snapshot(copy_of_course)
    name = "05_batch_norm.ipynb"
    right = rt.display(RECORDED.notebooks[name].seconds)
    wrong = "about 9 min"
    total = rt.total_phrase(RECORDED.total)
    _edit_notebook(copy_of_course, name, f"**Run time:** {right}", f"**Run time:** {wrong}", 0)
    _edit_notebook(copy_of_course, lessons.WELCOME, f"| {right} |", f"| {wrong} |")
    _edit_notebook(copy_of_course, lessons.WELCOME, total, "the whole course takes about 99 min")
    for doc in (lessons.README, lessons.GUIDE):
        path = copy_of_course / doc
        text = path.read_text(encoding="utf-8")
        row = next(ln for ln in text.splitlines() if ("05" in ln[:12]) and right in ln)
        path.write_text(text.replace(row, row.replace(right, wrong)), encoding="utf-8")
    problems = lessons.check(copy_of_course)
    where = sorted({p.split(":")[0] for p in problems})
    assert where == sorted(
        [
            f"notebooks/{name}, cell 0",
            f"notebooks/{lessons.WELCOME}",
            str(lessons.README),
            str(lessons.GUIDE),
        ]
    ), problems
    assert sum("99 min" in p for p in problems) == 1

    changed = lessons.write_texts(copy_of_course)
    assert lessons.check(copy_of_course) == []
    assert _snapshot(copy_of_course) == before  # byte for byte: outputs and other cells untouched
    assert len(changed) == 4


def test_write_texts_writes_nothing_when_a_title_has_no_run_time_sentence(copy_of_course):
    name = "04_factorization.ipynb"
    expected = rt.sentence(RECORDED.notebooks[name].seconds, RECORDED.threads)
    _edit_notebook(copy_of_course, name, expected, "**Run time:** quick", 0)
    readme = copy_of_course / lessons.README
    readme.write_text(readme.read_text(encoding="utf-8").replace("about", "roughly", 1))
    before = _snapshot(copy_of_course)
    with pytest.raises(lessons.LessonsError, match=f"nothing was rewritten: notebooks/{name}"):
        lessons.write_texts(copy_of_course)
    assert _snapshot(copy_of_course) == before


def test_missing_and_stale_entries_are_reported(copy_of_course):
    path = rt.file_path(copy_of_course)
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["notebooks"]["07_residual_scaling.ipynb"]
    data["notebooks"]["99_gone.ipynb"] = {"seconds": 1.0, "date": "2026-01-01", "commit": "abc"}
    path.write_text(json.dumps(data), encoding="utf-8")
    problems = lessons.check(copy_of_course)
    assert any("no entry for notebooks/07_residual_scaling.ipynb" in p for p in problems)
    assert any("stale entry 99_gone.ipynb" in p for p in problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"budget": "gpu"}', '"budget": "cpu"'),
        ('{"budget": "cpu", "machine": {"cpu": "x"}}', "cpu, threads and torch"),
        (
            (
                '{"budget": "cpu", "machine": {"cpu": "x", "threads": 2, "torch": "2"},'
                ' "notebooks": {"a.ipynb": {"seconds": -3, "date": "d", "commit": "c"}}}'
            ),
            'the entry of a.ipynb needs "seconds"',
        ),
    ],
)
def test_a_malformed_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / rt.FILE_NAME
    path.write_text(text, encoding="utf-8")
    with pytest.raises(rt.RunTimesError, match=message):
        rt.load(path)
    with pytest.raises(rt.RunTimesError, match=r"does not exist.*--record-times"):
        rt.load(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# Recording


def test_the_file_round_trips_and_a_partial_record_keeps_the_other_entries(tmp_path):
    path = tmp_path / rt.FILE_NAME
    rt.save(RECORDED, path)
    assert rt.load(path) == RECORDED
    assert path.read_text(encoding="utf-8") == rt.file_path(ROOT).read_text(encoding="utf-8")

    new = rt.record(path, {"05_batch_norm.ipynb": 61.23}, NOTEBOOKS, RECORDED.machine, "d", "c")
    assert new.notebooks["05_batch_norm.ipynb"] == rt.Entry(61.2, "d", "c")
    others = {n: e for n, e in new.notebooks.items() if n != "05_batch_norm.ipynb"}
    assert others == {n: e for n, e in RECORDED.notebooks.items() if n != "05_batch_norm.ipynb"}

    everything = {n: 10.0 for n in NOTEBOOKS[:-1]}  # a full run of a course with one less
    new = rt.record(path, everything, NOTEBOOKS[:-1], RECORDED.machine, "d", "c")
    assert sorted(new.notebooks) == NOTEBOOKS[:-1]


def test_recording_refuses_to_mix_machines_or_record_a_smoke_run(tmp_path):
    path = tmp_path / rt.FILE_NAME
    rt.save(RECORDED, path)
    other = {**RECORDED.machine, "threads": RECORDED.threads + 2}
    rt.check_can_record(path, NOTEBOOKS, NOTEBOOKS, other)  # a full run replaces everything
    rt.check_can_record(path, NOTEBOOKS[:1], NOTEBOOKS, RECORDED.machine)  # same machine: fine
    with pytest.raises(rt.RunTimesError, match="another machine"):
        rt.check_can_record(path, NOTEBOOKS[:1], NOTEBOOKS, other)
    with pytest.raises(rt.RunTimesError, match="smoke"):
        rt.check_can_record(path, NOTEBOOKS, NOTEBOOKS, RECORDED.machine, smoke_steps=2)


def test_record_times_updates_the_file_and_every_text(copy_of_course, capsys):
    import course

    notebooks = copy_of_course / "notebooks"
    results = [course.Result(n, n, "ok", 100.0 + i, "cpu") for i, n in enumerate(NOTEBOOKS)]
    machine = {**RECORDED.machine, "threads": 4}
    assert course.record_times(notebooks, results, NOTEBOOKS, machine, "abc1234") == 0, (
        capsys.readouterr()
    )
    recorded = rt.load(notebooks / rt.FILE_NAME)
    assert recorded.machine == machine and recorded.notebooks["00_welcome.ipynb"].seconds == 100.0
    assert {e.commit for e in recorded.notebooks.values()} == {"abc1234"}
    assert lessons.check(copy_of_course) == []
    assert "about 1.5 min at" in _title(copy_of_course, "00_welcome.ipynb")
    assert "with 4 CPU threads" in _title(copy_of_course, "10_capstone.ipynb")
    readme = (copy_of_course / lessons.README).read_text(encoding="utf-8")
    assert "| about 2 min |" in readme and rt.total_phrase(recorded.total) in readme
    assert "updated README.md" in capsys.readouterr().out


def test_course_run_refuses_to_record_at_the_gpu_budget(capsys):
    import course

    assert course.main(["run", "--budget", "gpu", "--record-times", "--fail-fast"]) == 2
    assert "records BUDGET='cpu' only" in capsys.readouterr().err
