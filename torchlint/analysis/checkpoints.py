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
from torchlint.names import Scope, inner_children, iter_children, read_names, target_names
from torchlint.project.summary import CONFIG_SUFFIXES, COPIES, NAMESPACES, PLAIN_CALLS

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
    """What one function has saved so far: target text -> the save calls, and buffer names.

    ``outer``: the frame of the enclosing function (None for the module), whose saves a
    closure sees when the path is built from the enclosing function's names only."""

    __slots__ = ("buffers", "local", "outer", "saved")

    def __init__(self, outer: _Frame | None = None, local: frozenset[str] = frozenset()) -> None:
        self.saved: dict[str, list[tuple[int, bool]]] = {}  # text -> (save id, into a buffer)
        self.buffers: set[str] = set()
        self.outer = outer
        self.local = local  # names the function binds itself (parameters, assignments)

    def saves_of(self, text: str, names: list[str]) -> list[tuple[int, bool]]:
        """The saves to ``text`` in this function, or in an enclosing one when every name
        the path reads is the enclosing function's (a closure: the same variables)."""
        frame: _Frame | None = self
        while frame is not None:
            found = frame.saved.get(text)
            if found:
                return found
            if frame.outer is None or any(name in frame.local for name in names):
                return []
            frame = frame.outer
        return []

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
            inner = _Frame(frame if frame is not root else None, _bound_names(node))
            stack.append((node, inner, frame))  # merged once its body is done
            stack.extend((child, inner, None) for child in inner_children(node))
            continue
        if isinstance(node, cst.WithItem) and node.asname is not None:
            _note_buffer(scope, node.asname.name, node.item, frame)
        elif isinstance(node, cst.Assign) and len(node.targets) == 1:
            _note_buffer(scope, node.targets[0].target, node.value, frame)
        elif isinstance(node, cst.Call):
            kind = serialization_call(scope, node)
            if kind == "save":
                _record_save(context, scope, node, frame, saved_literals)
            elif kind == "load":
                source = calls.argument(node, "f", LOAD_SOURCE_INDEX)
                if source is not None and not calls.has_star_args(node):
                    literal = calls.string_literal(source.value)
                    if literal is not None:
                        literal_loads.append((id(node), literal))
                    literal_loads.extend((id(node), name) for name in _file_names(source.value))
                    text = context.module.code_for_node(source.value)
                    saves = frame.saves_of(text, read_names(source.value))
                    if saves:
                        loads.add(id(node))
                        buffer_saves.update(save for save, buffer in saves if buffer)
        stack.extend((child, frame, None) for child in inner_children(node))
    loads.update(load for load, literal in literal_loads if literal in saved_literals)
    return RoundTrips(frozenset(loads), frozenset(buffer_saves))


