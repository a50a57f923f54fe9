"""The dependency floors in pyproject.toml are the true ones: the first releases of the newest
torch and torchvision APIs that the course's code calls.

Each entry of the tables below is an API and the release that introduced it, taken from the
PyTorch and torchvision documentation (the versioned docs at docs.pytorch.org/docs/<version> and
/vision/<version>, and the release notes). The test finds which of them the code uses and checks
that the floor is exactly the newest of those: a floor below it admits a torch on which the course
breaks; a floor above it turns away learners whose torch would work. When new code calls a newer
API, add it here and raise the floor.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# (pattern in the source, first release, what it is)
TORCH_APIS = [
    (r"torch\.amp\.GradScaler\(", (2, 3), "device-generic GradScaler (torch 2.3 release notes)"),
    (r"torch\.utils\.flop_counter", (2, 1), "FlopCounterMode (torch 2.1)"),
    (r"torch\.compile\(", (2, 0), "torch.compile (torch 2.0)"),
    (r"with torch\.device\(", (2, 0), "torch.device as a context manager (torch 2.0)"),
    (r"register_forward_pre_hook\(", (1, 0), "module hooks"),
    (r"weights_only=True", (1, 13), "torch.load(weights_only=...) (torch 1.13)"),
]
TORCHVISION_APIS = [
    (r"v2\.ToPureTensor", (0, 16), "transforms.v2.ToPureTensor (torchvision 0.16)"),
    (r"v2\.ToImage\(", (0, 16), "transforms.v2.ToImage (torchvision 0.16)"),
    (r"weights=None", (0, 13), "the multi-weight model API (torchvision 0.13)"),
]
# Each torchvision release requires exactly one torch release (pip enforces it), so the
# torchvision floor is at least the release built for the torch floor.
TORCHVISION_FOR_TORCH = {(2, 3): (0, 18), (2, 4): (0, 19), (2, 5): (0, 20), (2, 6): (0, 21)}


def _sources() -> str:
    files = [*ROOT.glob("inception_lab/**/*.py"), *ROOT.glob("tools/*.py")]
    files += [*ROOT.glob("benchmarks/*.py"), *ROOT.glob("notebooks/*.ipynb")]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def _floor(name: str) -> tuple[int, ...]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        match = re.fullmatch(rf"{name}>=([\d.]+),<\d+", requirement)
        if match:
            return tuple(int(p) for p in match.group(1).split("."))
    pytest.fail(f"no '{name}>=X,<Y' range in pyproject.toml")


@pytest.mark.parametrize(
    ("name", "apis"), [("torch", TORCH_APIS), ("torchvision", TORCHVISION_APIS)]
)
def test_floor_is_the_first_release_of_the_newest_api_used(name, apis):
    source = _sources()
    used = [(release, what) for pattern, release, what in apis if re.search(pattern, source)]
    assert used, f"none of the listed {name} APIs found: is the scan looking in the right files?"
    newest = max(release for release, _ in used)
    if name == "torchvision":
        newest = max(newest, TORCHVISION_FOR_TORCH[_floor("torch")])
    assert _floor(name) == newest, f"{name} floor {_floor(name)}, newest API needs {newest}: {used}"


def test_no_api_newer_than_the_floor_sneaks_in():
    """APIs known to be newer than the torch floor must not appear (the usual temptations)."""
    newer = {
        r"torch\.serialization\.add_safe_globals": "add_safe_globals (torch 2.4)",
        r"nn\.Buffer\(": "torch.nn.Buffer (torch 2.5)",
        r"torch\.accelerator\.": "torch.accelerator (torch 2.6)",
    }
    source = _sources()
    found = [what for pattern, what in newer.items() if re.search(pattern, source)]
    assert not found, f"these need a newer torch than the floor {_floor('torch')}: {found}"


def _typed_floors(text: str) -> list[str]:
    """Where `text` states the torch or torchvision floor of pyproject.toml ("torch 2.3",
    "torch >= 2.3", "torchvision 0.18"), not a longer version that starts with it."""
    found = []
    for name in ("torch", "torchvision"):
        floor = ".".join(map(str, _floor(name)))
        pattern = rf"\b{name}\s*(?:>=|≥|version)?\s*{re.escape(floor)}(?![\d.]*\d)"
        found += [m[0] for m in re.finditer(pattern, text)]
    return found


def test_the_floors_are_stated_in_pyproject_only():
    """No document or notebook source types the torch or torchvision floor again: the welcome
    notebook prints it from the installed metadata (inception_lab.versions), so that raising the
    floor in pyproject.toml is the whole change."""
    import json

    files = [*ROOT.glob("*.md"), *ROOT.glob("*/*.md"), ROOT / "environment.yml"]
    texts = {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in files
        if not p.relative_to(ROOT).parts[0].startswith((".", "build"))
    }
    for path in ROOT.glob("notebooks/*.ipynb"):  # sources only: outputs print what was installed
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts[str(path.relative_to(ROOT))] = "\n".join("".join(c["source"]) for c in cells)
    assert "README.md" in texts and "notebooks/00_welcome.ipynb" in texts
    found = {where: _typed_floors(text) for where, text in texts.items() if _typed_floors(text)}
    assert not found, found
    # The scan finds a floor typed by hand, and leaves longer versions alone.
    torch_floor = ".".join(map(str, _floor("torch")))
    assert _typed_floors(f"needs torch {torch_floor} or newer") == [f"torch {torch_floor}"]
    assert _typed_floors(f"torch>={torch_floor}") == [f"torch>={torch_floor}"]
    assert _typed_floors(f"measured with torch {torch_floor}1.4, torch {torch_floor}.1") == []
