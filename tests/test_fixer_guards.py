"""The fixer's guards: overlapping fixes wait their turn, and no result is nested too deeply."""

from __future__ import annotations

import ast

from tests.helpers import fix, settings_for
from torchlint.engine import lint_source
from torchlint.fixer import _non_overlapping, fix_source
from torchlint.registry import all_rules

# TL101 (unsafe: make_loader) and TL102 (safe: pin_memory) both rewrite the same call.
SHARED_CALL = """\
import torch
from torch.utils.data import DataLoader

loader = DataLoader(data, batch_size=2)
for x in loader:
    x = x.to("cuda")
"""


def test_overlapping_fixes_are_applied_one_at_a_time() -> None:
    settings = settings_for(None, select=["TL101", "TL102"])
    rules = [r for r in all_rules() if r.code in settings.selected_codes]
    found = lint_source("example.py", SHARED_CALL, settings, rules).diagnostics
    assert sorted(d.code for d in found) == ["TL101", "TL102"]
    assert [d.code for d in _non_overlapping(found)] == ["TL101"]
    outcome = fix_source("example.py", SHARED_CALL, settings, rules, unsafe=True)
    assert outcome.fixed == 1  # what `fix` reports is what it did
    assert "make_loader(data, batch_size=2)" in outcome.source
    assert outcome.remaining == []


def test_a_fix_that_would_nest_too_deeply_for_python_is_refused() -> None:
    # 199 levels parse; `.to(best_device())` would add the 200th.
    source = "import torch\nx = " + "(" * 199 + "y.cuda()" + ")" * 199 + "\n"
    ast.parse(source)
    outcome = fix(source, "TL201")
    assert outcome.fixed == 0
    assert outcome.source == source
    assert outcome.errors and "does not parse" in outcome.errors[0]
