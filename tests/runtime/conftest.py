"""Shared set-up for the torchlint.runtime tests (real torch, CPU; CUDA tests skip without one)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture(autouse=True)
def _no_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TORCHLINT_DEVICE set in the developer's shell must not change what the tests see."""
    monkeypatch.delenv("TORCHLINT_DEVICE", raising=False)
