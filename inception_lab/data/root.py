"""Where the course's data lives: `default_root()`, the one folder every dataset reads from.

A module of its own, with no imports from the package, so that both `shapes.py` (its cache) and
`datasets.py` (`load_dataset`) can use it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV_VAR", "default_root"]

DATA_ENV_VAR = "INCEPTION_LAB_DATA"


def default_root() -> Path:
    """The data folder: $INCEPTION_LAB_DATA if set, else `data/` next to the package.

    Resolved from this file, not from the working directory, so a notebook finds the same cache
    whether it runs from notebooks/, from the repository root or from a test.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data"
