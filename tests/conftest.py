"""Shared fixtures: a CLI runner that behaves like the installed `torchlint` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The settings select among the rules the registry hands them when it is imported
# (``config.use_rules``): tests that build settings without linting need it too.
import torchlint.registry  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run `python -m torchlint ARGS` in a subprocess, in ``tmp_path`` unless told otherwise."""

    def run(*args: str, cwd: Path | None = None, stdin: str | bytes | None = None, env=None):
        environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
        data = stdin.encode() if isinstance(stdin, str) else stdin
        return subprocess.run(
            [sys.executable, "-m", "torchlint", *args],
            cwd=cwd or tmp_path,
            input=data,
            capture_output=True,
            env=environment,
            timeout=300,
        )

    return run
