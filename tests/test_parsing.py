"""torchlint's parse builds libcst's tree without validating each node again, and only while
it parses: a node built at any other time is validated as libcst always does."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from torchlint import parsing
from torchlint.parsing import parse_module

PROJECT = Path(__file__).resolve().parents[1]
TRICKY = [
    "x = ((a))  # comment\n",
    "def f(*, a, b=1, **kw):\n    return (yield from g())\n",
    "async def f():\n    async with a as (b, c):\n        await d\n",
    "match p:\n    case {'k': [1, *rest]} if rest:\n        pass\n",
    "x = f'{a!r:>{width}} {b=}'\r\n",
    "@decorator\nclass C(Base, metaclass=M):\n\tx: int = 1\n",
    "lambda: (x := 1)\n",
]


def _sources() -> list[str]:
    own = sorted((PROJECT / "torchlint").rglob("*.py"))
    return TRICKY + [path.read_text(encoding="utf-8") for path in own[:: max(1, len(own) // 40)]]


@pytest.mark.parametrize("source", _sources())
def test_the_tree_is_the_one_libcst_builds(source: str) -> None:
    ours = parse_module(source)
    assert ours.code == source
    assert ours.deep_equals(cst.parse_module(source))


def test_no_node_is_validated_while_parsing(monkeypatch) -> None:
    validated: list[str] = []
    original = cst.Name._validate
    monkeypatch.setattr(
        cst.Name, "_validate", lambda node: validated.append(node.value) or original(node)
    )
    parse_module("first = second\n")
    assert validated == []
    cst.parse_module("first = second\n")  # libcst's own parse does validate: the check works
    assert validated == ["first", "second"]


def test_nodes_built_after_a_parse_are_validated() -> None:
    parse_module("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")


def test_validation_comes_back_after_a_parse_that_fails() -> None:
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")


def test_overlapping_parses_restore_validation_when_the_last_one_ends() -> None:
    parsing._begin()  # as two threads parsing at once
    parsing._begin()
    parsing._end()
    assert cst.Name("still skipped").value == "still skipped"  # the other parse runs on
    parsing._end()
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")


def test_a_parse_leaves_the_node_classes_alone() -> None:
    """Validation is switched by a counter, not by assigning to ``CSTNode`` around each
    parse: that would empty the attribute caches of every node class each time."""
    installed = cst.CSTNode.__dict__["__post_init__"]
    seen: list[object] = []
    original = cst.Name.__init__

    def spy(node: cst.Name, *args: object, **kwargs: object) -> None:
        seen.append(cst.CSTNode.__dict__["__post_init__"])
        original(node, *args, **kwargs)

    cst.Name.__init__ = spy  # type: ignore[method-assign]
    try:
        parse_module("first = second\n")
    finally:
        cst.Name.__init__ = original  # type: ignore[method-assign]
    assert seen == [installed, installed]
    assert cst.CSTNode.__dict__["__post_init__"] is installed
