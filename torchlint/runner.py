"""Runs the engine (or the fixer) over many files and collects what the CLI reports.

``process_file`` is the unit of work: one path in, one picklable ``FileOutcome`` out, so it
can run in a worker process. Each process holds one project index (``torchlint.project``),
active while its files are linted; what a file's answers read from other files comes back
in ``FileOutcome.dependencies`` and is stored with its cached result.
"""

from __future__ import annotations

import difflib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from torchlint import collector, timing
from torchlint.cache import content_digest
from torchlint.config import Resolver, Settings
from torchlint.dependencies import adds_runtime_import, declares_torchlint, undeclared_note
from torchlint.diagnostics import Diagnostic
from torchlint.engine import OverLimit, code_over_limits, lint_source
from torchlint.fixer import fix_source
from torchlint.interrupts import deferred_interrupts, ignore_interrupts
from torchlint.not_checked import (
    NotChecked,
    chained_too_long,
    larger_than_max_file_size,
    nested_too_deeply,
    python_2,
    too_costly_to_parse,
)
from torchlint.notebook import NotebookError, NotebookSource, is_notebook
from torchlint.project import using
from torchlint.project.index import ProjectIndex
from torchlint.registry import selected_rules
from torchlint.sourcefile import SourceError, SourceFile, decode_source, read_source, write_source

if TYPE_CHECKING:
    from torchlint.cache import Cache


@dataclass(frozen=True)
class Mode:
    fix: bool = False  # apply fixes
    write: bool = True  # write fixed files back (False: --diff or stdin)
    unsafe: bool | None = False  # None: each file's settings (`unsafe-fixes`) decide


@dataclass
class FileOutcome:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixed: int = 0
    adds_runtime: bool = False  # the fixes made the file import torchlint.runtime
    diff: str = ""
    fixed_source: str | None = None
    digest: str | None = None  # content_digest of the bytes that were linted (cache key)
    dependencies: tuple[tuple[str, str, str], ...] = ()  # what it read of other files
    timings: dict[str, float] = field(default_factory=dict)  # TORCHLINT_TIMING: seconds per part
    not_checked: NotChecked | None = None  # skipped: over `max-file-size`, `max-nesting`, ...


@dataclass
class RunResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixed: int = 0
    diffs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once, in the summary
    adds_runtime: bool = False
    unsafe_fixes: bool = False  # were unsafe fixes enabled (what `[*]` and the summary count)
    timings: dict[str, float] = field(default_factory=dict)  # TORCHLINT_TIMING: seconds per part
    not_checked: list[NotChecked] = field(default_factory=list)  # skipped: over a limit

    def add(self, outcome: FileOutcome) -> None:
        self.diagnostics.extend(outcome.diagnostics)
        if outcome.not_checked is not None:
            self.not_checked.append(outcome.not_checked)
        self.errors.extend(outcome.errors)
        self.warnings.extend(outcome.warnings)
        self.fixed += outcome.fixed
        self.adds_runtime |= outcome.adds_runtime
        timing.merge(self.timings, outcome.timings)
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


