"""Tiny helpers for the lesson 05/06 generator scripts: markdown/code cells -> .ipynb."""

import textwrap
from pathlib import Path

import nbformat

METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str, *tags: str):
    cell = nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write(path: str | Path, cells: list) -> None:
    nb = nbformat.v4.new_notebook(cells=cells, metadata=METADATA)
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb))
    print(f"wrote {path} ({len(cells)} cells)")


def fill(cells: list, mapping: dict) -> list:
    """Replace placeholder tokens in every cell's source; fail on any token left unreplaced."""
    import re

    for cell in cells:
        for token, value in mapping.items():
            cell.source = cell.source.replace(token, textwrap.dedent(value).strip("\n"))
        left = re.findall(r"\b[A-Z]+_(?:PROSE|RESULT|CPU|SAME|SIZE|ACC|TRAINING|STEPS|DRIFT)\b", cell.source)
        left = [t for t in left if t in mapping or t.startswith("ASSERTS") or t.endswith("PROSE")]
        if left:
            raise ValueError(f"unfilled placeholders {left} in a cell starting {cell.source[:60]!r}")
    return cells
