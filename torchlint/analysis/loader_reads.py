"""Whether every read of a loader takes a bounded number of batches (TL101).

A loader read only to look at a batch or two (``next(iter(loader))``, a ``for`` loop that
breaks in its first pass or once ``enumerate``'s index reaches a literal, ``islice(loader,
3)``, ``it = iter(loader)`` then ``next(it)`` a few times) is no training loader: workers
would start for those batches and have nothing to overlap them with.

``loader_reads(context)`` indexes, once per file, every read of a plain name or ``self.x``
and every assignment to one. A binding of a name is judged by the reads that can see it:
the reads of its scope that come after it with no rebinding in between that every path to
them passes (a rebinding earlier in a block that holds the read), reads before it in a loop
that holds both, and every read in a nested function (called at a time it cannot know).
So a notebook that binds ``test_loader`` in two cells has each judged by its own reads. A
``self.x`` is judged by every read of it in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.names import Scope, binding_scope, iter_children, target_names

if TYPE_CHECKING:
    from torchlint.context import FileContext

SMALL_RUN = 10
"""The most batches a literal may allow for the reads to count as a look at a few batches."""


class Kind:
    """How one read takes batches from what it reads."""

    ONE = "one"  # `next(iter(x))`, `iter(x).next()`: the first batch of a fresh iterator
    FEW = "few"  # a loop that stops after a handful of passes, `islice(x, 3)`
    NEXT = "next"  # `next(x)`, `x.next()`: one more batch of an iterator
    NEUTRAL = "neutral"  # `len(x)`, `x.dataset`, `x.batch_size`: no batch at all


# Attributes of a loader that describe it without drawing a batch.
METADATA = frozenset({"dataset", "batch_size"})
_LOOPS = (cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_BLOCKS = (cst.Module, cst.IndentedBlock, cst.SimpleStatementSuite)
# The comparisons that end a loop once its index reaches a literal: `i == 1`, `i >= 4`, `i > 4`.
INDEX_STOPS = (cst.Equal, cst.GreaterThanEqual, cst.GreaterThan)
_EXITS = (cst.Break, cst.Return, cst.Raise)


class Read(NamedTuple):
    scope: Scope  # the innermost scope the read is in
    index: int  # its place in the file, in source order
    loops: tuple[int, ...]  # ids of the loops and scopes around it (not a loop's own header)
    blocks: tuple[int, ...]  # ids of the blocks (module, indented bodies) around it
    kind: str | cst.Assign | None  # a Kind, the `it = iter(x)` that keeps an iterator, or None


class Binding(NamedTuple):
    name: str
    scope: Scope
    start: int
    end: int  # the binding takes effect here, after its value
    loops: tuple[int, ...]
    block: int  # id of the block its statement is in


class LoaderReads:
    """The reads and bindings of one file, and the judgement of each binding."""

    def __init__(self, reads: dict[str, list[Read]], bindings: dict[int, Binding]) -> None:
        self.reads = reads
        self.bindings = bindings
        self.by_name: dict[str, list[Binding]] = {}
        for binding in bindings.values():
            self.by_name.setdefault(binding.name, []).append(binding)
        self._memo: dict[tuple[int, bool], bool] = {}

    def bounded(self, assign: cst.Assign, fresh: bool) -> bool:
        """Every read that sees this assignment takes a bounded number of batches, and one
        at least takes a batch. ``fresh``: the value is a loader (each read starts a new
        iterator) rather than an iterator (``iter(loader)``, ``cycle(loader)``), whose reads
        go on where the last stopped and so must all run once, where it was bound."""
        key = (id(assign), fresh)
        known = self._memo.get(key)
        if known is not None:
            return known
        self._memo[key] = False  # `it = iter(it)` in a loop sees itself
        binding = self.bindings.get(id(assign))
        found = binding is not None and self._judge(binding, fresh)
        self._memo[key] = found
        return found

    def _judge(self, binding: Binding, fresh: bool) -> bool:
        if binding.name.startswith("self."):
            if not fresh:
                return False  # read in other methods, called any number of times
            seen = self.reads.get(binding.name, [])
        else:
            home = binding_scope(binding.scope, binding.name)
            if home is None or home.is_class:
                return False  # a class attribute is also read as `self.x` or `Class.x`
            seen = [
                read for read in self.reads.get(binding.name, []) if self._sees(read, binding, home)
            ]
        drawn = False
        for read in seen:
            kind = read.kind
            if kind == Kind.NEUTRAL:
                continue
            if not fresh and read.loops != binding.loops:
                return False  # in a loop or a function: the iterator may run to its end
            if (
                kind == Kind.ONE
                or kind == Kind.FEW
                or (kind == Kind.NEXT and not fresh)
                or (isinstance(kind, cst.Assign) and self.bounded(kind, fresh=False))
            ):
                drawn = True
            else:
                return False
        return drawn

    def _sees(self, read: Read, binding: Binding, home: Scope) -> bool:
        """``read`` may see the value ``binding`` assigns."""
        if binding_scope(read.scope, binding.name) is not home:
            return False  # another scope's name of the same spelling
        if read.scope is not home or binding.scope is not home:
            return True  # a nested function, or a `global` assignment: any time
        if read.index < binding.end:
            return _shared_loop(read.loops, binding.loops, home)  # again, in the next pass
        for other in self.by_name[binding.name]:
            if (
                other is not binding
                and other.scope is home
                and binding.end <= other.start
                and other.end <= read.index
                and other.block in read.blocks
            ):
                return False  # every path to the read rebinds the name first
        return True


def _shared_loop(first: tuple[int, ...], second: tuple[int, ...], home: Scope) -> bool:
    """The two places are in one loop of ``home`` (not in a loop around its definition)."""
    common = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        common += 1
    own = id(home.node)
    inner = first.index(own) + 1 if own in first else 0
    return common > inner


def loader_reads(context: FileContext) -> LoaderReads:
    return context.fact("loader-reads", _index)


def _index(context: FileContext) -> LoaderReads:
    reads: dict[str, list[Read]] = {}
    bindings: dict[int, Binding] = {}
    starts: dict[int, tuple[str, Scope, int, tuple[int, ...], int]] = {}
    path: list[cst.CSTNode] = []
    index = 0
    stack: list[tuple[cst.CSTNode, Scope, tuple[int, ...], tuple[int, ...]] | None] = [
        (context.module, context.module_scope, (), ())
    ]
    while stack:
        item = stack.pop()
        if item is None:
            node = path.pop()
            started = starts.pop(id(node), None)
            if started is not None:
                name, scope, start, loops, block = started
                bindings[id(node)] = Binding(name, scope, start, index, loops, block)
            continue
        node, scope, loops, blocks = item
        index += 1
        node_type = type(node)
        parent = path[-1] if path else None
        if node_type is cst.Name:
            if not _not_a_read(node, parent):
                kind = read_kind(path, node, scope)
                reads.setdefault(node.value, []).append(Read(scope, index, loops, blocks, kind))
            continue
        if node_type is cst.Attribute:
            text = _self_attribute(node)
            if text is not None and not isinstance(parent, cst.AssignTarget):
                kind = read_kind(path, node, scope)
                reads.setdefault(text, []).append(Read(scope, index, loops, blocks, kind))
        elif node_type is cst.Assign:
            for target in node.targets:
                name = _bound_name(target.target)
                if name is not None and len(node.targets) == 1:
                    starts[id(node)] = (name, scope, index, loops, blocks[-1])
        path.append(node)
        stack.append(None)
        if node_type in _SCOPES:
            scope = Scope(node, scope)
            loops = (*loops, id(node))
        elif node_type in _LOOPS:
            loops = (*loops, id(node))
        elif node_type in _BLOCKS:
            blocks = (*blocks, id(node))
        children = list(iter_children(node))
        if node_type is cst.For:
            body = (*loops, id(node))
            entries = [
                (
                    child,
                    scope,
                    body if child is node.body or child is node.orelse else loops,
                    blocks,
                )
                for child in children
            ]
        else:
            entries = [(child, scope, loops, blocks) for child in children]
        entries.reverse()
        stack.extend(entries)
    return LoaderReads(reads, bindings)


def _bound_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    return _self_attribute(target) if isinstance(target, cst.Attribute) else None


def _self_attribute(node: cst.Attribute) -> str | None:
    value = node.value
    if isinstance(value, cst.Name) and value.value == "self":
        return f"self.{node.attr.value}"
    return None


def _not_a_read(node: cst.Name, parent: cst.CSTNode | None) -> bool:
    """An attribute's name, a keyword, or a plain assignment target (recorded as a binding)."""
    if isinstance(parent, cst.Attribute):
        return parent.attr is node
    if isinstance(parent, cst.Arg):
        return parent.keyword is node
    return isinstance(parent, cst.AssignTarget)


