"""Runs the engine (or the fixer) over many files and collects what the CLI reports.

``process_file`` is the unit of work: one path in, one picklable ``FileOutcome`` out, so it
can run in a worker process.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.config import Settings
from torchlint.diagnostics import Diagnostic
from torchlint.engine import lint_source
from torchlint.fixer import applicable, fix_source
from torchlint.registry import selected_rules
from torchlint.sourcefile import SourceError, SourceFile, decode_source, read_source, write_source


@dataclass(frozen=True)
class Mode:
    fix: bool = False  # apply fixes
    write: bool = True  # write fixed files back (False: --diff or stdin)
    unsafe: bool = False


@dataclass
class FileOutcome:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fixed: int = 0
    diff: str = ""
    fixed_source: str | None = None


@dataclass
class RunResult:
    files: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fixed: int = 0
    diffs: list[str] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        self.files += 1
        self.diagnostics.extend(outcome.diagnostics)
        self.errors.extend(outcome.errors)
        self.fixed += outcome.fixed
        if outcome.diff:
            self.diffs.append(outcome.diff)

    def finish(self) -> RunResult:
        self.diagnostics.sort(key=lambda d: d.sort_key)
        return self


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=path if path.startswith("/") else f"a/{path}",
            tofile=path if path.startswith("/") else f"b/{path}",
        )
    )


def process_source(
    display_path: str, source: SourceFile, settings: Settings, mode: Mode
) -> FileOutcome:
    """Lint or fix one decoded file."""
    if display_path.lower().endswith(".ipynb"):  # Jupyter: cell by cell, see notebook.py
        from torchlint.notebook import process_notebook

        return process_notebook(display_path, source, settings, mode)
    rules = selected_rules(settings.selected_codes)
    outcome = FileOutcome(display_path)
    if not mode.fix:
        result = lint_source(display_path, source.text, settings, rules)
        outcome.diagnostics, outcome.errors = result.diagnostics, result.errors
        return outcome
    fixed = fix_source(display_path, source.text, settings, rules, unsafe=mode.unsafe)
    outcome.diagnostics = fixed.remaining
    outcome.errors = fixed.errors
    outcome.fixed = fixed.fixed
    outcome.fixed_source = fixed.source
    if fixed.source != source.text:
        if mode.write:
            try:
                write_source(source, fixed.source)
            except SourceError as error:
                outcome.errors.append(str(error))
                outcome.fixed = 0
        else:
            outcome.diff = unified_diff(display_path, source.text, fixed.source)
    return outcome


def process_file(path: Path, settings: Settings, mode: Mode) -> FileOutcome:
    display = path.as_posix()
    try:
        source = read_source(path)
    except SourceError as error:
        return FileOutcome(display, errors=[str(error)])
    return process_source(display, source, settings, mode)


def process_stdin(data: bytes, filename: str, settings: Settings, mode: Mode) -> FileOutcome:
    try:
        source = decode_source(data, Path(filename))
    except SourceError as error:
        return FileOutcome(filename, errors=[str(error)])
    return process_source(filename, source, settings, Mode(mode.fix, False, mode.unsafe))


def run(paths: Sequence[Path], settings: Settings, mode: Mode) -> RunResult:
    result = RunResult()
    for path in paths:
        result.add(process_file(path, settings, mode))
    return result.finish()


def unsafe_fix_count(diagnostics: Sequence[Diagnostic]) -> int:
    """How many remaining diagnostics `--unsafe-fixes` would fix."""
    return sum(1 for d in diagnostics if applicable(d, True) and not applicable(d, False))
