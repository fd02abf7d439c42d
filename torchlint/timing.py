"""Where a run's time goes: ``TORCHLINT_TIMING=1`` (as ESLint's ``TIMING=1``).

The value also says how many rows the table shows: ``1`` (or any word) the ten most
expensive, a number N above 1 that many, ``all`` every part measured.

The engine measures its phases (reading, parsing, walking the tree, locating diagnostics,
suppressions), each rule's visitors and each analysis (``context.fact``). Time is counted
once, in the innermost part running: an analysis a rule asks for is the analysis's time,
not the rule's. Each process collects its own; ``process_file`` hands a file's share back
with its outcome, so worker processes report too. Off (the default), nothing is measured
and the engine pays one ``None`` check per file and per fact.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
ENVIRONMENT_VARIABLE = "TORCHLINT_TIMING"
SHOWN = 10  # rows of the table (ESLint shows ten)


class Timer:
    """Seconds per label, each counted exclusive of the labels measured inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._inner: list[float] = []  # per open measurement: time spent in nested ones

    def measure(self, label: str, work: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        self._inner.append(0.0)
        try:
            return work(*args)
        finally:
            elapsed = time.perf_counter() - start
            inner = self._inner.pop()
            self.seconds[label] = self.seconds.get(label, 0.0) + elapsed - inner
            if self._inner:
                self._inner[-1] += elapsed

    def take(self) -> dict[str, float]:
        """What was measured since the last call (then start again from zero)."""
        taken, self.seconds = self.seconds, {}
        return taken


def rows_shown(value: str | None = None) -> int | None:
    """Rows of the table for a ``TORCHLINT_TIMING`` value: None shows every part."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "") if value is None else value
    if value.strip().lower() == "all":
        return None
    if value.strip().isdigit() and int(value) > 1:
        return int(value)
    return SHOWN


def _from_environment() -> Timer | None:
    value = os.environ.get(ENVIRONMENT_VARIABLE, "")
    return Timer() if value not in ("", "0") else None


# This process's timer; None when timing is off. Workers are forked or spawned with the
# same environment, so they agree with the main process.
TIMER: Timer | None = _from_environment()


def measure(label: str, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)``, timed under ``label`` when timing is on."""
    if TIMER is None:
        return work(*args)
    return TIMER.measure(label, work, *args)


def take() -> dict[str, float]:
    """This process's measurements since the last call ({} when timing is off)."""
    return TIMER.take() if TIMER is not None else {}


def merge(total: dict[str, float], part: Mapping[str, float]) -> None:
    for label, seconds in part.items():
        total[label] = total.get(label, 0.0) + seconds


def table(seconds: Mapping[str, float], shown: int | None = SHOWN) -> str:
    """The ``shown`` most expensive parts (None: all), with their share of all the time."""
    total = sum(seconds.values())
    rows = sorted(seconds.items(), key=lambda item: (-item[1], item[0]))[:shown]
    width = max((len(label) for label, _ in rows), default=0)
    width = max(width, len("Part"))
    lines = [f"{'Part':<{width}} | Time (ms) | Relative", f"{'':-<{width}}-|----------:|--------:"]
    lines += [
        f"{label:<{width}} | {1000 * value:9.1f} | {100 * value / total if total else 0:6.1f}%"
        for label, value in rows
    ]
    lines.append(f"{'total measured':<{width}} | {1000 * total:9.1f} | {100.0:6.1f}%")
    return "\n".join(lines) + "\n"
