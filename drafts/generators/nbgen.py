"""Tiny helpers to write a lesson notebook with nbformat (kept outside the repository)."""

from __future__ import annotations

import textwrap

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class Notebook:
    def __init__(self) -> None:
        self.cells = []

    def md(self, text: str) -> None:
        self.cells.append(nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n")))

    def code(self, text: str, *tags: str) -> None:
        cell = nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))
        if tags:
            cell.metadata["tags"] = list(tags)
        self.cells.append(cell)

    def write(self, path: str) -> None:
        nb = nbformat.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata["kernelspec"] = KERNELSPEC
        nb.metadata["language_info"] = {"name": "python"}
        nbformat.validate(nb)
        nbformat.write(nb, path)
