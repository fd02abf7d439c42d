"""Import-aware name resolution: what does an expression refer to?

``qualified_name(expr, scope)`` answers ``torch.utils.data.DataLoader`` for ``DL`` after
``from torch.utils.data import DataLoader as DL``, ``torch.nn.functional.softmax`` for
``F.softmax`` after ``import torch.nn.functional as F``, and ``None`` whenever it cannot be
sure: a name bound by anything but the same import (an assignment, a parameter, a local
class, a ``try``/``except`` fallback) is not resolved. Bindings are kept in source order, so
the answer never depends on hashing.

Each scope's bindings are collected lazily, on the first question about that scope, by a
walk that stops at nested scopes. No libcst metadata provider is used: they cost several
times the parse itself.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import libcst as cst

# Fields that only hold whitespace, punctuation or comments: never bindings, never rule targets.
_SKIPPED_FIELDS = frozenset(
    {
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "equal",
        "colon",
        "dot",
        "star",
        "operator",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "first_colon",
        "second_colon",
        "relative",
        "default_indent",
        "default_newline",
        "encoding",
        "has_trailing_newline",
    }
)
_FIELDS_BY_TYPE: dict[type, tuple[str, ...]] = {}
_PLAIN_VALUE_TYPES = (str, bool)  # fields declared with these types never hold nodes


def child_fields(node_type: type) -> tuple[str, ...]:
    """The dataclass fields of a node type that can hold syntactically meaningful children."""
    fields = _FIELDS_BY_TYPE.get(node_type)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED_FIELDS
            and not f.name.startswith(("whitespace", "trailing"))
            and f.type not in _PLAIN_VALUE_TYPES
        )
        _FIELDS_BY_TYPE[node_type] = fields
    return fields


# ``isinstance(x, cst.CSTNode)`` goes through ABCMeta (slow); a dict keyed by type is not.
_IS_NODE: dict[type, bool] = {}


def is_node_type(value_type: type) -> bool:
    """True when values of ``value_type`` are CST nodes (cached ``issubclass``)."""
    known = _IS_NODE.get(value_type)
    if known is None:
        known = _IS_NODE[value_type] = issubclass(value_type, cst.CSTNode)
    return known


def iter_children(node: cst.CSTNode, fields: Callable[[type], tuple[str, ...]] | None = None):
    """Yield the meaningful children of ``node`` in source order (those in ``fields`` of
    its type, by default ``child_fields``; ``statement_fields`` skips expressions)."""
    is_node = _IS_NODE
    for name in (fields or child_fields)(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            yield from value
        else:
            known = is_node.get(value_type)
            if known is None:
                known = is_node_type(value_type)
            if known:
                yield value


# Leaves with no meaningful children: names alone are a third of all nodes.
LEAF_TYPES = frozenset(
    {cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis}
)


def inner_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The children of ``node`` but its names and literals, last first: pushed on a stack,
    they come off in source order. For walks that look for statements, calls or bindings."""
    children = [child for child in iter_children(node) if type(child) not in LEAF_TYPES]
    children.reverse()
    return children


SCOPE_TYPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_OTHER = "<other>"  # a binding that is not an import


def is_docstring(statement: cst.CSTNode) -> bool:
    """A lone string statement: the docstring when it opens a module, class or function
    (fixes insert after it, never before)."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of Name/Attribute nodes, else None."""
    parts: list[str] = []
    while type(node) is _ATTRIBUTE:
        parts.append(node.attr.value)  # type: ignore[attr-defined]
        node = node.value  # type: ignore[attr-defined]
    if type(node) is _NAME:
        parts.append(node.value)  # type: ignore[attr-defined]
        return ".".join(reversed(parts))
    return None


def read_names(expr: cst.CSTNode) -> list[str]:
    """The bare names an expression reads: ``path`` and ``os`` in ``os.path.join(path, x)``,
    not attribute names or keywords (``mode`` in ``open(p, mode="rb")``)."""
    found: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.append(node.value)
        elif isinstance(node, (cst.Attribute, cst.Arg)):
            stack.append(node.value)
        else:
            stack.extend(iter_children(node))
    return found


def target_names(target: cst.CSTNode) -> list[str]:
    """The names an assignment target binds: ``x``, ``(x, *rest)``, ``[x, (y, z)]``."""
    found: list[str] = []
    _target_names(target, found)
    return found


