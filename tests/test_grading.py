"""nbgrader for classrooms: the exercises' metadata (tools/nbgrader_meta.py), the student edition
and grading (tools/grade.py).

The tools live in tools/ (on the path via pyproject's pytest `pythonpath`).
"""

from __future__ import annotations

import copy
import csv
import json
import re
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.nbgraderformat import MetadataValidator

import grade
import nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def notebook(*cells, title: str = "# A lesson\n\n- one objective") -> nbformat.NotebookNode:
    """A small notebook: a title cell, then `cells` (strings are code cells)."""
    nb = new_notebook(cells=[new_markdown_cell(title)])
    for cell in cells:
        nb.cells.append(new_code_cell(cell) if isinstance(cell, str) else cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def as_json(nb: nbformat.NotebookNode) -> dict:
    """The notebook as its .ipynb file holds it (sources as lists of lines)."""
    return json.loads(nbformat.writes(nb))


AREA = (
    "import math\n\n\n"
    "def area(r):\n"
    '    """Area of a circle of radius r."""\n'
    "    # Exercise 1: return the area of a circle of radius r\n"
    "    ### BEGIN SOLUTION\n"
    "    squared = r * r\n"
    "    return math.pi * squared\n"
    "    ### END SOLUTION"
)
ANSWER = (
    "# Exercise 2: set `answer` to six times seven\n"
    "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"
)


def solved_notebook() -> nbformat.NotebookNode:
    """An instructor notebook: exercise 1 in a function with its check cell after it, exercise 2
    at top level with its check call in the same cell (a cell to split)."""
    nb = notebook(
        AREA,
        "checks.area(area)",
        ANSWER + "\nchecks.answer(answer)\nprint(answer)",
        "print('the end')",
    )
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.execution_count = count
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="Correct\n42\n")]
    nb.cells[3].metadata["tags"] = ["nbval-ignore-output"]
    nb.cells[4].outputs = [new_output("stream", name="stdout", text="the end\n")]
    return nb


# --------------------------------------------------------------------------- exercise format
@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "must be a comment '# Exercise N"),
        ("# Exercise 1: x\n### BEGIN SOLUTION\nx = 1\n", "never closed"),
        ("# Exercise 1: x\n### BEGIN SOLUTION\n### END SOLUTION", "empty solution region"),
        ("x = 1\n### END SOLUTION", "without a '### BEGIN SOLUTION'"),
        (
            "if 1:\n    # Exercise 1: x\n    ### BEGIN SOLUTION\n    x = 1\n### END SOLUTION",
            "indented",
        ),
        ("# Exercise 2: x\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "numbered 1, 2, 3"),
        ("# Exercise 1: x\n### BEGIN SOLUTION  # here\nx = 1\n### END SOLUTION", "stand alone"),
        (
            "if 1:\n    # Exercise 1: x\n    ### BEGIN SOLUTION\n    x = 1\nelse:\n    x = 2\n    ### END SOLUTION",
            "less indented than its markers",
        ),
    ],
)
def test_malformed_solution_regions_are_refused_with_a_clear_message(source, message):
    with pytest.raises(nbgrader_meta.ExerciseFormatError, match=re.escape(message)):
        nbgrader_meta.find_exercises(notebook(source))
    assert any(message in p for p in nbgrader_meta.plan(notebook(source), "x.ipynb").problems)


def test_two_functions_of_one_exercise_share_its_cell_and_its_check():
    source = (
        "def a():\n    # Exercise 1: a\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
        "\n\ndef b():\n    # Exercise 1: b\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION"
    )
    nb = notebook(source, "checks.ab(a, b)")
    assert [e.number for e in nbgrader_meta.find_exercises(nb)] == [1, 1]
    assert nbgrader_meta.plan(nb, "01_a.ipynb").problems == []
    mixed = notebook(source.replace("Exercise 1: b", "Exercise 2: b"), "checks.ab(a, b)")
    assert any("share one cell" in p for p in nbgrader_meta.plan(mixed, "01_a.ipynb").problems)


