"""Fuzz torchlint on real code: lint and fix (into a copy) every Python file of a corpus.

    python scripts/fuzz_corpus.py                      # the stdlib and the installed torch
    python scripts/fuzz_corpus.py --corpus stdlib --sample 40
    python scripts/fuzz_corpus.py --corpus /some/tree --jobs 4 --failures failures.txt

Every file is linted and fixed with all rules and all fixes (``--select ALL --unsafe-fixes``),
and a copy cut off two thirds of the way through (mostly invalid code) is linted too.
The fixed text is written to a copy through the same atomic writer ``torchlint fix`` uses, read
back, and fixed again. A file fails when torchlint raises (a crash), reports an internal error,
writes a result that does not parse (or does not decode to what was fixed), changes the file
on the second fix (not idempotent), misses a syntax error CPython reports (no TL000), reports
one CPython does not (spurious TL000), or takes longer than ``--timeout`` seconds.

Prints the counts and every failure; exits 1 if anything failed. ``tests/test_fuzz_corpus.py``
runs the same checks over a small deterministic sample.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import multiprocessing
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from torchlint.config import Settings, build_settings
from torchlint.engine import SYNTAX_ERROR_CODE, lint_source
from torchlint.fixer import fix_source
from torchlint.registry import selected_rules
from torchlint.sourcefile import SourceError, read_source, write_source

SUFFIXES = (".py", ".pyi")
LIBCST_LIMITATION = "torchlint's parser (libcst) cannot read"
FAILURE_KINDS = (
    "crash",
    "internal-error",
    "unparsable",
    "not-idempotent",
    "missing-TL000",
    "spurious-TL000",
    "timeout",
)


class _Timeout(Exception):
    pass


@dataclass
class FileReport:
    path: str
    diagnostics: int = 0
    fixes: int = 0
    variant: bool = False  # also checked with `import torch` appended (files without torch)
    variant_diagnostics: int = 0
    variant_fixes: int = 0
    syntax_error: bool = False  # the file is invalid Python (CPython says so) and got TL000
    undecodable: bool = False  # a clean one-line "cannot decode" error, as the CLI reports
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, detail)
    notes: list[str] = field(default_factory=list)  # not failures: libcst limitations, newer syntax


@dataclass
class Totals:
    files: int = 0
    diagnostics: int = 0
    fixes: int = 0
    fixed_files: int = 0
    variants: int = 0
    variant_diagnostics: int = 0
    variant_fixes: int = 0
    syntax_errors: int = 0
    undecodable: int = 0
    failures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_KINDS, 0))
    failed: list[FileReport] = field(default_factory=list)
    noted: list[FileReport] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)

    def add(self, report: FileReport) -> None:
        self.files += 1
        self.diagnostics += report.diagnostics
        self.fixes += report.fixes
        self.fixed_files += bool(report.fixes)
        self.variants += report.variant
        self.variant_diagnostics += report.variant_diagnostics
        self.variant_fixes += report.variant_fixes
        self.syntax_errors += report.syntax_error
        self.undecodable += report.undecodable
        for kind in {kind for kind, _ in report.failures}:
            self.failures[kind] += 1
        if report.failures:
            self.failed.append(report)
        if report.notes:
            self.noted.append(report)
        self.slowest = sorted([*self.slowest, (report.seconds, report.path)], reverse=True)[:5]

    @property
    def ok(self) -> bool:
        return not self.failed


# --- corpora -------------------------------------------------------------------------------


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def torch_root() -> Path | None:
    """The installed torch package, located without importing it."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def corpus_files(root: Path) -> list[Path]:
    """Every Python file under ``root`` (site-packages and caches skipped), sorted."""
    files = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in {"site-packages", "__pycache__"})
        files.extend(Path(directory, n) for n in names if n.endswith(SUFFIXES))
    return sorted(files, key=lambda p: p.as_posix())


def sample(files: list[Path], root: Path, count: int, max_bytes: int | None = None) -> list[Path]:
    """A deterministic sample: the ``count`` files whose relative paths hash lowest."""

    def key(path: Path) -> str:
        return hashlib.sha256(path.relative_to(root).as_posix().encode()).hexdigest()

    if max_bytes is not None:
        files = [f for f in files if f.stat().st_size <= max_bytes]
    return sorted(sorted(files, key=key)[:count], key=lambda p: p.as_posix())


# --- the checks ----------------------------------------------------------------------------


def fuzz_settings() -> Settings:
    return build_settings(None, select=["ALL"], unsafe_fixes=True)


