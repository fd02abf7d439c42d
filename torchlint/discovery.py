"""Which files to lint: walk directories, honour .gitignore files and excludes; explicit files win."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.realpaths import real_path, real_text

SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")
DEFAULT_EXCLUDES = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pytest_cache",
    ".ruff_cache",
    ".svn",
    ".torchlint_cache",
    ".tox",
    ".venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
    "*.egg-info",
    "*{{*}}*",  # a cookiecutter / Jinja template (`{{cookiecutter.name}}.py`): not Python yet
)


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # missing paths and unreadable directories
    empty: list[Path] = field(default_factory=list)  # directories with no Python files


@dataclass(frozen=True)
class _IgnoreRule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _glob_to_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_gitignore(text: str) -> list[_IgnoreRule]:
    """The rules of one .gitignore file, in order (later rules win)."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            line += " "
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        regex = _glob_to_regex(line)
        if not anchored:
            regex = "(?:.*/)?" + regex
        rules.append(_IgnoreRule(re.compile(f"^{regex}$"), negate, dir_only))
    return rules


def _ignored(stack: list[tuple[Path, list[_IgnoreRule]]], path: Path, is_dir: bool) -> bool:
    verdict = False
    for base, rules in stack:
        try:
            relative = path.relative_to(base).as_posix()
        except ValueError:
            continue
        for rule in rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(relative):
                verdict = not rule.negate
    return verdict


# What decides the entries of one directory: its excludes, the root their paths are relative
# to, and whether .gitignore files count.
RulesFor = Callable[[Path], tuple["Excludes", Path, bool]]


