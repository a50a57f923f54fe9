"""Check that notebooks follow the course conventions of notebooks/README.md.

    python tools/check_notebooks.py [NOTEBOOK ...]      (default: every notebooks/*.ipynb)

Prints one line per problem and exits 1 if there is any. Without arguments it also checks the
course as a whole against its list of lessons, notebooks/lessons.toml (tools/lessons.py: every
notebook listed, title headings, lesson tables, run times, checks modules). `make test` runs the same checks (in
tests/test_toolchain.py), and `tools/course.py execute` runs them after executing a notebook.
"""

from __future__ import annotations

import ast
import bisect
import re
import sys
from pathlib import Path

import nbformat

import lessons
from nbgrader_meta import ExerciseFormatError, find_exercises

ROOT = Path(__file__).resolve().parents[1]
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"
IGNORE_OUTPUT = "nbval-ignore-output"
RAISES = "raises-exception"
SKIP = "skip-execution"
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+\S", re.MULTILINE)
RUN_TIME = re.compile(r"run[ -]?time|the whole course takes", re.IGNORECASE)  # make course


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
    """The parameters cell assigns BUDGET = "cpu", SEED = <int> and optionally SMOKE_STEPS = None
    (`make smoke-gpu` passes a number), and nothing else."""
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
                f"{where}: the parameters cell may only assign BUDGET, SEED and SMOKE_STEPS to "
                "constants; "
                f"found {ast.unparse(node)!r}"
            )
    if assigned.get("BUDGET") != "cpu":
        problems.append(f'{where}: the parameters cell must set BUDGET = "cpu" (the default)')
    seed = assigned.get("SEED")
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"{where}: the parameters cell must set SEED to an integer (SEED = 0)")
    if assigned.get("SMOKE_STEPS", None) is not None:
        problems.append(f"{where}: the parameters cell must set SMOKE_STEPS = None (no smoke run)")
    extra = sorted(set(assigned) - {"BUDGET", "SEED", "SMOKE_STEPS"})
    if extra:
        problems.append(
            f"{where}: the parameters cell must hold only BUDGET, SEED and SMOKE_STEPS; "
            f"also has {extra}"
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
    except Exception as err:  # any unreadable file is one problem to report
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
    return (
        problems
        + check_core_path(nb, name, lesson_number(path))
        + check_claims(nb, name)
        + check_verdicts(nb, name)
    )


# --------------------------------------------------------------------------- the core path
# notebooks/README.md, "Core path": a lesson's sections are its `## N. Title` headings, numbered
# 1, 2, 3, ...; those off the core path are headed `## N. Going further: Title`, and the title
# cell says which are which in one paragraph after its run time, e.g.
#   **Core path** (a 45-60 minute class): sections 1-4 and the exercises. **Going further:**
#   sections 5-6, for self-study or a longer session.
# or `**Core path** (a 45-60 minute class): the whole lesson.` Every lesson but the welcome.
SECTION = re.compile(r"^##[ \t]+(\d+)\.[ \t]+(.*?)[ \t]*$", re.MULTILINE)
UNNUMBERED_FURTHER = re.compile(r"^##[ \t]+(?!\d)[^\n]*going further[^\n]*", re.I | re.M)
GOING_FURTHER = "Going further: "
CORE_PATH = re.compile(
    r"^\*\*Core path\*\* \(a 45-60 minute class\): (?P<core>.*?)"
    r"(?:\s\*\*Going further:\*\* (?P<further>.*))?$",
    re.DOTALL,
)
WHOLE_LESSON = "the whole lesson."
SECTION_LIST = re.compile(
    r"\bsections?\s+((?:\d+(?:\s*[-–]\s*\d+)?)(?:\s*(?:,|and|,\s*and)\s*\d+(?:\s*[-–]\s*\d+)?)*)"
)


def lesson_number(path: Path) -> int | None:
    """The lesson number of a notebook named `NN_topic.ipynb` (0: the welcome), else None."""
    match = re.match(r"(\d+)_", Path(path).name)
    return int(match[1]) if match else None


def section_numbers(text: str) -> list[int]:
    """The section numbers a sentence names: "sections 1-4 and 7" gives [1, 2, 3, 4, 7]."""
    numbers = []
    for listed in SECTION_LIST.findall(text):
        for low, high in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", listed):
            numbers += range(int(low), int(high or low) + 1)
    return numbers


def _paragraphs(markdown: str) -> list[str]:
    """The paragraphs of a markdown cell, each joined into one line."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", markdown) if p.strip()]


def _sections(nb, name: str) -> tuple[list[int], dict[int, str], list[str]]:
    """The numbers of the `## N. Title` headings in order, {number: title} (the first of each),
    and the problems of their numbering: 1..n in order without repeats, no unnumbered
    going-further heading."""
    found, titles, problems = [], {}, []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for match in SECTION.finditer(cell.source):
            found.append(int(match[1]))
            titles.setdefault(int(match[1]), match[2])
        problems += [
            f"{name}, cell {i}: the heading {match[0].strip()!r} is not numbered; a going-further "
            f"section is headed '## N. {GOING_FURTHER}Title'"
            for match in UNNUMBERED_FURTHER.finditer(cell.source)
        ]
    expected = list(range(1, len(found) + 1))
    if found != expected:
        repeated = sorted({n for n in found if found.count(n) > 1})
        problems.append(
            f"{name}: the sections (## N. Title) are numbered {found}, expected {expected}"
            + (f"; repeated: {repeated}" if repeated else "")
        )
    return found, titles, problems


def _core_path_paragraph(nb, name: str) -> tuple[re.Match | None, list[str]]:
    """The title cell's core-path paragraph parsed by CORE_PATH (None if missing or malformed),
    and its problems: exactly one, right after the run-time paragraph, in the template's words."""
    first = nb.cells[0]
    paragraphs = _paragraphs(first.source) if first.cell_type == "markdown" else []
    marks = [k for k, p in enumerate(paragraphs) if p.startswith("**Core path**")]
    template = (
        "'**Core path** (a 45-60 minute class): sections 1-4 and the exercises. "
        "**Going further:** sections 5-6, for self-study or a longer session.' (or '... class): "
        f"{WHOLE_LESSON}')"
    )
    if len(marks) != 1:
        return None, [
            f"{name}, cell 0: the title cell needs one core-path paragraph after its run time "
            f"(found {len(marks)}), like {template}"
        ]
    problems = []
    run_time = [k for k, p in enumerate(paragraphs) if "**Run time:**" in p]
    if run_time and marks[0] != run_time[0] + 1:
        problems.append(
            f"{name}, cell 0: the core-path paragraph must come right after the run-time paragraph"
        )
    match = CORE_PATH.match(paragraphs[marks[0]])
    if match is None:
        problems.append(f"{name}, cell 0: the core-path paragraph must read like {template}")
    return match, problems


def check_core_path(nb, name: str, number: int | None) -> list[str]:
    """The core-path marks of a lesson (number >= 1): sections numbered 1..n, the title cell's
    core-path paragraph right after its run time, naming every section once and no other, and
    the `Going further: ` prefix on exactly the sections it names as going further. Every
    problem is reported, one line each."""
    if number is None or number < 1 or not nb.cells:
        return []
    found, titles, problems = _sections(nb, name)
    match, paragraph_problems = _core_path_paragraph(nb, name)
    problems += paragraph_problems
    if match is None:
        return problems
    where = f"{name}, cell 0"
    whole = match["core"].strip() == WHOLE_LESSON
    core = list(titles) if whole else section_numbers(match["core"])
    further = section_numbers(match["further"] or "")
    if whole and match["further"] is not None:
        problems.append(f"{where}: 'the whole lesson' is core, yet it names going-further sections")
    if not whole and not core:
        problems.append(f"{where}: the core path names no section (say 'sections 1-4')")
    solutions = "".join(c.source for c in nb.cells if c.cell_type == "code")
    if not whole and "exercise" not in match["core"] and "### BEGIN SOLUTION" in solutions:
        problems.append(f"{where}: the exercises are on the core path: the paragraph must say so")
    for label, named in (("core path", core), ("going-further list", further)):
        missing = sorted({n for n in named if n not in titles})
        if missing:
            problems.append(
                f"{where}: the {label} names section(s) {missing}, which the lesson does not "
                f"have (its sections: 1 to {len(found)})"
            )
    both = sorted(set(core) & set(further))
    if both:
        problems.append(f"{where}: section(s) {both} are named both core and going further")
    unnamed = sorted(set(titles) - set(core) - set(further))
    if unnamed:
        problems.append(
            f"{where}: the core-path paragraph does not place section(s) {unnamed}: name each "
            "section in the core path or in the going-further list"
        )
    for n, title in sorted(titles.items()):
        marked = title.startswith(GOING_FURTHER)
        if n in further and not marked:
            problems.append(
                f"{name}: section {n} ({title!r}) is named going further in the title cell: head "
                f"it '## {n}. {GOING_FURTHER}...'"
            )
        elif n not in further and marked:
            problems.append(
                f"{name}: section {n} ({title!r}) is headed '{GOING_FURTHER.strip()}' but the title "
                "cell does not name it going further"
            )
    return problems


# --------------------------------------------------------------------------- numbers in the prose
# notebooks/README.md, "Numbers in the prose": every number the markdown reports is printed by a
# code cell above it, or cited. What is not prose goes first: code, math, images, link targets.
NOT_PROSE = re.compile(
    r"```.*?```|~~~.*?~~~|\$\$.*?\$\$|\$[^$\n]+\$|``.*?``|`[^`\n]*`"
    r"|!\[[^\]]*\]\([^)]*\)|\]\([^)]*\)|<[^>\n]*>|https?://\S+",
    re.DOTALL,
)
BLOCK_START = re.compile(r"\s*(?:#+\s*(?:\d+(?:\.\d+)*\.?(?!\d))?|[-*+]\s|\d+[.)]\s)")
# Numbers that name things rather than report them: kernel and map sizes (3x3, 28x28x192),
# dotted versions (4.2.1), names (ResNet-50, top-5, x86-64), arXiv numbers, and numbered lessons,
# sections, tables, figures, ... (Lessons 1 and 2).
NAMING = re.compile(
    r"\b\d+(?:[x×]\d+)+\b|\b\d+(?:\.\d+){2,}\b|\b[A-Za-z]\w*-\d+\b|arXiv:\s?\d{4}\.\d+"
    r"|(?:\b(?:[Ll]essons?|[Ss]ections?|[Tt]ables?|[Ff]igures?|Fig\.|[Ee]xercises?|[Cc]hapters?"
    r"|[Aa]ppendix|[Ee]quations?|Eq\.|[Cc]ells?|[Nn]otebooks?|[Pp]arts?)|§)\s*"
    r"\d+(?:\.\d+)*(?:\s*(?:,|and|or|to|-|–)\s*\d+(?:\.\d+)*)*"
)
# A number: digits (thousands separators allowed), decimals, an exponent, then a unit. In prose
# it may not be part of a name (conv1, 3a, v3, ResNet-50, top-5, float32); in outputs it may.
_DIGITS = r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<dec>\.\d+)?(?P<exp>[eE][-+]?\d+)?"
_UNIT = r"(?P<unit>%|[x×]|\s?(?:million|billion|thousand|M|G)(?![A-Za-z])|[Kk](?![A-Za-z]))?"
NUMBER = re.compile(rf"(?<![\w.]){_DIGITS}{_UNIT}(?!\w|\.\d)")
RANGE_END = re.compile(rf"\s*(?:to|and|or|-|–)\s*{_DIGITS}{_UNIT}")  # 167 to 263 thousand
PRINTED_NUMBER = re.compile(rf"(?<![\d.]){_DIGITS}{_UNIT}")
SCALE = {"%": 0.01, "K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "G": 1e9, "billion": 1e9}
# A cited fact: the paper with its table, section, figure or page, or an explicit "(source: ...)".
PLACE = r"(?:(?:[Tt]able|[Ss]ection|[Ff]igure|[Ff]ig\.|[Aa]ppendix|[Ee]q\.|§|p\.)\s*\d[\w.]*|[Aa]bstract)"
AUTHOR_YEAR = r"[A-Z][\w-]+(?: et al\.|,? (?:&|and) [A-Z][\w-]+) \(?(?:19|20)\d\d\)?"
CITATION = re.compile(
    rf"{AUTHOR_YEAR},? {PLACE}|\bpaper(?:'s|,| \()\s*{PLACE}"
    rf"|{PLACE} (?:of|in) (?:the |its )?(?:[\w-]+ )?paper\b|\([Ss]ource: [^)]+\)"
)
DURATION = re.compile(r"\s*(?:s|sec|seconds?|min|minutes?|h|hours?)\b")
# The length of a class in a core-path paragraph ("a 45-60 minute class") is a plan, not a claim.
CORE_PATH_MARK = re.compile(r"\bcore path\b", re.IGNORECASE)
ABBREVIATION = re.compile(r"\b(?:al|Fig|e\.g|i\.e|vs|Eq|cf|p|approx|etc)\.$")


def _value(match: re.Match, unit: str | None = None) -> tuple[float, float, str]:
    """(value, half a unit of its last shown digit, unit) of a NUMBER or PRINTED_NUMBER match."""
    unit = (match["unit"] or unit or "").strip().replace("k", "K")
    scale = SCALE.get(unit, 1.0)
    decimals = len(match["dec"] or ".") - 1
    # clamped: a hex hash such as "commit 78e556e35591" reads as 78e556, beyond a float
    exponent = max(-300, min(300, int(match["exp"][1:]))) if match["exp"] else 0
    value = float(match["int"].replace(",", "") + (match["dec"] or "")) * 10.0**exponent
    return value * scale, 0.5 * 10.0 ** (exponent - decimals) * scale, unit


def printed_values(text: str) -> list[float]:
    """Every number in an output text, scaled by its unit (87.7% is 0.877) and also as shown."""
    values = []
    for match in PRINTED_NUMBER.finditer(text):
        value, _, unit = _value(match)
        values += [value, value / SCALE[unit]] if unit in SCALE else [value]
    return values


def _sentences(text: str) -> list[str]:
    """A paragraph split into sentences, at a full stop, ! or ? before a capital letter."""
    sentences: list[str] = []
    for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z\"*_(\[])", text):
        if sentences and ABBREVIATION.search(sentences[-1]):  # "et al. Ioffe": one sentence
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def _blank(match: re.Match) -> str:
    """What replaces NOT_PROSE: a code block ends a paragraph, inline code stays a word."""
    if match[0].startswith(("```", "~~~")):
        return "\n\n"
    return "Code" if match[0].startswith("`") else " "


