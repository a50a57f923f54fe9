"""The course as an nbgrader course: the student edition (make student) and grading (make grade).

Both build an nbgrader course directory (course id `inception_lab`, one assignment per lesson,
named like its notebook: `source/09_inception_v4_resnet/09_inception_v4_resnet.ipynb`) with its
`nbgrader_config.py`, and run nbgrader's steps in it (its converters, in this process; the same
steps as its commands, which also work in that folder):

- `student`: copies the instructor notebooks into `build/nbgrader/source/`, with the nbgrader
  metadata that tools/nbgrader_meta.py derives from the solution markers (a no-op once the
  committed notebooks carry it), runs `nbgrader generate_assignment` for each (solution regions
  replaced by the stub below, outputs cleared, check cells locked) and copies the results from
  `build/nbgrader/release/` into `build/student/`, one flat folder to hand out.
- `grade SUBMISSIONS`: SUBMISSIONS holds one folder per learner with their notebooks, named as in
  the student edition (`SUBMISSIONS/ada/09_inception_v4_resnet.ipynb`). In a fresh course under
  `build/grades/course/` it runs `nbgrader generate_assignment`, `autograde` (each learner's
  notebook in a fresh kernel, every cell limited to --timeout seconds), `generate_feedback` and
  `export`, and writes `build/grades/grades.csv` (one row per learner and notebook: the points of
  each exercise, the total, the maximum) and `build/grades/feedback/<learner>/<notebook>.html`.
  nbgrader's log goes to `build/grades/nbgrader.log`. Everything runs offline.

A notebook that crashes or loops gets the points of the checks it passed and never stops the
others: nbgrader interrupts a cell that runs past the timeout and goes on with the next one, and
`GuardedExecute` below keeps a kernel that dies from failing the learner's whole submission.

Usage:  python tools/grade.py student [--out build/student] [NOTEBOOK ...]
        python tools/grade.py grade SUBMISSIONS [--out build/grades] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import shutil
import sys
import traceback
import warnings
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import Execute

import nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(__file__).resolve().parent
COURSE_ID = "inception_lab"
# What replaces each solution region (nbgrader's ClearSolutions.code_stub), at the indentation of
# `### BEGIN SOLUTION`, below the `# Exercise N: <what to write>` comment that stays.
STUB = 'raise NotImplementedError("Exercise: replace this line with your code")'
TIMEOUT = 300  # seconds a cell may run while grading (the longest lesson cell takes about 60)
STUDENT_NOTE = (
    "\n\n> **Student edition.** Each `raise NotImplementedError(...)` below a `# Exercise N:` "
    "comment marks code for you to write: replace that line with your code, then run the check "
    "cell after it. The check prints a pass message, or a hint when something is still wrong. "
    "Check cells are read-only: they are what grading runs."
)
LEARNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]*")  # a learner's folder: an nbgrader student id
CHECK_ID = re.compile(r"-check-(\d+)$")


# --------------------------------------------------------------------------- nbgrader extensions
def _error(ename: str, evalue: str) -> dict:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute preprocessor, made to survive a notebook whose kernel dies.

    nbgrader interrupts a cell that runs past `Execute.timeout` and goes on with the next cell
    (the interrupted cell gets an error output, so a check cell scores 0). A kernel that dies
    (os._exit, a segfault, running out of memory), though, raises DeadKernelError out of the
    notebook, and nbgrader then drops the learner's whole submission, checks passed before the
    crash included. Here the cell where the kernel died gets an error output, and so does every
    code cell after it: they never ran, and nbgrader would count a check cell without output as
    passed.
    """

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: str | None = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if self._stopped is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("NotRun", self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as err:
            self._stopped = (
                f"not run: the kernel stopped in cell {index} ({type(err).__name__}: {err})"
            )
            self.log.warning("Kernel stopped in cell %d: %s", index, err)
            cell.outputs.append(_error(type(err).__name__, f"{err}: the kernel stopped here"))
            return cell, resources


def autograde_preprocessors() -> list:
    """nbgrader's autograde steps with GuardedExecute in place of Execute."""
    from nbgrader.converters import Autograde

    default = Autograde.class_traits()["autograde_preprocessors"].default()
    return [GuardedExecute if step is Execute else step for step in default]


class ExerciseCsvExport(ExportPlugin):
    """`nbgrader export` plugin: one row per learner and notebook they handed in, with the points
    of each check (column `exercise_N` for grade id `<lesson>-check-N`), the total and the
    maximum. A notebook that nbgrader could not grade at all has empty points."""

    def export(self, gradebook) -> None:
        rows = []
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                for student in gradebook.students:
                    try:
                        submitted = gradebook.find_submission_notebook(
                            notebook.name, assignment.name, student.id
                        )
                    except MissingEntry:
                        continue
                    scores = {}
                    for grade in submitted.grades:
                        number = CHECK_ID.search(grade.name)
                        column = f"exercise_{number[1]}" if number else grade.name
                        scores[column] = grade.score
                    graded = all(score is not None for score in scores.values())
                    rows.append(
                        {
                            "learner": student.id,
                            "notebook": f"{notebook.name}.ipynb",
                            **scores,
                            "total": sum(scores.values()) if graded else None,
                            "max_points": submitted.max_score,
                        }
                    )
        exercises = {key for row in rows for key in row} - {"learner", "notebook", "total"}
        exercises -= {"max_points"}
        columns = sorted(exercises, key=lambda c: (not c.startswith("exercise_"), len(c), c))
        header = ["learner", "notebook", *columns, "total", "max_points"]
        dest = Path(self.to or "grades.csv")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("w", newline="") as f:
            writer = csv.DictWriter(f, header, restval="")
            writer.writeheader()
            for row in sorted(rows, key=lambda r: (r["learner"], r["notebook"])):
                writer.writerow({k: _points(v) for k, v in row.items()})
        self.log.info("Exported %d rows to %s", len(rows), dest)


def _points(value) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- the course directory
CONFIG = '''\
"""nbgrader configuration of this course directory, written by tools/grade.py (rewritten on
every run). The course's notebooks: {root}"""

import sys

sys.path.insert(0, {tools!r})  # tools/grade.py: GuardedExecute and the per-exercise export

from grade import ExerciseCsvExport, autograde_preprocessors  # noqa: E402

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
# What replaces each solution region in the student edition (nbgrader's default stub is
# `raise NotImplementedError()`); the signature, docstring and `# Exercise N:` line above stay.
c.ClearSolutions.code_stub = {{"python": {stub!r}}}
# Autograding: a cell that runs longer is interrupted (its check scores 0), and the notebook
# goes on with the next cell.
c.Execute.timeout = {timeout}
# A cell's last output may reach nbgrader seconds after the kernel reports the cell done when the
# machine is busy; nbgrader waits 4 s (nbclient's iopub_timeout) and then fails the whole notebook.
c.Execute.iopub_timeout = 60
# A kernel that dies ends its notebook's run, not the learner's whole grade.
c.Autograde.autograde_preprocessors = autograde_preprocessors()
# `nbgrader export`: points per learner, notebook and exercise.
c.ExportApp.plugin_class = ExerciseCsvExport
'''


def write_config(course: Path, timeout: int = TIMEOUT) -> Path:
    """Write `course`/nbgrader_config.py (see CONFIG)."""
    course.mkdir(parents=True, exist_ok=True)
    path = course / "nbgrader_config.py"
    path.write_text(
        CONFIG.format(
            root=ROOT / "notebooks",
            tools=str(TOOLS),
            course_id=COURSE_ID,
            stub=STUB,
            timeout=int(timeout),
        )
    )
    return path


def add_source(course: Path, notebook: Path) -> tuple[str, list[str]]:
    """Copy an instructor notebook to `course`/source/<stem>/<name> with its nbgrader metadata
    (nbgrader_meta.apply, check cells split out of solution cells); returns (the assignment id,
    what nbgrader_meta says stands in the way of grading)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    _, problems = nbgrader_meta.apply(nb, notebook.name, split=True)
    target = course / "source" / notebook.stem / notebook.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nbgrader_meta.dumps(nb), encoding="utf-8")
    return notebook.stem, problems


class Course:
    """An nbgrader course directory, with its nbgrader_config.py, and nbgrader's steps run in it
    in this process (one import of nbgrader for all lessons and learners; the notebooks run in
    kernels of their own). nbgrader's log goes to `log`."""

    def __init__(self, root: Path, log: Path, timeout: int = TIMEOUT):
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self.root = root.resolve()
        write_config(self.root, timeout)
        self.config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        self.config.CourseDirectory.root = str(self.root)
        self.log = logging.getLogger(f"inception_lab.grade.{id(self)}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        self.log_path = log
        handler = logging.FileHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
        self.log.addHandler(handler)
        self.coursedir = CourseDirectory(config=self.config, log=self.log)
        # The kernels nbgrader starts: this environment's Python and tools, and no debugger
        # warning on stderr (any stderr output fails a check cell).
        bin_dir = str(Path(sys.executable).parent)
        if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
            os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    def run(self, step: str, assignment: str, student: str = "*") -> bool:
        """Run nbgrader's `step` (generate_assignment, autograde, generate_feedback) on one
        assignment, for `student` (a glob); False if nbgrader reports an error (in the log)."""
        from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback

        converter = {
            "generate_assignment": GenerateAssignment,
            "autograde": Autograde,
            "generate_feedback": GenerateFeedback,
        }[step]
        self.coursedir.assignment_id = assignment
        self.coursedir.student_id = student
        self.log.info("nbgrader %s %s --student=%s --force", step, assignment, student)
        app = converter(coursedir=self.coursedir, config=self.config, log=self.log)
        app.force = True
        if step == "generate_feedback":
            app.update_config(_feedback_config())
        try:
            with warnings.catch_warnings():
                # nbgrader's gradebook code trips SQLAlchemy 2's autoflush warnings; harmless.
                warnings.filterwarnings("ignore", module="nbgrader.api")
                app.start()
        except Exception:  # nbgrader raises its errors after logging them
            self.log.error("nbgrader %s %s failed:\n%s", step, assignment, traceback.format_exc())
            return False
        return True

    def export(self, to: Path) -> None:
        """`nbgrader export` with ExerciseCsvExport: grades.csv."""
        from nbgrader.api import Gradebook

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="nbgrader.api")
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gradebook:
                ExerciseCsvExport(to=str(to), config=self.config, log=self.log).export(gradebook)

    def tail(self, lines: int = 15) -> str:
        for handler in self.log.handlers:
            handler.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) + f"\n(log: {self.log_path})"

    def close(self) -> None:
        for handler in list(self.log.handlers):
            handler.close()
            self.log.removeHandler(handler)