def _builtin(call: cst.CSTNode, scope: Scope) -> str | None:
    """The name of the builtin ``call`` calls (not one this file binds), or None."""
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Name):
        return None
    name = call.func.value
    return name if scope.binds(name) is None else None


def _positional(call: cst.Call, low: int, high: int) -> bool:
    return low <= len(call.args) <= high and not any(arg.keyword or arg.star for arg in call.args)


def read_kind(
    path: Sequence[cst.CSTNode], node: cst.CSTNode, scope: Scope
) -> str | cst.Assign | None:
    """How the read ``node`` (whose ancestors are ``path``) takes batches: a ``Kind``, the
    assignment ``it = iter(node)`` whose reads decide, or None (unbounded, or unknown: a
    loop to the end, passed to a call, returned, kept in a structure)."""
    parent = path[-1] if path else None
    if isinstance(parent, cst.For):
        return Kind.FEW if parent.iter is node and ends_first_pass(parent) else None
    if isinstance(parent, cst.Attribute):
        if parent.value is not node:
            return None
        if parent.attr.value in METADATA:
            return Kind.NEUTRAL
        drawn = path[-2] if len(path) > 1 else None
        if (
            parent.attr.value in ("next", "__next__")
            and isinstance(drawn, cst.Call)
            and drawn.func is parent
            and not drawn.args
        ):
            return Kind.NEXT  # `it.next()`, as Python 2 wrote it (and old tutorials still do)
        return None
    if not isinstance(parent, cst.Arg) or parent.keyword is not None or parent.star:
        return None
    call = path[-2]
    if not isinstance(call, cst.Call) or call.args[0] is not parent:
        return None
    builtin = _builtin(call, scope)
    if builtin == "len" and _positional(call, 1, 1):
        return Kind.NEUTRAL
    if builtin == "next" and _positional(call, 1, 2):
        return Kind.NEXT
    if builtin == "enumerate" and _positional(call, 1, 1):
        loop = path[-3] if len(path) > 2 else None
        if (
            isinstance(loop, cst.For)
            and loop.iter is call
            and (ends_first_pass(loop) or stops_at_index(loop))
        ):
            return Kind.FEW
        return None
    if builtin == "iter" and _positional(call, 1, 1):
        return _iterator_use(path, call, scope)
    if (
        scope.qualified_name(call.func) == "itertools.islice"
        and _positional(call, 2, 2)
        and _small(call.args[1].value)
    ):
        return Kind.FEW
    return None


