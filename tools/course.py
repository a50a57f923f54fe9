"""Run the course: execute the notebooks headless, render them to HTML, report times and failures.

    python tools/course.py run [--budget cpu|gpu] [--seed N] [--smoke-steps N] [--record-times]
                               [NOTEBOOK ...]
        Execute every notebook in notebooks/ (sorted by name) with papermill into
        build/notebooks/, render each to build/site/<name>.html (the MathJax and widget manager
        files its pages load go to build/site/static/: the site works offline), write
        build/site/index.html (lesson titles, measured and recorded run times, status) and
        build/timings.json, and print a summary table. Exits 1 if any notebook fails, naming the
        notebook and the failing cell. Without --record-times no committed file is modified.

        --smoke-steps N passes SMOKE_STEPS=N to every notebook (`make smoke-gpu`): each training
        run stops after N batches per epoch and at most 2 epochs, and no accuracy is asserted.

        --record-times (BUDGET="cpu" only) also stores the measured seconds in the committed
        notebooks/run_times.json and rewrites every place that states them from it (title
        cells, the welcome table, README.md, docs/instructor_guide.md: tools/lessons.py).
        With NOTEBOOK arguments only those entries change (same machine required).

    python tools/course.py times [--write]
        Check that the title cells, lesson tables, totals and counts agree with the lesson list
        notebooks/lessons.toml and notebooks/run_times.json (exit 1 and list the differences if
        not); --write rewrites them from the two files (tools/lessons.py).

    python tools/course.py execute [--record-times] NOTEBOOK ...
        Execute notebooks IN PLACE (nbclient, fresh kernel, working directory = the notebook's
        folder), keeping tags and metadata, so execution counts run 1..N in order. This is how
        lesson writers produce the executed notebooks they commit. Then checks the conventions.
        --record-times stores the measured seconds as `run --record-times` does, so that one
        quiet pass both stores the outputs and measures the times.

`make course` and `make execute NB=...` call these.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

import check_notebooks
import lessons
import run_times
from nbgrader_meta import write_notebook

if TYPE_CHECKING:
    from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "python3"  # the kernel of the environment running this script (jupyter_client maps it)
# The debugger bundled with ipykernel warns about frozen modules on every kernel start, and the
# kernel warns that its loopback connection is unencrypted: noise for a course run, so the kernel
# logs errors only. (Errors in notebook code are cell outputs and are reported in full.)
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


@dataclass
class Result:
    notebook: str  # file name, e.g. "01_naive_inception.ipynb"
    title: str
    status: str  # "ok" or "failed"
    seconds: float
    budget: str
    error: str = ""  # one line: where and what failed
    finished_at: str = ""


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the first `# ` heading in the first markdown cell."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            break
    return fallback


def describe_cell(source_nb: nbformat.NotebookNode, failed_cell: nbformat.NotebookNode) -> str:
    """Name a failed cell of an executed copy by its place in the source notebook.

    papermill inserts an `injected-parameters` cell, so execution counts in the executed copy are
    shifted; the cell id (or, failing that, the source text) finds the original cell.
    """
    code_index = -1
    for cell in source_nb.cells:
        if cell.cell_type == "code":
            code_index += 1
        same_id = cell.get("id") and cell.get("id") == failed_cell.get("id")
        if same_id or (cell.cell_type == "code" and cell.source == failed_cell.source):
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
            return (
                f'code cell {code_index} (pytest --nbval "Cell {code_index}"), starting "{first}"'
            )
    return f"cell In [{failed_cell.get('execution_count')}] of the executed copy"


def first_error(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict] | None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return cell, output
    return None


def run_notebook(
    src: Path,
    out: Path,
    budget: str,
    seed: int | None,
    cell_timeout: float | None,
    smoke_steps: int | None = None,
) -> Result:
    """Execute one notebook with papermill (kernel working directory = the notebook's folder)."""
    import papermill

    source_nb = nbformat.read(src, as_version=4)
    title = notebook_title(source_nb, src.stem)
    parameters = {"BUDGET": budget}
    if seed is not None:
        parameters["SEED"] = seed
    if smoke_steps is not None:
        parameters["SMOKE_STEPS"] = smoke_steps
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(src),
            str(out),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(src.parent),
            progress_bar=False,
            execution_timeout=cell_timeout,
            extra_arguments=KERNEL_ARGS,
        )
    except papermill.PapermillExecutionError as err:
        where = f"cell In [{err.exec_count}]"
        if out.is_file():
            found = first_error(nbformat.read(out, as_version=4))
            if found is not None:
                where = describe_cell(source_nb, found[0])
        error = f"{where}: {err.ename}: {err.evalue}"
    except Exception as err:  # timeout, dead kernel, bad notebook: report, go on
        error = f"{type(err).__name__}: {err}".strip()
        if out.is_file():  # papermill saves progress: the interrupted cell has an error output
            found = first_error(nbformat.read(out, as_version=4))
            if found is not None:
                error = f"{describe_cell(source_nb, found[0])}: {error}"
    seconds = time.perf_counter() - start
    return Result(
        notebook=src.name,
        title=title,
        status="failed" if error else "ok",
        seconds=round(seconds, 1),
        budget=budget,
        error=" ".join(error.split())[:500],
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


# The site works without internet (a classroom offline): its pages load MathJax and the widget
# manager from build/site/static/, copied there from installed packages, never from a CDN.
# MathJax 2 comes from the PyPI package jupyter-server-mathjax (what the classic notebook served);
# the widget manager, which no PyPI package ships, is vendored in tools/vendor/html-manager/.
SITE_STATIC = "static"
HTML_MANAGER = ROOT / "tools" / "vendor" / "html-manager"
HTML_MANAGER_VERSION = "1.0.15"  # npm @jupyter-widgets/html-manager, dist/embed.js (its README)
# The MathJax configuration files the page loads (config/<name>.js of jupyter-server-mathjax).
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# The lab template, less what would load from a URL: require.js (nothing on the pages needs it:
# embed.js is self-contained) and mermaid.js (no lesson has a diagram); MathJax from the local copy,
# configured like the classic notebook's, whose fonts (STIX-Web) are the ones the package ships.
OFFLINE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>
window.MathJax = {
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
  displayAlign: "center",
  messageStyle: "none",
  "HTML-CSS": {
    availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
    linebreaks: {automatic: true}
  }
};
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
"""


def site_assets() -> dict[str, Path]:
    """What the pages load, by folder under build/site/static/: folder name -> source folder."""
    import importlib.util

    # Found, not imported: importing the package would start loading jupyter_server.
    mathjax = importlib.util.find_spec("jupyter_server_mathjax")
    if mathjax is None or not mathjax.submodule_search_locations:
        raise FileNotFoundError(
            "the site's MathJax comes from the package jupyter-server-mathjax, which is not "
            "installed: make venv (or pip install 'jupyter-server-mathjax>=0.2.6')"
        )
    return {
        "mathjax": Path(mathjax.submodule_search_locations[0]) / "static",
        "html-manager": HTML_MANAGER,
    }


def _manifest(folder: Path) -> list[str]:
    return sorted(
        f"{p.relative_to(folder).as_posix()} {p.stat().st_size}"
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".manifest"
    )


def install_site_assets(site: Path) -> None:
    """Copy MathJax and the widget manager to site/static/ (once: a folder whose files match its
    source's, by name and size, is left as it is)."""
    for name, source in site_assets().items():
        if not source.is_dir():
            raise FileNotFoundError(f"the site's {name} files are missing: no folder {source}")
        target = site / SITE_STATIC / name
        wanted = "\n".join(_manifest(source))
        stamp = target / ".manifest"
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
            continue
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
        stamp.write_text(wanted, encoding="utf-8")


def offline_exporter() -> HTMLExporter:
    """nbconvert's lab HTML exporter whose pages load every script from site/static/."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
        mathjax_url=f"{SITE_STATIC}/mathjax/MathJax.js?config={MATHJAX_CONFIG}",
        widget_renderer_url=f"{SITE_STATIC}/html-manager/embed.js",
    )


def render_html(executed: Path, target: Path) -> None:
    """Render an executed notebook to target (a page of the site, build/site/<name>.html) and put
    the files its scripts load beside it, in target's folder/static/."""
    nb = nbformat.read(executed, as_version=4)
    install_site_assets(target.parent)
    body, _ = offline_exporter().from_notebook_node(nb)
    # Links between lessons point at notebooks; on the site they point at the rendered pages.
    body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb"', r'href="\1.html"', body)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)


def format_seconds(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def write_index(
    site: Path,
    results: list[Result],
    environment: dict,
    recorded: dict[str, str] | None = None,
    course_lessons: dict[str, lessons.Lesson] | None = None,
) -> Path:
    """build/site/index.html: one row per lesson, title linked to its rendered page, this run's
    time next to the recorded one (`recorded`: notebook -> text of notebooks/run_times.json).
    A notebook of the lesson list (`course_lessons`: notebook -> entry of notebooks/lessons.toml)
    shows the list's heading and topic line; another one the title of its first cell."""
    recorded = recorded or {}
    course_lessons = course_lessons or {}
    rows = []
    for r in results:
        status = "ok" if r.status == "ok" else f"<b>failed</b>: {html.escape(r.error)}"
        lesson = course_lessons.get(r.notebook)
        title = html.escape(lesson.heading if lesson else r.title)
        topic = f"<br><small>{html.escape(lesson.topic)}</small>" if lesson else ""
        rows.append(
            "<tr>"
            f'<td><a href="{html.escape(Path(r.notebook).stem)}.html">{title}</a>{topic}</td>'
            f"<td><code>{html.escape(r.notebook)}</code></td>"
            f'<td class="num">{format_seconds(r.seconds)}</td>'
            f"<td>{html.escape(recorded.get(r.notebook, '-'))}</td>"
            f"<td>{html.escape(r.budget)}</td>"
            f'<td class="{r.status}">{status}</td>'
            "</tr>"
        )
    total = sum(r.seconds for r in results)
    env = ", ".join(f"{k} {html.escape(str(v))}" for k, v in environment.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Inception Lab: course run</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
 table {{ border-collapse: collapse; width: 100%; }}
 th, td {{ border-bottom: 1px solid #ccc; padding: .4rem .6rem; text-align: left; }}
 td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
 td.failed {{ color: #b00020; }} td.ok {{ color: #1b5e20; }}
</style></head><body>
<h1>Inception Lab</h1>
<p>An interactive course on the Inception family of convolutional networks. Each lesson below was
executed top to bottom by <code>make course</code>; run time is the measured wall-clock time
(minutes:seconds) including kernel start-up. Recorded is the course's own measurement at
<code>BUDGET="cpu"</code> (<code>notebooks/run_times.json</code>), as the lessons state it.</p>
<table>
<thead><tr><th>Lesson</th><th>Notebook</th><th>Run time</th><th>Recorded</th><th>BUDGET</th><th>Status</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
<tfoot><tr><td colspan="2">Total</td><td class="num">{format_seconds(total)}</td><td></td><td></td><td></td></tr></tfoot>
</table>
<p><small>Environment: {env}.</small></p>
</body></html>
"""
    site.mkdir(parents=True, exist_ok=True)
    index = site / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def environment_summary() -> dict:
    import platform

    import torch

    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = "cpu"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def load_previous(timings: Path, budget: str) -> dict[str, Result]:
    """Earlier results at the same BUDGET, so a partial run keeps the other lessons' rows."""
    try:
        data = json.loads(timings.read_text(encoding="utf-8"))
        if data.get("budget") != budget:
            return {}
        return {r["notebook"]: Result(**r) for r in data.get("notebooks", [])}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def cmd_run(args: argparse.Namespace) -> int:
    notebooks = [p.resolve() for p in args.notebooks] or sorted(args.notebook_dir.glob("*.ipynb"))
    if not notebooks:
        print(f"error: no notebooks in {args.notebook_dir}", file=sys.stderr)
        return 2
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    build = args.build.resolve()
    times_file = args.notebook_dir / run_times.FILE_NAME
    all_names = sorted(p.name for p in args.notebook_dir.glob("*.ipynb"))
    if args.record_times:  # refuse before running, not after minutes of work
        if args.budget != run_times.BUDGET:
            print(
                f"error: --record-times records BUDGET={run_times.BUDGET!r} only", file=sys.stderr
            )
            return 2
        if any(p.parent.resolve() != args.notebook_dir.resolve() for p in notebooks):
            print(f"error: --record-times needs notebooks in {args.notebook_dir}", file=sys.stderr)
            return 2
        machine = run_times.machine_info()
        commit = run_times.commit_of(args.notebook_dir.resolve().parent)
        try:
            run_times.check_can_record(
                times_file, [p.name for p in notebooks], all_names, machine, args.smoke_steps
            )
        except run_times.RunTimesError as err:
            print(f"error: --record-times: {err}", file=sys.stderr)
            return 2
    if args.cell_timeout is None and args.budget == "cpu":
        args.cell_timeout = 600.0  # a hung cell (a widget waiting for a browser) must not hang CI
    print(f"Running {len(notebooks)} notebooks at BUDGET={args.budget!r} into {build}/")
    results: list[Result] = []
    for i, src in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {src.name} ...", flush=True)
        executed = build / "notebooks" / src.name
        result = run_notebook(
            src, executed, args.budget, args.seed, args.cell_timeout, args.smoke_steps
        )
        if executed.is_file():
            try:
                render_html(executed, build / "site" / f"{src.stem}.html")
            except Exception as err:  # a failed render fails that notebook only
                if result.status == "ok":
                    result.status, result.error = "failed", f"HTML rendering failed: {err}"
        results.append(result)
        line = f"      {result.status} in {result.seconds:.1f} s"
        print(line + (f": {result.error}" if result.error else ""), flush=True)
        if result.status != "ok" and args.fail_fast:
            break

    # Timings and index cover every notebook measured at this budget, this run or an earlier one.
    timings = build / "timings.json"
    merged = load_previous(timings, args.budget)
    merged.update({r.notebook: r for r in results})
    existing = {p.name for p in args.notebook_dir.glob("*.ipynb")} | {p.name for p in notebooks}
    listed = [merged[name] for name in sorted(merged) if name in existing]
    environment = environment_summary()
    timings.parent.mkdir(parents=True, exist_ok=True)
    tmp = timings.with_name(".timings.json.tmp")
    tmp.write_text(
        json.dumps(
            {
                "budget": args.budget,
                "environment": environment,
                "notebooks": [asdict(r) for r in listed],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    os.replace(tmp, timings)
    failed = [r for r in results if r.status != "ok"]
    status = 1 if failed else 0
    if args.record_times:  # before the index, so that it shows the new recorded times
        if failed or len(results) < len(notebooks):
            print(f"Run times NOT recorded in {times_file}: every notebook must succeed")
        else:
            status = record_times(args.notebook_dir, results, all_names, machine, commit)
    try:
        recorded = run_times.load(times_file).notebooks
    except run_times.RunTimesError:
        recorded = {}
    try:
        course_lessons = {
            n.notebook: n for n in lessons.load(args.notebook_dir / lessons.FILE_NAME)
        }
    except lessons.LessonsError:
        course_lessons = {}
    index = write_index(
        build / "site",
        listed,
        environment,
        {name: run_times.display(e.seconds) for name, e in recorded.items()},
        course_lessons,
    )

    width = max(len(r.notebook) for r in results)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  status")
    for r in results:
        print(f"{r.notebook:<{width}}  {r.seconds:>8.1f}  {r.status}")
    print(f"{'total':<{width}}  {sum(r.seconds for r in results):>8.1f}")
    print(f"\nSite: {index}\nTimings: {timings}")
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}", file=sys.stderr)
    return status


def record_times(
    notebook_dir: Path, results: list[Result], all_names: list[str], machine: dict, commit: str
) -> int:
    """Store this run's seconds in notebooks/run_times.json and rewrite the texts that state them."""
    path = notebook_dir / run_times.FILE_NAME
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    seconds = {r.notebook: r.seconds for r in results}
    recorded = run_times.record(path, seconds, all_names, machine, date, commit)
    print(f"Recorded {len(seconds)} run time(s) in {path} ({machine['cpu']}, commit {commit})")
    root = notebook_dir.resolve().parent
    try:
        changed = lessons.write_texts(root, recorded)
    except (run_times.RunTimesError, lessons.LessonsError, OSError) as err:
        print(f"error: the texts that state the run times were not updated: {err}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"  updated {path.relative_to(root)}")
    problems = lessons.check(root, recorded)
    for problem in problems:
        print(f"  run times: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_times(args: argparse.Namespace) -> int:
    """Check (or, with --write, rewrite) the texts written from the lesson list and run times."""
    root = args.root.resolve()
    if args.write:
        try:
            changed = lessons.write_texts(root)
        except (run_times.RunTimesError, lessons.LessonsError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for path in changed:
            print(f"updated {path.relative_to(root)}")
    problems = lessons.check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(
            f"the texts agree with {lessons.file_path(root).relative_to(root)} and "
            f"{run_times.file_path(root).relative_to(root)}"
        )
    return 1 if problems else 0


def execute_in_place(path: Path, cell_timeout: float | None) -> str:
    """Execute a notebook in a fresh kernel and save it over itself; returns '' or the error."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    source_nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # no timestamps in committed notebooks: they only make diffs noisy
        extra_arguments=KERNEL_ARGS,
    )
    try:
        client.execute()
    except CellExecutionError as err:
        found = first_error(nb)
        where = describe_cell(source_nb, found[0]) if found else "a cell"
        return f"{where}: {err.ename}: {err.evalue}"
    except Exception as err:  # timeout, dead kernel: report which notebook
        return f"{type(err).__name__}: {err}"
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    write_notebook(nb, path)
    return ""


def cmd_execute(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    notebook_dir = ROOT / "notebooks"
    all_names = sorted(p.name for p in notebook_dir.glob("*.ipynb"))
    if args.record_times:  # refuse before running, not after minutes of work
        if any(p.parent.resolve() != notebook_dir.resolve() for p in args.notebooks):
            print(f"error: --record-times needs notebooks in {notebook_dir}", file=sys.stderr)
            return 2
        machine = run_times.machine_info()
        commit = run_times.commit_of(ROOT)
        names = [p.name for p in args.notebooks]
        try:
            run_times.check_can_record(
                notebook_dir / run_times.FILE_NAME, names, all_names, machine, None
            )
        except run_times.RunTimesError as err:
            print(f"error: --record-times: {err}", file=sys.stderr)
            return 2
    status, results = 0, []
    for path in args.notebooks:
        start = time.perf_counter()
        error = execute_in_place(path, args.cell_timeout)
        seconds = time.perf_counter() - start
        if error:
            print(f"FAILED {path} (left unchanged): {error}", file=sys.stderr)
            status = 1
            continue
        results.append(Result(path.name, path.stem, "ok", round(seconds, 1), run_times.BUDGET))
        print(f"executed {path} in place in {seconds:.1f} s")
        problems = check_notebooks.check_notebook(path)
        for problem in problems:
            print(f"  convention: {problem}", file=sys.stderr)
        if problems:
            status = 1
    if args.record_times:
        if status:
            print("Run times NOT recorded: every notebook must succeed and pass its check")
            return status
        status = record_times(notebook_dir, results, all_names, machine, commit)
    return status


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute all notebooks into build/ and render the site")
    run.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook, sorted")
    run.add_argument("--budget", choices=("cpu", "gpu"), default="cpu")
    run.add_argument("--seed", type=int, default=None, help="default: the notebook's own SEED")
    run.add_argument(
        "--smoke-steps",
        type=_positive_int,
        default=None,
        help="a smoke run: SMOKE_STEPS=N batches per epoch in every notebook (make smoke-gpu)",
    )
    run.add_argument("--notebook-dir", type=Path, default=ROOT / "notebooks")
    run.add_argument("--build", type=Path, default=ROOT / "build")
    run.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        help="seconds per cell (default: 600 at cpu, none at gpu)",
    )
    run.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    run.add_argument(
        "--record-times",
        action="store_true",
        help="store the measured seconds in notebooks/run_times.json (committed) and rewrite "
        "the run times stated by the title cells, the welcome table, README.md and the "
        'instructor guide (BUDGET="cpu" only; only if every notebook succeeds)',
    )
    run.set_defaults(func=cmd_run)
    times = sub.add_parser("times", help="check the stated run times against run_times.json")
    times.add_argument("--write", action="store_true", help="rewrite them from the file")
    times.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    times.set_defaults(func=cmd_times)
    execute = sub.add_parser("execute", help="execute notebooks in place (for committing)")
    execute.add_argument("notebooks", nargs="+", type=Path)
    execute.add_argument("--cell-timeout", type=float, default=None, help="seconds per cell")
    execute.add_argument(
        "--record-times",
        action="store_true",
        help="also store the measured seconds as `run --record-times` does (the notebooks run at "
        'their own BUDGET, which is "cpu"; kernel start-up included)',
    )
    execute.set_defaults(func=cmd_execute)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # print the traceback, exit 2 rather than 1
        traceback.print_exc()
        return 2


if __name__ == "__main__":
    sys.exit(main())
