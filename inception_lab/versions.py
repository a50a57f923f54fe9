"""The oldest versions the course supports, read from the installed package, not typed again.

pyproject.toml is the one place that states the floors (`"torch>=2.3,<3"`). Installing the course
(`pip install -e .`, which `make lab` runs) copies those ranges into the package's metadata;
`floors` reads them back with `importlib.metadata`, so the welcome notebook's environment check
always states the floors of the pyproject.toml it was installed from.
"""

from __future__ import annotations

import re
from importlib.metadata import metadata, requires

__all__ = ["floors", "version_tuple"]

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_FLOOR = re.compile(r">=\s*(\d+(?:\.\d+)*)")
_RELEASE = re.compile(r"\s*v?(\d+(?:\.\d+)*)")


def version_tuple(version: str) -> tuple[int, ...]:
    """The release numbers at the start of a version string: "2.14.1+cu130" -> (2, 14, 1),
    "2.3" -> (2, 3), "2.5.0a0" -> (2, 5, 0). Tuples compare like releases: (2, 2, 9) < (2, 3)."""
    if not isinstance(version, str):
        raise TypeError(f"version must be a string like '2.3.1', got {type(version).__name__}")
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"version must start with release numbers like '2.3.1', got {version!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def floors(package: str = "inception_lab") -> dict[str, tuple[int, ...]]:
    """{dependency: oldest version allowed} of `package`'s required dependencies, from its
    installed metadata, with Python's (`requires-python`) under "python", e.g.
    {"python": (3, 10), "torch": (2, 3), "torchvision": (0, 18), "numpy": (1, 24), ...}.

    Optional dependencies (extras such as `dev`) and requirements without a `>=` are left out.
    Raises importlib.metadata.PackageNotFoundError (a ModuleNotFoundError) if `package` is not
    installed in this environment.
    """
    result = {}
    python = _FLOOR.search(metadata(package).get("Requires-Python") or "")
    if python:
        result["python"] = version_tuple(python.group(1))
    for requirement in requires(package) or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        name = _NAME.match(spec)
        floor = _FLOOR.search(spec)
        if name and floor:
            result[name.group(1).lower()] = version_tuple(floor.group(1))
    return result
