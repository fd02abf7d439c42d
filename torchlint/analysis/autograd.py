"""Where autograd is not live: weight initialisation and code under ``no_grad``.

Writing a parameter through ``.data`` hides the change from autograd, which matters only
where a graph may be recorded. It does not in weight initialisation (``__init__``,
``reset_parameters``, an ``init_weights`` function, a function handed to ``.apply()``, a
method ``__init__`` calls) nor under ``torch.no_grad()`` / ``inference_mode()`` (a ``with``
block, a decorator, or a decorator defined in the same file that turns grad off). The
per-file part (what ``.apply()`` receives, what ``__init__`` calls, which local decorators
turn grad off) is one walk, done on first use; the rest is a look at the ancestors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.flow import GRAD_OFF, SET_GRAD_ENABLED
from torchlint.names import Scope, dotted_name, iter_children
from torchlint.rules import calls

if TYPE_CHECKING:
    from torchlint.engine import FileContext

# Names of functions that set up parameters once, before any graph exists.
_INIT_NAMES = frozenset({"__init__", "reset_parameters", "_reset_parameters", "__setstate__"})
_INIT_WORDS = frozenset(
    {"init", "initialize", "initialise", "initialization", "initialisation", "reinit"}
)


@dataclass(frozen=True)
class InitFacts:
    """Function names the file itself shows to run at set-up or without grad."""

    applied: frozenset[str]  # `model.apply(init_fn)`, `self.apply(self._init)`
    called_from_init: frozenset[str]  # `self.build()` inside `__init__`
    grad_off_decorators: frozenset[str]  # same-file decorators that wrap in no_grad


def init_function_name(name: str) -> bool:
    """``__init__``, ``reset_parameters``, or a name with a word that says it initialises:
    ``init_weights``, ``_initialize``, ``weights_init``, ``init_conv_`` (not
    ``test_initialized_module``)."""
    if name in _INIT_NAMES:
        return True
    return any(word in _INIT_WORDS for word in name.lower().split("_"))


def _last_name(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def _collect(context: FileContext) -> InitFacts:
    applied: set[str] = set()
    from_init: set[str] = set()
    decorators: set[str] = set()
    scope = context.module_scope
    stack: list[tuple[cst.CSTNode, bool]] = [(context.module, False)]
    while stack:
        node, in_init = stack.pop()
        if isinstance(node, cst.FunctionDef):
            in_init = node.name.value == "__init__"
            if _turns_grad_off(node.body, scope):
                decorators.add(node.name.value)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if method == "apply" and len(node.args) == 1:
                name = _last_name(node.args[0].value)
                if name is not None:
                    applied.add(name)
            elif in_init and dotted_name(node.func.value) == "self":
                from_init.add(method)
        stack.extend((child, in_init) for child in iter_children(node))
    return InitFacts(frozenset(applied), frozenset(from_init), frozenset(decorators))


def _turns_grad_off(body: cst.CSTNode, scope: Scope) -> bool:
    """The function body enters ``no_grad()`` / ``inference_mode()`` (a wrapper's body)."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.With) and any(grad_off(i.item, scope) for i in node.items):
            return True
        stack.extend(iter_children(node))
    return False


def grad_off(expr: cst.BaseExpression, scope: Scope) -> bool:
    """``torch.no_grad()``, ``torch.inference_mode()``, ``torch.set_grad_enabled(False)``."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = scope.qualified_name(expr.func)
    if qualified in GRAD_OFF:
        return not expr.args or not calls.is_false(expr.args[0].value)
    if qualified in SET_GRAD_ENABLED:
        return len(expr.args) == 1 and calls.is_false(expr.args[0].value)
    return False


def autograd_off(context: FileContext, ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node whose ``ancestors`` these are runs at set-up or with autograd off."""
    scope = context.scope
    facts: InitFacts | None = None
    for index in range(len(ancestors) - 1, -1, -1):
        ancestor = ancestors[index]
        if isinstance(ancestor, cst.With):
            inner = ancestors[index + 1] if index + 1 < len(ancestors) else None
            if inner is ancestor.body and any(grad_off(i.item, scope) for i in ancestor.items):
                return True
        elif isinstance(ancestor, cst.FunctionDef):
            name = ancestor.name.value
            if init_function_name(name):
                return True
            if facts is None:
                facts = context.fact("autograd.init-functions", _collect)
            if name in facts.applied or name in facts.called_from_init:
                return True
            for decorator in ancestor.decorators:
                if _grad_off_decorator(decorator.decorator, scope, facts):
                    return True
    return False


def _grad_off_decorator(expr: cst.BaseExpression, scope: Scope, facts: InitFacts) -> bool:
    if grad_off(expr, scope) or scope.qualified_name(expr) in GRAD_OFF:
        return True
    target = expr.func if isinstance(expr, cst.Call) else expr
    name = dotted_name(target)
    return name is not None and "." not in name and name in facts.grad_off_decorators
