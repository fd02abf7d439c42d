"""LSP notebook documents (3.17 notebook sync) through the engine's notebook support.

The client sends a notebook as an ordered list of cells, each its own text document. They
are written out as the ``.ipynb`` JSON the engine already reads (markup cells included, so
cell numbers match), linted together as the kernel runs them, and the findings go back to
the cell they belong to, with lines and columns relative to that cell.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torchlint.config import Settings
from torchlint.diagnostics import Diagnostic
from torchlint.notebook import parse_notebook
from torchlint.runner import FileOutcome, Mode, process_source
from torchlint.sourcefile import decode_source


@dataclass(frozen=True)
class CellText:
    uri: str
    text: str
    code: bool  # a code cell; markup cells are kept for the numbering only


def notebook_json(cells: Sequence[CellText]) -> str:
    """The cells as nbformat 4 JSON (a Python kernel)."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code" if cell.code else "markdown",
                    "metadata": {},
                    "source": cell.text,
                }
                for cell in cells
            ],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def lint_cells(
    path: str, cells: Sequence[CellText], settings: Settings
) -> tuple[dict[str, list[Diagnostic]], list[str]]:
    """Findings per cell URI (every cell has an entry) and internal-error lines. Code over
    `max-file-size`, `max-nesting` or `max-parse-memory` (as the CLI measures a notebook) gets no diagnostics
    and one line that says why, as a Python buffer does."""
    result = _process(path, cells, settings, Mode(write=False))
    if result.not_checked is not None:
        return {cell.uri: [] for cell in cells}, [f"{path}: {result.not_checked.why}"]
    found: dict[str, list[Diagnostic]] = {cell.uri: [] for cell in cells}
    for diagnostic in result.diagnostics:
        if diagnostic.cell is not None and 1 <= diagnostic.cell <= len(cells):
            found[cells[diagnostic.cell - 1].uri].append(diagnostic)
    return found, result.errors


def fix_cells(
    path: str, cells: Sequence[CellText], settings: Settings, *, unsafe: bool
) -> dict[str, str]:
    """The new text of each cell that fixing the notebook changes."""
    result = _process(path, cells, settings, Mode(fix=True, write=False, unsafe=unsafe))
    if not result.fixed or result.errors or result.fixed_source is None:
        return {}
    fixed = parse_notebook(result.fixed_source).cells
    return {
        cell.uri: new.source
        for cell, new in zip(cells, fixed, strict=True)
        if new.source != cell.text
    }


def _process(path: str, cells: Sequence[CellText], settings: Settings, mode: Mode) -> FileOutcome:
    """The runner's notebook pipeline (as for a ``.ipynb`` file on disk), on the cells."""
    source = decode_source(notebook_json(cells).encode("utf-8"), Path(path))
    return process_source(path, source, settings, mode, notebook=True)