def _iterator_use(
    path: Sequence[cst.CSTNode], call: cst.Call, scope: Scope
) -> str | cst.Assign | None:
    """``iter(x)`` drawn once (``next(iter(x))``, ``iter(x).next()``) or kept in a name."""
    outer = path[-3] if len(path) > 2 else None
    above = path[-4] if len(path) > 3 else None
    if isinstance(outer, cst.Arg) and outer.keyword is None and not outer.star:
        if (
            _builtin(above, scope) == "next"
            and isinstance(above, cst.Call)
            and _positional(above, 1, 2)
            and above.args[0] is outer
        ):
            return Kind.ONE
        return None
    if isinstance(outer, cst.Attribute) and outer.attr.value == "next":
        if isinstance(above, cst.Call) and above.func is outer and not above.args:
            return Kind.ONE
        return None
    if (
        isinstance(outer, cst.Assign)
        and outer.value is call
        and len(outer.targets) == 1
        and isinstance(outer.targets[0].target, cst.Name)
    ):
        return outer
    return None


def _small(expr: cst.BaseExpression) -> bool:
    value = calls.int_literal(expr)
    return value is not None and value <= SMALL_RUN


def ends_first_pass(loop: cst.For) -> bool:
    """The loop's body leaves the loop on its first pass, whatever the data: a ``break``
    (or ``return``, ``raise``) among its statements (or in a ``with`` block among them),
    with no ``continue`` before it that could start a second pass."""
    if loop.asynchronous is not None:
        return False
    return _block_ends(_statements(loop.body)) is True


