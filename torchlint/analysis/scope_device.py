"""The device a fix writes: the one the code already chose, asked by every fix that writes one.

A fix should read like the change a careful colleague would make, and the program should
keep doing what its author meant: a script that takes ``--device cpu`` must still run on the
CPU after the fix. So a fix that needs a device (TL201, TL202, TL601's device type, TL703's
``map_location``) asks here, and gets, in this order:

1. a device the code already has in scope: a name bound only to a device (``device =
   torch.device(...)``, ``dev = best_device()``, ``device = get_device(args.device)``), a
   parameter ``device``, ``self.device`` in a class that sets it, ``args.device`` where the
   script has a ``--device`` option;
2. inside a function that receives a model (a parameter ``model``, ``net``, ...) and does not
   move it, the model's device, bound once at the top of the function
   (``device = next(model.parameters()).device``);
3. the device of the callers: when every call of the (module-level) function in this file has
   a device in scope, the function gets a ``device`` parameter and each call passes its own
   (in a script, or for a private ``_function``: a library's public function may have
   callers in other files);
4. only where the code has no device at all, the best device, bound once: ``device =
   best_device()`` (or the plain-PyTorch selection) at the top of the function that uses it,
   or once after the imports for module-level code, never one call per tensor.

Steps 2-4 add edits (a line, a parameter) besides the fix's own: the fixer applies one such
fix per function and pass, and the next pass finds the binding through step 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from torchlint import calls
from torchlint.analysis.device_names import scope_body, statement_index
from torchlint.analysis.devices import (
    BEST_DEVICE,
    INLINE_DEVICE,
    RUNTIME_IMPORT,
    best_device_expression,
    is_best_device_call,
    last_name,
)
from torchlint.context import FileContext, InsertLine, NodeEdit, Replace
from torchlint.names import Scope, is_docstring, iter_children

ANY, TORCH = 1, 2  # a device of some kind (a string or a torch.device); surely a torch.device
_SELECTOR = re.compile(
    r"_?(?:get|select|pick|choose|setup|init|resolve|find|auto|default|best|make)_?device"
)
_DEVICE_NAME = re.compile(r"(?:device|dev|[a-z0-9_]*_device|device_[a-z0-9_]*)", re.IGNORECASE)
_MODEL_PARAM = re.compile(r"(?:model|net|network|[a-z0-9_]*_model|[a-z0-9_]*_net)")
_OPTIONS = frozenset({"args", "opt", "opts", "options", "cfg", "config", "hparams", "params"})
_DEVICE_STRINGS = frozenset({"cuda", "cpu", "mps", "xpu", "meta"})
_MOVES = frozenset({"to", "cuda", "cpu", "half", "float", "double", "to_empty"})
SELECTED_DEVICE = "device = best_device()"
MODEL_DEVICE = "device = next({model}.parameters()).device"


@dataclass(frozen=True)
class ScopeDevice:
    """What a fix writes for the device, the other edits that makes it bound, and why."""

    text: str
    kind: int = ANY
    edits: tuple[NodeEdit, ...] = ()
    preamble: tuple[str, ...] = ()
    origin: str = ""  # for messages: where the device comes from

    @property
    def type_text(self) -> str:
        """The device's type as text (``device.type``), for ``torch.autocast`` and the like."""
        if self.kind == TORCH:
            return f"{self.text}.type"
        return f"torch.device({self.text}).type"


def scope_device(context: FileContext, *, select: bool = True) -> ScopeDevice | None:
    """The device for a fix at the node being visited (see the module's docstring).

    ``select=False``: only a device the code has (steps 1-2); None when it has none (the
    fix then keeps its own default, e.g. ``"cuda"`` or ``"cpu"``).
    """
    if _in_signature(context):  # a default or decorator runs once, outside the function
        return _inline(context) if select else _named(context)
    found = _named(context)
    if found is not None:
        return found
    function = _enclosing_function(context)
    if function is not None:
        found = _model_device(context, function)
        if found is not None or not select:
            return found
        found = _caller_device(context, function)
        if found is not None:
            return found
        return _select_in_function(context, function)
    if not select:
        return None
    if _in_class_body(context):
        return _inline(context)
    if _binds_here(context):
        return _inline(context)  # `dev = torch.device("cuda")`: this is the one binding
    return _select_in_module(context)


# --- step 1: a device in scope -------------------------------------------------------------


