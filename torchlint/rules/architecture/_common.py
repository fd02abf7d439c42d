"""Helpers shared by the TL4 rules (no rules here).

They answer two questions the single walk cannot answer node by node: what a module
instance was built from (``criterion = nn.CrossEntropyLoss()``, ``self.bn = nn.BatchNorm2d(8)``
in ``__init__``), and which activation a call is (``F.softmax(x, 1)``, ``x.softmax(1)``,
``nn.Softmax(1)(x)``). Every answer is ``None`` when it is not certain: a name bound twice, an
attribute assigned twice, an unknown callee.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.names import SCOPE_TYPES, Scope, binding_scope, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext

_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
# Exact types, tested with `type(node) in`: `isinstance` on libcst classes goes through ABCMeta.
_NOT_ENTERED = frozenset((*SCOPE_TYPES, *_COMPREHENSIONS))
_NOT_METHODS = frozenset({"staticmethod", "classmethod"})


# --- methods and ``self`` -------------------------------------------------------------------


def enclosing_method(scope: Scope) -> tuple[cst.FunctionDef, Scope] | None:
    """The method (a ``def`` directly in a class body) around ``scope``, and its class scope."""
    while scope.parent is not None:
        if isinstance(scope.node, cst.FunctionDef) and scope.parent.is_class:
            return scope.node, scope.parent
        if scope.is_class:
            return None
        scope = scope.parent
    return None


def self_name(method: cst.FunctionDef) -> str | None:
    """The name of a method's instance parameter (``self``), or None for static/class methods."""
    for decorator in method.decorators:
        if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value in _NOT_METHODS:
            return None
    params = [*method.params.posonly_params, *method.params.params]
    return params[0].name.value if params else None


def _walk_scope_body(root: cst.CSTNode):
    """Nodes under ``root`` that belong to its scope: nested defs, classes, lambdas and
    comprehensions are not entered."""
    stack = list(iter_children(root))
    not_entered = _NOT_ENTERED
    while stack:
        node = stack.pop()
        if type(node) in not_entered:
            continue
        yield node
        stack.extend(iter_children(node))


class InitAttributes(NamedTuple):
    scope: Scope  # the scope of ``__init__``: resolve the constructors' names in it
    calls: dict[str, cst.Call | None]  # attribute -> the call assigned to it once, else None


def init_attributes(context: FileContext, class_scope: Scope) -> InitAttributes | None:
    """``self.<attr> = <call>`` assignments made once in the class's ``__init__``."""
    classdef = class_scope.node
    assert isinstance(classdef, cst.ClassDef)
    return context.fact(
        f"tl4-init-attributes:{id(classdef)}", lambda _: _collect_init(classdef, class_scope)
    )


