"""The course's one list of lessons, notebooks/lessons.toml, and every text written from it.

notebooks/lessons.toml holds, for each notebook, its number, file, title, checks module and the
lines the tables show; notebooks/run_times.json (tools/run_times.py) holds its measured run time.
From the two, this module writes, and `check` compares:

- the title cell (cell 0) of every notebook: its heading ("# Lesson 3 — GoogLeNet: ...", the
  welcome's "# Welcome to Inception Lab") and its run-time sentence (`run_times.sentence`);
- the lesson tables of README.md, notebooks/00_welcome.ipynb and docs/instructor_guide.md ("## Run
  times"), whole: one row per lesson, in order, each found by its header row (`TABLES`);
- the total ("the whole course takes about 9 min") and the counts ("eleven notebooks", "ten
  lessons", as words) that those three documents state;
- that every lesson's checks module exists, defines the `checks.<name>` its notebook calls, and
  has its tests in tests/test_checks_NN.py.

tools/course.py reads the list for the course index (build/site/index.html). So adding a lesson is
one entry in lessons.toml, its notebook and its checks module; `python tools/course.py times
--write` then rewrites the texts, and `python tools/course.py times` (tests/test_lessons.py, too)
checks them.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import run_times

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the dev extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FILE_NAME = "lessons.toml"
WELCOME = "00_welcome.ipynb"
README = Path("README.md")
GUIDE = Path("docs") / "instructor_guide.md"
NUMBER_WORDS = (
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
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)
# "Ten JupyterLab lessons", "eleven notebooks (a welcome and ten lessons)": the counts the README,
# the guide and the welcome state in words. Other counts in those documents go in digits.
COUNT = re.compile(
    rf"\b(?P<word>{'|'.join(NUMBER_WORDS)})(?P<rest> (?:JupyterLab )?(?P<what>lessons|notebooks))\b",
    re.IGNORECASE,
)


class LessonsError(ValueError):
    """lessons.toml, or a text written from it, cannot be read or updated."""


@dataclass(frozen=True)
class Lesson:
    """One entry of notebooks/lessons.toml."""

    number: int  # 0 for the welcome, then 1, 2, ...
    notebook: str  # "03_googlenet.ipynb": starts with the two-digit number
    title: str  # the title cell's heading, without "# Lesson N — "
    short: str  # the instructor guide's row label: "03 GoogLeNet"
    topic: str  # one line for the README's table
    gpu_run_time: str  # the guide's estimate at BUDGET="gpu" (not measured)
    time_goes_to: str  # what takes the time at BUDGET="cpu" (the guide)
    learn: str = ""  # what you will learn (the welcome's table; not the welcome itself)
    checks: str = ""  # the module of the exercise checks, e.g. "inception_lab.checks.lesson03"

    @property
    def heading(self) -> str:
        """The title cell's first line, without the '# '."""
        return self.title if self.number == 0 else f"Lesson {self.number} — {self.title}"


# ---------------------------------------------------------------------------------------------
# The list


def file_path(root: Path = ROOT) -> Path:
    return root / "notebooks" / FILE_NAME


