"""The torch releases torchlint knows, and the range of them a project declares it supports.

``target-version`` and ``max-target-version`` must name one of ``KNOWN_RELEASES`` (a typo
such as ``"3.0"`` or ``"2.40"`` would otherwise switch fixes on or off silently). When they
are not set, the project's declared requirements decide, as ruff reads ``requires-python``:
``torch>=2.1,<2.3`` means 2.1 to 2.2, ``torch==2.0.1`` means 2.0 alone. They are read
statically (nothing is run) from, in this order, the first that names the package:
``[project]`` dependencies (then optional dependencies) of pyproject.toml, Poetry's
``[tool.poetry.dependencies]``, ``install_requires`` (then ``extras_require``) of setup.py
(parsed) and setup.cfg, ``requirements*.txt`` and ``requirements/*.txt`` (following
``-r``), and conda ``environment*.yml``. torchvision and torchaudio are read the same way.
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
from collections.abc import Iterable, Iterator
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


# torchvision's release for each torch release (torch 2.k pairs with torchvision 0.(15+k)):
# where a project declares torch alone, its torchvision range follows.
_TORCHVISION_FOR_1X = (2, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)  # torch 1.0 .. 1.13
PACKAGES = ("torch", "torchvision", "torchaudio")


def torchvision_for(torch: Version) -> Version:
    """The torchvision feature release built for ``torch``."""
    major, minor = torch
    if major == 1:
        return (0, _TORCHVISION_FOR_1X[min(minor, len(_TORCHVISION_FOR_1X) - 1)])
    return (0, 15 + minor)


def _newest_minor(major: int) -> Version:
    """The newest known ``major.x`` (a bound such as ``<3`` or ``~=2.1`` ends there)."""
    known = [v for v in KNOWN_RELEASES if v[0] == major]
    return max(known) if known else (major, 99)


def _newest_before(version: Version) -> Version:
    """The newest release older than ``version`` (``<2.3`` allows up to 2.2)."""
    major, minor = version
    if minor > 0:
        return (major, minor - 1)
    return _newest_minor(major - 1) if major > 0 else (0, 0)


@dataclass(frozen=True)
class Declared:
    """The oldest torch a project accepts, and where that was read (for ``--show-settings``)."""

    version: Version
    source: str


@dataclass(frozen=True)
class Range:
    """The supported releases of one package: ``lower`` to ``upper`` (major.minor, both
    included; None: not bounded), and where each end was read."""

    lower: Version | None = None
    upper: Version | None = None
    lower_source: str = ""
    upper_source: str = ""

    def describe(self, package: str = "torch") -> str:
        low = format_version(self.lower) if self.lower else "any"
        high = format_version(self.upper) if self.upper else "the newest"
        return f"{package} {low} to {high}"


# PEP 508, as far as needed: a name, optional extras, version specifiers, an optional marker.
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
    r"\(?(?P<specs>[^;#()@]*)\)?\s*(?:[;@].*)?$"
)
_SPEC = re.compile(r"^(===|==|~=|!=|<=|>=|<|>)\s*v?(\d+)(?:\.(\d+|\*))?(?:\.(\d+|\*))?")


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them; ``pytorch`` (conda's name) is torch."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    return "torch" if name == "pytorch" else name


def _is_torch(name: str) -> bool:
    return normalized(name) == "torch"


def spec_range(specs: str) -> tuple[Version | None, Version | None]:
    """``(lower, upper)`` of a PEP 440 specifier set, in major.minor releases."""
    lowers: list[Version] = []
    uppers: list[Version] = []
    for spec in specs.split(","):
        found = _SPEC.match(spec.strip())
        if not found:
            continue
        op, major = found[1], int(found[2])
        minor_text, patch_text = found[3], found[4]
        minor = int(minor_text) if minor_text and minor_text != "*" else None
        patch = int(patch_text) if patch_text and patch_text != "*" else None
        if op in ("==", "==="):
            if minor is None:  # ==2 or ==2.*
                lowers.append((major, 0))
                uppers.append(_newest_minor(major))
            else:
                lowers.append((major, minor))
                uppers.append((major, minor))
        elif op in (">=", ">"):
            lowers.append((major, minor or 0))
        elif op == "~=":
            if minor is None:
                continue
            lowers.append((major, minor))
            uppers.append((major, minor) if patch_text is not None else _newest_minor(major))
        elif op == "<=":
            uppers.append((major, minor) if minor is not None else _newest_minor(major))
        elif op == "<":
            if minor is None:
                uppers.append(_newest_before((major, 0)))
            elif patch:
                uppers.append((major, minor))
            else:
                uppers.append(_newest_before((major, minor)))
    return (max(lowers) if lowers else None, min(uppers) if uppers else None)


def lower_bound(requirement: str) -> Version | None:
    """The oldest ``major.minor`` a torch requirement accepts; None if it is not torch or has
    no lower bound (``torch``, ``torch<3``), since then nothing can be promised."""
    match = _REQUIREMENT.match(requirement)
    if not match or not _is_torch(match["name"]):
        return None
    return spec_range(match["specs"])[0]


@dataclass(frozen=True)
class _Line:
    """One declaration of a package: its bounds and where it was read."""

    lower: Version | None
    upper: Version | None
    text: str
    where: str


def _pep508_lines(lines: Iterable[str], where: str) -> Iterator[tuple[str, _Line]]:
    for line in lines:
        match = _REQUIREMENT.match(line)
        if match:
            lower, upper = spec_range(match["specs"])
            yield normalized(match["name"]), _Line(lower, upper, line.strip(), where)


def _combine(lines: list[_Line], strict_lower: bool) -> Range:
    """One range from several declarations of a package in one source: the oldest lower and
    the newest upper bound (a declaration without an upper bound leaves it open).
    ``strict_lower``: a declaration without a lower bound leaves the lower end unknown (in
    one dependency list); else such lines are skipped (separate requirements files)."""
    lowers = [x for x in lines if x.lower is not None]
    lower = None
    if lowers and (not strict_lower or len(lowers) == len(lines)):
        lower = min(lowers, key=lambda x: x.lower)  # type: ignore[arg-type, return-value]
    upper = None
    if all(x.upper is not None for x in lines):
        upper = max(lines, key=lambda x: x.upper)  # type: ignore[arg-type, return-value]
    return Range(
        lower.lower if lower else None,
        upper.upper if upper else None,
        f"`{lower.text}` in {lower.where}" if lower else "",
        f"`{upper.text}` in {upper.where}" if upper else "",
    )


# --- the sources, each a list of groups (the first group naming a package decides) ---------

Group = list[tuple[str, _Line]]


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _pyproject_groups(path: Path) -> list[Group]:
    data = _toml(path)
    project = data.get("project", {})
    groups: list[Group] = []
    if isinstance(project, dict):
        groups.append(
            list(
                _pep508_lines(
                    _strings(project.get("dependencies")), f"[project.dependencies] of {path}"
                )
            )
        )
        optional = project.get("optional-dependencies", {})
        if isinstance(optional, dict):
            groups.append(
                [
                    item
                    for extra, deps in sorted(optional.items())
                    for item in _pep508_lines(
                        _strings(deps), f"[project.optional-dependencies] {extra} of {path}"
                    )
                ]
            )
    poetry = data.get("tool", {}).get("poetry", {})
    if isinstance(poetry, dict):
        groups.append(_poetry(poetry.get("dependencies"), f"[tool.poetry.dependencies] of {path}"))
    return groups


def _poetry(table: object, where: str) -> Group:
    """Poetry's ``name = "^2.1"`` (or ``{ version = "..." }``) entries as PEP 440 bounds."""
    found: Group = []
    if not isinstance(table, dict):
        return found
    for name, value in table.items():
        if isinstance(value, dict):
            value = value.get("version")
        if isinstance(value, str):
            lower, upper = _poetry_range(value)
            found.append((normalized(name), _Line(lower, upper, f"{name} = {value!r}", where)))
    return found


