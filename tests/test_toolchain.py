"""The course toolchain: environment files, course runner, nbval set-up, welcome. (The student
edition and grading with nbgrader: tests/test_grading.py.)

The tools under test live in tools/ (on the path via pyproject's pytest `pythonpath`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbval.plugin import get_sanitize_patterns

import check_notebooks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
KERNEL_ENV = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def notebook(
    *cells, title="# A lesson\n\n**Run time:** 1 s\n\n- one objective"
) -> nbformat.NotebookNode:
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


def parameters_cell(budget: str = "cpu") -> nbformat.NotebookNode:
    return new_code_cell(f'BUDGET = "{budget}"\nSEED = 0', metadata={"tags": ["parameters"]})


# --------------------------------------------------------------------------- environment files
def test_environment_yml_is_in_step_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"

    # Same Python floor.
    python = [d for d in conda if re.match(r"python\b", d)]
    assert python == [f"python{project['requires-python']}"], (python, project["requires-python"])

    # pip installs the package itself with every extra pyproject defines, so the dependency
    # ranges live in one place only.
    (install,) = [line for line in pip_sections[0] if line.lstrip("-e ").startswith(".")]
    extras = set(re.fullmatch(r"-e \.\[([\w,]+)\]", install).group(1).split(","))
    assert extras == set(project["optional-dependencies"]), (
        extras,
        project["optional-dependencies"],
    )

    # Nothing else is pinned in environment.yml that could drift from pyproject.toml.
    others = [d for d in conda if not re.match(r"(python|pip)\b", d)]
    assert others == [] and pip_sections[0] == [install], (others, pip_sections[0])


def _requirements() -> dict[str, str]:
    """{name: requirement} of every dependency in pyproject.toml, the extras' included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {re.match(r"[\w-]+", r).group(0).lower(): r for r in requirements}