class _PythonSource:
    """A ``.py`` file as the runner lints and fixes it: one module, its own text."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.original = path, text
        self.modules = [text]
        self._text = text

    def located(self, index: int, text: str, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        return diagnostics

    def update(self, index: int, text: str) -> bool:
        self._text = text
        return True

    def text(self) -> str:
        return self._text

    def diff(self) -> str:
        return unified_diff(self.path, self.original, self._text)


def process_source(
    display_path: str,
    source: SourceFile,
    settings: Settings,
    mode: Mode,
    *,
    notebook: bool | None = None,
) -> FileOutcome:
    """Lint or fix one decoded file: a Python file, or a notebook's code cells (each
    virtual module of them linted and fixed as a file is, then put back into its cells).
    ``notebook``: whether it is one (the editor knows; a notebook's URI need not end in
    ``.ipynb``); None: by its name."""
    outcome = FileOutcome(display_path)
    if notebook is None:
        notebook = is_notebook(display_path)
    try:
        parts: _PythonSource | NotebookSource = (
            NotebookSource(display_path, source.text)
            if notebook
            else _PythonSource(display_path, source.text)
        )
    except NotebookError as error:
        outcome.errors.append(str(error))
        return outcome
    # A notebook's size is mostly its outputs (images): its code is what libcst reads.
    # The nesting and the parse's memory are estimated before the parse: libcst's memory
    # grows with the tokens and their depth.
    over = code_over_limits(
        parts.modules,
        settings,
        size=None if notebook else len(source.raw),
        of_code=notebook,
    )
    if over is not None:
        return _not_checked(outcome, over)
    rules = selected_rules(settings.selected_codes)
    for index, text in enumerate(parts.modules):
        if not mode.fix:
            found = lint_source(display_path, text, settings, rules)
            outcome.diagnostics.extend(parts.located(index, text, found.diagnostics))
            outcome.errors.extend(e for e in found.errors if e not in outcome.errors)
            continue
        unsafe = settings.unsafe_fixes if mode.unsafe is None else mode.unsafe
        fixed = fix_source(display_path, text, settings, rules, unsafe=unsafe)
        outcome.errors.extend(e for e in fixed.errors if e not in outcome.errors)
        outcome.warnings.extend(fixed.warnings)
        if fixed.fixed and not parts.update(index, fixed.source):
            outcome.errors.append(
                f"{display_path}: internal error: a fix moved a cell boundary or an IPython "
                "line; the notebook was left as it was"
            )
            found = lint_source(display_path, text, settings, rules)
            outcome.diagnostics.extend(parts.located(index, text, found.diagnostics))
            continue
        outcome.fixed += fixed.fixed
        outcome.diagnostics.extend(parts.located(index, fixed.source, fixed.remaining))
    outcome.diagnostics.sort(key=lambda d: d.sort_key)
    if not mode.fix:
        return outcome
    return record_fix(
        outcome,
        source,
        parts.text(),
        mode,
        diff=parts.diff,
        relint=lambda: (
            process_source(display_path, source, settings, Mode(), notebook=notebook).diagnostics
        ),
    )


def _not_checked(outcome: FileOutcome, over: OverLimit) -> FileOutcome:
    """The file is not parsed (`max-file-size`, `max-nesting`, `max-parse-memory`, Python 2): one
    warning says so, and the summary; ``not_checked.why`` is the line for the editor, as for
    a Python buffer."""
    if over.setting == "max-file-size":
        outcome.not_checked = larger_than_max_file_size(outcome.path, over.why())
        advice = ""
    elif over.setting == "python-2":
        outcome.not_checked = python_2(outcome.path, over.why())
        outcome.warnings.append(f"{outcome.path}: {over.why()}; exclude the file, or port it")
        return outcome
    elif over.setting == "operator-chain":
        outcome.not_checked = chained_too_long(outcome.path, over.limit, over.why())
        outcome.warnings.append(f"{outcome.path}: {over.why()}; exclude the file")
        return outcome
    elif over.setting == "max-parse-memory":
        outcome.not_checked = too_costly_to_parse(outcome.path, over.limit, over.why())
        advice = ", where the parser's memory grows with the tokens and their bracket depth"
    else:
        outcome.not_checked = nested_too_deeply(outcome.path, over.limit, over.why())
        advice = ", where the parser's memory grows with the depth"
    outcome.warnings.append(
        f"{outcome.path}: {over.why()}{advice}; exclude the file, or raise the limit"
    )
    return outcome


def record_fix(
    outcome: FileOutcome,
    source: SourceFile,
    text: str,
    mode: Mode,
    *,
    diff: Callable[[], str],
    relint: Callable[[], list[Diagnostic]],
) -> FileOutcome:
    """Write the fixed ``text`` back, or keep its ``diff``. A failed write undoes the count,
    and the diagnostics become ``relint()``'s: those of the file as it still is."""
    outcome.fixed_source = text
    outcome.adds_runtime = adds_runtime_import(source.text, text)
    if text != source.text:
        if mode.write:
            try:
                write_source(source, text)
            except SourceError as error:
                outcome.errors.append(str(error))
                outcome.fixed = 0
                outcome.diagnostics = relint()
        else:
            outcome.diff = diff()
    return outcome