def _units(markdown: str) -> list[tuple[str, str]]:
    """(text, context) of each sentence, heading, list item and table row; a row's context is
    the row with the table's header row, so that the header can cite the source of a column."""
    units, block, header = [], [], ""
    for line in NOT_PROSE.sub(_blank, markdown).splitlines():
        if line.lstrip().startswith("|"):
            header = header or line
            if not re.fullmatch(r"[\s|:-]*", line):
                units.append((line, header + "\n" + line))
            continue
        header = ""
        start = BLOCK_START.match(line)
        if start or not line.strip():
            units += [(s, s) for s in _sentences(" ".join(block))] if block else []
            block = []
        if line.strip():  # without its heading number or list marker: they are not claims
            block.append(line[start.end() :] if start else line.strip())
    return units + ([(s, s) for s in _sentences(" ".join(block))] if block else [])


def prose_claims(markdown: str) -> list[tuple[str, float, float, str]]:
    """The numbers a markdown cell reports without citing them: (as written, value, tolerance,
    unit). Exempt: code, math, links; NAMING numbers; years 1900-2099 and integers 0-12 written
    without a unit; durations in a sentence about the run time or the core path (a class's
    length); sentences that cite a source."""
    claims = []
    for text, context in _units(markdown):
        if CITATION.search(context):
            continue
        text = NAMING.sub(" ", text)
        for match in NUMBER.finditer(text):
            end = RANGE_END.match(text, match.end())  # "167 to 263 thousand": both thousands
            value, tolerance, unit = _value(match, end["unit"] if end else None)
            bare = not (unit or match["dec"] or match["exp"] or "," in match["int"])
            if bare and (value <= 12 or (len(match["int"]) == 4 and 1900 <= value <= 2099)):
                continue
            planned = RUN_TIME.search(context) or CORE_PATH_MARK.search(context)
            if planned and DURATION.match(text, end.end() if end else match.end()):
                continue  # a run time `make course` measures, or a class's planned length
            claims.append((match[0].strip(), value, tolerance, unit))
    return claims


