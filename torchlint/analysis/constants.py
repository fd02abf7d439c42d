"""Dead branches: code that a module constant (or a literal) keeps from running.

``USE_DATA_PARALLEL = False`` at the top of a script, then ``if USE_DATA_PARALLEL: model =
nn.DataParallel(model)``: the branch never runs, and nothing in it is worth a report. A name
counts as a constant when the module assigns it exactly once, at its top level, to a literal
(``True``, ``False``, ``None``, a number or a string), and no ``global`` statement lets a
function rebind it. The constants are found once per file, on first use; the rest is a look
at the ancestors of the node being asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst

from torchlint import calls
from torchlint.names import iter_children, statement_fields

if TYPE_CHECKING:
    from torchlint.context import FileContext

_UNKNOWN = object()


def in_dead_branch(
    ancestors: Sequence[cst.CSTNode], context: FileContext, node: cst.CSTNode | None = None
) -> bool:
    """The node (below ``ancestors``, or ``node`` itself) sits in a branch of an ``if`` or a
    conditional expression whose test a module constant or a literal decides against it."""
    chain = [*ancestors, node] if node is not None else list(ancestors)
    constants: dict[str, Any] | None = None
    for index, ancestor in enumerate(chain[:-1]):
        if not isinstance(ancestor, (cst.If, cst.IfExp)):
            continue
        child = chain[index + 1]
        if child is ancestor.test:
            continue
        if constants is None:
            constants = context.fact("constants.module", _module_constants)
        value = _truth(ancestor.test, constants)
        if value is _UNKNOWN:
            continue
        if (child is ancestor.body) != bool(value):
            return True
    return False


def _literal(expr: cst.BaseExpression) -> Any:
    """The value of a literal, or ``_UNKNOWN``."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    number = calls.int_literal(expr)
    if number is not None:
        return number
    text = calls.string_literal(expr)
    return text if text is not None else _UNKNOWN


def _truth(test: cst.BaseExpression, constants: dict[str, Any]) -> Any:
    """What ``test`` evaluates to, where constants and literals decide it; else _UNKNOWN."""
    if isinstance(test, cst.Name) and test.value in constants:
        return constants[test.value]
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = _truth(test.expression, constants)
        return _UNKNOWN if inner is _UNKNOWN else not inner
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        target = test.comparisons[0]
        if isinstance(target.operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot)):
            left, right = _truth(test.left, constants), _truth(target.comparator, constants)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            same = left == right
            return same if isinstance(target.operator, (cst.Equal, cst.Is)) else not same
        return _UNKNOWN
    return _literal(test)


def _module_constants(context: FileContext) -> dict[str, Any]:
    """Names assigned once, at the module's top level, to a literal, and never declared
    ``global`` (which would let a function change them)."""
    counts: dict[str, int] = {}
    values: dict[str, Any] = {}
    for statement in context.module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Name):
                    counts[target.value] = counts.get(target.value, 0) + 1
                    values[target.value] = _literal(small.value)
            elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                target = small.target
                if isinstance(target, cst.Name):
                    counts[target.value] = counts.get(target.value, 0) + 2  # not a constant
    rebound = _rebound_names(context) if counts else set()
    return {
        name: value
        for name, value in values.items()
        if counts[name] == 1 and value is not _UNKNOWN and name not in rebound
    }


def _rebound_names(context: FileContext) -> set[str]:
    """Names bound at the top level other than by a plain assignment (loops, imports,
    ``with``, definitions) or declared ``global`` anywhere."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Global):
            found.update(item.name.value for item in node.names)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            found.add(node.name.value)
        elif isinstance(node, cst.For):
            found.update(n.value for n in _names_in(node.target))
        elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            found.update(a.evaluated_alias or a.evaluated_name for a in node.names)
        elif isinstance(node, cst.Import):
            found.update(
                (a.evaluated_alias or a.evaluated_name).split(".", 1)[0] for a in node.names
            )
        stack.extend(iter_children(node, statement_fields))
    return found


def _names_in(target: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _names_in(e.value)]
    return []