def parse(text: str, where: str = FILE_NAME) -> list[Lesson]:
    """The lessons of a lessons.toml text; a LessonsError naming the entry and field otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LessonsError(f"{where} is not valid TOML: {err}") from None
    entries = data.get("lesson")
    if set(data) != {"lesson"} or not isinstance(entries, list) or not entries:
        raise LessonsError(f"{where} must hold [[lesson]] entries and nothing else")
    known = {f.name: f for f in fields(Lesson)}
    required = [f.name for f in fields(Lesson) if f.name not in ("learn", "checks")]
    lessons = []
    for i, entry in enumerate(entries):
        label = f"{where}, lesson entry {i + 1}"
        unknown = sorted(set(entry) - set(known))
        missing = [name for name in required if name not in entry]
        if unknown or missing:
            raise LessonsError(f"{label}: unknown fields {unknown}, missing fields {missing}")
        for name, value in entry.items():
            kind = int if name == "number" else str
            if type(value) is not kind:  # exact: a bool is not a number here
                raise LessonsError(f"{label}: {name} must be {kind.__name__}, got {value!r}")
            if kind is str and (not value.strip() or "|" in value or "\n" in value):
                raise LessonsError(f"{label}: {name} must be one non-empty line without '|'")
        lesson = Lesson(**entry)
        label = f"{where}, lesson {lesson.number}"
        if lesson.number != i:
            raise LessonsError(f"{label}: lessons are numbered 0, 1, 2, ... in order; expected {i}")
        if not re.fullmatch(rf"{lesson.number:02d}_[\w-]+\.ipynb", lesson.notebook):
            raise LessonsError(
                f"{label}: notebook must be '{lesson.number:02d}_<name>.ipynb', "
                f"got {lesson.notebook!r}"
            )
        if lesson.number and not (lesson.learn and lesson.checks):
            raise LessonsError(f"{label}: a lesson needs 'learn' and 'checks'")
        if lesson.checks and not re.fullmatch(r"[a-z_]\w*(\.[a-z_]\w*)+", lesson.checks):
            raise LessonsError(f"{label}: checks must be a module path, got {lesson.checks!r}")
        lessons.append(lesson)
    return lessons


def load(path: Path) -> list[Lesson]:
    """Read notebooks/lessons.toml; a clear LessonsError if it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LessonsError(f"{path} does not exist") from None
    return parse(text, where=str(path))


def notebook_names(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))


# ---------------------------------------------------------------------------------------------
# The tables


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _link(name: str, folder: str) -> str:
    return f"[`{name}`]({folder}{name})"


@dataclass(frozen=True)
class Table:
    """A lesson table: its header row, and the row of one lesson given its run-time text."""

    header: str
    columns: int

    def render(self, rows: list[str]) -> str:
        return "\n".join([self.header, "|" + "---|" * self.columns, *rows])


README_TABLE = Table("| # | Notebook | Topic | Run time |", 4)
WELCOME_TABLE = Table('| # | Notebook | What you will learn | Run time, `BUDGET="cpu"` |', 4)
GUIDE_TABLE = Table(
    '| lesson | run time at `BUDGET="cpu"` (recorded) | `BUDGET="gpu"` (estimate, not measured) '
    '| what takes the time at `"cpu"` |',
    4,
)


def readme_table(lessons: list[Lesson], times: dict[str, str]) -> str:
    return README_TABLE.render(
        [
            _row(str(n.number), _link(n.notebook, "notebooks/"), n.topic, times[n.notebook])
            for n in lessons
        ]
    )


def welcome_table(lessons: list[Lesson], times: dict[str, str]) -> str:
    """The welcome's table lists the lessons, not the welcome itself."""
    return WELCOME_TABLE.render(
        [
            _row(str(n.number), _link(n.notebook, ""), n.learn, times[n.notebook])
            for n in lessons
            if n.number
        ]
    )


def guide_table(lessons: list[Lesson], times: dict[str, str]) -> str:
    return GUIDE_TABLE.render(
        [
            _row(f"{n.number:02d} {n.short}", times[n.notebook], n.gpu_run_time, n.time_goes_to)
            for n in lessons
        ]
    )


TABLES = {README: readme_table, GUIDE: guide_table, Path("notebooks") / WELCOME: welcome_table}


