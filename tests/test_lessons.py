"""The course's one list of lessons, notebooks/lessons.toml, and what is written from it.

The repository agrees with the list: one entry per notebook, in order; each title cell's heading;
the lesson tables of the README, the welcome notebook and the instructor guide, row by row; the
counts those documents state; each lesson's checks module and its tests; the course index. The
tests read the documents with their own small parsers, not with tools/lessons.py. Planted copies
(the `copy_of_course` fixture of tests/conftest.py) show that `lessons.check` fails on a hand
edit and that a new lesson is one entry, its notebook and its checks module: `write_texts` does
the rest.
"""

from __future__ import annotations

import html
import importlib
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

import lessons
import run_times as rt

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
ENTRIES = tomllib.loads((ROOT / "notebooks" / "lessons.toml").read_text(encoding="utf-8"))["lesson"]
RECORDED = rt.load(rt.file_path(ROOT))
WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
]


def _notebook(root: Path, name: str) -> dict:
    return json.loads((root / "notebooks" / name).read_text(encoding="utf-8"))


def _title(root: Path, name: str) -> str:
    return "".join(_notebook(root, name)["cells"][0]["source"])


def _markdown(root: Path, name: str) -> str:
    cells = _notebook(root, name)["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _document(root: Path, label: str) -> str:
    if label == "welcome":
        return _markdown(root, "00_welcome.ipynb")
    path = {"README": "README.md", "guide": "docs/instructor_guide.md"}[label]
    return (root / path).read_text(encoding="utf-8")


def _table(markdown: str, first_header_cell: str) -> list[list[str]]:
    """The body rows (lists of stripped cells) of the table whose header starts with the cell."""
    lines = markdown.split("\n")
    start = next(
        i
        for i, ln in enumerate(lines)
        if re.match(rf"\|\s*{re.escape(first_header_cell)}\s*\|", ln)
    )
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------------------------
# The repository agrees with the list


def test_the_list_has_one_entry_per_notebook_in_order():
    assert [e["notebook"] for e in ENTRIES] == NOTEBOOKS
    assert [e["number"] for e in ENTRIES] == list(range(len(NOTEBOOKS)))
    for entry in ENTRIES:
        assert entry["notebook"].startswith(f"{entry['number']:02d}_"), entry["notebook"]
    assert [n.notebook for n in lessons.load(lessons.file_path(ROOT))] == NOTEBOOKS


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["notebook"] for e in ENTRIES])
def test_the_title_cell_has_the_lists_heading_in_the_course_style(entry):
    heading = _title(ROOT, entry["notebook"]).split("\n")[0]
    if entry["number"] == 0:
        assert heading == f"# {entry['title']}" == "# Welcome to Inception Lab"
    else:
        assert heading == f"# Lesson {entry['number']} — {entry['title']}"
    # The course index takes a notebook's title from its first heading (tools/course.py).
    import course

    nb = nbformat.read(ROOT / "notebooks" / entry["notebook"], as_version=4)
    assert course.notebook_title(nb, entry["notebook"]) == heading[2:]


@pytest.mark.parametrize(
    ("label", "first", "listed", "columns"),
    [
        ("README", "#", ENTRIES, ["number", "link:notebooks/", "topic", "time"]),
        ("welcome", "#", ENTRIES[1:], ["number", "link:", "learn", "time"]),
        ("guide", "lesson", ENTRIES, ["short", "time", "gpu_run_time", "time_goes_to"]),
    ],
)
def test_each_lesson_table_is_the_list_row_by_row(label, first, listed, columns):
    rows = _table(_document(ROOT, label), first)
    assert len(rows) == len(listed), [r[0] for r in rows]
    for row, entry in zip(rows, listed, strict=True):
        seconds = RECORDED.notebooks[entry["notebook"]].seconds
        for cell, column in zip(row, columns, strict=True):
            if column == "number":
                expected = str(entry["number"])
            elif column.startswith("link:"):
                folder = column[len("link:") :]
                expected = f"[`{entry['notebook']}`]({folder}{entry['notebook']})"
            elif column == "short":
                expected = f"{entry['number']:02d} {entry['short']}"
            elif column == "time":
                expected = rt.display(seconds)
            else:
                expected = entry[column]
            assert cell == expected, (label, entry["notebook"], column)


@pytest.mark.parametrize("label", ["README", "welcome", "guide"])
def test_the_documents_count_the_lessons_of_the_list(label):
    text = _document(ROOT, label)
    counts = re.findall(
        rf"\b({'|'.join(WORDS)})( JupyterLab)? (lessons|notebooks)\b", text, re.IGNORECASE
    )
    assert counts, f"{label} states no count"
    for word, _, what in counts:
        expected = len(ENTRIES) if what == "notebooks" else len(ENTRIES) - 1
        assert WORDS.index(word.lower()) == expected, (label, word, what)


