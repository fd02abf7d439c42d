"""TL314 context-manager-not-entered."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.names import iter_children, statement_fields
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


_FACTORY_MESSAGE = (
    "`{name}()` hands out a context manager that is thrown away here: it never takes effect; "
    "use it as `with {name}():`"
)
_NULL = frozenset({"contextlib.nullcontext"})
_CONTEXTMANAGER = frozenset({"contextlib.contextmanager"})


def _factories(context) -> set[tuple[int | None, str]]:
    """The functions of the file (``(None, name)`` at module level, ``(id(class), name)``
    for methods) that return only ``no_grad()``/``autocast(...)``-like objects (or
    ``nullcontext()``), or that are ``@contextmanager`` generators entering one."""
    scope = context.module_scope
    found: set[tuple[int | None, str]] = set()
    seen: dict[tuple[int | None, str], int] = {}
    candidates: list[tuple[int | None, cst.FunctionDef]] = []
    for statement in context.module.body:
        if isinstance(statement, cst.FunctionDef):
            candidates.append((None, statement))
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            for member in statement.body.body:
                if isinstance(member, cst.FunctionDef):
                    candidates.append((id(statement), member))
    for owner, function in candidates:
        key = (owner, function.name.value)
        seen[key] = seen.get(key, 0) + 1
        if _hands_out_context(function, scope):
            found.add(key)
    return {key for key in found if seen[key] == 1}


def _hands_out_context(function: cst.FunctionDef, scope) -> bool:
    """The decorators first, then the ``return`` and ``with`` statements (statements only);
    the expressions are searched for ``yield`` only when that can still change the answer."""
    decorators = [scope.qualified_name(d.decorator) for d in function.decorators]
    if decorators and decorators != ["contextlib.contextmanager"]:
        return False
    returns, entered = _returns_and_withs(function, scope)
    if decorators:  # a @contextmanager generator entering one
        return entered and _is_generator(function)
    if not returns:
        return False
    kinds = []
    for value in returns:
        if not isinstance(value, cst.Call):
            return False
        kinds.append(scope.qualified_name(value.func))
    return (
        all(k in CONTEXT_MANAGERS | _NULL for k in kinds)
        and any(k in CONTEXT_MANAGERS for k in kinds)
        and not _is_generator(function)  # a generator's return value is not what it hands out
    )


def _returns_and_withs(
    function: cst.FunctionDef, scope
) -> tuple[list[cst.BaseExpression | None], bool]:
    """The values the function's own ``return`` statements give, and whether one of its
    ``with`` statements enters a grad-mode or autocast context manager (statements are
    never inside expressions: those are not entered)."""
    returns: list[cst.BaseExpression | None] = []
    entered = False
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(node, cst.Return):
            returns.append(node.value)
        elif isinstance(node, cst.With):
            entered = entered or any(
                isinstance(item.item, cst.Call)
                and scope.qualified_name(item.item.func) in CONTEXT_MANAGERS
                for item in node.items
            )
        stack.extend(iter_children(node, statement_fields))
    return returns, entered


def _is_generator(function: cst.FunctionDef) -> bool:
    """A ``yield`` or ``await`` in the function's own body (not in a nested scope)."""
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Yield, cst.Await)):
            return True
        if not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(iter_children(node))
    return False


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
      statement of its own: an object created and thrown away;
    - the same for a function of the file that only hands one out: every `return` gives such
      an object (or `contextlib.nullcontext()`), or it is a `@contextmanager` generator that
      enters one (`self.maybe_autocast()` as a statement).

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
        Invalid(
            """
            import contextlib
            import torch
            class Trainer:
                def autocast_ctx(self):
                    if self.amp:
                        return torch.autocast("cuda", dtype=torch.bfloat16)
                    return contextlib.nullcontext()
                def step(self, batch):
                    self.autocast_ctx()
                    return self.model(batch)
            @contextlib.contextmanager
            def evaluating(model):
                model.eval()
                with torch.no_grad():
                    yield
                model.train()
            evaluating(model)
            """,
            fixed=None,
            count=2,
        ),
        Valid(
            """
            import contextlib
            import torch
            def maybe_autocast(enabled):
                if enabled:
                    return torch.autocast("cuda")
                return None
            @contextlib.contextmanager
            def timer():
                yield
            def ctx():
                return torch.no_grad()
            def ctx():
                return open("log")
            class T:
                def run(self):
                    with self.autocast_ctx():
                        maybe_autocast(True)
                        timer()
                        ctx()
            """
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
        name = cst.Module([]).code_for_node(call.func)
        if _last_name(call.func) in ("no_grad", "inference_mode", "enable_grad", "autocast"):
            if self.qualified_name(call.func) in CONTEXT_MANAGERS and not self._probing():
                self.report(call, _STATEMENT_MESSAGE.format(name=name))
            return
        if self._is_factory(call.func) and not self._probing():
            self.report(call, _FACTORY_MESSAGE.format(name=name))

    def _is_factory(self, func: cst.BaseExpression) -> bool:
        """``func`` names a function of this file that only hands out a grad-mode or
        autocast context manager (returns one, or is a ``@contextmanager`` around one)."""
        factories = self.context.fact("TL314-factories", _factories)
        if not factories:
            return False
        if isinstance(func, cst.Name):
            return (None, func.value) in factories
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == "self"
        ):
            cls = next(
                (a for a in reversed(self.context.ancestors) if isinstance(a, cst.ClassDef)), None
            )
            return cls is not None and (id(cls), func.attr.value) in factories
        return False

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
