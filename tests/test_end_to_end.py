"""A script that fails on a CPU-only machine runs, with workers and deterministically, once fixed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
SCRIPT = Path(__file__).parent / "fixtures" / "e2e" / "train_script.py"
REPO = Path(__file__).resolve().parents[1]


def run_python(script: Path) -> subprocess.CompletedProcess[str]:
    # No GPU is visible, even on a machine that has one: the broken script must fail here.
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "TORCHLINT_DEVICE": "cpu",
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize("helpers", [True, False], ids=["runtime-helpers", "plain-pytorch"])
def test_fixed_script_runs_on_cpu(tmp_path: Path, run_cli, helpers: bool) -> None:
    script = tmp_path / "train.py"
    shutil.copy(SCRIPT, script)
    broken = run_python(script)
    assert broken.returncode != 0  # .cuda() on a machine without CUDA

    # a script meant to run anywhere: every hard-coded CUDA use is reported
    table = '[tool.torchlint]\nextend-select = ["TL201", "TL301"]\nportability = "strict"\n'
    if not helpers:
        table += "runtime-helpers = false\n"
    (tmp_path / "pyproject.toml").write_text(table)
    fixed = run_cli("fix", "--unsafe-fixes", "train.py")
    assert fixed.returncode == 0, fixed.stdout.decode() + fixed.stderr.decode()
    source = script.read_text()
    assert ".cuda()" not in source
    assert ("torchlint.runtime" in source) is helpers

    done = run_python(script)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert int(lines["workers"]) == 0  # computes per item, reads no file: TL101 is silent
    assert lines["deterministic"] == "True"
    assert run_cli("check", "train.py").returncode == 0
