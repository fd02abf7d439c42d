"""Tests generated from every rule's own examples: the docs and the tests cannot drift apart."""

from __future__ import annotations

import pytest

from tests.helpers import fix, lint
from torchlint.registry import all_rules
from torchlint.rules.base import Invalid, Valid

CASES = [
    pytest.param(rule, example, id=f"{rule.code}-{type(example).__name__.lower()}-{index}")
    for rule in all_rules()
    for index, example in enumerate(rule.examples)
]


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
