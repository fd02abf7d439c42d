"""Ctrl-C at safe points only: a block that must finish (a file's write, starting worker
processes) holds SIGINT and delivers it when it ends."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Run the block with SIGINT held; a Ctrl-C received meanwhile is raised at its end.

    Outside the main thread (where Python cannot change handlers) the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)  # to the handler that was there before


def ignore_interrupts() -> None:
    """For worker processes: Ctrl-C is the parent's to handle (it stops handing out work)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