def device_value(
    context: FileContext, scope: Scope, value: cst.BaseExpression | None, named: bool
) -> int:
    """``TORCH`` when ``value`` is surely a ``torch.device``, ``ANY`` when it is a device of
    some kind a device-named variable holds (``get_device(...)``, ``args.device``), else 0."""
    if value is None:
        return 0
    if isinstance(value, cst.Call):
        if scope.qualified_name(value.func) == "torch.device" or is_best_device_call(
            scope, value, context.project
        ):
            return TORCH
        name = last_name(value.func)
        if named and name is not None and _SELECTOR.fullmatch(name):
            return TORCH if name in _torch_device_functions(context) else ANY
        return 0
    if isinstance(value, cst.Attribute) and value.attr.value == "device":
        base = value.value
        if isinstance(base, cst.Name) and base.value in _OPTIONS:
            return ANY if named else 0
        return TORCH if isinstance(base, (cst.Call, cst.Name, cst.Attribute)) else 0
    if named and isinstance(value, cst.IfExp):
        sides = (value.body, value.orelse)
        if all(
            calls.string_literal(side) in _DEVICE_STRINGS
            or device_value(context, scope, side, named)
            for side in sides
        ):
            return ANY
    return 0


def _torch_device_functions(context: FileContext) -> frozenset[str]:
    """Module-level functions of this file whose every return is a ``torch.device``."""

    def compute(context: FileContext) -> frozenset[str]:
        found = set()
        scope = context.module_scope
        for statement in context.module.body:
            if not isinstance(statement, cst.FunctionDef):
                continue
            returns = [node for node in _walk(statement.body) if isinstance(node, cst.Return)]
            if returns and all(
                isinstance(r.value, cst.Call)
                and (
                    scope.qualified_name(r.value.func) == "torch.device"
                    or is_best_device_call(scope, r.value, context.project)
                )
                for r in returns
            ):
                found.add(statement.name.value)
        return frozenset(found)

    return context.fact("scope_device.torch_device_functions", compute)


def _walk(root: cst.CSTNode, *, nested: bool = False):  # type: ignore[no-untyped-def]
    """The nodes under ``root`` (not entering nested functions and classes unless asked)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if not nested and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(iter_children(node))


@dataclass(frozen=True)
class _Binding:
    kind: int  # device_value of the binding (0: not surely a device)
    statement: int  # index in the scope body; -1 for a parameter


def _device_bindings(context: FileContext, scope: Scope) -> dict[str, list[_Binding]]:
    """The bindings in ``scope`` of the names that may hold a device (cached per scope)."""
    cache = context.fact("scope_device.bindings", lambda _: {})
    key = id(scope.node)
    if key in cache:
        return cache[key]
    found: dict[str, list[_Binding]] = {}
    root = scope.node
    if isinstance(root, cst.FunctionDef):
        params = root.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            kind = 0
            if param.name.value == "device" and not (
                isinstance(param.default, cst.Name) and param.default.value == "None"
            ):
                annotation = param.annotation
                typed = annotation is not None and scope.qualified_name(annotation.annotation) == (
                    "torch.device"
                )
                kind = TORCH if typed else ANY
            found.setdefault(param.name.value, []).append(_Binding(kind, -1))
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                found.setdefault(star.name.value, []).append(_Binding(0, -1))
    for index, statement in enumerate(scope_body(root)):
        for node in _walk(statement):
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                found.setdefault(node.name.value, []).append(_Binding(0, index))
                continue
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    _bind_target(context, scope, target.target, node.value, index, found)
            elif isinstance(node, cst.AnnAssign):
                _bind_target(context, scope, node.target, node.value, index, found)
            elif isinstance(node, (cst.AugAssign, cst.For, cst.CompFor)):
                _bind_target(context, scope, node.target, None, index, found)
            elif isinstance(node, cst.AsName):
                _bind_target(context, scope, node.name, None, index, found)
            elif isinstance(node, cst.NamedExpr):
                _bind_target(context, scope, node.target, node.value, index, found)
            elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(
                getattr(node, "names", None), cst.ImportStar
            ):
                for alias in node.names:  # type: ignore[union-attr]
                    name = alias.evaluated_alias or alias.evaluated_name.split(".")[0]
                    found.setdefault(name, []).append(_Binding(0, index))
    cache[key] = found
    return found


def _bind_target(
    context: FileContext,
    scope: Scope,
    target: cst.BaseExpression,
    value: cst.BaseExpression | None,
    index: int,
    found: dict[str, list[_Binding]],
) -> None:
    if isinstance(target, cst.Name):
        named = bool(_DEVICE_NAME.fullmatch(target.value))
        found.setdefault(target.value, []).append(
            _Binding(device_value(context, scope, value, named), index)
        )
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _bind_target(context, scope, element.value, None, index, found)
    elif isinstance(target, cst.StarredElement):
        _bind_target(context, scope, target.value, None, index, found)


def _device_names(context: FileContext, scope: Scope) -> list[tuple[str, list[_Binding]]]:
    """The names of ``scope`` whose every binding holds a device, `device` and device-named
    ones first (worked out once per scope: a scope of N calls is not read N times)."""
    cache = context.fact("scope_device.device_names", lambda _: {})
    key = id(scope.node)
    if key not in cache:
        bindings = _device_bindings(context, scope)
        names = [name for name, found in bindings.items() if all(b.kind for b in found)]
        names.sort(key=lambda n: (n != "device", not _DEVICE_NAME.fullmatch(n)))
        cache[key] = [(name, bindings[name]) for name in names]
    return cache[key]


def _named(context: FileContext) -> ScopeDevice | None:
    """Step 1: a name, a parameter or an attribute holding the code's device."""
    scope: Scope | None = context.scope
    first = True
    here = context.scope
    while scope is not None:
        if not (scope.is_class and not first):
            for name, found in _device_names(context, scope):
                if _shadowed(here, scope, name):
                    continue
                if scope is here:
                    index = statement_index(context, scope)
                    if index is not None and found[0].statement >= index:
                        continue
                kind = min(b.kind for b in found)
                return ScopeDevice(name, kind, origin=f"`{name}`")
        first = False
        scope = scope.parent
    return _attribute_device(context)


