"""Where autograd is off: code under ``torch.no_grad()`` / ``inference_mode()``.

A change made through ``.data`` is hidden from autograd only where autograd is on. Code runs
with it off inside a ``with torch.no_grad():`` block, under a ``@torch.no_grad()``
decorator, or under a decorator (of this file, or of another file of the project) that wraps
the call in one. Which local decorators do that is one walk, done on first use; the rest is a
look at the ancestors of the node being asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.names import Scope, dotted_name, iter_children, statement_fields
from torchlint.vocabulary import GRAD_OFF, SET_GRAD_ENABLED

if TYPE_CHECKING:
    from torchlint.context import FileContext
    from torchlint.project.index import ProjectView

# The last names of GRAD_OFF and SET_GRAD_ENABLED: a file without them switches nothing off.
_GRAD_OFF_WORDS = ("no_grad", "inference_mode", "set_grad_enabled")


@dataclass(frozen=True)
class GraphFacts:
    grad_off_decorators: frozenset[str]  # same-file decorators that wrap in no_grad
    project: ProjectView | None = None  # decorators of the project's other files


def _collect(context: FileContext) -> GraphFacts:
    decorators: set[str] = set()
    scope = context.module_scope
    if any(word in context.source for word in _GRAD_OFF_WORDS):
        # Definitions and `with` blocks are statements: the walk need not enter expressions.
        stack: list[cst.CSTNode] = [context.module]
        while stack:
            node = stack.pop()
            if type(node) is cst.FunctionDef and _turns_grad_off(node.body, scope):
                decorators.add(node.name.value)  # type: ignore[attr-defined]
            stack.extend(iter_children(node, statement_fields))
    return GraphFacts(frozenset(decorators), context.project)


def _turns_grad_off(body: cst.CSTNode, scope: Scope) -> bool:
    """The function body enters ``no_grad()`` / ``inference_mode()`` (a wrapper's body)."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if type(node) is cst.With and any(grad_off(i.item, scope) for i in node.items):  # type: ignore[attr-defined]
            return True
        stack.extend(iter_children(node, statement_fields))
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


def _grad_off_here(scope: Scope, ancestors: Sequence[cst.CSTNode], facts: GraphFacts) -> bool:
    for index in range(len(ancestors) - 1, -1, -1):
        ancestor = ancestors[index]
        if isinstance(ancestor, cst.With):
            inner = ancestors[index + 1] if index + 1 < len(ancestors) else None
            if inner is ancestor.body and any(grad_off(i.item, scope) for i in ancestor.items):
                return True
        elif isinstance(ancestor, cst.FunctionDef):
            for decorator in ancestor.decorators:
                if _grad_off_decorator(decorator.decorator, scope, facts):
                    return True
    return False


def _grad_off_decorator(expr: cst.BaseExpression, scope: Scope, facts: GraphFacts) -> bool:
    if grad_off(expr, scope) or scope.qualified_name(expr) in GRAD_OFF:
        return True
    target = expr.func if isinstance(expr, cst.Call) else expr
    name = dotted_name(target)
    if name is not None and "." not in name and name in facts.grad_off_decorators:
        return True
    project = facts.project
    return project is not None and project.grad_off_decorator(scope.qualified_name(target))


def grad_disabled(context: FileContext, ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node whose ``ancestors`` these are runs with autograd off: under
    ``torch.no_grad()`` / ``inference_mode()`` (a ``with`` block, a decorator, or a decorator
    of this file or the project that wraps the call in one)."""
    facts: GraphFacts = context.fact("autograd.graph-functions", _collect)
    return _grad_off_here(context.scope, ancestors, facts)
