"""The notebooks' run times from one source: notebooks/run_times.json, one rounding rule, one text.

notebooks/run_times.json holds, for every notebook, the seconds it took to run top to bottom at
BUDGET="cpu" (papermill, kernel start-up included) in a recorded `make course` run, with where and
when it was measured: the CPU model, the number of torch threads, the torch and Python versions
(one machine for the whole file), and the date and commit of each notebook's measurement.

`python tools/course.py run --record-times` writes it, then rewrites every place that states the
times, from the file and with one rounding rule (`display`):

- the `**Run time:**` sentence in the title cell (cell 0) of every notebook (`sentence`);
- the run-time column of the lesson tables in notebooks/00_welcome.ipynb, README.md and
  docs/instructor_guide.md ("## Run times");
- the total, "the whole course takes about N min", in those three documents (`total_phrase`).

`python tools/course.py times` checks all of them against the file (tests/test_run_times.py does
the same), and `python tools/course.py times --write` rewrites them without running anything.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_NAME = "run_times.json"
BUDGET = "cpu"
WELCOME = "00_welcome.ipynb"
README = Path("README.md")
GUIDE = Path("docs") / "instructor_guide.md"
ABOUT = (
    'Measured run times of the notebooks at BUDGET="cpu" (papermill, top to bottom, kernel '
    "start-up included). Written by `python tools/course.py run --record-times`; the title cells, "
    "the welcome table, README.md and docs/instructor_guide.md state these times with the "
    "rounding rule of tools/run_times.py, and tests/test_run_times.py checks that they do."
)

# A run-time sentence of a title cell, whatever its time and thread count (what --write replaces).
SENTENCE = re.compile(
    r"\*\*Run time:\*\* about [\d.]+ (?:s|min) at `BUDGET=\"cpu\"` "
    r"\(measured with \d+ CPU threads?: see \[run_times\.json\]\(run_times\.json\)\)"
)
# A duration typed by hand ("112 s", "2.5 min", "3 minutes"): none may be left in a title cell
# besides the sentence.
DURATION = re.compile(
    r"\b\d+(?:\.\d+)?\s?(?:s|secs?|seconds?|mins?|minutes?|h|hours?)\b", re.IGNORECASE
)
TOTAL = re.compile(r"(the whole course takes )(about [\d.]+ (?:s|min))")
RUN_TIME_HEADER = re.compile(r"run[ -]?time", re.IGNORECASE)
NOTEBOOK_NAME = re.compile(r"\b(\d\d_[\w-]+\.ipynb)\b")
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
TABLE_RULE = re.compile(r"^\s*\|[\s:|-]+\|\s*$")


class RunTimesError(ValueError):
    """The run-times file or a document that states the times cannot be read or updated."""


# ---------------------------------------------------------------------------------------------
# The rounding rule and the texts built with it


def display(seconds: float) -> str:
    """The one rounding rule from measured seconds to the text every document shows.

    Under 90 s: to the nearest 5 s, at least 5 s ("about 5 s", "about 40 s"). From 90 s on: to
    the nearest half minute ("about 1.5 min", "about 2 min", "about 2.5 min"). Halves round up.
    """
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a run time must be a finite number of seconds >= 0, not {seconds!r}")
    fives = max(1, math.floor(seconds / 5 + 0.5))
    if fives * 5 < 90:
        return f"about {fives * 5} s"
    halves = math.floor(seconds / 30 + 0.5)
    minutes = f"{halves // 2}" if halves % 2 == 0 else f"{halves / 2:.1f}"
    return f"about {minutes} min"


def sentence(seconds: float, threads: int) -> str:
    """The run-time sentence of a title cell, e.g. '**Run time:** about 2 min at ...'."""
    unit = "thread" if threads == 1 else "threads"
    return (
        f'**Run time:** {display(seconds)} at `BUDGET="cpu"` '
        f"(measured with {threads} CPU {unit}: see [run_times.json](run_times.json))"
    )


def total_phrase(seconds: float) -> str:
    """The total that the welcome notebook, the README and the guide state."""
    return f"the whole course takes {display(seconds)}"


# ---------------------------------------------------------------------------------------------
# The file


@dataclass(frozen=True)
class Entry:
    """One notebook's measurement."""

    seconds: float
    date: str  # YYYY-MM-DD (UTC) of the run
    commit: str  # `git rev-parse --short HEAD` at the run, "-dirty" if lessons or package differed


