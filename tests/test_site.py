"""The course site (`make course`, build/site/) works without internet.

Its pages load MathJax and the widget manager from build/site/static/, copied there by
tools/course.py from installed packages (MathJax 2 from jupyter-server-mathjax) and from the
vendored tools/vendor/html-manager/, never from a CDN. These tests render a small notebook with
maths and a widget and read the page: nothing it loads is a URL, everything it loads is in the
site, and the widget state is where the page's widget manager reads it. The browser test
tests/browser/test_offline_site.py opens such pages with the network blocked.
"""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import course

ROOT = Path(__file__).resolve().parents[1]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
FORMULAS = (r"$\alpha^2 + \beta_k$", r"$$\frac{1}{K} \sum_i x_i$$")
# A URL that leaves the machine: a scheme with a host (http:, https:, ftp:, ...) or a
# protocol-relative //host. (data: URIs and relative paths are part of the page or the site.)
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}


class _PageReader(HTMLParser):
    """What a page loads: the src of its scripts (and images, frames, media), the href of its
    <link> elements, the URLs in its CSS and the string literals of its inline JavaScript."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []  # (what, url)
        self.scripts: list[tuple[str, str]] = []  # (type, text) of inline scripts
        self._in: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if (
            tag in {"script", "img", "iframe", "audio", "video", "source", "embed"}
            and "src" in attrs
        ):
            self.loads.append((f"<{tag} src>", attrs["src"]))
        if tag == "link" and "href" in attrs:
            self.loads.append((f"<link rel={attrs.get('rel', '')}>", attrs["href"]))
        if tag in {"script", "style"}:
            self._in, self._text = (tag, attrs.get("type", "").strip().lower()), []

    def handle_data(self, data):
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._in is None or tag != self._in[0]:
            return
        text = "".join(self._text)
        if tag == "style":
            css = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
            for url in re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css):
                self.loads.append(("CSS url()", url))
            for url in re.findall(r"""@import\s+['"]([^'"]+)""", css):
                self.loads.append(("CSS @import", url))
        else:
            self.scripts.append((self._in[1], text))
            if self._in[1] in JS_TYPES:
                # String literals that are URLs or paths of scripts and styles.
                for url in re.findall(r"""['"`]([^'"`\s]+)['"`]""", text):
                    if "//" in url or re.search(r"\.(m?js|css)(\?|$)", url):
                        self.loads.append(("inline script", url))
        self._in = None


def read_page(html: str) -> _PageReader:
    reader = _PageReader()
    reader.feed(html)
    reader.close()
    return reader


def external_loads(html: str) -> list[tuple[str, str]]:
    return [(what, url) for what, url in read_page(html).loads if EXTERNAL.match(url)]


def widget_notebook() -> tuple[nbformat.NotebookNode, dict]:
    """A notebook with two formulas and a slider, its widget state saved as executing it would
    (ipywidgets serialises the state of live widgets in-process, no kernel needed)."""
    ipywidgets = pytest.importorskip("ipywidgets")
    from ipywidgets.embed import embed_data

    slider = ipywidgets.IntSlider(value=7, min=0, max=10, description="k")
    data = embed_data(views=[slider])
    view = data["view_specs"][0]
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# A page\n\nInline {FORMULAS[0]}, displayed:\n\n{FORMULAS[1]}"),
            new_code_cell(
                "ipywidgets.IntSlider(value=7, min=0, max=10, description='k')",
                execution_count=1,
                outputs=[
                    new_output(
                        "display_data",
                        data={WIDGET_VIEW: view, "text/plain": "IntSlider(value=7)"},
                    )
                ],
            ),
        ]
    )
    nb.metadata["widgets"] = {WIDGET_STATE: data["manager_state"]}
    slider.close()
    return nb, view


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A site of one page, rendered by tools/course.py from widget_notebook()."""
    root = tmp_path_factory.mktemp("site")
    nb, _ = widget_notebook()
    nbformat.write(nb, root / "page.ipynb")
    course.render_html(root / "page.ipynb", root / "site" / "page.html")
    return root / "site"


@pytest.fixture(scope="module")
def page(site) -> str:
    return (site / "page.html").read_text(encoding="utf-8")


def test_pages_load_nothing_from_a_url(page):
    assert external_loads(page) == []


def test_the_url_check_finds_the_cdns_of_nbconvert_s_own_page(tmp_path):
    """The same notebook through nbconvert's stock lab template: MathJax, require.js and the
    widget manager from CDNs. The check above names each of them (so it can fail)."""
    from nbconvert import HTMLExporter

    nb, _ = widget_notebook()
    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    found = {urlsplit(url).path.rsplit("/", 1)[-1] for _, url in external_loads(stock)}
    assert {"latest.js", "require.min.js", "embed-amd.js"} <= found, external_loads(stock)


def test_every_file_the_page_loads_is_in_the_site(page, site):
    reader = read_page(page)
    scripts = [url for what, url in reader.loads if what == "<script src>"]
    # The widget manager is added by an inline script once the page has loaded.
    renderer = [url for what, url in reader.loads if what == "inline script"]
    assert scripts and set(renderer) == {course.offline_exporter().widget_renderer_url}
    for url in scripts + renderer:
        assert (site / urlsplit(url).path).is_file(), f"the page loads {url}: not in {site}"
    mathjax = next(u for u in scripts if urlsplit(u).path.endswith("MathJax.js"))
    # MathJax.js?config=A,B loads config/A.js and config/B.js, relative to MathJax.js.
    folder = site / urlsplit(mathjax).path.rsplit("/", 1)[0]
    for name in re.search(r"config=([^&]+)", mathjax)[1].split(","):
        assert (folder / "config" / f"{name}.js").is_file(), name
    # The fonts that the page's MathJax configuration names (webFont), in the format it loads.
    web_font = re.search(r'webFont:\s*"([^"]+)"', page)[1]
    assert list((folder / "fonts" / "HTML-CSS" / web_font / "woff").rglob("*.woff"))


def test_the_page_holds_the_widget_state_and_the_view(page):
    """The widget manager renders each view script from the state script: both are in the page,
    the view's model is in the state, and the state says what the notebook saved (value 7)."""
    reader = read_page(page)
    states = [json.loads(text) for kind, text in reader.scripts if kind == WIDGET_STATE]
    views = [json.loads(text) for kind, text in reader.scripts if kind == WIDGET_VIEW]
    assert len(states) == 1 and len(views) == 1
    models = states[0]["state"]
    assert models[views[0]["model_id"]]["model_name"] == "IntSliderModel"
    assert models[views[0]["model_id"]]["state"]["value"] == 7
    assert all(f in page for f in FORMULAS), "the formulas must reach the page as TeX for MathJax"