def test_a_region_whose_stub_breaks_the_cell_is_reported():
    # The region holds part of an expression: replacing it would leave invalid Python.
    source = (
        "x = (\n    # Exercise 1: x\n    ### BEGIN SOLUTION\n    1 +\n    ### END SOLUTION\n    2)"
    )
    problems = nbgrader_meta.plan(notebook(source, "checks.x(x)"), "01_a.ipynb").problems
    assert any("not valid Python" in p for p in problems), problems


# --------------------------------------------------------------------------- metadata
def test_apply_writes_nbgraders_metadata_that_nbgrader_accepts():
    nb = as_json(solved_notebook())
    changed, problems = nbgrader_meta.apply(nb, "07_circles.ipynb", split=True)
    assert changed and problems == []
    meta = [cell["metadata"].get("nbgrader") for cell in nb["cells"]]
    assert meta == [
        None,
        {
            "grade": False,
            "grade_id": "lesson07-exercise-1",
            "locked": False,
            "schema_version": 3,
            "solution": True,
        },
        {
            "grade": True,
            "grade_id": "lesson07-check-1",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
        },
        {
            "grade": False,
            "grade_id": "lesson07-exercise-2",
            "locked": False,
            "schema_version": 3,
            "solution": True,
        },
        {
            "grade": True,
            "grade_id": "lesson07-check-2",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
        },
        None,
    ]
    # nbgrader's own validator (schema version 3, unique grade ids, points on grade cells).
    node = nbformat.reads(json.dumps(nb), as_version=4)
    nbformat.validate(node)
    MetadataValidator().validate_nb(node)
    # Idempotent: a second run changes nothing, byte for byte.
    text = nbgrader_meta.dumps(nb)
    assert nbgrader_meta.apply(nb, "07_circles.ipynb", split=True) == (False, [])
    assert nbgrader_meta.dumps(nb) == text
    assert nbgrader_meta.check(nb, "07_circles.ipynb") == []


def test_split_moves_the_check_and_its_outputs_into_a_cell_of_its_own():
    nb = as_json(solved_notebook())
    nb["cells"][3]["outputs"].append(
        new_output("execute_result", data={"text/plain": "42"}, execution_count=3)
    )
    original_ids = [cell["id"] for cell in nb["cells"]]
    nbgrader_meta.apply(nb, "07_circles.ipynb", split=True)
    solution, check = nb["cells"][3], nb["cells"][4]
    assert nbgrader_meta.cell_source(solution) == ANSWER
    assert nbgrader_meta.cell_source(check) == "checks.answer(answer)\nprint(answer)"
    # The outputs and the tags go with the check (the code that printed them).
    assert solution["outputs"] == [] and "tags" not in solution["metadata"]
    assert check["metadata"]["tags"] == ["nbval-ignore-output"]
    assert "".join(check["outputs"][0]["text"]) == "Correct\n42\n"
    # Execution counts still run 1, 2, 3, ..., execute_result counts with them.
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [1, 2, 3, 4, 5]
    assert check["outputs"][1]["execution_count"] == 4
    ids = [cell["id"] for cell in nb["cells"]]
    assert len(set(ids)) == len(ids) and ids[:4] == original_ids[:4]


def test_without_split_a_check_in_the_solution_cell_is_reported_not_moved():
    nb = as_json(solved_notebook())
    before = len(nb["cells"])
    _, problems = nbgrader_meta.apply(nb, "07_circles.ipynb")
    assert len(nb["cells"]) == before
    assert problems == [
        (
            "07_circles.ipynb, cell 3: Exercise 2's check is called in its solution cell; "
            "nbgrader grades whole cells, so the check needs a cell of its own right below "
            "(`python tools/nbgrader_meta.py apply --split` moves it to its own cell)"
        )
    ]


