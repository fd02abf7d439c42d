"""The real path of a file, resolved once per process.

``Path.resolve`` asks the file system about every directory on the way (in pure Python), and
one run needs each file's real path several times: its cache entry, its settings (per-file
ignores, test code) and its project. Remembered with the working directory it was resolved
from, since a relative path means another file after a ``chdir``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def real_path(path: Path) -> Path:
    """``path`` with symlinks resolved, absolute; as absolute as it gets when it cannot be
    resolved (a symlink loop)."""
    return _real_path(path, "" if path.is_absolute() else os.getcwd())


@lru_cache(maxsize=16384)
def _real_path(path: Path, cwd: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def real_text(path: str) -> str | None:
    """``str(real_path(Path(path)))`` for a POSIX path string, without building a ``Path``
    (each one costs more than the question): the real path of its directory, remembered per
    directory, and its name. None where that could differ: not POSIX, or a name that is a
    symlink, ``.`` or ``..``."""
    if os.name != "posix":
        return None
    directory, name = os.path.split(path)
    if name in ("", ".", "..") or os.path.islink(path):
        return None
    real = _real_directory(directory or ".", "" if path.startswith("/") else os.getcwd())
    return os.path.join(real, name)


@lru_cache(maxsize=4096)
def _real_directory(directory: str, cwd: str) -> str:
    return str(_real_path(Path(directory), cwd))