def test_assets_are_copied_once_and_again_when_their_source_changes(tmp_path, monkeypatch):
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.js").write_text("one")
    (source / "sub" / "b.woff").write_text("font")
    monkeypatch.setattr(course, "site_assets", lambda: {"lib": source})
    site = tmp_path / "site"
    course.install_site_assets(site)
    copied = site / course.SITE_STATIC / "lib"
    assert (copied / "a.js").read_text() == "one" and (copied / "sub" / "b.woff").is_file()
    (copied / "a.js").write_text("one")  # same size: a copy that is not redone
    mtime = (copied / "a.js").stat().st_mtime_ns
    course.install_site_assets(site)
    assert (copied / "a.js").stat().st_mtime_ns == mtime
    (source / "a.js").write_text("three")
    (source / "sub" / "b.woff").unlink()
    course.install_site_assets(site)
    assert (copied / "a.js").read_text() == "three" and not (copied / "sub" / "b.woff").exists()
    monkeypatch.setattr(course, "site_assets", lambda: {"lib": tmp_path / "missing"})
    with pytest.raises(FileNotFoundError, match="missing"):
        course.install_site_assets(site)


def test_vendored_widget_manager_is_the_release_its_readme_names_and_ipywidgets_needs():
    """tools/vendor/html-manager/embed.js is the file its README names (version and sha256), and
    that version lies in the range the installed ipywidgets asks for (`^1.0.1`: same major)."""
    from ipywidgets._version import __html_manager_version__ as wanted

    readme = (course.HTML_MANAGER / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((course.HTML_MANAGER / "embed.js").read_bytes()).hexdigest()
    assert f"`{digest}`" in readme, f"embed.js (sha256 {digest}) is not the file the README names"
    assert f"version {course.HTML_MANAGER_VERSION}" in readme
    match = re.fullmatch(r"\^(\d+)\.(\d+)\.(\d+)", wanted)
    assert match, f"ipywidgets asks for html-manager {wanted!r}: update this test's reading"
    low = tuple(int(p) for p in match.groups())
    have = tuple(int(p) for p in course.HTML_MANAGER_VERSION.split("."))
    assert have[0] == low[0] and have >= low, (course.HTML_MANAGER_VERSION, wanted)


@pytest.mark.slow  # one kernel: papermill runs a notebook that shows a slider
def test_the_course_runner_saves_the_widget_state(tmp_path):
    """papermill (tools/course.py run) stores the widget state in the executed notebook's
    metadata, where the rendered page reads it; the slider's view refers to a saved model."""
    src = tmp_path / "slider.ipynb"
    nbformat.write(
        new_notebook(
            cells=[new_code_cell("import ipywidgets\nipywidgets.IntSlider(value=7, max=10)")],
            metadata={"kernelspec": KERNELSPEC},
        ),
        src,
    )
    out = tmp_path / "build" / "slider.ipynb"
    result = course.run_notebook(src, out, "cpu", None, 120)
    assert result.status == "ok", result.error
    executed = nbformat.read(out, as_version=4)
    models = executed.metadata["widgets"][WIDGET_STATE]["state"]
    views = [
        o["data"][WIDGET_VIEW]
        for c in executed.cells
        for o in c.get("outputs", [])
        if WIDGET_VIEW in o.get("data", {})
    ]
    assert len(views) == 1
    assert models[views[0]["model_id"]]["model_name"] == "IntSliderModel"
    assert models[views[0]["model_id"]]["state"]["value"] == 7


def test_the_index_page_loads_nothing_from_a_url(tmp_path):
    result = course.Result("01_a.ipynb", "A lesson", "ok", 1.0, "cpu")
    index = course.write_index(tmp_path, [result], {"python": "3"})
    assert external_loads(index.read_text(encoding="utf-8")) == []


@pytest.mark.slow  # nbconvert renders each committed lesson (a few seconds each)
@pytest.mark.parametrize("lesson", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_every_lesson_page_loads_nothing_from_a_url(lesson, tmp_path):
    """The committed lessons as the site shows them: no output of theirs (an HTML table, a
    figure) brings back a script or a style from the network."""
    target = tmp_path / "site" / lesson.replace(".ipynb", ".html")
    course.render_html(ROOT / "notebooks" / lesson, target)
    assert external_loads(target.read_text(encoding="utf-8")) == []
