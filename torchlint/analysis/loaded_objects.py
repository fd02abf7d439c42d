"""What the code does with the object a ``torch.load`` returns.

``weights_only=True`` restricts unpickling to tensors, primitive types and containers: a
whole pickled model (``model = torch.load("model.pt"); model(x)``) then fails to load. A fix
must not add it there. This module tells, for the ``torch.load`` call being visited, whether
its result is used as something other than a mapping of tensors: called, asked for
``.eval()``, or any attribute that a dict does not have.

The result is followed where it is used directly (``torch.load(p).eval()``,
``torch.load(p)(x)``) or through the one name it is assigned to, in the same scope (reads in
nested functions count too: a closure sees the same object). Anything unclear is "not used
as an object".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.names import Scope, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext

# What a state dict or a checkpoint dict (a dict, an OrderedDict) is asked for.
MAPPING_ATTRIBUTES = frozenset(
    {
        "keys", "values", "items", "get", "pop", "popitem", "setdefault", "update", "copy",
        "clear", "fromkeys", "move_to_end", "__getitem__", "__contains__", "__len__",
        "__iter__",
    }
)  # fmt: skip


def object_use(context: FileContext, load: cst.Call) -> str | None:
    """How the result of ``load`` (the call being visited) is used as an arbitrary object,
    as code for a message (``"`model(...)`"``, ``"`model.eval()`"``), or None."""
    chain = context.ancestors
    parent = chain[-1] if chain else None
    if isinstance(parent, cst.Call) and parent.func is load:
        return "`torch.load(...)(...)`"
    if isinstance(parent, cst.Attribute) and parent.value is load:
        words = _attribute_words(parent, chain[-2] if len(chain) > 1 else None)
        return None if words is None else words.replace("`.", "`torch.load(...).", 1)
    name = assigned_name(load, parent)
    body = enclosing_body(context)
    if name is None or body is None:
        return None
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(body, None)]
    while stack:
        node, above = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
            if node.func.value == name:
                return f"`{name}(...)`"
        elif (
            isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
        ):
            words = _attribute_words(node, above)
            if words is not None:
                return words.replace("`.", f"`{name}.", 1)
        stack.extend((child, node) for child in iter_children(node))
    return None


def _attribute_words(attribute: cst.Attribute, above: cst.CSTNode | None) -> str | None:
    attr = attribute.attr.value
    if attr in MAPPING_ATTRIBUTES:
        return None
    if isinstance(above, cst.Call) and above.func is attribute:
        return f"`.{attr}()`"
    return f"`.{attr}`"


def assigned_name(value: cst.BaseExpression, parent: cst.CSTNode | None) -> str | None:
    """The plain name ``value`` is assigned to (``name = value``), or None."""
    if not (isinstance(parent, cst.Assign) and parent.value is value and len(parent.targets) == 1):
        return None
    target = parent.targets[0].target
    return target.value if isinstance(target, cst.Name) else None


def enclosing_body(context: FileContext) -> cst.CSTNode | None:
    """The body of the innermost function (or the module) around the visited node; None in a
    class body or a lambda."""
    for node in reversed(context.ancestors):
        if isinstance(node, cst.FunctionDef):
            return node.body
        if isinstance(node, (cst.ClassDef, cst.Lambda)):
            return None
    return context.module


# Keys under which a checkpoint keeps the run's command line or configuration.
CONFIG_KEYS = frozenset(
    {"args", "opt", "opts", "cfg", "config", "conf", "hparams", "hyper_parameters",
     "hyperparameters", "flags"}
)  # fmt: skip


def _uses(context: FileContext, load: cst.Call) -> Iterator[tuple[cst.CSTNode, cst.CSTNode]]:
    """(node, parent) pairs where the result of ``load`` is read: the call itself, or each
    read of the one name it is assigned to in the same scope."""
    chain = context.ancestors
    parent = chain[-1] if chain else None
    name = assigned_name(load, parent)
    if name is None:
        if parent is not None:
            yield load, parent
        return
    body = enclosing_body(context)
    if body is None:
        return
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(body, None)]
    while stack:
        node, above = stack.pop()
        if isinstance(node, cst.Name) and node.value == name and above is not None:
            yield node, above
        stack.extend((child, node) for child in iter_children(node))


def _subscript_key(node: cst.CSTNode, parent: cst.CSTNode) -> str | None:
    """``"model"`` when ``parent`` is ``node["model"]``."""
    if not (isinstance(parent, cst.Subscript) and parent.value is node):
        return None
    if len(parent.slice) != 1 or not isinstance(parent.slice[0].slice, cst.Index):
        return None
    return calls.string_literal(parent.slice[0].slice.value)


def keys_read(context: FileContext, load: cst.Call) -> frozenset[str]:
    """The string keys the result of ``load`` (the call being visited) is indexed with:
    ``checkpoint["model"]``, ``torch.load(p)["state_dict"]``."""
    return frozenset(
        key for node, parent in _uses(context, load) if (key := _subscript_key(node, parent))
    )


def config_item_use(context: FileContext, load: cst.Call) -> str | None:
    """How an item of the loaded checkpoint that holds the run's configuration is used as
    an object (``checkpoint["args"].arch``, ``OmegaConf.to_yaml(pkg["xp.cfg"])``,
    ``vars(ckpt["args"])``), as code for a message, or None. Such an item is an
    ``argparse.Namespace`` or an OmegaConf config, which ``weights_only=True`` refuses."""
    scope = context.module_scope
    for node, parent in _uses(context, load):
        key = _subscript_key(node, parent)
        if key is None or key.rsplit(".", 1)[-1] not in CONFIG_KEYS:
            continue
        item = parent
        above = _parent_of(context, item)
        if isinstance(above, cst.Attribute) and above.value is item:
            if above.attr.value not in MAPPING_ATTRIBUTES:
                return f"`[{key!r}].{above.attr.value}`"
        elif isinstance(above, cst.Arg) and above.value is item:
            call = _parent_of(context, above)
            if isinstance(call, cst.Call):
                qualified = scope.qualified_name(call.func) or ""
                if isinstance(call.func, cst.Name) and scope.binds(call.func.value) is None:
                    qualified = f"builtins.{call.func.value}"  # a builtin: bound nowhere
                if qualified.startswith("omegaconf.") or qualified == "builtins.vars":
                    return f"`{qualified.rsplit('.', 1)[-1]}(...[{key!r}])`"
                # a file that works with OmegaConf hands the config to its own helper
                if (
                    "omegaconf" in context.source
                    and isinstance(call.func, cst.Name)
                    and _defined_here(context, call.func.value)
                ):
                    return f"`{call.func.value}(...[{key!r}])`"
    return None


def _parent_of(context: FileContext, node: cst.CSTNode) -> cst.CSTNode | None:
    """The parent of ``node`` in the file's tree (libcst's parent provider, computed once)."""
    parents = context.fact("loaded_objects.parents", _parents)
    return parents.get(id(node))


def _parents(context: FileContext) -> dict[int, cst.CSTNode]:
    found: dict[int, cst.CSTNode] = {}
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        for child in iter_children(node):
            found[id(child)] = node
            stack.append(child)
    return found


class Handoff(NamedTuple):
    """A call the whole loaded checkpoint is passed to: the callee as code, its qualified
    name when it resolves through an import (None otherwise), and, for a method of the
    enclosing class, that method (whose text says what it does with it)."""

    callee: str
    qualified: str | None
    method: cst.FunctionDef | None

    def __repr__(self) -> str:
        return f"Handoff({self.callee!r}, {self.qualified!r})"


_CONTAINERS = (cst.Dict, cst.List, cst.Tuple, cst.Set)
_ELEMENTS = (cst.DictElement, cst.Element)


def handed_over(context: FileContext, load: cst.Call) -> list[Handoff] | None:
    """The calls the result of ``load`` is only passed to, whole, where another file or
    package decides what it must hold (``save_publishable(..., model_dict)``,
    ``fairseq.checkpoint_utils.load_model_ensemble_and_task({path: state})``); None when
    the code reads it itself anywhere (an item, a method, ``load_state_dict``, a return), or
    the callee is defined in this module (its body is visible) or a builtin."""
    scope = context.module_scope
    parents = context.fact("loaded_objects.parents", _parents)
    found: list[Handoff] = []
    uses = [(n, p) for n, p in _uses(context, load) if not isinstance(p, cst.AssignTarget)]
    if not uses:
        return None
    for node, parent in uses:
        holder: cst.CSTNode = node
        above: cst.CSTNode | None = parent
        # `{path: state}` / `[state]`: the container it is put in, passed on
        while isinstance(above, _ELEMENTS) and isinstance(parents.get(id(above)), _CONTAINERS):
            holder = parents[id(above)]
            above = parents.get(id(holder))
        if isinstance(above, cst.Assign) and holder is not node and above.value is holder:
            target = above.targets[0].target if len(above.targets) == 1 else None
            inner = target.value if isinstance(target, cst.Name) else None
            calls_of = _name_arguments(context, inner) if inner else None
            if not calls_of:
                return None
            for call in calls_of:
                handoff = _handoff(context, scope, call)
                if handoff is None:
                    return None
                found.append(handoff)
            continue
        if not (isinstance(above, cst.Arg) and above.value is holder):
            return None
        call = parents.get(id(above))
        if not isinstance(call, cst.Call):
            return None
        handoff = _handoff(context, scope, call)
        if handoff is None:
            return None
        found.append(handoff)
    return found


def _name_arguments(context: FileContext, name: str) -> list[cst.Call] | None:
    """The calls ``name`` (in the enclosing body) is passed to as an argument; None when it
    is read any other way."""
    body = enclosing_body(context)
    if body is None:
        return None
    parents = context.fact("loaded_objects.parents", _parents)
    found: list[cst.Call] = []
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            above = parents.get(id(node))
            if isinstance(above, cst.AssignTarget):
                continue
            call = parents.get(id(above)) if isinstance(above, cst.Arg) else None
            if not isinstance(call, cst.Call):
                return None
            found.append(call)
        stack.extend(iter_children(node))
    return found


def _handoff(context: FileContext, scope: Scope, call: cst.Call) -> Handoff | None:
    """``call`` as a handoff, or None when it is not one: a builtin, ``torch``, a function
    defined in this module, a ``load_state_dict``."""
    func = call.func
    code = context.module.code_for_node(func)
    if "load_state_dict" in code:
        return None
    qualified = scope.qualified_name(func)
    if isinstance(func, cst.Name) and (
        scope.binds(func.value) is None or _defined_here(context, func.value)
    ):
        return None  # a builtin, or a function this file defines (its body is visible)
    if qualified is not None and (qualified == "torch" or qualified.startswith("torch.")):
        return None
    method = None
    if (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == "self"
    ):
        method = _enclosing_method(context, func.attr.value)
        if method is None:
            return None  # a method this file does not show: inherited, unknown
    elif qualified is None:
        return None  # `obj.restore(state)`: who knows what `obj` is
    return Handoff(code, qualified, method)


def _defined_here(context: FileContext, name: str) -> bool:
    """``name`` is a function defined in this module (at any depth)."""
    return name in context.fact("loaded_objects.defined", _defined_names)


def _defined_names(context: FileContext) -> frozenset[str]:
    found: set[str] = set()
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            found.add(node.name.value)
        stack.extend(iter_children(node))
    return frozenset(found)


def _enclosing_method(context: FileContext, name: str) -> cst.FunctionDef | None:
    classdef = next((a for a in reversed(context.ancestors) if isinstance(a, cst.ClassDef)), None)
    if classdef is None:
        return None
    return calls.class_method(classdef, name)
