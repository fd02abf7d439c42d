"""One configuration per file: a monorepo linted every way gives every file the same findings.

Each file takes the settings of its nearest config (``torchlint.toml``, or a pyproject.toml
with ``[tool.torchlint]``), wherever the run starts and whatever else is in the run, as ruff
resolves them; ``target-version`` comes from each file's own project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.config import Overrides, Resolver

CUDA_AND_SCALER = """\
import torch

model = torch.nn.Linear(2, 2).cuda()
scaler = torch.cuda.amp.GradScaler()
"""
LOADER = """\
from torch.utils.data import DataLoader

loader = DataLoader(dataset, batch_size=2)
"""

TREE = {
    "pyproject.toml": '[project]\nname = "mono"\n\n[tool.torchlint]\nextend-select = ["TL601"]\nextend-exclude = ["scratch"]\n',
    "tools/run.py": CUDA_AND_SCALER,
    "tools/load.py": LOADER,
    "scratch/s.py": CUDA_AND_SCALER,  # excluded by the root's config
    # Project A: torch>=2.1 (no fix to torch.amp, which needs 2.4), TL201 opted in, strict.
    "pkg_a/pyproject.toml": (
        '[project]\nname = "a"\ndependencies = ["torch>=2.1"]\n\n'
        '[tool.torchlint]\nextend-select = ["TL201", "TL601"]\nportability = "strict"\n'
        'extend-exclude = ["generated"]\n'
    ),
    "pkg_a/src/a1.py": CUDA_AND_SCALER,
    "pkg_a/src/a2.py": LOADER,
    "pkg_a/src/a3.py": CUDA_AND_SCALER + LOADER,
    "pkg_a/generated/g.py": CUDA_AND_SCALER,  # excluded by project A's config
    "pkg_a/notebooks/explore.ipynb": json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                    "source": CUDA_AND_SCALER.splitlines(keepends=True),
                }
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    ),
    # Project B: its own torchlint.toml, target-version 2.4, only TL1 and TL6.
    "pkg_b/pyproject.toml": '[project]\nname = "b"\ndependencies = ["torch"]\n',
    "pkg_b/torchlint.toml": (
        'select = ["TL1", "TL6"]\ntarget-version = "2.4"\nextend-exclude = ["legacy.py"]\n'
    ),
    "pkg_b/b1.py": CUDA_AND_SCALER,
    "pkg_b/b2.py": LOADER,
    "pkg_b/b3.py": CUDA_AND_SCALER + LOADER,
    "pkg_b/legacy.py": CUDA_AND_SCALER,  # excluded by project B's config
}
SOURCES = sorted(name for name in TREE if name.endswith((".py", ".ipynb")))
EXCLUDED = {"scratch/s.py", "pkg_a/generated/g.py", "pkg_b/legacy.py"}

Finding = tuple[str, int, int, str, str | None]  # path from the root, row, column, code, fix


@pytest.fixture
def mono(tmp_path: Path) -> Path:
    root = tmp_path / "mono"
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def torchlint(*args: str, cwd: Path, stdin: str | None = None) -> list[Finding]:
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--output-format", "json", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    return _findings(json.loads(result.stdout), cwd)


def _findings(items: list[dict], cwd: Path) -> list[Finding]:
    return sorted(
        (
            _from_root(item["filename"], cwd),
            item["location"]["row"],
            item["location"]["column"],
            item["code"],
            item["fix"]["applicability"] if item["fix"] else None,
        )
        for item in items
    )


def _from_root(name: str, cwd: Path) -> str:
    path = Path(os.path.normpath(cwd / name))
    parts = path.parts
    if "mono" not in parts:  # this repository
        return path.relative_to(Path(__file__).resolve().parents[1]).as_posix()
    return "/".join(parts[parts.index("mono") + 1 :])


def _by_file(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {name: [] for name in SOURCES if name not in EXCLUDED}
    for finding in findings:
        grouped.setdefault(finding[0], []).append(finding)
    return grouped


def test_every_way_of_running_gives_every_file_the_same_findings(mono: Path) -> None:
    from_root = torchlint(".", "--no-cache", cwd=mono)
    expected = _by_file(from_root)
    # What each project's config decides, read from the findings themselves.
    codes = {name: sorted({f[3] for f in found}) for name, found in expected.items()}
    assert codes["pkg_a/src/a1.py"] == ["TL201", "TL601"]  # A opts in to TL201 (strict)
    assert codes["pkg_a/notebooks/explore.ipynb"] == ["TL201", "TL601"]  # a notebook too
    assert codes["pkg_b/b1.py"] == ["TL601"]  # B selects TL1 and TL6 only
    assert codes["tools/run.py"] == ["TL601"]  # the root: TL201 stays opt-in
    fixes = {name: {f[4] for f in found if f[3] == "TL601"} for name, found in expected.items()}
    assert fixes["pkg_a/src/a1.py"] == {None}  # torch>=2.1: torch.amp.GradScaler is 2.4
    assert fixes["pkg_b/b1.py"] == {"safe"}  # target-version 2.4
    assert set(expected) == set(SOURCES) - EXCLUDED

    ways = {
        "root, two jobs": torchlint(".", "--no-cache", "--jobs", "2", cwd=mono),
        "root, cache filled": torchlint(".", cwd=mono),
        "root, cache read": torchlint(".", cwd=mono),
        "root, projects named": torchlint("pkg_a", "pkg_b", "tools", "--no-cache", cwd=mono),
        "every file in one run": torchlint("--force-exclude", "--no-cache", *SOURCES, cwd=mono),
        "project A": torchlint(".", "--no-cache", cwd=mono / "pkg_a")
        + torchlint(".", "--no-cache", cwd=mono / "pkg_b")
        + torchlint("tools", "--no-cache", cwd=mono),
    }
    for name in SOURCES:
        ways.setdefault("file by file", []).extend(
            torchlint("--force-exclude", "--no-cache", name, cwd=mono)
        )
    for name in ("pkg_a/src/a3.py", "pkg_b/b3.py", "pkg_b/legacy.py"):
        ways.setdefault("stdin", []).extend(
            torchlint(
                "--force-exclude",
                "--stdin-filename",
                name,
                cwd=mono,
                stdin=(mono / name).read_text(),
            )
        )
    for way, found in ways.items():
        if way == "stdin":
            assert found == sorted(expected["pkg_a/src/a3.py"] + expected["pkg_b/b3.py"]), way
        else:
            assert _by_file(found) == expected, way


def test_flake8_gives_every_file_the_same_findings(mono: Path) -> None:
    pytest.importorskip("flake8")
    expected = {f[:4] for f in torchlint(".", "--no-cache", cwd=mono)}
    for cwd in (mono, mono / "pkg_a"):
        result = subprocess.run(
            [sys.executable, "-m", "flake8", "--isolated", "--select", "TL", "."],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = set()
        for line in result.stdout.splitlines():
            path, row, column, rest = line.split(":", 3)
            found.add((_from_root(path, cwd), int(row), int(column), rest.split()[0]))
        wanted = {f for f in expected if not f[0].endswith(".ipynb")}  # flake8 reads no notebooks
        if cwd != mono:
            wanted = {f for f in wanted if f[0].startswith("pkg_a/")}
        assert found == wanted, result.stderr


def test_show_settings_shows_the_named_files_settings(mono: Path) -> None:
    def show(*args: str, cwd: Path = mono) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "torchlint", "check", "--show-settings", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    text = show("pkg_b/b1.py")
    assert f"Settings file: {mono / 'pkg_b' / 'torchlint.toml'}" in text
    assert 'target-version = "2.4"' in text
    assert f"Settings file: {mono / 'pkg_a' / 'pyproject.toml'}" in show("pkg_a/src/a1.py")
    assert f"Settings file: {mono / 'pyproject.toml'}" in show(".", cwd=mono / "tools")
    assert "enabled" not in text


def test_the_command_line_applies_on_top_of_each_files_settings(mono: Path) -> None:
    found = torchlint(".", "--no-cache", "--ignore", "TL601", "--target-version", "2.4", cwd=mono)
    codes = {f[3] for f in found}
    assert "TL601" not in codes and "TL201" in codes  # A's own opt-in stays
    resolver = Resolver(Overrides(target_version="2.4"), cwd=mono)
    assert resolver.for_file(mono / "pkg_a/src/a1.py").target_version == (2, 4)
    assert "TL201" in resolver.for_file(mono / "pkg_a/src/a1.py").selected_codes


def test_config_option_overrides_every_files_config(mono: Path) -> None:
    found = torchlint(".", "--no-cache", "--config", str(mono / "pkg_b/torchlint.toml"), cwd=mono)
    assert {f[3][:3] for f in found} <= {"TL1", "TL6"}  # B's selection, everywhere
    assert any(f[0] == "pkg_a/src/a1.py" and f[4] == "safe" for f in found)


def test_target_version_comes_from_each_files_project(mono: Path) -> None:
    resolver = Resolver(cwd=mono)
    assert resolver.for_file(mono / "pkg_a/src/a1.py").target_version == (2, 1)
    assert resolver.for_file(mono / "pkg_b/b1.py").target_version == (2, 4)
    assert resolver.for_file(mono / "tools/run.py").target_version is None
    # A project without a config of its own: the root's config, its own torch requirement.
    (mono / "pkg_c").mkdir()
    (mono / "pkg_c/setup.cfg").write_text("[options]\ninstall_requires =\n    torch>=2.2\n")
    (mono / "pkg_c/pyproject.toml").write_text('[project]\ndependencies = ["torch>=2.2"]\n')
    settings = Resolver(cwd=mono).for_file(mono / "pkg_c/c.py")
    assert settings.config_file == mono / "pyproject.toml"
    assert settings.target_version == (2, 2)


def test_this_repository_from_its_root_reports_what_examples_reports() -> None:
    """examples/ has its own config (opt-in rules): a run at the root must use it."""
    repo = Path(__file__).resolve().parents[1]
    alone = {f for f in torchlint("examples/", "--no-cache", cwd=repo)}
    from_root = {f for f in torchlint(".", "--no-cache", "--jobs", "2", cwd=repo)}
    assert alone and {f for f in from_root if f[0].startswith("examples/")} == alone