def _range(requirement: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(floor, ceiling) of a 'name>=A,<B' requirement, as tuples of release numbers."""
    match = re.fullmatch(r"[\w-]+>=([\d.]+),<([\d.]+)(;.*)?", requirement)
    assert match, f"{requirement!r} is not a 'name>=floor,<ceiling' range"
    return _release(match.group(1)), _release(match.group(2))


def _release(version: str) -> tuple[int, ...]:
    """'2.14.1+cu130' -> (2, 14, 1); tuples compare like releases, (2, 2, 9) < (2, 3)."""
    return tuple(int(p) for p in re.match(r"\d+(?:\.\d+)*", version).group(0).split("."))


def test_pyproject_uses_ranges_not_exact_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in _requirements().values():
        assert "==" not in requirement, f"exact pin {requirement!r}: use a version range"
        floor, ceiling = _range(requirement)
        assert floor < ceiling, requirement
    assert project["license"] == "MIT"
    for name in ("pytest", "nbval", "ruff", "playwright", "pillow", "pyyaml"):
        assert name in {
            re.match(r"[\w-]+", r).group(0) for r in project["optional-dependencies"]["dev"]
        }


@pytest.mark.parametrize("name", ["torch", "torchvision"])
def test_installed_torch_is_within_the_range_in_pyproject(name):
    """The torch (and torchvision) this environment runs lies between pyproject's floor and
    ceiling: the floor is the one tests/test_floors.py derives from the APIs the code calls."""
    module = importlib.import_module(name)
    floor, ceiling = _range(_requirements()[name])
    installed = _release(module.__version__)
    assert floor <= installed < ceiling, (module.__version__, _requirements()[name])


def test_release_comparison_orders_versions_like_pip():
    assert _release("2.14.1+cu130") == (2, 14, 1) and _release("2.3") == (2, 3)
    assert _release("2.2.9") < _release("2.3") <= _release("2.3.0") < _release("2.14")
    assert _range("torch>=2.3,<3") == ((2, 3), (3,))


def test_installed_dependencies_are_within_the_ranges_in_pyproject():
    """Every package pyproject.toml requires (the dev extra's too) is installed in a version its
    range admits: a stale .venv (pyproject changed, not reinstalled) fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    checked = []
    for requirement in requirements:
        if ";" in requirement and sys.version_info >= (3, 11):  # tomli: Python 3.10 only
            continue
        name = re.match(r"[\w-]+", requirement).group(0)
        floor, ceiling = _range(requirement)
        version = importlib.metadata.version(name)
        assert floor <= _release(version) < ceiling, (name, version, requirement)
        checked.append(name)
    assert {"torch", "torchvision", "numpy", "nbval"} <= set(checked)


def test_installed_metadata_states_the_floors_of_pyproject():
    """inception_lab.versions.floors (what the welcome notebook prints) reads the floors back from
    the installed package: they are pyproject's, for every required (not optional) dependency."""
    from inception_lab.versions import floors

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = {
        re.match(r"[\w-]+", r).group(0).lower(): _range(r)[0] for r in project["dependencies"]
    }
    expected["python"] = _release(re.fullmatch(r">=([\d.]+)", project["requires-python"])[1])
    assert floors() == expected
    assert floors()["torch"] == _range(_requirements()["torch"])[0]


def test_makefile_stamp_skips_reinstall_until_pyproject_changes(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    stamp = tmp_path / ".venv" / ".stamp"
    stamp.parent.mkdir()
    stamp.touch()
    os.utime(tmp_path / "pyproject.toml", (1_000_000, 1_000_000))  # older than the stamp

    def dry_run() -> str:  # make -n prints the commands without running them
        return subprocess.run(
            ["make", "-n", "test"], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout

    assert "pip install" not in dry_run()
    assert "pytest tests notebooks" in dry_run()
    os.utime(tmp_path / "pyproject.toml")  # now newer than the stamp: reinstall
    assert "pip install --quiet -e '.[dev]'" in dry_run()


def test_readme_leads_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", readme, re.DOTALL).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert [c for c in commands if c] == ["make course", "make test"]
    assert "make lab" in readme and "BUDGET=gpu" in readme and "make student" in readme


@pytest.mark.parametrize("bad", ["", "dev", "v", None, 2.3])
def test_version_tuple_refuses_what_is_not_a_version(bad):
    from inception_lab.versions import version_tuple

    with pytest.raises((TypeError, ValueError), match=r"release numbers|must be a string"):
        version_tuple(bad)
    assert version_tuple("2.14.1+cu130") == _release("2.14.1+cu130") == (2, 14, 1)


# --------------------------------------------------------------------------- conventions
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_conventions(path):
    problems = check_notebooks.check_notebook(path)
    assert problems == [], "\n".join(problems)


def test_convention_checker_finds_each_kind_of_problem(tmp_path):
    bad = notebook(
        new_code_cell("import torch", execution_count=1),
        new_code_cell(
            'BUDGET = "gpu"\nEPOCHS = 3', metadata={"tags": ["parameters"]}, execution_count=3
        ),
        new_code_cell("plt.plot([1, 2]);", execution_count=4),
        new_code_cell(
            "print(seconds)", metadata={"tags": ["nbval-ignore-output"]}, execution_count=5
        ),
        title="Lesson without a heading",
    )
    path = tmp_path / "bad.ipynb"
    nbformat.write(bad, path)
    problems = "\n".join(check_notebooks.check_notebook(path))
    for expected in [
        "cell 0 must be a markdown cell starting with a '# Title'",
        "last cell must be a markdown summary",
        'must set BUDGET = "cpu"',
        "must set SEED to an integer",
        "only BUDGET, SEED and SMOKE_STEPS; also has ['EPOCHS']",
        "execution count is 3, expected 2",
    ]:
        assert expected in problems, (expected, problems)

    counts_ok = notebook(
        parameters_cell(),
        new_code_cell("plt.plot([1, 2]);"),
        new_code_cell("print(seconds)", metadata={"tags": ["nbval-ignore-output"]}),
        new_code_cell("import warnings; warnings.warn('careful')"),
        new_markdown_cell("## Summary"),
    )
    for count, cell in enumerate(c for c in counts_ok.cells if c.cell_type == "code"):
        cell.execution_count = count + 1
    counts_ok.cells[4].outputs = [
        new_output("stream", name="stderr", text="UserWarning: careful\n")
    ]
    nbformat.write(counts_ok, path)
    problems = "\n".join(check_notebooks.check_notebook(path))
    assert "ends with ';'" in problems
    assert "must end in asserts" in problems
    assert "writes to stderr" in problems
    assert "execution count" not in problems and "parameters cell" not in problems


CORE_TITLE = (
    "# Lesson 3 — A lesson\n\n- one objective\n\n**Run time:** about 1 s\n\n"
    "**Core path** (a 45-60 minute class): sections 1-2 and 4 and the exercises. "
    "**Going further:** sections 3 and 5, for self-study or a longer session.\n\n"
    "**You need:** nothing."
)
CORE_SECTIONS = [
    "## 1. The idea",
    "## 2. Its smallest demonstration\n\n### A subsection is not a section",
    "## Exercise 1: not a section either",
    "## 3. Going further: A reconciliation with the paper",
    "## 4. The verdict",
    "## 5. Going further: What is understood today",
    "## Summary",
]


def core_problems(title: str, sections: list[str], name: str = "03_lesson.ipynb") -> list[str]:
    """The core-path problems of a lesson with this title cell and these markdown cells."""
    nb = notebook(*(new_markdown_cell(s) for s in sections), title=title)
    nb.cells.insert(
        2, new_code_cell("# Exercise 1: do it\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    )
    return check_notebooks.check_core_path(nb, name, check_notebooks.lesson_number(name))


def test_core_path_check_accepts_a_marked_lesson_and_skips_the_welcome():
    assert core_problems(CORE_TITLE, CORE_SECTIONS) == []
    whole = CORE_TITLE.split("**Core path**")[0] + (
        "**Core path** (a 45-60 minute class): the whole lesson.\n\n**You need:** nothing."
    )
    plain = [s.replace("Going further: ", "") for s in CORE_SECTIONS]
    assert core_problems(whole, plain) == []
    # The welcome (lesson 0) and files without a lesson number have no sections to mark.
    assert core_problems("# Welcome\n\n- one", ["## 2. Who"], name="00_welcome.ipynb") == []
    assert core_problems("# Welcome\n\n- one", ["## 2. Who"], name="scratch.ipynb") == []
    # The class length is a plan, not a number the claims check wants printed; elsewhere it is.
    nb = notebook(new_markdown_cell("A 45-60 minute lecture."), title=CORE_TITLE)
    found = check_notebooks.check_claims(nb, "03_lesson.ipynb")
    assert {p.split(": the prose")[0] for p in found} == {"03_lesson.ipynb, cell 1"}, found
    assert "cites 45" in found[0]


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("sections 1-4 and the exercises.", [1, 2, 3, 4]),
        ("sections 1–3, 5 and 7-8, for self-study", [1, 2, 3, 5, 7, 8]),
        ("section 6, for self-study", [6]),
        ("sections 1-2 and 4 and the exercises", [1, 2, 4]),
        ("the exercises only", []),
    ],
)
def test_section_numbers_reads_lists_and_ranges(text, numbers):
    assert check_notebooks.section_numbers(text) == numbers


def test_core_path_check_reports_every_problem_at_once():
    # Sections 1, 2, 2, 4: a repeat and a gap; section 2 marked but named core; the title names
    # section 9 (core) and 3 (going further), which do not exist, and 4 both core and going
    # further; an unnumbered going-further heading.
    sections = [
        "## 1. The idea",
        "## 2. Going further: Demonstration",
        "## 2. The verdict",
        "## 4. Going further: Context",
        "## Going further: a heading without a number",
    ]
    title = CORE_TITLE.replace("sections 1-2 and 4", "sections 1-2, 4 and 9").replace(
        "sections 3 and 5", "sections 3-4"
    )
    problems = "\n".join(core_problems(title, sections))
    for expected in [
        "numbered [1, 2, 2, 4], expected [1, 2, 3, 4]; repeated: [2]",
        "the core path names section(s) [9], which the lesson does not have",
        "the going-further list names section(s) [3], which the lesson does not have",
        "section 2 ('Going further: Demonstration') is headed 'Going further:' but the title",
        "section(s) [4] are named both core and going further",
        "cell 6: the heading '## Going further: a heading without a number' is not numbered",
    ]:
        assert expected in problems, (expected, problems)
    assert "section 4 (" not in problems  # named going further, and marked so

    # No paragraph; two paragraphs; a paragraph away from the run time, in other words, or
    # without the exercises; section 4 not placed at all.
    missing = core_problems(CORE_TITLE.replace("**Core path**", "Core path"), CORE_SECTIONS)
    assert missing == [
        "03_lesson.ipynb, cell 0: the title cell needs one core-path paragraph after its run time "
        "(found 0), like '**Core path** (a 45-60 minute class): sections 1-4 and the exercises. "
        "**Going further:** sections 5-6, for self-study or a longer session.' (or '... class): "
        "the whole lesson.')"
    ]
    paragraph = CORE_TITLE.split("\n\n")[3]
    assert "found 2" in core_problems(CORE_TITLE + "\n\n" + paragraph, CORE_SECTIONS)[0]
    moved = CORE_TITLE.replace(paragraph + "\n\n", "") + "\n\n" + paragraph
    assert core_problems(moved, CORE_SECTIONS) == [
        "03_lesson.ipynb, cell 0: the core-path paragraph must come right after the run-time "
        "paragraph"
    ]
    reworded = core_problems(CORE_TITLE.replace("(a 45-60 minute class)", "(one hour)"), [])
    assert len(reworded) == 1 and "must read like" in reworded[0]
    no_exercises = CORE_TITLE.replace(" and the exercises", "").replace("1-2 and 4", "1-2, 4")
    assert core_problems(no_exercises, CORE_SECTIONS) == [
        "03_lesson.ipynb, cell 0: the exercises are on the core path: the paragraph must say so"
    ]
    unplaced = CORE_TITLE.replace("1-2 and 4", "1-2")
    assert "does not place section(s) [4]" in "\n".join(core_problems(unplaced, CORE_SECTIONS))
    whole = CORE_TITLE.replace("sections 1-2 and 4 and the exercises.", "the whole lesson.")
    assert "'the whole lesson' is core, yet it names going-further sections" in "\n".join(
        core_problems(whole, CORE_SECTIONS)
    )


# --------------------------------------------------------------------------- nbval sanitize file
def _sanitize(text: str) -> str:
    for regex, replacement in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replacement, text)
    return text


def test_sanitize_file_parses_completely():
    # A `replace:` line without its trailing space is silently dropped by nbval.
    text = SANITIZE.read_text()
    assert len(get_sanitize_patterns(text)) == len(re.findall(r"^regex: ", text, re.MULTILINE)) >= 8
    assert check_notebooks.sanitize_patterns() == get_sanitize_patterns(text)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("<Net object at 0x7f3a2c1d5e50>", "<Net object at 0x55d1e2a0b3c0>"),
        ("epoch 3 took 12.3 s", "epoch 3 took 9.87 s"),
        ("Wall time: 1.52 ms", "Wall time: 870 µs"),
        (
            "train: 100%|##########| 79/79 [00:03<00:00, 24.52it/s, loss=0.81]",
            "train: 100%|##########| 79/79 [00:11<00:00,  6.90it/s, loss=0.79]",
        ),
        ("throughput 1,234.5 img/s", "throughput 987.0 img/s"),
        ("loss 0.123456789", "loss 0.123450001"),
        ("tensor([-0.0000, 1.0000])", "tensor([0.0000, 1.0000])"),
        ("cached in /tmp/tmpab12cd/shapes.pt", "cached in /tmp/tmpzz99yy/shapes.pt"),
        (
            "/home/ana/.venv/lib/python3.11/site-packages/torch/nn/x.py:12: UserWarning",
            "/opt/conda/lib/python3.11/site-packages/torch/nn/x.py:12: UserWarning",
        ),
        (
            "saved to /work/main/data/shapes-v1.npz",
            "saved to /home/ci/inception-lab/data/shapes-v1.npz",
        ),
    ],
)
def test_sanitize_neutralises_what_legitimately_varies(a, b):
    assert a != b and _sanitize(a) == _sanitize(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("test accuracy 0.9123", "test accuracy 0.8123"),
        ("loss 0.1234", "loss 0.1235"),
        ("params: 6,624,904", "params: 6,624,905"),
        ("MACs: 1,498,376,192", "MACs: 1,498,376,193"),
        ("torch.Size([2, 256, 28, 28])", "torch.Size([2, 255, 28, 28])"),
        ("3 epochs", "4 epochs"),
        ("10 classes", "12 classes"),
        ("weights: 163,328", "weights: 165,888"),
        ("saving 28%", "saving 33%"),
    ],
)
def test_sanitize_keeps_what_a_learner_reads(a, b):
    assert _sanitize(a) != _sanitize(b)


