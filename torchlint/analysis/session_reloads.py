"""Which ``torch.load`` calls read back what the same run saved a moment before.

A script or notebook that trains, writes ``torch.save(model.state_dict(), PATH)`` and a few
lines (or cells) later reloads ``torch.load(PATH)`` reads the file it just wrote, in the
same process on the same machine: every device the tensors were saved from is there, so
``map_location`` changes nothing (TL703). This module finds those reloads, once per file.

A load is such a reload when, in the same flow (the module, a notebook's cells in order, or
one function's own body), a save *certainly* ran before it:

- the save comes earlier in source order (an earlier statement or cell), and it is not in a
  branch the load does not share (``if args.train:`` / ``else:``, an ``except``); a branch
  inside a loop the load does not share is allowed (the best-so-far checkpoint of a
  training loop);
- the save is ``torch.save`` itself, or a call of a function of this module that saves
  unconditionally (``save_model(model, target_dir="models", model_name="m.pth")``);
- both build the same path: the same literal, the same f-string, ``os.path.join`` or
  ``Path /`` expression, the same name (followed through its single assignment where that
  spells a path; otherwise, a buffer or a name bound more than once, the same only if it
  is not bound again between the save and the load). A call that is not a path builder
  (a timestamp) or a global bound more than once makes the path unknown, and an unknown
  path matches nothing.

A save in another function (a ``--resume`` path that may run on another machine) or in
another file is not a reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import (
    LOAD_SOURCE_INDEX,
    SAVE_TARGET_INDEX,
    bound_values,
    parameters,
    serialization_call,
)
from torchlint.analysis.device_names import scope_body
from torchlint.names import SCOPE_TYPES, Scope, dotted_name, iter_children, target_names

if TYPE_CHECKING:
    from torchlint.context import FileContext

_LOOP, _BRANCH, _PLAIN = "loop", "branch", "plain"
_MAX_DEPTH = 8
_PATH_JOINS = frozenset({"os.path.join", "posixpath.join", "ntpath.join"})
_PATH_WRAPPERS = frozenset(
    {"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "str", "os.fspath",
     "os.path.abspath", "os.path.expanduser", "os.path.normpath", "os.path.realpath"}
)  # fmt: skip
# Methods that give the same file as their receiver (`path.as_posix()`, `path.resolve()`).
_SAME_FILE_METHODS = frozenset({"as_posix", "resolve", "absolute", "expanduser"})
_SLASHES = re.compile(r"/+")

# Where a statement sits in its flow: (id of a compound statement, which suite, its kind).
Place = tuple[tuple[int, str, str], ...]


class _Event(NamedTuple):
    seq: int  # the statement's position in the flow
    place: Place
    path: str | None  # the path's signature (None: unknown)
    load: int | None  # id of the torch.load call; None for a save
    names: frozenset[str] = frozenset()  # names the path reads whose value is not its text


def session_reloads(context: FileContext) -> frozenset[int]:
    """Ids of the ``torch.load`` calls of this file that read back a save of the same run
    (computed once)."""
    return context.fact("session_reloads.loads", _scan)


def _scan(context: FileContext) -> frozenset[int]:
    source = context.source
    if "save" not in source or "load" not in source:
        return frozenset()
    scope = context.module_scope
    helpers = _saving_helpers(context, scope)
    found: set[int] = set()
    for flow in _flows(context.module):
        bindings: dict[str, list[int]] = {}
        events = list(_events(context, scope, flow, helpers, bindings))
        saves = [e for e in events if e.load is None and e.path is not None]
        for load in events:
            if load.load is None or load.path is None:
                continue
            if any(
                save.seq < load.seq
                and save.path == load.path
                and _certain(save.place, load.place)
                and not _rebound(save, load, bindings)
                for save in saves
            ):
                found.add(load.load)
    return frozenset(found)


def _rebound(save: _Event, load: _Event, bindings: dict[str, list[int]]) -> bool:
    """A name the path reads (a buffer, a temporary directory) is bound again between the
    save and the load: the load may read another file."""
    return any(save.seq < seq < load.seq for name in save.names for seq in bindings.get(name, ()))


def _certain(save: Place, load: Place) -> bool:
    """The save ran whenever the load runs: below what the two share, the save is in no
    branch, unless that branch is inside a loop (the best checkpoint of a training loop)."""
    shared = 0
    for a, b in zip(save, load, strict=False):
        if a[:2] != b[:2]:
            break
        shared += 1
    in_loop = False
    for _, _, kind in save[shared:]:
        if kind == _LOOP:
            in_loop = True
        elif kind == _BRANCH and not in_loop:
            return False
    return True


# --- flows and their statements ------------------------------------------------------------


def _flows(module: cst.Module) -> Iterator[cst.CSTNode]:
    """The module and every function of the file (each one flow of statements)."""
    yield module
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.FunctionDef):
            yield node
        stack.extend(iter_children(node))


def _units(
    statements: list[cst.CSTNode], place: Place
) -> Iterator[tuple[list[cst.CSTNode], Place, bool, list[str]]]:
    """(expressions to search for calls, place, ends the flow, names bound) per statement,
    in order."""
    for statement in statements:
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            returns = any(isinstance(s, cst.Return) for s in statement.body)
            yield list(statement.body), place, returns, _bound_by(statement.body)
        elif isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        elif isinstance(statement, cst.If):
            yield [statement.test], place, False, []
            yield from _units(scope_body(statement), (*place, (id(statement), "body", _BRANCH)))
            orelse = statement.orelse
            inner = (*place, (id(statement), "else", _BRANCH))
            if isinstance(orelse, cst.If):
                yield from _units([orelse], inner)
            elif orelse is not None:
                yield from _units(scope_body(orelse), inner)
        elif isinstance(statement, (cst.For, cst.While)):
            if isinstance(statement, cst.For):
                yield [statement.iter], place, False, target_names(statement.target)
            else:
                yield [statement.test], place, False, []
            yield from _units(scope_body(statement), (*place, (id(statement), "body", _LOOP)))
            if statement.orelse is not None:
                inner = (*place, (id(statement), "else", _BRANCH))
                yield from _units(scope_body(statement.orelse), inner)
        elif isinstance(statement, (cst.Try, cst.TryStar)):
            yield from _units(scope_body(statement), (*place, (id(statement), "body", _PLAIN)))
            for index, handler in enumerate(statement.handlers):
                inner = (*place, (id(statement), f"except{index}", _BRANCH))
                yield from _units(scope_body(handler), inner)
            if statement.orelse is not None:
                inner = (*place, (id(statement), "else", _BRANCH))
                yield from _units(scope_body(statement.orelse), inner)
            if statement.finalbody is not None:
                inner = (*place, (id(statement), "finally", _PLAIN))
                yield from _units(scope_body(statement.finalbody), inner)
        elif isinstance(statement, cst.With):
            names = [
                name
                for item in statement.items
                if item.asname is not None
                for name in target_names(item.asname.name)
            ]
            yield [item.item for item in statement.items], place, False, names
            yield from _units(scope_body(statement), (*place, (id(statement), "body", _PLAIN)))
        elif isinstance(statement, cst.Match):
            yield [statement.subject], place, False, []
            for index, case in enumerate(statement.cases):
                inner = (*place, (id(statement), f"case{index}", _BRANCH))
                yield from _units(scope_body(case), inner)


def _bound_by(statements: Sequence[cst.BaseSmallStatement]) -> list[str]:
    """The names a line of small statements assigns."""
    names: list[str] = []
    for statement in statements:
        if isinstance(statement, cst.Assign):
            for target in statement.targets:
                names.extend(target_names(target.target))
        elif isinstance(statement, (cst.AnnAssign, cst.AugAssign)):
            names.extend(target_names(statement.target))
    return names


def _calls(expressions: list[cst.CSTNode]) -> Iterator[cst.Call]:
    """The calls in a statement, not inside a lambda or a nested definition."""
    stack = list(reversed(expressions))
    while stack:
        node = stack.pop()
        if isinstance(node, SCOPE_TYPES):
            continue
        if isinstance(node, cst.Call):
            yield node
        stack.extend(reversed(list(iter_children(node))))


def _events(
    context: FileContext,
    scope: Scope,
    flow: cst.CSTNode,
    helpers: dict[str, _Helper],
    bindings: dict[str, list[int]],
    env: dict[str, str] | None = None,
) -> Iterator[_Event]:
    """The saves (``torch.save`` and calls of saving helpers) and loads of one flow;
    ``bindings`` gets the statements that bind each name."""
    paths = _Paths(context, scope, flow, env)
    for seq, (expressions, place, returns, bound) in enumerate(_units(scope_body(flow), ())):
        for name in bound:
            bindings.setdefault(name, []).append(seq)
        if returns:
            yield _Event(seq, place, "\0return", None)  # matches no load: ends the flow
        for call in _calls(expressions):
            if calls.has_star_args(call):
                continue
            kind = serialization_call(scope, call)
            if kind == "save":
                target = calls.argument(call, "f", SAVE_TARGET_INDEX)
                if target is not None:
                    text, names = paths.of(target.value)
                    yield _Event(seq, place, text, None, names)
            elif kind == "load":
                source = calls.argument(call, "f", LOAD_SOURCE_INDEX)
                if source is not None:
                    text, names = paths.of(source.value)
                    yield _Event(seq, place, text, id(call), names)
            elif (
                isinstance(call.func, cst.Name)
                and call.func.value in helpers
                and not paths.binds(call.func.value)
            ):
                for path, names in helpers[call.func.value].paths(paths, call):
                    yield _Event(seq, place, path, None, names)


# --- helpers of this module that save ----------------------------------------------------------


class _Helper(NamedTuple):
    function: cst.FunctionDef
    templates: tuple[str, ...]  # save paths with parameters as "\0name\0"

    def paths(self, caller: _Paths, call: cst.Call) -> Iterator[tuple[str, frozenset[str]]]:
        """The paths this call of the helper saves to, built from its arguments."""
        bound: dict[str, cst.BaseExpression] = {}
        params = self.function.params
        positional = [*params.posonly_params, *params.params]
        for param in (*positional, *params.kwonly_params):
            if param.default is not None:
                bound[param.name.value] = param.default
        index = 0
        for arg in call.args:
            if arg.keyword is not None:
                bound[arg.keyword.value] = arg.value
            elif index < len(positional):
                bound[positional[index].name.value] = arg.value
                index += 1
            else:
                return
        for template in self.templates:
            path: str | None = template
            names: frozenset[str] = frozenset()
            for name, value in bound.items():
                marker = f"\0{name}\0"
                if path is not None and marker in path:
                    text, read = caller.of(value)
                    path = None if text is None else path.replace(marker, text)
                    names |= read
            if path is not None and "\0" not in path:
                yield _normal(path), names


def _saving_helpers(context: FileContext, scope: Scope) -> dict[str, _Helper]:
    """The module's functions that save, on every call, to a path built from their
    parameters or literals, keyed by name (a name defined twice is left out)."""
    module = context.module
    counts: dict[str, int] = {}
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            counts[statement.name.value] = counts.get(statement.name.value, 0) + 1
    found: dict[str, _Helper] = {}
    for statement in module.body:
        if not isinstance(statement, cst.FunctionDef) or counts[statement.name.value] != 1:
            continue
        if "save" not in context.code_for(statement):
            continue
        if list(bound_values(module, statement.name.value)):
            continue  # the name is rebound at module level
        env = {p.name.value: f"\0{p.name.value}\0" for p in parameters(statement.params)}
        templates: list[str] = []
        for event in _events(context, scope, statement, {}, {}, env):
            if event.path == "\0return":
                break
            if event.load is None and event.path is not None and _certain(event.place, ()):
                templates.append(event.path)
        if templates:
            found[statement.name.value] = _Helper(statement, tuple(templates))
    return found


# --- the path an expression builds ---------------------------------------------------------------


def _normal(path: str) -> str:
    path = _SLASHES.sub("/", path).replace("/./", "/")
    return path[2:] if path.startswith("./") else path


class _Paths:
    """The path an expression builds in one flow, as text: literals as they are, joins as
    ``/``, a name through its single assignment, an option (``args.out``) as ``{args.out}``;
    None when unknown."""

    def __init__(
        self, context: FileContext, scope: Scope, flow: cst.CSTNode, env: dict[str, str] | None
    ) -> None:
        self.context = context
        self.scope = scope
        self.flow = flow
        self.env = env
        self.params = (
            {p.name.value for p in parameters(flow.params)}
            if isinstance(flow, cst.FunctionDef)
            else set()
        )
        self._values: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self._read: set[str] = set()  # names read by the path `of` is spelling out

    def binds(self, name: str) -> bool:
        """The flow binds ``name`` itself (a parameter or an assignment)."""
        return name in self.params or bool(self._bound(self.flow, name))

    def of(self, expr: cst.BaseExpression) -> tuple[str | None, frozenset[str]]:
        """The path's text, and the names of this flow it reads whose value stands for
        itself (a buffer, a name bound more than once): the same only while not bound
        again."""
        self._read = set()
        text = self._text(expr, self.flow, 0)
        return (None if text is None else _normal(text)), frozenset(self._read)

    def _bound(self, flow: cst.CSTNode, name: str) -> list[cst.BaseExpression]:
        key = (id(flow), name)
        if key not in self._values:
            self._values[key] = list(bound_values(flow, name))
        return self._values[key]

    def _name(self, name: str, flow: cst.CSTNode, depth: int) -> str | None:
        values = self._bound(flow, name)
        if flow is self.flow and name in self.params:
            if not values:
                return self.env[name] if self.env is not None else "{" + name + "}"
            if self.env is not None:
                return None  # a helper's parameter rebound in its body
        elif len(values) == 1 and not isinstance(values[0], cst.Ellipsis):
            text = self._text(values[0], flow, depth + 1)
            if text is not None:
                return text  # one value, spelled out: the same wherever it is read
        elif not values:
            if flow is not self.context.module:
                return self._name(name, self.context.module, depth)
            return "{" + name + "}"  # imported or a builtin: one value
        if flow is not self.flow:
            return None  # a global bound more than once: its value at the call is unknown
        self._read.add(name)  # stands for itself (`io.BytesIO()`, bound twice): see _rebound
        return f"{{{name}@{id(flow)}}}"

    def _text(self, expr: cst.BaseExpression, flow: cst.CSTNode, depth: int) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        literal = calls.string_literal(expr)
        if literal is not None:
            return literal
        if isinstance(expr, cst.Name):
            return self._name(expr.value, flow, depth)
        if isinstance(expr, cst.Attribute):
            dotted = dotted_name(expr)
            return None if dotted is None else "{" + dotted + "}"
        if isinstance(expr, cst.Integer):
            return expr.value
        if isinstance(expr, cst.FormattedString):
            return self._formatted(expr, flow, depth)
        if isinstance(expr, cst.BinaryOperation):
            left = self._text(expr.left, flow, depth + 1)
            right = self._text(expr.right, flow, depth + 1)
            if left is None or right is None:
                return None
            if isinstance(expr.operator, cst.Divide):
                return left + "/" + right
            if isinstance(expr.operator, cst.Add):
                return left + right
            if isinstance(expr.operator, cst.Modulo):
                return "(" + left + "%" + right + ")"
            return None
        if isinstance(expr, cst.Tuple):
            parts = [self._text(e.value, flow, depth + 1) for e in expr.elements]
            return None if None in parts else "(" + ",".join(parts) + ")"  # type: ignore[arg-type]
        if isinstance(expr, cst.Call):
            return self._call(expr, flow, depth)
        return None

    def _formatted(self, expr: cst.FormattedString, flow: cst.CSTNode, depth: int) -> str | None:
        if "b" in expr.prefix.lower():
            return None
        parts: list[str] = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
                continue
            if part.format_spec is not None or part.conversion is not None:
                return None
            text = self._text(part.expression, flow, depth + 1)
            if text is None:
                return None
            parts.append(text)
        return "".join(parts)

    def _call(self, call: cst.Call, flow: cst.CSTNode, depth: int) -> str | None:
        """A path builder: ``os.path.join``, ``Path(...)``, ``str(...)``, ``.joinpath``,
        ``.format``, ``.as_posix()``; any other call (a timestamp, a temporary name) is
        unknown."""
        if any(arg.keyword is not None or arg.star for arg in call.args):
            return None
        args = [self._text(arg.value, flow, depth + 1) for arg in call.args]
        if None in args:
            return None
        texts: list[str] = args  # type: ignore[assignment]
        qualified = self.scope.qualified_name(call.func) or ""
        if qualified in _PATH_JOINS:
            return "/".join(texts)
        if qualified in _PATH_WRAPPERS:
            return texts[0] if len(texts) == 1 else "." if not texts else None
        if not isinstance(call.func, cst.Attribute):
            return None
        method = call.func.attr.value
        if method not in ("joinpath", "format") and (texts or method not in _SAME_FILE_METHODS):
            return None
        receiver = self._text(call.func.value, flow, depth + 1)
        if receiver is None or method in _SAME_FILE_METHODS:
            return receiver
        if method == "joinpath":
            return "/".join([receiver, *texts])
        return receiver + ".format(" + ",".join(texts) + ")"
