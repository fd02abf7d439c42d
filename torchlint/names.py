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

import dataclasses

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
        "default_indent",
        "default_newline",
        "encoding",
        "has_trailing_newline",
    }
)
_FIELDS_BY_TYPE: dict[type, tuple[str, ...]] = {}


def child_fields(node_type: type) -> tuple[str, ...]:
    """The dataclass fields of a node type that can hold syntactically meaningful children."""
    fields = _FIELDS_BY_TYPE.get(node_type)
    if fields is None:
        fields = tuple(
            f.name
            for f in dataclasses.fields(node_type)
            if f.name not in _SKIPPED_FIELDS
            and not f.name.startswith(("whitespace", "trailing"))
        )
        _FIELDS_BY_TYPE[node_type] = fields
    return fields


def iter_children(node: cst.CSTNode):
    """Yield the meaningful children of ``node`` in source order."""
    for name in child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif type(value) is tuple or type(value) is list:
            yield from value


SCOPE_TYPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_OTHER = "<other>"  # a binding that is not an import


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of Name/Attribute nodes, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _target_names(target: cst.CSTNode, out: list[str]) -> None:
    if isinstance(target, cst.Name):
        out.append(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _target_names(element.value, out)
    elif isinstance(target, cst.StarredElement):
        _target_names(target.value, out)


class Scope:
    """A module, class, function or lambda scope, with lazily collected bindings."""

    __slots__ = ("node", "parent", "_bindings", "_globals")

    def __init__(self, node: cst.CSTNode, parent: Scope | None) -> None:
        self.node = node
        self.parent = parent
        self._bindings: dict[str, list[str]] | None = None
        self._globals: set[str] = set()

    @property
    def is_class(self) -> bool:
        return isinstance(self.node, cst.ClassDef)

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
        if isinstance(node, cst.FunctionDef) or isinstance(node, cst.Lambda):
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
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not self.node:
                self._bind(node.name.value, _OTHER)
                stack.extend(node.decorators)
                continue
            if isinstance(node, (cst.Lambda, *_COMPREHENSIONS)):
                continue
            if isinstance(node, cst.Import):
                for alias in node.names:
                    full = dotted_name(alias.name)  # type: ignore[arg-type]
                    if full is None:
                        continue
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        self._bind(alias.asname.name.value, full)
                    else:
                        top = full.split(".", 1)[0]
                        self._bind(top, top)
                continue
            if isinstance(node, cst.ImportFrom):
                self._bind_import_from(node)
                continue
            if isinstance(node, (cst.Global, cst.Nonlocal)):
                for item in node.names:
                    self._globals.add(item.name.value)
                    if self._bindings is not None:
                        self._bindings.pop(item.name.value, None)
                continue
            names: list[str] = []
            if isinstance(node, cst.AssignTarget):
                _target_names(node.target, names)
            elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
                _target_names(node.target, names)
            elif isinstance(node, (cst.For, cst.CompFor)):
                _target_names(node.target, names)
            elif isinstance(node, cst.AsName):
                _target_names(node.name, names)
            elif isinstance(node, cst.NamedExpr):
                _target_names(node.target, names)
            elif isinstance(node, cst.Del):
                _target_names(node.target, names)
            for name in names:
                self._bind(name, _OTHER)
            stack.extend(iter_children(node))

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
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, full)
            else:
                self._bind(name, full)

    def resolve(self, name: str) -> str | None:
        """The qualified name ``name`` refers to here, or None when unknown or ambiguous."""
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
        while isinstance(expr, cst.Attribute):
            parts.append(expr.attr.value)
            expr = expr.value
        if not isinstance(expr, cst.Name):
            return None
        base = self.resolve(expr.value)
        if base is None:
            return None
        if parts:
            return base + "." + ".".join(reversed(parts))
        return base
