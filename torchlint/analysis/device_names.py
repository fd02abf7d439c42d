"""Which names hold a device: for TL203's ``.to(name)`` and for fixes that reuse it.

A name holds a device when every binding of it in its scope is ``torch.device(...)``,
``best_device()`` or a device selector of the project (``select_device()``) (``ok = torch.device("cuda" if ... else "cpu")``), or, for fixes, when
it is a parameter called ``device`` that is not ``None`` by default. Bindings are read
once per scope, in source order, by a walk that stops at nested scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.devices import (
    BINDING_NODES,
    bound_names,
    is_best_device_call,
)
from torchlint.names import Scope, binding_scope, child_fields, iter_children, statement_fields

if TYPE_CHECKING:
    from torchlint.context import FileContext
    from torchlint.project.index import ProjectView

# Nodes whose names belong to another scope (or to a comprehension of their own).
_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp)
_NESTED_EXPRESSIONS = (cst.GeneratorExp,)
# Exact types, tested with `type(node) in`: `isinstance` on libcst classes goes through ABCMeta.
_NOT_ENTERED = frozenset((*_NESTED, *_NESTED_EXPRESSIONS))


@dataclass(frozen=True)
class Binding:
    """One binding of a name: is it a device, and in which statement of the scope's body."""

    device: bool
    statement: int  # index of the scope body's statement holding it; -1 for a parameter


def _is_device_value(
    scope: Scope, value: cst.BaseExpression, project: ProjectView | None = None
) -> bool:
    if not isinstance(value, cst.Call):
        return False
    return scope.qualified_name(value.func) == "torch.device" or is_best_device_call(
        scope, value, project
    )


def scope_body(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The statements of a node's body: a module, or the block of a def, a class or any
    compound statement (``if``, ``for``, ``try``, an ``except``, a ``case``)."""
    if isinstance(node, cst.Module):
        return list(node.body)
    body = getattr(node, "body", None)
    if isinstance(body, cst.IndentedBlock):
        return list(body.body)
    return [body] if isinstance(body, cst.CSTNode) else []


def _scope_bindings(scope: Scope, project: ProjectView | None) -> dict[str, list[Binding]]:
    """Every name bound in ``scope`` with what each binding is, in source order."""
    found: dict[str, list[Binding]] = {}
    root = scope.node
    if isinstance(root, cst.FunctionDef):
        params = root.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            is_device = param.name.value == "device" and not (
                isinstance(param.default, cst.Name) and param.default.value == "None"
            )
            found.setdefault(param.name.value, []).append(Binding(is_device, -1))
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                found.setdefault(star.name.value, []).append(Binding(False, -1))
    # Without `:=` in the file, expressions bind nothing: the walk skips them.
    fields_of = child_fields if scope.walrus else statement_fields
    for index, statement in enumerate(scope_body(root)):
        stack: list[cst.CSTNode] = [statement]
        while stack:
            node = stack.pop()
            node_type = type(node)
            if node_type in _NOT_ENTERED:
                if node_type is cst.FunctionDef or node_type is cst.ClassDef:
                    found.setdefault(node.name.value, []).append(Binding(False, index))  # type: ignore[attr-defined]
                continue
            if node_type is cst.Assign:
                device = _is_device_value(scope, node.value, project)  # type: ignore[attr-defined]
                for target in node.targets:  # type: ignore[attr-defined]
                    if type(target.target) is cst.Name:
                        name = target.target.value
                        found.setdefault(name, []).append(Binding(device, index))
            elif node_type is cst.AnnAssign and type(node.target) is cst.Name:  # type: ignore[attr-defined]
                value = node.value  # type: ignore[attr-defined]
                device = value is not None and _is_device_value(scope, value, project)
                found.setdefault(node.target.value, []).append(Binding(device, index))  # type: ignore[attr-defined]
            elif node_type in BINDING_NODES:
                other: set[str] = set()
                bound_names(node, other)
                for name in other:
                    if "." not in name:
                        found.setdefault(name, []).append(Binding(False, index))
            stack.extend(iter_children(node, fields_of))
    return found


def _bindings(context: FileContext, scope: Scope) -> dict[str, list[Binding]]:
    cache = context.fact("device_names.bindings", lambda _: {})
    key = id(scope.node)
    if key not in cache:
        cache[key] = _scope_bindings(scope, context.project)
    return cache[key]


def _statement_indexes(context: FileContext, scope: Scope) -> dict[int, int]:
    """Index of each statement of ``scope``'s body, by id (cached per scope: a scope with
    many calls looks its statements up once each, not once per call)."""
    cache = context.fact("device_names.statement_indexes", lambda _: {})
    key = id(scope.node)
    found = cache.get(key)
    if found is None:
        found = cache[key] = {
            id(statement): index for index, statement in enumerate(scope_body(scope.node))
        }
    return found


def statement_index(context: FileContext, scope: Scope) -> int | None:
    """Index, in ``scope``'s body, of the statement holding the node being visited; None
    when that node is in a nested scope (which runs later, when everything is bound)."""
    indexes = _statement_indexes(context, scope)
    chain = context.ancestors
    for position, node in enumerate(chain):
        if node is scope.node:
            for later in chain[position + 1 :]:
                if isinstance(later, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                    return None
                index = indexes.get(id(later))
                if index is not None:
                    return index
            return None
    return None


def holds_device(context: FileContext, name: str, *, bound_before: bool = False) -> bool:
    """Does ``name``, read at the node being visited, surely hold a device?

    With ``bound_before``, the name must also be bound before that node when both are in
    the same scope (a fix may not read a name that is assigned only further down).
    """
    scope = binding_scope(context.scope, name)
    if scope is None:
        return False
    bindings = _bindings(context, scope).get(name)
    if not bindings or not all(binding.device for binding in bindings):
        return False
    if not bound_before:
        return True
    if scope is not context.scope:
        return True
    here = statement_index(context, scope)
    return here is None or bindings[0].statement < here
