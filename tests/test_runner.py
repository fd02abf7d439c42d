"""The runner: one file (check, fix, diff, the size limit), many files (order, cache, notes)
and worker processes; how many workers "all CPUs" is, and what `[*]` hides."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sys
import types
from pathlib import Path

import pytest

from tests.test_project import INFERENCE_DECORATOR, PREDICT_WITH_HELPER
from torchlint import runner, timing
from torchlint.cache import Cache, content_digest
from torchlint.config import Settings, build_settings
from torchlint.dependencies import undeclared_note
from torchlint.diagnostics import Applicability, Diagnostic, Fix, Location
from torchlint.notebook import NotebookSource
from torchlint.project.index import ProjectIndex
from torchlint.runner import (
    FileOutcome,
    Mode,
    default_jobs,
    process_file,
    process_source,
    process_stdin,
    run,
    unified_diff,
    unsafe_fix_count,
)
from torchlint.sourcefile import SourceFile, read_source


@pytest.mark.parametrize(("cpus", "expected"), [(6, 6), (None, 1)])
def test_default_jobs_asks_python_313_for_the_usable_cpus(
    monkeypatch, cpus: int | None, expected: int
) -> None:
    monkeypatch.setattr(os, "process_cpu_count", lambda: cpus, raising=False)
    assert default_jobs() == expected


@pytest.mark.parametrize(("affinity", "expected"), [({0, 2, 5}, 3), (set(), 1)])
def test_default_jobs_counts_the_affinity_before_python_313(
    monkeypatch, affinity: set[int], expected: int
) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    own = {0: affinity}  # pid 0: this process (another process may run on all 64 CPUs)
    monkeypatch.setattr(
        os, "sched_getaffinity", lambda pid: own.get(pid, set(range(64))), raising=False
    )
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert default_jobs() == expected


@pytest.mark.parametrize(("cpus", "expected"), [(4, 4), (None, 1)])
def test_default_jobs_falls_back_to_all_cpus(monkeypatch, cpus: int | None, expected: int) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert default_jobs() == expected


def _diagnostic(applicability: Applicability | None) -> Diagnostic:
    at = Location(1, 1)
    fix = None if applicability is None else Fix(applicability, (), "fix")
    return Diagnostic("a.py", at, at, "TL999", "test", "test", fix)


def test_unsafe_fix_count_counts_only_what_unsafe_fixes_would_add() -> None:
    found = [_diagnostic(a) for a in (*Applicability, None, Applicability.UNSAFE)]
    assert unsafe_fix_count(found) == 2
    assert runner.unsafe_fix_count([]) == 0


# --- one file: process_source, process_file, process_stdin ----------------------------------

CODES = ["TL201", "TL701", "TL404"]
# TL201 and TL701 have unsafe fixes (TL201's imports torchlint.runtime); TL404 has none.
FIXABLE = """\
import torch
net = model.cuda()
x = torch.load('a.pt')
probs = torch.softmax(logits)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
"""
FIXED = """\
import torch
from torchlint.runtime import best_device
device = best_device()
net = model.to(device)
x = torch.load('a.pt', weights_only=True)
probs = torch.softmax(logits)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
"""
UNFIXABLE = "import torch\nprobs = torch.softmax(logits)\n"
FIX = Mode(fix=True, unsafe=True)


def _settings(**table: object) -> Settings:
    # a declared torch range before 2.6: TL701 reports a missing `weights_only`
    return build_settings(None, table={"select": CODES, "target-version": "2.1", **table})


def _codes(diagnostics: list[Diagnostic]) -> list[tuple[str, int, str]]:
    return [(Path(d.path).name, d.start.line, d.code) for d in diagnostics]


def _source(path: Path, text: str) -> SourceFile:
    path.write_text(text)
    return read_source(path)


def test_mode_defaults_to_check_and_writes_what_it_fixes() -> None:
    assert Mode() == Mode(fix=False, write=True, unsafe=False)
    assert hash(Mode()) == hash(Mode())  # frozen: the same for every worker


def test_check_reports_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    outcome = process_source("a.py", _source(path, FIXABLE), _settings(), Mode())
    assert _codes(outcome.diagnostics) == [("a.py", 2, "TL201"), ("a.py", 3, "TL701"),
                                           ("a.py", 4, "TL404")]  # fmt: skip
    assert (outcome.fixed, outcome.adds_runtime, outcome.fixed_source) == (0, False, None)
    assert (outcome.errors, outcome.warnings, outcome.diff) == ([], [], "")
    assert path.read_text() == FIXABLE


def test_fix_writes_the_file_and_reports_what_remains(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    outcome = process_source("a.py", _source(path, FIXABLE), _settings(), FIX)
    assert path.read_text() == FIXED == outcome.fixed_source
    assert (outcome.fixed, outcome.adds_runtime, outcome.diff) == (2, True, "")
    assert _codes(outcome.diagnostics) == [("a.py", 6, "TL404")]
    assert outcome.errors == outcome.warnings == []


def test_fix_of_a_clean_file_does_not_write_it(tmp_path: Path, monkeypatch) -> None:
    def refuse(source: SourceFile, text: str) -> None:
        raise AssertionError("written")

    monkeypatch.setattr(runner, "write_source", refuse)
    source = _source(tmp_path / "a.py", UNFIXABLE)
    outcome = process_source("a.py", source, _settings(), FIX)
    assert (outcome.fixed, outcome.fixed_source, outcome.adds_runtime) == (0, UNFIXABLE, False)
    assert _codes(outcome.diagnostics) == [("a.py", 2, "TL404")]


def test_fix_without_write_keeps_a_diff(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    outcome = process_source("a.py", _source(path, FIXABLE), _settings(), Mode(True, False, True))
    assert path.read_text() == FIXABLE
    assert outcome.diff == unified_diff("a.py", FIXABLE, FIXED)
    assert outcome.fixed == 2


def test_a_failed_write_undoes_the_count_and_reports_the_file_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    source = _source(path, FIXABLE)
    path.write_text(FIXABLE + "y = 1\n")  # changed since it was read
    outcome = process_source("a.py", source, _settings(), FIX)
    assert outcome.errors == [f"{path}: changed while torchlint was fixing it; not written"]
    assert outcome.fixed == 0
    assert _codes(outcome.diagnostics) == [("a.py", 2, "TL201"), ("a.py", 3, "TL701"),
                                           ("a.py", 4, "TL404")]  # fmt: skip


def test_a_fix_whose_result_is_refused_keeps_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner._PythonSource, "update", lambda self, index, text: False)
    path = tmp_path / "a.py"
    outcome = process_source("a.py", _source(path, FIXABLE), _settings(), FIX)
    assert outcome.errors == [
        "a.py: internal error: a fix moved a cell boundary or an IPython line; the notebook "
        "was left as it was"
    ]
    assert outcome.fixed == 0
    assert path.read_text() == FIXABLE
    assert [d.code for d in outcome.diagnostics] == ["TL201", "TL701", "TL404"]


def test_errors_are_reported_once_and_fix_warnings_kept(tmp_path: Path, monkeypatch) -> None:
    real_lint, real_fix = runner.lint_source, runner.fix_source

    def lint(*args, **kwargs):
        found = real_lint(*args, **kwargs)
        found.errors += ["a.py: boom", "a.py: boom"]
        return found

    def fix(*args, **kwargs):
        fixed = real_fix(*args, **kwargs)
        fixed.errors += ["a.py: boom"]
        fixed.warnings += ["a.py: held back"]
        return fixed

    monkeypatch.setattr(runner, "lint_source", lint)
    monkeypatch.setattr(runner, "fix_source", fix)
    source = _source(tmp_path / "a.py", UNFIXABLE)
    checked = process_source("a.py", source, _settings(), Mode())
    assert checked.errors == ["a.py: boom"]
    fixed = process_source("a.py", source, _settings(), FIX)
    assert (fixed.errors, fixed.warnings) == (["a.py: boom"], ["a.py: held back"])


def test_diagnostics_of_a_file_are_sorted(tmp_path: Path, monkeypatch) -> None:
    real_lint = runner.lint_source

    def lint(*args, **kwargs):
        found = real_lint(*args, **kwargs)
        found.diagnostics.reverse()
        return found

    monkeypatch.setattr(runner, "lint_source", lint)
    source = _source(tmp_path / "a.py", FIXABLE)
    outcome = process_source("a.py", source, _settings(), Mode())
    assert [d.start.line for d in outcome.diagnostics] == [2, 3, 4]


def test_check_applies_no_fix_not_even_a_safe_one(tmp_path: Path) -> None:
    source = _source(tmp_path / "a.py", "import torch\ntorch.nn.init.normal(w)\n")
    outcome = process_source("a.py", source, build_settings(None, select=["TL606"]), Mode())
    assert [(d.code, d.fix_applies(False)) for d in outcome.diagnostics] == [("TL606", True)]
    assert outcome.fixed == 0


def test_files_over_max_file_size_are_not_checked(tmp_path: Path) -> None:
    settings = _settings(**{"max-file-size": 1})
    exact = FIXABLE + "#" * (1023 - len(FIXABLE)) + "\n"  # 1024 bytes: checked
    outcome = process_source("a.py", _source(tmp_path / "a.py", exact), settings, Mode())
    assert (len(exact), len(outcome.diagnostics), outcome.warnings) == (1024, 3, [])
    over = exact + "\n"
    outcome = process_source("a.py", _source(tmp_path / "a.py", over), settings, Mode())
    assert (outcome.diagnostics, len(outcome.warnings)) == ([], 1)
    big = FIXABLE + "#" * (2560 - len(FIXABLE)) + "\n"  # 2561 bytes: 2.5 KiB, shown as 3
    outcome = process_source("a.py", _source(tmp_path / "a.py", big), settings, Mode())
    assert outcome.warnings == [
        "a.py: not checked: 3 KiB is more than `max-file-size` (1 KiB); exclude the file, "
        "or raise the limit"
    ]
    unlimited = _settings(**{"max-file-size": 0})
    outcome = process_source("a.py", _source(tmp_path / "a.py", big), unlimited, Mode())
    assert (len(outcome.diagnostics), outcome.warnings) == (3, [])


def _notebook(code: str, outputs: str = "") -> str:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "source": code,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": outputs}]}  # fmt: skip
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_is_measured_by_its_code(tmp_path: Path) -> None:
    settings = _settings(**{"max-file-size": 1})
    path = tmp_path / "a.ipynb"
    outputs = _notebook(FIXABLE, "x" * 5000)
    outcome = process_source("a.ipynb", _source(path, outputs), settings, Mode())
    assert (len(outcome.diagnostics), outcome.warnings) == (3, [])
    code = FIXABLE + "#"
    size = sum(len(m.encode()) for m in NotebookSource("a.ipynb", _notebook(code)).modules)
    code += "#" * (1024 - size)  # the notebook's code is 1024 bytes: checked
    outcome = process_source("a.ipynb", _source(path, _notebook(code)), settings, Mode())
    assert (len(outcome.diagnostics), outcome.warnings) == (3, [])
    outcome = process_source("a.ipynb", _source(path, _notebook(code + "#")), settings, Mode())
    assert outcome.diagnostics == []
    assert outcome.warnings == [
        "a.ipynb: not checked: 1 KiB of code is more than `max-file-size` (1 KiB); exclude "
        "the file, or raise the limit"
    ]


def test_a_broken_notebook_is_an_error(tmp_path: Path) -> None:
    source = _source(tmp_path / "a.ipynb", "{not json")
    outcome = process_source("a.ipynb", source, _settings(), Mode())
    assert outcome.diagnostics == []
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith("a.ipynb: ")


def test_process_file_reads_the_file_and_records_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(FIXABLE)
    outcome = process_file(path, _settings(), Mode())
    assert outcome.path == path.as_posix()
    assert (len(outcome.diagnostics), outcome.digest) == (3, content_digest(FIXABLE.encode()))
    missing = process_file(tmp_path / "missing.py", _settings(), Mode())
    assert missing.errors == [f"{tmp_path / 'missing.py'}: no such file"]
    assert (missing.diagnostics, missing.fixed, missing.adds_runtime) == ([], 0, False)


# A project decorator that turns autograd off, and a file that uses it.
INFERENCE = INFERENCE_DECORATOR
PREDICT = PREDICT_WITH_HELPER.replace("from .helpers", "from utils")


def test_process_file_with_an_index_records_what_it_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "utils.py").write_text(INFERENCE)
    (tmp_path / "run.py").write_text(PREDICT)
    settings = build_settings(None, select=["TL303"])
    alone = process_file(tmp_path / "run.py", settings, Mode())
    assert ([d.code for d in alone.diagnostics], alone.dependencies) == (["TL303"], ())
    outcome = process_file(tmp_path / "run.py", settings, Mode(), ProjectIndex())
    assert outcome.diagnostics == []
    assert ("file", str(tmp_path / "utils.py"), content_digest(INFERENCE.encode())) in (
        outcome.dependencies
    )


def test_run_gives_the_roots_to_the_project_index(tmp_path: Path) -> None:
    (tmp_path / "utils.py").write_text(INFERENCE)
    (tmp_path / "run.py").write_text(PREDICT)
    settings = build_settings(None, select=["TL303"])
    paths = [tmp_path / "run.py"]
    assert [d.code for d in run(paths, settings, Mode()).diagnostics] == ["TL303"]
    assert run(paths, settings, Mode(), roots=[tmp_path]).diagnostics == []


def test_process_stdin_never_writes_the_file_it_is_named_after(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text("old = 1\n")
    outcome = process_stdin(FIXABLE.encode(), str(path), _settings(), Mode(True, True, True))
    assert path.read_text() == "old = 1\n"
    assert (outcome.fixed_source, outcome.errors) == (FIXED, [])
    assert outcome.diff == unified_diff(str(path), FIXABLE, FIXED)
    assert process_stdin(b"\x00", "a.py", _settings(), Mode()).errors == [
        "a.py: not a text file (contains NUL bytes)"
    ]


def test_unified_diff_names_relative_and_absolute_paths() -> None:
    assert unified_diff("a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n") == (
        "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 2\n+y = 3\n"
    )
    assert (
        unified_diff("/t/a.py", "x\n", "y\n") == "--- /t/a.py\n+++ /t/a.py\n@@ -1 +1 @@\n-x\n+y\n"
    )


# --- many files: run ---------------------------------------------------------------------------


def test_run_collects_every_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text(FIXABLE)
    (tmp_path / "a.py").write_text(UNFIXABLE)
    (tmp_path / "big.py").write_text(UNFIXABLE + "#" * 2000 + "\n")
    paths = [tmp_path / n for n in ("b.py", "missing.py", "big.py", "a.py")]
    result = run(paths, _settings(**{"max-file-size": 1}), Mode())
    assert _codes(result.diagnostics) == [("a.py", 2, "TL404"), ("b.py", 2, "TL201"),
                                          ("b.py", 3, "TL701"), ("b.py", 4, "TL404")]  # fmt: skip
    assert result.errors == [f"{tmp_path / 'missing.py'}: no such file"]
    assert [w.split(":")[0] for w in result.warnings] == [(tmp_path / "big.py").as_posix()]
    assert (result.fixed, result.diffs, result.adds_runtime, result.notes) == (0, [], False, [])


def test_run_fix_counts_and_diffs(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.torchlint]\nselect = {CODES!r}\ntarget-version = "2.1"\n'
    )
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(FIXABLE)
    settings = build_settings(tmp_path / "pyproject.toml")
    paths = [tmp_path / "a.py", tmp_path / "b.py"]
    result = run(paths, settings, Mode(True, False, True))
    assert (result.fixed, len(result.diffs), result.adds_runtime) == (4, 2, True)
    assert result.diffs[0].startswith(f"--- {tmp_path / 'a.py'}")
    assert result.notes == [undeclared_note(tmp_path)]
    (tmp_path / "requirements.txt").write_text("torchlint\n")
    assert run(paths, settings, Mode(True, False, True)).notes == []


def _count_processed(monkeypatch) -> list[str]:
    processed: list[str] = []
    real = runner.process_file

    def process(path: Path, *args) -> FileOutcome:
        processed.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(runner, "process_file", process)
    return processed


def test_run_with_a_cache(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "dirty.py").write_text(FIXABLE)
    (tmp_path / "clean.py").write_text("x = 1\n")
    (tmp_path / "big.py").write_text(UNFIXABLE + "#" * 2000 + "\n")
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")  # not utf-8: an error
    names = ["big.py", "clean.py", "dirty.py", "latin.py", "missing.py"]
    paths = [tmp_path / n for n in names]
    settings = _settings(**{"max-file-size": 1})
    cache = Cache(tmp_path / "cache", settings)
    processed = _count_processed(monkeypatch)
    first = run(paths, settings, Mode(), cache=cache)
    assert processed == names
    # A fix that is only shown (a diff) stores nothing: the files did not change.
    processed.clear()
    assert run(paths, settings, Mode(True, False, True), cache=cache).fixed == 2
    # `check` takes what was stored; what was not checked (errors, warnings) is again.
    processed.clear()
    second = run(paths, settings, Mode(), cache=cache)
    assert processed == ["big.py", "latin.py", "missing.py"]
    assert (second.diagnostics, second.errors, second.warnings) == (
        first.diagnostics, first.errors, first.warnings)  # fmt: skip
    # `fix` skips only the files known to be clean.
    processed.clear()
    fixed = run(paths, settings, Mode(True, False, True), cache=cache)
    assert processed == ["big.py", "dirty.py", "latin.py", "missing.py"]
    assert fixed.fixed == 2


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_reports_each_measured_second_once(tmp_path: Path, monkeypatch, jobs: int) -> None:
    """Worker processes included: a forked worker does not report the parent's share again."""
    clock = itertools.count()  # each reading of the clock one second later
    monkeypatch.setattr(timing, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(timing, "TIMER", timing.Timer())
    paths = _files(tmp_path, 8)
    settings = _settings()
    result = run(paths, settings, Mode(), jobs=jobs, cache=Cache(tmp_path / "c", settings))
    assert (result.timings["cache: look up"], result.timings["read and decode"]) == (8, 8)


# --- worker processes ----------------------------------------------------------------------------


class _Pool:
    """Stands in for ProcessPoolExecutor: records how it was made, works in this process."""

    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        self.made.append(kwargs)
        self.settings, self.mode, *_ = kwargs["initargs"]

    def map(self, work, paths, chunksize: int):
        return (process_file(path, self.settings, self.mode) for path in paths)

    def shutdown(self, wait: bool, cancel_futures: bool) -> None:
        pass


def _files(root: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = root / f"m{n}.py"
        path.write_text(FIXABLE + "#" * n * 10 + "\n" if n % 2 else "x = 1\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("files", "jobs", "workers"),
    [(8, 1, None), (8, 2, 2), (7, 2, None), (12, 2, 2), (12, 3, 3), (12, None, 3), (8, None, 2)],
)
def test_jobs_and_files_decide_the_workers(
    tmp_path: Path, monkeypatch, files: int, jobs: int | None, workers: int | None
) -> None:
    """At least four files a worker, up to ``jobs`` workers (None: the CPUs); one is none."""
    monkeypatch.setattr(_Pool, "made", [])
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _Pool)
    monkeypatch.setattr(runner, "default_jobs", lambda: 3)
    paths = _files(tmp_path, files)
    expected = run(paths, _settings(), Mode(), jobs=1)
    assert run(paths, _settings(), Mode(), jobs=jobs).diagnostics == expected.diagnostics
    assert [p["max_workers"] for p in _Pool.made] == ([] if workers is None else [workers])
    outcomes = runner._process_all(paths, _settings(), Mode(), jobs)
    assert [outcome.path for outcome in outcomes] == [path.as_posix() for path in paths]


def test_run_uses_one_process_unless_told(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(_Pool, "made", [])
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _Pool)
    run(_files(tmp_path, 12), _settings(), Mode())
    assert _Pool.made == []


def test_workers_give_the_same_result_in_the_same_order(tmp_path: Path) -> None:
    paths = _files(tmp_path, 9)
    alone = run(paths, _settings(), Mode(), jobs=1)
    together = run(paths, _settings(), Mode(), jobs=2)
    assert together.diagnostics == alone.diagnostics
    assert [d.path for d in together.diagnostics] == [p.as_posix() for p in paths[1::2]
                                                      for _ in range(3)]  # fmt: skip
    assert multiprocessing.active_children() == []  # the workers are gone


def test_a_worker_that_dies_fails_only_the_files_it_left(tmp_path: Path, monkeypatch) -> None:
    paths = _files(tmp_path, 8)
    paths[7].write_text(FIXABLE + "#" * 5000)  # the largest: handed out first
    real = runner.process_file

    def process(path: Path, *args) -> FileOutcome:
        if path == paths[7]:
            os._exit(1)
        return real(path, *args)

    monkeypatch.setattr(runner, "process_file", process)
    result = run(paths, _settings(), Mode(), jobs=2)
    died = f"{paths[7].as_posix()}: internal error: a worker process died"
    assert died in result.errors
    assert len(result.errors) == len({e.split(":")[0] for e in result.errors})
    assert all(e.endswith("a worker process died") for e in result.errors)


def test_a_worker_ignores_ctrl_c_and_lints_with_what_it_was_given(
    tmp_path: Path, monkeypatch
) -> None:
    ignored: list[bool] = []
    monkeypatch.setattr(runner, "ignore_interrupts", lambda: ignored.append(True))
    monkeypatch.setattr(runner, "_worker_state", None)
    runner._init_worker(_settings(), Mode(), (None, (tmp_path,)))
    assert ignored == [True]
    (tmp_path / "a.py").write_text(FIXABLE)
    assert len(runner._work(tmp_path / "a.py").diagnostics) == 3


def test_workers_are_forked_on_linux(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert runner._context().get_start_method() == "fork"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert runner._context().get_start_method() == "spawn"
