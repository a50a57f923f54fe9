"""The course site (build/site/) shows its maths and widgets without internet (`make test-browser`).

Two pages are rendered by tools/course.py as `make course` renders them: a small notebook that the
course runner executes here (papermill; two formulas and a slider at 7), and lesson 06 as
committed (executed, with its saved widget state). Headless Chromium opens each page from disk
(file://) and from a local HTTP server, with every request to anywhere else aborted. MathJax must
typeset every formula with its own web fonts, and the widget manager must draw each slider that
the saved state holds, showing the saved value.
"""

from __future__ import annotations

import functools
import http.server
import threading

import nbformat
import pytest
from labdriver import REPO
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

import course

pytestmark = pytest.mark.browser

LESSON = "06_label_smoothing.ipynb"  # maths in a dozen cells, an explorer with two sliders
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SLIDERS = {"IntSliderModel", "FloatSliderModel"}
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

# When MathJax has finished its first typesetting pass ("End" is signalled after it; a hook
# registered later runs at once): the formulas found, those typeset, the errors, the fonts used.
MATHJAX_DONE = """() => new Promise(done => MathJax.Hub.Register.StartupHook("End", () => {
    const jax = MathJax.Hub.getAllJax();
    done({
        formulas: jax.length,
        typeset: jax.filter(j => {
            const frame = document.getElementById(j.inputID + "-Frame");
            return frame !== null && frame.getBoundingClientRect().width > 0;
        }).length,
        errors: document.querySelectorAll(".MathJax_Error, .merror").length,
        fonts: [...document.fonts].filter(f => f.status === "loaded").map(f => f.family),
    });
}))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """build/site/ in miniature: the two pages and the static/ folder render_html puts beside."""
    root = tmp_path_factory.mktemp("offline-site")
    src = root / "small.ipynb"
    nbformat.write(
        new_notebook(
            cells=[
                new_markdown_cell(
                    "# A small page\n\nInline $\\alpha^2 + \\beta_k$; displayed:\n\n"
                    "$$\\frac{1}{K} \\sum_{i=1}^{K} x_i$$"
                ),
                new_code_cell("import ipywidgets\nipywidgets.IntSlider(value=7, max=10)"),
            ],
            metadata={"kernelspec": KERNELSPEC},
        ),
        src,
    )
    executed = root / "build" / "notebooks" / src.name
    result = course.run_notebook(src, executed, "cpu", None, 120)
    assert result.status == "ok", f"the small notebook did not run: {result.error}"
    site = root / "build" / "site"
    course.render_html(executed, site / "small.html")
    course.render_html(REPO / "notebooks" / LESSON, site / LESSON.replace(".ipynb", ".html"))
    return site, {
        "small.html": executed,
        LESSON.replace(".ipynb", ".html"): REPO / "notebooks" / LESSON,
    }


@pytest.fixture(scope="module")
def server(site):
    """The site over HTTP on a free localhost port, for the learners who serve it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site[0]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def saved_sliders(notebook) -> list[str]:
    """The readout of every slider that the notebook's widget views show, in page order, from the
    saved state (each view and its children, depth first): an IntSlider shows its value, a
    FloatSlider its value in its readout_format."""
    nb = nbformat.read(notebook, as_version=4)
    models = nb.metadata["widgets"][WIDGET_STATE]["state"]

    def readouts(model_id: str) -> list[str]:
        model = models[model_id]
        state = model["state"]
        if model["model_name"] in SLIDERS:
            return [format(state["value"], state.get("readout_format", "d"))]
        children = [c.removeprefix("IPY_MODEL_") for c in state.get("children", [])]
        return [r for child in children for r in readouts(child)]

    return [
        r
        for c in nb.cells
        for o in c.get("outputs", [])
        if WIDGET_VIEW in o.get("data", {})
        for r in readouts(o["data"][WIDGET_VIEW]["model_id"])
    ]


@pytest.mark.parametrize("how", ["file", "http"])
@pytest.mark.parametrize("name", ["small.html", LESSON.replace(".ipynb", ".html")])
def test_site_page_shows_maths_and_widgets_offline(
    browser_context, site, server, screenshots, how, name
):
    folder, notebooks = site
    url = (folder / name).as_uri() if how == "file" else f"{server}/{name}"
    expected = saved_sliders(notebooks[name])
    assert expected, f"{notebooks[name]} shows no slider: pick a page that does"
    blocked: list[str] = []
    errors: list[str] = []

    def only_local(route):
        target = route.request.url
        if target.startswith(("file://", f"{server}/", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(target)
            route.abort("internetdisconnected")

    page = browser_context.new_page()
    try:
        page.route("**/*", only_local)
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(url, wait_until="load")
        try:
            page.wait_for_function("() => window.MathJax && window.MathJax.Hub", timeout=30_000)
            maths = page.evaluate(MATHJAX_DONE)
            sliders = page.locator(".jupyter-widgets .widget-slider")
            sliders.first.wait_for(state="visible", timeout=30_000)
        except PlaywrightTimeoutError as err:
            pytest.fail(
                f"{name}: MathJax or the widget manager did not load in 30 s ({err.message});"
                f" requests to the network (aborted): {blocked}; page errors: {errors}"
            )
        readouts = page.locator(".jupyter-widgets .widget-slider .widget-readout")
        shown = [r.inner_text().strip() for r in readouts.all()]
        widget_errors = page.get_by_text("Error displaying widget").count()
        # What a learner sees of the first widget (build/screenshots/offline_site_*.png).
        shot = screenshots / f"offline_site_{how}_{name.replace('.html', '')}.png"
        output = page.locator("div.jp-OutputArea-output", has=page.locator(".widget-slider"))
        output.first.screenshot(path=shot)
    finally:
        page.close()

    assert blocked == [], f"the page asked the network for {blocked}"
    assert maths["formulas"] > 0, f"MathJax found no formula on {name}"
    assert maths["typeset"] == maths["formulas"] and maths["errors"] == 0, maths
    assert any(f.startswith("STIXMathJax") for f in maths["fonts"]), maths["fonts"]
    if name == "small.html":
        assert maths["formulas"] == 2, maths
    assert widget_errors == 0 and errors == [], errors
    assert shown == expected, f"sliders show {shown}, the saved state holds {expected}"
