"""The language server's incremental parse: after any edit, the module, the node offsets and
the diagnostics are exactly those of a parse of the whole new text."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest

from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.positions import node_spans
from torchlint.registry import selected_rules
from torchlint.server.documents import lint_text
from torchlint.server.incremental import Document

ROOT = Path(__file__).resolve().parents[1]
TRAIN_BAD = (ROOT / "examples" / "train_bad.py").read_text(encoding="utf-8")
TRICKY = {
    "two-space indent, block first": (
        "def f(x):\n  if x:\n    return 1\n  # end of f\n\n# between\nclass C:\n"
        "  def m(self):\n      pass\n    # deeper\n\n\nimport torch\nx = torch.zeros(3).cuda()\n"
    ),
    "comments and blank lines at the edges": (
        "#!/usr/bin/env python\n# header\n\nimport torch\n\n\ndef g():\n    return torch.ones(1)"
        "\n    # indented tail\n\n# flush tail\nmodel = torch.nn.Linear(2, 2).cuda()\n\n# footer\n"
    ),
    "crlf": "import torch\r\n\r\ndef h():\r\n    x = torch.zeros(1).cuda()\r\n    return x\r\n",
    "no trailing newline": "import torch\nx = torch.zeros(1).cuda()",
    "match and decorators": (
        "import torch\n\n@decorate\ndef f(v):\n    match v:\n        case 1:\n            pass\n"
        "\nif True: y = 1\nelse:\n\tz = 2\nw = torch.Tensor(3)\n"
    ),
    "simple statements only": "import torch\nx = 1; y = 2\nt = torch.Tensor(2)\n",
}
SNIPPETS = [
    "\n", "\n\n", "    ", "  ", "\t", "x", "'", '"', '"""', "(", ")", "[", "]", "{", ":", "#",
    "# note\n", "    # note\n", "\\\n", "\r\n", "if x:\n", "else:\n", "def f():\n    pass\n",
    "class K:\n  y = 1\n", "torch.zeros(2).cuda()\n", "import os\n", "    return 1\n", "@d\n",
]  # fmt: skip


def _edit(text: str, rng: random.Random) -> str:
    """One random keystroke-sized (or line-sized) change."""
    position = rng.randrange(len(text) + 1)
    kind = rng.randrange(6)
    if kind <= 1:
        return text[:position] + rng.choice(SNIPPETS) + text[position:]
    if kind == 2:
        return text[:position] + text[position + rng.randint(1, 4) :]
    lines = text.splitlines(keepends=True) or [""]
    index = rng.randrange(len(lines))
    if kind == 3:
        del lines[index]
    elif kind == 4:
        lines.insert(index, lines[index])
    else:
        lines[index] = "    " + lines[index] if rng.random() < 0.5 else lines[index].lstrip(" ")
    return "".join(lines)


def _nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        yield from _nodes(child)


def _check_parse(document: Document, text: str) -> None:
    module = document.parse(text)
    try:
        full = cst.parse_module(text)
    except Exception:  # noqa: BLE001 - then the engine must be left to report it
        assert module is None
        return
    assert module is not None
    assert module.code == full.code  # the text itself, except where libcst loses some
    assert module.deep_equals(full)
    wanted = [node for statement in module.body for node in _nodes(statement)]
    _same_spans(document, module, wanted)


def _same_spans(document: Document, module: cst.Module, wanted: list[cst.CSTNode]) -> None:
    expected, found = node_spans(module, wanted), document.locate(module, wanted)
    assert [found[id(n)] for n in wanted] == [expected[id(n)] for n in wanted]


def _sources() -> Iterator[tuple[str, str]]:
    yield "train_bad", TRAIN_BAD
    yield from TRICKY.items()


@pytest.mark.parametrize(("name", "source"), list(_sources()))
def test_random_edits_parse_as_the_whole_text_does(name: str, source: str) -> None:
    rng = random.Random(f"incremental-{name}")
    document = Document()
    for _ in range(60):
        text = source
        for _ in range(rng.randint(1, 6)):  # edits pile up, then start again
            text = _edit(text, rng)
            _check_parse(document, text)
    if name != "no trailing newline":
        assert document.incremental > 15  # many edits were spliced, not parsed in full


def test_random_edits_give_the_diagnostics_of_a_full_lint() -> None:
    settings = build_settings(None)
    rules = selected_rules(settings.selected_codes)
    rng = random.Random("incremental-diagnostics")
    document = Document()
    text = TRAIN_BAD
    for step in range(150):
        text = TRAIN_BAD if step % 8 == 0 else _edit(text, rng)
        found, errors = lint_text("train.py", text, settings, document)
        expected = lint_source("train.py", text, settings, rules)
        assert found == expected.diagnostics
        assert errors == expected.errors
    assert document.incremental > 20


def test_an_edit_parses_only_the_statements_it_touches() -> None:
    document = Document()
    document.parse(TRAIN_BAD)
    before = document.parsed
    assert before is not None
    edited = TRAIN_BAD.replace("def main", "def main_", 1)
    module = document.parse(edited)
    assert document.incremental == 1 and module is not None
    reused = sum(a is b for a, b in zip(before.module.body, module.body, strict=True))
    assert reused >= len(module.body) - 3


def test_node_offsets_match_codegen_on_the_project_sources() -> None:
    paths = [*(ROOT / "torchlint").rglob("*.py"), *(ROOT / "examples").glob("*.py")]
    paths += [p for p in (ROOT / "tests" / "fixtures").rglob("*.py")]
    for path in sorted(paths)[::3]:  # a third of them keeps it quick
        text = path.read_text(encoding="utf-8")
        document = Document()
        module = document.parse(text)
        if module is None:
            continue
        wanted = [node for statement in module.body for node in _nodes(statement)][::7]
        _same_spans(document, module, wanted)


def test_a_text_over_the_limits_gets_no_diagnostics_and_a_line_why() -> None:
    settings = build_settings(None, table={"max-nesting": 8, "extend-select": ["TL201"]})
    deep = "import torch\nx = torch.zeros(1).cuda()\ny = " + "(" * 12 + "1" + ")" * 12 + "\n"
    found, errors = lint_text("train.py", deep, settings)
    assert found == []
    assert errors == ["train.py: not checked: brackets nested 12 deep, more than `max-nesting` (8)"]
    big = build_settings(None, table={"max-file-size": 1})
    found, errors = lint_text("big.py", "x = 1\n" * 400, big)
    assert (found, errors) == (
        [],
        ["big.py: not checked: 2 KiB is more than `max-file-size` (1 KiB)"],
    )
