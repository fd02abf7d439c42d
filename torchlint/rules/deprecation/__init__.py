"""TL6: deprecated and removed APIs, and the table-driven base they share.

Most TL6 rules are "this qualified name is deprecated": ``DeprecatedNameRule`` finds every
use of a name from its table (calls, decorators, plain references, ``from`` imports), through
any alias, and reports each use once at the Name/Attribute chain that resolves to it. A rule
only says what to report and how to fix one use. ``spell`` writes an expression for a
qualified name that resolves at the place of the fix (keeping the user's aliases).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import PendingFix, Replace, Rule

if TYPE_CHECKING:
    from torchlint.context import FileContext


@dataclass(frozen=True)
class Use:
    """One use of a deprecated name."""

    node: cst.Name | cst.Attribute  # the chain that resolves to ``qualified``
    qualified: str
    call: cst.Call | None = None  # set when ``node`` is the called function
    decorator: cst.Decorator | None = None  # set when used as a decorator (bare or called)


OTHER_OBJECT = "a different object where the name is used as a value"

# `torch.autograd.Variable` (TL602 reports what it silently ignores, TL613 the no-op wrapper).
VARIABLE = {"torch.autograd.Variable": None, "torch.autograd.variable.Variable": None}


def ignored_volatile(call: cst.Call) -> cst.Arg | None:
    """The ``volatile=`` argument of a ``Variable(...)`` call, unless it is literally
    ``False`` (which torch ignores without a warning, as it would the plain call)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "volatile":
            value = arg.value
            if isinstance(value, cst.Name) and value.value == "False":
                return None
            return arg
    return None


# torch factories whose result is a fresh tensor nobody else holds (TL613: `Variable(f(...))`
# is `f(...)`); TL604 adds the other functions that always return a tensor.
FRESH_TENSOR_FACTORIES = frozenset(
    f"torch.{name}"
    for name in [
        "tensor",
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "randperm",
        "arange",
        "linspace",
        "logspace",
        "eye",
        "from_numpy",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
    ]
)

# Parents whose ``name`` field binds a name rather than using it.
_BINDING_PARENTS = (cst.Param, cst.FunctionDef, cst.ClassDef, cst.AsName, cst.NameItem)


def use_of(node: cst.Name | cst.Attribute, ancestors: list[cst.CSTNode]) -> Use | None:
    """How ``node`` is used, or None where it is not a reference (a binding, an import, ...).

    The qualified name is filled in by the caller.
    """
    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, cst.Attribute):
        # `old.attr` is the inner part of a longer chain; `Variable._execution_engine` and
        # the like read a member (no deprecation warning fires) rather than use the API.
        return None
    if isinstance(parent, cst.Arg) and parent.keyword is node:
        return None
    if isinstance(parent, _BINDING_PARENTS) and getattr(parent, "name", None) is node:
        return None
    if isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.Del)) and (
        getattr(parent, "target", None) is node
    ):
        return None  # rebinding or monkey-patching the name is not a use of it
    if isinstance(parent, (cst.ImportAlias, cst.ImportFrom)):
        return None  # imports are reported by `visit_ImportFrom`
    if isinstance(parent, cst.Call) and parent.func is node:
        grand = ancestors[-2] if len(ancestors) > 1 else None
        decorator = grand if isinstance(grand, cst.Decorator) else None
        return Use(node, "", call=parent, decorator=decorator)
    if isinstance(parent, cst.Decorator):
        return Use(node, "", decorator=parent)
    return Use(node, "")


