"""A file's real path, remembered per process, still follows the working directory."""

from __future__ import annotations

from pathlib import Path

from torchlint.realpaths import real_path


def test_a_symlink_resolves_to_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real.py"
    target.write_text("x = 1\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    assert real_path(link) == target.resolve()
    assert real_path(link) == target.resolve()  # remembered: the same answer


def test_a_relative_path_means_another_file_after_chdir(tmp_path: Path, monkeypatch) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path / "a")
    assert real_path(Path("train.py")) == (tmp_path / "a" / "train.py").resolve()
    monkeypatch.chdir(tmp_path / "b")
    assert real_path(Path("train.py")) == (tmp_path / "b" / "train.py").resolve()


def test_a_symlink_loop_gives_the_absolute_path(tmp_path: Path) -> None:
    loop = tmp_path / "loop.py"
    loop.symlink_to(loop)
    assert real_path(loop) == loop.absolute()