def _shadowed(here: Scope, owner: Scope, name: str) -> bool:
    """True when a scope between ``here`` and ``owner`` binds ``name`` too."""
    scope: Scope | None = here
    first = True
    while scope is not None and scope is not owner:
        if not (scope.is_class and not first) and name in scope.bindings:
            return True
        first = False
        scope = scope.parent
    return False


def _attribute_device(context: FileContext) -> ScopeDevice | None:
    """``self.device`` in a class that sets it; ``args.device`` in a script with ``--device``."""
    scope: Scope | None = context.scope
    while scope is not None and not isinstance(scope.node, cst.FunctionDef):
        scope = scope.parent
    if scope is None:  # module-level code of a script: its option, once parsed above here
        return _option_device(context, context.module_scope, ordered=True)
    function = scope.node
    assert isinstance(function, cst.FunctionDef)
    params = function.params.params
    owner = scope.parent
    if (
        params
        and params[0].name.value == "self"
        and owner is not None
        and isinstance(owner.node, cst.ClassDef)
        and function.name.value != "__init__"
    ):
        kinds = [
            device_value(context, owner, value, True)
            for value in calls.assigned_values(owner.node, "self.device", nested=True)
        ]
        if kinds and all(kinds):
            return ScopeDevice("self.device", min(kinds), origin="`self.device`")
    return _option_device(context, scope)


def _option_device(context: FileContext, scope: Scope, ordered: bool = False) -> ScopeDevice | None:
    """``args.device`` in a script with a ``--device`` option; ``ordered``: only where the
    options were parsed in an earlier statement of ``scope`` (module-level code runs in order)."""
    if '"--device"' not in context.source and "'--device'" not in context.source:
        return None
    for name in sorted(_OPTIONS):
        if scope.binds(name) is None or f"{name}.device" not in context.source:
            continue
        if ordered:
            here = statement_index(context, scope)
            bound = _device_bindings(context, scope).get(name, [])
            if here is not None and not any(0 <= b.statement < here for b in bound):
                continue
        return ScopeDevice(f"{name}.device", ANY, origin=f"`{name}.device`")
    return None


# --- step 2: the model's device ----------------------------------------------------------


def _enclosing_function(context: FileContext) -> cst.FunctionDef | None:
    """The innermost function around the visited node; None at module level or in a class
    body (a lambda or comprehension inside a function belongs to it)."""
    for node in reversed(context.ancestors):
        if isinstance(node, cst.FunctionDef):
            return node
        if isinstance(node, cst.ClassDef):
            return None
    return None