class Excludes:
    """``exclude`` glob patterns, matched against a name or a root-relative path.

    All patterns are compiled into one regular expression: a walk asks this for every
    directory entry, and one match per entry is much cheaper than one ``fnmatch`` per pattern.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        joined = "|".join(fnmatch.translate(p) for p in patterns)
        self._match = re.compile(joined).match if patterns else None

    def match(self, name: str, relative: str) -> bool:
        """Whether the entry ``name`` (at ``relative`` from the project root) is excluded."""
        match = self._match
        return match is not None and (match(name) is not None or match(relative) is not None)

    def covers(self, path: Path, root: Path) -> bool:
        """Whether ``path`` or a directory above it (up to ``root``) is excluded.

        For files named explicitly where the project asks for excludes to apply anyway
        (``--force-exclude``, as pre-commit names every file).
        """
        relative = relative_to_root(path, root)
        if Path(relative).is_absolute():  # outside the project: only the name can match
            relative = path.name
        parts = relative.split("/")
        return any(
            self.match(parts[i], "/".join(parts[: i + 1]))
            for i in range(len(parts))
            if parts[i] not in ("", ".", "..")
        )


def _gitignores_above(directory: Path) -> list[tuple[Path, list[_IgnoreRule]]]:
    """.gitignore files of the enclosing git repository, from its root down to ``directory``."""
    chain = [directory, *directory.parents]
    root = next((d for d in chain if (d / ".git").exists()), None)
    if root is None:
        return []
    stack = []
    for d in reversed(chain[1 : chain.index(root) + 1]):
        gitignore = d / ".gitignore"
        if gitignore.is_file():
            with contextlib.suppress(OSError):
                stack.append((d, parse_gitignore(gitignore.read_text(errors="replace"))))
    return stack


def discover(
    paths: list[Path],
    *,
    root: Path,
    exclude: tuple[str, ...] = (),
    extend_exclude: tuple[str, ...] = (),
    respect_gitignore: bool = True,
    default_excludes: bool = True,
    rules_for: RulesFor | None = None,
) -> Discovery:
    """Expand ``paths`` into a sorted, de-duplicated list of source files.

    With ``rules_for``, each directory's entries are filtered by what it answers for that
    directory (its own project's excludes, root and gitignore setting) instead of by the
    other arguments: a subproject's config decides what is skipped below it."""
    found = Discovery()
    excludes = Excludes(
        (*(DEFAULT_EXCLUDES if default_excludes else ()), *exclude, *extend_exclude)
    )
    if rules_for is None:
        fixed = (excludes, root, respect_gitignore)

        def rules_for(directory: Path) -> tuple[Excludes, Path, bool]:
            return fixed

    seen: set[tuple[int, int]] = set()  # (device, inode): one file named two ways is one file
    for path in paths:
        if path.is_file():
            if _first_time(seen, _identity(path)):
                found.files.append(path)
            continue
        if not path.exists():
            kind = "broken symbolic link" if path.is_symlink() else "no such file or directory"
            found.errors.append(f"{path}: {kind}")
            continue
        if not _walk(path, rules_for, found, seen):
            found.empty.append(path)
    found.files.sort(key=lambda p: p.as_posix())
    return found


def _identity(path: Path) -> tuple[int, int]:
    """The file ``path`` names (links followed), as (device, inode)."""
    info = path.stat()
    return info.st_dev, info.st_ino


def _first_time(seen: set[tuple[int, int]], identity: tuple[int, int]) -> bool:
    if identity in seen:
        return False
    seen.add(identity)
    return True


def relative_to_root(path: Path | str, root: Path) -> str:
    """``path`` (symbolic links resolved) relative to ``root``; as given when outside it."""
    if isinstance(path, str):
        found = _relative_text(path, root)
        if found is not None:
            return found
        path = Path(path)
    try:
        return real_path(path).relative_to(real_path(root)).as_posix()
    except ValueError:
        return path.as_posix()


def _relative_text(path: str, root: Path) -> str | None:
    """``relative_to_root`` for a path string, with strings alone (a file's settings ask
    for it once a file); None where only ``pathlib`` gives the same answer."""
    real = real_text(path)
    if real is None:
        return None
    base = str(real_path(root))
    if real == base:
        return "."
    inside = base.rstrip("/") + "/"
    if real.startswith(inside):
        return real[len(inside) :]
    # Outside the root: the path as given, as `Path.as_posix` would spell it.
    plain = "//" not in path and "/./" not in path and not path.startswith("./")
    if plain and path not in ("", ".") and not path.endswith(("/", "/.")):
        return path
    return None


def _walk(
    top: Path,
    rules_for: RulesFor,
    found: Discovery,
    seen: set[tuple[int, int]],
) -> int:
    """Add the source files below ``top`` to ``found``; how many it met (named before too)."""
    stack0 = _gitignores_above(top.resolve()) if rules_for(top)[2] else []
    visited: set[tuple[int, int]] = set()
    resolved_roots: dict[Path, Path] = {}
    met = 0

    def visit(directory: Path, ignores: list[tuple[Path, list[_IgnoreRule]]]) -> None:
        nonlocal met
        try:
            stat = directory.stat()
        except OSError as error:
            found.errors.append(f"{directory}: cannot read directory: {error.strerror}")
            return
        key = (stat.st_dev, stat.st_ino)
        if key in visited:  # a symlink loop
            return
        visited.add(key)
        excludes, root, respect_gitignore = rules_for(directory)
        root_resolved = resolved_roots.get(root)
        if root_resolved is None:
            root_resolved = resolved_roots[root] = root.resolve()
        resolved = directory.resolve()
        try:  # entries that are not links are relative to the root through their directory
            prefix = resolved.relative_to(root_resolved).as_posix() + "/"
        except ValueError:
            prefix = None
        if prefix == "./":
            prefix = ""
        if respect_gitignore:
            gitignore = directory / ".gitignore"
            if gitignore.is_file():
                try:
                    rules = parse_gitignore(gitignore.read_text(errors="replace"))
                    ignores = [*ignores, (resolved, rules)]
                except OSError:
                    pass
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as error:
            found.errors.append(f"{directory}: cannot read directory: {error.strerror}")
            return
        for entry in entries:
            path = directory / entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if not is_dir and not entry.name.endswith(SOURCE_SUFFIXES):
                continue  # excludes and .gitignore cannot make a non-source file matter
            if prefix is None or entry.is_symlink():
                relative = relative_to_root(path, root)
            else:
                relative = prefix + entry.name
            if excludes.match(entry.name, relative):
                continue
            if respect_gitignore and _ignored(ignores, resolved / entry.name, is_dir):
                continue
            if is_dir:
                visit(path, ignores)
            else:  # a source file (others were skipped above)
                try:
                    if not entry.is_file():
                        continue
                    # scandir knows a plain file's inode without a stat call
                    identity = (
                        _identity(path) if entry.is_symlink() else (stat.st_dev, entry.inode())
                    )
                except OSError:
                    continue
                met += 1
                if _first_time(seen, identity):
                    found.files.append(path)

    visit(top, stack0)
    return met
