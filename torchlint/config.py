"""Settings: ``[tool.torchlint]`` in the nearest pyproject.toml, overridden by the command line.

Rule selection follows ruff: ``select`` replaces the default set, ``extend-select`` adds to
it, ``ignore`` removes from it; selectors are codes (``TL101``), prefixes (``TL1``) or
``ALL``. When selectors disagree about a code, the most specific one wins, and ``ignore``
wins a tie. Unknown keys, codes and values are errors that name the file and the problem.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Protocol

from torchlint import torch_versions
from torchlint.dependencies import declares_torchlint
from torchlint.discovery import DEFAULT_EXCLUDES, Excludes, relative_to_root
from torchlint.nesting import DEFAULT_MAX_NESTING
from torchlint.parse_cost import DEFAULT_MAX_PARSE_MEMORY
from torchlint.roles import DEFAULT_TEST_CODE, is_test_code

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = frozenset(
    {
        "select",
        "ignore",
        "extend-select",
        "per-file-ignores",
        "exclude",
        "extend-exclude",
        "unsafe-fixes",
        "runtime-helpers",
        "target-version",
        "max-target-version",
        "respect-gitignore",
        "cache-dir",
        "test-code",
        "max-file-size",
        "max-nesting",
        "max-parse-memory",
        "portability",
    }
)
DEFAULT_MAX_FILE_SIZE = 1024  # KiB
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


class RuleCatalogue(Protocol):
    """What the settings ask of the rules: ``torchlint.registry`` answers."""

    def all_rules(self) -> Sequence[Any]: ...  # rule classes: code, name, default

    def all_codes(self) -> frozenset[str]: ...

    def codes_not_for_tests(self) -> tuple[str, ...]: ...


_CATALOGUE: list[RuleCatalogue] = []


def use_rules(catalogue: RuleCatalogue) -> None:
    """Hand the settings the rules to select from and validate against.

    The registry calls it when it is imported. The settings sit below the rules (every rule
    reads them), so they cannot import the registry themselves: that would be a circle.
    """
    _CATALOGUE[:] = [catalogue]


def _rules() -> RuleCatalogue:
    if not _CATALOGUE:
        raise RuntimeError("the settings know no rules yet: import torchlint.registry first")
    return _CATALOGUE[0]


class ConfigError(Exception):
    """A problem with the user's configuration or options; reported as one line, exit 2."""