def _in_class_body(context: FileContext) -> bool:
    return any(isinstance(node, cst.ClassDef) for node in context.ancestors)


def _in_signature(context: FileContext) -> bool:
    """The visited node is in a parameter default, annotation or decorator."""
    for node in reversed(context.ancestors):
        if isinstance(node, (cst.Param, cst.Decorator, cst.Annotation)):
            return True
        if isinstance(node, (cst.IndentedBlock, cst.SimpleStatementSuite, cst.Module)):
            return False
    return False


def _binds_here(context: FileContext) -> bool:
    """``name = torch.device(<literal>)``: the statement is itself the one binding (the
    visited node is the call, or inside it)."""
    chain = context.ancestors
    for position in range(len(chain) - 1, 0, -1):
        node = chain[position]
        if isinstance(node, (cst.Assign, cst.AnnAssign)):
            value = node.value
            if not isinstance(value, cst.Call):
                return False
            if position + 1 < len(chain) and chain[position + 1] is not value:
                return False
            return context.scope.qualified_name(value.func) == "torch.device"
        if isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            return False
    return False


def _free_in(function: cst.FunctionDef, name: str) -> bool:
    """``name`` is neither bound nor read anywhere in ``function`` (nested code included);
    a keyword (``f(device=...)``) or an attribute (``x.device``) does not count."""
    params = function.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value == name:
            return False
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value == name:
                return False
            continue
        if isinstance(node, (cst.Attribute, cst.Arg)):
            stack.append(node.value)
        else:
            stack.extend(iter_children(node))
    return True


def _first_statement(function: cst.FunctionDef) -> cst.CSTNode | None:
    """The statement a new binding goes above: the first one after the docstring."""
    body = function.body
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    statements = list(body.body)
    if is_docstring(statements[0]):
        statements = statements[1:]
    return statements[0] if statements else None


def _model_device(context: FileContext, function: cst.FunctionDef) -> ScopeDevice | None:
    """Step 2: ``device = next(model.parameters()).device`` for a function given a model."""
    params = function.params
    model = next(
        (
            p.name.value
            for p in (*params.posonly_params, *params.params, *params.kwonly_params)
            if _MODEL_PARAM.fullmatch(p.name.value) and p.default is None
        ),
        None,
    )
    if model is None or not _free_in(function, "device"):
        return None
    for node in _walk(function.body, nested=True):
        if isinstance(node, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)):
            target = node.target
            if isinstance(target, cst.Name) and target.value == model:
                return None  # rebound: which object would the device come from?
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            receiver = node.func.value
            if (
                node.func.attr.value in _MOVES
                and isinstance(receiver, cst.Name)
                and receiver.value == model
            ):
                return None  # the function moves the model: its device changes here
    first = _first_statement(function)
    if first is None:
        return None
    line = MODEL_DEVICE.format(model=model)
    return ScopeDevice(
        "device", TORCH, (InsertLine(first, line),), origin=f"the device of `{model}`"
    )


# --- step 3: the callers' device ---------------------------------------------------------


def _calls_by_name(context: FileContext) -> dict[str, list[tuple[cst.CSTNode, bool]]]:
    """Every use of a module-level function's name: (the node, whether it is a plain call
    ``f(...)`` with no ``*``/``**``, the top-level statement it is in); a call's own name
    is not listed again as a bare use."""

    def compute(context: FileContext) -> dict:
        functions = {s.name.value for s in context.module.body if isinstance(s, cst.FunctionDef)}
        uses: dict[str, list] = {name: [] for name in functions}
        for top in context.module.body:
            for node in _walk(top, nested=True):
                if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
                    name = node.func.value
                    if name in uses:
                        uses[name].append((node, not calls.has_star_args(node), top))
                elif isinstance(node, cst.Name) and node.value in uses:
                    uses[node.value].append((node, False, top))
        for name, found in uses.items():
            funcs = {id(n.func) for n, _, _ in found if isinstance(n, cst.Call)}
            uses[name] = [u for u in found if id(u[0]) not in funcs]
        return uses

    return context.fact("scope_device.calls", compute)


