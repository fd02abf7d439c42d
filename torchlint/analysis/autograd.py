"""Where autograd is live: code that runs a graph, outside ``no_grad``.

Writing a parameter through ``.data`` hides the change from autograd, which matters only
where a graph is in use. A function shows that it uses one by calling ``.backward()``,
``torch.autograd.grad(...)`` or ``.step()`` (an optimizer or scheduler step), or by being an
optimizer's ``step`` or a ``closure``; top-level code, when the module's own statements do.
Weight initialisation (``__init__``, ``reset_parameters``, ``init_weights``, a function given
to ``.apply()``) shows none of that, so it is never live. Inside a live function, code under
``torch.no_grad()`` / ``inference_mode()`` (a ``with`` block, a decorator, or a decorator
defined in the same file that wraps the call in one) is not live either.

The per-file part (which functions use a graph, which local decorators turn grad off) is one
walk, done on first use; the rest is a look at the ancestors of the node being reported.
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

_GRAPH_METHODS = frozenset({"backward", "step"})
_GRAPH_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward"})
MODULE = 0  # the id standing for the module's own statements


@dataclass(frozen=True)
class GraphFacts:
    live: frozenset[int]  # ids of functions (MODULE for top level) whose code uses a graph
    grad_off_decorators: frozenset[str]  # same-file decorators that wrap in no_grad


def _collect(context: FileContext) -> GraphFacts:
    live: set[int] = set()
    decorators: set[str] = set()
    scope = context.module_scope
    # (node, ids of the functions it is in: a graph used in a nested function counts for
    # the functions around it, not for the module's own statements)
    stack: list[tuple[cst.CSTNode, tuple[int, ...]]] = [(context.module, (MODULE,))]
    while stack:
        node, owners = stack.pop()
        if isinstance(node, cst.FunctionDef):
            owners = (*(o for o in owners if o != MODULE), id(node))
            if _turns_grad_off(node.body, scope):
                decorators.add(node.name.value)
        elif isinstance(node, cst.Call) and _uses_graph(node, scope):
            live.update(owners)
        stack.extend((child, owners) for child in iter_children(node))
    return GraphFacts(frozenset(live), frozenset(decorators))


def _uses_graph(call: cst.Call, scope: Scope) -> bool:
    """`loss.backward()`, `torch.autograd.grad(...)`, `optimizer.step()`."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in _GRAPH_METHODS:
        return True
    return scope.qualified_name(func) in _GRAPH_FUNCTIONS


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


def autograd_live(context: FileContext, ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node whose ``ancestors`` these are runs where a graph is in use, grad on."""
    facts: GraphFacts = context.fact("autograd.graph-functions", _collect)
    function = next((a for a in reversed(ancestors) if isinstance(a, cst.FunctionDef)), None)
    if function is None:
        live = MODULE in facts.live
    else:
        name = function.name.value  # an optimizer's `step`, or a closure it calls
        live = id(function) in facts.live or name == "step" or "closure" in name.split("_")
    return live and not _grad_off_here(context.scope, ancestors, facts)


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
    return name is not None and "." not in name and name in facts.grad_off_decorators