# --------------------------------------------------------------------------- failing notebooks
def _write(nb: nbformat.NotebookNode, path: Path) -> Path:
    nbformat.write(nb, path)
    return path


def _summary_notebook(*cells, title: str) -> nbformat.NotebookNode:
    nb = notebook(*cells, title=title)
    nb.cells.append(new_markdown_cell("## Summary"))
    return nb


@pytest.mark.slow  # two notebooks through papermill, each in its own kernel
def test_course_runner_names_the_failing_notebook_and_cell(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = _write(
        _summary_notebook(
            parameters_cell(),
            "print('budget', BUDGET)",
            title="# Good lesson\n\n- run time 1 s\n\n[Next](02_broken.ipynb)",
        ),
        notebooks / "01_good.ipynb",
    )
    broken = _write(
        _summary_notebook(
            parameters_cell(), "x = 1", "y = x / 0", title="# Broken lesson\n\n- run time 1 s"
        ),
        notebooks / "02_broken.ipynb",
    )
    before = {p: p.read_bytes() for p in (good, broken)}
    build = tmp_path / "build"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "course.py"),
            "run",
            "--budget",
            "gpu",
            "--notebook-dir",
            str(notebooks),
            "--build",
            str(build),
        ],
        capture_output=True,
        text=True,
        env=KERNEL_ENV,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert re.search(
        r'FAILED 02_broken\.ipynb: code cell 2 .*"y = x / 0".*ZeroDivisionError', output
    ), output
    assert re.search(r"^01_good\.ipynb\s+\d+\.\d\s+ok$", run.stdout, re.MULTILINE), output
    assert re.search(r"^02_broken\.ipynb\s+\d+\.\d\s+failed$", run.stdout, re.MULTILINE), output

    # BUDGET reached the kernel; the committed notebooks are untouched (no injected cell).
    executed = nbformat.read(build / "notebooks" / "01_good.ipynb", as_version=4)
    assert "budget gpu\n" in [o.get("text") for c in executed.cells for o in c.get("outputs", [])]
    assert {p: p.read_bytes() for p in before} == before

    index = (build / "site" / "index.html").read_text()
    assert "Good lesson" in index and "Broken lesson" in index and "ZeroDivisionError" in index
    assert (build / "site" / "02_broken.html").is_file()
    assert 'href="02_broken.html"' in (build / "site" / "01_good.html").read_text()
    timings = json.loads((build / "timings.json").read_text())
    assert [(r["notebook"], r["status"]) for r in timings["notebooks"]] == [
        ("01_good.ipynb", "ok"),
        ("02_broken.ipynb", "failed"),
    ]
    assert all(r["seconds"] > 0 for r in timings["notebooks"]) and timings["budget"] == "gpu"


