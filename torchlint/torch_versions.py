"""The torch releases torchlint knows, and the oldest one a project declares it accepts.

``target-version`` must name one of ``KNOWN_RELEASES`` (a typo such as ``"3.0"`` or
``"2.40"`` would otherwise switch fixes on or off silently). When it is not set, it is read
from the project's declared torch requirement, as ruff reads ``requires-python``:
``torch>=2.4`` in ``[project.dependencies]`` (or, failing that, a plain line of a
``requirements*.txt`` next to it) means 2.4.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Version = tuple[int, int]

# Every torch feature release (major.minor), oldest first. Add the new one when it ships.
KNOWN_RELEASES: tuple[Version, ...] = (
    *((1, minor) for minor in range(14)),  # 1.0 .. 1.13
    *((2, minor) for minor in range(14)),  # 2.0 .. 2.13
)


def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def known_range() -> str:
    """``"1.0 .. 2.13"``: what an error message names."""
    return f"{format_version(KNOWN_RELEASES[0])} .. {format_version(KNOWN_RELEASES[-1])}"


def is_known(version: Version) -> bool:
    return version in KNOWN_RELEASES


@dataclass(frozen=True)
class Declared:
    """The oldest torch a project accepts, and where that was read (for ``--show-settings``)."""

    version: Version
    source: str


# PEP 508, as far as needed: a name, optional extras, version specifiers, an optional marker.
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"\(?(?P<specs>[^;#()]*)\)?\s*(?:;.*)?$"
)
_LOWER_BOUND = re.compile(r"^(?:===|>=|~=|==|>)\s*v?(\d+)\.(\d+)")


def _is_torch(name: str) -> bool:
    return re.sub(r"[-_.]+", "-", name).lower() == "torch"


def lower_bound(requirement: str) -> Version | None:
    """The oldest ``major.minor`` a torch requirement accepts; None if it is not torch or has
    no lower bound (``torch``, ``torch<3``), since then nothing can be promised."""
    match = _REQUIREMENT.match(requirement)
    if not match or not _is_torch(match["name"]):
        return None
    bounds = []
    for spec in match["specs"].split(","):
        found = _LOWER_BOUND.match(spec.strip())
        if found:
            bounds.append((int(found[1]), int(found[2])))
    return max(bounds) if bounds else None


def _torch_requirements(lines: Iterable[str]) -> list[str]:
    found = []
    for line in lines:
        match = _REQUIREMENT.match(line)
        if match and _is_torch(match["name"]):
            found.append(line.strip())
    return found


def _oldest(requirements: list[str], where: str) -> Declared | None:
    """Every torch line must have a lower bound (one without promises nothing); the oldest wins."""
    bounds = [lower_bound(r) for r in requirements]
    if not bounds or any(b is None for b in bounds):
        return None
    oldest = min(b for b in bounds if b is not None)
    line = requirements[bounds.index(oldest)]
    return Declared(oldest, f"`{line}` in {where}")


def from_pyproject(path: Path) -> Declared | None:
    """From ``[project.dependencies]`` of a pyproject.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    dependencies = data.get("project", {}).get("dependencies", [])
    if not isinstance(dependencies, list):
        return None
    strings = [d for d in dependencies if isinstance(d, str)]
    return _oldest(_torch_requirements(strings), f"[project.dependencies] of {path}")


def from_requirements(path: Path) -> Declared | None:
    """From a requirements file's plain lines (options, includes and URLs are skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = [line.split(" #")[0] for line in text.splitlines()]
    plain = [line for line in lines if line.strip() and not line.lstrip().startswith(("-", "#"))]
    return _oldest(_torch_requirements(plain), str(path))


def declared_torch(directory: Path) -> Declared | None:
    """The oldest torch the project in ``directory`` declares: its pyproject.toml first, then
    its ``requirements*.txt`` files (the oldest bound among them)."""
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        declared = from_pyproject(pyproject)
        if declared is not None:
            return declared
    found = [d for f in sorted(directory.glob("requirements*.txt")) if (d := from_requirements(f))]
    return min(found, key=lambda d: d.version) if found else None
