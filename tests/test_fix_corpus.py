"""The fixer's corpus properties (scripts/fix_corpus_check.py) on a small corpus made here:
the training fixtures and every rule's invalid examples, as files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from torchlint.registry import all_rules
from torchlint.rules.base import Invalid

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "fix_corpus_check", REPO / "scripts" / "fix_corpus_check.py"
)
assert _spec and _spec.loader
fix_corpus_check = importlib.util.module_from_spec(_spec)
sys.modules["fix_corpus_check"] = fix_corpus_check
_spec.loader.exec_module(fix_corpus_check)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for fixture in sorted((REPO / "tests" / "fixtures").rglob("*.py")):
        (root / fixture.name).write_text(fixture.read_text(encoding="utf-8"), encoding="utf-8")
    for rule in all_rules():
        for index, example in enumerate(rule.examples):
            if isinstance(example, Invalid) and not example.settings:
                (root / f"{rule.code}_{index}.py").write_text(example.code, encoding="utf-8")
    return root


def test_sample_corpus_keeps_every_property(corpus: Path) -> None:
    files = list(fix_corpus_check.python_files(corpus))
    reports = fix_corpus_check.run(corpus, files, jobs=1)
    assert len(reports) == len(files) > 100
    assert sum(r.fixed for r in reports) > 50  # the corpus exercises the fixes
    assert [(r.path, r.failures) for r in reports if r.failures] == []
    assert all(path.read_text(encoding="utf-8") for path in files)  # the original is untouched


def test_an_unstable_fix_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    real = fix_corpus_check.fix_source

    def growing(path, source, *args, **kwargs):
        outcome = real(path, source, *args, **kwargs)
        outcome.source = source + "y = 2\n"
        outcome.fixed = 1
        return outcome

    monkeypatch.setattr(fix_corpus_check, "fix_source", growing)
    [report] = fix_corpus_check.run(tmp_path, [tmp_path / "a.py"], jobs=1)
    assert [kind for kind, _ in report.failures] == ["not-stable"]
    assert (tmp_path / "a.py").read_text() == "x = 1\n"


def test_a_fix_that_breaks_the_file_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    real = fix_corpus_check.fix_source

    def breaking(path, source, *args, **kwargs):
        outcome = real(path, source, *args, **kwargs)
        outcome.source = "x = (\n"
        return outcome

    monkeypatch.setattr(fix_corpus_check, "fix_source", breaking)
    [report] = fix_corpus_check.run(tmp_path, [tmp_path / "a.py"], jobs=1)
    assert [kind for kind, _ in report.failures] == ["does-not-compile"]
