"""Where autograd is live: code that runs a graph, outside ``no_grad``.

Writing a parameter through ``.data`` hides the change from autograd, which matters only
where a graph is in use. A function shows that it uses one by calling ``.backward()``,
``torch.autograd.grad(...)`` or ``.step()`` (an optimizer or scheduler step), or by being an
optimizer's ``step`` or a ``closure``; top-level code, when the module's own statements do.
Weight initialisation (``__init__``, ``reset_parameters``, ``init_weights``, a function given
to ``.apply()``) shows none of that, so it is never live. Inside a live function, code under
``torch.no_grad()`` / ``inference_mode()`` (a ``with`` block, a decorator, or a decorator
defined in the same file, or in another file of the project, that wraps the call in one) is
not live either.

The per-file part (which functions use a graph, which local decorators turn grad off) is one
walk, done on first use; the rest is a look at the ancestors of the node being reported.
Statements before the first that uses a graph are set-up (a fresh model's weights zeroed,
new token embeddings filled in) and are not live either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.flow import GRAD_OFF, SET_GRAD_ENABLED
from torchlint.names import Scope, dotted_name, iter_children, statement_fields
from torchlint.rules import calls

if TYPE_CHECKING:
    from torchlint.engine import FileContext
    from torchlint.project.index import ProjectView

_GRAPH_METHODS = frozenset({"backward", "step"})
# The last names of GRAD_OFF and SET_GRAD_ENABLED: a file without them switches nothing off.
_GRAD_OFF_WORDS = ("no_grad", "inference_mode", "set_grad_enabled")
_GRAPH_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward"})
MODULE = 0  # the id standing for the module's own statements


@dataclass(frozen=True)
class GraphFacts:
    # function id (MODULE for top level) -> index of the first statement of its body that
    # uses a graph; a function that never does is absent
    first_graph_statement: dict[int, int]
    grad_off_decorators: frozenset[str]  # same-file decorators that wrap in no_grad
    project: ProjectView | None = None  # decorators of the project's other files


def _collect(context: FileContext) -> GraphFacts:
    decorators: set[str] = set()
    scope = context.module_scope
    bodies: list[tuple[int, Sequence[cst.CSTNode]]] = [(MODULE, context.module.body)]
    # Definitions and `with` blocks are statements: the walks need not enter expressions.
    may_switch_off = any(word in context.source for word in _GRAD_OFF_WORDS)
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if type(node) is cst.FunctionDef:
            bodies.append((id(node), _statements(node)))
            if may_switch_off and _turns_grad_off(node.body, scope):
                decorators.add(node.name.value)
        stack.extend(iter_children(node, statement_fields))
    first: dict[int, int] = {}
    for owner, statements in bodies:
        for index, statement in enumerate(statements):
            if _contains_graph_call(statement, scope, own_code_only=owner == MODULE):
                first[owner] = index
                break
    return GraphFacts(first, frozenset(decorators), context.project)


def _statements(function: cst.FunctionDef) -> Sequence[cst.CSTNode]:
    body = function.body
    return body.body if isinstance(body, cst.IndentedBlock) else (body,)


def _contains_graph_call(root: cst.CSTNode, scope: Scope, own_code_only: bool) -> bool:
    """``root`` calls a graph function; with ``own_code_only``, not in nested definitions
    (a module's own statements, not its functions'). A closure counts for its function."""
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        node_type = type(node)
        if own_code_only and (node_type is cst.FunctionDef or node_type is cst.ClassDef):
            continue
        if node_type is cst.Call and _uses_graph(node, scope):  # type: ignore[arg-type]
            return True
        stack.extend(iter_children(node))
    return False


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


def autograd_live(context: FileContext, ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node whose ``ancestors`` these are runs where a graph is in use, grad on: in a
    statement of its function (or module) at or after the first that uses a graph (set-up
    code before it, such as zeroing a fresh model's weights, has no graph yet)."""
    facts: GraphFacts = context.fact("autograd.graph-functions", _collect)
    owner_index = next(
        (i for i in range(len(ancestors) - 1, -1, -1) if isinstance(ancestors[i], cst.FunctionDef)),
        None,
    )
    if owner_index is None:
        owner, statements, statement = MODULE, context.module.body, _at(ancestors, 1)
    else:
        function = ancestors[owner_index]
        assert isinstance(function, cst.FunctionDef)
        name = function.name.value  # an optimizer's `step`, or a closure it calls
        if name == "step" or "closure" in name.split("_"):
            return not _grad_off_here(context.scope, ancestors, facts)
        owner, statements = id(function), _statements(function)
        statement = _at(ancestors, owner_index + 2)
    first = facts.first_graph_statement.get(owner)
    if first is None:
        return False
    index = next((i for i, s in enumerate(statements) if s is statement), len(statements))
    return index >= first and not _grad_off_here(context.scope, ancestors, facts)


def _at(ancestors: Sequence[cst.CSTNode], index: int) -> cst.CSTNode | None:
    return ancestors[index] if index < len(ancestors) else None


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