def _collect_init(classdef: cst.ClassDef, class_scope: Scope) -> InitAttributes | None:
    init = calls.class_method(classdef, "__init__")
    if init is None:
        return None
    this = self_name(init)
    if this is None:
        return None
    found: dict[str, cst.Call | None] = {}

    def record(target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            if target.value.value == this:
                attr = target.attr.value
                once = attr not in found and isinstance(value, cst.Call)
                found[attr] = value if once else None  # type: ignore[assignment]
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                record(element.value, None)
        elif isinstance(target, cst.StarredElement):
            record(target.value, None)

    for node in _walk_scope_body(init.body):
        if isinstance(node, cst.Assign):
            for target in node.targets:
                record(target.target, node.value)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            record(node.target, node.value if isinstance(node, cst.AnnAssign) else None)
    return InitAttributes(Scope(init, class_scope), found)


# --- names assigned once ---------------------------------------------------------------------


def _collect_assignments(root: cst.CSTNode) -> dict[str, list[cst.BaseExpression]]:
    body = root.body if isinstance(root, (cst.FunctionDef, cst.ClassDef)) else root
    values: dict[str, list[cst.BaseExpression]] = {}
    for node in _walk_scope_body(body):
        node_type = type(node)
        if node_type is cst.Assign:
            for target in node.targets:  # type: ignore[attr-defined]
                if type(target.target) is cst.Name:
                    values.setdefault(target.target.value, []).append(node.value)  # type: ignore[attr-defined]
        elif (
            node_type is cst.AnnAssign
            and node.value is not None  # type: ignore[attr-defined]
            and type(node.target) is cst.Name  # type: ignore[attr-defined]
        ):
            values.setdefault(node.target.value, []).append(node.value)  # type: ignore[attr-defined]
    return values


def single_assignment(
    context: FileContext, scope: Scope, name: str
) -> tuple[cst.BaseExpression, Scope] | None:
    """The value of the only binding of ``name`` (a plain assignment), and the scope it is in."""
    owner = binding_scope(scope, name)
    if owner is None or len(owner.bindings[name]) != 1 or isinstance(owner.node, cst.Lambda):
        return None
    values = context.fact(
        f"tl4-assignments:{id(owner.node)}", lambda _: _collect_assignments(owner.node)
    )
    found = values.get(name)
    if found is None or len(found) != 1:
        return None
    return found[0], owner


def instance_constructor(
    context: FileContext, func: cst.BaseExpression, scope: Scope | None = None
) -> str | None:
    """The qualified name of the class a called object was built from, when certain.

    ``nn.CrossEntropyLoss()(...)``, ``criterion(...)`` after ``criterion = nn.CrossEntropyLoss()``
    and ``self.criterion(...)`` after ``self.criterion = nn.CrossEntropyLoss()`` in ``__init__``.
    ``scope`` is where ``func`` appears (default: the node being visited).
    """
    scope = scope if scope is not None else context.scope
    if isinstance(func, cst.Call):
        return scope.qualified_name(func.func)
    if isinstance(func, cst.Name):
        found = single_assignment(context, scope, func.value)
        if found is not None and isinstance(found[0], cst.Call):
            return found[1].qualified_name(found[0].func)
        return None
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        method = enclosing_method(scope)
        if method is None or self_name(method[0]) != func.value.value:
            return None
        init = init_attributes(context, method[1])
        call = init.calls.get(func.attr.value) if init is not None else None
        return init.scope.qualified_name(call.func) if init and call else None
    return None


# --- activations -----------------------------------------------------------------------------


class Activation(NamedTuple):
    input: cst.BaseExpression | None  # what the activation is applied to, when it is plain
    extra: bool  # the call passes more than the input and ``dim`` (dtype, out, *args, ...)


class ActivationKind(NamedTuple):
    functions: frozenset[str]  # F.softmax(x, 1), torch.softmax(x, 1)
    modules: frozenset[str]  # nn.Softmax(1)(x), self.softmax(x)
    method: str  # x.softmax(1)
    method_takes_dim: bool


SOFTMAX = ActivationKind(
    frozenset({"torch.nn.functional.softmax", "torch.softmax", "torch.special.softmax"}),
    frozenset({"torch.nn.Softmax", "torch.nn.modules.activation.Softmax"}),
    "softmax",
    True,
)
SIGMOID = ActivationKind(
    frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit"}),
    frozenset({"torch.nn.Sigmoid", "torch.nn.modules.activation.Sigmoid"}),
    "sigmoid",
    False,
)


def _is_int(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        expr = expr.expression
    return calls.int_literal(expr) is not None


def activation(
    context: FileContext, call: cst.Call, kind: ActivationKind, scope: Scope | None = None
) -> Activation | None:
    """Whether ``call`` applies the activation ``kind``, and to what (``scope``: where it is)."""
    scope = scope if scope is not None else context.scope
    func = call.func
    if isinstance(func, (cst.Name, cst.Attribute)):
        qualified = scope.qualified_name(func)
        if qualified in kind.functions:
            arg = calls.argument(call, "input", 0)
            allowed = {"input", "dim"} if kind.method_takes_dim else {"input"}
            return Activation(
                arg.value if arg is not None and not calls.has_star_args(call) else None,
                _extra(call, allowed, 2 if kind.method_takes_dim else 1),
            )
        if qualified is not None:
            return None  # an imported function: not a tensor method, not a module instance
        if isinstance(func, cst.Attribute) and func.attr.value == kind.method:
            found = _method_activation(call, func, kind)
            if found is not None:
                return found
    if instance_constructor(context, func, scope) in kind.modules:
        arg = calls.argument(call, "input", 0)
        plain = arg is not None and len(call.args) == 1 and not arg.star
        return Activation(arg.value if plain else None, not plain)  # type: ignore[union-attr]
    return None


def _extra(call: cst.Call, allowed: set[str], positional: int) -> bool:
    if calls.has_star_args(call) or len(calls.positional(call)) > positional:
        return True
    return any(arg.keyword is not None and arg.keyword.value not in allowed for arg in call.args)


def _method_activation(
    call: cst.Call, func: cst.Attribute, kind: ActivationKind
) -> Activation | None:
    """``x.softmax(1)`` / ``x.softmax(dim=1)`` / ``x.sigmoid()``: the tensor methods' shapes.

    A receiver called ``self`` is a module with a method of that name, not a tensor.
    """
    if isinstance(func.value, cst.Name) and func.value.value == "self":
        return None
    args = call.args
    if not kind.method_takes_dim:
        return Activation(func.value, False) if not args else None
    if len(args) != 1 or args[0].star:
        return None
    arg = args[0]
    if arg.keyword is not None and arg.keyword.value == "dim":
        return Activation(func.value, False)
    if arg.keyword is None and _is_int(arg.value):
        return Activation(func.value, False)
    return None


# --- unary torch functions (log1p, expm1) ----------------------------------------------------


def is_one(expr: cst.BaseExpression) -> bool:
    """A literal ``1`` or ``1.0`` (not ``1e-8``, not a name)."""
    if isinstance(expr, cst.Integer):
        return calls.int_literal(expr) == 1
    if isinstance(expr, cst.Float):
        try:
            return float(expr.value.replace("_", "")) == 1.0
        except ValueError:
            return False
    return False


def unary_torch_call(
    context: FileContext, call: cst.Call, qualified: str
) -> cst.BaseExpression | None:
    """The only argument of ``call`` when it calls ``qualified`` with one positional argument."""
    if len(call.args) != 1:
        return None
    arg = call.args[0]
    if arg.star or arg.keyword is not None:
        return None
    if context.scope.qualified_name(call.func) != qualified:
        return None
    return arg.value


def with_function(
    context: FileContext, call: cst.Call, name: str, argument: cst.BaseExpression
) -> tuple[cst.Call, list[str]] | None:
    """``call`` rewritten to call the torch function ``name`` on ``argument``, spelled like the
    original (``th.log`` -> ``th.log1p``; a bare ``log`` -> ``log1p`` imported from torch),
    and the import lines that needs. None when the new name would not resolve."""
    func = call.func
    preamble: list[str] = []
    if isinstance(func, cst.Attribute):
        new_func: cst.BaseExpression = func.with_changes(attr=cst.Name(name))
    elif context.scope.can_use(name, f"torch.{name}"):
        new_func = cst.Name(name)
        preamble.append(f"from torch import {name}")
    else:
        return None
    new = call.with_changes(func=new_func, args=[call.args[0].with_changes(value=argument)])
    return new, preamble


# --- attributes a class reads ----------------------------------------------------------------

# Methods that hand out every submodule: a class calling them may apply any of its layers.
_ALL_SUBMODULES = frozenset({"children", "modules", "named_children", "named_modules"})


def unread_attributes(context: FileContext, classdef: cst.ClassDef) -> frozenset[str]:
    """Attributes the class assigns (``self.act = ...``) but never reads anywhere in its body
    (no ``.act``, no ``"act"`` string for ``getattr``). Empty when the class walks its
    submodules (``self.children()``...), which reads them all."""
    return context.fact(f"tl4-unread:{id(classdef)}", lambda _: _unread(classdef))


def _unread(classdef: cst.ClassDef) -> frozenset[str]:
    seen: dict[str, int] = {}
    assigned: dict[str, int] = {}
    strings: set[str] = set()
    stack: list[cst.CSTNode] = [classdef.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute):
            name = node.attr.value
            if name in _ALL_SUBMODULES:
                return frozenset()
            seen[name] = seen.get(name, 0) + 1
        elif isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Attribute):
            name = node.target.attr.value
            assigned[name] = assigned.get(name, 0) + 1
        elif isinstance(node, cst.SimpleString):
            value = calls.string_literal(node)
            if value is not None:
                strings.add(value)
        stack.extend(iter_children(node))
    return frozenset(
        name
        for name, count in assigned.items()
        if seen.get(name, 0) == count and name not in strings
    )