def _poetry_range(constraint: str) -> tuple[Version | None, Version | None]:
    """``^2.1`` is >=2.1,<3; ``~2.1`` is >=2.1,<2.2; ``2.1.0`` is ==2.1.0; ``a || b`` the union."""
    ranges = []
    for part in constraint.split("||"):
        specs = []
        part = re.sub(r"([<>=!~^]=?)\s+", r"\1", part.strip())  # `< 1.13.0` is one token
        for token in re.split(r"[,\s]+(?=[<>=!~^\d*])", part):
            token = token.strip()
            number = re.match(r"^[\^~]?=?\s*v?(\d+)(?:\.(\d+))?", token)
            if token.startswith("^") and number:
                major, minor = int(number[1]), int(number[2] or 0)
                specs.append(f">={major}.{minor}")
                specs.append(f"<{major + 1}" if major else f"<0.{minor + 1}")
            elif token.startswith("~") and not token.startswith("~=") and number:
                major, minor = int(number[1]), int(number[2] or 0)
                specs.append(f">={major}.{minor}")
                specs.append(f"<{major}.{minor + 1}")
            elif token and token[0].isdigit():
                specs.append(f"=={token}")
            elif token and token != "*":
                specs.append(token)
        ranges.append(spec_range(",".join(specs)))
    lowers = [r[0] for r in ranges]
    uppers = [r[1] for r in ranges]
    lower = None if any(x is None for x in lowers) else min(x for x in lowers if x)
    upper = None if any(x is None for x in uppers) else max(x for x in uppers if x)
    return lower, upper


