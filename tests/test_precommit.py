"""The pre-commit hooks, run by real pre-commit against a copy of this working tree.

pre-commit installs hooks by cloning a git repository at a commit, so the files a user's
install would get (pyproject.toml, README.md, torchlint/, .pre-commit-hooks.yaml) are copied
into a temporary repository and committed there. pre-commit then pip-installs torchlint and
its dependencies (libcst, click) into its own environment: the first test takes a while.
`try-repo` always builds a fresh environment, so it is used once; the other tests use a
`.pre-commit-config.yaml` and one PRE_COMMIT_HOME shared by the module, installing once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "torchlint")

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None, reason="pre-commit needs git, which is not installed"
)

BAD = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
GOOD = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True, num_workers=2)\n"
SAFE_FIXABLE = "import torch\ny = torch.log(1 + x)\nz = torch.exp(y)  # noqa: TL101\n"
SAFE_FIXED = "import torch\ny = torch.log1p(x)\nz = torch.exp(y)\n"


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding what a user's pre-commit would clone: (path, commit)."""
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in SHIPPED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, repo / name)
    git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "torchlint under test", cwd=repo)
    return repo, git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The user's repository; it opts into TL101, the rule its bad file breaks."""
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-select = ["TL101"]\n')
    return tmp_path


def pre_commit(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args, "--color", "never"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def use_hooks(project: Path, hook_repo: tuple[Path, str], *hooks: str) -> None:
    repo, rev = hook_repo
    config = {"repos": [{"repo": str(repo), "rev": rev, "hooks": [{"id": hook} for hook in hooks]}]}
    (project / ".pre-commit-config.yaml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    git("add", ".pre-commit-config.yaml", cwd=project)


def add(project: Path, name: str, text: str) -> None:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git("add", name, cwd=project)


def test_hooks_file_declares_both_hooks() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    for expected in (
        "- id: torchlint\n",
        "- id: torchlint-fix\n",
        "entry: torchlint check --force-exclude\n",
        "entry: torchlint fix --force-exclude --exit-non-zero-on-fix\n",
        "types_or: [python, pyi, jupyter]\n",
        "language: python\n",
    ):
        assert expected in text


def test_try_repo_check_hook_fails_on_a_bad_file(
    project: Path, hook_repo, tmp_path_factory
) -> None:
    add(project, "bad.py", BAD)
    home = tmp_path_factory.mktemp("try-repo-home")
    done = pre_commit(
        "try-repo", str(hook_repo[0]), "torchlint", "--files", "bad.py", cwd=project, home=home
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "torchlint" in output and "Failed" in output
    assert "bad.py:2:10: TL101" in output


def test_check_hook_fails_then_passes_once_fixed(project: Path, hook_repo, pre_commit_home) -> None:
    use_hooks(project, hook_repo, "torchlint")
    add(project, "train.py", BAD)
    done = pre_commit("run", "torchlint", "--files", "train.py", cwd=project, home=pre_commit_home)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "train.py:2:10: TL101" in output and "Failed" in output
    add(project, "train.py", GOOD)
    done = pre_commit("run", "torchlint", "--files", "train.py", cwd=project, home=pre_commit_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout


def test_fix_hook_fixes_fails_then_passes(project: Path, hook_repo, pre_commit_home) -> None:
    use_hooks(project, hook_repo, "torchlint-fix")
    add(project, "pyproject.toml", '[tool.torchlint]\nextend-select = ["TL101", "TL405"]\n')
    add(project, "model.py", SAFE_FIXABLE)
    done = pre_commit(
        "run", "torchlint-fix", "--files", "model.py", cwd=project, home=pre_commit_home
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # the commit stops so the fixes can be reviewed
    assert "Failed" in output and "Fixed 2 errors." in output
    assert (project / "model.py").read_text() == SAFE_FIXED
    git("add", "model.py", cwd=project)
    done = pre_commit(
        "run", "torchlint-fix", "--files", "model.py", cwd=project, home=pre_commit_home
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hooks_lint_notebooks_and_honour_excludes(
    project: Path, hook_repo, pre_commit_home
) -> None:
    use_hooks(project, hook_repo, "torchlint")
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": ["%matplotlib inline\n", "import torch\n", "y = torch.log(1 + x)"],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    add(project, "nb.ipynb", json.dumps(notebook, indent=1) + "\n")
    add(
        project,
        "pyproject.toml",
        '[tool.torchlint]\nextend-exclude = ["legacy"]\nextend-select = ["TL405"]\n',
    )
    add(project, "legacy/old.py", BAD)
    add(project, "notes.txt", BAD)
    done = pre_commit("run", "torchlint", "--all-files", cwd=project, home=pre_commit_home)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "nb.ipynb:cell 1:3:5: TL405" in output
    assert "legacy/old.py" not in output and "notes.txt" not in output
