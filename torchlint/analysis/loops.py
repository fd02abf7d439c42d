"""What changes from one iteration of a loop to the next.

A call inside a loop whose arguments depend on the loop's own variables works on a different
object each time (``for block in blocks: torch.compile(block)`` compiles each block once);
one whose arguments do not repeats the same work (``torch.compile(model)`` on every batch).
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.devices import target_names
from torchlint.names import iter_children

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name read in ``node`` (not inside nested functions or lambdas)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            found.add(current.value)
        elif isinstance(current, cst.Attribute):
            stack.append(current.value)  # `x.attr`: `attr` is not a name read here
        elif not isinstance(current, _SCOPES):
            stack.extend(iter_children(current))
    return found


def _assignments(body: cst.CSTNode) -> list[tuple[set[str], cst.CSTNode]]:
    """(names bound, value) for the assignments and ``for`` targets in ``body``."""
    found: list[tuple[set[str], cst.CSTNode]] = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, cst.Assign):
            targets: set[str] = set()
            for target in node.targets:
                targets |= target_names(target.target)
            found.append((targets, node.value))
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
            found.append((target_names(node.target), node.value))
        elif isinstance(node, cst.For):
            found.append((target_names(node.target), node.iter))
        stack.extend(iter_children(node))
    return found


def varying_names(loop: cst.For | cst.While) -> frozenset[str]:
    """Names whose value may differ between iterations because of the loop itself: its
    targets, and names bound in its body from them (``op = factory()`` when ``factory`` is
    the loop variable)."""
    varying: set[str] = set()
    if isinstance(loop, cst.For):
        varying |= target_names(loop.target)
    assignments = _assignments(loop.body)
    changed = True
    while changed:
        changed = False
        for targets, value in assignments:
            if not targets <= varying and _names_in(value) & varying:
                varying |= targets
                changed = True
    return frozenset(varying)


def varies_per_iteration(loop: cst.For | cst.While, expr: cst.CSTNode) -> bool:
    """``expr`` reads a name that the loop changes on every iteration."""
    return bool(_names_in(expr) & varying_names(loop))
