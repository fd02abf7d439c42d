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

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.names import iter_children

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
