"""The notebooks' run times from one source: notebooks/run_times.json, one rounding rule, one text.

notebooks/run_times.json holds, for every notebook, the seconds it took to run top to bottom at
BUDGET="cpu" (kernel start-up included) in one recorded run of every notebook (`tools/course.py
execute --record-times`, which also stores the outputs, or `run --record-times`), with where and
when it was measured: the CPU model, the number of torch threads, the torch and Python versions
(one machine for the whole file), and the date and commit of each notebook's measurement.

This module reads and records the file and holds the one rounding rule (`display`) and the texts
built with it: the `**Run time:**` sentence of a title cell (`sentence`) and the total, "the whole
course takes about N min" (`total_phrase`). tools/lessons.py writes them, with the rest of what
the list of lessons notebooks/lessons.toml states, into the title cells, the lesson tables of
notebooks/00_welcome.ipynb, README.md and docs/instructor_guide.md, and checks them.

`python tools/course.py run --record-times` writes the file, then rewrites those texts;
`python tools/course.py times` checks them (tests/test_run_times.py and tests/test_lessons.py do
the same), and `python tools/course.py times --write` rewrites them without running anything.
"""

from __future__ import annotations

import json
import math
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_NAME = "run_times.json"
BUDGET = "cpu"
ABOUT = (
    'Measured run times of the notebooks at BUDGET="cpu" (top to bottom, kernel start-up '
    "included). Written by `python tools/course.py execute --record-times` (or `run "
    "--record-times`); the title cells, "
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
# The length of a class in a title cell's core-path paragraph (notebooks/README.md): a plan,
# not a run time.
CLASS_LENGTH = re.compile(r"\(a \d+-\d+ minute class\)")


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


def check_can_record(
    path: Path,
    names: list[str],
    all_names: list[str],
    machine: dict,
    smoke_steps: int | None = None,
) -> None:
    """Refuse a recording that would make the file lie; call it before running anything.

    Times are only recorded at BUDGET="cpu" without a smoke run (`smoke_steps`, the notebooks'
    SMOKE_STEPS; the caller checks the budget), and a partial run (some notebooks) may only update
    a file measured on the same machine.
    """
    if smoke_steps is not None:
        raise RunTimesError(
            f"SMOKE_STEPS={smoke_steps}: a smoke run's times are not the lessons' times"
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
# The title sentence and the total, in a text


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
    # The sentence's own time is not stale, nor the length of a class in the core-path paragraph.
    stale = DURATION.findall(CLASS_LENGTH.sub("", SENTENCE.sub("", source)))
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