def _feedback_config():
    """nbgrader's API renders feedback with its `feedback` HTML template; so does this."""
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.template_name = "feedback"
    return config


def _fresh(path: Path, mine: str) -> Path:
    """Empty folder `path`, removing what an earlier run wrote there; refuses to remove a
    non-empty folder without the file `mine` that such a run leaves."""
    if path.exists():
        if any(path.iterdir()) and not (path / mine).is_file():
            raise ValueError(
                f"{path} is not empty and holds no {mine} from an earlier run: not removing it; "
                "choose an empty or new folder"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _warn(problems: list[str]) -> None:
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)


# --------------------------------------------------------------------------- make student
def student_edition(notebooks: list[Path], out: Path, course_dir: Path) -> list[Path]:
    """Generate the student edition of `notebooks` with nbgrader in `course_dir` (rewritten) and
    copy it to `out`; returns the written notebooks. Raises RuntimeError if nbgrader fails."""
    _fresh(course_dir, "nbgrader_config.py")
    course = Course(course_dir, course_dir / "nbgrader.log")
    try:
        assignments = []
        for path in notebooks:
            assignment, problems = add_source(course.root, path)
            _warn(problems)
            assignments.append((assignment, path.name))
        written = []
        out.mkdir(parents=True, exist_ok=True)
        for assignment, name in assignments:
            if not course.run("generate_assignment", assignment):
                raise RuntimeError(
                    f"nbgrader generate_assignment {assignment} failed:\n{course.tail()}"
                )
            released = course.root / "release" / assignment / name
            nb = json.loads(released.read_text(encoding="utf-8"))
            _finish_student_notebook(nb)
            released.write_text(nbgrader_meta.dumps(nb), encoding="utf-8")
            shutil.copy(released, out / name)
            written.append(out / name)
        return written
    finally:
        course.close()


