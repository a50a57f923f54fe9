"""The course's exercises as nbgrader cells: the metadata derived from the solution markers.

An exercise of an instructor notebook is a code cell holding one solution region, and the code
cell right after it calls the exercise's check::

    def top_k_error(logits, labels, k):                     # solution cell
        \"\"\"Fraction of the N images whose true class ...\"\"\"
        # Exercise 1: count, for each image, the classes whose logit ...
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

    checks.top_k_error(top_k_error)                         # check cell

`### BEGIN SOLUTION` / `### END SOLUTION` are nbgrader's markers: nbgrader's generate_assignment
replaces the region, markers included, by the stub of `ClearSolutions.code_stub`, so what stays
outside the region (the signature, the docstring, the `# Exercise N:` comment) is what the
learner starts from. For nbgrader to grade the exercise, the cells carry its metadata (schema
version 3, nbgrader's `nbgraderformat/v3.json`):

- the solution cell: `{"solution": true, "grade": false, "locked": false,
  "grade_id": "<lesson>-exercise-N", "schema_version": 3}` (an editable answer, not graded);
- the check cell: `{"solution": false, "grade": true, "locked": true, "points": 1,
  "grade_id": "<lesson>-check-N", "schema_version": 3}`, an autograder test cell: it scores its
  points when it runs without an error (a check raises AssertionError with a hint), and nbgrader
  restores its source from the instructor's version before grading, so editing it changes
  nothing;
- every other cell: no nbgrader metadata (learners may edit and run them freely).

`<lesson>` is `lessonNN` from the file name `NN_topic.ipynb`. Each check is worth one point: the
checks are pass/fail and every exercise is one idea of its lesson.

This tool writes that metadata (`apply`, idempotent: a second run changes nothing) and reports
notebooks whose metadata is missing or out of date (`check`, which tests/test_grading.py runs on
every notebook, so a new exercise cannot be added without its metadata). Both also report what
nbgrader cannot grade as it stands:

- a check call in the solution cell itself (nbgrader grades whole cells: the answer and the
  check must be two cells). `apply --split` splits such a cell after the statement that holds
  `### END SOLUTION`: the check part becomes a new cell below, with the outputs, tags and the
  next execution count (later counts move up by one, so they stay 1, 2, 3, ...);
- a solution region that holds a `def`/`class` statement or a docstring: the stub would take the
  signature away from the learner; move the signature and docstring above `# Exercise N:`;
- a solution cell without a check cell right after it, or with the regions of two exercises
  (several regions of one exercise, each under its own `# Exercise N:` line with the same N, are
  fine: two functions to write, each keeping its signature).

Usage:  python tools/nbgrader_meta.py check [NOTEBOOK ...]
        python tools/nbgrader_meta.py apply [--split] [NOTEBOOK ...]
        (default: every notebooks/*.ipynb; exit status 1 when something is left to fix)

The exercise format itself (markers alone on their line, `# Exercise N:` right above
`### BEGIN SOLUTION`, numbers 1, 2, 3, ... in order) is checked by `find_exercises`, which
tools/check_notebooks.py runs too.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from inception_lab._io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_LINE = re.compile(r"^(?P<indent>[ \t]*)# Exercise (?P<number>\d+): (?P<text>\S.*?)\s*$")
SCHEMA_VERSION = 3  # nbgrader's cell metadata schema (nbgrader 0.6 and later)
POINTS = 1  # per check cell
# `checks.<name>(` or `checks.lessonNN.<name>(`, the call that makes a cell a check cell.
CHECK_CALL = re.compile(r"(?<![\w.])checks(?:\.\w+)+\s*\(")


class ExerciseFormatError(ValueError):
    """A solution region that does not follow the convention in notebooks/README.md."""


@dataclass(frozen=True)
class Exercise:
    number: int
    text: str
    cell_index: int  # index in nb.cells (markdown cells included)
    line: int  # 1-based line of the `### BEGIN SOLUTION` marker in the cell
    end_line: int  # 1-based line of its `### END SOLUTION` marker
    indent: str

    @property
    def message(self) -> str:
        """What the exercise asks for, as its `# Exercise N:` comment says."""
        return f"Exercise {self.number}: {self.text}"


def cell_source(cell: Any) -> str:
    """The source of a cell as one string (stored as a list of lines in .ipynb files)."""
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _regions(source: str, cell_index: int, where: str) -> list[Exercise]:
    """The solution regions of one cell, in order; ExerciseFormatError if one is malformed."""
    lines = source.splitlines()
    regions = []
    begin = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {i + 1}: '{BEGIN}' inside another solution "
                    f"region (opened on line {begin + 1}); close it with '{END}' first"
                )
            begin = i
        elif stripped == END:
            if begin is None:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {i + 1}: '{END}' without a '{BEGIN}' above it"
                )
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            end_indent = line[: len(line) - len(line.lstrip())]
            if end_indent != indent:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {i + 1}: '{END}' is indented "
                    f"{len(end_indent)} characters but its '{BEGIN}' {len(indent)}; use the same"
                )
            shallow = [
                j + 1
                for j in range(begin + 1, i)
                if lines[j].strip() and not lines[j].startswith(indent)
            ]
            if shallow:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {shallow[0]}: a solution line is less "
                    "indented than its markers; the region must hold whole statements at the "
                    "markers' indentation"
                )
            if i == begin + 1:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {begin + 1}: empty solution region"
                )
            comment = EXERCISE_LINE.match(lines[begin - 1]) if begin > 0 else None
            if comment is None or comment["indent"] != indent:
                raise ExerciseFormatError(
                    f"{where}, cell {cell_index}, line {begin + 1}: the line just before "
                    f"'{BEGIN}' must be a comment '# Exercise N: <what to write>' at the same "
                    f"indentation; found {lines[begin - 1] if begin > 0 else 'nothing'!r}"
                )
            regions.append(
                Exercise(
                    number=int(comment["number"]),
                    text=comment["text"],
                    cell_index=cell_index,
                    line=begin + 1,
                    end_line=i + 1,
                    indent=indent,
                )
            )
            begin = None
        elif BEGIN in line or END in line:
            raise ExerciseFormatError(
                f"{where}, cell {cell_index}, line {i + 1}: a solution marker must stand alone on "
                f"its line (only indentation before it); found {line!r}"
            )
    if begin is not None:
        raise ExerciseFormatError(
            f"{where}, cell {cell_index}, line {begin + 1}: '{BEGIN}' is never closed by '{END}' "
            "in the same cell"
        )
    return regions


def find_exercises(nb: Any, where: str = "notebook") -> list[Exercise]:
    """All exercises of a notebook (an nbformat node or the .ipynb's JSON) in order; raises
    ExerciseFormatError on a malformed region, or when the exercises are not numbered 1, 2, 3,
    ... in order of appearance. Exercises live in code cells."""
    exercises = []
    for index, cell in enumerate(nb["cells"]):
        source = cell_source(cell)
        if cell["cell_type"] != "code":
            if BEGIN in source or END in source:
                raise ExerciseFormatError(
                    f"{where}, cell {index}: solution markers in a {cell['cell_type']} cell; "
                    "exercises live in code cells"
                )
            continue
        exercises += _regions(source, index, where)
    # Several regions of one cell with the same number are the parts of one exercise (two
    # functions to write, say): each part keeps its own signature and docstring in the stub.
    numbers = [
        e.number
        for i, e in enumerate(exercises)
        if i == 0
        or (e.cell_index, e.number) != (exercises[i - 1].cell_index, exercises[i - 1].number)
    ]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ExerciseFormatError(
            f"{where}: exercises must be numbered 1, 2, 3, ... in order of appearance; "
            f"found {numbers}"
        )
    return exercises


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically (`inception_lab._io.atomic_write`): readers never see half a notebook."""
    text = nbformat.writes(nb)
    atomic_write(path, text if text.endswith("\n") else text + "\n")


# --------------------------------------------------------------------------- the metadata
def lesson_id(name: str) -> str:
    """'09_inception_v4_resnet.ipynb' -> 'lesson09'; a name without a number: its stem, with
    only the characters nbgrader allows in a grade_id."""
    stem = Path(name).stem
    number = re.match(r"(\d+)_", stem)
    return f"lesson{number[1]}" if number else re.sub(r"[^A-Za-z0-9_-]", "_", stem)


def solution_metadata(lesson: str, number: int) -> dict:
    """nbgrader metadata of the cell holding Exercise `number`'s solution region."""
    return {
        "grade": False,
        "grade_id": f"{lesson}-exercise-{number}",
        "locked": False,
        "schema_version": SCHEMA_VERSION,
        "solution": True,
    }


def check_metadata(lesson: str, number: int, points: float = POINTS) -> dict:
    """nbgrader metadata of the check cell of Exercise `number`: an autograder test cell."""
    return {
        "grade": True,
        "grade_id": f"{lesson}-check-{number}",
        "locked": True,
        "points": points,
        "schema_version": SCHEMA_VERSION,
        "solution": False,
    }


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree (IPython magics allowed), or None if it does not parse."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None


def calls_a_check(source: str) -> bool:
    """Whether the code calls `checks.<name>(...)` (comments and strings do not count)."""
    tree = _parse(source)
    if tree is None:
        code = "\n".join(line.split("#")[0] for line in source.splitlines())
        return CHECK_CALL.search(code) is not None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root = node.func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id == "checks":
                return True
    return False


def _region_problems(source: str, exercise: Exercise, where: str) -> list[str]:
    """What in the region the stub would take away from the learner: a signature, a docstring."""
    lines = source.splitlines()[exercise.line : exercise.end_line - 1]
    body = "\n".join(line[len(exercise.indent) :] for line in lines)
    try:
        statements = ast.parse(body).body
    except SyntaxError:
        return []  # magics; compiling the stubbed cell is nbgrader's and the kernel's job
    problems = []
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            problems.append(
                f"{where}, cell {exercise.cell_index}: Exercise {exercise.number}'s solution "
                f"region holds `{kind} {node.name}`; the student edition replaces the whole region, "
                "so the learner would lose its signature and docstring: move the `def`/`class` "
                f"line and docstring above '# Exercise {exercise.number}:' and keep only the "
                "body between the markers"
            )
    first = statements[0] if statements else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        problems.append(
            f"{where}, cell {exercise.cell_index}: Exercise {exercise.number}'s solution region "
            "starts with a docstring; put it above '# Exercise N:' so the student edition keeps it"
        )
    return problems


def stubbed(source: str, stub: str = "raise NotImplementedError()") -> str:
    """The cell as nbgrader's generate_assignment writes it: each solution region, markers
    included, replaced by `stub` at the indentation of its `### BEGIN SOLUTION`."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + stub)
        elif line.strip() == END:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def split_line(source: str, exercise: Exercise) -> int | None:
    """The 0-based line where the part of a solution cell after its exercise starts: the first
    non-blank line after the top-level statement that holds `### END SOLUTION`; None if nothing
    follows or the cell does not parse."""
    tree = _parse(source)
    if tree is None:
        return None
    stop = exercise.end_line
    for node in tree.body:
        if node.lineno <= stop:
            stop = max(stop, node.end_lineno or node.lineno)
    lines = source.splitlines()
    return next((i for i in range(stop, len(lines)) if lines[i].strip()), None)


def _head_prints_nothing(source: str, line: int) -> bool:
    """Whether the statements above `line` are definitions and assignments only, so that every
    output of the cell belongs to the part from `line` on (a bare expression or a print call at
    the top level would print)."""
    tree = _parse("\n".join(source.splitlines()[:line]))
    return tree is not None and not any(isinstance(node, ast.Expr) for node in tree.body)


def _output_problems(cell: Any, index: int, where: str) -> list[str]:
    """What in a check cell's stored outputs nbgrader would not score as a pass: any stderr
    output fails the cell, and a value (an execute_result) is read as partial credit."""
    kinds = {
        "stderr" if o.get("name") == "stderr" else o["output_type"]
        for o in cell.get("outputs", [])
        if o["output_type"] in ("error", "execute_result") or o.get("name") == "stderr"
    }
    if not kinds:
        return []
    held = " and ".join(sorted(kinds))
    message = (
        f"{where}, cell {index}: the check cell's output holds {held}; nbgrader scores a check "
        "cell by its output (stderr or an error: 0 points; a value: read as partial credit), so "
        "it should only print"
    )
    return [message]


@dataclass
class Plan:
    """What the nbgrader metadata of a notebook should be."""

    metadata: dict[int, dict] = field(default_factory=dict)  # cell index -> nbgrader metadata
    splits: dict[int, int] = field(default_factory=dict)  # solution cell -> line of its check
    problems: list[str] = field(default_factory=list)


def plan(nb: Any, name: str) -> Plan:
    """The nbgrader metadata each cell of `nb` should carry, the solution cells that hold their
    own check call (to split), and what else stands in the way of grading."""
    result = Plan()
    try:
        exercises = find_exercises(nb, name)
    except ExerciseFormatError as err:
        result.problems.append(str(err))
        return result
    lesson = lesson_id(name)
    cells = nb["cells"]
    per_cell: dict[int, list[Exercise]] = {}
    for exercise in exercises:
        per_cell.setdefault(exercise.cell_index, []).append(exercise)
    for index, found in per_cell.items():
        exercise = found[0]
        source = cell_source(cells[index])
        result.metadata[index] = solution_metadata(lesson, exercise.number)
        if len({e.number for e in found}) > 1:
            result.problems.append(
                f"{name}, cell {index}: Exercises {', '.join(str(e.number) for e in found)} share "
                "one cell; give each exercise its own cell and check cell, so each scores its "
                "own points"
            )
        for each in found:
            result.problems += _region_problems(source, each, name)
        if _parse(source) is not None and _parse(stubbed(source)) is None:
            result.problems.append(
                f"{name}, cell {index}: the student edition of this cell is not valid Python; a "
                "solution region must hold whole statements at the markers' indentation"
            )
        tail = split_line(source, found[-1])
        if tail is not None and calls_a_check("\n".join(source.splitlines()[tail:])):
            if _head_prints_nothing(source, tail):
                result.splits[index] = tail
                how = "`python tools/nbgrader_meta.py apply --split` moves it to its own cell"
            else:
                how = (
                    "the code above the check prints, so split the cell by hand (solution cell, "
                    "then a check cell) and re-execute the notebook"
                )
            result.problems.append(
                f"{name}, cell {index}: Exercise {exercise.number}'s check is called in its "
                f"solution cell; nbgrader grades whole cells, so the check needs a cell of its "
                f"own right below ({how})"
            )
            continue
        following = next(
            (j for j in range(index + 1, len(cells)) if cells[j]["cell_type"] == "code"), None
        )
        if (
            following is not None
            and following not in per_cell
            and calls_a_check(cell_source(cells[following]))
        ):
            result.metadata[following] = check_metadata(lesson, exercise.number)
            result.problems += _output_problems(cells[following], following, name)
        else:
            result.problems.append(
                f"{name}, cell {index}: the code cell right after Exercise {exercise.number} "
                "must call its check (`checks.<name>(...)`): nbgrader scores that cell"
            )
    return result


# --------------------------------------------------------------------------- changing notebooks
def _as_lines(text: str) -> list[str]:
    """Source text as .ipynb files store it: lines with their newline, the last without."""
    return text.splitlines(keepends=True)


def _new_cell_id(nb: dict, base: str) -> str:
    """A cell id (nbformat 4.5: 1-64 letters, digits, '-' and '_') unique in `nb`, from `base`."""
    taken = {cell.get("id") for cell in nb["cells"]}
    candidate = f"{base}-check"[:64]
    counter = 0
    while candidate in taken:
        counter += 1
        candidate = hashlib.sha1(f"{base}-{counter}".encode()).hexdigest()[:16]
    return candidate


def split_cell(nb: dict, index: int, line: int) -> None:
    """Split code cell `index` of `nb` (the .ipynb's JSON) at 0-based `line`: the part above
    stays in the cell, without outputs or tags; the rest becomes a new cell below it with the
    outputs and the other metadata. Execution counts that ran 1, 2, 3, ... still do."""
    cells = nb["cells"]
    cell = cells[index]
    code = [c for c in cells if c["cell_type"] == "code"]
    numbered = [c.get("execution_count") for c in code] == list(range(1, len(code) + 1))
    lines = cell_source(cell).splitlines()
    head = "\n".join(lines[:line]).rstrip()
    check = dict(cell, source=_as_lines("\n".join(lines[line:]).rstrip()))
    keep = {k: v for k, v in cell.get("metadata", {}).items() if k not in ("tags", "execution")}
    solution = dict(cell, source=_as_lines(head), outputs=[], metadata=keep, execution_count=None)
    if "id" in cell:
        check["id"] = _new_cell_id(nb, cell["id"])
    cells[index : index + 1] = [solution, check]
    if numbered:
        count = 0
        for c in cells:
            if c["cell_type"] == "code":
                count += 1
                c["execution_count"] = count
                for output in c.get("outputs", []):
                    if output.get("output_type") == "execute_result":
                        output["execution_count"] = count


def apply(nb: dict, name: str, split: bool = False) -> tuple[bool, list[str]]:
    """Write the nbgrader metadata of `plan` into `nb` (in place): set it on the exercise and
    check cells, remove it from every other cell. With `split`, first split the solution cells
    that hold their check call. Returns (whether `nb` changed, the problems left)."""
    changed = False
    result = plan(nb, name)
    if split and result.splits:
        for index, line in sorted(result.splits.items(), reverse=True):
            split_cell(nb, index, line)
        changed = True
        result = plan(nb, name)
    for index, cell in enumerate(nb["cells"]):
        metadata = cell.setdefault("metadata", {})
        wanted = result.metadata.get(index)
        if wanted is None:
            if "nbgrader" in metadata:
                del metadata["nbgrader"]
                changed = True
        elif metadata.get("nbgrader") != wanted:
            metadata["nbgrader"] = wanted
            changed = True
    return changed, result.problems


def check(nb: Any, name: str) -> list[str]:
    """What is missing or out of date in the nbgrader metadata of `nb`, and the problems of
    `plan`; empty when `apply` would change nothing and nbgrader can grade every exercise."""
    result = plan(nb, name)
    found = []
    for index, cell in enumerate(nb["cells"]):
        have = cell.get("metadata", {}).get("nbgrader")
        wanted = result.metadata.get(index)
        if wanted is None and have is not None:
            found.append(
                f"{name}, cell {index}: nbgrader metadata on a cell that is neither an exercise "
                "nor its check (stale: run `python tools/nbgrader_meta.py apply`)"
            )
        elif wanted is not None and have is None:
            found.append(
                f"{name}, cell {index}: no nbgrader metadata (it should be {wanted['grade_id']}; "
                "run `python tools/nbgrader_meta.py apply`)"
            )
        elif wanted is not None and have != wanted:
            found.append(
                f"{name}, cell {index}: nbgrader metadata out of date ({have} should be "
                f"{wanted}; run `python tools/nbgrader_meta.py apply`)"
            )
    return found + result.problems


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(nb: dict) -> str:
    """The .ipynb text of `nb` as nbformat writes it (sorted keys, one-space indent, UTF-8)."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["check", "apply"])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument(
        "--split",
        action="store_true",
        help="apply: also move check calls out of solution cells into a cell of their own",
    )
    args = parser.parse_intermixed_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    problems: list[str] = []
    for path in notebooks:
        # Read and write in one go: other tools (and people) edit these notebooks too.
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        if args.command == "check":
            problems += check(nb, path.name)
            continue
        changed, left = apply(nb, path.name, split=args.split)
        problems += left
        if changed and dumps(nb) != text:
            atomic_write(path, dumps(nb))
            print(f"  updated {path}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if args.command == "check" and not problems:
        print(f"nbgrader metadata up to date in {len(notebooks)} notebooks")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