def _python_syntax_error(text: str) -> str | None:
    """CPython's verdict: the error message, or None if the text parses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as error:
        return f"{error.msg} (line {error.lineno})"
    except (RecursionError, MemoryError, ValueError) as error:
        return f"{type(error).__name__}"
    return None


def _parses(text: str, python: bool = True) -> str | None:
    """Why ``text`` is not valid Python for libcst (and CPython, if ``python``), or None."""
    try:
        cst.parse_module(text)
    except Exception as error:  # noqa: BLE001 - any libcst failure is the finding
        return f"libcst: {type(error).__name__}: {' '.join(str(error).split())[:200]}"
    return _python_syntax_error(text) if python else None


def fuzz_file(path: Path, settings: Settings, scratch: Path, timeout: float = 0) -> FileReport:
    """Lint ``path``, fix a copy of it in ``scratch``, re-check the copy; never raises."""
    report = FileReport(path.as_posix())
    start = time.perf_counter()
    alarm = timeout > 0 and hasattr(signal, "SIGALRM")
    if alarm:
        signal.signal(signal.SIGALRM, _raise_timeout)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _check(path, settings, scratch, report)
    except _Timeout:
        report.failures.append(("timeout", f"more than {timeout:g} s"))
    except BaseException as error:  # the crash is what we are looking for
        if isinstance(error, KeyboardInterrupt):
            raise
        report.failures.append(("crash", _short_traceback(error)))
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    report.seconds = time.perf_counter() - start
    return report


def _raise_timeout(signum: int, frame: object) -> None:
    raise _Timeout


def _short_traceback(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)[-4:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]} [{where}]"


def _check_truncated(
    display: str, text: str, settings: Settings, rules: list, report: FileReport
) -> None:
    """The file cut off in the middle (mostly invalid code): a TL000, never a crash."""
    cut = text[: len(text) * 2 // 3]
    result = lint_source(display, cut, settings, rules)
    for error in result.errors:
        report.failures.append(("internal-error", f"(truncated copy) {error}"))
    if _python_syntax_error(cut) is None:
        return
    if not any(d.code == SYNTAX_ERROR_CODE for d in result.diagnostics):
        try:
            cst.parse_module(cut)
        except Exception:  # noqa: BLE001 - libcst rejects it: TL000 expected
            report.failures.append(("missing-TL000", "(truncated copy) no TL000"))


def _check(path: Path, settings: Settings, scratch: Path, report: FileReport) -> None:
    rules = selected_rules(settings.selected_codes)
    try:
        source = read_source(path)
    except SourceError:
        report.undecodable = True  # one clean line in the CLI; nothing to lint
        return
    display = path.as_posix()
    _check_truncated(display, source.text, settings, rules, report)
    report.diagnostics, report.fixes = _check_text(
        display, source.text, source.raw, path.suffix, settings, rules, scratch, report
    )
    if "torch" in source.text or report.failures or report.syntax_error or report.notes:
        return
    # Most rules only run where a word like `torch` appears: append an import so that every
    # rule walks this file too.
    text = source.text
    if text and not text.endswith(("\n", "\r")):
        text += "\r\n" if "\r\n" in text else "\n"
    text += "import torch\n"
    report.variant = True
    report.variant_diagnostics, report.variant_fixes = _check_text(
        f"{display} (+import torch)",
        text,
        source.encode(text),
        path.suffix,
        settings,
        rules,
        scratch,
        report,
    )


def _check_text(
    display: str,
    text: str,
    raw: bytes,
    suffix: str,
    settings: Settings,
    rules: list,
    scratch: Path,
    report: FileReport,
) -> tuple[int, int]:
    """Lint ``text``, fix a copy of ``raw``, fix it again; returns (diagnostics, fixes)."""
    python_error = _python_syntax_error(text)
    result = lint_source(display, text, settings, rules)
    for error in result.errors:
        report.failures.append(("internal-error", error))
    tl000 = next((d for d in result.diagnostics if d.code == SYNTAX_ERROR_CODE), None)
    if python_error is not None:
        if tl000 is not None:
            report.syntax_error = True
            return len(result.diagnostics), 0  # nothing to fix in a file that does not parse
        try:
            cst.parse_module(text)
        except Exception:  # noqa: BLE001 - libcst rejects it: TL000 expected
            report.failures.append(("missing-TL000", f"{display}: CPython: {python_error}"))
            return len(result.diagnostics), 0
        # Newer syntax than this CPython (libcst reads every version): lint it like any file.
        report.notes.append(f"newer syntax than this Python ({python_error}); linted")
    elif tl000 is not None:
        if tl000.message.startswith(LIBCST_LIMITATION):
            report.notes.append(f"libcst limitation, reported as TL000: {tl000.message}")
        else:
            report.failures.append(
                ("spurious-TL000", f"{display}:{tl000.start.line}: {tl000.message}")
            )
        return len(result.diagnostics), 0

    # Fix a copy through the same atomic writer `torchlint fix` uses.
    copy = scratch / f"{hashlib.sha256(display.encode()).hexdigest()[:16]}{suffix}"
    copy.write_bytes(raw)
    try:
        copied = read_source(copy)
        first = fix_source(display, copied.text, settings, rules, unsafe=True)
        for error in first.errors:
            if ("internal-error", error) not in report.failures:
                report.failures.append(("internal-error", error))
        if first.source == text:
            if first.fixed:
                report.failures.append(
                    ("not-idempotent", f"{display}: fixes applied but nothing changed")
                )
            return len(result.diagnostics), first.fixed
        write_source(copied, first.source)
        written = read_source(copy)
        if written.text != first.source:
            report.failures.append(
                ("unparsable", f"{display}: the written file does not decode to the fix")
            )
        elif problem := _parses(written.text, python=python_error is None):
            report.failures.append(("unparsable", f"{display}: {problem}"))
        else:
            second = fix_source(display, written.text, settings, rules, unsafe=True)
            for error in second.errors:
                if ("internal-error", error) not in report.failures:
                    report.failures.append(("internal-error", f"(second fix) {error}"))
            if second.source != written.text or second.fixed:
                codes = sorted({d.code for d in second.remaining if d.fix})
                report.failures.append(
                    (
                        "not-idempotent",
                        f"{display}: second fix changed {second.fixed} more; fixable: {codes}",
                    )
                )
        return len(result.diagnostics), first.fixed
    finally:
        copy.unlink(missing_ok=True)


# --- running -------------------------------------------------------------------------------

_worker_state: dict[str, object] = {}


def _init_worker(scratch: str, timeout: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_state.update(settings=fuzz_settings(), scratch=Path(scratch), timeout=timeout)


def _work(path: Path) -> FileReport:
    return fuzz_file(
        path,
        _worker_state["settings"],  # type: ignore[arg-type]
        _worker_state["scratch"],  # type: ignore[arg-type]
        _worker_state["timeout"],  # type: ignore[arg-type]
    )


def fuzz(files: Iterable[Path], jobs: int = 1, timeout: float = 0) -> Iterator[FileReport]:
    """Fuzz ``files``, in ``jobs`` processes; yields reports as they finish."""
    files = list(files)
    scratch = Path(tempfile.mkdtemp(prefix="torchlint-fuzz-"))
    try:
        if jobs <= 1:
            settings = fuzz_settings()
            for path in files:
                yield fuzz_file(path, settings, scratch, timeout)
            return
        context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with context.Pool(
            jobs, _init_worker, (str(scratch), timeout), maxtasksperchild=200
        ) as pool:
            yield from pool.imap_unordered(_work, files, chunksize=2)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_totals(name: str, totals: Totals, seconds: float, out=sys.stdout) -> None:
    failures = sum(totals.failures.values())
    out.write(
        f"{name}: {totals.files} files, {totals.diagnostics} diagnostics, "
        f"{totals.fixes} fixes applied in {totals.fixed_files} files, "
        f"{totals.syntax_errors} invalid files reported as TL000, "
        f"{totals.undecodable} undecodable, {seconds:.0f} s\n"
        f"  {totals.variants} files without torch, again with `import torch` appended: "
        f"{totals.variant_diagnostics} diagnostics, {totals.variant_fixes} fixes applied\n"
        f"  crashes: {totals.failures['crash']}, internal errors: "
        f"{totals.failures['internal-error']}, non-idempotent: {totals.failures['not-idempotent']}, "
        f"unparsable results: {totals.failures['unparsable']}, missing TL000: "
        f"{totals.failures['missing-TL000']}, spurious TL000: {totals.failures['spurious-TL000']}, "
        f"timeouts: {totals.failures['timeout']}  -> {'OK' if not failures else 'FAILED'}\n"
        f"  notes (not failures): {len(totals.noted)} files\n"
        f"  slowest: {', '.join(f'{Path(p).name} {s:.1f}s' for s, p in totals.slowest)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        action="append",
        help="stdlib, torch or a directory (repeatable; default: stdlib and torch)",
    )
    parser.add_argument("--sample", type=int, help="only this many files per corpus")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per file (0: none)")
    parser.add_argument("--failures", type=Path, help="also write every failure to this file")
    args = parser.parse_args(argv)

    corpora: list[tuple[str, Path]] = []
    for name in args.corpus or ["stdlib", "torch"]:
        if name == "stdlib":
            corpora.append((name, stdlib_root()))
        elif name == "torch":
            root = torch_root()
            if root is None:
                print("torch is not installed; skipping that corpus", file=sys.stderr)
                continue
            corpora.append((name, root))
        else:
            corpora.append((name, Path(name)))

    ok = True
    lines: list[str] = []
    for name, root in corpora:
        files = corpus_files(root)
        if args.sample:
            files = sample(files, root, args.sample)
        print(f"{name}: fuzzing {len(files)} files under {root} with {args.jobs} jobs", flush=True)
        totals = Totals()
        start = time.perf_counter()
        for report in fuzz(files, args.jobs, args.timeout):
            totals.add(report)
            for kind, detail in report.failures:
                line = f"{report.path}: {kind}: {detail}"
                lines.append(line)
                print(line, flush=True)
            for note in report.notes:
                print(f"{report.path}: note: {note}", flush=True)
        print_totals(name, totals, time.perf_counter() - start)
        ok = ok and totals.ok
    if args.failures:
        args.failures.write_text("".join(line + "\n" for line in sorted(lines)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