@dataclass
class RunTimes:
    """The contents of notebooks/run_times.json."""

    machine: dict  # cpu, threads, torch, python: one machine for every entry
    notebooks: dict[str, Entry] = field(default_factory=dict)

    @property
    def threads(self) -> int:
        return int(self.machine["threads"])

    @property
    def total(self) -> float:
        return sum(e.seconds for e in self.notebooks.values())

    def to_json(self) -> str:
        """The file's text: one line per notebook, so that a re-recorded lesson is a one-line diff."""
        rows = ",\n".join(
            f"    {json.dumps(name)}: {json.dumps(asdict(entry))}"
            for name, entry in sorted(self.notebooks.items())
        )
        head = {"about": ABOUT, "budget": BUDGET, "machine": self.machine}
        text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]  # reopen the object
        return f'{text},\n  "notebooks": {{\n{rows}\n  }}\n}}\n'

    @classmethod
    def from_json(cls, text: str, where: str = FILE_NAME) -> RunTimes:
        try:
            data = json.loads(text)
        except ValueError as err:
            raise RunTimesError(f"{where} is not valid JSON: {err}") from None
        if not isinstance(data, dict) or data.get("budget") != BUDGET:
            raise RunTimesError(f'{where} must be a JSON object with "budget": "{BUDGET}"')
        machine = data.get("machine")
        if not isinstance(machine, dict) or not {"cpu", "threads", "torch"} <= set(machine):
            raise RunTimesError(f'{where}: "machine" must name the cpu, threads and torch')
        notebooks = {}
        for name, entry in (data.get("notebooks") or {}).items():
            try:
                notebooks[name] = Entry(
                    float(entry["seconds"]), str(entry["date"]), str(entry["commit"])
                )
                display(notebooks[name].seconds)
            except (KeyError, TypeError, ValueError) as err:
                raise RunTimesError(
                    f'{where}: the entry of {name} needs "seconds" (>= 0), "date" and "commit" '
                    f"({type(err).__name__}: {err})"
                ) from None
        return cls(machine=machine, notebooks=notebooks)


def file_path(root: Path = ROOT) -> Path:
    return root / "notebooks" / FILE_NAME


def load(path: Path) -> RunTimes:
    """Read notebooks/run_times.json; a clear RunTimesError if it is missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunTimesError(
            f"{path} does not exist: record the run times with "
            "`python tools/course.py run --record-times`"
        ) from None
    return RunTimes.from_json(text, where=str(path))


def save(run_times: RunTimes, path: Path) -> None:
    from inception_lab._io import atomic_write

    atomic_write(path, run_times.to_json())


def machine_info() -> dict:
    """What the file records about the machine: CPU model, torch threads, torch and Python."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def commit_of(root: Path = ROOT) -> str:
    """The short commit hash, with "-dirty" if notebooks/ or inception_lab/ have changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--", "notebooks/*.ipynb", "inception_lab")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if changed else commit


def check_can_record(path: Path, names: list[str], all_names: list[str], machine: dict) -> None:
    """Refuse a recording that would make the file lie; call it before running anything.

    Times are only recorded at BUDGET="cpu" without a smoke run (the caller checks the budget),
    and a partial run (some notebooks) may only update a file measured on the same machine.
    """
    if os.environ.get("INCEPTION_LAB_SMOKE_STEPS"):
        raise RunTimesError(
            "INCEPTION_LAB_SMOKE_STEPS is set: a smoke run's times are not the lessons' times"
        )
    if set(names) >= set(all_names) or not path.exists():
        return
    old = load(path)
    same = ("cpu", "threads", "torch")
    if any(str(old.machine.get(k)) != str(machine.get(k)) for k in same):
        mine = ", ".join(f"{k} {machine.get(k)}" for k in same)
        theirs = ", ".join(f"{k} {old.machine.get(k)}" for k in same)
        raise RunTimesError(
            f"{path} was measured on another machine ({theirs}; this one: {mine}): record every "
            "notebook here (run without NOTEBOOK arguments) so that the file holds one machine"
        )


def record(
    path: Path,
    seconds: dict[str, float],
    all_names: list[str],
    machine: dict,
    date: str,
    commit: str,
) -> RunTimes:
    """Store new measurements; keeps the other notebooks' entries and drops deleted notebooks."""
    old = load(path) if path.exists() else None
    entries = dict(old.notebooks) if old and set(seconds) < set(all_names) else {}
    entries.update({name: Entry(round(s, 1), date, commit) for name, s in seconds.items()})
    run_times = RunTimes(
        machine=machine, notebooks={n: e for n, e in entries.items() if n in all_names}
    )
    save(run_times, path)
    return run_times


