"""What every rule's Invalid examples give, pinned in ``tests/rules/example_snapshot.json``.

For each example: where each diagnostic is (line, column, code), how far its fix can be
trusted, and what plain ``fix`` (safe fixes only) does next to ``fix --unsafe-fixes``. A rule
that starts reporting on another line, or relabels an unsafe fix as safe, changes the
snapshot; ``python scripts/update_example_snapshot.py`` rewrites it after the diff is checked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.helpers import fix, lint
from torchlint.registry import all_rules
from torchlint.rules.base import Invalid

SNAPSHOT = Path(__file__).resolve().parent / "rules" / "example_snapshot.json"
UPDATE = "python scripts/update_example_snapshot.py"


def example_key(code: str, example: Invalid) -> str:
    """Stable while the example is unchanged, whatever its position among the others."""
    text = json.dumps([example.code, example.settings, example.path], sort_keys=True)
    return f"{code}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def describe(code: str, example: Invalid) -> dict[str, Any]:
    """The pinned facts of one Invalid example."""
    settings = example.settings
    found = lint(example.code, code, path=example.path, **settings).diagnostics
    unsafe = fix(example.code, code, path=example.path, unsafe=True, **settings)
    plain = fix(example.code, code, path=example.path, unsafe=False, **settings)
    if plain.source == example.code:
        plain_result = "unchanged"
    elif plain.source == unsafe.source:
        plain_result = "same as with --unsafe-fixes"
    else:
        plain_result = plain.source
    return {
        "example": example.code,
        "diagnostics": [
            f"{d.start.line}:{d.start.column} {d.code} "
            + (f"{d.fix.applicability.value} fix" if d.fix else "no fix")
            for d in found
            if d.code == code
        ],
        "fixed": {"fix": plain.fixed, "fix --unsafe-fixes": unsafe.fixed},
        "plain fix": plain_result,
    }


def live_snapshot() -> dict[str, dict[str, Any]]:
    snapshot: dict[str, dict[str, Any]] = {}
    for rule in all_rules():
        for example in rule.examples:
            if isinstance(example, Invalid):
                snapshot[example_key(rule.code, example)] = describe(rule.code, example)
    return dict(sorted(snapshot.items()))


def dump(snapshot: dict[str, dict[str, Any]]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"
