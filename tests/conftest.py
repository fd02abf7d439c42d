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


# On by default until round 2026-12-07d moved them out (README, Precision). The end-to-end
# tests of output, fixes and settings were written with their diagnostics: they keep them
# selected, as a project's `extend-select` would, and test the selection itself elsewhere.
FORMER_DEFAULTS = "TL101,TL201,TL301,TL601,TL602,TL610,TL612,TL701,TL702,TL905"


def with_former_defaults(args: tuple[str, ...] | list[str]) -> list[str]:
    """``check``/``fix`` arguments with ``--extend-select FORMER_DEFAULTS`` after the command,
    unless they choose the rules themselves (``--select``) or only print settings."""
    args = list(args)
    if not args or args[0] not in ("check", "fix"):
        return args
    if any(a == "--select" or a.startswith("--select=") for a in args):
        return args
    if "--show-settings" in args or "--show-files" in args:
        return args
    return [args[0], "--extend-select", FORMER_DEFAULTS, *args[1:]]


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run `python -m torchlint ARGS` in a subprocess, in ``tmp_path`` unless told otherwise."""

    def run(*args: str, cwd: Path | None = None, stdin: str | bytes | None = None, env=None):
        environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
        args = with_former_defaults(args)
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
