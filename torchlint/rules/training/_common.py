"""Helpers shared by the TL3 rules (no rules here, but a base of some): where code sits,
and how to move it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

import libcst as cst

from torchlint.analysis.accumulation import accumulating_loop
from torchlint.analysis.flow import FRAMEWORK_EVAL_HOOKS, FRAMEWORK_EVAL_PREFIXES, FunctionInfo
from torchlint.analysis.losses import FUNCTIONAL_LOSSES
from torchlint.names import Scope, dotted_name
from torchlint.rules.base import Rule

LOOPS = (cst.For, cst.While)
_BOUNDARIES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


@cache
def _method_call(name: str) -> re.Pattern[str]:
    return re.compile(r"\.[\s\\]*" + name + r"[\s\\]*\(")


def calls_method(source: str, *names: str) -> bool:
    """``source`` contains a call ``x.<name>(`` for one of ``names`` (whitespace and line
    continuations allowed): a cheap, exact test before building the flow index."""
    return any(_method_call(name).search(source) for name in names)


class AccumulatingLoopRule(Rule):
    """A rule about what runs on every micro-batch of a loop that accumulates gradients
    (TL317, TL318): ``check_loop`` gets the loop's every-iteration simple statements and
    the optimizers it steps under its cadence test (``analysis.accumulation``)."""

    def visit_For(self, node: cst.For) -> None:
        self._loop(node)

    def visit_While(self, node: cst.While) -> None:
        self._loop(node)

    def _loop(self, node: cst.For | cst.While) -> None:
        if not calls_method(self.context.source, "backward"):
            return
        found = accumulating_loop(self.context, node)
        if found is not None:
            self.check_loop(*found)

    def check_loop(self, every_iteration: list[cst.BaseStatement], stepped: set[str]) -> None:
        raise NotImplementedError


def has_training_step(context) -> bool:
    """The file calls ``.backward(`` and ``.step(``: a training step may be in it."""
    return context.fact(
        "calls-backward-and-step",
        lambda c: calls_method(c.source, "backward") and calls_method(c.source, "step"),
    )


def function_node(ancestors: Sequence[cst.CSTNode]) -> cst.CSTNode:
    """The innermost ``def`` around the current node, or the module."""
    for node in reversed(ancestors):
        if isinstance(node, cst.FunctionDef):
            return node
    return ancestors[0]


def enclosing_loops(ancestors: Sequence[cst.CSTNode]) -> list[cst.For | cst.While]:
    """The loops around the current node in its own function, innermost first."""
    found: list[cst.For | cst.While] = []
    for node in reversed(ancestors):
        if isinstance(node, _BOUNDARIES):
            break
        if isinstance(node, LOOPS):
            found.append(node)
    return found


def in_loop_body(loop: cst.For | cst.While, ancestors: Sequence[cst.CSTNode]) -> bool:
    """The current node is in ``loop``'s body (not its ``for`` header or ``else``)."""
    position = next(i for i, node in enumerate(ancestors) if node is loop)
    return position + 1 < len(ancestors) and ancestors[position + 1] is loop.body


def first_statement(block: cst.BaseSuite) -> cst.CSTNode | None:
    """The first statement of an indented block (None for ``for x in y: pass`` one-liners)."""
    if isinstance(block, cst.IndentedBlock) and block.body:
        return block.body[0]
    return None


def is_framework_hook(function: FunctionInfo) -> bool:
    """Lightning runs these methods itself, in eval mode and under no_grad."""
    if not function.is_method:
        return False
    if function.name in FRAMEWORK_EVAL_HOOKS:
        return True
    cls = function.cls
    return bool(cls and cls.is_lightning and function.name.startswith(FRAMEWORK_EVAL_PREFIXES))


def is_loss_call(scope: Scope, expr: cst.BaseExpression) -> bool:
    """``criterion(out, y)``, ``loss_fn(...)``, ``F.cross_entropy(...)``, ``self.compute_loss(...)``."""
    if not isinstance(expr, cst.Call):
        return False
    name = dotted_name(expr.func)
    if name is None:
        return False
    qualified = scope.qualified_name(expr.func)
    if qualified is not None:
        return (
            qualified.startswith("torch.nn.functional.")
            and qualified.rsplit(".", 1)[-1] in FUNCTIONAL_LOSSES
        )
    last = name.rsplit(".", 1)[-1].lower()
    return "loss" in last or "criterion" in last


def tensor_names(expr: cst.BaseExpression) -> set[str]:
    """Dotted names whose value flows into ``expr`` through arithmetic and calls:
    ``loss`` for ``scaler.scale(loss)``, ``losses`` for ``torch.stack(losses).mean()``."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        name = dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
        if name is not None:
            found.add(name)
        elif isinstance(node, cst.Call):
            stack.extend(arg.value for arg in node.args)
            if isinstance(node.func, cst.Attribute):
                stack.append(node.func.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)
        elif isinstance(node, cst.BinaryOperation):
            stack.extend((node.left, node.right))
        elif isinstance(node, cst.UnaryOperation):
            stack.append(node.expression)
        elif isinstance(node, cst.Subscript):
            stack.append(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            stack.extend(element.value for element in node.elements)
        elif isinstance(node, (cst.GeneratorExp, cst.ListComp)):  # `sum(l for _, l in parts)`
            stack.append(node.elt)
            loop: cst.CompFor | None = node.for_in
            while loop is not None:
                stack.append(loop.iter)
                loop = loop.inner_for_in
    return found