class DeprecatedNameRule(Rule):
    """Base of the rules that report uses of the qualified names in ``names``.

    Subclasses fill ``names`` (qualified name -> rule data) and override ``message`` and
    ``fix_use`` (and ``import_target`` where an import can be rewritten in place).
    """

    names: ClassVar[Mapping[str, Any]] = {}
    report_imports: ClassVar[bool] = True
    # False where only a call warns (a class constructed, a function called): then a type
    # annotation and an import whose name the file never uses change nothing at run time
    references_warn: ClassVar[bool] = True
    same_object: ClassVar[bool] = False  # the replacement is the same object (an alias)
    _last_parts: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._last_parts = frozenset(name.rsplit(".", 1)[-1] for name in cls.names)
        if "requires" not in cls.__dict__:
            cls.requires = tuple(sorted(cls._last_parts))

    # --- what subclasses override ---

    def message(self, qualified: str) -> str:
        return self.summary

    def fix_use(self, use: Use) -> PendingFix | None:
        return None

    def import_target(self, qualified: str) -> str | None:
        """A qualified name with the same last part that ``from`` imports may switch to."""
        return None

    def check_use(self, use: Use) -> None:
        fix = None
        if not (isinstance(use.node, cst.Name) and self._covered_by_import_fix(use.node.value)):
            fix = self.fix_use(use)
        self.report(use.node, self.message(use.qualified), fix=fix, api=use.qualified)

    # --- visitors ---

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self._off = self.exempt(context.path.replace("\\", "/"))
        # What visit_Name looks at: the last parts of the names, and the aliases found so far
        # (`from m import old as alias`: uses spell `alias`); nothing in an exempt file.
        self._wanted: set[str] = set() if self._off else set(self._last_parts)

    def names_visited(self) -> set[str]:
        return self._wanted

    def exempt(self, path: str) -> bool:
        """True for files allowed to use the names (the package that defines them)."""
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in self._wanted:
            self._check(node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in self._last_parts and not self._off:
            self._check(node)

    def _check(self, node: cst.Name | cst.Attribute) -> None:
        use = use_of(node, self.context.ancestors)
        if use is None:
            return
        qualified = self.qualified_name(node)
        if qualified is None or qualified not in self.names:
            return
        if in_compat_branch(self.context.ancestors, self.context, node):
            return  # the fallback for an older torch: the old name is used on purpose
        if not self.references_warn and any(
            isinstance(a, cst.Annotation) for a in self.context.ancestors
        ):
            return  # `-> amp.GradScaler` names the class and warns about nothing
        self.check_use(Use(node, qualified, use.call, use.decorator))

    def visit_Import(self, node: cst.Import) -> None:
        if (
            not self.report_imports
            or self._off
            or in_compat_branch(self.context.ancestors, self.context)
        ):
            return
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is not None and full in self.names:
                self.report(alias, self.message(full), api=full)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        if self._off:
            return
        module = dotted_name(node.module)
        if module is None:
            return
        fix: PendingFix | None = None
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None or name not in self._last_parts:
                continue
            qualified = f"{module}.{name}"
            if qualified not in self.names:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._wanted.add(alias.asname.name.value)
            if (
                self.report_imports
                and not in_compat_branch(self.context.ancestors, self.context)
                and (self.references_warn or self._used_elsewhere(alias))
            ):
                if fix is None:
                    fix = self._import_fix(node, module)
                self.report(alias, self.message(qualified), fix=fix, api=qualified)

    def _used_elsewhere(self, alias: cst.ImportAlias) -> bool:
        """The name an import binds is read somewhere in the file (a name node beyond the
        import's own; a mention in a string or comment is not a use)."""
        bound = alias.evaluated_alias or alias.evaluated_name
        if len(re.findall(rf"\b{re.escape(bound)}\b", self.context.source)) < 2:
            return False  # cheap: the text never mentions it again
        names = self.context.fact("deprecation.name-counts", _name_counts)
        return names.get(bound, 0) > 1

    # --- rewriting ``from old import x`` to ``from new import x`` ---

    def _rewritten_module(self, node: cst.ImportFrom, module: str) -> str | None:
        """The module every name of this import can come from instead, or None."""
        if node.relative or isinstance(node.names, cst.ImportStar):
            return None
        targets = set()
        for alias in node.names:
            name = dotted_name(alias.name)
            target = self.import_target(f"{module}.{name}") if name else None
            if target is None or target.rsplit(".", 1)[-1] != name:
                return None
            targets.add(target.rsplit(".", 1)[0])
        return targets.pop() if len(targets) == 1 else None

    def _import_fix(self, node: cst.ImportFrom, module: str) -> PendingFix | None:
        new_module = self._rewritten_module(node, module)
        if new_module is None:
            return None
        message = f"Import from `{new_module}`"
        applicability = Applicability.SAFE
        if not self.same_object:
            # Calls behave the same; a name used as a value becomes another object.
            values = self.context.fact("deprecation.value-names", _value_names)
            bound = {a.evaluated_alias or a.evaluated_name for a in node.names}  # type: ignore[union-attr]
            if bound & values:
                applicability = Applicability.UNSAFE
                message += f" ({OTHER_OBJECT})"
        return self.fix(applicability, message, Replace(node.module, new_module))  # type: ignore[arg-type]

    def rename_fix(self, use: Use, target: str, message: str) -> PendingFix | None:
        """Replace the use by ``target``, which takes the same arguments.

        Safe for calls and decorators; a use as a value (``{F.upsample: ...}``, a list of
        functions) gets a different object, which registries and identity checks notice,
        unless ``same_object`` says the new name is the very same function.
        """
        spelled = self.spell(use.node, target)
        if spelled is None:
            return None
        applicability = Applicability.SAFE
        if not (self.same_object or use.call is not None or use.decorator is not None):
            applicability = Applicability.UNSAFE
            message += f" ({OTHER_OBJECT})"
        return self.fix(applicability, message, Replace(use.node, spelled[0]), preamble=spelled[1])

    def _covered_by_import_fix(self, name: str) -> bool:
        """True when every ``from`` import binding ``name`` gets rewritten by this rule.

        Then a bare use of ``name`` needs no fix of its own: it follows its import.
        """
        if type(self).import_target is DeprecatedNameRule.import_target:
            return False
        covered = self.context.fact(f"{self.code}.import-fixes", self._imports_with_fixes)
        return covered.get(name, False)

    def _imports_with_fixes(self, context: Any) -> dict[str, bool]:
        found: dict[str, bool] = {}
        stack: list[cst.CSTNode] = [context.module]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                for small in node.body:
                    if isinstance(small, cst.ImportFrom):
                        self._note_import(small, found)
                continue
            if not isinstance(node, cst.BaseExpression):
                stack.extend(iter_children(node))
        return found

    def _note_import(self, node: cst.ImportFrom, found: dict[str, bool]) -> None:
        module = dotted_name(node.module) if node.module is not None else None
        if module is None or isinstance(node.names, cst.ImportStar):
            return
        fixed = self._rewritten_module(node, module) is not None
        for alias in node.names:
            bound = alias.evaluated_alias or alias.evaluated_name
            found[bound] = found.get(bound, True) and fixed

    # --- spelling replacements ---

    def spell(self, node: cst.CSTNode, target: str) -> tuple[str, tuple[str, ...]] | None:
        return spell(self.context, node, target)

    def module_alias(self, module: str) -> tuple[str, tuple[str, ...]] | None:
        return module_alias(self.context, module)


def spell(
    context: FileContext, node: cst.CSTNode, target: str, from_import: bool = False
) -> tuple[str, tuple[str, ...]] | None:
    """Source text for the qualified name ``target`` at ``node``'s place, plus the preamble
    it needs; None when no spelling is sure to resolve there.

    A prefix of ``node``'s own chain is reused when it names a module of ``target``
    (``F.upsample`` -> ``F.interpolate``, ``th.cuda.amp.autocast`` -> ``th.amp.autocast``).
    Otherwise the top-level module is spelled as the file spells it, or imported; with
    ``from_import``, ``from module import name`` is preferred to ``import top``.
    """
    scope = context.scope
    prefix = node.value if isinstance(node, cst.Attribute) else None
    while prefix is not None:
        qualified = scope.qualified_name(prefix)
        if qualified is not None and target.startswith(qualified + "."):
            return context.code_for(prefix) + target[len(qualified) :], ()
        prefix = prefix.value if isinstance(prefix, cst.Attribute) else None
    top, _, rest = target.partition(".")
    module = module_alias(context, top, import_if_free=not from_import)
    if module is not None:
        name, preamble = module
        return (f"{name}.{rest}" if rest else name), preamble
    if from_import and rest:
        parent, _, name = target.rpartition(".")
        if scope.can_use(name, target):
            return name, (f"from {parent} import {name}",)
        return spell(context, node, target)
    return None


def module_alias(
    context: FileContext, module: str, import_if_free: bool = True
) -> tuple[str, tuple[str, ...]] | None:
    """A name for the top-level ``module`` here: ``module`` itself, an alias of it
    (``import torch as th``), or ``module`` with an ``import module`` to add."""
    scope = context.scope
    if scope.resolve(module) == module:
        return module, ()
    for name, targets in context.module_scope.bindings.items():
        if targets and targets[0] == module and scope.resolve(name) == module:
            return name, ()
    if import_if_free and scope.can_use(module, module):
        return module, (f"import {module}",)
    return None


def _name_counts(context: FileContext) -> dict[str, int]:
    """How many name nodes spell each name in the file (imports included)."""
    counts: dict[str, int] = {}
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            counts[node.value] = counts.get(node.value, 0) + 1
        else:
            stack.extend(iter_children(node))
    return counts


def _value_names(context: FileContext) -> frozenset[str]:
    """Names the file uses other than by calling them or decorating with them."""
    found: set[str] = set()
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(context.module, None)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name):
            if not _called_or_bound(node, parent):
                found.add(node.value)
            continue
        stack.extend((child, node) for child in iter_children(node))
    return frozenset(found)


