"""Source offsets for CST nodes, computed only for files that have something to report.

libcst's ``PositionProvider`` tracks line and column for every token with a regex; we only
need character offsets, which a running length gives for free. Lines and columns are then
derived from a table of line starts.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import libcst as cst
from libcst._nodes.internal import CodegenState

_NEWLINE = re.compile(r"\r\n?|\n")


class _Done(Exception):
    """Every wanted span is known: the rest of the file need not be generated."""


@dataclass
class _OffsetState(CodegenState):
    offset: int = 0
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    stack: list[int] = field(default_factory=list)
    wanted: set[int] | None = None  # ids still to locate; None: all nodes

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.stack.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.stack.pop()
        key = id(node)
        if key not in self.spans:  # nodes without a syntactic position keep their full span
            self.spans[key] = (start, self.offset)
        wanted = self.wanted
        if wanted is not None and key in wanted:
            # A node's span is final once its own code is generated.
            wanted.discard(key)
            if not wanted:
                raise _Done

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.offset += len(value)

    def pop_trailing_newline(self) -> None:
        """Offsets already recorded stay valid: only the final newline is dropped."""

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        start = self.offset
        yield  # not in a ``finally``: when generation stops early, nothing more is recorded
        end = self.offset
        spans = self.spans
        if start_node is not None:
            start = spans[id(start_node)][0]
        if end_node is not None:
            end = spans[id(end_node)][1]
        spans[id(node)] = (start, end)


def node_spans(
    module: cst.Module, wanted: Iterable[cst.CSTNode] | None = None
) -> dict[int, tuple[int, int]]:
    """Map ``id(node)`` to the node's (start, end) character offsets, syntactic (no owned whitespace).

    With ``wanted``, generation stops as soon as those nodes are located (spans of other
    nodes may then be missing); a wanted node that is not in the tree is simply absent.
    """
    state = _OffsetState(
        default_indent=module.default_indent, default_newline=module.default_newline
    )
    if wanted is not None:
        state.wanted = {id(node) for node in wanted}
        if not state.wanted:
            return state.spans
    with contextlib.suppress(_Done):
        module._codegen(state)
    return state.spans


def statement_spans(
    module: cst.Module, statement: cst.CSTNode
) -> tuple[int, dict[int, tuple[int, int]]]:
    """The length of one top-level statement of ``module`` and the spans of all its nodes,
    relative to its start: a statement generates the same text wherever it stands, so
    ``node_spans`` of the module is these spans plus the statement's offset."""
    state = _OffsetState(
        default_indent=module.default_indent, default_newline=module.default_newline
    )
    statement._codegen(state)
    return state.offset, state.spans


@dataclass
class _TextState(_OffsetState):
    """Offsets, and the text itself (to find where a statement stands in the source)."""

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.tokens.append(token)
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)


def placed_spans(
    module: cst.Module, source: str, statement: cst.CSTNode, indents: Sequence[str] = ()
) -> dict[int, tuple[int, int]] | None:
    """The spans of every node of ``statement`` (an element of a module's or an indented
    block's body, ``indents`` those of the blocks around it), without generating the module.

    A statement generates, at its blocks' indentation, the text it has in the module, and
    the module's code is ``source``: that text, found exactly once in ``source``, stands
    there. None when it is not found or found twice, or when the file lacks a final
    newline (the last statement's text would then end in one the source does not have).
    """
    if not module.has_trailing_newline:
        return None
    state = _TextState(default_indent=module.default_indent, default_newline=module.default_newline)
    for indent in indents:
        state.increase_indent(indent)
    statement._codegen(state)
    text = "".join(state.tokens)
    start = source.find(text)
    if start < 0 or source.find(text, start + 1) >= 0:
        return None
    return {key: (begin + start, end + start) for key, (begin, end) in state.spans.items()}


# Lines longer than this are shown as an excerpt of ``EXCERPT`` characters around the
# column, ``EXCERPT_BEFORE`` of them before it.
SHOWN_LINE = 1000
EXCERPT = 240
EXCERPT_BEFORE = 80
ELLIPSIS = "..."


class LineIndex:
    """Converts character offsets to 1-based (line, column) pairs."""

    def __init__(self, source: str) -> None:
        self.starts = [0] + [m.end() for m in _NEWLINE.finditer(source)]

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def line_text(self, source: str, line: int) -> str:
        """The text of a 1-based line, without its line ending."""
        if line > len(self.starts):
            return ""
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(source)
        return source[start:end].rstrip("\r\n")

    def line_start(self, line: int) -> int:
        return self.starts[line - 1]

    def shown_line(self, source: str, line: int, column: int) -> tuple[str, int]:
        """What the ``full`` format shows of a 1-based line, and the columns it leaves out
        at the start: the line itself, or around ``column`` an excerpt of a line longer
        than ``SHOWN_LINE`` (``...`` marks what is left out).

        A diagnostic keeps this, never the whole line: on a generated line of a megabyte
        with thousands of findings, a copy each would take gigabytes (and print them).
        """
        if line > len(self.starts):
            return "", 0
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(source)
        if end - start <= SHOWN_LINE + 2:  # `+ 2`: the line ending
            return source[start:end].rstrip("\r\n"), 0
        while end > start and source[end - 1] in "\r\n":
            end -= 1
        if end - start <= SHOWN_LINE:
            return source[start:end], 0
        first = max(0, min(column - 1 - EXCERPT_BEFORE, end - start - EXCERPT))
        last = min(end - start, first + EXCERPT)
        text = source[start + first : start + last]
        if last < end - start:
            text += ELLIPSIS
        if first == 0:
            return text, 0
        return ELLIPSIS + text, first - len(ELLIPSIS)
