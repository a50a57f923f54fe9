"""The course toolchain: environment files, student edition, course runner, nbval set-up, welcome.

The tools under test live in tools/ (on the path via pyproject's pytest `pythonpath`).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbval.plugin import get_sanitize_patterns

import check_notebooks
import student

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


def test_pyproject_uses_ranges_that_admit_this_machines_torch():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    for requirement in requirements:
        assert "==" not in requirement, f"exact pin {requirement!r}: use a version range"
        assert re.search(r"[<>]", requirement), f"{requirement!r} has no version range"
    ranges = {re.match(r"[\w-]+", r).group(0): r for r in requirements}
    assert ranges["torch"] == "torch>=2.3,<3"  # admits 2.14.1; the floor: tests/test_floors.py
    assert ranges["torchvision"] == "torchvision>=0.18,<1"  # admits 0.29.1
    assert project["license"] == "MIT"
    for name in ("pytest", "nbval", "ruff", "playwright", "pillow", "pyyaml"):
        assert name in {
            re.match(r"[\w-]+", r).group(0) for r in project["optional-dependencies"]["dev"]
        }


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


# --------------------------------------------------------------------------- student edition
def solved_notebook() -> nbformat.NotebookNode:
    """An instructor notebook with two exercises, one inside a function, one at top level."""
    return notebook(
    parameters_cell(),
    "import math\n\n"
    "def area(r):\n"
    "    # Exercise 1: return the area of a circle of radius r\n"
    "    ### BEGIN SOLUTION\n"
    "    squared = r * r\n"
    "    return math.pi * squared\n"
    "    ### END SOLUTION\n",
    "assert abs(area(2) - 4 * math.pi) < 1e-9",
    '# Exercise 2: set `answer` to "forty-two" (with "quotes")\n'
    "### BEGIN SOLUTION\n"
    "answer = 42\n"
    "### END SOLUTION\n"
    "print(answer)",
    )  # fmt: skip


def test_student_edition_replaces_every_solution_region():
    solved = solved_notebook()
    solved.cells[4].outputs = [new_output("stream", name="stdout", text="42\n")]
    solved.cells[4].execution_count = 4
    edition = student.student_edition(solved)
    text = "\n".join(cell.source for cell in edition.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "math.pi * squared" not in text and "answer = 42" not in text
    # The stub keeps the exercise number and text, at the marker's indentation, after the comment.
    assert edition.cells[2].source.splitlines()[-2:] == [
        "    # Exercise 1: return the area of a circle of radius r",
        '    raise NotImplementedError("Exercise 1: return the area of a circle of radius r")',
    ]
    assert edition.cells[4].source.splitlines()[1] == (
        'raise NotImplementedError("Exercise 2: set `answer` to \\"forty-two\\" (with \\"quotes\\")")'
    )
    assert edition.cells[4].source.splitlines()[2] == "print(answer)"
    # No outputs, no execution counts: a printed result could give the answer away.
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in edition.cells
        if c.cell_type == "code"
    )
    assert solved.cells[4].outputs, "the instructor notebook itself must not be modified"
    # The stub raises what it says.
    namespace: dict = {}
    exec(edition.cells[2].source, namespace)  # noqa: S102 (our own test cell)
    with pytest.raises(
        NotImplementedError, match="^Exercise 1: return the area of a circle of radius r$"
    ):
        namespace["area"](1.0)
    with pytest.raises(NotImplementedError) as raised:
        exec(edition.cells[4].source, {})  # noqa: S102 (our own test cell)
    assert str(raised.value) == 'Exercise 2: set `answer` to "forty-two" (with "quotes")'


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
    with pytest.raises(student.ExerciseFormatError, match=re.escape(message)):
        student.student_edition(notebook(source))


def test_student_edition_refuses_a_stub_that_breaks_the_cell():
    # The region holds part of an expression: replacing it would leave invalid Python.
    source = (
        "x = (\n    # Exercise 1: x\n    ### BEGIN SOLUTION\n    1 +\n    ### END SOLUTION\n    2)"
    )
    with pytest.raises(student.ExerciseFormatError, match="not valid Python"):
        student.student_edition(notebook(source))


def test_make_student_writes_every_notebook(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(solved_notebook(), src / "01_solved.ipynb")
    nbformat.write(notebook("print(1)"), src / "00_plain.ipynb")
    assert (
        student.main(["--out", str(tmp_path / "out"), *map(str, sorted(src.glob("*.ipynb")))]) == 0
    )
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["00_plain.ipynb", "01_solved.ipynb"]
    edition = nbformat.read(tmp_path / "out" / "01_solved.ipynb", as_version=4)
    assert edition.metadata["inception_lab"] == {"edition": "student", "exercises": 2}


def _execute(nb: nbformat.NotebookNode, cwd: Path) -> None:
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_edition_of_each_notebook_stops_at_its_first_exercise(path):
    nb = nbformat.read(path, as_version=4)
    exercises = student.find_exercises(nb, str(path))
    edition = student.student_edition(nb, str(path))
    stubs = [
        line.strip()
        for cell in edition.cells
        for line in cell.source.splitlines()
        if line.strip().startswith("raise NotImplementedError(")
    ]
    originals = [  # stubs the instructor wrote by hand are not exercises
        line.strip()
        for cell in nb.cells
        for line in cell.source.splitlines()
        if line.strip().startswith("raise NotImplementedError(")
    ]
    assert len(stubs) - len(originals) == len(exercises)
    if not exercises:
        assert [c.source for c in edition.cells[1:]] == [c.source for c in nb.cells[1:]]
        return
    with pytest.raises(CellExecutionError) as raised:
        _execute(edition, path.parent)
    stopped = f"{raised.value.ename}: {raised.value.evalue}"
    assert stopped == f"NotImplementedError: {exercises[0].message}", (
        f"the student edition of {path.name} should stop at Exercise 1; it stopped with {stopped}"
    )
    failed = [
        i
        for i, c in enumerate(edition.cells)
        if any(o.output_type == "error" for o in c.get("outputs", []))
    ]
    assert failed and failed[0] >= exercises[0].cell_index


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
        "only BUDGET and SEED; also has ['EPOCHS']",
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
        [sys.executable, str(ROOT / "tools" / "course.py"), "run", "--budget", "gpu",
         "--notebook-dir", str(notebooks), "--build", str(build)],
        capture_output=True, text=True, env=KERNEL_ENV, timeout=300, check=False,
    )  # fmt: skip
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
        ("01_good.ipynb", "ok"), ("02_broken.ipynb", "failed"),
    ]  # fmt: skip
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


def test_nbval_fails_on_errors_and_changed_outputs_but_not_on_sanitized_noise(tmp_path):
    def executed(source: str, stored: str) -> nbformat.NotebookNode:
        cell = new_code_cell(source, execution_count=1)
        cell.outputs = [new_output("stream", name="stdout", text=stored)]
        return notebook(cell)

    _write(notebook(new_code_cell("x = 1", execution_count=1), new_code_cell("y = x / 0", execution_count=2)),
           tmp_path / "broken.ipynb")  # fmt: skip
    _write(executed("print(6 * 7)", "41\n"), tmp_path / "changed.ipynb")
    _write(
        executed(
            "import time\nprint(f'{object()!r} took {time.perf_counter() % 1:.3f} s, loss {1/3:.8f}')",
            "<object object at 0x7f0123456789> took 0.001 s, loss 0.33333399\n",
        ),
        tmp_path / "noisy.ipynb",
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         f"--nbval-sanitize-with={SANITIZE}", f"--rootdir={tmp_path}", "broken.ipynb", "changed.ipynb", "noisy.ipynb"],
        cwd=tmp_path, capture_output=True, text=True, env=KERNEL_ENV, timeout=300, check=False,
    )  # fmt: skip
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


def test_welcome_environment_check_reports_versions(capsys):
    exec(_welcome_cell("REQUIRED = {"), {})  # noqa: S102 (the notebook cell under test)
    out = capsys.readouterr().out
    import torch
    import torchvision

    assert re.search(rf"^torch\s+{re.escape(torch.__version__)}\s+ok$", out, re.MULTILINE), out
    assert re.search(
        rf"^torchvision\s+{re.escape(torchvision.__version__)}\s+ok$", out, re.MULTILINE
    ), out
    assert re.search(
        rf"^python\s+{sys.version_info.major}\.{sys.version_info.minor}\.", out, re.MULTILINE
    )
    assert "Everything the lessons need is installed." in out


def test_welcome_environment_check_says_what_is_missing_or_too_old(monkeypatch):
    real_import = importlib.import_module

    class OldTorch:
        __version__ = "1.13.1"

    def fake_import(name, *args):
        if name == "torchvision":
            raise ModuleNotFoundError("No module named 'torchvision'")
        return OldTorch if name == "torch" else real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    with pytest.raises(ModuleNotFoundError) as raised:
        exec(_welcome_cell("REQUIRED = {"), {})  # noqa: S102 (the notebook cell under test)
    message = str(raised.value)
    assert "torchvision is missing" in message
    assert "torch 1.13.1 is older than 2.2" in message
    assert "make lab" in message and "pip install -e ." in message


def test_welcome_device_check_names_the_device(capsys):
    namespace = {"BUDGET": "cpu"}
    exec(_welcome_cell("pick_device()"), namespace)  # noqa: S102 (the notebook cell under test)
    import torch

    if torch.cuda.is_available():
        expected = "cuda"
    elif torch.backends.mps.is_available():
        expected = "mps"
    else:
        expected = "cpu"
    assert namespace["device"].type == expected
    assert f"Using device '{expected}'" in capsys.readouterr().out
