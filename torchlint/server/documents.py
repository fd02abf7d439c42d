"""Which settings apply to an open file, and linting its unsaved text with them.

The settings are the CLI's (``config.Resolver``): the nearest ``torchlint.toml`` or
``pyproject.toml`` with ``[tool.torchlint]`` above the file (else above the working
directory), with ``target-version`` from the file's own project. They are cached per
directory and read again when any file that could decide them (a config file, or a file
declaring the project's dependencies) appears, changes or goes away, so an edit to the
configuration applies to the next lint without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.config import WATCHED_FILES, ConfigError, Resolver, Settings
from torchlint.diagnostics import Diagnostic
from torchlint.engine import internal_error, lint_source, needs_tree, over_limits
from torchlint.project import using
from torchlint.project.index import ProjectIndex
from torchlint.registry import selected_rules
from torchlint.server.incremental import Document
from torchlint.server.notebooks import CellText, lint_cells

_Stamp = tuple[tuple[str, int, int], ...]


@dataclass
class Snapshot:
    """One lint of one document: what code actions and hovers are answered from.

    ``texts`` maps each text document's URI to the text that was linted (one entry for a
    Python file, one per cell for a notebook); ``diagnostics`` maps it to its findings.
    ``settings`` is None when the file gets no diagnostics (excluded, or a bad config).
    """

    uri: str
    version: int | None
    path: str
    settings: Settings | None
    texts: dict[str, str]
    diagnostics: dict[str, list[Diagnostic]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notebook: bool = False
    cells: tuple[CellText, ...] = ()  # a notebook's cells, markup ones included
    config_error: str | None = None


def _stamp(directory: Path) -> _Stamp:
    """The files at and above ``directory`` that can decide its settings, with their mtime
    and size."""
    found = []
    for candidate in (directory, *directory.parents):
        for name in WATCHED_FILES:
            watched = candidate / name
            try:
                stat = os.stat(watched)
            except OSError:
                continue
            found.append((str(watched), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class SettingsStore:
    """Settings per file, as the CLI would build them, re-read when a config file changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[_Stamp, _Stamp], Settings] = {}

    def for_file(self, path: Path | None) -> Settings:
        """The settings for ``path`` (None: an unsaved buffer); raises ConfigError."""
        cwd = Path.cwd()
        directory = path.parent if path is not None else cwd
        key = (_stamp(directory.resolve()), _stamp(cwd))
        settings = self._cache.get(key)
        if settings is None:
            resolver = Resolver(cwd=cwd)
            settings = resolver.for_file(path) if path is not None else resolver.for_directory(cwd)
            if len(self._cache) > 256:  # stale stamps of edited configs: keep it small
                self._cache.clear()
            self._cache[key] = settings
        return settings


def excluded(path: Path, settings: Settings) -> bool:
    """Whether the project's ``exclude`` patterns (or the default ones) cover ``path``."""
    return settings.excluded(path)


def lint_text(
    path: str, text: str, settings: Settings, document: Document | None = None
) -> tuple[list[Diagnostic], list[str]]:
    """The diagnostics and internal-error lines for one Python text; with the ``document``
    it was last linted as, only the statements an edit touched are parsed again. A text over
    `max-file-size`, `max-nesting` or `max-parse-memory` gets no diagnostics and one line that says why."""
    skipped = over_limits(text, settings)
    if skipped is not None:
        return [], [f"{path}: {skipped}"]
    rules = selected_rules(settings.selected_codes)
    if document is not None and needs_tree(path, text, settings, rules):
        module = document.parse(text)  # None: the engine parses it and reports why not
        if module is not None:
            found = lint_source(path, text, settings, rules, module=module, locate=document.locate)
            return found.diagnostics, found.errors
    result = lint_source(path, text, settings, rules)
    return result.diagnostics, result.errors


def snapshot(
    uri: str,
    version: int | None,
    path: Path | None,
    cells: tuple[CellText, ...],
    notebook: bool,
    store: SettingsStore,
    index: ProjectIndex | None = None,
    document: Document | None = None,
) -> Snapshot:
    """Lint one document (a Python file is one cell). Never raises: a bad configuration is
    ``config_error`` (and no diagnostics), a crash is one line in ``errors``. With an
    ``index``, the rules see the saved files of the document's project; with a
    ``document``, a Python file's last parse is reused where the edit left it alone."""
    display = str(path) if path is not None else uri
    result = Snapshot(
        uri, version, display, None, {c.uri: c.text for c in cells}, notebook=notebook, cells=cells
    )
    try:
        settings = store.for_file(path)
        if path is not None and excluded(path, settings):
            return result
        result.settings = settings
        with using(index if path is not None else None):
            if notebook:
                result.diagnostics, result.errors = lint_cells(display, cells, settings)
            else:
                found, result.errors = lint_text(display, cells[0].text, settings, document)
                result.diagnostics = {cells[0].uri: found}
    except ConfigError as error:
        result.config_error = str(error)
    except Exception as error:  # noqa: BLE001 - one document's crash must not stop the server
        result.errors.append(internal_error(display, error))
    return result
