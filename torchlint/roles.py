"""File roles: is this file test code?

Tests use on purpose what the performance, portability and training rules warn about: a
tiny loader with no workers, a model wrapped in ``DataParallel`` to test unwrapping, a CUDA
device behind a skip marker. Rules declare whether they apply to test code
(``Rule.applies_to_tests``); the configuration says which files are tests (``test-code``).
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from pathlib import PurePosixPath

DEFAULT_TEST_CODE = ("tests/", "test/", "test_*.py", "*_test.py", "conftest.py")
"""A pattern ending in ``/`` names a directory anywhere in the path; any other pattern is
matched against the file name and the path relative to the project root."""


@lru_cache(maxsize=4096)
def is_test_code(relative_path: str, patterns: tuple[str, ...]) -> bool:
    """Whether the file at ``relative_path`` (posix, relative to the project root) is a test."""
    path = PurePosixPath(relative_path)
    directories = path.parts[:-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            name = pattern.rstrip("/")
            if any(fnmatch.fnmatchcase(part, name) for part in directories):
                return True
        elif fnmatch.fnmatchcase(path.name, pattern) or fnmatch.fnmatchcase(
            path.as_posix(), pattern
        ):
            return True
    return False
