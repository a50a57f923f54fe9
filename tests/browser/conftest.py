"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per run.

The server and the browser are always stopped (finally), also when a test fails or is
interrupted. Each test opens its notebook in the already loaded JupyterLab page; afterwards its
tabs are closed and its kernels shut down. A failing test leaves a screenshot of the whole page
in build/screenshots/FAILED-<test>.png: what the learner would have seen.
"""

from __future__ import annotations

import pytest
from labdriver import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO,
    LabServer,
    close_all_tabs,
    copy_notebooks,
    load_lab,
)

SCREENSHOTS = REPO / "build" / "screenshots"


@pytest.fixture(scope="session")
def screenshots():
    """build/screenshots/, without the screenshots of an earlier run (no stale evidence)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in [*SCREENSHOTS.glob("FAILED-*.png"), *SCREENSHOTS.glob("bottleneck_explorer_*.png")]:
        old.unlink()
    return SCREENSHOTS


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab serving a scratch copy of notebooks/ (the committed files stay untouched)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    server = LabServer(root=copy_notebooks(base / "notebooks"), state=base / "state")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 1000},
            timeout=60_000,
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        item.failed_call = report.failed


@pytest.fixture(scope="session")
def lab_page(lab, browser_context):
    """One page with JupyterLab loaded, shared by the tests (loading the app is the slow part)."""
    page = browser_context.new_page()
    try:
        load_lab(page, lab)
        yield page
    finally:
        page.close()


@pytest.fixture
def page(request, lab, lab_page, screenshots):
    """The shared JupyterLab page; afterwards every tab is closed and every kernel shut down."""
    yield lab_page
    if getattr(request.node, "failed_call", False):
        name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
        try:
            lab_page.screenshot(path=screenshots / f"FAILED-{name}.png", full_page=True)
        except Exception as err:  # the failure itself is what matters
            print(f"could not save a failure screenshot: {err}")
    try:
        close_all_tabs(lab_page)
    except Exception:  # a stuck page: start the next test from a fresh app
        load_lab(lab_page, lab)
    lab.shutdown_kernels()
