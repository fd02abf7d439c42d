"""Locating nodes from the statements they are in gives the offsets that generating the
whole module gives, or says it cannot (and the engine generates it all)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest

from torchlint import engine
from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.names import iter_children
from torchlint.positions import node_spans, placed_spans
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


def _statements(
    node: cst.CSTNode, indents: tuple[str, ...], default: str
) -> Iterator[tuple[cst.CSTNode, tuple[str, ...]]]:
    """Every statement of a module's or a block's body, with its blocks' indentation."""
    for child in iter_children(node):
        if isinstance(node, (cst.Module, cst.IndentedBlock)) and child in node.body:
            yield child, indents
        inner = indents
        if isinstance(child, cst.IndentedBlock):
            inner = (*indents, default if child.indent is None else child.indent)
        yield from _statements(child, inner, default)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_statement_is_placed_where_the_module_puts_it(name: str) -> None:
    source = SOURCES[name]
    module = cst.parse_module(source)
    everything = node_spans(module)
    placed = 0
    for statement, indents in _statements(module, (), module.default_indent):
        found = placed_spans(module, source, statement, indents)
        if found is not None:  # None: its text stands twice in the file
            placed += 1
            assert found == {key: everything[key] for key in found}
            assert all(id(node) in found for node in _nodes(statement))
    assert placed >= 3


def test_a_statement_that_stands_twice_is_not_placed() -> None:
    source = "import torch\nx.cuda()\ny = 1\nx.cuda()\n"
    module = cst.parse_module(source)
    assert placed_spans(module, source, module.body[1]) is None
    once = module.body[2]
    assert placed_spans(module, source, once)[id(once)] == (22, 27)


def test_a_file_without_a_final_newline_is_not_placed() -> None:
    """The last statement's text ends with a newline: `x = 1\n` would be found at line 1."""
    source = "x = 1\nx = 1"
    module = cst.parse_module(source)
    assert placed_spans(module, source, module.body[-1]) is None


def test_a_statement_in_a_block_is_generated_at_the_blocks_indentation() -> None:
    source = "def f():\n    if x:\n        return 1\n    return 1\n"
    module = cst.parse_module(source)
    inner = module.body[0].body.body[0].body.body[0]
    assert placed_spans(module, source, inner, ("    ", "    "))[id(inner)] == (27, 35)
    assert placed_spans(module, source, inner, ("    ",)) is None  # `    return 1` twice


def _full_module(module: cst.Module, wanted) -> dict[int, tuple[int, int]]:
    return node_spans(module, wanted)  # not `node_spans` itself: the engine's other path


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_diagnostics_and_fixes_are_located_as_from_the_whole_module(rule, monkeypatch) -> None:
    placed = []

    def recording(*args, **kwargs):
        spans = engine_placed_spans(*args, **kwargs)
        placed.append(spans is not None)
        return spans  # None: the engine locates from the whole module

    monkeypatch.setattr(engine, "placed_spans", recording)
    for example in rule.examples:
        if not isinstance(example, Invalid):
            continue
        source = example.code  # dedented by `Invalid`
        # each example's own table (e.g. `portability = "strict"`): what makes it report
        settings = build_settings(None, select=["ALL"], table=dict(example.settings))
        rules = selected_rules(settings.selected_codes)
        fast = lint_source("example.py", source, settings, rules)
        full = lint_source("example.py", source, settings, rules, locate=_full_module)
        assert not fast.errors, fast.errors
        assert fast.diagnostics == full.diagnostics
        assert fast.diagnostics, "an invalid example reports something"
    # TL000 and TL001 are located without a tree; a report made on leaving the module has
    # no statement around it, so the module is generated.
    # TL909 reads each function whole when the walk enters it, and reports from there.
    if rule.code not in ("TL000", "TL001", "TL909") and not hasattr(rule, "leave_Module"):
        assert any(placed), "the statements were generated, not the module"


engine_placed_spans = engine.placed_spans
