"""Fuzzing on real code: a deterministic sample of the stdlib and of the installed torch.

Each sampled file is linted and fixed (all rules, unsafe fixes too) into a copy: no crash, no
internal error, the result parses, fixing again changes nothing. ``scripts/fuzz_corpus.py``
runs the same checks over every file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = 40
MAX_BYTES = 120_000  # keeps the sample fast; the full script has no such limit

_spec = importlib.util.spec_from_file_location("fuzz_corpus", REPO / "scripts" / "fuzz_corpus.py")
assert _spec and _spec.loader
fuzz_corpus = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_corpus"] = fuzz_corpus
_spec.loader.exec_module(fuzz_corpus)

# Invalid on purpose in the stdlib's own test data: each must give TL000 or a clean decode error.
INVALID_STDLIB_FILES = (
    "lib2to3/tests/data/bom.py",
    "lib2to3/tests/data/crlf.py",
    "lib2to3/tests/data/different_encoding.py",
    "lib2to3/tests/data/false_encoding.py",
    "lib2to3/tests/data/py2_test_grammar.py",
    "test/tokenizedata/badsyntax_3131.py",
    "test/tokenizedata/bad_coding.py",
    "test/tokenizedata/bad_coding2.py",
    "test/tokenizedata/badsyntax_pep3120.py",
)


def _assert_clean(reports: list) -> None:
    failures = [f"{r.path}: {kind}: {detail}" for r in reports for kind, detail in r.failures]
    assert not failures, "\n".join(failures)


def _fuzz_sample(root: Path) -> list:
    files = fuzz_corpus.sample(fuzz_corpus.corpus_files(root), root, SAMPLE, MAX_BYTES)
    assert len(files) == SAMPLE
    return list(fuzz_corpus.fuzz(files, jobs=1, timeout=60))


def test_stdlib_sample() -> None:
    _assert_clean(_fuzz_sample(fuzz_corpus.stdlib_root()))


def test_torch_sample() -> None:
    root = fuzz_corpus.torch_root()  # found without importing torch
    if root is None:
        pytest.skip("torch is not installed")
    reports = _fuzz_sample(root)
    _assert_clean(reports)


def test_invalid_stdlib_files_give_tl000_or_a_clean_error(run_cli) -> None:
    root = fuzz_corpus.stdlib_root()
    files = [root / name for name in INVALID_STDLIB_FILES if (root / name).is_file()]
    if not files:
        pytest.skip("this Python installation has no invalid test data")
    reports = list(fuzz_corpus.fuzz(files, jobs=1, timeout=60))
    _assert_clean(reports)
    assert all(r.syntax_error or r.undecodable for r in reports)
    assert any(r.syntax_error for r in reports)

    completed = run_cli("check", "--select", "ALL", "--output-format", "concise", *map(str, files))
    stdout, stderr = completed.stdout.decode(), completed.stderr.decode()
    assert "Traceback" not in stdout + stderr
    assert completed.returncode == (2 if any(r.undecodable for r in reports) else 1)
    for report in reports:
        if report.syntax_error and "lib2to3" in str(report.path):
            # Python 2 test data: not checked (said on stderr and in the summary), not TL000
            assert f"{report.path}:" not in stdout
            assert f"{report.path}: not checked: Python 2 code (" in stderr
        elif report.syntax_error:
            assert f"{report.path}:" in stdout and "TL000" in stdout
        else:
            assert f"{report.path}: " in stderr


def test_fuzz_reports_failures(tmp_path: Path) -> None:
    """The harness itself notices a file torchlint gets wrong (here: a crash in the engine)."""
    path = tmp_path / "example.py"
    path.write_text("import torch\nx = torch.load('a.pt')\n")
    settings = fuzz_corpus.fuzz_settings()
    report = fuzz_corpus.fuzz_file(path, settings, tmp_path)
    assert not report.failures and report.diagnostics and report.fixes

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    original = fuzz_corpus.fix_source
    fuzz_corpus.fix_source = broken
    try:
        report = fuzz_corpus.fuzz_file(path, settings, tmp_path)
    finally:
        fuzz_corpus.fix_source = original
    assert [kind for kind, _ in report.failures] == ["crash"]
    assert "boom" in report.failures[0][1]
