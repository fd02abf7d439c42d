"""File discovery: excludes match names and root-relative paths, through links too."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchlint import discovery
from torchlint.discovery import DEFAULT_EXCLUDES, Excludes, discover, relative_to_root
from torchlint.realpaths import real_path


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
        # a template, not Python until rendered
        ("run_{{cookiecutter.name}}.py", "templates/run_{{cookiecutter.name}}.py", True),
        ("template-{{cookiecutter.model}}", "templates/template-{{cookiecutter.model}}", True),
        ("format_{name}.py", "format_{name}.py", False),
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


def _by_pathlib(path: str, root: Path) -> str:
    """What relative_to_root answers for a ``Path``: the reference for the string shortcut."""
    try:
        return real_path(Path(path)).relative_to(real_path(root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def test_a_path_string_is_made_relative_as_pathlib_would(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    (project / "src" / "pkg").mkdir(parents=True)
    (project / "src" / "pkg" / "train.py").write_text("x = 1\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "real.py").write_text("x = 1\n")
    (project / "linked").symlink_to(tmp_path / "elsewhere")  # a directory link
    (project / "src" / "alias.py").symlink_to(tmp_path / "elsewhere" / "real.py")  # a file link
    (project / "loop.py").symlink_to(project / "loop.py")
    monkeypatch.chdir(project / "src")
    paths = [
        f"{project}/src/pkg/train.py",
        f"{project}/src/pkg/missing.py",
        f"{project}//src/./pkg/train.py",
        f"{project}/src/pkg/../pkg/train.py",
        f"{project}/src/pkg/",
        f"{project}/src/pkg/.",
        f"{project}/linked/real.py",
        f"{project}/src/alias.py",
        f"{project}/loop.py",
        f"{project}",
        f"{tmp_path}/elsewhere/real.py",
        "pkg/train.py",
        "./pkg/train.py",
        "../src/pkg/train.py",
        "alias.py",
        "/",
        ".",
        "",
    ]
    for root in (project, project / "src", tmp_path / "elsewhere", Path("/")):
        for path in paths:
            assert relative_to_root(path, root) == _by_pathlib(path, root), (path, root)
    assert relative_to_root(f"{project}/src/pkg/train.py", project) == "src/pkg/train.py"
    assert relative_to_root(f"{project}/linked/real.py", tmp_path) == "elsewhere/real.py"
    assert relative_to_root(f"{project}/src/pkg/train.py", tmp_path / "elsewhere") == (
        f"{project}/src/pkg/train.py"
    )
    # The shortcut answers for plain paths (inside and outside the root) without pathlib.
    plain = f"{project}/src/pkg/train.py"
    assert discovery._relative_text(plain, project) == "src/pkg/train.py"
    assert discovery._relative_text(plain, tmp_path / "elsewhere") == plain
    assert discovery._relative_text(f"{project}/src/alias.py", project) is None  # a link
