"""Drive JupyterLab the way a learner does: a real server, headless Chromium, the menus.

`LabServer` starts JupyterLab from this environment on a free localhost port with a random token,
serving a temporary copy of `notebooks/` (running cells in the browser must never touch the
committed files), isolated from the user's Jupyter config, settings and workspaces. `Notebook`
wraps a Playwright page showing one notebook: open it, clear and run all cells, wait for the
kernel, collect the errors a learner would see. `read_bottleneck_explorer` and
`move_slider_and_check` read the explorer's numbers from the page and check them against the
hand formulas.

Every wait is bounded and fails with a message that says what was expected and what was seen.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# An offline sandbox: no GPU, no phoning home, no component or sync downloads.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
WIDGET_ERRORS = ("Error displaying widget", "model not found")

# User settings for the test's private JupyterLab: every cell stays in the DOM (no windowing, so
# the test sees all prompts and outputs), nothing is ever saved, no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "kernelShutdown": True},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def wait_until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call `probe` until it returns something truthy and return that; after `timeout` seconds
    raise AssertionError naming `what` and the last value seen (a probe that raises counts as
    not yet, unless it raises AssertionError: that is a verdict and ends the wait)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except AssertionError:  # a probe's own verdict (the kernel died, the server exited)
            raise
        except Exception as err:  # a page mid-update may throw; retry until timeout
            last = f"{type(err).__name__}: {err}"
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}"
            )
        time.sleep(interval)


# --------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server on 127.0.0.1 serving `root`; `stop()` always ends it and its kernels.

    `env` adds environment variables for the server and therefore its kernels (e.g. PYTHONPATH).
    """

    def __init__(self, root: Path, state: Path, env: dict[str, str] | None = None):
        self.root, self.state = root, state
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None
        self.extra_env = env or {}

    # -- lifecycle
    def start(self, timeout: float = 90) -> LabServer:
        settings = self.state / "lab-settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        venv_bin = Path(sys.executable).parent
        env = {
            **os.environ,
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "JUPYTER_CONFIG_DIR": str(self.state / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.state / "runtime"),
            "JUPYTER_DATA_DIR": str(self.state / "data"),  # kernels and extensions: sys.prefix
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.state / "workspaces"),
            "IPYTHONDIR": str(self.state / "ipython"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            **self.extra_env,
        }
        cmd = [
            str(venv_bin / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.env = env
        self.trust(*sorted(self.root.glob("*.ipynb")))
        self._log = open(self.log_path, "w")  # closed in stop()
        # A session of its own: stop() can end the server and every kernel it started.
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(self._ready, timeout, f"JupyterLab to answer on {self.url}", interval=0.5)
        except AssertionError as err:
            self.stop()
            raise AssertionError(f"{err}\n--- server log ---\n{self.log_tail()}") from None
        return self

    def trust(self, *notebooks: Path) -> None:
        """Sign notebooks as their author's own: their stored widget views then render from the
        saved widget state (in an untrusted notebook JupyterLab shows their text form instead)."""
        if notebooks:
            venv_bin = Path(sys.executable).parent
            subprocess.run(
                [str(venv_bin / "jupyter"), "trust", *map(str, notebooks)],
                env=self.env,
                check=True,
                capture_output=True,
                timeout=60,
            )

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"JupyterLab exited with code {self.proc.returncode} while starting:\n"
                + self.log_tail()
            )
        try:
            return self.api("GET", "/api/status") is not None
        except (urllib.error.URLError, ConnectionError):
            return False

    def stop(self) -> None:
        """Ask the server to shut down (it ends its kernels), then make sure it is gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown")
                self.proc.wait(timeout=20)
            except Exception as err:  # fall through to signals
                print(f"JupyterLab did not shut down through its API ({err}): terminating it")
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:  # the server's process group: its kernels too (and nothing else)
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- REST
    def api(self, method: str, path: str, timeout: float = 10) -> Any:
        req = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        if method in ("POST", "PUT", "PATCH"):
            req.data = b"{}"
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else {}

    def shutdown_kernels(self) -> None:
        """End every session (and its kernel): each test starts from fresh kernels."""
        for session in self.api("GET", "/api/sessions"):
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}")
            except urllib.error.HTTPError as err:
                # Closing the tab ends its session too; it may be gone between GET and DELETE.
                if err.code != 404:
                    raise

    def lab_url(self, notebook: str) -> str:
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"


def copy_notebooks(dest: Path) -> Path:
    """A scratch copy of notebooks/ to serve: what the browser runs or saves stays there."""
    shutil.copytree(REPO / "notebooks", dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return dest


# --------------------------------------------------------------------------- the app
def load_lab(page, server: LabServer, timeout: float = 90) -> None:
    """Load JupyterLab in `page` with a fresh workspace (no tabs restored)."""
    page.goto(f"{server.url}/lab?reset&token={server.token}", timeout=timeout * 1000)
    page.locator(".lm-MenuBar-itemLabel", has_text="File").first.wait_for(
        state="visible", timeout=timeout * 1000
    )


def menu(page, label: str, command: str, timeout: float = 10) -> None:
    """Click a main-menu entry, e.g. menu(page, "Run", "runmenu:run-all")."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{label}$")).click(
        timeout=timeout * 1000
    )
    page.locator(f'.lm-Menu-item[data-command="{command}"]').first.click(timeout=timeout * 1000)


