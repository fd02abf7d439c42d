"""A project with no configuration is told, once, which headline checks did not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint import opt_in
from torchlint.registry import rule_by_code

TRAINING = (
    "import torch\n"
    "model = torch.nn.Sequential(torch.nn.Dropout(0.5))\n"
    "checkpoint = torch.load('model.pt')\n"
)


def lint(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`torchlint check` as a user types it (the `run_cli` fixture adds a selection)."""
    return subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--no-cache", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )


def test_unconfigured_project_hears_which_checks_are_opt_in(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')  # no [tool.torchlint]
    done = lint(tmp_path)
    lines = done.stderr.splitlines()
    assert lines[-1] == "All checks passed!"  # the verdict stays the last line
    assert lines[-2].startswith("Note: no torchlint configuration found")
    assert "`--extend-select TL101,TL201,TL301`" in lines[-2]  # TL701 is on by default
    assert done.returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--extend-select", "TL301"),
        ("--select", "TL607"),
        ("--ignore", "TL607"),
        ("--output-format", "json"),
        ("--output-format", "github"),
        ("--quiet",),
    ],
)
def test_a_choice_or_a_machine_format_gets_no_note(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    assert "Note:" not in lint(tmp_path, *args).stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("torchlint.toml", "extend-select = []\n"),
        ("pyproject.toml", "[tool.torchlint]\n"),
    ],
)
def test_a_configuration_file_is_a_choice(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAINING)
    done = lint(tmp_path / "src")  # the config is found above the linted directory
    assert "Note:" not in done.stderr
    assert done.stderr.splitlines()[-1] == "All checks passed!"


def test_the_note_names_exactly_the_headline_checks_that_are_off_by_default() -> None:
    """A headline check that joins the default set leaves the note; one that leaves it joins."""
    text = opt_in.note([None], chose_rules=False, output_format="full")
    for code in opt_in.HEADLINE_CHECKS:
        assert (f"{code} (" in text) is not rule_by_code(code).default, code
