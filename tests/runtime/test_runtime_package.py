"""The public surface of torchlint.runtime, and what importing it pulls in."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import torchlint.runtime

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_public_api() -> None:
    assert sorted(torchlint.runtime.__all__) == sorted(
        [
            "best_device",
            "to_device",
            "default_num_workers",
            "make_loader",
            "evaluating",
            "seed_everything",
            "ResidualBlock",
            "ResNet",
        ]
    )
    for name in torchlint.runtime.__all__:
        obj = getattr(torchlint.runtime, name)
        assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"


def test_import_does_not_pull_in_the_linter() -> None:
    code = (
        "import sys, torchlint.runtime; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'libcst', 'click'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