def close_all_tabs(page, timeout: float = 20) -> None:
    """File > Close All Tabs, discarding unsaved changes (nothing a test does is saved)."""
    menu(page, "File", "application:close-all")
    discard = page.locator(".jp-Dialog .jp-Dialog-button", has_text="Discard")

    def closed() -> bool:
        if discard.count():
            discard.first.click(timeout=5000)
        return page.locator(".jp-NotebookPanel").count() == 0

    wait_until(closed, timeout, "every notebook tab to close")


# --------------------------------------------------------------------------- one notebook
# The state of the notebook panel in one round trip: kernel status and cell prompts, and with
# `full` the texts a learner would read as errors (textContent: no layout work while polling).
_SNAPSHOT_JS = """
(panel, full) => {
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')];
  const code = cells.filter(c => c.classList.contains('jp-CodeCell'));
  // The status bar names the notebook's kernel and its state: "Python 3 (ipykernel) | Idle".
  const kernel = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
    .map(e => e.textContent.trim().match(/^(.+) \\| (\\w[\\w ]*)$/)).find(m => m);
  const prompts = code.map(c => {
    const p = c.querySelector('.jp-InputArea-prompt');
    return p ? p.textContent.trim() : '';
  });
  const running = prompts.indexOf('[*]:');
  const state = {
    kernel: kernel ? kernel[1] : null,
    status: kernel && kernel[1] !== 'No Kernel' ? kernel[2].toLowerCase() : 'no kernel',
    indicator: indicator ? indicator.getAttribute('data-status') : null,
    cells: cells.length,
    prompts: prompts,
    running: running < 0 ? null : {
      codeCell: running + 1,
      firstLine: (code[running].querySelector('.cm-line') || {}).textContent || '',
    },
  };
  if (!full) return state;
  const outputs = [...panel.querySelectorAll('.jp-OutputArea-output')];
  // A widget view is drawn by the ipywidgets renderer, the one output without data-mime-type:
  // "Loading widget..." until its model is found, then the widget or an error message.
  const widgetViews = outputs.filter(o => !o.hasAttribute('data-mime-type'));
  return {
    ...state,
    errors: outputs
      .filter(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr')
      .map(o => o.textContent)
      .filter(t => /Traceback|Error\\b|Exception\\b/.test(t)),
    widgetViews: widgetViews.length,
    widgetViewsSettled: widgetViews.filter(o => o.querySelector('.jupyter-widgets')
      || (o.textContent.trim() && !o.textContent.includes('Loading widget'))).length,
    widgetViewsRendered: widgetViews.filter(o => o.querySelector('.jupyter-widgets')).length,
    widgetErrors: outputs.map(o => o.textContent.trim().slice(0, 200))
      .filter(t => %ERRORS%.some(e => t.includes(e))),
  };
}
""".replace("%ERRORS%", json.dumps(WIDGET_ERRORS))


