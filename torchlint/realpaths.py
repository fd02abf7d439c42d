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