@pytest.mark.parametrize("entry", ENTRIES[1:], ids=[e["notebook"] for e in ENTRIES[1:]])
def test_each_lessons_checks_module_holds_the_checks_its_notebook_calls(entry):
    module = importlib.import_module(entry["checks"])
    common = importlib.import_module("inception_lab.checks._common")
    nb = nbformat.read(ROOT / "notebooks" / entry["notebook"], as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    called = set(re.findall(r"\bchecks\.(\w+)", code))
    assert called, f"{entry['notebook']} calls no check"
    for name in called:
        assert hasattr(module, name) or hasattr(common, name), (entry["checks"], name)
    assert (ROOT / "tests" / f"test_checks_{entry['number']:02d}.py").is_file()


def test_check_finds_no_disagreement():
    assert lessons.check(ROOT) == []


def test_the_course_index_shows_the_lists_headings_and_topics_in_order(tmp_path):
    import course

    listed = {n.notebook: n for n in lessons.load(lessons.file_path(ROOT))}
    results = [course.Result(e["notebook"], "ignored", "ok", 10.0, "cpu") for e in ENTRIES]
    results.append(course.Result("99_extra.ipynb", "An extra notebook", "ok", 1.0, "cpu"))
    times = {name: rt.display(e.seconds) for name, e in RECORDED.notebooks.items()}
    page = course.write_index(tmp_path, results, {"torch": "x"}, times, listed)
    page = page.read_text(encoding="utf-8")
    shown = re.findall(r'<a href="([\w-]+)\.html">([^<]+)</a>(?:<br><small>([^<]*)</small>)?', page)
    expected = [
        (e["notebook"][:-6], f"Lesson {e['number']} — {e['title']}", e["topic"])
        for e in ENTRIES[1:]
    ]
    expected.insert(0, ("00_welcome", ENTRIES[0]["title"], ENTRIES[0]["topic"]))
    expected.append(("99_extra", "An extra notebook", ""))  # not listed: its own title, no topic
    assert [(a, html.unescape(b), html.unescape(c)) for a, b, c in shown] == expected
    assert f"<td>{rt.display(RECORDED.notebooks['03_googlenet.ipynb'].seconds)}</td>" in page


# ---------------------------------------------------------------------------------------------
# Planted copies: a hand edit fails, write_texts repairs it, a new lesson is one entry


def test_an_edited_topic_and_heading_fail_and_write_texts_repairs_only_them(copy_of_course):
    before = _snapshot(copy_of_course)
    readme = copy_of_course / "README.md"
    topic = ENTRIES[4]["topic"]
    readme.write_text(readme.read_text(encoding="utf-8").replace(topic, "a topic typed by hand"))
    path = copy_of_course / "notebooks" / "07_residual_scaling.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["cells"][0]["source"][0] = "# Lesson 7 — Another title\n"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    problems = lessons.check(copy_of_course)
    assert len(problems) == 2, problems
    assert problems[0].startswith("notebooks/07_residual_scaling.ipynb, cell 0: the heading is")
    assert problems[1].startswith("README.md: lesson table: row 5 says")
    assert "a topic typed by hand" in problems[1]

    changed = lessons.write_texts(copy_of_course)
    assert sorted(str(p.relative_to(copy_of_course)) for p in changed) == [
        "README.md",
        "notebooks/07_residual_scaling.ipynb",
    ]
    assert _snapshot(copy_of_course) == before  # byte for byte, outputs included
    assert lessons.check(copy_of_course) == []


def test_a_notebook_without_entry_and_an_entry_without_notebook_are_reported(copy_of_course):
    notebooks = copy_of_course / "notebooks"
    (notebooks / "09_inception_v4_resnet.ipynb").rename(notebooks / "09_renamed.ipynb")
    problems = "\n".join(lessons.check(copy_of_course))
    assert "notebooks/lessons.toml: no entry for notebooks/09_renamed.ipynb" in problems
    assert "lists 09_inception_v4_resnet.ipynb, which does not exist" in problems
    with pytest.raises(lessons.LessonsError, match=r"09_inception_v4_resnet\.ipynb: no such"):
        lessons.write_texts(copy_of_course)


def test_a_check_the_lessons_module_does_not_define_is_reported(copy_of_course):
    where = "notebooks/03_googlenet.ipynb: "
    path = copy_of_course / "notebooks" / "03_googlenet.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(2, nbformat.v4.new_code_cell("checks.no_such_check(answer)"))
    nbformat.write(nb, path)
    (copy_of_course / "tests" / "test_checks_03.py").unlink()
    problems = [p[len(where) :] for p in lessons.check(copy_of_course) if p.startswith(where)]
    assert "its checks module has no tests: tests/test_checks_03.py is missing" in problems
    (calls,) = [p for p in problems if p.startswith("calls checks")]
    assert "'no_such_check'" in calls and calls.endswith(
        "which inception_lab.checks.lesson03 does not define"
    )


NEW_ENTRY = """
[[lesson]]
number = 11
notebook = "11_xception.ipynb"
title = "Xception: the extreme Inception module"
short = "Xception"
checks = "inception_lab.checks.lesson11"
topic = "depthwise separable convolutions as an extreme Inception module"
learn = "Depthwise separable convolutions, counted and trained."
gpu_run_time = "3-6 min"
time_goes_to = "one training run"
"""


def test_a_new_lesson_is_one_entry_its_notebook_and_its_checks_module(copy_of_course):
    root = copy_of_course
    # The entry, the notebook (a draft title cell), the checks module and its tests.
    toml = root / "notebooks" / "lessons.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Lesson 11 — draft\n\n- one objective"  # no run time yet
        ),
        nbformat.v4.new_code_cell("checks.separable_cost(my_cost)"),
    ]
    nbformat.write(nb, root / "notebooks" / "11_xception.ipynb")
    module = root / "inception_lab" / "checks" / "lesson11.py"
    module.write_text("def separable_cost(fn):\n    pass\n", encoding="utf-8")
    (root / "tests" / "test_checks_11.py").write_text("", encoding="utf-8")
    # Its run time, as `make course RECORD_TIMES=1` would record it.
    path = rt.file_path(root)
    rt.record(
        path,
        {"11_xception.ipynb": 42.0},
        [*NOTEBOOKS, "11_xception.ipynb"],
        RECORDED.machine,
        "2026-12-01",
        "abc1234",
    )
    assert lessons.check(root)  # the texts do not list it yet

    lessons.write_texts(root)
    assert lessons.check(root) == []
    assert _title(root, "11_xception.ipynb") == (
        "# Lesson 11 — Xception: the extreme Inception module\n\n"
        + rt.sentence(42.0, RECORDED.threads)
        + "\n\n- one objective"
    )
    readme = _document(root, "README")
    assert _table(readme, "#")[-1] == [
        "11",
        "[`11_xception.ipynb`](notebooks/11_xception.ipynb)",
        "depthwise separable convolutions as an extreme Inception module",
        "about 40 s",
    ]
    assert _table(_document(root, "welcome"), "#")[-1][2] == (
        "Depthwise separable convolutions, counted and trained."
    )
    assert _table(_document(root, "guide"), "lesson")[-1] == [
        "11 Xception",
        "about 40 s",
        "3-6 min",
        "one training run",
    ]
    assert "All twelve notebooks (a welcome and eleven lessons)" in readme
    assert "Eleven JupyterLab lessons" in readme
    total = rt.total_phrase(RECORDED.total + 42.0)
    for label in ("README", "welcome", "guide"):
        assert total in _document(root, label), label


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("number = 3\n", "number = 4\n", 1), "numbered 0, 1, 2"),
        (lambda t: t.replace('"03_googlenet.ipynb"', '"3_googlenet.ipynb"'), "'03_<name>.ipynb'"),
        (lambda t: t.replace('short = "GoogLeNet"', 'shrt = "GoogLeNet"'), r"unknown fields \["),
        (lambda t: t.replace('short = "GoogLeNet"\n', ""), r"missing fields \['short'\]"),
        (lambda t: t.replace('short = "GoogLeNet"', 'short = "Goog|LeNet"'), "without '|'"),
        (lambda t: t.replace("number = 3\n", "number = true\n", 1), "number must be int"),
        (lambda t: t.replace('checks = "inception_lab.checks.lesson03"\n', ""), "needs 'learn'"),
        (lambda t: "extra = 1\n" + t, r"\[\[lesson\]\] entries and nothing else"),
        (lambda t: t + "\n[[lesson\n", "not valid TOML"),
    ],
)
def test_a_malformed_list_is_a_clear_error(tmp_path, edit, message):
    text = (ROOT / "notebooks" / "lessons.toml").read_text(encoding="utf-8")
    assert lessons.parse(text)  # the original parses
    path = tmp_path / "lessons.toml"
    path.write_text(edit(text), encoding="utf-8")
    with pytest.raises(lessons.LessonsError, match=message):
        lessons.load(path)
    with pytest.raises(lessons.LessonsError, match="does not exist"):
        lessons.load(tmp_path / "missing.toml")