def test_execute_in_place_numbers_cells_and_keeps_a_failing_notebook_unchanged(tmp_path, capsys):
    import course

    good = _write(
        _summary_notebook(
            parameters_cell(),
            new_code_cell(
                "import os\nprint(os.path.basename(os.getcwd()))", metadata={"tags": ["t"]}
            ),
            "SEED + 1",
            title="# Lesson\n\n- run time 1 s",
        ),
        tmp_path / "good.ipynb",
    )
    broken = _write(notebook(parameters_cell(), "1 / 0"), tmp_path / "broken.ipynb")
    before = broken.read_bytes()
    assert course.main(["execute", str(good)]) == 0, capsys.readouterr()
    nb = nbformat.read(good, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert (
        code[1].outputs[0].text == f"{tmp_path.name}\n"
    )  # the kernel ran in the notebook's folder
    assert code[2].outputs[0].data["text/plain"] == "1"
    assert code[0].metadata.tags == ["parameters"] and code[1].metadata.tags == ["t"]
    assert not any("execution" in c.metadata for c in code)  # no timestamps to churn diffs

    assert course.main(["execute", str(broken)]) == 1
    assert broken.read_bytes() == before
    err = capsys.readouterr().err
    assert f"FAILED {broken} (left unchanged)" in err and "ZeroDivisionError" in err, err
    assert 'code cell 1 (pytest --nbval "Cell 1"), starting "1 / 0"' in err, err


def test_execute_records_times_only_for_the_course_notebooks(tmp_path, capsys):
    """`execute --record-times` writes notebooks/run_times.json: a notebook from elsewhere is
    refused before anything runs (and left unchanged)."""
    import course

    elsewhere = _write(notebook(parameters_cell(), "1 + 1"), tmp_path / "elsewhere.ipynb")
    before = elsewhere.read_bytes()
    assert course.main(["execute", "--record-times", str(elsewhere)]) == 2
    assert "--record-times needs notebooks in" in capsys.readouterr().err
    assert elsewhere.read_bytes() == before


@pytest.mark.slow  # pytest --nbval in a subprocess, three kernels
def test_nbval_fails_on_errors_and_changed_outputs_but_not_on_sanitized_noise(tmp_path):
    def executed(source: str, stored: str) -> nbformat.NotebookNode:
        cell = new_code_cell(source, execution_count=1)
        cell.outputs = [new_output("stream", name="stdout", text=stored)]
        return notebook(cell)

    _write(
        notebook(
            new_code_cell("x = 1", execution_count=1), new_code_cell("y = x / 0", execution_count=2)
        ),
        tmp_path / "broken.ipynb",
    )
    _write(executed("print(6 * 7)", "41\n"), tmp_path / "changed.ipynb")
    _write(
        executed(
            "import time\nprint(f'{object()!r} took {time.perf_counter() % 1:.3f} s, loss {1/3:.8f}')",
            "<object object at 0x7f0123456789> took 0.001 s, loss 0.33333399\n",
        ),
        tmp_path / "noisy.ipynb",
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            f"--nbval-sanitize-with={SANITIZE}",
            f"--rootdir={tmp_path}",
            "broken.ipynb",
            "changed.ipynb",
            "noisy.ipynb",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=KERNEL_ENV,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "FAILED broken.ipynb::Cell 1" in output and "ZeroDivisionError" in output, output
    assert "FAILED changed.ipynb::Cell 0" in output, output  # stored 41, printed 42
    assert "PASSED noisy.ipynb::Cell 0" in output, output  # address, time, float noise differ
    assert "2 failed, 2 passed" in output, output


# --------------------------------------------------------------------------- welcome notebook
WELCOME = ROOT / "notebooks" / "00_welcome.ipynb"


def _welcome_cell(marker: str) -> str:
    cells = nbformat.read(WELCOME, as_version=4).cells
    (source,) = [c.source for c in cells if c.cell_type == "code" and marker in c.source]
    return source


def _floor_text(name: str) -> str:
    """The floor of `name` as pyproject.toml writes it: 'torch>=2.3,<3' -> '2.3'."""
    return re.search(r">=([\d.]+)", _requirements()[name]).group(1)


def test_welcome_environment_check_reports_versions_and_pyprojects_floors(capsys, monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")  # the kernel's working folder
    exec(_welcome_cell("floors()"), {})  # the notebook cell under test
    out = capsys.readouterr().out
    import torch
    import torchvision

    for name, module in [("torch", torch), ("torchvision", torchvision)]:
        line = (
            rf"^{name}\s+{re.escape(module.__version__)}\s+>= {re.escape(_floor_text(name))}\s+ok$"
        )
        assert re.search(line, out, re.MULTILINE), (line, out)
    python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.search(
        rf"^python\s+{re.escape(platform.python_version())}\s+{re.escape(python[:2])} "
        rf"{re.escape(python[2:])}\s+ok$",
        out,
        re.MULTILINE,
    ), (python, out)
    interpreter = Path(os.path.abspath(sys.executable))
    where = (
        interpreter.relative_to(ROOT).as_posix() if interpreter.is_relative_to(ROOT) else "outside"
    )
    assert re.search(rf"^interpreter\s+{re.escape(where)}", out, re.MULTILINE), (where, out)
    assert "Everything the lessons need is installed." in out
    # No version typed in the cell: (2, 3), "2.3" or 3.10 would be a second place to update.
    assert not re.search(r"\(\d+, \d+\)|\b\d+\.\d+\b", _welcome_cell("floors()"))


@pytest.mark.parametrize("below", [True, False], ids=["just-below-the-floor", "at-the-floor"])
def test_welcome_environment_check_says_what_is_missing_or_too_old(monkeypatch, capsys, below):
    real_import = importlib.import_module
    floor = _release(_floor_text("torch"))
    # 2.3 -> 2.2.99 (older) or 2.3.0 (the floor itself, which must pass)
    older = (*floor[:-1], floor[-1] - 1, 99) if below else (*floor, 0)

    class FakeTorch:
        __version__ = ".".join(map(str, older))

    def fake_import(name, *args):
        if name == "torchvision":
            raise ModuleNotFoundError("No module named 'torchvision'")
        return FakeTorch if name == "torch" else real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(ModuleNotFoundError) as raised:
        exec(_welcome_cell("floors()"), {})  # the notebook cell under test
    message = str(raised.value)
    assert "torchvision is missing" in message
    too_old = f"torch {FakeTorch.__version__} is older than {_floor_text('torch')}"
    assert (too_old in message) == below, message
    assert "make lab" in message and "pip install -e ." in message
    printed = capsys.readouterr().out
    assert re.search(
        rf"^torch\s+{re.escape(FakeTorch.__version__)}\s+>= \S+\s+(TOO OLD|ok)$",
        printed,
        re.MULTILINE,
    ).group(1) == ("TOO OLD" if below else "ok")


def test_welcome_environment_check_says_when_the_course_is_not_installed(monkeypatch):
    import inception_lab.versions

    def not_installed(package="inception_lab"):
        raise importlib.metadata.PackageNotFoundError(package)

    monkeypatch.setattr(inception_lab.versions, "floors", not_installed)
    with pytest.raises(ModuleNotFoundError) as raised:
        exec(_welcome_cell("floors()"), {})  # the notebook cell under test
    assert "inception_lab is not installed" in str(raised.value)
    assert "pip install -e ." in str(raised.value)


def test_welcome_device_check_names_the_device(capsys):
    namespace = {"BUDGET": "cpu"}
    exec(_welcome_cell("pick_device()"), namespace)  # the notebook cell under test
    import torch

    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"
    assert namespace["device"].type == expected
    assert f"Using device '{expected}'" in capsys.readouterr().out
