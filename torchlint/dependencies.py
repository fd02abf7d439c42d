"""Does the project declare torchlint as a run-time dependency?

A fix that imports ``torchlint.runtime`` makes the fixed code need torchlint installed where
it runs, while most teams install linters only in dev or pre-commit environments. The answer
comes from the project's own files at its root: ``[project.dependencies]`` in
pyproject.toml, ``requirements*.txt`` and ``install_requires`` in setup.cfg.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
from functools import cache
from pathlib import Path

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


@cache
def install_reference() -> tuple[str, bool]:
    """A requirement that installs this copy of torchlint, and whether others can use it.

    torchlint is not on the package index, so ``torchlint>=X`` would not install: the
    requirement is a direct reference to where this copy came from (PEP 610's
    ``direct_url.json``): ``torchlint @ git+URL@COMMIT`` for a git install (usable by
    anyone who can reach URL), ``torchlint @ file:///...`` for a local clone (this machine
    only). Unknown: ``torchlint @ git+<URL of the torchlint repository>``, said as such."""
    from importlib import metadata

    try:
        text = metadata.distribution("torchlint").read_text("direct_url.json")
        origin = json.loads(text) if text else {}
    except (metadata.PackageNotFoundError, ValueError, OSError):
        origin = {}
    url = origin.get("url") if isinstance(origin, dict) else None
    if not isinstance(url, str):
        return "torchlint @ git+<URL of the torchlint repository you install from>", False
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
        commit = vcs.get("commit_id")
        pinned = f"@{commit}" if isinstance(commit, str) else ""
        return f"torchlint @ {vcs['vcs']}+{url}{pinned}", True
    return f"torchlint @ {url}", not url.startswith("file:")


def undeclared_note(root: Path) -> str:
    """The summary line for fixes that added a dependency the project does not declare.

    It names a requirement that really installs: torchlint is not on the package index."""
    where = (
        "[project.dependencies] in pyproject.toml"
        if "project" in _pyproject(root) or not any(root.glob("requirements*.txt"))
        else "requirements.txt"
    )
    requirement, shareable = install_reference()
    local = (
        ""
        if shareable
        else " (a path on this machine: where others install the project, name the git URL "
        "of your torchlint clone instead)"
    )
    return (
        f"Note: the fixed code imports `{RUNTIME_MODULE}`, which this project does not "
        f"declare as a dependency, and torchlint is not on the package index. Add "
        f'"{requirement}" to {where}{local}, or set `runtime-helpers = "auto"` (or false) '
        "for fixes in plain PyTorch."
    )
