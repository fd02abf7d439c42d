"""Locating nodes from the top-level statements they are in gives the offsets that
generating the whole module gives, or says it cannot (and the engine generates it all)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest

from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.names import iter_children
from torchlint.positions import node_spans, spans_from_statements
from torchlint.registry import all_rules, selected_rules
from torchlint.rules.base import Invalid

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "example": (ROOT / "examples" / "train_bad.py").read_text(encoding="utf-8"),
    "header, footer and comments": (
        "#!/usr/bin/env python\n# header\n\nimport torch\n\n\ndef g():\n    return torch.ones(1)"
        "\n    # indented tail\n\n# flush tail\nmodel = torch.nn.Linear(2, 2).cuda()\n\n# footer\n"
    ),
    "two-space indent": (
        "def f(x):\n  if x:\n    return (1 +\n      2)\n  # end\n\nclass C:\n"
        "  @property\n  def m(self):\n      pass\n"
    ),
    "crlf and tabs": "import torch\r\n\r\ndef h():\r\n\tx = torch.zeros(1).cuda()\r\n\treturn x\r\n",
}


def _nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in iter_children(node):
        yield from _nodes(child)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_node_of_a_statement_is_where_the_module_puts_it(name: str) -> None:
    source = SOURCES[name]
    module = cst.parse_module(source)
    everything = node_spans(module)
    for statement in module.body:
        nodes = list(_nodes(statement))
        found = spans_from_statements(module, source, nodes, [statement])
        assert found == {id(node): everything[id(node)] for node in nodes}


def test_a_statement_that_stands_twice_is_not_placed() -> None:
    source = "import torch\nx.cuda()\ny = 1\nx.cuda()\n"
    module = cst.parse_module(source)
    twice = module.body[1]
    assert spans_from_statements(module, source, [twice], [twice]) is None
    once = module.body[2]
    assert spans_from_statements(module, source, [once], [once]) == {id(once): (22, 27)}


def test_the_last_statement_without_a_newline_is_not_placed() -> None:
    """Its generated text ends with a newline: `x = 1\\n` would be found at the first line."""
    source = "x = 1\nx = 1"
    module = cst.parse_module(source)
    last = module.body[-1]
    assert spans_from_statements(module, source, [last], [last]) is None


def test_a_node_outside_the_statements_given_is_not_placed() -> None:
    source = "import torch\nx = torch.zeros(1)\n"
    module = cst.parse_module(source)
    first, second = module.body
    assert spans_from_statements(module, source, [second], [first]) is None
    assert spans_from_statements(module, source, [first, second], [first, second]) is not None


def _full_module(module: cst.Module, wanted) -> dict[int, tuple[int, int]]:
    return node_spans(module, wanted)  # not `node_spans` itself: the engine's other path


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_diagnostics_and_fixes_are_located_as_from_the_whole_module(rule) -> None:
    settings = build_settings(None, select=["ALL"])
    rules = selected_rules(settings.selected_codes)
    for example in rule.examples:
        if not isinstance(example, Invalid):
            continue
        source = example.code  # dedented by `Invalid`
        fast = lint_source("example.py", source, settings, rules)
        full = lint_source("example.py", source, settings, rules, locate=_full_module)
        assert fast.diagnostics == full.diagnostics
        assert fast.diagnostics, "an invalid example reports something"
