"""The runner's small pieces: how many workers "all CPUs" is, and what `[*]` hides."""

from __future__ import annotations

import os

import pytest

from torchlint import runner
from torchlint.diagnostics import Applicability, Diagnostic, Fix, Location
from torchlint.runner import default_jobs, unsafe_fix_count


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