# ---------------------------------------------------------------------------------------------
# Reading and rewriting the places that state the times


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (escaped pipes stay inside their cell)."""
    return re.split(r"(?<!\\)\|", line.strip()[1:-1])


def _run_time_table(markdown: str) -> tuple[list[int], int] | None:
    """(line numbers of the body rows, index of the run-time column) of the first markdown
    table whose header has a cell naming a run time; None if there is no such table."""
    lines = markdown.split("\n")
    i = 0
    while i + 1 < len(lines):
        if TABLE_ROW.match(lines[i]) and TABLE_RULE.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and TABLE_ROW.match(lines[end]):
                end += 1
            columns = [k for k, cell in enumerate(_cells(lines[i])) if RUN_TIME_HEADER.search(cell)]
            if columns:
                return list(range(i + 2, end)), columns[0]
            i = end
        else:
            i += 1
    return None


def _row_notebook(cells: list[str], names: list[str]) -> str | None:
    """The notebook a table row is about: a file name in the row, else the lesson number that
    starts its first cell ("02 1x1 bottleneck"). An unknown number gives "NN_?"."""
    found = NOTEBOOK_NAME.search("|".join(cells))
    if found:
        return found.group(1)
    number = re.match(r"\s*(\d+)\b", cells[0])
    if not number:
        return None
    prefix = f"{int(number.group(1)):02d}_"
    return next((n for n in names if n.startswith(prefix)), f"{prefix}?")


def table_times(markdown: str, names: list[str]) -> dict[str, str]:
    """{notebook: text of its run-time cell} of the run-time table in `markdown`."""
    table = _run_time_table(markdown)
    if table is None:
        raise RunTimesError("no table with a 'Run time' column")
    rows, column = table
    lines = markdown.split("\n")
    times = {}
    for i in rows:
        cells = _cells(lines[i])
        name = _row_notebook(cells, names)
        if name is not None and column < len(cells):
            times[name] = cells[column].strip()
    return times


def with_table_times(markdown: str, texts: dict[str, str], names: list[str]) -> str:
    """`markdown` with the run-time cell of each notebook's row set to texts[notebook]."""
    table = _run_time_table(markdown)
    if table is None:
        raise RunTimesError("no table with a 'Run time' column")
    rows, column = table
    lines = markdown.split("\n")
    for i in rows:
        cells = _cells(lines[i])
        name = _row_notebook(cells, names)
        if name in texts and column < len(cells):
            cells[column] = f" {texts[name]} "
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = f"{indent}|{'|'.join(cells)}|"
    return "\n".join(lines)


def title_problems(source: str, expected: str) -> list[str]:
    """What is wrong with a title cell's run time: the expected sentence must appear once, and
    no other duration may be typed next to it."""
    problems = []
    count = source.count(expected)
    if count != 1:
        found = SENTENCE.findall(source) or re.findall(r"\*\*Run time:\*\*[^\n]*", source)
        problems.append(
            f"expected the sentence {expected!r} once, found {count}"
            + (f" (it says {found[0]!r})" if found and count == 0 else "")
        )
    stale = DURATION.findall(SENTENCE.sub("", source))  # the sentence's own time is not stale
    if stale:
        problems.append(f"durations typed by hand besides the run-time sentence: {stale}")
    return problems


def with_title_time(source: str, expected: str) -> str:
    """A title cell with its run-time sentence set to `expected`."""
    new, count = SENTENCE.subn(lambda _: expected, source)
    if count != 1:
        raise RunTimesError(
            f"the title cell must contain one run-time sentence like {expected!r} (found {count})"
        )
    return new


def total_problems(text: str, expected: str) -> list[str]:
    stated = ["".join(m.groups()) for m in TOTAL.finditer(text)]
    if not stated:
        return [f"does not state the total ({expected!r})"]
    return [f"says {s!r}, expected {expected!r}" for s in stated if s != expected]


def with_total(text: str, expected: str) -> str:
    return TOTAL.sub(lambda _: expected, text)


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


def notebook_names(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))


def _welcome_table_index(nb: dict) -> int:
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown" and _run_time_table(_source(cell)) is not None:
            return i
    raise RunTimesError(f"{WELCOME} has no markdown cell with a 'Run time' table")


