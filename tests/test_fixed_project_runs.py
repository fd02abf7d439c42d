"""Fixed code runs, and keeps the device its author chose.

A small project of the usual shape (a script that takes ``--device``, helpers that have no
device of their own, a notebook that picks one in a cell) is fixed with ``--unsafe-fixes``,
then the fixed training and evaluation run a few steps on the CPU with ``TORCHLINT_DEVICE``
set to something else (``meta``) and torch claiming a GPU: ``best_device()`` and the
plain-PyTorch selection would pick those, so the script's choice wins only if the fixes used
it. Both fix styles: the runtime helpers and plain PyTorch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("torch")

PROJECT = REPO / "tests" / "fixtures" / "device_project"
LINE_LENGTH = 88
PYPROJECT = """\
[tool.torchlint]
extend-select = ["TL201", "TL202", "TL601", "TL701", "TL703"]
runtime-helpers = {helpers}
"""


def _fixed_project(tmp_path: Path, run_cli, helpers: bool) -> Path:
    shutil.copytree(PROJECT, tmp_path / "project")
    root = tmp_path / "project"
    (root / "pyproject.toml").write_text(
        PYPROJECT.format(helpers="true" if helpers else "false"), encoding="utf-8"
    )
    done = run_cli("fix", "--unsafe-fixes", ".", cwd=root)
    assert done.returncode in (0, 1), done.stderr.decode()
    assert b"internal error" not in done.stderr, done.stderr.decode()
    return root


# A stand-in for a GPU machine run with `--device cpu`: torch says CUDA is there, so a
# plain-PyTorch selection (`"cuda" if torch.cuda.is_available() else "cpu"`) picks it.
FAKE_GPU = "import torch\ntorch.cuda.is_available = lambda: True\n"


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    site = root / "fake_gpu"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(FAKE_GPU, encoding="utf-8")
    environment = {
        **os.environ,
        "TORCHLINT_DEVICE": "meta",  # what best_device() would pick: the script must win
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=root, capture_output=True, text=True, env=environment,
        timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("helpers", [True, False], ids=["runtime-helpers", "plain-pytorch"])
def test_fixed_training_and_evaluation_run_on_the_scripts_device(
    tmp_path: Path, run_cli, helpers: bool
) -> None:
    root = _fixed_project(tmp_path, run_cli, helpers)
    script = (root / "train.py").read_text(encoding="utf-8")
    assert ".cuda(" not in script and "torch.cuda.amp" not in script, script

    first = _run(root, "train.py", "--device", "cpu", "--amp")
    assert first.returncode == 0, script + first.stderr
    assert "probe cpu" in first.stdout, first.stdout
    resumed = _run(root, "train.py", "--device", "cpu", "--resume", "model.pt")
    assert resumed.returncode == 0, script + resumed.stderr

    # the notebook's cells, run in order as a kernel would
    notebook = json.loads((root / "explore.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(".cuda(" not in cell for cell in cells), cells
    (root / "cells.py").write_text("\n".join(cells) + "\n", encoding="utf-8")
    ran = _run(root, "cells.py")
    assert ran.returncode == 0, "\n".join(cells) + ran.stderr
    assert ran.stdout.strip() == "cpu"


@pytest.mark.parametrize("helpers", [True, False], ids=["runtime-helpers", "plain-pytorch"])
def test_fixed_script_reads_like_a_persons_edit(tmp_path: Path, run_cli, helpers: bool) -> None:
    root = _fixed_project(tmp_path, run_cli, helpers)
    script = (root / "train.py").read_text(encoding="utf-8")
    original = (PROJECT / "train.py").read_text(encoding="utf-8").splitlines()
    # helpers given a model use its device, bound once at their top
    assert "def evaluate(model, loader):\n    device = next(model.parameters()).device\n" in (
        script
    )
    assert "            images = images.to(device, non_blocking=True)\n" in script
    # a helper with neither gets the device from its only caller, which passes its own
    assert "def make_probe(size, device):" in script
    assert "model(make_probe(2, device=device))" in script
    # AMP on the device in scope, the resumed checkpoint mapped onto it
    assert "torch.amp.autocast(device.type, enabled=use_amp)" in script
    assert "torch.amp.GradScaler(device.type, enabled=args.amp)" in script
    assert "torch.load(args.resume, weights_only=True, map_location=device)" in script
    # no selection of another device anywhere in the script, and none shadowed
    assert "best_device()" not in script
    assert 'torch.device("cuda" if' not in script
    # no line the fixes wrote is longer than the project's limit
    too_long = [
        line for line in script.splitlines() if len(line) > LINE_LENGTH and line not in original
    ]
    assert too_long == []