def is_printed(value: float, tolerance: float, unit: str, printed: list[float]) -> bool:
    """Whether a sorted list of printed values holds the value to the prose's shown precision;
    a number with a unit also matches its bare number (87.7% matches a column of percents)."""
    candidates = [(value, tolerance)]
    if unit in SCALE:
        candidates.append((value / SCALE[unit], tolerance / SCALE[unit]))
    for target, tol in candidates:
        tol += 1e-9 * max(1.0, target)  # binary floats: 0.25 is within 0.05 of 0.3
        i = bisect.bisect_left(printed, target - tol)
        if i < len(printed) and printed[i] <= target + tol:
            return True
    return False


def check_claims(nb, name: str) -> list[str]:
    """One problem per number in the prose that no code cell above prints and no source backs."""
    problems, printed = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            printed = sorted(printed + [v for t in _output_texts(cell) for v in printed_values(t)])
        if cell.cell_type != "markdown":
            continue
        reported = set()
        for written, value, tolerance, unit in prose_claims(cell.source):
            if written not in reported and not is_printed(value, tolerance, unit, printed):
                reported.add(written)
                problems.append(
                    f"{name}, cell {i}: the prose cites {written} but no output above prints it "
                    "(print it in a code cell above, or cite its source: notebooks/README.md, "
                    '"Numbers in the prose")'
                )
    return problems


