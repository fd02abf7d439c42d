"""Tests generated from every rule's own examples: the docs and the tests cannot drift apart."""

from __future__ import annotations

import json

import pytest

from tests.example_snapshot import SNAPSHOT, UPDATE, describe, example_key
from tests.helpers import fix, lint
from torchlint import engine
from torchlint.registry import all_rules
from torchlint.rules.base import Invalid, Valid

CASES = [
    pytest.param(rule, example, id=f"{rule.code}-{type(example).__name__.lower()}-{index}")
    for rule in all_rules()
    for index, example in enumerate(rule.examples)
]
INVALID = [case for case in CASES if isinstance(case.values[1], Invalid)]
VALID = [case for case in CASES if isinstance(case.values[1], Valid)]


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_example(rule, example: Valid | Invalid) -> None:
    result = lint(example.code, rule.code, path=example.path, **example.settings)
    assert not result.errors, result.errors
    found = [d for d in result.diagnostics if d.code == rule.code]
    if isinstance(example, Valid):
        assert found == [], f"{rule.code} reported valid code:\n{example.code}\n{found}"
        return
    assert len(found) == example.count, f"{rule.code} on:\n{example.code}\nfound {found}"
    outcome = fix(example.code, rule.code, path=example.path, **example.settings)
    assert not outcome.errors, outcome.errors
    if example.fixed is None:
        assert outcome.fixed == 0, f"unexpected fix:\n{outcome.source}"
        return
    assert outcome.source == example.fixed
    again = fix(outcome.source, rule.code, path=example.path, **example.settings)
    assert again.source == outcome.source, "fixing twice changed the result"


@pytest.mark.parametrize(("rule", "example"), VALID)
def test_valid_example_reaches_the_rule(rule, example: Valid, monkeypatch) -> None:
    """With the `requires` pre-filter off, so a valid example tests the rule, not the filter."""
    monkeypatch.setattr(engine, "_active_rules", lambda rules, source: list(rules))
    result = lint(example.code, rule.code, path=example.path, **example.settings)
    assert not result.errors, result.errors
    found = [d for d in result.diagnostics if d.code == rule.code]
    assert found == [], f"{rule.code} reported valid code:\n{example.code}\n{found}"


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize(("rule", "example"), INVALID)
def test_invalid_example_matches_the_snapshot(rule, example: Invalid, snapshot: dict) -> None:
    """Positions and fix applicability (what plain `fix` applies) are pinned."""
    key = example_key(rule.code, example)
    live = describe(rule.code, example)
    assert key in snapshot, f"{key} is not in {SNAPSHOT.name}: check it, then run `{UPDATE}`"
    assert live == snapshot[key], (
        f"{rule.code}'s example no longer gives what {SNAPSHOT.name} pins (positions, "
        f"fix applicability or plain `fix`'s result). If the change is intended, check "
        f"the diff and run `{UPDATE}`."
    )


def test_snapshot_has_no_stale_entries(snapshot: dict) -> None:
    live = {example_key(rule.code, example) for rule, example in (c.values for c in INVALID)}
    stale = sorted(set(snapshot) - live)
    assert not stale, f"{SNAPSHOT.name} pins examples that are gone: {stale}; run `{UPDATE}`"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule) -> None:
    doc = rule.documentation()
    for section in (
        "What it does",
        "Why is this bad?",
        "Example",
        "Use instead",
        "Fix safety",
        "References",
    ):
        assert f"## {section}" in doc, f"{rule.code} lacks the section {section!r}"
    assert rule.name and rule.summary
    valid = [e for e in rule.examples if isinstance(e, Valid)]
    invalid = [e for e in rule.examples if isinstance(e, Invalid)]
    assert len(valid) >= 3 and len(invalid) >= 3, f"{rule.code} needs more examples"