def _target_names(target: cst.CSTNode, out: list[str]) -> None:
    target_type = type(target)
    if target_type is _NAME:
        out.append(target.value)  # type: ignore[attr-defined]
    elif target_type is cst.Tuple or target_type is cst.List:
        for element in target.elements:  # type: ignore[attr-defined]
            _target_names(element.value, out)
    elif target_type is cst.StarredElement:
        _target_names(target.value, out)  # type: ignore[attr-defined]


# Concrete libcst node classes have no subclasses, so ``type(x) is C`` is ``isinstance(x, C)``
# for parsed trees, without ABCMeta's slow instance check.
_NAME, _ATTRIBUTE = cst.Name, cst.Attribute
_NOT_ENTERED = frozenset({cst.Lambda, *_COMPREHENSIONS})
_NESTED_DEFS = frozenset({cst.FunctionDef, cst.ClassDef})
_TARGET_FIELD = {
    cst.AssignTarget: "target",
    cst.AnnAssign: "target",
    cst.AugAssign: "target",
    cst.For: "target",
    cst.CompFor: "target",
    cst.AsName: "name",
    cst.NamedExpr: "target",
    cst.Del: "target",
}


def _concrete_subclasses(base: type) -> frozenset[type]:
    found: set[type] = set()
    stack = [base]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None):
            found.add(cls)
    return frozenset(found)


# Outside a walrus (``:=``), an expression binds nothing in its scope: comprehensions and
# lambdas have scopes of their own and every other binding form is a statement. So a file
# whose text has no ``:=`` never needs its expressions scanned for bindings.
_EXPRESSIONS = _concrete_subclasses(cst.BaseExpression) - {cst.NamedExpr}
_NOT_ENTERED_WITHOUT_WALRUS = _NOT_ENTERED | _EXPRESSIONS
_STATEMENT_FIELDS: dict[type, tuple[str, ...]] = {}


def _only_expressions(annotation: Any) -> bool:
    """True for a field declared to hold expressions only (or None, or a sequence of them)."""
    origin = typing.get_origin(annotation)
    if origin is collections.abc.Sequence:
        return _only_expressions(typing.get_args(annotation)[0])
    options = typing.get_args(annotation) if origin is typing.Union else (annotation,)
    return all(
        option is type(None)
        or (isinstance(option, type) and issubclass(option, cst.BaseExpression))
        for option in options
    )


def statement_fields(node_type: type) -> tuple[str, ...]:
    """``child_fields`` minus those that hold only expressions: without ``:=`` they bind
    nothing, so the binding scan need not even look at them."""
    fields = _STATEMENT_FIELDS.get(node_type)
    if fields is None:
        types = {f.name: f.type for f in dataclasses.fields(node_type)}
        fields = tuple(n for n in child_fields(node_type) if not _only_expressions(types[n]))
        _STATEMENT_FIELDS[node_type] = fields
    return fields