@dataclass(frozen=True)
class Settings:
    """Everything that changes what torchlint reports or fixes."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    unsafe_fixes: bool = False
    runtime_helpers: bool = True
    target_version: tuple[int, int] | None = None
    # where target_version came from: an option, the config file or a declared dependency
    target_version_source: str = field(default="", compare=False)
    # the newest torch the project supports (None: no upper bound known), and where from
    max_target_version: tuple[int, int] | None = None
    max_target_version_source: str = field(default="", compare=False)
    # the declared ranges of torchvision and torchaudio (package, range); torch's is above
    package_ranges: tuple[tuple[str, torch_versions.Range], ...] = ()
    respect_gitignore: bool = True
    cache_dir: str = ".torchlint_cache"
    test_code: tuple[str, ...] = DEFAULT_TEST_CODE
    # Larger files (in KiB) are not checked, with a warning: libcst's tree of a generated
    # data table can take gigabytes. 0: no limit.
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    # Files whose brackets nest deeper are not checked, with a warning: libcst's parse
    # memory grows with the depth (torchlint/nesting.py). 0: no limit.
    max_nesting: int = DEFAULT_MAX_NESTING
    # Files whose parse libcst would take more memory (MiB, estimated from the tokens and
    # their bracket depth: torchlint/parse_cost.py) are not checked, with a warning. 0: no
    # limit.
    max_parse_memory: int = DEFAULT_MAX_PARSE_MEMORY
    # "strict": every hard-coded CUDA use is reported (TL201/TL202), not only in code that
    # also selects another device
    portability: str = "auto"
    root: Path = field(default_factory=Path.cwd, compare=False)
    config_file: Path | None = field(default=None, compare=False)
    # enabled_codes by path: asked for each file by the engine and again by the
    # suppressions, and matching paths (pathlib, fnmatch) costs more than the question
    _enabled: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        for selector in (*(self.select or ()), *self.extend_select, *self.ignore):
            validate_selector(selector, where=self.config_file)
        for _, codes in self.per_file_ignores:
            for selector in codes:
                validate_selector(selector, where=self.config_file)

    @cached_property
    def excludes(self) -> Excludes:
        """What a walk skips: the default excludes, ``exclude`` and ``extend-exclude``."""
        return Excludes((*DEFAULT_EXCLUDES, *self.exclude, *self.extend_exclude))

    def excluded(self, path: Path) -> bool:
        """Whether ``path`` or a directory above it (up to the root) is excluded: for files
        named explicitly where excludes apply anyway (``--force-exclude``, editors, flake8)."""
        return self.excludes.covers(path, self.root)

    @cached_property
    def selected_codes(self) -> frozenset[str]:
        return _resolve_selection(self.select, self.extend_select, self.ignore)

    def enabled_codes(self, path: str) -> frozenset[str]:
        """The selected codes minus the per-file ignores matching ``path``, and minus the
        rules that do not apply to test code when ``path`` is test code."""
        # A relative path names another file after a chdir.
        key = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
        known = self._enabled.get(key)
        if known is None:
            known = self._enabled[key] = self._enabled_codes(path)
        return known

    def _enabled_codes(self, path: str) -> frozenset[str]:
        ignored: list[str] = []
        for pattern, codes in self.per_file_ignores:
            if _path_matches(path, pattern, self.root):
                ignored.extend(codes)
        if self.is_test_code(path):
            ignored.extend(_rules().codes_not_for_tests())
        if not ignored:
            return self.selected_codes
        return _cached_minus(self.selected_codes, tuple(ignored))

    def is_test_code(self, path: str) -> bool:
        """Whether ``path`` is test code by the ``test-code`` patterns (see roles.py)."""
        return bool(self.test_code) and is_test_code(
            relative_to_root(path, self.root), self.test_code
        )

    def supports(self, version: tuple[int, int]) -> bool:
        """True when every torch the project supports has the API added in ``version``."""
        return self.target_version is None or self.target_version >= version

    def torch_range(self) -> torch_versions.Range:
        """The torch releases the project supports, with where each end came from."""
        return torch_versions.Range(
            self.target_version,
            self.max_target_version,
            self.target_version_source,
            self.max_target_version_source,
        )

    def range_of(self, package: str) -> torch_versions.Range:
        """The supported releases of ``package`` (torch, torchvision, torchaudio): declared,
        else, for torchvision, the releases built for the supported torch."""
        if package == "torch":
            return self.torch_range()
        for name, declared in self.package_ranges:
            if name == package:
                return declared
        if package == "torchvision":
            low, high = self.target_version, self.max_target_version
            return torch_versions.Range(
                torch_versions.torchvision_for(low) if low else None,
                torch_versions.torchvision_for(high) if high else None,
                "the torchvision built for the oldest torch supported" if low else "",
                "the torchvision built for the newest torch supported" if high else "",
            )
        return torch_versions.Range()

    def target_at_least(self, version: str | tuple[int, int]) -> bool:
        """True only when a target version is known (set or derived) and is ``version`` or newer:
        the project promises that every torch it supports has what ``version`` added."""
        if isinstance(version, str):
            version = parse_target_version(version, "target_at_least")
        return self.target_version is not None and self.target_version >= version

    def fingerprint(self) -> str:
        """A stable text naming every setting that changes results (for the cache key)."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        return repr(
            (
                sorted(self.selected_codes),
                self.per_file_ignores,
                self.runtime_helpers,
                self.target_version,
                self.max_target_version,
                tuple((name, r.lower, r.upper) for name, r in self.package_ranges),
                self.test_code,
                self.portability,
                # a lower limit skips files a cached result says were checked
                self.max_file_size,
                self.max_nesting,
                self.max_parse_memory,
            )
        )


_MINUS_CACHE: dict[tuple[frozenset[str], tuple[str, ...]], frozenset[str]] = {}


def _cached_minus(selected: frozenset[str], ignored: tuple[str, ...]) -> frozenset[str]:
    key = (selected, ignored)
    if key not in _MINUS_CACHE:
        _MINUS_CACHE[key] = frozenset(
            c for c in selected if not any(_matches(s, c) for s in ignored)
        )
    return _MINUS_CACHE[key]


def _path_matches(path: str, pattern: str, root: Path) -> bool:
    candidate = Path(path)
    relative = relative_to_root(candidate, root)
    return (
        fnmatch.fnmatch(relative, pattern)
        or fnmatch.fnmatch(candidate.name, pattern)
        or fnmatch.fnmatch(candidate.as_posix(), pattern)
    )


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


