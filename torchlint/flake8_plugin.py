"""torchlint's rules inside flake8 (``flake8 --select TL``), for projects that run flake8.

flake8 hands over each file's lines; the file's own ``[tool.torchlint]`` settings (the
nearest pyproject.toml, as for ``torchlint check``) decide which rules run. flake8 wants
1-based lines and 0-based columns from a plugin and prints the column plus one, so the
output matches torchlint's own. flake8 applies ``# noqa`` itself as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.config import Settings, build_settings, find_config
from torchlint.engine import lint_source
from torchlint.registry import selected_rules

STDIN_NAMES = ("stdin", "-")


@lru_cache(maxsize=64)
def _settings(directory: Path) -> Settings:
    """The settings for files in ``directory``; a bad config raises ConfigError, which
    flake8 reports as this plugin's failure on that file."""
    return build_settings(find_config(directory) or find_config(Path.cwd()))


class TorchlintChecker:
    """A flake8 checker: flake8 passes ``filename`` and ``lines`` by these names."""

    name = "torchlint"
    version = __version__

    def __init__(self, tree: Any, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type[TorchlintChecker]]]:
        path = Path.cwd() / "stdin.py" if self.filename in STDIN_NAMES else Path(self.filename)
        settings = _settings(path.absolute().parent)
        source = "".join(self.lines)
        rules = selected_rules(settings.selected_codes)
        result = lint_source(str(path), source, settings, rules)
        for error in result.errors:  # flake8 has no channel for them: say it on stderr
            print(f"torchlint: error: {error}", file=sys.stderr)
        for d in result.diagnostics:
            yield d.start.line, d.start.column - 1, f"{d.code} {d.message}", type(self)
