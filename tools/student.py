"""Write the student edition of the course notebooks.

An exercise in an instructor notebook looks like this (inside one code cell)::

    def naive_forward(x):
        # Exercise 1: concatenate the four branch outputs along the channel axis
        ### BEGIN SOLUTION
        return torch.cat([b(x) for b in branches], dim=1)
        ### END SOLUTION

The student edition keeps the `# Exercise N:` comment and replaces the region from
`### BEGIN SOLUTION` to `### END SOLUTION` (markers included) by one line at the marker's
indentation::

        raise NotImplementedError("Exercise 1: concatenate the four branch outputs along the channel axis")

and clears every output, so the student sees no solution anywhere, not even in a printed result.

Usage:  python tools/student.py [--out build/student] [NOTEBOOK ...]
        (default: every notebooks/*.ipynb)
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from inception_lab._io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_LINE = re.compile(r"^(?P<indent>[ \t]*)# Exercise (?P<number>\d+): (?P<text>\S.*?)\s*$")
STUDENT_NOTE = (
    '\n\n> **Student edition.** Each `raise NotImplementedError("Exercise N: ...")` marks code '
    "for you to write. Replace that line with your code and run the cell after it: the check "
    "prints a pass message, or a hint when something is still wrong."
)


class ExerciseFormatError(ValueError):
    """A solution region that does not follow the convention in notebooks/README.md."""


@dataclass(frozen=True)
class Exercise:
    number: int
    text: str
    cell_index: int  # index in nb.cells (markdown cells included)
    line: int  # 1-based line of the `### BEGIN SOLUTION` marker in the cell
    indent: str

    @property
    def message(self) -> str:
        """The message of the stub's NotImplementedError."""
        return f"Exercise {self.number}: {self.text}"

    @property
    def stub(self) -> str:
        return f"{self.indent}raise NotImplementedError({json.dumps(self.message, ensure_ascii=False)})"


def _regions(source: str, cell_index: int, where: str) -> list[tuple[int, int, Exercise]]:
    """Find the solution regions of one cell: (begin line idx, end line idx, exercise), 0-based."""
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
            exercise = Exercise(
                number=int(comment["number"]),
                text=comment["text"],
                cell_index=cell_index,
                line=begin + 1,
                indent=indent,
            )
            regions.append((begin, i, exercise))
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


def find_exercises(nb: nbformat.NotebookNode, where: str = "notebook") -> list[Exercise]:
    """All exercises of a notebook in order; raises ExerciseFormatError on a malformed region.

    Exercises must be numbered 1, 2, 3, ... in the order they appear, and live in code cells.
    """
    exercises = []
    for index, cell in enumerate(nb.cells):
        has_marker = BEGIN in cell.source or END in cell.source
        if cell.cell_type != "code":
            if has_marker:
                raise ExerciseFormatError(
                    f"{where}, cell {index}: solution markers in a {cell.cell_type} cell; "
                    "exercises live in code cells"
                )
            continue
        exercises += [exercise for _, _, exercise in _regions(cell.source, index, where)]
    numbers = [e.number for e in exercises]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ExerciseFormatError(
            f"{where}: exercises must be numbered 1, 2, 3, ... in order of appearance; "
            f"found {numbers}"
        )
    return exercises


def strip_solutions(source: str, cell_index: int = 0, where: str = "notebook") -> str:
    """The cell source with every solution region replaced by its NotImplementedError stub."""
    lines = source.splitlines()
    out: list[str] = []
    position = 0
    for begin, end, exercise in _regions(source, cell_index, where):
        out += lines[position:begin] + [exercise.stub]
        position = end + 1
    out += lines[position:]
    return "\n".join(out)


def _check_compiles(source: str, where: str) -> None:
    """The stubbed cell must still be valid Python (IPython magics allowed)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        compile(TransformerManager().transform_cell(source), where, "exec")
    except SyntaxError as err:
        raise ExerciseFormatError(
            f"{where}: the student edition of this cell is not valid Python ({err.msg}, line "
            f"{err.lineno}); a solution region must hold whole statements at the marker's "
            "indentation"
        ) from None


def student_edition(nb: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """A copy of `nb` with solutions replaced by stubs and all outputs cleared."""
    exercises = find_exercises(nb, where)
    student = copy.deepcopy(nb)
    stubbed_cells = {e.cell_index for e in exercises}
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        if index in stubbed_cells:
            cell.source = strip_solutions(cell.source, index, where)
            _check_compiles(cell.source, f"{where}, cell {index}")
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    student.metadata.pop("widgets", None)  # saved widget state would show solved results
    student.metadata["inception_lab"] = {"edition": "student", "exercises": len(exercises)}
    if exercises and student.cells and student.cells[0].cell_type == "markdown":
        student.cells[0].source = student.cells[0].source.rstrip() + STUDENT_NOTE
    return student


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write atomically (`inception_lab._io.atomic_write`): readers never see half a notebook."""
    text = nbformat.writes(nb)
    atomic_write(path, text if text.endswith("\n") else text + "\n")


def write_student_edition(notebooks: list[Path], out_dir: Path) -> list[tuple[Path, int]]:
    """Write the student edition of each notebook into out_dir; returns (path, #exercises)."""
    # Check every notebook before writing any, so a bad region never leaves a half-written edition.
    editions = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        editions.append((path, student_edition(nb, where=str(path))))
    written = []
    for path, nb in editions:
        target = out_dir / path.name
        write_notebook(nb, target)
        written.append((target, nb.metadata["inception_lab"]["exercises"]))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        parser.error("no notebooks found")
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    try:
        written = write_student_edition(notebooks, args.out)
    except ExerciseFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    total = 0
    for target, count in written:
        total += count
        print(f"  {target}  ({count} exercise{'s' if count != 1 else ''})")
    print(f"Student edition: {len(written)} notebooks, {total} exercises, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