def process_file(
    path: Path, settings: Settings, mode: Mode, index: ProjectIndex | None = None
) -> FileOutcome:
    """Lint or fix one file; with an ``index``, its rules see the rest of its project."""
    with collector.one_file():
        return _process_file(path, settings, mode, index)


def _process_file(
    path: Path, settings: Settings, mode: Mode, index: ProjectIndex | None
) -> FileOutcome:
    display = path.as_posix()
    try:
        source = timing.measure("read and decode", read_source, path)
    except SourceError as error:
        return FileOutcome(display, errors=[str(error)], timings=timing.take())
    if index is None:
        outcome = process_source(display, source, settings, mode)
    else:
        with using(index), index.recording() as recorded:
            outcome = process_source(display, source, settings, mode)
        outcome.dependencies = recorded[0]
    outcome.digest = content_digest(source.raw)
    outcome.timings = timing.take()
    return outcome


def process_stdin(data: bytes, filename: str, settings: Settings, mode: Mode) -> FileOutcome:
    try:
        source = decode_source(data, Path(filename))
    except SourceError as error:
        return FileOutcome(filename, errors=[str(error)])
    return process_source(filename, source, settings, Mode(mode.fix, False, mode.unsafe))


def default_jobs() -> int:
    """The CPUs this process may use."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def run(
    paths: Sequence[Path],
    settings: Settings,
    mode: Mode,
    *,
    jobs: int | None = 1,
    cache: Cache | None = None,
    roots: Sequence[Path] = (),
    resolver: Resolver | None = None,
) -> RunResult:
    """Lint or fix ``paths`` with ``jobs`` processes (None: all CPUs).

    The result is the same whatever the number of jobs. With a ``cache``, `check` takes
    unchanged files' diagnostics from it and stores the others'; `fix` only skips files the
    cache knows to have no diagnostics at all (nothing to fix) and lints the rest again. A
    cached result is used only while the other files it read (through the project index)
    are unchanged. ``roots`` are the directories named on the command line: a file with no
    ``pyproject.toml`` or ``.git`` above it belongs to the project of the one that holds it.
    With a ``resolver``, each file is linted with its own settings (its nearest config);
    without, every file with ``settings``. A bad config of any file is raised (ConfigError)
    before anything is linted.
    """
    project = ProjectIndex(cache_dir=cache.directory if cache is not None else None, roots=roots)
    own = [resolver.for_file(path) for path in paths] if resolver is not None else None
    outcomes: list[FileOutcome | None] = [None] * len(paths)
    todo: list[int] = []
    for index, path in enumerate(paths):
        each = own[index] if own is not None else settings
        hit = _cached(path, cache, project, each) if cache is not None else None
        if hit is not None and (not mode.fix or not hit):
            outcomes[index] = FileOutcome(path.as_posix(), diagnostics=hit)
        else:
            todo.append(index)
    work = [paths[index] for index in todo]
    done = _process_all(work, settings, mode, jobs, project, resolver)
    for index, outcome in zip(todo, done, strict=True):
        outcomes[index] = outcome
        # A file not checked (errors, or a warning such as `max-file-size`) is not cached:
        # the next run says so again.
        cached = outcome.digest and not outcome.errors and not outcome.warnings
        if cache is not None and not mode.fix and cached:
            each = own[index] if own is not None else settings
            key = cache.key(paths[index], outcome.digest, each)
            cache.put(key, outcome.diagnostics, outcome.dependencies)
    result = RunResult()
    undeclared: list[Path] = []  # the roots of projects whose fixed code needs torchlint
    for index, outcome in enumerate(outcomes):
        result.add(outcome)  # type: ignore[arg-type]
        root = (own[index] if own is not None else settings).root
        if outcome.adds_runtime and root not in undeclared:  # type: ignore[union-attr]
            undeclared.append(root)
    timing.merge(result.timings, timing.take())  # this process's own share: the cache
    for root in undeclared:
        if not declares_torchlint(root):
            result.notes.append(undeclared_note(root))
    return result.finish()


def _cached(
    path: Path, cache: Cache, project: ProjectIndex, settings: Settings
) -> list[Diagnostic] | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None  # the engine reports it
    key = cache.key(path, content_digest(raw), settings)
    return timing.measure("cache: look up", cache.get, key, project.still_valid)


# --- Parallel execution -----------------------------------------------------------------

_MIN_FILES_PER_WORKER = 4  # below this, starting processes costs more than it saves
_worker_state: tuple[Settings, Mode, ProjectIndex, Resolver | None] | None = None


def _init_worker(
    settings: Settings,
    mode: Mode,
    project: tuple[Path | None, tuple[Path, ...]],
    resolver: Resolver | None = None,
) -> None:
    """Runs once in each worker: the settings arrive once, not with every file, and the
    worker builds its own project index (the summaries' disk cache is shared)."""
    global _worker_state
    ignore_interrupts()
    timing.take()  # a forked worker's copy of what the parent measured is the parent's to report
    cache_dir, roots = project
    _worker_state = (settings, mode, ProjectIndex(cache_dir=cache_dir, roots=roots), resolver)


def _work(path: Path) -> FileOutcome:
    assert _worker_state is not None
    settings, mode, project, resolver = _worker_state
    return process_file(path, _own(path, settings, resolver), mode, project)


def _own(path: Path, settings: Settings, resolver: Resolver | None) -> Settings:
    return resolver.for_file(path) if resolver is not None else settings


def _process_all(
    paths: Sequence[Path],
    settings: Settings,
    mode: Mode,
    jobs: int | None,
    project: ProjectIndex | None = None,
    resolver: Resolver | None = None,
) -> Iterator[FileOutcome]:
    """Outcomes of ``paths``, in their order, from up to ``jobs`` processes."""
    project = project if project is not None else ProjectIndex()
    workers = min(jobs or default_jobs(), len(paths) // _MIN_FILES_PER_WORKER)
    if workers <= 1:
        for path in paths:
            yield process_file(path, _own(path, settings, resolver), mode, project)
        return
    # Largest files first, handed out a few at a time: no worker is left with a long tail.
    order = sorted(range(len(paths)), key=lambda i: -_size(paths[i]))
    chunksize = max(1, min(8, len(paths) // (workers * 32)))
    results: list[FileOutcome | None] = [None] * len(paths)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_context(),
        initializer=_init_worker,
        initargs=(settings, mode, project.options(), resolver),
    )
    try:
        done = 0
        try:
            with deferred_interrupts():  # workers are forked with Ctrl-C held, then ignore it
                outcomes = pool.map(_work, [paths[i] for i in order], chunksize=chunksize)
            for done, outcome in enumerate(outcomes, start=1):
                results[order[done - 1]] = outcome
        except BrokenProcessPool:
            for i in order[done:]:
                if results[i] is None:
                    display = paths[i].as_posix()
                    results[i] = FileOutcome(
                        display, errors=[f"{display}: internal error: a worker process died"]
                    )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    yield from results  # type: ignore[misc]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _context() -> multiprocessing.context.BaseContext:
    """fork where it is safe and cheap (Linux: workers inherit the imported rules), else spawn."""
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def unsafe_fix_count(diagnostics: Sequence[Diagnostic]) -> int:
    """How many remaining diagnostics `--unsafe-fixes` would fix."""
    return sum(1 for d in diagnostics if d.fix_applies(True) and not d.fix_applies(False))
