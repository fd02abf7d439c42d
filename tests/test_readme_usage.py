"""The README as a new user reads it: its commands work, and its pre-commit snippet works
with real pre-commit against a clone of this repository (``rev:`` a commit SHA)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests import test_precommit
from tests.test_precommit import BAD, add, git, pre_commit
from torchlint.torch_versions import known_range

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _block(after_heading: str, language: str) -> str:
    """The first ``language`` code block after the heading ``after_heading``."""
    section = README.split(f"\n{after_heading}\n", 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


# Where the README's pre-commit snippet names the user's clone of torchlint.
CLONE = "/path/to/clone"


def test_no_placeholder_link_and_installs_work_from_a_clone() -> None:
    """torchlint has no public home the README could name: no made-up links, and the
    install commands are the ones that work in a clone, as written."""
    assert "OWNER" not in README
    assert not re.findall(r"https://github\.com/[\w.-]+/torchlint\b", README)
    quick = _block("## Quick start", "bash")
    assert "pip install .  " in quick and 'pip install ".[runtime]"' in quick


def test_cpu_torch_comes_before_the_dev_extras() -> None:
    cpu = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
    for heading in ("## Quick start", "## Development"):
        section = README.split(f"\n{heading}\n", 1)[1]
        assert section.index(cpu) < section.index('pip install -e ".[dev]"')


def test_known_target_versions_are_stated() -> None:
    assert f"({known_range().replace(' .. ', ' to ')})" in README


def test_usage_commands_for_settings_files_and_output_work(tmp_path: Path, run_cli) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text(BAD)
    commands = [
        shlex.split(line.split("#", 1)[0])
        for line in _block("## Usage", "bash").splitlines()
        if any(option in line for option in ("--show-settings", "--show-files", " -o "))
    ]
    assert len(commands) == 3
    codes = {}
    for command in commands:
        assert command[0] == "torchlint"
        done = run_cli(*command[1:])
        codes[command[2]] = done.returncode
    assert codes == {"--show-settings": 0, "--show-files": 0, "-o": 1}
    assert (tmp_path / "report.sarif").read_text().lstrip().startswith("{")


clone = test_precommit.hook_repo  # a git repository of this working tree: (path, commit)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme-pre-commit-home")


def _readme_config(repo: Path, rev: str) -> str:
    snippet = _block("## pre-commit", "yaml")
    assert f"repo: {CLONE}" in snippet and "rev: <commit SHA>" in snippet
    return snippet.replace(CLONE, str(repo)).replace("<commit SHA>", rev)


def test_readme_pre_commit_snippet_works_with_a_commit_sha(
    tmp_path: Path, clone: tuple[Path, str], home: Path
) -> None:
    repo, sha = clone
    git("init", "-q", cwd=tmp_path)
    (tmp_path / ".pre-commit-config.yaml").write_text(_readme_config(repo, sha))
    git("add", ".pre-commit-config.yaml", cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-select = ["TL101"]\n')
    add(tmp_path, "train.py", BAD)
    done = pre_commit("run", "--all-files", cwd=tmp_path, home=home)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "train.py:2:10: TL101" in output and "Failed" in output


def test_pre_commit_autoupdate_freeze_fills_in_the_sha(
    tmp_path: Path, clone: tuple[Path, str], home: Path
) -> None:
    repo, sha = clone
    git("init", "-q", cwd=tmp_path)
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(_readme_config(repo, "<commit SHA>"))
    done = pre_commit("autoupdate", "--freeze", cwd=tmp_path, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rev: {sha}" in config.read_text()
