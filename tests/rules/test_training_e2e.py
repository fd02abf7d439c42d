"""TL3 fixes checked by running the fixed code with real torch on the CPU.

tests/fixtures/training/e2e_broken.py prints one `name True/False` line per bug it suffers
from (dropout active in evaluation, training continuing in eval mode, a loss total that keeps
every graph, a "best" state_dict that is overwritten, a layer that was meant to be frozen,
...). After `torchlint fix --unsafe-fixes --select TL3` every line must say True.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "fixtures" / "training" / "e2e_broken.py"


def run_script(path: Path) -> dict[str, bool]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return {
        name: value == "True"
        for name, value in (line.split(" ", 1) for line in done.stdout.splitlines())
    }


@pytest.fixture(scope="module")
def broken() -> dict[str, bool]:
    return run_script(SCRIPT)


def test_the_broken_script_shows_every_bug(broken: dict[str, bool]) -> None:
    assert broken == {
        "train_mode_kept": False,  # TL302
        "grads_set_to_none": False,  # TL311
        "total_without_graph": False,  # TL305
        "snapshot_kept": False,  # TL310
        "frozen": False,  # TL312
        "checkpointed_layer_trained": True,  # (TL313 matters once the layer before is frozen)
        "deterministic": False,  # TL308 (F.dropout ignores eval(): TL301 stays silent)
        "no_graph": False,  # TL303
    }


@pytest.mark.parametrize("helpers", [True, False], ids=["runtime-helpers", "plain-pytorch"])
def test_fixed_script_has_none_of_the_bugs(tmp_path: Path, run_cli, helpers: bool) -> None:
    script = tmp_path / "train.py"
    shutil.copy(SCRIPT, script)
    if not helpers:
        (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nruntime-helpers = false\n")
    fixed = run_cli("fix", "--unsafe-fixes", "--select", "TL3", "train.py")
    assert fixed.returncode == 0, fixed.stdout.decode() + fixed.stderr.decode()
    source = script.read_text()
    assert ("evaluating(model)" in source) is helpers
    assert ("model.eval()\n    with torch.no_grad():" in source) is not helpers
    assert run_script(script) == dict.fromkeys(
        [
            "train_mode_kept",
            "grads_set_to_none",
            "total_without_graph",
            "snapshot_kept",
            "frozen",
            "checkpointed_layer_trained",
            "deterministic",
            "no_graph",
        ],
        True,
    )
    assert run_cli("check", "--select", "TL3", "train.py").returncode == 0


def test_use_reentrant_fix_is_what_keeps_the_checkpointed_layer_training(
    tmp_path: Path, run_cli
) -> None:
    """With the layer before the checkpoint frozen (TL312 fixed), the reentrant checkpoint
    gives the checkpointed layer no gradient at all; TL313's `use_reentrant=False` does."""
    script = tmp_path / "train.py"
    shutil.copy(SCRIPT, script)
    fixed = run_cli("fix", "--select", "TL312", "train.py")
    assert fixed.returncode == 0, fixed.stdout.decode() + fixed.stderr.decode()
    assert "use_reentrant" not in script.read_text()
    result = run_script(script)
    assert result["frozen"] is True
    assert result["checkpointed_layer_trained"] is False
