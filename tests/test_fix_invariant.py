"""The fixer's invariant: a fix is written only if the diagnostic it was made for is gone."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from tests.helpers import lint, settings_for
from torchlint.diagnostics import Applicability, Edit
from torchlint.fixer import apply_fixes, fix_source, identity_of, map_identity, map_offset
from torchlint.registry import all_rules
from torchlint.rules.base import InsertAfter, InsertLine, Invalid, Replace, Rule


def _fixable_examples():
    for rule in all_rules():
        for index, example in enumerate(rule.examples):
            if isinstance(example, Invalid) and example.fixed is not None:
                yield pytest.param(rule, example, id=f"{rule.code}-{index}")


@pytest.mark.parametrize(("rule", "example"), list(_fixable_examples()))
def test_each_fix_removes_its_own_diagnostic(rule, example: Invalid) -> None:
    """Applied alone, every fix of every invalid example removes the diagnostic it was made
    for (same code, same node: its span mapped through the edits)."""
    found = lint(example.code, rule.code, path=example.path, **example.settings).diagnostics
    fixable = [d for d in found if d.code == rule.code and d.fix_applies(True)]
    assert fixable, f"{rule.code}: the example has a fixed form but no applicable fix"
    for diagnostic in fixable:
        text, _, stages = apply_fixes(example.code, [diagnostic])
        after = lint(text, rule.code, path=example.path, **example.settings).diagnostics
        left = map_identity(identity_of(diagnostic), stages)
        assert left not in {identity_of(d) for d in after}, (
            f"{rule.code}: the fix left its diagnostic in place:\n{text}"
        )


# --- Rules whose fixes break the invariant (made up for the test) ---------------------------


class _Stubborn(Rule):
    """Reports every ``while`` loop; its fix adds a line that changes nothing."""

    code = "TL302"
    name = "stubborn"
    summary = "stubborn"

    def visit_While(self, node: cst.While) -> None:
        first = node.body.body[0]  # type: ignore[attr-defined]
        self.report(
            node,
            fix=self.fix(Applicability.SAFE, "Add a line", InsertLine(first, "model.train()")),
        )


class _Restless(Rule):
    """Reports every integer and wraps it in parentheses: a new finding after every fix."""

    code = "TL302"
    name = "restless"
    summary = "restless"

    def visit_Integer(self, node: cst.Integer) -> None:
        wrapped = Replace(node, f"({node.value})")
        self.report(node, fix=self.fix(Applicability.SAFE, "Wrap", wrapped))


LOOP = "while True:\n    step()\n"


def test_a_fix_that_leaves_its_diagnostic_is_rolled_back() -> None:
    settings = settings_for("TL302")
    outcome = fix_source("loop.py", LOOP, settings, [_Stubborn], unsafe=True)
    assert outcome.source == LOOP
    assert outcome.fixed == 0
    assert [d.code for d in outcome.remaining] == ["TL302"]
    assert outcome.remaining[0].fix is None  # reported without [*]
    assert outcome.warnings == [
        "loop.py: a TL302 fix did not remove its diagnostic and was not applied "
        "(a bug in torchlint: please report it)"
    ]


def test_a_rule_that_does_not_settle_writes_nothing() -> None:
    settings = settings_for("TL302")
    outcome = fix_source("count.py", "x = 1\n", settings, [_Restless], unsafe=True)
    assert outcome.source == "x = 1\n"
    assert outcome.fixed == 0
    assert [d.fix for d in outcome.remaining] == [None]
    assert len(outcome.warnings) == 1
    assert "TL302 fixes did not settle in 10 passes" in outcome.warnings[0]


class _Appender(Rule):
    """Reports every integer; its fix adds text right after it, so the integer stays."""

    code = "TL302"
    name = "appender"
    summary = "appender"

    def visit_Integer(self, node: cst.Integer) -> None:
        fix = self.fix(Applicability.SAFE, "Append", InsertAfter(node, " if y else z"))
        self.report(node, fix=fix)


def test_text_added_right_after_a_finding_leaves_it_where_it_was() -> None:
    """The finding's end maps to before the inserted text: the same finding, so rolled back."""
    outcome = fix_source("one.py", "x = 1\n", settings_for("TL302"), [_Appender], unsafe=True)
    assert (outcome.source, outcome.fixed) == ("x = 1\n", 0)
    assert outcome.warnings == [
        "one.py: a TL302 fix did not remove its diagnostic and was not applied "
        "(a bug in torchlint: please report it)"
    ]


def test_other_rules_fixes_are_kept() -> None:
    settings = settings_for(None, select=["TL302", "TL101"])
    source = (
        "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
        + LOOP
    )
    rules = [r for r in all_rules() if r.code == "TL101"] + [_Stubborn]
    outcome = fix_source("mixed.py", source, settings, rules, unsafe=True)
    assert (
        "make_loader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)"
        in outcome.source
    )
    assert "model.train()" not in outcome.source
    assert outcome.fixed == 1


def test_positions_map_through_edits() -> None:
    edits = [Edit(2, 2, "ab"), Edit(5, 7, "x")]
    assert map_offset(1, edits) == 1
    assert map_offset(2, edits) == 4  # text inserted at a span's start goes before it
    assert map_offset(2, edits, end=True) == 2  # ... and at a span's end, after it
    assert map_offset(5, edits) == 7  # a replacement starting there
    assert map_offset(6, edits) == 7  # inside a replaced range: its start
    assert map_offset(6, edits, end=True) == 8  # ... or its end
    assert map_offset(7, edits) == 8
    assert map_offset(9, edits) == 10


# --- A GPT-style training script (one file, module-level loop) ------------------------------

TRAINER = """\
import torch
from model import GPT

model = GPT()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
eval_interval = 100
iter_num = 0


@torch.no_grad()
def estimate_loss():
    out = {}
    model.eval()
    for split in ["train", "val"]:
        losses = torch.zeros(10)
        for k in range(10):
            X, Y = get_batch(split)
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


while True:
    if iter_num % eval_interval == 0:
        losses = estimate_loss()
        print(losses)
    X, Y = get_batch("train")
    logits, loss = model(X, Y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    iter_num += 1
"""


def test_trainer_fix_then_diff_prints_nothing(tmp_path: Path, run_cli) -> None:
    target = tmp_path / "train.py"
    target.write_text(TRAINER)
    run_cli("fix", "--unsafe-fixes", "--select", "ALL", "train.py")
    first = target.read_text()
    assert first.count("model.train()") <= 2  # the helper's own, plus at most one fix
    again = run_cli("fix", "--diff", "--unsafe-fixes", "--select", "ALL", "train.py")
    assert again.stdout == b""
    assert target.read_text() == first