def find_table(text: str, header: str) -> tuple[int, int]:
    """(start, end) character offsets of the markdown table whose header row is `header`: the
    header, its rule and every row up to the first line that is not a table row."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == header]
    if len(starts) != 1:
        raise LessonsError(f"expected one table with the header {header!r}, found {len(starts)}")
    first = starts[0]
    last = first + 1
    while last + 1 < len(lines) and lines[last + 1].lstrip().startswith("|"):
        last += 1
    start = sum(len(line) + 1 for line in lines[:first])
    end = start + sum(len(line) + 1 for line in lines[first : last + 1]) - 1
    return start, end


def with_table(text: str, table: str) -> str:
    """`text` with the table that has `table`'s header row replaced by `table`."""
    start, end = find_table(text, table.split("\n", 1)[0])
    return text[:start] + table + text[end:]


def table_problems(text: str, table: str) -> list[str]:
    """How the table in `text` with `table`'s header differs from `table`, row by row."""
    header = table.split("\n", 1)[0]
    try:
        start, end = find_table(text, header)
    except LessonsError as err:
        return [str(err)]
    stated, expected = text[start:end].split("\n"), table.split("\n")
    labels = ["the header", "the rule", *(f"row {i}" for i in range(1, len(expected) - 1))]
    problems = [
        f"{label} says {s.strip()!r}, expected {e!r}"
        for label, s, e in zip(labels, stated, expected, strict=False)  # lengths compared below
        if s.strip() != e
    ]
    if len(stated) != len(expected):
        problems.append(
            f"the table has {len(stated) - 2} rows, lessons.toml {len(expected) - 2} "
            f"(expected {[line.split('|')[1].strip() for line in expected[2:]]})"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# Counts in words


def count_word(n: int) -> str:
    if not 0 <= n < len(NUMBER_WORDS):
        raise LessonsError(f"no number word for {n}")
    return NUMBER_WORDS[n]


def _expected_count(lessons: list[Lesson], what: str) -> int:
    return len(lessons) if what.lower() == "notebooks" else len(lessons) - 1


def count_problems(text: str, lessons: list[Lesson]) -> list[str]:
    problems = []
    for match in COUNT.finditer(text):
        expected = count_word(_expected_count(lessons, match["what"]))
        if match["word"].lower() != expected:
            problems.append(f"says {match[0]!r}, lessons.toml has {expected} {match['what']}")
    return problems


def with_counts(text: str, lessons: list[Lesson]) -> str:
    def replace(match: re.Match) -> str:
        word = count_word(_expected_count(lessons, match["what"]))
        word = word.capitalize() if match["word"][0].isupper() else word
        return word + match["rest"]

    return COUNT.sub(replace, text)


# ---------------------------------------------------------------------------------------------
# Title cells and checks modules


def heading_problems(source: str, lesson: Lesson) -> list[str]:
    first = source.split("\n", 1)[0]
    if first != f"# {lesson.heading}":
        return [f"the heading is {first!r}, lessons.toml says {'# ' + lesson.heading!r}"]
    return []


def with_heading(source: str, lesson: Lesson) -> str:
    first, newline, rest = source.partition("\n")
    if not first.startswith("# "):
        raise LessonsError(f"the title cell does not start with a '# ' heading: {first!r}")
    return f"# {lesson.heading}{newline}{rest}"


def with_run_time(source: str, sentence: str) -> str:
    """A title cell with its run-time sentence set to `sentence`. A new lesson's title cell,
    with no '**Run time:**' yet, gets it as the paragraph after its heading; a run time typed in
    another form is a RunTimesError (run_times.with_title_time)."""
    if run_times.SENTENCE.search(source) is None and "**Run time:**" not in source:
        first, _, rest = source.partition("\n")
        return f"{first}\n\n{sentence}\n{rest}"
    return run_times.with_title_time(source, sentence)


def _top_level_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level (what `module.<name>` finds)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def checks_problems(root: Path, lesson: Lesson, nb: dict) -> list[str]:
    """The lesson's checks module exists, defines every `checks.<name>` its notebook uses (or
    they are the shared helpers of checks/_common.py), and has tests/test_checks_NN.py."""
    if not lesson.checks:
        return []
    module = root / Path(*lesson.checks.split(".")).with_suffix(".py")
    if not module.is_file():
        return [f"its checks module {lesson.checks} has no file {module.relative_to(root)}"]
    problems = []
    tests = root / "tests" / f"test_checks_{lesson.number:02d}.py"
    if not tests.is_file():
        problems.append(f"its checks module has no tests: {tests.relative_to(root)} is missing")
    defined = _top_level_names(module)
    common = module.with_name("_common.py")
    if common.is_file():
        defined |= _top_level_names(common)
    code = "\n".join(_source(c) for c in nb["cells"] if c["cell_type"] == "code")
    used = sorted(set(re.findall(r"\bchecks\.([A-Za-z_]\w*)", code)))
    missing = [name for name in used if name not in defined]
    if missing:
        problems.append(f"calls checks {missing}, which {lesson.checks} does not define")
    return problems


# ---------------------------------------------------------------------------------------------
# The documents


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _set_source(cell: dict, text: str) -> None:
    """Store a source as a list of lines ending in newlines, as the repository's notebooks do."""
    lines = text.split("\n")
    cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _notebook_text(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"  # the repository's format


def _times(lessons: list[Lesson], recorded: run_times.RunTimes) -> dict[str, str]:
    """{notebook: run-time text}; '?' for a lesson without a recorded time."""
    return {
        n.notebook: run_times.display(recorded.notebooks[n.notebook].seconds)
        if n.notebook in recorded.notebooks
        else "?"
        for n in lessons
    }


def _load_both(
    root: Path, recorded: run_times.RunTimes | None
) -> tuple[list[Lesson], run_times.RunTimes]:
    """The lesson list and the recorded run times (`recorded`, else run_times.json) of `root`."""
    return load(file_path(root)), recorded or run_times.load(run_times.file_path(root))


def check(root: Path = ROOT, recorded: run_times.RunTimes | None = None) -> list[str]:
    """Every disagreement between lessons.toml, run_times.json and the texts written from them.

    Empty when lessons.toml lists exactly the notebooks in notebooks/, run_times.json has one
    entry for each and no other, every title cell has the list's heading and the file's run-time
    sentence, the tables of the README, the guide and the welcome are the ones `write_texts`
    writes, their totals and counts agree, and every checks module is in place.
    """
    try:
        lessons, recorded = _load_both(root, recorded)
    except (LessonsError, run_times.RunTimesError) as err:
        return [str(err)]
    names = notebook_names(root)
    listed = [n.notebook for n in lessons]
    times_rel = run_times.file_path(root).relative_to(root)
    problems = [
        f"notebooks/{FILE_NAME}: no entry for notebooks/{n} (add a [[lesson]])"
        for n in names
        if n not in listed
    ]
    problems += [
        f"notebooks/{FILE_NAME}: lists {n}, which does not exist" for n in listed if n not in names
    ]
    problems += [
        f"{times_rel}: no entry for notebooks/{n} (record it: `python tools/course.py run "
        f"--record-times notebooks/{n}`)"
        for n in names
        if n not in recorded.notebooks
    ]
    problems += [
        f"{times_rel}: stale entry {n} (no such notebook)"
        for n in recorded.notebooks
        if n not in names
    ]
    for lesson in lessons:
        path = root / "notebooks" / lesson.notebook
        if not path.is_file():
            continue
        nb = _read_notebook(path)
        where = f"notebooks/{lesson.notebook}"
        title = _source(nb["cells"][0])
        problems += [f"{where}, cell 0: {p}" for p in heading_problems(title, lesson)]
        if lesson.notebook in recorded.notebooks:
            expected = run_times.sentence(
                recorded.notebooks[lesson.notebook].seconds, recorded.threads
            )
            problems += [f"{where}, cell 0: {p}" for p in run_times.title_problems(title, expected)]
        problems += [f"{where}: {p}" for p in checks_problems(root, lesson, nb)]

    times = _times(lessons, recorded)
    total = run_times.total_phrase(recorded.total)
    for doc, render in TABLES.items():
        try:
            text = _document_text(root, doc)
        except FileNotFoundError:
            problems.append(f"{doc}: missing")
            continue
        problems += [
            f"{doc}: lesson table: {p}" for p in table_problems(text, render(lessons, times))
        ]
        problems += [f"{doc}: {p}" for p in run_times.total_problems(text, total)]
        problems += [f"{doc}: {p}" for p in count_problems(text, lessons)]
    return problems


def _document_text(root: Path, doc: Path) -> str:
    """A markdown document, or a notebook's markdown cells joined by blank lines."""
    text = (root / doc).read_text(encoding="utf-8")
    if doc.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")


def _rewrite_markdown(text: str, table: str, lessons: list[Lesson], total: str) -> str:
    return with_counts(run_times.with_total(with_table(text, table), total), lessons)


def write_texts(root: Path = ROOT, recorded: run_times.RunTimes | None = None) -> list[Path]:
    """Rewrite every text written from lessons.toml and run_times.json; returns the files changed.

    Changes only the heading and the run-time sentence of each title cell, the three lesson
    tables, and the totals and counts of the three documents; everything else, notebook outputs
    included, stays byte for byte. Nothing is written unless every file can be updated (a title
    cell without a run-time sentence, a document without its table: a LessonsError naming them).
    """
    from inception_lab._io import atomic_write

    lessons, recorded = _load_both(root, recorded)
    times = _times(lessons, recorded)
    total = run_times.total_phrase(recorded.total)
    writes: list[tuple[Path, str]] = []
    errors = []
    for lesson in lessons:
        path = root / "notebooks" / lesson.notebook
        if not path.is_file():
            errors.append(f"notebooks/{lesson.notebook}: no such notebook")
            continue
        nb = _read_notebook(path)
        cells = nb["cells"]
        new = {}
        try:
            title = with_heading(_source(cells[0]), lesson)
            if lesson.notebook in recorded.notebooks:
                seconds = recorded.notebooks[lesson.notebook].seconds
                title = with_run_time(title, run_times.sentence(seconds, recorded.threads))
            new[0] = title
            if lesson.notebook == WELCOME:
                new.update(_rewrite_welcome(cells, new, lessons, times, total))
        except (LessonsError, run_times.RunTimesError) as err:
            errors.append(f"notebooks/{lesson.notebook}: {err}")
            continue
        edits = {i: text for i, text in new.items() if text != _source(cells[i])}
        for i, text in edits.items():
            _set_source(cells[i], text)
        if edits:
            writes.append((path, _notebook_text(nb)))
    for doc in (README, GUIDE):
        path = root / doc
        text = path.read_text(encoding="utf-8")
        try:
            new_text = _rewrite_markdown(text, TABLES[doc](lessons, times), lessons, total)
        except LessonsError as err:
            errors.append(f"{doc}: {err}")
            continue
        if new_text != text:
            writes.append((path, new_text))
    if errors:
        raise LessonsError("nothing was rewritten: " + "; ".join(errors))
    for path, content in writes:
        atomic_write(path, content)
    return [path for path, _ in writes]


def _rewrite_welcome(
    cells: list[dict], new: dict[int, str], lessons: list[Lesson], times: dict, total: str
) -> dict[int, str]:
    """The welcome's markdown cells with its table, total and counts rewritten."""
    table = welcome_table(lessons, times)
    header = table.split("\n", 1)[0]
    holders = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "markdown" and header in new.get(i, _source(c)).split("\n")
    ]
    if len(holders) != 1:
        raise LessonsError(f"expected one markdown cell with the table {header!r}")
    out = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = new.get(i, _source(cell))
        text = with_table(text, table) if i == holders[0] else text
        out[i] = with_counts(run_times.with_total(text, total), lessons)
    return out