def test_a_solution_cell_that_prints_above_its_check_is_not_split():
    region = ANSWER.replace("Exercise 2", "Exercise 1")
    nb = as_json(notebook("print('hello')\n" + region + "\nchecks.answer(answer)"))
    _, problems = nbgrader_meta.apply(nb, "01_a.ipynb", split=True)
    assert len(nb["cells"]) == 2
    assert any("split the cell by hand" in p for p in problems), problems


def test_check_reports_missing_stale_and_out_of_date_metadata():
    nb = as_json(solved_notebook())
    nbgrader_meta.apply(nb, "02_circles.ipynb", split=True)
    assert nbgrader_meta.check(nb, "02_circles.ipynb") == []
    del nb["cells"][2]["metadata"]["nbgrader"]  # a new check cell without metadata
    nb["cells"][3]["metadata"]["nbgrader"]["grade_id"] = "old-name"
    nb["cells"][5]["metadata"]["nbgrader"] = nbgrader_meta.check_metadata("lesson02", 9)
    found = nbgrader_meta.check(nb, "02_circles.ipynb")
    assert [line.split(":")[0] for line in found] == [
        "02_circles.ipynb, cell 2",
        "02_circles.ipynb, cell 3",
        "02_circles.ipynb, cell 5",
    ]
    assert "no nbgrader metadata (it should be lesson02-check-1" in found[0]
    assert "out of date" in found[1] and "stale" in found[2]


def test_command_line_applies_then_checks(tmp_path, capsys):
    path = tmp_path / "06_circles.ipynb"
    nbformat.write(solved_notebook(), path)
    assert nbgrader_meta.main(["check", str(path)]) == 1
    assert "no nbgrader metadata" in capsys.readouterr().err
    assert nbgrader_meta.main(["apply", str(path), "--split"]) == 0
    text = path.read_text()
    assert nbgrader_meta.main(["apply", "--split", str(path)]) == 0
    assert path.read_text() == text  # idempotent
    assert nbgrader_meta.main(["check", str(path)]) == 0
    nbformat.validate(nbformat.read(path, as_version=4))


def test_a_signature_or_docstring_inside_the_region_is_reported():
    source = (
        "# Exercise 1: write double\n### BEGIN SOLUTION\ndef double(x):\n"
        '    """Twice x."""\n    return 2 * x\n### END SOLUTION'
    )
    problems = nbgrader_meta.plan(notebook(source, "checks.double(double)"), "03_a.ipynb").problems
    assert len(problems) == 1 and "holds `def double`" in problems[0]
    inside = (
        "def f(x):\n    # Exercise 1: f\n    ### BEGIN SOLUTION\n"
        "    '''Doc.'''\n    return x\n    ### END SOLUTION"
    )
    problems = nbgrader_meta.plan(notebook(inside, "checks.f(f)"), "03_a.ipynb").problems
    assert len(problems) == 1 and "starts with a docstring" in problems[0]


def test_each_exercise_needs_a_check_cell_right_after_it():
    nb = notebook(AREA, "print(area(1))", "checks.area(area)")
    problems = nbgrader_meta.plan(nb, "04_a.ipynb").problems
    assert problems == [
        (
            "04_a.ipynb, cell 1: the code cell right after Exercise 1 must call its check "
            "(`checks.<name>(...)`): nbgrader scores that cell"
        )
    ]
    assert nbgrader_meta.calls_a_check("checks.lesson09.top_k_error(f)")
    assert not nbgrader_meta.calls_a_check("# checks.top_k_error(f)\nprint('checks.x(1)')")


@pytest.mark.parametrize(
    ("output", "held"),
    [
        (new_output("stream", name="stderr", text="UserWarning: ...\n"), "stderr"),
        (
            new_output("execute_result", data={"text/plain": "0.5"}, execution_count=2),
            "execute_result",
        ),
        (new_output("error", ename="AssertionError", evalue="Not yet", traceback=[]), "error"),
    ],
)
def test_a_check_cell_whose_output_nbgrader_would_not_score_as_a_pass_is_reported(output, held):
    nb = notebook(AREA, "checks.area(area)")
    nb.cells[2].outputs = [new_output("stream", name="stdout", text="Correct\n"), output]
    problems = nbgrader_meta.plan(as_json(nb), "05_a.ipynb").problems
    assert len(problems) == 1 and f"output holds {held};" in problems[0], problems