def _bound_names(function: cst.FunctionDef | cst.Lambda) -> frozenset[str]:
    """The names ``function`` binds itself: parameters and assignment targets in its own
    body (a read of one of them is not the enclosing function's variable)."""
    names = {param.name.value for param in parameters(function.params)}
    stack = list(inner_children(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                names.add(node.name.value)
            continue
        targets: list[cst.CSTNode] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            targets = [node.asname.name]
        for target in targets:
            names.update(target_names(target))
        stack.extend(inner_children(node))
    return frozenset(names)


def parameters(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    yield from params.kwonly_params
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            yield star


# A string that names a checkpoint file: `"policy.pth"`, `"saved_models/%s/G_%d.pth"`.
_FILE_NAME = re.compile(r"[\w%{}\-]+\.(?:pt|pth|ckpt|bin|tar|pkl)$")


def _file_names(path: cst.BaseExpression) -> list[str]:
    """The checkpoint file names spelled as string literals in a path expression
    (``os.path.join(log_path, "policy.pth")``, ``root / "logits.pt"``,
    ``"saved/G_%d.pth" % epoch``): the same name saved and loaded in one file is the
    file's own checkpoint, whatever directory it is in."""
    found = []
    stack: list[cst.CSTNode] = [path]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.SimpleString):
            literal = calls.string_literal(node)
            if literal is not None and _FILE_NAME.search(literal):
                found.append("\0" + literal)  # apart from whole-path literals
        else:
            stack.extend(iter_children(node))
    return found


def serialization_call(scope: Scope, call: cst.Call) -> str | None:
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
    saved_literals.update(_file_names(value))
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


def ships_with_code(
    context: FileContext, load: cst.Call, function: cst.CSTNode, *, constants: bool = False
) -> bool:
    """True when ``load`` reads a file next to this module: a path built from ``__file__``
    (``Path(__file__).parent / "weights" / name``), directly or through a name whose every
    assignment in ``function`` starts from ``__file__`` or extends the name itself; with
    ``constants``, also where ``function`` assigns the name nowhere and the module does so
    (a module-level constant). Those bytes ship with the code: whoever could replace them
    could replace the code too (TL701), and every CPU test run of the package loads them
    (TL703, which asks for ``constants``; TL701 does not, since an unsafe load of a shipped
    file still warns on torch 2.4 and 2.5).

    A path that may come from elsewhere (``args.ckpt or default``, an ``if``) is not."""
    if _PACKAGE_FILE not in context.source:
        return False
    source = calls.argument(load, "f", LOAD_SOURCE_INDEX)
    if source is None or isinstance(source.value, (cst.BooleanOperation, cst.IfExp)):
        return False
    if _PACKAGE_FILE in context.module.code_for_node(source.value):
        return True
    for name in set(read_names(source.value)):
        values = list(bound_values(function, name))
        if constants and not values and function is not context.module:
            values = list(bound_values(context.module, name))
        texts = [context.module.code_for_node(value) for value in values]
        if any(_PACKAGE_FILE in text for text in texts) and all(
            not isinstance(value, (cst.BooleanOperation, cst.IfExp))
            and (_PACKAGE_FILE in text or name in read_names(value))
            for value, text in zip(values, texts, strict=True)
        ):
            return True
    return False


def bound_values(function: cst.CSTNode, name: str) -> Iterator[cst.BaseExpression]:
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


# --- what a checkpoint this file writes holds ------------------------------------------------

# What a saved dict's value must be for `weights_only=True` to load it (project.summary keeps
# the list, for the project-wide view of the same fact).
_PLAIN_CALLS = PLAIN_CALLS
_NAMESPACES = NAMESPACES
_CONFIG_SUFFIXES = CONFIG_SUFFIXES
_COPIES = COPIES


def refused_formats(context: FileContext) -> tuple[frozenset[str], ...]:
    """The key sets of the checkpoint dicts this file saves with ``torch.save`` that hold an
    object ``weights_only=True`` refuses (computed once).

    A dict counts where it is written in the call (``torch.save({"model": ..., "args":
    args}, path)``, ``dict(...)``) or through a name every assignment of which in the same
    function is one. Refused: ``torch.__version__`` (a ``TorchVersion``), the parsed command
    line or hyperparameters (``args``, ``opt``, ``hparams``), an OmegaConf config (a name
    ending in ``cfg``/``config`` in a file that imports ``omegaconf``), and the result of any
    call not known to return tensors, numbers or strings (``envs.get_obs_rms()``)."""
    return context.fact("checkpoints.refused_formats", _refused_formats)


def _refused_formats(context: FileContext) -> tuple[frozenset[str], ...]:
    if "save" not in context.source:
        return ()
    scope = context.module_scope
    omegaconf = "omegaconf" in context.source
    found: list[frozenset[str]] = []
    stack: list[tuple[cst.CSTNode, cst.CSTNode]] = [(context.module, context.module)]
    while stack:
        node, function = stack.pop()
        if isinstance(node, cst.FunctionDef):
            function = node
        elif isinstance(node, cst.Call) and serialization_call(scope, node) == "save":
            payload = calls.argument(node, "obj", 0)
            if payload is not None and not calls.has_star_args(node):
                for entries in _saved_dicts(function, payload.value):
                    if any(_refused(scope, value, omegaconf) for value in entries.values()):
                        found.append(frozenset(entries))
        stack.extend((child, function) for child in inner_children(node))
    return tuple(found)


def _saved_dicts(
    function: cst.CSTNode, payload: cst.BaseExpression
) -> Iterator[dict[str, cst.BaseExpression]]:
    """The dicts with string keys that ``payload`` is: itself, or every value assigned to
    the name it is in ``function`` (nothing when one of them is not such a dict)."""
    entries = _dict_entries(payload)
    if entries is not None:
        yield entries
        return
    if not isinstance(payload, cst.Name):
        return
    values = [_dict_entries(value) for value in bound_values(function, payload.value)]
    if values and all(value is not None for value in values):
        yield from (value for value in values if value is not None)


def _dict_entries(value: cst.BaseExpression) -> dict[str, cst.BaseExpression] | None:
    """``{"k": v}`` or ``dict(k=v)``: key -> value; None for anything else."""
    entries: dict[str, cst.BaseExpression] = {}
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if not isinstance(element, cst.DictElement):
                return None  # `**other`: keys unknown
            key = calls.string_literal(element.key)
            if key is None:
                return None
            entries[key] = element.value
        return entries
    if (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name)
        and value.func.value == "dict"
    ):
        for arg in value.args:
            if arg.keyword is None or arg.star:
                return None
            entries[arg.keyword.value] = arg.value
        return entries
    return None


def _last_name(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def _refused(scope: Scope, value: cst.BaseExpression, omegaconf: bool) -> bool:
    """Whether ``value``, saved in a checkpoint dict, is an object ``weights_only=True``
    refuses to load (see ``refused_formats``)."""
    if isinstance(value, cst.IfExp):
        return _refused(scope, value.body, omegaconf) or _refused(scope, value.orelse, omegaconf)
    if isinstance(value, (cst.Name, cst.Attribute)):
        if scope.qualified_name(value) == "torch.__version__":
            return True
        name = _last_name(value)
        return name is not None and (
            name in _NAMESPACES or (omegaconf and name.lower().endswith(_CONFIG_SUFFIXES))
        )
    if isinstance(value, cst.Call):
        name = _last_name(value.func)
        if name in _COPIES and value.args:
            return _refused(scope, value.args[0].value, omegaconf)
        return name is None or not (name in _PLAIN_CALLS or "state_dict" in name)
    return False
