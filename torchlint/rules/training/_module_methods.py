"""Where a call sits relative to an ``nn.Module``'s mode: in a method of a module class, and
under a ``self.training`` test or not. (The same questions TL308 asks; kept apart from its
module so that a rule never imports another rule.)"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import libcst as cst

from torchlint.analysis.flow import flow_of

_NOT_METHODS = frozenset({"staticmethod", "classmethod"})
# A class that defines these switches its own mode: what its attributes mean in eval mode is
# its business.
_MODE_METHODS = frozenset({"train", "eval"})


def reads_training(test: cst.BaseExpression) -> bool:
    """``<x>.training`` appears in the test, not negated (``if self.training and p > 0``)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return reads_training(test.left) or reads_training(test.right)
    return isinstance(test, cst.Attribute) and test.attr.value == "training"


def under_training_check(ancestors: Sequence[cst.CSTNode]) -> bool:
    """Inside ``if self.training:`` (or ``x if self.training else y``) in its function: the
    code only runs in training mode."""
    for parent, child in itertools.pairwise(ancestors):
        if (
            isinstance(parent, (cst.If, cst.IfExp))
            and child is parent.body
            and reads_training(parent.test)
        ):
            return True
    return False


def module_method(context, ancestors: Sequence[cst.CSTNode]) -> cst.FunctionDef | None:
    """The method (first parameter ``self``) of an nn.Module subclass that directly holds
    the current node, or None. Classes that define ``train``/``eval`` themselves are left
    out: they may switch what their attributes hold."""
    method = next((a for a in reversed(ancestors) if isinstance(a, cst.FunctionDef)), None)
    if method is None:
        return None
    index = next(i for i, a in enumerate(ancestors) if a is method)
    if index < 2 or not isinstance(ancestors[index - 2], cst.ClassDef):
        return None
    for decorator in method.decorators:
        if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value in _NOT_METHODS:
            return None
    params = [*method.params.posonly_params, *method.params.params]
    if not params or params[0].name.value != "self":
        return None
    classdef = ancestors[index - 2]
    flow = flow_of(context)
    for info in flow.classes.get(classdef.name.value, []):  # type: ignore[attr-defined]
        if info.node is classdef and info.is_module:
            return None if _MODE_METHODS & info.methods.keys() else method
    return None