def test_lesson_ids():
    assert nbgrader_meta.lesson_id("09_inception_v4_resnet.ipynb") == "lesson09"
    assert nbgrader_meta.lesson_id("notebooks/10_capstone.ipynb") == "lesson10"
    assert nbgrader_meta.lesson_id("my lesson.ipynb") == "my_lesson"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_carries_its_nbgrader_metadata(path):
    """Each exercise of the course is an nbgrader solution cell followed by an autograded check
    cell; `python tools/nbgrader_meta.py apply --split` writes what is missing."""
    problems = nbgrader_meta.check(json.loads(path.read_text(encoding="utf-8")), path.name)
    assert problems == [], "\n".join(problems)


# --------------------------------------------------------------------------- student edition
HIDDEN = "checks.area(area)\n### BEGIN HIDDEN TESTS\nassert area(0) == 0\n### END HIDDEN TESTS"


def test_student_edition_through_nbgrader(tmp_path):
    source = tmp_path / "src" / "05_circles.ipynb"
    source.parent.mkdir()
    nb = solved_notebook()
    nb.cells[2].source = HIDDEN
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, source)
    plain = source.parent / "00_plain.ipynb"
    nbformat.write(notebook("print(1)"), plain)
    before = source.read_text()
    out, course = tmp_path / "student", tmp_path / "course"
    args = ["student", "--out", str(out), "--course", str(course), str(plain), str(source)]
    assert grade.main(args) == 0
    assert source.read_text() == before, "the instructor notebook must not change"
    assert sorted(p.name for p in out.iterdir()) == ["00_plain.ipynb", "05_circles.ipynb"]
    assert (course / "release" / "05_circles" / "05_circles.ipynb").is_file()

    edition = nbformat.read(out / "05_circles.ipynb", as_version=4)
    sources = [cell.source for cell in edition.cells]
    stub = f"    {grade.STUB}"
    # The signature, the docstring and the `# Exercise N:` line stay; the region is the stub.
    assert sources[1].splitlines()[-4:] == [
        "def area(r):",
        '    """Area of a circle of radius r."""',
        "    # Exercise 1: return the area of a circle of radius r",
        stub,
    ]
    assert sources[3] == f"# Exercise 2: set `answer` to six times seven\n{grade.STUB}"
    assert sources[4] == "checks.answer(answer)\nprint(answer)"  # its own, locked, cell
    text = "\n".join(sources)
    assert "SOLUTION" not in text and "squared" not in text and "answer = 42" not in text
    assert "HIDDEN" not in text and "area(0)" not in text and "checks.area(area)" in text
    code = [c for c in edition.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in edition.metadata
    assert edition.cells[0].source.endswith(grade.STUDENT_NOTE.rstrip())
    locked = [c.metadata.get("editable", True) is False for c in edition.cells]
    assert locked == [False, False, True, False, True, False]
    # The stub raises what it says.
    namespace: dict = {}
    exec(sources[1], namespace)  # our own test cell
    with pytest.raises(NotImplementedError, match=r"^Exercise: replace this line with your code$"):
        namespace["area"](1.0)
    plain_edition = nbformat.read(out / "00_plain.ipynb", as_version=4)
    assert [c.source for c in plain_edition.cells] == [c.source for c in notebook("print(1)").cells]


@pytest.fixture(scope="module")
def course_student_edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student")
    grade.student_edition(NOTEBOOKS, out, tmp_path_factory.mktemp("course"))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
@pytest.mark.slow  # one kernel per notebook, run up to its first exercise: 25-50 s each
def test_student_edition_of_each_notebook_stops_at_its_first_exercise(path, course_student_edition):
    nb = nbformat.read(path, as_version=4)
    exercises = nbgrader_meta.find_exercises(nb, str(path))
    edition = nbformat.read(course_student_edition / path.name, as_version=4)
    # One stub per solution region, in code cells (the welcome's prose quotes the stub).
    code = [c for c in edition.cells if c.cell_type == "code"]
    stubs = sum(c.source.count(grade.STUB) for c in code)
    assert stubs == len(exercises)
    if not exercises:
        assert [c.source for c in edition.cells[1:]] == [c.source for c in nb.cells[1:]]
        return
    first = next(
        i for i, c in enumerate(edition.cells) if c.cell_type == "code" and grade.STUB in c.source
    )
    with pytest.raises(CellExecutionError) as raised:
        NotebookClient(
            edition,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        ).execute()
    stopped = f"{raised.value.ename}: {raised.value.evalue}"
    assert stopped == "NotImplementedError: Exercise: replace this line with your code", (
        f"the student edition of {path.name} should stop at Exercise 1; it stopped with {stopped}"
    )
    failed = [
        i
        for i, c in enumerate(edition.cells)
        if any(o.output_type == "error" for o in c.get("outputs", []))
    ]
    assert failed and failed[0] >= first


# --------------------------------------------------------------------------- grading
# A small lesson with two exercises and the course's real checks (lesson 09's, the cheapest).
TOP_K = """\
true = logits.gather(1, labels.view(-1, 1))
beaten_by = (logits > true).sum(dim=1)
return (beaten_by >= k).float().mean().item()"""
TEN_CROP = """\
h, w = images.shape[-2:]
top, left = round((h - size) / 2), round((w - size) / 2)
crops = []
for x in (images, images.flip(-1)):
    crops += [
        x[..., :size, :size],
        x[..., :size, w - size :],
        x[..., h - size :, :size],
        x[..., h - size :, w - size :],
        x[..., top : top + size, left : left + size],
    ]
return torch.stack(crops)"""
# The shortcut the check rejects: torchvision's ten_crop, the function the exercise asks to write.
SHORTCUT = "return torch.stack(list(torchvision.transforms.functional.ten_crop(images, size)))"
CRASH = "import os\n\nos._exit(1)  # the kernel dies, as after a segfault or running out of memory"
ENDLESS = "while True:\n    pass"


def _exercise(signature: str, number: int, body: str) -> str:
    """A solution cell: `signature` (the def line and docstring), then Exercise `number`'s
    solution region holding `body`."""
    region = f"# Exercise {number}: write it\n{nbgrader_meta.BEGIN}\n{body}\n{nbgrader_meta.END}"
    return f"{signature}\n{textwrap.indent(region, '    ')}"


def grading_lesson() -> nbformat.NotebookNode:
    cells = [
        "import torch\nimport torchvision\n\nfrom inception_lab import checks",
        _exercise(
            'def top_k_error(logits, labels, k):\n    """Fraction of images, true class not in top k."""',
            1,
            TOP_K,
        ),
        "checks.top_k_error(top_k_error)",
        _exercise(
            'def ten_crop(images, size):\n    """(N, C, H, W) -> (10, N, C, size, size)."""',
            2,
            TEN_CROP,
        ),
        "checks.ten_crop(ten_crop)",
        new_markdown_cell("## Summary"),
    ]
    return notebook(*cells, title="# Grading demo\n\n- two exercises")


def _fill(edition: nbformat.NotebookNode, answers: dict[int, str]) -> nbformat.NotebookNode:
    """A learner's copy of the student edition with the stub of exercise N replaced by
    answers[N] (a function body)."""
    nb = copy.deepcopy(edition)
    solution_cells = [c for c in nb.cells if grade.STUB in c.source]
    for number, body in answers.items():
        cell = solution_cells[number - 1]
        cell.source = cell.source.replace(f"    {grade.STUB}", textwrap.indent(body, "    "))
    return nb


@pytest.mark.slow  # 1 CPU-minute; 3-4 minutes on a busy 2-core machine
def test_grading_five_learners(tmp_path, monkeypatch):
    """`make grade` on five learners: the instructor's solutions (full points), the untouched
    student edition (0), a shortcut the check rejects (that exercise 0), a kernel that dies in
    exercise 2 (exercise 1's point kept) and an endless loop in exercise 1 (interrupted after
    the timeout; exercise 2's point kept). Offline: any HTTP request would fail."""
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    instructor = tmp_path / "instructor"
    instructor.mkdir()
    name = "99_grading_demo.ipynb"
    nbformat.write(grading_lesson(), instructor / name)
    grade.student_edition([instructor / name], tmp_path / "student", tmp_path / "course")
    edition = nbformat.read(tmp_path / "student" / name, as_version=4)
    learners = {
        "ada": _fill(edition, {1: TOP_K, 2: TEN_CROP}),
        "ben": edition,
        "cy": _fill(edition, {1: TOP_K, 2: SHORTCUT}),
        "dee": _fill(edition, {1: TOP_K, 2: CRASH}),
        "eve": _fill(edition, {1: ENDLESS, 2: TEN_CROP}),
    }
    submissions = tmp_path / "submissions"
    for learner, nb in learners.items():
        (submissions / learner).mkdir(parents=True)
        nbformat.write(nb, submissions / learner / name)
    timeout = 60  # seconds per cell: the import cell takes up to ~20 s on a busy 2-core machine
    start = time.monotonic()
    rows = grade.grade(submissions, tmp_path / "grades", timeout=timeout, notebooks=instructor)
    assert time.monotonic() - start < 5 * 60
    with (tmp_path / "grades" / "grades.csv").open(newline="") as f:
        assert next(csv.reader(f)) == [
            "learner",
            "notebook",
            "exercise_1",
            "exercise_2",
            "total",
            "max_points",
        ]
    points = {r["learner"]: (r["exercise_1"], r["exercise_2"], r["total"]) for r in rows}
    assert points == {
        "ada": ("1", "1", "2"),
        "ben": ("0", "0", "0"),
        "cy": ("1", "0", "1"),
        "dee": ("1", "0", "1"),
        "eve": ("0", "1", "1"),
    }
    assert {r["notebook"] for r in rows} == {name} and {r["max_points"] for r in rows} == {"2"}
    feedback = {
        learner: (tmp_path / "grades" / "feedback" / learner / "99_grading_demo.html").read_text()
        for learner in learners
    }
    assert "Not yet. Hint" in feedback["cy"] and "ten_crop" in feedback["cy"]
    assert "DeadKernelError" in feedback["dee"]
    assert "CellTimeoutError" in feedback["eve"]
    assert "NotImplementedError" in feedback["ben"]


def test_submissions_must_be_learner_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no learner's notebooks"):
        grade.collect(tmp_path / "empty", {"09_a.ipynb"})
    (tmp_path / "bad" / "two words").mkdir(parents=True)
    with pytest.raises(ValueError, match="letters, digits"):
        grade.collect(tmp_path / "bad", {"09_a.ipynb"})
    with pytest.raises(ValueError, match="must be a folder"):
        grade.collect(tmp_path / "missing", {"09_a.ipynb"})
    (tmp_path / "ok" / "ada").mkdir(parents=True)
    (tmp_path / "ok" / "ada" / "09_a.ipynb").write_text("{}")
    (tmp_path / "ok" / "ada" / "notes.ipynb").write_text("{}")
    assert grade.collect(tmp_path / "ok", {"09_a.ipynb"}) == {
        "ada": [tmp_path / "ok" / "ada" / "09_a.ipynb"]
    }
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    (tmp_path / "instructor").mkdir()
    (tmp_path / "instructor" / "09_a.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="not removing it"):
        grade.grade(tmp_path / "ok", tmp_path / "out", notebooks=tmp_path / "instructor")
    with pytest.raises(ValueError, match="must not lie inside"):
        grade.grade(tmp_path / "ok", tmp_path, notebooks=tmp_path / "instructor")
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"