@dataclass
class Notebook:
    """A page showing one notebook of `server`."""

    page: Any  # playwright.sync_api.Page
    server: LabServer
    name: str

    @property
    def panel(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first

    def snapshot(self, full: bool = True) -> dict:
        """Kernel status, prompts and the cell running; with `full`, also error outputs, widget
        views and widget errors."""
        return self.panel.evaluate(_SNAPSHOT_JS, full)

    def open(self, n_cells: int, timeout: float = 90) -> Notebook:
        """Open this notebook with File > Open from Path... in the JupyterLab already loaded in
        the page; wait until its `n_cells` cells are shown and its kernel is idle."""
        menu(self.page, "File", "filebrowser:open-path")
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator("input").fill(self.name)
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        wait_until(
            lambda: (
                (s := self.snapshot(full=False))["cells"] == n_cells
                and s["status"] == s["indicator"] == "idle"
            ),
            timeout,
            f"{self.name} to show its {n_cells} cells with an idle kernel",
        )
        return self

    def run_all(self, timeout: float) -> dict:
        """Clear every output (so what we see afterwards is this run's), run all cells from the
        Run menu, and wait until the kernel is idle and no cell is queued or running."""
        menu(self.page, "Edit", "editmenu:clear-all")
        wait_until(
            lambda: all(p in ("[ ]:", "") for p in self.snapshot(full=False)["prompts"]),
            10,
            "the cleared notebook to show no execution counts",
        )
        menu(self.page, "Run", "runmenu:run-all")
        wait_until(
            lambda: any(p != "[ ]:" for p in self.snapshot(full=False)["prompts"]),
            15,
            "Run All Cells to start executing",
        )
        start = time.monotonic()
        stable = 0

        def done() -> bool:
            nonlocal stable
            s = self.snapshot(full=False)
            if s["status"] in ("dead", "unknown"):
                raise AssertionError(f"the kernel died while running {self.name}: {s}")
            busy = "idle" not in (s["status"], s["indicator"]) or s["running"] is not None
            busy = busy or s["status"] != s["indicator"]
            stable = 0 if busy else stable + 1
            return stable >= 3  # idle on three polls in a row: really done

        try:
            wait_until(done, timeout, f"all cells of {self.name} to run", interval=1.0)
        except AssertionError as err:
            s = self.snapshot()
            ran = sum(p not in ("[ ]:", "[*]:", "") for p in s["prompts"])
            raise AssertionError(
                f"{err}\nkernel {s['status']!r}; {ran} of {len(s['prompts'])} code cells ran; "
                f"running: {s['running']}; error outputs so far: {s['errors']}"
            ) from None
        snap = self.snapshot()
        snap["seconds"] = time.monotonic() - start
        return snap

    def widget_errors(self) -> list[str]:
        """Lines of the notebook that say a widget could not be shown."""
        return self.snapshot()["widgetErrors"]

    def wait_widgets_settled(self, timeout: float = 30) -> dict:
        """Widget views render asynchronously (from the kernel or the saved widget state):
        wait until each one shows a widget or a message."""
        return wait_until(
            lambda: (s := self.snapshot())["widgetViewsSettled"] == s["widgetViews"] and s,
            timeout,
            f"the widget views of {self.name} to render",
        )


# --------------------------------------------------------------------------- the explorer
SLIDERS = {  # Explorer control name -> CSS class the explorer gives it
    "in_ch": "bottleneck-in-ch",
    "red_ch": "bottleneck-red-ch",
    "out_ch": "bottleneck-out-ch",
    "kernel": "bottleneck-kernel",
    "size": "bottleneck-size",
}


def _int(text: str) -> int:
    return int(text.replace(",", "").strip())


def read_bottleneck_explorer(explorer) -> dict:
    """What the explorer shows: its slider readouts and its table of weights and MACs."""
    values = {
        name: _int(explorer.locator(f".{css} .widget-readout").inner_text(timeout=5000))
        for name, css in SLIDERS.items()
    }
    rows = explorer.locator(".bottleneck-result table tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))"
    )
    if len(rows) < 3:
        raise AssertionError(f"the explorer shows no table of weights and MACs: {rows!r}")
    direct, bottleneck = rows[1], rows[2]  # rows[0]: header, rows[3]: the saving
    return {
        "sliders": values,
        "direct": {"weights": _int(direct[1]), "macs": _int(direct[2])},
        "bottleneck": {"weights": _int(bottleneck[1]), "macs": _int(bottleneck[2])},
    }


def expected_costs(in_ch: int, red_ch: int, out_ch: int, kernel: int, size: int) -> dict:
    """The hand formulas (stride 1, "same" padding, no biases): a k x k conv has
    k*k*in*out weights and does that many MACs at each of the size*size output positions."""
    direct = kernel * kernel * in_ch * out_ch
    bottleneck = in_ch * red_ch + kernel * kernel * red_ch * out_ch
    area = size * size
    return {
        "direct": {"weights": direct, "macs": direct * area},
        "bottleneck": {"weights": bottleneck, "macs": bottleneck * area},
    }


def shown_matches_formula(shown: dict) -> bool:
    expected = expected_costs(**shown["sliders"])
    return shown["direct"] == expected["direct"] and shown["bottleneck"] == expected["bottleneck"]


def move_slider_and_check(
    page, explorer, slider: str = "in_ch", presses: int = 3, timeout: float = 15
) -> tuple[dict, dict]:
    """Focus one slider's handle, press ArrowRight `presses` times, and wait until the numbers
    the explorer shows are the hand formulas' for the new slider values. Returns (before, after).
    """
    before = read_bottleneck_explorer(explorer)
    assert shown_matches_formula(before), (
        f"before moving any slider the explorer shows {before}, but the formulas give "
        f"{expected_costs(**before['sliders'])}"
    )
    handle = explorer.locator(f".{SLIDERS[slider]} .noUi-handle")
    handle.focus(timeout=5000)
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    moved = wait_until(
        lambda: (
            (a := read_bottleneck_explorer(explorer))["sliders"][slider] > before["sliders"][slider]
            and a
        ),
        timeout,
        f"the {slider} slider to move (ArrowRight x{presses} on its handle)",
    )

    def updated() -> dict | None:
        after = read_bottleneck_explorer(explorer)
        return after if shown_matches_formula(after) else None

    try:
        after = wait_until(updated, timeout, "the explorer to recompute")
    except AssertionError:
        now = read_bottleneck_explorer(explorer)
        raise AssertionError(
            f"the numbers did not change accordingly after moving the {slider} slider from "
            f"{before['sliders'][slider]} to {moved['sliders'][slider]}: shown before "
            f"{before['direct']} / {before['bottleneck']}, shown {timeout:.0f} s after the move "
            f"{now['direct']} / {now['bottleneck']}, expected "
            f"{expected_costs(**now['sliders'])} (is the widget's callback broken?)"
        ) from None
    return before, after
