"""The fixer's properties on a real corpus, checked on a copy of it.

    python scripts/fix_corpus_check.py .venv/lib/python3.11/site-packages/torch
    python scripts/fix_corpus_check.py /some/tree --jobs 2 --sample 200

Every Python file of the corpus is copied, then fixed as ``torchlint fix --select ALL
--unsafe-fixes`` fixes it (same runner, same atomic writer). A file fails when:

- ``does-not-compile``: the fixed file no longer compiles (and the original did);
- ``not-stable``: a second fix would change it (``fix --diff`` would print something);
- ``diagnostic-left``: ``check`` afterwards reports other findings than ``fix`` said remain,
  or, for some rule, more than were found before minus those fixed;
- ``crash``: an internal error;
- ``too-long``: a line the fixes wrote is longer than the project's line length (ruff's or
  black's ``line-length``, else 88) and was not in the file before (one count per line).

Prints the counts and each failure; exits 1 if anything failed. ``tests/test_fix_corpus.py``
runs the same checks on a small corpus of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from torchlint.config import Settings, build_settings
from torchlint.diagnostics import Diagnostic
from torchlint.engine import lint_source
from torchlint.fixer import fix_source
from torchlint.registry import selected_rules
from torchlint.sourcefile import SourceError, read_source, write_source
from torchlint.wrap import line_length

KINDS = ("does-not-compile", "not-stable", "diagnostic-left", "crash", "too-long")


@dataclass
class FileReport:
    path: str
    fixed: int = 0
    warnings: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)


def python_files(root: Path) -> Iterator[Path]:
    for directory, names, files in os.walk(root):
        names[:] = sorted(n for n in names if n not in {"__pycache__", ".git"})
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory) / name


def _compiles(text: str, path: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(text, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


def check_file(copy: Path, display: str, settings: Settings) -> FileReport:
    """Fix ``copy`` in place and check the properties."""
    report = FileReport(display)
    try:
        source = read_source(copy)
    except SourceError:
        return report  # not text we can read: torchlint reports it, nothing to fix
    rules = selected_rules(settings.selected_codes)
    before = Counter(d.code for d in lint_source(display, source.text, settings, rules).diagnostics)
    first = fix_source(display, source.text, settings, rules, unsafe=True)
    report.fixed, report.warnings = first.fixed, len(first.warnings)
    report.failures.extend(("crash", error) for error in first.errors if "internal error" in error)
    if first.source == source.text:
        return report
    write_source(source, first.source)
    written = read_source(copy).text
    limit, old_lines = line_length(settings), set(source.text.splitlines())
    for number, line in enumerate(written.splitlines(), 1):
        if len(line) > limit and line not in old_lines:
            report.failures.append(("too-long", f"line {number}: {len(line)} > {limit}"))
    if _compiles(source.text, display) and not _compiles(written, display):
        report.failures.append(("does-not-compile", "the fixed file does not compile"))
        return report
    second = fix_source(display, written, settings, rules, unsafe=True)
    if second.source != written:
        report.failures.append(("not-stable", f"a second fix changes it ({second.fixed} fixes)"))
    found = lint_source(display, written, settings, rules).diagnostics
    if {_key(d) for d in found} != {_key(d) for d in first.remaining}:
        report.failures.append(("diagnostic-left", "check reports other findings than fix left"))
    after = Counter(d.code for d in found)
    for code, fixed in sorted(first.fixed_codes.items()):
        if after[code] > max(before[code] - fixed, 0):
            detail = f"{code}: {before[code]} found, {fixed} fixed, {after[code]} left"
            report.failures.append(("diagnostic-left", detail))
    return report


def _key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    return (diagnostic.code, diagnostic.start_offset, diagnostic.end_offset)


_state: tuple[Path, Path, Settings] | None = None


def _init(source_root: Path, copy_root: Path, settings: Settings) -> None:
    global _state
    _state = (source_root, copy_root, settings)


def _work(relative: str) -> FileReport:
    assert _state is not None
    _, copy_root, settings = _state
    return check_file(copy_root / relative, relative, settings)


def run(corpus: Path, files: Iterable[Path], jobs: int) -> list[FileReport]:
    """Copy ``files`` (under ``corpus``) to a temporary tree and check each."""
    # rooted at the corpus: its formatter settings give the line length fixes keep to
    settings = replace(build_settings(None, select=["ALL"], unsafe_fixes=True), root=corpus)
    with tempfile.TemporaryDirectory(prefix="torchlint-fix-corpus-") as temporary:
        copy_root = Path(temporary)
        relatives = []
        for path in files:
            relative = path.relative_to(corpus).as_posix()
            target = copy_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            relatives.append(relative)
        if jobs <= 1:
            _init(corpus, copy_root, settings)
            return [_work(r) for r in relatives]
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with context.Pool(jobs, _init, (corpus, copy_root, settings)) as pool:
            return pool.map(_work, relatives, chunksize=8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=0, help="only every Nth file (0: all)")
    args = parser.parse_args(argv)
    failed = False
    for corpus in args.corpus:
        files = list(python_files(corpus))
        if args.sample:
            files = files[:: max(1, len(files) // args.sample)]
        reports = run(corpus, files, args.jobs)
        counts = Counter(kind for r in reports for kind, _ in r.failures)
        changed = sum(1 for r in reports if r.fixed)
        print(
            f"{corpus}: {len(reports)} files, {changed} fixed ({sum(r.fixed for r in reports)} "
            f"fixes), {sum(r.warnings for r in reports)} fixes held back; "
            + ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)
        )
        for report in reports:
            for kind, detail in report.failures:
                print(f"  {kind}: {report.path}: {detail}")
        failed |= bool(counts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
