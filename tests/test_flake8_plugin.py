"""The flake8 plugin, run through real flake8 in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flake8")

REPO = Path(__file__).resolve().parents[1]
BAD = "import torch\n\nmodel = torch.nn.Linear(2, 2).cuda()\n"
OPT_IN = (  # TL101 and TL201 are opt-in
    '[tool.torchlint]\nextend-select = ["TL101", "TL201"]\nportability = "strict"\n'
)


def flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_findings_with_flake8_positions(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(OPT_IN)
    (tmp_path / "train.py").write_text(BAD)
    result = flake8("--select", "TL", "train.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "train.py:3:31: TL201 `.cuda()` fails on machines without CUDA; "
        "move to a selected device with `.to(...)`"
    ]


def test_clean_file_passes(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n\nmodel = torch.nn.Linear(2, 2)\n")
    result = flake8("--select", "TL", "train.py", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_noqa_is_honoured_by_flake8(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(OPT_IN)
    (tmp_path / "a.py").write_text(BAD.replace(".cuda()", ".cuda()  # noqa: TL201"))
    (tmp_path / "b.py").write_text(BAD.replace(".cuda()", ".cuda()  # noqa: TL101"))
    result = flake8("--select", "TL", "a.py", "b.py", cwd=tmp_path)
    found = [line.split(" ")[:2] for line in result.stdout.splitlines()]
    # b.py's noqa names another code: TL201 stays, and the noqa is reported as unused.
    assert found == [["b.py:3:31:", "TL201"], ["b.py:3:39:", "TL001"]]


def test_the_files_own_torchlint_settings_apply(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    (quiet / "pyproject.toml").write_text(OPT_IN + 'ignore = ["TL201"]\n')
    (quiet / "train.py").write_text(BAD)
    (tmp_path / "pyproject.toml").write_text(OPT_IN)
    (tmp_path / "train.py").write_text(BAD)
    result = flake8("--select", "TL", ".", cwd=tmp_path)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["./train.py"]


def _code_lines(text: str, pattern: str) -> list[tuple[str, str, int]]:
    found = []
    for line in text.splitlines():
        match = re.match(pattern, line)
        if match:
            found.append((Path(match["path"]).name, match["code"], int(match["line"])))
    return sorted(found)


def test_flake8_matches_torchlint_check_on_the_examples() -> None:
    flake = flake8("--select", "TL", "examples/", cwd=REPO)
    check = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--output-format", "concise", "examples/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = r"(?P<path>[^:]+):(?P<line>\d+):\d+: (?P<code>TL\d+)"
    ours = _code_lines(check.stdout, line)
    assert ours  # the examples have findings
    assert _code_lines(flake.stdout, line) == ours


def test_a_file_over_max_parse_memory_is_not_checked_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(OPT_IN + "max-parse-memory = 1\n")
    (tmp_path / "table.py").write_text(BAD + "x = [" + "1, " * 2000 + "]\n")  # about 12 MiB
    (tmp_path / "train.py").write_text(BAD)
    result = flake8("--select", "TL", "table.py", "train.py", cwd=tmp_path)
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"train.py"}
    assert "table.py: not checked: parsing it would take about 12 MiB, more than " in (
        result.stderr
    )


def test_a_file_over_the_limits_is_not_checked_and_says_so(tmp_path: Path) -> None:
    """As `torchlint check` does: no findings, and a warning that names the limit."""
    (tmp_path / "pyproject.toml").write_text(OPT_IN + "max-nesting = 8\n")
    deep = "x = " + "[" * 12 + "]" * 12 + "\n"
    (tmp_path / "deep.py").write_text(BAD + deep)
    (tmp_path / "train.py").write_text(BAD)
    result = flake8("--select", "TL", "deep.py", "train.py", cwd=tmp_path)
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"train.py"}
    assert "deep.py: not checked: brackets nested 12 deep, more than `max-nesting` (8)" in (
        result.stderr
    )
