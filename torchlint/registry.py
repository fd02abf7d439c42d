"""Every rule, found by importing the modules of ``torchlint.rules``'s family packages."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from functools import cache

from torchlint import config
from torchlint.rules.base import Rule


@cache
def all_rules() -> tuple[type[Rule], ...]:
    """All rule classes, sorted by code."""
    import torchlint.rules as package

    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
    found: dict[str, type[Rule]] = {}
    stack = list(Rule.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "code", None) and cls.__module__.startswith(package.__name__ + "."):
            if cls.code in found and found[cls.code] is not cls:
                raise RuntimeError(f"duplicate rule code {cls.code}: {cls} and {found[cls.code]}")
            found[cls.code] = cls
    return tuple(found[code] for code in sorted(found))


@cache
def all_codes() -> frozenset[str]:
    return frozenset(rule.code for rule in all_rules())


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.code == code.upper() or rule.name == code:
            return rule
    return None


def selected_rules(codes: frozenset[str]) -> list[type[Rule]]:
    return [rule for rule in all_rules() if rule.code in codes]


@cache
def codes_not_for_tests() -> tuple[str, ...]:
    """Codes of the rules that are not checked in test code (``Rule.applies_to_tests``)."""
    return tuple(rule.code for rule in all_rules() if not rule.applies_to_tests)


# The settings select and validate codes against these answers (``config.use_rules``).
config.use_rules(sys.modules[__name__])