def _setup_py_groups(path: Path) -> list[Group]:
    """``install_requires`` (then ``extras_require``) of the ``setup(...)`` call, parsed with
    ``ast`` and never run: list literals, and names bound to them at module level."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    bound: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                bound[target.id] = node.value

    def strings(expr: ast.expr | None, depth: int = 0) -> list[str]:
        if expr is None or depth > 5:
            return []
        if isinstance(expr, ast.Name) and expr.id in bound:
            return strings(bound[expr.id], depth + 1)
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            return [
                e.value
                for e in expr.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return strings(expr.left, depth + 1) + strings(expr.right, depth + 1)
        if isinstance(expr, ast.Dict):
            return [s for value in expr.values for s in strings(value, depth + 1)]
        return []

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name != "setup":
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        return [
            list(
                _pep508_lines(
                    strings(keywords.get("install_requires")), f"install_requires of {path}"
                )
            ),
            list(
                _pep508_lines(strings(keywords.get("extras_require")), f"extras_require of {path}")
            ),
        ]
    return []


def _setup_cfg_groups(path: Path) -> list[Group]:
    config = configparser.ConfigParser()
    try:
        config.read(path, encoding="utf-8")
        install = config.get("options", "install_requires", fallback="")
        extras = (
            [config.get("options.extras_require", key) for key in config["options.extras_require"]]
            if config.has_section("options.extras_require")
            else []
        )
    except (configparser.Error, UnicodeDecodeError):
        return []
    return [
        list(_pep508_lines(install.splitlines(), f"install_requires of {path}")),
        list(_pep508_lines("\n".join(extras).splitlines(), f"extras_require of {path}")),
    ]


def _requirement_lines(path: Path, seen: set[Path]) -> Iterator[tuple[str, Path]]:
    """The plain lines of a requirements file and of those it includes (``-r``)."""
    try:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    for raw in text.splitlines():
        line = raw.split(" #")[0].strip()
        include = re.match(r"^(?:-r|--requirement)[\s=]\s*(\S+)", line)
        if include:
            yield from _requirement_lines(path.parent / include[1], seen)
        elif line and not line.startswith(("-", "#")):
            yield line, path


def _requirements_groups(directory: Path) -> list[Group]:
    """Each requirements file on its own (a file naming a package without bounds is
    skipped for the lower end: another file may be the one with the promise)."""
    files = sorted(directory.glob("requirements*.txt")) + sorted(
        (directory / "requirements").glob("*.txt")
    )
    found: Group = []
    for path in files:
        lines = list(_requirement_lines(path, set()))
        for line, origin in lines:
            found.extend(_pep508_lines([line], str(origin)))
    return [found]


_CONDA = re.compile(
    r"^\s*-\s*(?:[\w.-]+::)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[^#]*?)\s*(?:#.*)?$"
)


_TOP_LEVEL_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:")


def _conda_groups(directory: Path) -> list[Group]:
    """``- pytorch>=2.1``, ``- pytorch=2.1`` (conda: 2.1.*), ``- pytorch 2.1.*`` and pip
    entries of ``environment*.yml``, read line by line. Only the ``dependencies:`` list
    names packages: ``channels: [- pytorch]`` is where conda looks for them."""
    found: Group = []
    for path in sorted([*directory.glob("environment*.yml"), *directory.glob("environment*.yaml")]):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        section = ""
        for raw in text.splitlines():
            key = _TOP_LEVEL_KEY.match(raw)
            if key:
                section = key["key"]
            if section != "dependencies":
                continue
            match = _CONDA.match(raw)
            if not match or normalized(match["name"]) not in PACKAGES:
                continue
            spec = match["spec"].strip()
            if re.match(r"^=\s*\d", spec):  # conda's `=2.1`: any 2.1.x
                spec = "==" + spec[1:].strip().rstrip(".*") + ".*"
            elif re.match(r"^\d", spec):  # `pytorch 2.1.*`
                spec = "==" + spec.split()[0]
            lower, upper = spec_range(spec.replace(" ", ""))
            found.append(
                (normalized(match["name"]), _Line(lower, upper, raw.strip(" -"), str(path)))
            )
    return [found]


def _sources(directory: Path) -> Iterator[tuple[list[Group], bool]]:
    """The sources of ``directory`` in order, each with whether its groups are one list
    (a line without a lower bound then leaves the lower end unknown)."""
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        yield _pyproject_groups(pyproject), True
    setup_py = directory / "setup.py"
    if setup_py.is_file():
        yield _setup_py_groups(setup_py), True
    setup_cfg = directory / "setup.cfg"
    if setup_cfg.is_file():
        yield _setup_cfg_groups(setup_cfg), True
    yield _requirements_groups(directory), False
    yield _conda_groups(directory), False


def declared_ranges(directory: Path) -> dict[str, Range]:
    """What the project in ``directory`` declares for torch, torchvision and torchaudio."""
    found: dict[str, Range] = {}
    for groups, strict in _sources(directory):
        for group in groups:
            for package in PACKAGES:
                if package in found:
                    continue
                lines = [line for name, line in group if name == package]
                if lines:
                    found[package] = _combine(lines, strict)
        if len(found) == len(PACKAGES):
            break
    return found


def from_pyproject(path: Path) -> Declared | None:
    """The lower bound from the ``[project]`` dependencies of a pyproject.toml."""
    groups = _pyproject_groups(path)
    torch = [line for name, line in (groups[0] if groups else []) if name == "torch"]
    return _declared(_combine(torch, True)) if torch else None


def from_requirements(path: Path) -> Declared | None:
    """From a requirements file's plain lines (and the files it includes)."""
    lines = [
        line
        for text, origin in _requirement_lines(path, set())
        for name, line in _pep508_lines([text], str(origin))
        if name == "torch"
    ]
    return _declared(_combine(lines, True)) if lines else None