def _finish_student_notebook(nb: dict) -> None:
    """What nbgrader leaves in: saved widget state (it would show solved results) and the
    note on the title cell that says how the edition works."""
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    exercises = any(
        cell.get("metadata", {}).get("nbgrader", {}).get("solution") for cell in nb["cells"]
    )
    first = nb["cells"][0] if nb["cells"] else None
    if exercises and first is not None and first["cell_type"] == "markdown":
        source = nbgrader_meta.cell_source(first)
        if STUDENT_NOTE.strip() not in source:
            first["source"] = (source.rstrip() + STUDENT_NOTE).splitlines(keepends=True)


# --------------------------------------------------------------------------- make grade
def collect(submissions: Path, known: set[str]) -> dict[str, list[Path]]:
    """{learner: their notebooks} from `submissions`/<learner>/*.ipynb, for the notebook names in
    `known`; others are skipped with a warning. Raises ValueError on a learner folder name that
    nbgrader cannot take as a student id."""
    if not submissions.is_dir():
        raise ValueError(f"SUBMISSIONS must be a folder of learner folders; got {submissions}")
    learners: dict[str, list[Path]] = {}
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            continue
        if not LEARNER.fullmatch(folder.name):
            raise ValueError(
                f"learner folder {folder.name!r}: use letters, digits and . _ @ + - only "
                "(it becomes the learner's nbgrader student id)"
            )
        found = []
        for path in sorted(folder.glob("*.ipynb")):
            if path.name in known:
                found.append(path)
            else:
                print(f"warning: {path}: not a notebook of the course, skipped", file=sys.stderr)
        if found:
            learners[folder.name] = found
        else:
            print(f"warning: {folder}: no course notebook in it, skipped", file=sys.stderr)
    if not learners:
        raise ValueError(
            f"no learner's notebooks in {submissions}: expected {submissions}/<learner>/"
            "<notebook>.ipynb, named as in the student edition"
        )
    return learners


