"""The fixer's guards: overlapping fixes wait their turn, and no result is nested too deeply."""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from tests.helpers import fix, settings_for
from torchlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from torchlint.engine import lint_source
from torchlint.fixer import _non_overlapping, apply_edits, fix_source
from torchlint.registry import all_rules
from torchlint.rules.base import Replace, Rule

# TL101 (unsafe: make_loader) and TL102 (safe: pin_memory) both rewrite the same call.
SHARED_CALL = """\
import torch
import torchvision; from torch.utils.data import DataLoader

loader = DataLoader(torchvision.datasets.ImageFolder(data), batch_size=2, shuffle=True)
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
    assert (
        "make_loader(torchvision.datasets.ImageFolder(data), batch_size=2, shuffle=True)"
        in outcome.source
    )
    assert outcome.remaining == []


def test_a_fix_that_would_nest_too_deeply_for_python_is_refused() -> None:
    # 199 levels parse; `.to(best_device())` would add the 200th (`device` is taken, so the
    # selection goes inline; `DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'` makes the file one that runs without CUDA).
    source = (
        "import torch\ndevice = 0\nx = "
        + "(" * 199
        + "y.cuda()"
        + ")" * 199
        + "\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    )
    ast.parse(source)
    outcome = fix(source, "TL201")
    assert outcome.fixed == 0
    assert outcome.source == source
    assert outcome.errors and "does not parse" in outcome.errors[0]


def _with_fix(start: int, *edits: Edit) -> Diagnostic:
    """A diagnostic at ``start`` whose fix is ``edits`` (the picking looks at nothing else)."""
    at = Location(1, start + 1)
    fix = Fix(Applicability.SAFE, edits, "fix")
    return Diagnostic("a.py", at, at, "TL999", "test", "test", fix, start, start)


@pytest.mark.parametrize(
    ("first", "second", "both"),
    [
        pytest.param(Edit(0, 2, "x"), Edit(2, 4, "y"), True, id="adjacent replacements"),
        pytest.param(Edit(5, 7, "x"), Edit(3, 5, "y"), True, id="adjacent, second before"),
        pytest.param(Edit(0, 2, "x"), Edit(4, 6, "y"), True, id="apart"),
        pytest.param(Edit(0, 3, "x"), Edit(2, 4, "y"), False, id="crossing replacements"),
        pytest.param(Edit(3, 5, "x"), Edit(1, 4, "y"), False, id="crossing, second before"),
        pytest.param(Edit(0, 4, "x"), Edit(2, 2, "y"), False, id="insertion inside"),
        pytest.param(Edit(0, 4, "x"), Edit(0, 0, "y"), False, id="insertion at the start"),
        pytest.param(Edit(0, 4, "x"), Edit(4, 4, "y"), True, id="insertion at the end"),
        pytest.param(Edit(2, 2, "x"), Edit(0, 4, "y"), False, id="around an insertion"),
        pytest.param(Edit(4, 4, "x"), Edit(0, 4, "y"), True, id="ending at an insertion"),
        pytest.param(Edit(0, 0, "x"), Edit(0, 4, "y"), False, id="starting at an insertion"),
        pytest.param(Edit(2, 2, "x"), Edit(2, 2, "y"), False, id="two insertions, same place"),
        pytest.param(Edit(2, 2, "x"), Edit(3, 3, "y"), True, id="two insertions apart"),
    ],
)
def test_which_fixes_touch_each_other(first: Edit, second: Edit, both: bool) -> None:
    """Replacements conflict when they share characters; an insertion, strictly inside a
    range or at the same start (the order of the two texts would be arbitrary)."""
    a, b = _with_fix(0, first), _with_fix(1, second)
    assert _non_overlapping([b, a]) == ([a, b] if both else [a])


def test_edits_are_applied_in_order_and_an_overlapping_one_of_a_fix_is_dropped() -> None:
    assert apply_edits("abcdef", [Edit(4, 6, "Y"), Edit(0, 0, "<"), Edit(0, 2, "X")]) == "<XcdY"
    assert apply_edits("abcdef", [Edit(0, 3, "X"), Edit(2, 4, "Y")]) == "Xdef"
    assert apply_edits("abcdef", [Edit(2, 4, "")]) == "abef"


def test_code_too_deep_for_python_is_reported_and_left_alone() -> None:
    source = (
        "import torch\nx = "
        + "(" * 300
        + "y.cuda()"
        + ")" * 300
        + "\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    )
    outcome = fix(source, "TL201", select=["TL000", "TL201"])
    assert (outcome.source, outcome.fixed, outcome.errors) == (source, 0, [])
    assert [d.code for d in outcome.remaining] == ["TL000"]


class _CrashesOnItsFix(Rule):
    """Reports the integer 1 and fixes it to 2; then crashes on the 2 (a rule bug)."""

    code = "TL302"
    name = "crashes-on-its-fix"
    summary = "crashes on its fix"

    def visit_Integer(self, node: cst.Integer) -> None:
        if node.value == "2":
            raise RuntimeError("rule bug")
        self.report(node, fix=self.fix(Applicability.SAFE, "Two", Replace(node, "2")))


def test_an_internal_error_after_a_fix_is_reported() -> None:
    """The errors of every pass are kept: a rule that crashes on fixed code is not hidden."""
    outcome = fix_source(
        "one.py", "x = 1\n", settings_for("TL302"), [_CrashesOnItsFix], unsafe=True
    )
    assert (outcome.source, outcome.fixed) == ("x = 2\n", 1)
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith("one.py: internal error in TL302 (crashes-on-its-fix)")
