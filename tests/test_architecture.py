"""docs/architecture.md and the import contracts of pyproject.toml say the same, and the code keeps
them.

The layers diagram of docs/architecture.md ("What depends on what") is the `layers` contract of
`[tool.importlinter]` in pyproject.toml, line for line; `lint-imports` (make lint) checks the code
against the contracts, and so does the last test here, through import-linter's Python entry point.
"""

import ast
import logging.config
import pkgutil
import re
import sys
from pathlib import Path

import inception_lab

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(inception_lab.__file__).parent
DOC = ROOT / "docs" / "architecture.md"
MARKER = "<!-- layers:"  # the comment right above the diagram's code block
SEPARATOR = re.compile(r"\s*([|:])\s*")  # "a | b": independent siblings; "a : b": may import
ENTRY_POINTS = "inception_lab.*.__main__ -> inception_lab.cli.*"


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def layers_contract() -> dict:
    (contract,) = [c for c in contracts() if c["type"] == "layers"]
    return contract


def spelled(layer: str) -> str:
    """One spelling for a layer: 'checks|widgets' and 'checks  |  widgets' -> 'checks | widgets'."""
    return SEPARATOR.sub(r" \1 ", layer.strip())


def diagram() -> list[str]:
    """The diagram's layers, top to bottom, in the contract's spelling: the line
    'checks/ | widgets.py      exercise feedback | explorers' -> 'checks | widgets' (the
    description starts after a gap of two or more spaces)."""
    text = DOC.read_text(encoding="utf-8")
    assert text.count(MARKER) == 1, f"docs/architecture.md needs one {MARKER!r} comment"
    block = re.match(r"[^\n]*\n```text\n(.*?)\n```", text.split(MARKER, 1)[1], re.DOTALL)
    assert block, f"a ```text block must follow the {MARKER!r} comment"
    layers = []
    for line in block.group(1).splitlines():
        files = re.split(r"\s{2,}", line.strip())[0]
        parts = SEPARATOR.split(files)  # name, separator, name, ...
        for i in range(0, len(parts), 2):
            name = parts[i]
            assert (
                (PACKAGE / name).is_dir() if name.endswith("/") else (PACKAGE / name).is_file()
            ), f"the diagram names {name!r}: inception_lab/{name} does not exist"
            parts[i] = name.removesuffix("/").removesuffix(".py")
        layers.append(spelled(" ".join(parts)))
    return layers


def names(layers: list[str]) -> list[str]:
    return [name for layer in layers for name in SEPARATOR.split(layer)[::2]]


def test_the_diagram_is_the_layers_contract():
    contract = layers_contract()
    assert contract["containers"] == ["inception_lab"]
    assert diagram() == [spelled(layer) for layer in contract["layers"]]


def test_every_module_of_the_package_has_one_layer():
    """Every module and subpackage of inception_lab/ is in the diagram exactly once, and the
    contract is exhaustive, so lint-imports fails on a new module that has no layer yet."""
    listed = names(diagram())
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == {m.name for m in pkgutil.iter_modules([str(PACKAGE)])}
    assert layers_contract()["exhaustive"] is True


def test_the_doc_describes_every_contract():
    text = DOC.read_text(encoding="utf-8")
    for contract in contracts():
        assert f'"{contract["name"]}"' in text, contract["name"]


def test_the_contracts_ignore_only_the_entry_points_that_start_the_command_lines():
    """The one exception: `python -m inception_lab.train` / `.experiments` run a `__main__.py`
    that imports its command line from cli/. Those files must stay that thin: a call of the
    command line's `main`, nothing the rest of the package could come to depend on."""
    for contract in contracts():
        assert set(contract.get("ignore_imports", [])) <= {ENTRY_POINTS}, contract["name"]
    entry_points = sorted(PACKAGE.glob("*/__main__.py"))
    assert {p.parent.name for p in entry_points} == {"train", "experiments"}
    for path in entry_points:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        ]
        assert set(imported) == {"sys", f"inception_lab.cli.{path.parent.name}"}, path
        assert not any(isinstance(n, ast.FunctionDef | ast.ClassDef) for n in ast.walk(tree)), path


def test_the_code_keeps_the_import_contracts(monkeypatch, capsys):
    from importlinter.cli import lint_imports

    # lint_imports configures logging for a command line and prepends the working directory to
    # sys.path; keep both as they are for the other tests.
    monkeypatch.setattr(logging.config, "dictConfig", lambda config: None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert f"Contracts: {len(contracts())} kept, 0 broken." in report, report