def grade(submissions: Path, out: Path, timeout: int = TIMEOUT, notebooks: Path | None = None):
    """Autograde every learner's notebooks in `submissions` (see the module docstring) against
    the instructor notebooks in `notebooks` (default notebooks/); write `out`/grades.csv and
    `out`/feedback/<learner>/<notebook>.html. Returns the CSV's rows (dicts of strings)."""
    instructor = {p.name: p for p in sorted((notebooks or ROOT / "notebooks").glob("*.ipynb"))}
    if out.resolve() in (submissions.resolve(), *submissions.resolve().parents):
        raise ValueError(f"SUBMISSIONS ({submissions}) must not lie inside --out ({out})")
    learners = collect(submissions, set(instructor))
    _fresh(out, "course/nbgrader_config.py")
    (out / "course").mkdir()
    course = Course(out / "course", out / "nbgrader.log", timeout)
    try:
        lessons = sorted({p.name for paths in learners.values() for p in paths})
        for name in lessons:
            assignment, problems = add_source(course.root, instructor[name])
            _warn(problems)
            if not course.run("generate_assignment", assignment):
                raise RuntimeError(
                    f"nbgrader generate_assignment {assignment} failed:\n{course.tail()}"
                )
        for learner, paths in learners.items():
            for path in paths:
                target = course.root / "submitted" / learner / Path(path.name).stem / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        for name in lessons:
            assignment = Path(name).stem
            for learner, paths in learners.items():
                if not any(p.name == name for p in paths):
                    continue
                print(f"  autograding {learner}/{name} (at most {timeout} s per cell)", flush=True)
                if not course.run("autograde", assignment, learner):
                    print(
                        f"warning: nbgrader could not grade {learner}/{name}: its points are "
                        f"empty in grades.csv (details in {course.log_path})",
                        file=sys.stderr,
                    )
            if not course.run("generate_feedback", assignment):
                print(
                    f"warning: nbgrader generate_feedback {assignment} failed "
                    f"(see {course.log_path})",
                    file=sys.stderr,
                )
        csv_path = out / "grades.csv"
        course.export(csv_path)
        for learner, paths in learners.items():
            for path in paths:
                stem = Path(path.name).stem
                html = course.root / "feedback" / learner / stem / f"{stem}.html"
                if html.is_file():
                    target = out / "feedback" / learner / html.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(html, target)
    finally:
        course.close()
    with csv_path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------- command line
def _instructor_notebooks(parser: argparse.ArgumentParser, paths: list[Path]) -> list[Path]:
    notebooks = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if not notebooks:
        parser.error("no notebooks found")
    return notebooks


def _shown(path: Path) -> Path:
    """`path` relative to the working folder when it lies inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    student = commands.add_parser("student", help="write the student edition with nbgrader")
    student.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    student.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    student.add_argument(
        "--course", type=Path, default=ROOT / "build" / "nbgrader", help="nbgrader course folder"
    )
    grading = commands.add_parser("grade", help="autograde SUBMISSIONS/<learner>/*.ipynb")
    grading.add_argument("submissions", type=Path)
    grading.add_argument("--out", type=Path, default=ROOT / "build" / "grades")
    grading.add_argument(
        "--timeout", type=int, default=TIMEOUT, help=f"seconds per cell (default {TIMEOUT})"
    )
    args = parser.parse_args(argv)

    if args.command == "student":
        notebooks = _instructor_notebooks(student, args.notebooks)
        try:
            written = student_edition(notebooks, args.out, args.course)
        except (RuntimeError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for path in written:
            print(f"  {path}")
        print(
            f"Student edition: {len(written)} notebooks in {_shown(args.out)} "
            f"(nbgrader course: {_shown(args.course)})"
        )
        return 0

    if args.timeout < 1:
        grading.error(f"--timeout must be a positive number of seconds; got {args.timeout}")
    try:
        rows = grade(args.submissions, args.out, args.timeout)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    columns = [c for c in rows[0] if c not in ("learner", "notebook")] if rows else []
    width = max([len(r["learner"]) for r in rows] + [7])
    for row in rows:
        points = "  ".join(f"{c} {row[c] or '-'}" for c in columns if row[c] != "" or c == "total")
        print(f"  {row['learner']:<{width}}  {row['notebook']:<30}  {points}")
    out = _shown(args.out)
    print(f"Grades: {out / 'grades.csv'}; feedback: {out / 'feedback'}/<learner>/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
