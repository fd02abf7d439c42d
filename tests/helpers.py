"""Running rules on snippets, shared by the tests."""

from __future__ import annotations

from typing import Any

from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.fixer import fix_source
from torchlint.registry import all_rules


def settings_for(code: str | None = None, **table: Any):
    table = {k.replace("_", "-"): v for k, v in table.items()}
    if code is not None:
        table.setdefault("select", [code])
    return build_settings(None, table=table)


def lint(source: str, code: str, path: str = "example.py", **table: Any):
    settings = settings_for(code, **table)
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    return lint_source(path, source, settings, rules)


def fix(source: str, code: str, path: str = "example.py", unsafe: bool = True, **table: Any):
    settings = settings_for(code, **table)
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    return fix_source(path, source, settings, rules, unsafe=unsafe, only=frozenset({code}))


def fix_all(source: str, codes: list[str], path: str = "example.py", **table: Any):
    """Fix ``source`` with the rules ``codes`` together, unsafe fixes included."""
    settings = settings_for(None, select=codes, **table)
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    return fix_source(path, source, settings, rules, unsafe=True)
