"""Run per-file work on a thread with a large stack, so deeply nested code cannot crash us.

libcst's native parser recurses on the C stack: a few thousand nested operators (``a and a
and ...``, ``- - - 1``) overflow the default 8 MiB stack and kill the whole process with a
segmentation fault, and libcst's code generation and our own walkers recurse in Python. Work
done through :func:`call_deep` runs on one long-lived thread whose stack is large enough for
anything CPython itself can compile, with a recursion limit to match; a ``RecursionError``
that still happens is the caller's to report as one line. Nested calls run in place.
"""

from __future__ import annotations

import contextvars
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

STACK_SIZE = 256 * 1024 * 1024  # virtual; only the pages actually used are committed
RECURSION_LIMIT = 60_000
INTERRUPT_GRACE = 30.0  # seconds an interrupted call waits for its job to end

_local = threading.local()
_lock = threading.Lock()
_active = 0  # calls in progress, all threads together
_saved_limit = 0


class _Worker:
    """The deep-stack thread of this process, serving calls one at a time."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        previous = threading.stack_size(STACK_SIZE)
        try:
            thread = threading.Thread(target=self._serve, name="torchlint-deep", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)

    def _serve(self) -> None:
        _local.deep = True
        while True:
            func, args, kwargs, box, done = self.jobs.get()
            try:
                box["value"] = func(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = error
            finally:
                done.release()


_worker: _Worker | None = None
_unavailable = False  # this platform cannot give threads a large stack


def _get_worker() -> _Worker | None:
    global _worker, _unavailable
    with _lock:
        if _worker is None or _worker.pid != os.getpid():
            if _unavailable:
                return None
            try:
                _worker = _Worker()
            except (ValueError, RuntimeError):  # stack size refused, or no thread to be had
                _unavailable = True
                return None
        return _worker


def _after_fork_in_child() -> None:
    global _lock, _worker, _active
    _lock = threading.Lock()
    _worker = None  # the parent's thread does not exist here
    if _active:
        sys.setrecursionlimit(_saved_limit)
        _active = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _raise_limit() -> None:
    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
        _active += 1


def _restore_limit() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            sys.setrecursionlimit(_saved_limit)


def call_deep(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` on the large-stack thread; exceptions reach the caller."""
    if getattr(_local, "deep", False):
        return func(*args, **kwargs)
    worker = _get_worker()
    if worker is None:
        return func(*args, **kwargs)
    box: dict[str, Any] = {}
    done = threading.Lock()
    done.acquire()
    _raise_limit()
    try:
        # The caller's context variables (the active project index) go along.
        run = contextvars.copy_context().run
        worker.jobs.put((run, (func, *args), kwargs, box, done))
        try:
            done.acquire()
        except KeyboardInterrupt:
            # Let the job end first (a second Ctrl-C does not wait): a thread still inside
            # libcst's native code when the interpreter exits makes the process abort. A job
            # that has filled ``box`` has ended (the interrupt came after ``done`` was taken,
            # or just before it is released): waiting for ``done`` again would wait in vain.
            if not box:
                done.acquire(timeout=INTERRUPT_GRACE)
            raise
    finally:
        _restore_limit()
    if "error" in box:
        error = box.pop("error")
        try:
            raise error
        finally:
            del error
    return box["value"]
