"""Ctrl-C is honoured promptly, and only where it cannot leave a file half-written."""

from __future__ import annotations

import signal
import threading
import types
from pathlib import Path

import pytest

from torchlint import deepstack, sourcefile
from torchlint.interrupts import deferred_interrupts
from torchlint.sourcefile import read_source, write_source


@pytest.fixture(autouse=True)
def _default_sigint_handler():
    """Python's own Ctrl-C handler, as in a terminal: a process started in the background by
    a non-interactive shell inherits SIGINT ignored, and these tests would not see it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class _RecordingLock:
    """A lock that remembers which acquires waited with a timeout."""

    timed: list[float] = []

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if timeout != -1:
            _RecordingLock.timed.append(timeout)
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


def test_interrupt_after_the_deep_job_ended_does_not_wait(monkeypatch) -> None:
    """The job ends, then the Ctrl-C is handled: nothing is left to wait for (it used to
    wait the whole grace period, 30 s, for a lock that had already been taken)."""
    deepstack.call_deep(int)  # the deep thread exists
    _RecordingLock.timed = []
    monkeypatch.setattr(deepstack, "INTERRUPT_GRACE", 0.01)
    monkeypatch.setattr(
        deepstack, "threading", types.SimpleNamespace(Lock=_RecordingLock, local=threading.local)
    )

    def job() -> int:
        # Raised on the deep thread: the main thread sees it once it runs again, after the
        # job released it.
        signal.raise_signal(signal.SIGINT)
        return 1

    with pytest.raises(KeyboardInterrupt):
        deepstack.call_deep(job)
    assert _RecordingLock.timed == []


def test_deferred_interrupt_is_raised_after_the_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt), deferred_interrupts():
        signal.raise_signal(signal.SIGINT)
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_a_write_waits_for_the_whole_file(tmp_path: Path, monkeypatch) -> None:
    """Even between creating the temporary file and renaming it: no partial file, no leftover."""
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    source = read_source(path)
    real_mkstemp = sourcefile.tempfile.mkstemp

    def mkstemp_then_ctrl_c(*args, **kwargs):
        created = real_mkstemp(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)  # lands right after the temporary file exists
        return created

    monkeypatch.setattr(sourcefile.tempfile, "mkstemp", mkstemp_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_source(source, "x = 2\n")
    assert path.read_text() == "x = 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]