def _caller_device(context: FileContext, function: cst.FunctionDef) -> ScopeDevice | None:
    """Step 3: a ``device`` parameter, passed by every caller in the file from its own."""
    if function not in context.module.body or function.decorators:
        return None
    if "__main__" not in context.source and not function.name.value.startswith("_"):
        return None  # a library function: callers in other files would miss the parameter
    params = function.params
    if (
        params.star_arg is not cst.MaybeSentinel.DEFAULT
        or params.star_kwarg is not None
        or params.kwonly_params
        or params.posonly_params
        or any(p.default is not None for p in params.params)
        or not _free_in(function, "device")
    ):
        return None
    if len(context.module_scope.bindings.get(function.name.value, [])) != 1:
        return None  # rebound or defined twice: which one do the calls reach?
    uses = _calls_by_name(context).get(function.name.value, [])
    sites = [(node, top) for node, _, top in uses if node is not function.name]
    if not sites or any(
        not isinstance(node, cst.Call) or calls.has_star_args(node) for node, _ in sites
    ):
        return None
    edits: list[NodeEdit] = []
    for call, top in sites:
        assert isinstance(call, cst.Call)
        if _inside(function, call):
            return None  # recursion: the function would pass a device it does not have yet
        text = _device_at(context, call, top)
        if text is None:
            return None
        edits.append(Replace(call, calls.add_keyword(call, "device", text)))
    new_params = params.with_changes(params=[*params.params, cst.Param(cst.Name("device"))])
    edits.insert(0, Replace(params, new_params))
    return ScopeDevice("device", ANY, tuple(edits), origin="the callers' `device`")


def _inside(outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
    return any(node is inner for node in _walk(outer, nested=True))


def _device_at(context: FileContext, call: cst.Call, top: cst.CSTNode) -> str | None:
    """The name holding a device at a call site in a module-level function (or at module
    level), bound before the call's statement."""
    if isinstance(top, cst.FunctionDef):
        scope = Scope(top, context.module_scope)
        body = scope_body(top)
        index = next((i for i, s in enumerate(body) if _inside(s, call)), None)
        if index is None:
            return None  # in a nested function or a class: not followed
        candidates = [(scope, index), (context.module_scope, None)]
    elif isinstance(top, cst.ClassDef):
        return None
    else:
        index = next(i for i, s in enumerate(context.module.body) if s is top)
        candidates = [(context.module_scope, index)]
    for scope, before in candidates:
        bindings = _device_bindings(context, scope)
        for name in sorted(bindings, key=lambda n: n != "device"):
            found = bindings[name]
            if not all(b.kind for b in found):
                continue
            if before is not None and found[0].statement >= before:
                continue
            inner = candidates[0][0]
            if scope is context.module_scope and inner is not scope and name in inner.bindings:
                continue  # shadowed in the function
            return name
    return None


# --- step 4: the best device, bound once -------------------------------------------------


def _select_line(context: FileContext) -> tuple[str, tuple[str, ...]] | None:
    if context.settings.runtime_helpers:
        if not context.scope.can_use("best_device", BEST_DEVICE):
            return None
        return SELECTED_DEVICE, (RUNTIME_IMPORT,)
    if not context.module_scope.can_use("torch", "torch"):
        return None
    return INLINE_DEVICE, ("import torch",)


def _select_in_function(context: FileContext, function: cst.FunctionDef) -> ScopeDevice | None:
    """``device = best_device()`` at the top of the function that uses it."""
    if not _free_in(function, "device"):
        return None
    first = _first_statement(function)
    selected = _select_line(context)
    if first is None or selected is None:
        return None
    line, preamble = selected
    return ScopeDevice(
        "device", TORCH, (InsertLine(first, line),), preamble, origin="the selected device"
    )


def _select_in_module(context: FileContext) -> ScopeDevice | None:
    """Module-level code: one ``device = ...`` line after the imports."""
    selected = _select_line(context)
    if selected is None:
        return None
    line, preamble = selected
    if context.module_scope.bindings.get("device") is not None:
        # taken (had it been a device bound before here, step 1 would have found it): the
        # selection goes inline, once, in this module-level statement
        return _inline(context)
    return ScopeDevice("device", TORCH, (), (*preamble, line), origin="the selected device")


def _inline(context: FileContext) -> ScopeDevice | None:
    """The best device where it runs once anyway (a default, a binding, a class body)."""
    found = best_device_expression(context)
    if found is None:
        return None
    text, preamble = found
    return ScopeDevice(text, TORCH, (), preamble, origin="the selected device")
