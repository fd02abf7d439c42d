"""GitHub Actions workflow commands: each diagnostic becomes an annotation on the pull request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from torchlint.diagnostics import Diagnostic
from torchlint.not_checked import NotChecked
from torchlint.report.severity import LEVEL


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def write_github(
    diagnostics: Sequence[Diagnostic], out: TextIO, color: bool, unsafe: bool = False
) -> None:
    for d in diagnostics:
        title = _escape_property(f"torchlint ({d.code})")
        if d.cell is None:
            where = (
                f"line={d.start.line},col={d.start.column},"
                f"endLine={d.end.line},endColumn={d.end.column}"
            )
            message = f"{d.code} {d.message}"
        else:  # notebook lines count from the cell, not the file: name the cell instead
            where = ""
            message = f"cell {d.cell}:{d.start.line}:{d.start.column}: {d.code} {d.message}"
        out.write(
            f"::{LEVEL} title={title},file={_escape_property(d.path)}"
            f"{',' if where else ''}{where}::{_escape_data(message)}\n"
        )


def write_not_checked(skipped: Sequence[NotChecked], out: TextIO) -> None:
    """A warning annotation on each file not checked (over ``max-file-size``,
    ``max-nesting`` or ``max-parse-memory``): in the pull request, a skipped file must not look like a clean one."""
    title = _escape_property("torchlint (not checked)")
    for item in skipped:
        message = _escape_data(f"not checked: the file is {item.reason}")
        out.write(f"::warning title={title},file={_escape_property(item.path)}::{message}\n")
