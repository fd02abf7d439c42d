"""TL314 context-manager-not-entered."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

# Context managers that act only when entered; each works with no argument, so `with X:`
# can become `with X():` without a guess.
NO_ARGUMENT = frozenset(
    {
        "torch.no_grad",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.enable_grad",
        "torch.autograd.enable_grad",
        "torch.autograd.grad_mode.enable_grad",
        "torch.inference_mode",
        "torch.autograd.inference_mode",
        "torch.autograd.grad_mode.inference_mode",
        "torch.cuda.amp.autocast",
        "torch.cpu.amp.autocast",
    }
)
# These need a device type: no fix for the class itself.
NEEDS_ARGUMENT = frozenset(
    {"torch.autocast", "torch.amp.autocast", "torch.amp.autocast_mode.autocast"}
)
CONTEXT_MANAGERS = NO_ARGUMENT | NEEDS_ARGUMENT
# `with pytest.raises(...)`, `self.assertRaises(...)`: a construction there is the test.
_EXPECTING = (
    "raises",
    "assertRaises",
    "assertRaisesRegex",
    "warns",
    "assertWarns",
    "deprecated_call",
)

_CLASS_MESSAGE = (
    "`with {name}:` uses the class, not an instance: it raises `TypeError` instead of "
    "entering the context; call it: `with {name}():`"
)
_STATEMENT_MESSAGE = (
    "`{name}(...)` is created and thrown away: it never takes effect; use it as `with {name}(...):`"
)


def _last_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


class ContextManagerNotEntered(Rule):
    """
    ## What it does
    Reports a grad-mode or autocast context manager that never acts:

    - `with torch.no_grad:` (also `inference_mode`, `enable_grad`, `autocast`): the class
      itself in a `with`, without the call;
    - `torch.no_grad()` (also `inference_mode()`, `enable_grad()`, `autocast(...)`) as a
      statement of its own: an object created and thrown away.

    Names are resolved through imports (`from torch import no_grad`). A statement inside
    `try:` or inside `with pytest.raises(...)` / `self.assertRaises(...)` is left alone: it
    is there to probe or to test the constructor. `torch.set_grad_enabled(False)` as a
    statement is not reported: it acts when called. The decorator `@torch.no_grad` without
    parentheses is not reported either: PyTorch accepts it.

    ## Why is this bad?
    `with torch.no_grad:` raises `TypeError: 'type' object does not support the context
    manager protocol` the first time the line runs (often an evaluation path that CI never
    reaches). A bare `torch.no_grad()` statement is worse: nothing fails, and the code
    below it still builds the autograd graph, keeping every activation alive (memory grows,
    evaluation is slower); a bare `autocast(...)` leaves the code in full precision.

    ## Example
    ```python
    with torch.no_grad:
        preds = model(x)

    torch.no_grad()
    preds = model(x)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        preds = model(x)
    ```

    ## Fix safety
    Safe for the class in a `with` (`with torch.no_grad:` → `with torch.no_grad():`): the
    line now does what it says instead of raising. `torch.autocast` / `torch.amp.autocast`
    need a device type, so the class is reported without a fix. A statement that creates
    and drops the object has no fix: which lines belong under the `with` is for a person to
    decide.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.no_grad.html
    - https://pytorch.org/docs/stable/amp.html#torch.autocast
    """

    code = "TL314"
    name = "context-manager-not-entered"
    applies_to_tests = True
    test_code_note = (
        "Checked in test code too: a test that never enters its `no_grad` or `autocast` "
        "checks something other than what it says. Statements under `pytest.raises(...)` / "
        "`assertRaises(...)` or in a `try:` are skipped: constructing the object is the test."
    )
    summary = "Context manager never entered: `with torch.no_grad:` needs `()`, a bare `torch.no_grad()` does nothing"
    fix_applicability = Applicability.SAFE
    requires = ("no_grad", "inference_mode", "enable_grad", "autocast")
    examples = (
        Invalid(
            """
            import torch
            def evaluate(model, x):
                with torch.no_grad:
                    return model(x)
            """,
            fixed="""
            import torch
            def evaluate(model, x):
                with torch.no_grad():
                    return model(x)
            """,
        ),
        Invalid(
            """
            from torch import inference_mode
            with inference_mode as mode, open("log") as f:
                run()
            """,
            fixed="""
            from torch import inference_mode
            with inference_mode() as mode, open("log") as f:
                run()
            """,
        ),
        Invalid(
            """
            import torch
            with torch.autocast:
                run()
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            def evaluate(model, loader):
                model.eval()
                torch.no_grad()
                return [model(x) for x in loader]
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch.cuda.amp as amp
            def step(model, x):
                amp.autocast(enabled=True)
                return model(x)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch import autocast
            autocast("cuda", dtype=torch.float16)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            with torch.no_grad(), torch.autocast("cuda"):
                run()
            """
        ),
        Valid(
            """
            import torch
            @torch.no_grad
            def evaluate(model, x):
                return model(x)
            @torch.inference_mode()
            def predict(model, x):
                return model(x)
            """
        ),
        Valid(
            """
            import torch
            torch.set_grad_enabled(False)
            guard = torch.no_grad()
            guard.__enter__()
            """
        ),
        Valid(
            """
            import pytest, torch
            def test_bad_device():
                with pytest.raises(RuntimeError):
                    torch.autocast(device_type="nope")
            def supports(device):
                try:
                    torch.autocast(device)
                except RuntimeError:
                    return False
                return True
            """
        ),
        Valid(
            """
            no_grad = Toggle()
            with no_grad:
                run()
            def no_grad():
                pass
            no_grad()
            """
        ),
    )

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            expr = item.item
            if isinstance(expr, cst.Call):
                continue
            qualified = self.qualified_name(expr)
            if qualified not in CONTEXT_MANAGERS:
                continue
            name = cst.Module([]).code_for_node(expr)
            fix = None
            if qualified in NO_ARGUMENT:
                fix = self.fix(
                    Applicability.SAFE,
                    f"Call it: `{name}()`",
                    Replace(expr, cst.Call(func=expr)),
                )
            self.report(expr, _CLASS_MESSAGE.format(name=name), fix=fix)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call):
            return
        if _last_name(call.func) not in ("no_grad", "inference_mode", "enable_grad", "autocast"):
            return
        if self.qualified_name(call.func) not in CONTEXT_MANAGERS:
            return
        if self._probing():
            return
        name = cst.Module([]).code_for_node(call.func)
        self.report(call, _STATEMENT_MESSAGE.format(name=name))

    def _probing(self) -> bool:
        """Inside ``try:`` or ``with pytest.raises(...)``: creating the object is the point."""
        for parent in reversed(self.context.ancestors):
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return False
            if isinstance(parent, cst.Try):
                return True
            if isinstance(parent, cst.With):
                for item in parent.items:
                    expr = item.item
                    if isinstance(expr, cst.Call) and _last_name(expr.func) in _EXPECTING:
                        return True
        return False
