"""Project-wide facts: what a file can learn about the other files of its project.

``summary.py`` reads one file into a small summary; ``index.py`` finds, caches and follows
summaries through imports. Whoever lints files (the runner, the language server) makes an
index active around the work with ``using(index)``; a rule reaches it through
``context.project`` (``FileContext``), never by opening a file itself. With no active
index (standard input, a library call) or for a file outside any project, ``context.project``
is None and the rules answer as they do from one file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchlint.project.index import ProjectIndex, ProjectView

_ACTIVE: ContextVar[ProjectIndex | None] = ContextVar("torchlint_project_index", default=None)


@contextlib.contextmanager
def using(index: ProjectIndex | None) -> Iterator[None]:
    """Make ``index`` the one the files linted inside the block see."""
    token = _ACTIVE.set(index)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> ProjectIndex | None:
    return _ACTIVE.get()


def view_for(path: str | Path) -> ProjectView | None:
    """The active index's view for ``path``, or None (no index, or outside any project)."""
    index = _ACTIVE.get()
    if index is None:
        return None
    with index.lock:
        return index.view(path)