class Scope:
    """A module, class, function or lambda scope, with lazily collected bindings.

    ``walrus=False`` promises that the file contains no ``:=`` (the engine checks the text),
    which lets the binding scan skip expressions; by default it is inherited from ``parent``
    and True for a root scope, which is always correct.
    """

    __slots__ = ("_bindings", "_globals", "_resolved", "node", "parent", "walrus")

    def __init__(
        self, node: cst.CSTNode, parent: Scope | None, *, walrus: bool | None = None
    ) -> None:
        self.node = node
        self.parent = parent
        self._bindings: dict[str, list[str]] | None = None
        self._globals: set[str] = set()
        # resolve()'s answers: rules ask about the same few names again and again
        self._resolved: dict[str, str | None] = {}
        if walrus is None:
            walrus = parent.walrus if parent is not None else True
        self.walrus = walrus

    @property
    def is_class(self) -> bool:
        return type(self.node) is cst.ClassDef

    @property
    def bindings(self) -> dict[str, list[str]]:
        """Name -> the qualified names (or ``<other>``) it is bound to in this scope, in order."""
        if self._bindings is None:
            self._bindings = {}
            self._collect()
        return self._bindings

    def _bind(self, name: str, target: str) -> None:
        if name in self._globals:
            return
        self._bindings.setdefault(name, []).append(target)  # type: ignore[union-attr]

    def _collect(self) -> None:
        node = self.node
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            params = node.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                self._bind(param.name.value, _OTHER)
            for star in (params.star_arg, params.star_kwarg):
                if isinstance(star, cst.Param):
                    self._bind(star.name.value, _OTHER)
            body = node.body
        elif isinstance(node, cst.ClassDef):
            body = node.body
        else:
            body = node
        self._scan(body)

    def _scan(self, root: cst.CSTNode) -> None:
        skipped = _NOT_ENTERED if self.walrus else _NOT_ENTERED_WITHOUT_WALRUS
        fields_of = child_fields if self.walrus else statement_fields
        is_node = _IS_NODE
        target_field = _TARGET_FIELD
        bind = self._bind
        stack = [root]
        while stack:
            node = stack.pop()
            node_type = type(node)
            if node_type in _NESTED_DEFS and node is not self.node:
                bind(node.name.value, _OTHER)  # type: ignore[attr-defined]
                stack.extend(node.decorators)  # type: ignore[attr-defined]
                continue
            if node_type in skipped:
                continue
            if node_type is cst.Import:
                for alias in node.names:  # type: ignore[attr-defined]
                    full = dotted_name(alias.name)  # type: ignore[arg-type]
                    if full is None:
                        continue
                    if alias.asname is not None and type(alias.asname.name) is _NAME:
                        bind(alias.asname.name.value, full)
                    else:
                        top = full.split(".", 1)[0]
                        bind(top, top)
                continue
            if node_type is cst.ImportFrom:
                self._bind_import_from(node)  # type: ignore[arg-type]
                continue
            if node_type is cst.Global or node_type is cst.Nonlocal:
                for item in node.names:  # type: ignore[attr-defined]
                    self._globals.add(item.name.value)
                    if self._bindings is not None:
                        self._bindings.pop(item.name.value, None)
                continue
            field_name = target_field.get(node_type)
            if field_name is not None:
                names: list[str] = []
                _target_names(getattr(node, field_name), names)
                for name in names:
                    bind(name, _OTHER)
            for name in fields_of(node_type):  # iter_children, inlined: this loop is hot
                value = getattr(node, name)
                value_type = type(value)
                if value_type is tuple or value_type is list:
                    stack.extend(value)
                else:
                    known = is_node.get(value_type)
                    if known is None:
                        known = is_node_type(value_type)
                    if known:
                        stack.append(value)

    def _bind_import_from(self, node: cst.ImportFrom) -> None:
        prefix = "." * len(node.relative)
        if node.module is not None:
            module = dotted_name(node.module)
            if module is None:
                return
            prefix += module
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted_name(alias.name)  # type: ignore[arg-type]
            if name is None:
                continue
            full = f"{prefix}.{name}" if prefix and not prefix.endswith(".") else prefix + name
            if alias.asname is not None and type(alias.asname.name) is _NAME:
                self._bind(alias.asname.name.value, full)
            else:
                self._bind(name, full)

    def resolve(self, name: str) -> str | None:
        """The qualified name ``name`` refers to here, or None when unknown or ambiguous."""
        try:
            return self._resolved[name]
        except KeyError:
            found = self._resolved[name] = self._lookup(name)
            return found

    def _lookup(self, name: str) -> str | None:
        scope: Scope | None = self
        first = True
        while scope is not None:
            if scope.is_class and not first:
                scope = scope.parent
                continue
            targets = scope.bindings.get(name)
            if targets is not None:
                head = targets[0]
                if head == _OTHER or any(t != head for t in targets):
                    return None
                return head
            first = False
            scope = scope.parent
        return None

    def binds(self, name: str) -> list[str] | None:
        """The bindings of ``name`` visible here (innermost scope that binds it), or None."""
        scope: Scope | None = self
        first = True
        while scope is not None:
            if not (scope.is_class and not first):
                targets = scope.bindings.get(name)
                if targets is not None:
                    return targets
            first = False
            scope = scope.parent
        return None

    def can_use(self, name: str, qualified: str) -> bool:
        """True when ``name`` is free here or already refers to ``qualified`` (safe to import)."""
        targets = self.binds(name)
        return targets is None or all(t == qualified for t in targets)

    def qualified_name(self, expr: cst.CSTNode) -> str | None:
        """The qualified name of a Name/Attribute chain, resolved through imports."""
        parts: list[str] = []
        while type(expr) is _ATTRIBUTE:
            parts.append(expr.attr.value)  # type: ignore[attr-defined]
            expr = expr.value  # type: ignore[attr-defined]
        if type(expr) is not _NAME:
            return None
        base = self.resolve(expr.value)
        if base is None:
            return None
        if parts:
            return base + "." + ".".join(reversed(parts))
        return base


def binding_scope(scope: Scope, name: str) -> Scope | None:
    """The innermost scope where ``name`` is bound, as Python looks it up from ``scope``."""
    current: Scope | None = scope
    first = True
    while current is not None:
        if not (current.is_class and not first) and name in current.bindings:
            return current
        first = False
        current = current.parent
    return None