_SELECTOR = re.compile(r"ALL|TL\d{0,3}")


def validate_selector(selector: str, where: Path | None = None) -> None:
    """A selector is ``ALL``, ``TL``, a family (``TL1``) or a code prefix that names a rule."""
    origin = f" in {where}" if where else ""
    if not selector:
        raise ConfigError(f"empty rule selector{origin}")
    if _SELECTOR.fullmatch(selector) and any(
        selector == "ALL" or code.startswith(selector) for code in _rules().all_codes()
    ):
        return
    hint = ""
    named = next((r for r in _rules().all_rules() if r.name == selector.lower()), None)
    if named is not None:
        hint = f" (`{named.name}` is the name of {named.code}: use the code)"
    elif selector != selector.upper() and _SELECTOR.fullmatch(selector.upper()):
        hint = f" (codes are upper case: `{selector.upper()}`)"
    else:
        hint = did_you_mean(selector.upper(), _rules().all_codes())
    raise ConfigError(f"unknown rule selector `{selector}`{origin}{hint}")


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` for the closest of ``choices``, or '' when none is close.

    Closeness is difflib's ratio; a tie goes to the first in order (`TL1O1` is `TL101`, not
    `TL611`: ``difflib.get_close_matches`` would pick the last)."""
    scored = sorted((-difflib.SequenceMatcher(None, value, c).ratio(), c) for c in choices)
    if not scored or -scored[0][0] < 0.6:
        return ""
    return f" (did you mean `{scored[0][1]}`?)"


def _unknown_keys(table: Mapping[str, Any]) -> str:
    """``ignroe (did you mean `ignore`?), foo`` for the keys torchlint does not know."""
    return ", ".join(
        f"{key}{did_you_mean(key, KNOWN_KEYS)}" for key in sorted(set(table) - KNOWN_KEYS)
    )


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def _resolve_selection(
    select: tuple[str, ...] | None, extend_select: tuple[str, ...], ignore: tuple[str, ...]
) -> frozenset[str]:
    enabled = set()
    for rule in _rules().all_rules():
        code = rule.code
        positives = [
            _specificity(s) for s in (*(select or ()), *extend_select) if _matches(s, code)
        ]
        if select is None and rule.default:
            positives.append(-1)
        negatives = [_specificity(s) for s in ignore if _matches(s, code)]
        if positives and (not negatives or max(positives) > max(negatives)):
            enabled.add(code)
    return frozenset(enabled)


def parse_target_version(value: Any, where: str, key: str = "target-version") -> tuple[int, int]:
    """``"2.4"`` → (2, 4); it must name a torch release torchlint knows."""
    match = _VERSION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ConfigError(f'{where}: `{key}` must look like "2.1", got {value!r}')
    version = int(match[1]), int(match[2])
    if not torch_versions.is_known(version):
        raise ConfigError(
            f"{where}: `{key}` {value!r} is not a torch release torchlint knows "
            f"({torch_versions.known_range()})"
        )
    return version


CONFIG_FILE = "torchlint.toml"


def config_in(directory: Path) -> Path | None:
    """The config file of ``directory`` itself: a ``torchlint.toml`` (always), else a
    pyproject.toml with a ``[tool.torchlint]`` table (as ruff prefers ruff.toml)."""
    own = directory / CONFIG_FILE
    if own.is_file():
        return own
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            return pyproject  # let load_config report the problem
        if "torchlint" in data.get("tool", {}):
            return pyproject
    return None


def find_config(start: Path) -> Path | None:
    """The nearest config file at or above ``start``: a ``torchlint.toml``, or a
    pyproject.toml that has a ``[tool.torchlint]`` table."""
    directory = start if start.is_dir() else start.parent
    directory = directory.resolve()
    for candidate in (directory, *directory.parents):
        found = config_in(candidate)
        if found is not None:
            return found
    return None


def load_config(path: Path) -> dict[str, Any]:
    """Read and validate the ``[tool.torchlint]`` table of a pyproject.toml (or a torchlint.toml)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    table = data.get("tool", {}).get("torchlint", data if path.name != "pyproject.toml" else {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.torchlint] must be a table")
    if set(table) - KNOWN_KEYS:
        raise ConfigError(f"{path}: unknown key(s) in [tool.torchlint]: {_unknown_keys(table)}")
    return table


def _str_list(table: Mapping[str, Any], key: str, where: Path) -> tuple[str, ...] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _bool(table: Mapping[str, Any], key: str, where: Path) -> bool | None:
    if key not in table:
        return None
    if not isinstance(table[key], bool):
        raise ConfigError(f"{where}: `{key}` must be true or false")
    return table[key]


def _helpers(table: Mapping[str, Any], where: Path, config_path: Path | None) -> bool | None:
    """``runtime-helpers``: true, false, or "auto" (true only where the project declares
    torchlint as a dependency, so a fix never adds one it lacks)."""
    if table.get("runtime-helpers") == "auto":
        return declares_torchlint(config_path.parent if config_path else Path.cwd())
    if "runtime-helpers" in table and not isinstance(table["runtime-helpers"], bool):
        raise ConfigError(f'{where}: `runtime-helpers` must be true, false or "auto"')
    return _bool(table, "runtime-helpers", where)


def build_settings(
    config_path: Path | None,
    *,
    select: Iterable[str] | None = None,
    extend_select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    unsafe_fixes: bool | None = None,
    runtime_helpers: bool | None = None,
    target_version: str | None = None,
    max_target_version: str | None = None,
    exclude: Iterable[str] | None = None,
    extend_exclude: Iterable[str] = (),
    table: dict[str, Any] | None = None,
    project: Path | None = None,
) -> Settings:
    """Merge the config file (if any, or an in-memory ``table``) with command-line options.

    Without ``target-version``, a file's project declares it (its torch requirement): the
    ``project`` directory, else the nearest one with a pyproject.toml at or above the config
    file's; an in-memory table stands alone."""
    in_memory = table is not None
    if table is None:
        table = load_config(config_path) if config_path else {}
    else:
        if set(table) - KNOWN_KEYS:
            raise ConfigError(f"unknown key(s): {_unknown_keys(table)}")
    where = config_path or Path("<command line>")
    file_select = _str_list(table, "select", where)
    per_file: list[tuple[str, tuple[str, ...]]] = []
    raw_per_file = table.get("per-file-ignores", {})
    if not isinstance(raw_per_file, dict):
        raise ConfigError(f"{where}: `per-file-ignores` must be a table of pattern = [codes]")
    for pattern, codes in sorted(raw_per_file.items()):
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{where}: `per-file-ignores.{pattern}` must be a list of codes")
        per_file.append((pattern, tuple(codes)))
    root = config_path.parent.resolve() if config_path else Path.cwd()
    declared: dict[str, torch_versions.Range] = {}
    cap = None
    if not in_memory:
        directory = project or _project_directory(root)
        declared = torch_versions.declared_ranges(directory)
        if torch_versions.cap_possible(declared.get("torch", torch_versions.Range())):
            cap = _code_cap(directory)
    torch = declared.get("torch", torch_versions.Range())
    version, version_source = torch.lower, torch.lower_source
    if target_version is not None:
        version = parse_target_version(target_version, "--target-version")
        version_source = "--target-version"
    elif "target-version" in table:
        version = parse_target_version(table["target-version"], str(where))
        version_source = f"`target-version` in {where}"
    upper, upper_source = torch.upper, torch.upper_source
    if cap is not None and cap.upper is not None and (upper is None or cap.upper < upper):
        upper, upper_source = cap.upper, cap.upper_source
    if max_target_version is not None:
        key = "max-target-version"
        upper = parse_target_version(max_target_version, "--max-target-version", key)
        upper_source = "--max-target-version"
    elif "max-target-version" in table:
        key = "max-target-version"
        upper = parse_target_version(table[key], str(where), key)
        upper_source = f"`max-target-version` in {where}"
    if version is not None and upper is not None and upper < version:
        if upper_source.startswith(("`max-target-version`", "--")):
            raise ConfigError(
                f"{where}: `max-target-version` {torch_versions.format_version(upper)} is "
                f"older than `target-version` {torch_versions.format_version(version)}"
            )
        upper, upper_source = None, ""  # a declared cap below the configured floor: moot
    cli_select = tuple(select) if select is not None else None
    for selector in (*(cli_select or ()), *extend_select, *ignore):
        validate_selector(selector)
    file_unsafe = _bool(table, "unsafe-fixes", where)
    file_helpers = _helpers(table, where, config_path)
    file_gitignore = _bool(table, "respect-gitignore", where)
    cache_dir = table.get("cache-dir", ".torchlint_cache")
    if not isinstance(cache_dir, str):
        raise ConfigError(f"{where}: `cache-dir` must be a string")
    test_code = _str_list(table, "test-code", where)
    max_file_size = table.get("max-file-size", DEFAULT_MAX_FILE_SIZE)
    if type(max_file_size) is not int or max_file_size < 0:
        raise ConfigError(
            f"{where}: `max-file-size` must be a whole number of KiB (0: no limit), "
            f"not {max_file_size!r}"
        )
    max_nesting = table.get("max-nesting", DEFAULT_MAX_NESTING)
    if type(max_nesting) is not int or max_nesting < 0:
        raise ConfigError(
            f"{where}: `max-nesting` must be a whole number of brackets (0: no limit), "
            f"not {max_nesting!r}"
        )
    max_parse_memory = table.get("max-parse-memory", DEFAULT_MAX_PARSE_MEMORY)
    if type(max_parse_memory) is not int or max_parse_memory < 0:
        raise ConfigError(
            f"{where}: `max-parse-memory` must be a whole number of MiB (0: no limit), "
            f"not {max_parse_memory!r}"
        )
    portability = table.get("portability", "auto")
    if portability not in ("auto", "strict"):
        raise ConfigError(f'{where}: `portability` must be "auto" or "strict", not {portability!r}')
    # As in ruff, `--select` replaces the file's whole selection (select, extend-select and
    # ignore); per-file-ignores still apply.
    file_extend = () if cli_select is not None else _str_list(table, "extend-select", where)
    file_ignore = () if cli_select is not None else _str_list(table, "ignore", where)
    return Settings(
        select=cli_select if cli_select is not None else file_select,
        extend_select=(*(file_extend or ()), *extend_select),
        ignore=(*(file_ignore or ()), *ignore),
        per_file_ignores=tuple(per_file),
        exclude=tuple(exclude)
        if exclude is not None
        else (_str_list(table, "exclude", where) or ()),
        extend_exclude=(*(_str_list(table, "extend-exclude", where) or ()), *extend_exclude),
        unsafe_fixes=unsafe_fixes if unsafe_fixes is not None else bool(file_unsafe),
        runtime_helpers=runtime_helpers
        if runtime_helpers is not None
        else (file_helpers if file_helpers is not None else True),
        target_version=version,
        target_version_source=version_source,
        max_target_version=upper,
        max_target_version_source=upper_source,
        package_ranges=tuple(
            (name, found) for name, found in sorted(declared.items()) if name != "torch"
        ),
        respect_gitignore=file_gitignore if file_gitignore is not None else True,
        cache_dir=cache_dir,
        test_code=DEFAULT_TEST_CODE if test_code is None else test_code,
        max_file_size=max_file_size,
        max_nesting=max_nesting,
        max_parse_memory=max_parse_memory,
        portability=portability,
        root=root,
        config_file=config_path,
    )


@lru_cache(maxsize=32)
def _code_cap(directory: Path) -> torch_versions.Range | None:
    """The newest torch the project's code can run on, from imports of removed modules
    (``torch._six``); read only in a real project (a directory with a project marker),
    once per process."""
    if not _has_marker(directory):
        return None
    from torchlint.discovery import discover

    files = discover([directory], root=directory).files
    return torch_versions.removed_module_cap(f for f in files if f.suffix == ".py")


def _project_directory(root: Path) -> Path:
    """The nearest directory at or above ``root`` with a pyproject.toml (else ``root``): where
    the project declares its dependencies, even without a ``[tool.torchlint]`` table."""
    for candidate in (root, *root.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return root


@dataclass(frozen=True)
class Overrides:
    """The settings given on the command line: they apply on top of every file's own."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    unsafe_fixes: bool | None = None
    runtime_helpers: bool | None = None
    target_version: str | None = None
    max_target_version: str | None = None
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()


# Where a project declares what it depends on: the nearest directory holding one of these
# is a file's project (its torch requirement decides `target-version` when none is set).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
# The files whose change can change a directory's settings (an editor watches them).
WATCHED_FILES = (CONFIG_FILE, *PROJECT_MARKERS, "requirements.txt")


class Resolver:
    """The settings of each file, as ruff resolves them: the nearest config file above it
    (``torchlint.toml``, or a pyproject.toml with ``[tool.torchlint]``), whatever directory
    the run started in and whatever else is in the run; ``config`` (``--config``) instead
    for every file; the ``overrides`` on top. A file with no config file above it takes
    the one above the working directory, if any. ``target-version`` is read from each
    file's own project when the settings do not give it.

    Answers are kept per directory, so a run of many files reads each config once; the
    object pickles (worker processes get it whole)."""

    def __init__(
        self,
        overrides: Overrides | None = None,
        config: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.overrides = overrides or Overrides()
        self.config = config
        self.cwd = (cwd or Path.cwd()).absolute()
        self._configs: dict[Path, Path | None] = {}
        self._projects: dict[tuple[Path, Callable[[Path], bool]], Path | None] = {}
        self._settings: dict[tuple[Path | None, Path | None], Settings] = {}
        self._fallback: tuple[Path | None] | None = None
        # as asked (absolute, links not resolved): a run asks once a file
        self._by_directory: dict[Path, Settings] = {}

    def for_file(self, path: Path | str) -> Settings:
        """The settings of the file at ``path`` (it need not exist: an editor's buffer)."""
        return self.for_directory(Path(os.path.abspath(path)).parent)

    def for_path(self, path: Path) -> Settings:
        """The settings of a file, or of the files directly in a directory."""
        return self.for_directory(path.absolute()) if path.is_dir() else self.for_file(path)

    def for_directory(self, directory: Path) -> Settings:
        """The settings of the files directly in ``directory``."""
        if not directory.is_absolute():
            directory = directory.absolute()
        known = self._by_directory.get(directory)
        if known is None:
            known = self._by_directory[directory] = self._for_directory(directory)
        return known

    def _for_directory(self, directory: Path) -> Settings:
        directory = self._real(directory)
        config = self.config if self.config is not None else self._config_of(directory)
        if config is None and self.config is None:
            config = self._cwd_config()
        project = self._project_of(directory)
        key = (config, project)
        settings = self._settings.get(key)
        if settings is None:
            settings = self._settings[key] = self._build(config, project)
        return settings

    def config_files(self) -> set[Path | None]:
        """The config files the settings asked for so far came from (None: no file)."""
        return {config for config, _ in self._settings}

    def walk_rules(self, directory: Path) -> tuple[Excludes, Path, bool]:
        """What decides the entries of ``directory`` in a walk (see ``discovery.discover``)."""
        settings = self.for_directory(directory)
        return settings.excludes, settings.root, settings.respect_gitignore

    def _build(self, config: Path | None, project: Path | None) -> Settings:
        o = self.overrides
        return build_settings(
            config,
            select=o.select,
            extend_select=o.extend_select,
            ignore=o.ignore,
            unsafe_fixes=o.unsafe_fixes,
            runtime_helpers=o.runtime_helpers,
            target_version=o.target_version,
            max_target_version=o.max_target_version,
            exclude=o.exclude,
            extend_exclude=o.extend_exclude,
            project=project,
        )

    def _cwd_config(self) -> Path | None:
        if self._fallback is None:
            self._fallback = (self._config_of(self._real(self.cwd)),)
        return self._fallback[0]

    @staticmethod
    def _real(directory: Path) -> Path:
        try:
            return directory.resolve()
        except OSError:
            return directory.absolute()

    def _config_of(self, directory: Path) -> Path | None:
        """The nearest config file at or above ``directory`` (resolved)."""
        if directory in self._configs:
            return self._configs[directory]
        found = config_in(directory) if directory.is_dir() or not directory.exists() else None
        if found is None and directory.parent != directory:
            found = self._config_of(directory.parent)
        self._configs[directory] = found
        return found

    def _project_of(self, directory: Path) -> Path | None:
        """The nearest directory at or above ``directory`` with a project marker; without
        one, the nearest with a requirements or conda environment file."""
        found = self._nearest(directory, _has_marker)
        return found if found is not None else self._nearest(directory, _has_requirements)

    def _nearest(self, directory: Path, test: Callable[[Path], bool]) -> Path | None:
        key = (directory, test)
        if key in self._projects:
            return self._projects[key]
        if test(directory):
            found: Path | None = directory
        elif directory.parent != directory:
            found = self._nearest(directory.parent, test)
        else:
            found = None
        self._projects[key] = found
        return found


def _has_marker(directory: Path) -> bool:
    return any((directory / name).is_file() for name in PROJECT_MARKERS)


def _has_requirements(directory: Path) -> bool:
    return any(directory.glob("requirements*.txt")) or any(directory.glob("environment*.y*ml"))
