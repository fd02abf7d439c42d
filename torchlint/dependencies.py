"""Does the project declare torchlint as a run-time dependency?

A fix that imports ``torchlint.runtime`` makes the fixed code need torchlint installed where
it runs, while most teams install linters only in dev or pre-commit environments. The answer
comes from the project's own files at its root: ``[project.dependencies]`` in
pyproject.toml, ``requirements*.txt`` and ``install_requires`` in setup.cfg.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

from torchlint import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUNTIME_MODULE = "torchlint.runtime"
_NAMES_TORCHLINT = re.compile(r"^\s*torchlint\s*(?:[\[<>=!~;@ ]|$)", re.IGNORECASE)


def declares_torchlint(root: Path) -> bool:
    """True when a dependency list at ``root`` names torchlint."""
    return any(_NAMES_TORCHLINT.match(line) for line in _requirements(root))


def _pyproject(root: Path) -> dict:
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _requirements(root: Path) -> list[str]:
    lines: list[str] = []
    project = _pyproject(root).get("project", {})
    if isinstance(project, dict) and isinstance(project.get("dependencies"), list):
        lines.extend(str(item) for item in project["dependencies"])
    for path in sorted(root.glob("requirements*.txt")):
        try:
            lines.extend(path.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError):
            continue
    setup = configparser.ConfigParser()
    try:
        setup.read(root / "setup.cfg", encoding="utf-8")
        lines.extend(setup.get("options", "install_requires", fallback="").splitlines())
    except (configparser.Error, UnicodeDecodeError):
        pass
    return lines


def adds_runtime_import(before: str, after: str) -> bool:
    """Whether fixing ``before`` into ``after`` made the code import torchlint.runtime."""
    return RUNTIME_MODULE in after and RUNTIME_MODULE not in before


def undeclared_note(root: Path) -> str:
    """The summary line for fixes that added a dependency the project does not declare."""
    where = (
        "[project.dependencies] in pyproject.toml"
        if "project" in _pyproject(root) or not any(root.glob("requirements*.txt"))
        else "requirements.txt"
    )
    return (
        f"Note: the fixed code imports `{RUNTIME_MODULE}`, which this project does not "
        f'declare as a dependency. Add "torchlint>={__version__}" to {where}, or set '
        '`runtime-helpers = "auto"` (or false) for fixes in plain PyTorch.'
    )