def check(root: Path = ROOT, run_times: RunTimes | None = None) -> list[str]:
    """Every disagreement between notebooks/run_times.json and the places that state the times.

    Empty when the file has one entry per notebook and no other, every title cell has the
    file's sentence, and the tables and totals of the welcome notebook, the README and the
    instructor guide show the file's times with the rule of `display`.
    """
    path = file_path(root)
    try:
        run_times = run_times or load(path)
    except RunTimesError as err:
        return [str(err)]
    names = notebook_names(root)
    rel = path.relative_to(root)
    problems = [
        f"{rel}: no entry for notebooks/{n} (record it: `python tools/course.py run "
        f"--record-times notebooks/{n}`)"
        for n in names
        if n not in run_times.notebooks
    ]
    problems += [
        f"{rel}: stale entry {n} (no such notebook)" for n in run_times.notebooks if n not in names
    ]
    known = {n: e for n, e in run_times.notebooks.items() if n in names}
    texts = {n: display(e.seconds) for n, e in known.items()}

    for name, entry in known.items():
        nb = _read_notebook(root / "notebooks" / name)
        expected = sentence(entry.seconds, run_times.threads)
        for problem in title_problems(_source(nb["cells"][0]), expected):
            problems.append(f"notebooks/{name}, cell 0: {problem}")

    total = total_phrase(run_times.total)
    documents: list[tuple[str, str, list[str]]] = []  # (label, text, notebooks its table lists)
    if WELCOME in names:
        welcome = _read_notebook(root / "notebooks" / WELCOME)
        markdown = "\n".join(_source(c) for c in welcome["cells"] if c["cell_type"] == "markdown")
        documents.append((f"notebooks/{WELCOME}", markdown, [n for n in names if n != WELCOME]))
    for doc in (README, GUIDE):
        try:
            documents.append((str(doc), (root / doc).read_text(encoding="utf-8"), names))
        except FileNotFoundError:
            problems.append(f"{doc}: missing")
    for label, text, listed in documents:
        try:
            stated = table_times(text, names)
        except RunTimesError as err:
            problems.append(f"{label}: {err}")
            continue
        for name in listed:
            if name not in stated:
                problems.append(f"{label}: the run-time table has no row for {name}")
            elif name in texts and stated[name] != texts[name]:
                problems.append(
                    f"{label}: the run-time table says {stated[name]!r} for {name}; "
                    f"{FILE_NAME} has {known[name].seconds} s: {texts[name]!r}"
                )
        for name in stated:
            if name not in listed:
                problems.append(f"{label}: the run-time table has a row for {name}, not listed")
        problems += [f"{label}: {p}" for p in total_problems(text, total)]
    return problems


def write_texts(root: Path = ROOT, run_times: RunTimes | None = None) -> list[Path]:
    """Rewrite every place that states the times from the file; returns the files changed.

    Only the run-time sentence of each title cell, the run-time column of the three tables and
    the totals change; everything else, notebook outputs included, stays byte for byte. Nothing
    is written unless every file can be updated (a title cell without a run-time sentence, or a
    document without its table, is a RunTimesError naming them all).
    """
    from inception_lab._io import atomic_write

    run_times = run_times or load(file_path(root))
    names = notebook_names(root)
    texts = {n: display(e.seconds) for n, e in run_times.notebooks.items() if n in names}
    total = total_phrase(run_times.total)
    writes: list[tuple[Path, str]] = []
    errors = []
    for name in names:
        if name not in run_times.notebooks:
            continue
        path = root / "notebooks" / name
        nb = _read_notebook(path)
        expected = sentence(run_times.notebooks[name].seconds, run_times.threads)
        try:
            new_sources = {0: with_title_time(_source(nb["cells"][0]), expected)}
            if name == WELCOME:
                table = _welcome_table_index(nb)
                source = new_sources.get(table, _source(nb["cells"][table]))
                new_sources[table] = with_table_times(source, texts, names)
                for i, cell in enumerate(nb["cells"]):
                    if cell["cell_type"] == "markdown":
                        new_sources[i] = with_total(new_sources.get(i, _source(cell)), total)
        except RunTimesError as err:
            errors.append(f"notebooks/{name}: {err}")
            continue
        edits = {i: text for i, text in new_sources.items() if text != _source(nb["cells"][i])}
        for i, text in edits.items():
            _set_source(nb["cells"][i], text)
        if edits:  # the repository's notebook format: json, indent 1, UTF-8, final newline
            writes.append((path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n"))
    for doc in (README, GUIDE):
        path = root / doc
        text = path.read_text(encoding="utf-8")
        try:
            new = with_total(with_table_times(text, texts, names), total)
        except RunTimesError as err:
            errors.append(f"{doc}: {err}")
            continue
        if new != text:
            writes.append((path, new))
    if errors:
        raise RunTimesError("nothing was rewritten: " + "; ".join(errors))
    for path, content in writes:
        atomic_write(path, content)
    return [path for path, _ in writes]
