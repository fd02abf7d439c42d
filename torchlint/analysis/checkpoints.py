"""Which ``torch.load`` calls read back what this code itself just wrote with ``torch.save``.

Unpickling is dangerous when the file can come from someone else: a downloaded checkpoint, a
path given on the command line. It is not when the code reads back the bytes it wrote a few
lines earlier: a module cloned through an in-memory ``io.BytesIO``, a state dict round-tripped
through a temporary file, a test that saves and reloads. This module finds those round trips,
once per file (through ``context.fact``), so TL701 can leave them alone and TL702 can tell a
whole-model clone in memory from a model pickled to disk.

A load reads back a save when, in the same function (a save in a nested function counts for
the enclosing one), a ``torch.save`` earlier in the source wrote to the same expression
(``buffer``, ``file.name``, ``path``), or when both use the same string literal path anywhere
in the file (a script resuming from the checkpoint file it writes). Names resolve at module
level; anything unclear is not a round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.names import Scope, inner_children, read_names

if TYPE_CHECKING:
    from torchlint.context import FileContext

TORCH_LOAD = frozenset({"torch.load", "torch.serialization.load"})
TORCH_SAVE = frozenset({"torch.save", "torch.serialization.save"})
BUFFERS = frozenset({"io.BytesIO", "_io.BytesIO"})
SAVE_TARGET_INDEX = 1
LOAD_SOURCE_INDEX = 0


class RoundTrips(NamedTuple):
    loads: frozenset[int]  # ids of torch.load calls that read back a save of this code
    buffer_saves: frozenset[int]  # ids of torch.save calls into a buffer read back in memory


def round_trips(context: FileContext) -> RoundTrips:
    """The round trips of this file (computed once)."""
    return context.fact("checkpoints.round_trips", _scan)


class _Frame:
    """What one function has saved so far: target text -> the save calls, and buffer names."""

    __slots__ = ("buffers", "saved")

    def __init__(self) -> None:
        self.saved: dict[str, list[tuple[int, bool]]] = {}  # text -> (save id, into a buffer)
        self.buffers: set[str] = set()

    def merge(self, inner: _Frame) -> None:
        for text, saves in inner.saved.items():
            self.saved.setdefault(text, []).extend(saves)


def _scan(context: FileContext) -> RoundTrips:
    if "save" not in context.source:  # no `torch.save` (aliases spell it too): no round trip
        return RoundTrips(frozenset(), frozenset())
    scope = context.module_scope
    loads: set[int] = set()
    buffer_saves: set[int] = set()
    saved_literals: set[str] = set()
    literal_loads: list[tuple[int, str]] = []
    root = _Frame()
    # (node, frame, frame to merge into when the node is a finished function) in source order
    stack: list[tuple[cst.CSTNode, _Frame, _Frame | None]] = [(context.module, root, None)]
    while stack:
        node, frame, outer = stack.pop()
        if outer is not None:
            outer.merge(frame)
            continue
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            inner = _Frame()
            stack.append((node, inner, frame))  # merged once its body is done
            stack.extend((child, inner, None) for child in inner_children(node))
            continue
        if isinstance(node, cst.WithItem) and node.asname is not None:
            _note_buffer(scope, node.asname.name, node.item, frame)
        elif isinstance(node, cst.Assign) and len(node.targets) == 1:
            _note_buffer(scope, node.targets[0].target, node.value, frame)
        elif isinstance(node, cst.Call):
            kind = _serialization_call(scope, node)
            if kind == "save":
                _record_save(context, scope, node, frame, saved_literals)
            elif kind == "load":
                source = calls.argument(node, "f", LOAD_SOURCE_INDEX)
                if source is not None and not calls.has_star_args(node):
                    literal = calls.string_literal(source.value)
                    if literal is not None:
                        literal_loads.append((id(node), literal))
                    saves = frame.saved.get(context.module.code_for_node(source.value))
                    if saves:
                        loads.add(id(node))
                        buffer_saves.update(save for save, buffer in saves if buffer)
        stack.extend((child, frame, None) for child in inner_children(node))
    loads.update(load for load, literal in literal_loads if literal in saved_literals)
    return RoundTrips(frozenset(loads), frozenset(buffer_saves))


def _serialization_call(scope: Scope, call: cst.Call) -> str | None:
    """``"save"`` / ``"load"`` for calls of ``torch.save`` / ``torch.load`` (aliases too)."""
    func = call.func
    if isinstance(func, cst.Attribute):
        if func.attr.value not in ("save", "load"):
            return None
    elif not isinstance(func, cst.Name):
        return None
    qualified = scope.qualified_name(func)
    if qualified in TORCH_SAVE:
        return "save"
    if qualified in TORCH_LOAD:
        return "load"
    return None


def _record_save(
    context: FileContext, scope: Scope, call: cst.Call, frame: _Frame, saved_literals: set[str]
) -> None:
    target = calls.argument(call, "f", SAVE_TARGET_INDEX)
    if target is None or calls.has_star_args(call):
        return
    value = target.value
    literal = calls.string_literal(value)
    if literal is not None:
        saved_literals.add(literal)
    into_buffer = (isinstance(value, cst.Name) and value.value in frame.buffers) or (
        isinstance(value, cst.Call) and scope.qualified_name(value.func) in BUFFERS
    )
    text = context.module.code_for_node(value)
    frame.saved.setdefault(text, []).append((id(call), into_buffer))


def _note_buffer(
    scope: Scope, target: cst.BaseExpression, value: cst.BaseExpression, frame: _Frame
) -> None:
    """``buffer = io.BytesIO()`` / ``with io.BytesIO() as buffer``: an in-memory file."""
    if not isinstance(target, cst.Name):
        return
    if isinstance(value, cst.Call) and scope.qualified_name(value.func) in BUFFERS:
        frame.buffers.add(target.value)
    else:
        frame.buffers.discard(target.value)


# A file that fetches published weights: a hub/URL loader, or the URL of a checkpoint file.
_PUBLISHED_WEIGHTS = re.compile(
    r"load_state_dict_from_url|model_zoo\.load_url|hf_hub_download"
    r"|https?://[^\s'\"]+\.(?:pth?|ckpt|tar|bin|safetensors)\b"
)


def fetches_published_weights(context: FileContext) -> bool:
    """True when the file downloads published weights for its models (a hub/URL loader, or a
    checkpoint URL in the text): their layers must keep the exact parameters of the release,
    whatever a rule would simplify."""
    return context.fact(
        "checkpoints.published_weights", lambda c: bool(_PUBLISHED_WEIGHTS.search(c.source))
    )


_PACKAGE_FILE = "__file__"
# What a checkpoint callback (Lightning's `ModelCheckpoint`) saved during this run's `fit`.
_CALLBACK_OUTPUTS = frozenset({"best_model_path", "last_model_path"})


def saved_by_callback(load: cst.Call) -> bool:
    """True when ``load`` reads ``callback.best_model_path`` / ``.last_model_path``: the
    checkpoint the run's own checkpoint callback just wrote, not a file from elsewhere."""
    source = calls.argument(load, "f", LOAD_SOURCE_INDEX)
    value = source.value if source is not None else None
    return isinstance(value, cst.Attribute) and value.attr.value in _CALLBACK_OUTPUTS


