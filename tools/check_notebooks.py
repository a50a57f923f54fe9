"""Check that notebooks follow the course conventions of notebooks/README.md.

    python tools/check_notebooks.py [NOTEBOOK ...]      (default: every notebooks/*.ipynb)

Prints one line per problem and exits 1 if there is any. `make test` runs the same checks (in
tests/test_toolchain.py), and `tools/course.py execute` runs them after executing a notebook.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

from student import ExerciseFormatError, find_exercises

ROOT = Path(__file__).resolve().parents[1]
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"
IGNORE_OUTPUT = "nbval-ignore-output"
RAISES = "raises-exception"
SKIP = "skip-execution"
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+\S", re.MULTILINE)
RUN_TIME = re.compile(r"run[ -]?time", re.IGNORECASE)


def sanitize_patterns() -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of the nbval sanitize file, parsed the way nbval parses them."""
    text = SANITIZE_FILE.read_text(encoding="utf-8")
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)


def sanitize(text: str, patterns: list[tuple[str, str]] | None = None) -> str:
    for regex, replacement in sanitize_patterns() if patterns is None else patterns:
        text = re.sub(regex, replacement, text)
    return text


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _output_texts(cell) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                texts.append(value if isinstance(value, str) else "".join(value))
    return texts


def _check_parameters(cell, where: str) -> list[str]:
    """The parameters cell assigns BUDGET = "cpu" and SEED = <int>, and nothing else."""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as err:
        return [f"{where}: the parameters cell is not valid Python ({err.msg})"]
    assigned: dict[str, object] = {}
    problems = []
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            assigned[node.targets[0].id] = node.value.value
        else:
            problems.append(
                f"{where}: the parameters cell may only assign BUDGET and SEED to constants; "
                f"found {ast.unparse(node)!r}"
            )
    if assigned.get("BUDGET") != "cpu":
        problems.append(f'{where}: the parameters cell must set BUDGET = "cpu" (the default)')
    seed = assigned.get("SEED")
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"{where}: the parameters cell must set SEED to an integer (SEED = 0)")
    extra = sorted(set(assigned) - {"BUDGET", "SEED"})
    if extra:
        problems.append(
            f"{where}: the parameters cell must hold only BUDGET and SEED; also has {extra}"
        )
    return problems


def check_notebook(path: Path) -> list[str]:
    """All convention problems of one notebook, each a line naming the notebook and cell."""
    try:
        name = str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        name = str(path)
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 (any unreadable file is one problem to report)
        return [f"{name}: not a valid notebook ({type(err).__name__}: {err})"]
    if not nb.cells:
        return [f"{name}: the notebook is empty"]
    problems = []

    # Title cell: a heading, learning objectives as a list, the expected run time.
    first = nb.cells[0]
    lines = [ln for ln in first.source.splitlines() if ln.strip()]
    if first.cell_type != "markdown" or not lines or not lines[0].startswith("# "):
        problems.append(f"{name}: cell 0 must be a markdown cell starting with a '# Title' line")
    else:
        if not LIST_ITEM.search(first.source):
            problems.append(f"{name}: cell 0 must list the learning objectives as bullet points")
        if not RUN_TIME.search(first.source):
            problems.append(f"{name}: cell 0 must state the expected run time ('Run time: ...')")
    if nb.cells[-1].cell_type != "markdown":
        problems.append(
            f"{name}: the last cell must be a markdown summary (what was learned, what next)"
        )
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{name}: kernelspec must be 'python3' (found {kernel!r})")

    # The parameters cell, before any other use of BUDGET or SEED.
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    parameter_cells = [i for i, c in code_cells if "parameters" in _tags(c)]
    if len(parameter_cells) != 1:
        problems.append(
            f"{name}: needs exactly one code cell tagged 'parameters' (found {len(parameter_cells)})"
        )
    else:
        p = parameter_cells[0]
        problems += _check_parameters(nb.cells[p], f"{name}, cell {p}")
        for i, cell in code_cells:
            if i < p and re.search(r"\b(BUDGET|SEED)\b", cell.source):
                problems.append(f"{name}, cell {i}: uses BUDGET/SEED before the parameters cell")

    # Executed in order, no errors, machine-dependent output tagged and asserted.
    patterns = sanitize_patterns()
    root = str(ROOT)
    expected_count = 1
    for i, cell in code_cells:
        where = f"{name}, cell {i}"
        tags = _tags(cell)
        if not cell.source.strip():
            problems.append(f"{where}: empty code cell (delete it)")
            continue
        if SKIP in tags:
            continue
        if expected_count and cell.execution_count != expected_count:
            problems.append(
                f"{where}: execution count is {cell.execution_count}, expected {expected_count}: "
                "execute the notebook top to bottom in a fresh kernel (make execute NB=...)"
            )
            expected_count = 0  # one message is enough: the rest would be off the same way
        elif expected_count:
            expected_count += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and RAISES not in tags:
                problems.append(f"{where}: has an error output ({output.get('ename')})")
            is_stderr = output.get("output_type") == "stream" and output.get("name") == "stderr"
            if is_stderr and IGNORE_OUTPUT not in tags:
                first_line = output.get("text", "").strip().splitlines()[:1]
                problems.append(
                    f"{where}: writes to stderr ({first_line}); fix the warning's cause, or tag "
                    f"the cell '{IGNORE_OUTPUT}' if it is a progress bar"
                )
        if IGNORE_OUTPUT in tags and not re.search(
            r"^\s*assert\b|\bchecks\.", cell.source, re.MULTILINE
        ):
            problems.append(
                f"{where}: cells tagged '{IGNORE_OUTPUT}' must end in asserts of what they must show"
            )
        last = [
            ln.strip()
            for ln in cell.source.splitlines()
            if ln.strip() and not ln.strip().startswith("#")
        ]
        if last and last[-1].endswith(";"):
            problems.append(
                f"{where}: ends with ';' (nbval ignores it); end plotting cells with plt.show()"
            )
        if IGNORE_OUTPUT not in tags:
            for text in _output_texts(cell):
                if root in sanitize(text, patterns):
                    problems.append(
                        f"{where}: the output shows this machine's path {root}; print paths "
                        "relative to the project (or tag the cell)"
                    )
                    break

    # Exercises: well-formed solution regions, numbered 1..N.
    try:
        find_exercises(nb, name)
    except ExerciseFormatError as err:
        problems.append(str(err))
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    paths = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    problems = [p for path in paths for p in check_notebook(path)]
    for problem in problems:
        print(problem)
    print(f"{len(paths)} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
