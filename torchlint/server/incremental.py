"""Parse an edited document again only around the edit, and locate nodes without codegen.

An edit replaces one region of the text. The top-level statements around it are parsed
again as a module of their own and spliced into the last module, which keeps every other
statement as it was: a few statements parsed instead of the whole file. Wherever the
spliced module could differ from a parse of the whole new text (an indented comment at a
boundary, a changed default indentation or newline, a fragment that does not parse, text
libcst's code generation does not give back), the whole text is parsed instead, so the
result is always the module ``cst.parse_module`` would give.

The spans of each statement's nodes, relative to the statement, are kept with it: an edit
generates code again only for the statements it replaced, not for the whole module.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import libcst as cst

from torchlint.deepstack import call_deep
from torchlint.engine import python_rejects
from torchlint.parsing import parse_module
from torchlint.positions import node_spans, statement_spans

_FIRST_NEWLINE = re.compile(r"\r\n?|\n")
_SUITE_PARTS = ("body", "orelse", "handlers", "finalbody")
Span = tuple[int, int]


def has_block(node: cst.CSTNode) -> bool:
    """Whether a statement holds an indented block (an INDENT token): the first one in the
    file decides the module's ``default_indent``."""
    if isinstance(node, (cst.IndentedBlock, cst.Match)):
        return True
    if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        return False
    for name in _SUITE_PARTS:
        part = getattr(node, name, None)
        for child in part if isinstance(part, (tuple, list)) else (part,):
            if isinstance(child, cst.CSTNode) and has_block(child):
                return True
    return False


def _first_newline(text: str) -> str:
    """The module's ``default_newline``, as libcst detects it."""
    found = _FIRST_NEWLINE.search(text)
    return found.group(0) if found else "\n"


def _flush_left(lines: Sequence[cst.EmptyLine]) -> bool:
    """Whether no line starts with whitespace: an indented comment or blank line after a
    block belongs to that block, so it ties two neighbouring statements together."""
    return not any(line.whitespace.value for line in lines)


@dataclass(frozen=True)
class Parsed:
    """One parsed text, and where each top-level statement of it starts."""

    text: str
    module: cst.Module
    starts: tuple[int, ...]  # each statement's start, then the footer's
    first_block: int  # the first statement holding an indented block; len(body) if none


