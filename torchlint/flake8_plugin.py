"""torchlint's rules inside flake8 (``flake8 --select TL``), for projects that run flake8.

flake8 hands over each file's lines; the file's own settings (its nearest config, resolved
as ``torchlint check`` resolves them) decide which rules run, and a file its settings
exclude (``exclude``, ``extend-exclude``, the default excludes) gets nothing, as
``torchlint check --force-exclude`` would skip it. flake8 wants
1-based lines and 0-based columns from a plugin and prints the column plus one, so the
output matches torchlint's own. flake8 applies ``# noqa`` itself as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.config import Resolver, Settings
from torchlint.engine import lint_source, over_limits
from torchlint.registry import selected_rules

STDIN_NAMES = ("stdin", "-")


_RESOLVERS: dict[Path, Resolver] = {}


def _settings(path: Path) -> Settings:
    """The settings of the file at ``path``; a bad config raises ConfigError, which flake8
    reports as this plugin's failure on that file. One resolver per working directory
    (a file without a config above it takes the working directory's)."""
    cwd = Path.cwd()
    resolver = _RESOLVERS.get(cwd)
    if resolver is None:
        resolver = _RESOLVERS[cwd] = Resolver(cwd=cwd)
    return resolver.for_file(path)


class TorchlintChecker:
    """A flake8 checker: flake8 passes ``filename`` and ``lines`` by these names."""

    name = "torchlint"
    version = __version__

    def __init__(self, tree: Any, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type[TorchlintChecker]]]:
        path = Path.cwd() / "stdin.py" if self.filename in STDIN_NAMES else Path(self.filename)
        settings = _settings(path.absolute())
        if self.filename not in STDIN_NAMES and settings.excluded(path):
            return
        source = "".join(self.lines)
        skipped = over_limits(source, settings)
        if skipped is not None:  # as `torchlint check` does: a warning, never a pass
            print(f"torchlint: warning: {path}: {skipped}", file=sys.stderr)
            return
        rules = selected_rules(settings.selected_codes)
        result = lint_source(str(path), source, settings, rules)
        for error in result.errors:  # flake8 has no channel for them: say it on stderr
            print(f"torchlint: error: {error}", file=sys.stderr)
        for d in result.diagnostics:
            yield d.start.line, d.start.column - 1, f"{d.code} {d.message}", type(self)
