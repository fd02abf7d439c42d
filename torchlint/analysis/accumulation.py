"""What the gradient-accumulation rules (TL316, TL317, TL318) read from one training loop:
which statements of its body run on every iteration, where it calls ``backward`` and where
it steps an optimizer. Syntactic and local to the loop: nothing is guessed across calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.analysis.flow import model_named, optimizer_named
from torchlint.names import dotted_name, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext

_BOUNDARIES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def every_iteration(block: cst.BaseSuite) -> Iterator[cst.BaseStatement]:
    """The statements of a loop body that run on every iteration (``with`` bodies included),
    in order; an ``if``/``try``/loop is yielded itself, its contents not."""
    if not isinstance(block, cst.IndentedBlock):
        if isinstance(block, cst.SimpleStatementSuite):
            yield cst.SimpleStatementLine(body=block.body)
        return
    for statement in block.body:
        if isinstance(statement, cst.With):
            yield from every_iteration(statement.body)
        else:
            yield statement


def method_calls(node: cst.CSTNode, method: str) -> Iterator[cst.Call]:
    """Calls ``<x>.<method>(...)`` anywhere in ``node``, not inside nested functions."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _BOUNDARIES):
            continue
        if (
            isinstance(current, cst.Call)
            and isinstance(current.func, cst.Attribute)
            and current.func.attr.value == method
        ):
            yield current
        stack.extend(iter_children(current))


def is_simple(statement: cst.CSTNode) -> bool:
    """A statement without branches of its own: what it calls, it calls every time."""
    return isinstance(statement, cst.SimpleStatementLine)


def calls_backward(node: cst.CSTNode) -> bool:
    return next(method_calls(node, "backward"), None) is not None


def stepping_branch(statement: cst.If) -> list[str] | None:
    """The optimizers an ``if`` steps; None when it calls ``backward()`` itself (a GAN that
    trains its generator every ``n`` critic steps is no accumulation)."""
    if calls_backward(statement.body):
        return None
    return optimizer_steps(statement.body)


def steps_after_backward(loop: cst.For | cst.While) -> Iterator[cst.If]:
    """The ``if``s of a loop body that step an optimizer (and call no ``backward()``), run
    every iteration after a statement that calls ``backward()`` every iteration."""
    backward_seen = False
    for statement in every_iteration(loop.body):
        if is_simple(statement) and calls_backward(statement):
            backward_seen = True
        elif backward_seen and isinstance(statement, cst.If) and stepping_branch(statement):
            yield statement


def stepped_optimizer(call: cst.Call) -> str | None:
    """``optimizer`` for ``optimizer.step()`` and ``scaler.step(optimizer)``; None for a
    scheduler or anything not named like an optimizer."""
    receiver = dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None
    if receiver is not None and optimizer_named(receiver):
        return receiver
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if receiver is not None and "scaler" in receiver.lower() and positional:
        argument = dotted_name(positional[0].value)
        if argument is not None and optimizer_named(argument):
            return argument
    return None


def optimizer_steps(node: cst.CSTNode) -> list[str]:
    return [name for call in method_calls(node, "step") if (name := stepped_optimizer(call))]


def clears(call: cst.Call, optimizers: set[str]) -> bool:
    """``call`` (a ``zero_grad``) clears the gradients one of ``optimizers`` steps with."""
    receiver = dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None
    return receiver is not None and (receiver in optimizers or model_named(receiver))


_ACCUMULATION_WORDS = ("accum", "grad_steps", "update_freq", "update_every")


def accumulation_test(test: cst.BaseExpression) -> bool:
    """The ``if`` reads like an accumulation cadence: a ``%`` or a name about accumulation."""
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
            return True
        if isinstance(node, cst.Name) and any(w in node.value.lower() for w in _ACCUMULATION_WORDS):
            return True
        if isinstance(node, cst.Attribute) and any(
            w in node.attr.value.lower() for w in _ACCUMULATION_WORDS
        ):
            return True
        stack.extend(node.children)
    return False


Accumulation = tuple[list[cst.BaseStatement], set[str]]


def accumulating_loop(context: FileContext, loop: cst.For | cst.While) -> Accumulation | None:
    """``accumulating(loop)``, worked out once per loop for all the rules that ask."""
    known: dict[int, Accumulation | None] = context.fact("accumulation.loops", lambda _: {})
    if id(loop) not in known:
        known[id(loop)] = accumulating(loop)
    return known[id(loop)]


def accumulating(loop: cst.For | cst.While) -> Accumulation | None:
    """For a loop that accumulates gradients, its every-iteration simple statements and the
    optimizers it steps: ``backward()`` runs every iteration, and the optimizers are stepped
    only under a cadence ``if`` (one that calls no ``backward()`` itself). None otherwise."""
    statements = list(every_iteration(loop.body))
    simple = [s for s in statements if is_simple(s)]
    if not any(calls_backward(s) for s in simple):
        return None
    if any(optimizer_steps(s) for s in simple):
        return None  # steps every iteration: no accumulation here
    stepped: set[str] = set()
    for statement in statements:
        if isinstance(statement, cst.If) and accumulation_test(statement.test):
            optimizers = stepping_branch(statement)
            if optimizers is None:
                continue
            if statement.orelse is not None and _calls_on(statement.orelse, optimizers):
                return None  # `else: optimizer.virtual_step()`: the optimizer accumulates
            stepped.update(optimizers)
        elif not is_simple(statement) and optimizer_steps(statement):
            return None  # stepped somewhere else too (a nested loop, another branch)
    return (simple, stepped) if stepped else None


def _calls_on(node: cst.CSTNode, receivers: list[str]) -> bool:
    """``node`` calls a method of one of ``receivers`` (Opacus's ``virtual_step()``)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if (
            isinstance(current, cst.Call)
            and isinstance(current.func, cst.Attribute)
            and dotted_name(current.func.value) in receivers
        ):
            return True
        stack.extend(iter_children(current))
    return False