def _declared(found: Range | None) -> Declared | None:
    if found is None or found.lower is None:
        return None
    return Declared(found.lower, found.lower_source)


def declared_torch(directory: Path) -> Declared | None:
    """The oldest torch the project in ``directory`` declares (see ``declared_ranges``)."""
    return _declared(declared_ranges(directory).get("torch"))


# --- evidence in the code: modules a torch release removed ----------------------------------

# module -> the first torch release without it
REMOVED_MODULES: dict[str, Version] = {"torch._six": (2, 0)}
_REMOVED_TEXT = re.compile(rb"torch\._six|from\s+torch\s+import\s+[^\n]*\b_six\b")
_SCAN_LIMIT = 5000  # files: a directory that is not really a project is not read whole


def cap_possible(declared: Range) -> bool:
    """Whether code could cap ``declared`` further: not when it already ends before every
    removal, nor when its floor is past one (``torch>=2.0`` code cannot import
    ``torch._six`` unguarded and run), so the files need not be read."""
    first = min(REMOVED_MODULES.values())
    if declared.upper is not None and declared.upper < first:
        return False
    return declared.lower is None or declared.lower < first


def removed_module_cap(files: Iterable[Path]) -> Range | None:
    """The newest torch the code can run on, from an unguarded import (not inside ``try``
    or ``if``: those are fallbacks) of a module a torch release removed; None if none."""
    best: Range | None = None
    for count, path in enumerate(files):
        if count >= _SCAN_LIMIT:
            break
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        if b"_six" not in raw or not _REMOVED_TEXT.search(raw):
            continue
        try:
            tree = ast.parse(raw)
        except (SyntaxError, ValueError):
            continue
        for node, line in _unguarded_imports(tree):
            removed = REMOVED_MODULES.get(node)
            if removed is None:
                continue
            cap = _newest_before(removed)
            if best is None or best.upper is None or cap < best.upper:
                best = Range(
                    None,
                    cap,
                    "",
                    f"`import {node}` in {path}:{line} (removed in torch {format_version(removed)})",
                )
    return best


def _unguarded_imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Try, ast.If)) or type(node).__name__ == "TryStar":
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(node.body)
