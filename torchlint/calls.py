"""Small helpers for reading and rewriting call arguments, shared by the rules."""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from torchlint.names import SCOPE_TYPES, Scope, dotted_name, iter_children


def has_star_args(call: cst.Call) -> bool:
    """``*args`` or ``**kwargs`` could hide any argument: rules must not guess."""
    return any(arg.star for arg in call.args)


def callee_name(call: cst.Call) -> str | None:
    """The last name of what ``call`` calls: ``step`` in ``opt.step()`` and in ``step()``."""
    func = call.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional(call: cst.Call) -> list[cst.Arg]:
    return [arg for arg in call.args if arg.keyword is None and not arg.star]


def argument(call: cst.Call, name: str, index: int | None) -> cst.Arg | None:
    """The argument passed as keyword ``name`` or at positional ``index``."""
    found = keyword(call, name)
    if found is not None or index is None:
        return found
    args = positional(call)
    return args[index] if index < len(args) else None


def int_literal(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0)
        except ValueError:
            return None
    return None


def signed_int(expr: cst.BaseExpression) -> int | None:
    """An integer literal's value, a negative one (``-1``) included."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        value = int_literal(expr.expression)
        return None if value is None else -value
    return int_literal(expr)


def is_true(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def is_false(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "False"


def string_literal(expr: cst.BaseExpression) -> str | None:
    """The value of a plain (non-f, non-bytes) string literal."""
    if isinstance(expr, cst.SimpleString):
        prefix = expr.prefix.lower()
        if "b" in prefix or "f" in prefix:
            return None
        raw = expr.raw_value
        if "\\" not in raw and "\r" not in raw:
            return raw  # no escapes, no newline to normalise: the text is the value
        value = expr.evaluated_value  # `ast.literal_eval`: slow, so only where needed
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def remove_arg(call: cst.Call, target: cst.Arg) -> cst.Call:
    """``call`` without ``target``, keeping the commas and layout of the others tidy."""
    args = list(call.args)
    index = args.index(target)
    del args[index]
    if args and index == len(args):  # removed the last one: its comma and layout move up
        args[-1] = args[-1].with_changes(
            comma=target.comma, whitespace_after_arg=target.whitespace_after_arg
        )
    return call.with_changes(args=args)


def add_keyword(call: cst.Call, name: str, value: str | cst.BaseExpression) -> cst.Call:
    """``call`` with ``name=value`` appended, following the call's layout (one line or many)."""
    expr = cst.parse_expression(value) if isinstance(value, str) else value
    new = cst.Arg(
        value=expr,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )
    args = list(call.args)
    if args:
        last = args[-1]
        opening = call.whitespace_before_args
        between = next(
            (a.comma for a in reversed(args[:-1]) if isinstance(a.comma, cst.Comma)),
            # One argument on its own line (`f(\n    x,\n)`): the new one gets a line too.
            cst.Comma(whitespace_after=opening)
            if isinstance(opening, cst.ParenthesizedWhitespace)
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
        )
        new = new.with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(comma=between, whitespace_after_arg=cst.SimpleWhitespace(""))
    args.append(new)
    return call.with_changes(args=args)


def replace_keyword_value(call: cst.Call, arg: cst.Arg, value: str) -> cst.Call:
    return call.deep_replace(arg, arg.with_changes(value=cst.parse_expression(value)))  # type: ignore[return-value]


def assigned_values(
    root: cst.CSTNode, target: str, *, nested: bool = False
) -> list[cst.BaseExpression]:
    """Values assigned to ``target`` (dotted text: ``model``, ``self.net``) inside ``root``.

    Nested functions and classes are skipped unless ``nested`` (use it to find
    ``self.x = ...`` in any method of a class). Only plain and annotated assignments count;
    the values come in source order.
    """
    found: list[cst.BaseExpression] = []
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        if node is not root and not nested and isinstance(node, SCOPE_TYPES):
            continue
        if isinstance(node, cst.Assign):
            if any(dotted_name(t.target) == target for t in node.targets):
                found.append(node.value)
        elif (
            isinstance(node, cst.AnnAssign)
            and node.value is not None
            and dotted_name(node.target) == target
        ):
            found.append(node.value)
        stack.extend(reversed(list(iter_children(node))))
    return found


def local_subclasses(
    module: cst.Module, scope: Scope, is_base: Callable[[str], bool]
) -> frozenset[str]:
    """Module-level classes of this file deriving from a base whose qualified name ``is_base``
    accepts, directly or through other such classes of the file (``scope``: the module scope)."""
    classes = [s for s in module.body if isinstance(s, cst.ClassDef)]
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for cls in classes:
            if cls.name.value in found:
                continue
            for base in cls.bases:
                if base.keyword is not None:
                    continue
                value = base.value
                if (isinstance(value, cst.Name) and value.value in found) or (
                    (qualified := scope.qualified_name(value)) is not None and is_base(qualified)
                ):
                    found.add(cls.name.value)
                    changed = True
                    break
    return frozenset(found)


def from_import_aliases(node: cst.ImportFrom, modules: frozenset[str], name: str) -> list[str]:
    """The local names ``from <module> import <name> [as alias]`` binds, for ``module`` in
    ``modules``. Rules use it to resolve a bare-name call only when an import could make it
    the function they look for (resolving every call's name is the expensive part)."""
    if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
        return []
    if dotted_name(node.module) not in modules:
        return []
    return [
        alias.asname.name.value
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name)
        else name
        for alias in node.names
        if isinstance(alias.name, cst.Name) and alias.name.value == name
    ]


def class_method(classdef: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    """The one method called ``name`` defined directly in the class body (None if 0 or 2+)."""
    found = [
        statement
        for statement in classdef.body.body
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name
    ]
    return found[0] if len(found) == 1 else None