def _called_or_bound(node: cst.Name, parent: cst.CSTNode | None) -> bool:
    if isinstance(parent, cst.Call):
        return parent.func is node
    if isinstance(parent, cst.Decorator):
        return True
    if isinstance(parent, cst.Attribute):
        return parent.attr is node
    if isinstance(parent, cst.Arg):
        return parent.keyword is node
    return isinstance(parent, _BINDING_PARENTS) and getattr(parent, "name", None) is node


# --- small helpers shared by the TL6 rules ---


def keyword_arg(name: str, value: cst.BaseExpression | str) -> cst.Arg:
    expr = cst.parse_expression(value) if isinstance(value, str) else value
    return cst.Arg(
        value=expr,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )


def as_keyword(arg: cst.Arg, name: str) -> cst.Arg:
    """A positional argument turned into ``name=value``, keeping its comma and layout."""
    return arg.with_changes(
        keyword=cst.Name(name),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )


def prepend_arg(call: cst.Call, value: str) -> cst.Call:
    """``call`` with ``value`` as a new first positional argument, following its layout."""
    new = cst.Arg(value=cst.parse_expression(value))
    args = list(call.args)
    if args:
        after: cst.BaseParenthesizableWhitespace = cst.SimpleWhitespace(" ")
        if isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
            after = call.whitespace_before_args  # one argument per line: keep it so
        new = new.with_changes(comma=cst.Comma(whitespace_after=after))
    return call.with_changes(args=[new, *args])


def atom(node: cst.BaseExpression, code: str) -> str:
    """``code`` ready to take ``.method()``: parenthesized unless it is a primary."""
    if (
        isinstance(
            node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.List, cst.Tuple, cst.Dict)
        )
        or node.lpar
    ):
        return code
    return f"({code})"