# A verdict in the prose ("on every seed", "no difference", "ahead of", ...) reads a comparison,
# so a printed verdict line of the ledger's compare (or a live run's interval) must stand above it.
VERDICT_PHRASE = re.compile(
    r"\b(?:on every seed|(?:no )?differences? shown|no (?:real |clear )?difference|"
    r"ahead (?:of|on)|outperform\w*|clearly (?:better|worse|ahead|behind))\b",
    re.IGNORECASE,
)
VERDICT_LINE = re.compile(
    r"difference shown|95% CI|that interval",
    re.IGNORECASE,
)


def check_verdicts(nb, name: str) -> list[str]:
    """One problem per markdown sentence that states a verdict (VERDICT_PHRASE) with no verdict
    line (VERDICT_LINE: a `compare` line, a live run against its interval) printed above it.
    The title cell (its learning objectives are plans, not findings) is exempt."""
    problems, seen = [], False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            seen = seen or any(VERDICT_LINE.search(t) for t in _output_texts(cell))
        elif cell.cell_type == "markdown" and i > 0 and not seen:
            prose = NOT_PROSE.sub(_blank, cell.source)
            for sentence in _sentences(prose):
                found = VERDICT_PHRASE.search(sentence)
                if found:
                    problems.append(
                        f"{name}, cell {i}: the prose states a verdict ({found.group(0)!r}) but "
                        "no verdict line is printed above it (print the comparison first: "
                        'notebooks/README.md, "Verdicts in the prose")'
                    )
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    whole_course = not paths
    paths = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    problems = [p for path in paths for p in check_notebook(path)]
    if whole_course:
        problems += lessons.check(ROOT)
    for problem in problems:
        print(problem)
    print(f"{len(paths)} notebooks checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