class Document:
    """The last text of one open document that parsed, kept to parse the next one cheaply."""

    def __init__(self) -> None:
        self.parsed: Parsed | None = None
        self.incremental = 0  # parses done by splicing (for tests and timing)
        self._spans: dict[int, dict[int, Span]] = {}  # id(statement) -> relative spans
        self._owner: dict[int, int] = {}  # id(node) -> id(its top-level statement)

    def parse(self, text: str) -> cst.Module | None:
        """The module of ``text``, as ``cst.parse_module`` gives it; None when the engine
        must parse it itself (a syntax error, nesting too deep), to report that."""
        parsed = self.parsed
        if parsed is not None:
            if parsed.text == text:
                return parsed.module
            spliced = self._splice(parsed, text)
            if spliced is not None:
                self.incremental += 1
                return spliced.module
        module = _parse(text)
        if module is not None:
            self._setup(text, module)
        return module

    def locate(self, module: cst.Module, wanted: Iterable[cst.CSTNode]) -> dict[int, Span]:
        """``node_spans(module, wanted)``, from the kept spans where they cover every node."""
        wanted = list(wanted)
        parsed = self.parsed
        if parsed is None or module is not parsed.module:
            return node_spans(module, wanted)
        starts = {
            id(stmt): start for stmt, start in zip(module.body, parsed.starts[:-1], strict=True)
        }
        found: dict[int, Span] = {}
        for node in wanted:
            key = id(node)
            owner = self._owner.get(key)
            if owner is None:  # the module itself, its header or footer: not kept
                return node_spans(module, wanted)
            start, end = self._spans[owner][key]
            base = starts[owner]
            found[key] = (base + start, base + end)
        return found

    # --- parsing -----------------------------------------------------------------------

    def _setup(self, text: str, module: cst.Module) -> None:
        """Keep a module parsed in full, with its statements' offsets and spans."""
        self._forget(self.parsed.module.body if self.parsed else ())
        self.parsed = None
        if not module.body or not module.has_trailing_newline:
            return  # the last statement's newline is not in the text: no splicing
        offset = sum(len(module.code_for_node(line)) for line in module.header)
        starts = []
        for statement in module.body:
            starts.append(offset)
            offset += self._keep(module, statement)
        starts.append(offset)
        offset += sum(len(module.code_for_node(line)) for line in module.footer)
        if offset != len(text):  # header + statements + footer must be the text
            self._forget(module.body)
            return
        first_block = next(
            (i for i, stmt in enumerate(module.body) if has_block(stmt)), len(module.body)
        )
        self.parsed = Parsed(text, module, tuple(starts), first_block)

    def _splice(self, old: Parsed, text: str) -> Parsed | None:
        """``text`` parsed by re-parsing the statements the edit touched; None if unsafe."""
        module, starts = old.module, old.starts
        count = len(module.body)
        if not text.endswith(("\n", "\r")) or _first_newline(text) != module.default_newline:
            return None
        limit = min(len(old.text), len(text))
        prefix = _common_prefix(old.text, text, limit)
        suffix = _common_suffix(old.text, text, limit - prefix)
        old_end = len(old.text) - suffix
        delta = len(text) - len(old.text)
        # The statements holding the characters just before and just after the change.
        # (A change in the header or footer takes the first or last statement along.)
        lo = min(max(bisect.bisect_right(starts, prefix - 1) - 1, 0), count - 1)
        from_start = prefix == 0 or prefix - 1 < starts[0]
        hi = max(bisect.bisect_right(starts, old_end) - 1, lo)
        to_end = hi >= count
        if not to_end:
            # The next statement's leading lines must not be able to join the fragment.
            while hi + 1 < count and not _flush_left(module.body[hi + 1].leading_lines):
                hi += 1
            to_end = hi + 1 >= count and not _flush_left(module.footer)
        if to_end:
            hi = count - 1
        if from_start and to_end:
            return None  # the whole file: nothing to gain
        begin = 0 if from_start else starts[lo]
        end = len(text) if to_end else starts[hi + 1] + delta
        fragment = text[begin:end]
        part = _parse(fragment)
        if part is None or not part.body or not part.has_trailing_newline:
            return None
        if part.default_newline != module.default_newline:
            return None
        if not to_end and part.footer:
            return None  # lines after the last statement: the next statement's to own
        statements = list(part.body)
        if not from_start:
            if not _flush_left(part.header):
                return None  # may belong to the block before the fragment
            first = statements[0]
            statements[0] = first.with_changes(leading_lines=(*part.header, *first.leading_lines))
        first_block = self._first_block(old, lo, hi, statements, part)
        if first_block is None:
            return None
        new = module.with_changes(
            header=part.header if from_start else module.header,
            body=(*module.body[:lo], *statements, *module.body[hi + 1 :]),
            footer=part.footer if to_end else module.footer,
        )
        # Code generation must give the fragment back, statement by statement.
        head = "".join(new.code_for_node(line) for line in new.header) if from_start else ""
        tail = "".join(new.code_for_node(line) for line in new.footer) if to_end else ""
        pieces = [new.code_for_node(statement) for statement in statements]
        if head + "".join(pieces) + tail != fragment:
            return None
        self._forget(module.body[lo : hi + 1])
        offset = begin + len(head)
        middle = []
        for statement in statements:
            middle.append(offset)
            offset += self._keep(new, statement)
        after = (offset,) if to_end else tuple(start + delta for start in starts[hi + 1 :])
        parsed = Parsed(text, new, (*starts[:lo], *middle, *after), first_block)
        self.parsed = parsed
        return parsed

    @staticmethod
    def _first_block(
        old: Parsed, lo: int, hi: int, statements: list[cst.CSTNode], part: cst.Module
    ) -> int | None:
        """The new module's first statement with a block; None when the new text's default
        indentation may differ from the old module's (every block's ``indent`` would)."""
        indent = old.module.default_indent
        if old.first_block < lo:  # unchanged, before the fragment
            same = part.default_indent == indent or not any(map(has_block, statements))
            return old.first_block if same else None
        for index, statement in enumerate(statements):
            if has_block(statement):
                return lo + index if part.default_indent == indent else None
        if old.first_block <= hi:
            return None  # the first block went away: the next one decides, unknown here
        return old.first_block + len(statements) - (hi + 1 - lo)

    # --- spans -------------------------------------------------------------------------

    def _keep(self, module: cst.Module, statement: cst.CSTNode) -> int:
        """Keep a statement's relative spans; its length."""
        length, spans = statement_spans(module, statement)
        key = id(statement)
        self._spans[key] = spans
        owner = self._owner
        for node in spans:
            owner[node] = key
        return length

    def _forget(self, statements: Iterable[cst.CSTNode]) -> None:
        for statement in statements:
            for node in self._spans.pop(id(statement), ()):
                self._owner.pop(node, None)


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the common prefix, by halving (string comparison runs in C)."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle :] == b[len(b) - middle :]:
            low = middle
        else:
            high = middle - 1
    return low


def _parse(text: str) -> cst.Module | None:
    """``text`` parsed, or None when it does not parse (or is too deep): the engine then
    parses the whole text itself and reports what is wrong, exactly as without the server."""
    if python_rejects(text) is not None:
        return None
    try:
        return call_deep(parse_module, text)
    except Exception:  # noqa: BLE001 - libcst raises more than ParserSyntaxError
        return None
