"""The human formats: ``concise`` (one line each) and ``full`` (with the source line and a caret)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import click

from torchlint.diagnostics import Diagnostic


def _style(text: str, color: bool, **style: object) -> str:
    return click.style(text, **style) if color else text  # type: ignore[arg-type]


def headline(d: Diagnostic, color: bool, unsafe: bool = False) -> str:
    """``path:line:col: CODE [*] message``; ``[*]``: ``torchlint fix`` fixes it."""
    where = d.path if d.cell is None else f"{d.path}:cell {d.cell}"
    location = f"{where}:{d.start.line}:{d.start.column}:"
    marker = " [*]" if d.fix_applies(unsafe) else ""
    return (
        f"{_style(location, color, bold=True)} "
        f"{_style(d.code, color, fg='red', bold=True)}{marker} {d.message}"
    )


def write_concise(
    diagnostics: Sequence[Diagnostic], out: TextIO, color: bool, unsafe: bool = False
) -> None:
    for d in diagnostics:
        out.write(headline(d, color, unsafe) + "\n")


def write_full(
    diagnostics: Sequence[Diagnostic], out: TextIO, color: bool, unsafe: bool = False
) -> None:
    for d in diagnostics:
        out.write(headline(d, color, unsafe) + "\n")
        line = d.source_line.expandtabs(1) if d.source_line else ""
        if line:
            number = str(d.start.line)
            gutter = " " * len(number)
            column = d.start.column - d.line_shift  # in the excerpt of a long line
            width = (
                min(d.end.column - d.start.column, len(line) - column + 1)
                if d.end.line == d.start.line
                else len(line) - column + 1
            )
            carets = " " * (column - 1) + "^" * max(width, 1)
            bar = _style("|", color, fg="blue")
            out.write(f"{gutter} {bar}\n")
            out.write(f"{_style(number, color, fg='blue')} {bar} {line}\n")
            out.write(f"{gutter} {bar} {_style(carets, color, fg='red')} {d.code}\n")
            out.write(f"{gutter} {bar}\n")
        if d.fix is not None:
            kind = d.fix.applicability.value
            out.write(f"  = help: {d.fix.message} ({kind} fix)\n")
        out.write("\n")
