"""A fix that imports torchlint.runtime adds a run-time dependency: the summary says so when
the project does not declare it, and ``runtime-helpers = "auto"`` then writes plain PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest

BAD = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
NOTE = "does not declare as a dependency"


def test_summary_names_the_undeclared_dependency_once(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\ndependencies = ["torch"]\n')
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(BAD)
    stderr = run_cli("fix", "--unsafe-fixes", ".").stderr.decode()
    assert stderr.count(NOTE) == 1
    assert 'Add "torchlint @ ' in stderr and "to [project.dependencies] in pyproject.toml" in stderr
    assert "torchlint>=" not in stderr  # not on the package index: that would not install
    # Nothing more to fix: nothing added, nothing said.
    assert NOTE not in run_cli("fix", "--unsafe-fixes", ".").stderr.decode()


def test_requirements_file_is_named_where_there_is_no_project_table(
    tmp_path: Path, run_cli
) -> None:
    (tmp_path / "requirements.txt").write_text("torch\n")
    (tmp_path / "a.py").write_text(BAD)
    stderr = run_cli("fix", "--unsafe-fixes", "a.py").stderr.decode()
    assert "to requirements.txt" in stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pyproject.toml", '[project]\nname = "p"\ndependencies = ["torchlint[runtime]>=0.1"]\n'),
        ("requirements-prod.txt", "torch\ntorchlint==0.1.0\n"),
        ("setup.cfg", "[options]\ninstall_requires =\n    torch\n    torchlint\n"),
    ],
)
def test_declared_dependency_is_not_mentioned(
    tmp_path: Path, run_cli, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    (tmp_path / "a.py").write_text(BAD)
    done = run_cli("fix", "--unsafe-fixes", "a.py")
    assert "from torchlint.runtime import make_loader" in (tmp_path / "a.py").read_text()
    assert NOTE not in done.stderr.decode()


def test_auto_helpers_follow_the_declared_dependencies(tmp_path: Path, run_cli) -> None:
    config = '[tool.torchlint]\nruntime-helpers = "auto"\n'
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n' + config)
    target = tmp_path / "a.py"
    target.write_text(BAD)
    done = run_cli("fix", "--unsafe-fixes", "a.py")
    assert "torchlint" not in target.read_text()  # plain PyTorch
    assert "num_workers=" in target.read_text()
    assert NOTE not in done.stderr.decode()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = ["torchlint"]\n' + config
    )
    target.write_text(BAD)
    run_cli("fix", "--unsafe-fixes", "a.py")
    assert "from torchlint.runtime import make_loader" in target.read_text()


def test_bad_helpers_value_is_a_config_error(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nruntime-helpers = "yes"\n')
    (tmp_path / "a.py").write_text(BAD)
    done = run_cli("check", "a.py")
    assert done.returncode == 2
    assert '`runtime-helpers` must be true, false or "auto"' in done.stderr.decode()


def test_the_requirement_named_is_where_this_copy_came_from(monkeypatch) -> None:
    from importlib import metadata

    from torchlint import dependencies

    class Copy:
        def __init__(self, text: str) -> None:
            self.text = text

        def read_text(self, name: str) -> str:
            return self.text

    cases = {
        '{"url": "https://example.org/t.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}': (
            "torchlint @ git+https://example.org/t.git@abc",
            True,
        ),
        '{"url": "file:///src/torchlint", "dir_info": {"editable": true}}': (
            "torchlint @ file:///src/torchlint",
            False,
        ),
    }
    for text, expected in cases.items():
        dependencies.install_reference.cache_clear()
        monkeypatch.setattr(metadata, "distribution", lambda name, text=text: Copy(text))
        assert dependencies.install_reference() == expected
        if not expected[1]:
            assert "a path on this machine" in dependencies.undeclared_note(Path("/nonexistent"))
    dependencies.install_reference.cache_clear()
