"""pytest set-up for every run from the project root: the `notebook` marker on nbval's items.

`make test` collects the notebooks in notebooks/ with nbval (`--nbval`), one test item per code
cell. They are marked `notebook` here (pyproject.toml registers the marker), so that
`make test PYTEST_ARGS='-m notebook'` runs only the notebooks and `-m "not notebook"` only the
unit tests.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything by its markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