def _statements(body: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return body.body if isinstance(body, cst.IndentedBlock) else (body,)


def _block_ends(statements: Sequence[cst.CSTNode]) -> bool | None:
    """True: the statements always leave the loop; False: a ``continue`` may come first;
    None: they run to their end."""
    for statement in statements:
        if isinstance(statement, cst.With) and statement.asynchronous is None:
            inner = _block_ends(_statements(statement.body))
            if inner is not None:
                return inner
            continue
        if isinstance(statement, cst.SimpleStatementLine | cst.SimpleStatementSuite):
            for small in statement.body:
                if isinstance(small, cst.Continue):
                    return False
                if isinstance(small, _EXITS):
                    return True
            continue
        if _continues(statement):
            return False
    return None


def stops_at_index(loop: cst.For) -> bool:
    """``for i, batch in enumerate(x):`` whose body holds ``if i == N: break`` (or ``>=``,
    ``>``; N a literal of at most SMALL_RUN) directly, with no ``continue`` that could step
    over it and no assignment to ``i``."""
    target = loop.target
    if (
        loop.asynchronous is not None
        or not isinstance(target, cst.Tuple)
        or len(target.elements) != 2
        or not isinstance(target.elements[0].value, cst.Name)
    ):
        return False
    index = target.elements[0].value.value
    if _continues(loop.body) or _rebinds(loop.body, index):
        return False
    return any(
        isinstance(statement, cst.If) and _breaks_at(statement, index)
        for statement in _statements(loop.body)
    )


def _breaks_at(statement: cst.If, index: str) -> bool:
    """``if <index> == N: break`` (or ``>=``, ``>``) with N a small literal."""
    test = statement.test
    if not (
        isinstance(test, cst.Comparison)
        and isinstance(test.left, cst.Name)
        and test.left.value == index
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, INDEX_STOPS)
        and _small(test.comparisons[0].comparator)
    ):
        return False
    return any(
        isinstance(line, cst.SimpleStatementLine | cst.SimpleStatementSuite)
        and any(isinstance(small, _EXITS) for small in line.body)
        for line in _statements(statement.body)
    )


def _continues(body: cst.CSTNode) -> bool:
    """A ``continue`` of this loop (not of a loop nested in it)."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Continue):
            return True
        if not isinstance(node, cst.For | cst.While | cst.FunctionDef | cst.ClassDef | cst.Lambda):
            stack.extend(iter_children(node))
    return False


def _rebinds(body: cst.CSTNode, name: str) -> bool:
    """``body`` assigns ``name`` (outside functions it defines)."""
    stack = list(iter_children(body))
    while stack:
        node = stack.pop()
        if isinstance(node, cst.AssignTarget | cst.AugAssign | cst.AnnAssign | cst.For):
            if name in target_names(node.target):
                return True
        elif isinstance(node, cst.NamedExpr) and name in target_names(node.target):
            return True
        if not isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            stack.extend(iter_children(node))
    return False
