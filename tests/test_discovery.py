"""File discovery: excludes match names and root-relative paths, through links too."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchlint.discovery import DEFAULT_EXCLUDES, Excludes, discover


def _touch(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "relative", "expected"),
    [
        ("build", "build", True),
        ("pkg.egg-info", "src/pkg.egg-info", True),
        ("gen.py", "src/gen.py", True),  # a name pattern
        ("gen.py", "other/gen.py", True),
        ("model.py", "src/legacy/model.py", True),  # a path pattern
        ("model.py", "src/model.py", False),
        ("builder.py", "builder.py", False),
    ],
)
def test_excludes_match_names_and_relative_paths(name: str, relative: str, expected: bool) -> None:
    excludes = Excludes((*DEFAULT_EXCLUDES, "gen.py", "src/legacy/*"))
    assert excludes.match(name, relative) is expected


def test_no_patterns_exclude_nothing() -> None:
    assert not Excludes(()).match("build", "build")


def test_covers_checks_every_directory_above(tmp_path: Path) -> None:
    excludes = Excludes(("vendored",))
    assert excludes.covers(tmp_path / "src" / "vendored" / "a" / "m.py", tmp_path)
    assert not excludes.covers(tmp_path / "src" / "m.py", tmp_path)


def test_walk_applies_excludes_below_a_subdirectory_and_through_links(tmp_path: Path) -> None:
    keep = _touch(tmp_path / "src" / "pkg" / "model.py")
    _touch(tmp_path / "src" / "pkg" / "build" / "gen.py")  # default exclude, deep
    _touch(tmp_path / "src" / "legacy" / "old.py")  # path pattern from the root
    _touch(tmp_path / "src" / "pkg" / "notes.txt")  # not a source file
    target = _touch(tmp_path / "elsewhere" / "linked.py")
    (tmp_path / "src" / "pkg" / "linked.py").symlink_to(target)
    found = discover(
        [tmp_path / "src"], root=tmp_path, extend_exclude=("src/legacy",), respect_gitignore=False
    )
    names = [path.relative_to(tmp_path).as_posix() for path in found.files]
    assert names == ["src/pkg/linked.py", keep.relative_to(tmp_path).as_posix()]
    excluded_link = discover(
        [tmp_path / "src"],
        root=tmp_path,
        extend_exclude=("src/legacy", "elsewhere/*"),
        respect_gitignore=False,
    )
    # A link is judged by where it points, as before: its target's directory is excluded.
    assert [p.name for p in excluded_link.files] == ["model.py"]


def test_one_file_named_twice_or_linked_is_linted_once(tmp_path: Path) -> None:
    first = _touch(tmp_path / "a.py")
    (tmp_path / "link.py").symlink_to(first)
    found = discover([first.absolute(), tmp_path], root=tmp_path, respect_gitignore=False)
    assert found.files == [first.absolute()]
    assert found.empty == []  # the directory had Python files: they were named already