def ships_with_code(context: FileContext, load: cst.Call, function: cst.CSTNode) -> bool:
    """True when ``load`` reads a file next to this module: a path built from ``__file__``
    (``Path(__file__).parent / "weights" / name``), directly or through a name whose every
    assignment in ``function`` starts from ``__file__`` or extends the name itself. Those
    bytes ship with the code; whoever could replace them could replace the code too.

    A path that may come from elsewhere (``args.ckpt or default``, an ``if``) is not."""
    source = calls.argument(load, "f", LOAD_SOURCE_INDEX)
    if source is None or isinstance(source.value, (cst.BooleanOperation, cst.IfExp)):
        return False
    if _PACKAGE_FILE in context.module.code_for_node(source.value):
        return True
    for name in set(read_names(source.value)):
        values = list(_assigned_values(function, name))
        texts = [context.module.code_for_node(value) for value in values]
        if any(_PACKAGE_FILE in text for text in texts) and all(
            not isinstance(value, (cst.BooleanOperation, cst.IfExp))
            and (_PACKAGE_FILE in text or name in read_names(value))
            for value, text in zip(values, texts, strict=True)
        ):
            return True
    return False


def _assigned_values(function: cst.CSTNode, name: str) -> Iterator[cst.BaseExpression]:
    """The values assigned to ``name`` in ``function``'s own body (nested functions aside);
    an augmented assignment yields its value too, a ``for``/``with`` target an opaque one."""
    stack = list(inner_children(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        target: cst.CSTNode | None = None
        value: cst.BaseExpression = cst.Ellipsis()  # bound from something else
        if isinstance(node, cst.Assign):
            for each in node.targets:
                if isinstance(each.target, cst.Name) and each.target.value == name:
                    yield node.value
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, cst.AugAssign):
            target, value = node.target, cst.BinaryOperation(node.target, cst.Add(), node.value)
        elif isinstance(node, (cst.For, cst.NamedExpr)):
            target = node.target
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            target = node.asname.name
        if isinstance(target, cst.Name) and target.value == name:
            yield value
        stack.extend(inner_children(node))
