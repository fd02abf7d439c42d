"""One file in, diagnostics out: one parse, one walk shared by all selected rules.

Rules are instantiated per file and dispatched by node type. A rule that raises is
disabled for the rest of that file and reported as an internal error; the other rules
still run. Offsets are computed only for files that report something.
"""

from __future__ import annotations

import ast
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import libcst as cst
from libcst._nodes.internal import CodegenState

from torchlint.diagnostics import Diagnostic, Edit, Fix, Location
from torchlint.names import _IS_NODE, SCOPE_TYPES, Scope, child_fields, is_node_type
from torchlint.positions import LineIndex, node_spans
from torchlint.rules.base import InsertAfter, InsertBefore, InsertLine, PendingFix, Replace, Rule
from torchlint.suppression import apply_suppressions

if TYPE_CHECKING:
    from torchlint.config import Settings

SYNTAX_ERROR_CODE = "TL000"
_SCOPE_TYPES = frozenset(SCOPE_TYPES)


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # internal errors, one line each


@dataclass
class _Pending:
    rule: Rule
    node: cst.CSTNode
    message: str
    fix: PendingFix | None


class FileContext:
    """What a rule can see of the file being linted."""

    def __init__(self, path: str, source: str, module: cst.Module, settings: Settings) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.settings = settings
        # Without ``:=`` in the text no expression binds a name: the binding scans skip them.
        self.module_scope = Scope(module, None, walrus=":=" in source)
        self.scope = self.module_scope
        self.ancestors: list[cst.CSTNode] = []
        self.pending: list[_Pending] = []
        self._facts: dict[str, Any] = {}

    def add(self, rule: Rule, node: cst.CSTNode, message: str, fix: PendingFix | None) -> None:
        self.pending.append(_Pending(rule, node, message, fix))

    @property
    def parent(self) -> cst.CSTNode | None:
        """The parent of the node being visited."""
        return self.ancestors[-1] if self.ancestors else None

    def fact(self, name: str, compute: Callable[[FileContext], Any]) -> Any:
        """A per-file fact computed once on first use, shared by all rules."""
        if name not in self._facts:
            self._facts[name] = compute(self)
        return self._facts[name]

    def indents(self) -> tuple[str, ...]:
        """The indentation of the blocks enclosing the node being visited."""
        default = self.module.default_indent
        return tuple(
            default if node.indent is None else node.indent
            for node in self.ancestors
            if isinstance(node, cst.IndentedBlock)
        )

    def code_for(self, node: cst.CSTNode, indents: Sequence[str] = ()) -> str:
        """Source text of ``node``; multi-line nodes are rendered at the given block indentation."""
        if not indents:
            return self.module.code_for_node(node)
        state = CodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
        )
        for indent in indents:
            state.increase_indent(indent)
        node._codegen(state)
        return "".join(state.tokens)


def _active_rules(rules: Sequence[type[Rule]], source: str) -> list[type[Rule]]:
    return [r for r in rules if not r.requires or any(word in source for word in r.requires)]


def _syntax_error(path: str, error: Exception, source: str) -> Diagnostic:
    if isinstance(error, cst.ParserSyntaxError):
        line, column = error.raw_line, error.raw_column + 1
        message = str(error.message) if hasattr(error, "message") else str(error)
    elif isinstance(error, SyntaxError):
        line, column = error.lineno or 1, error.offset or 1
        message = error.msg
    else:
        line, column = 1, 1
        message = "the file is nested too deeply to analyse"
    message = " ".join(message.split())
    loc = Location(max(line, 1), max(column, 1))
    text = LineIndex(source).line_text(source, loc.line)
    return Diagnostic(
        path, loc, loc, SYNTAX_ERROR_CODE, "invalid-syntax", f"SyntaxError: {message}",
        source_line=text,
    )


def lint_source(
    path: str, source: str, settings: Settings, rules: Sequence[type[Rule]]
) -> FileResult:
    """Lint one decoded source text with the given (already selected) rules."""
    result = FileResult(path)
    active = _active_rules(rules, source)
    if not active:
        # Nothing can fire: a C-speed syntax check keeps TL000 without building a CST.
        try:
            ast.parse(source)
        except SyntaxError as error:
            _report_syntax_error(path, source, settings, error, result)
            return result
        except (RecursionError, MemoryError, ValueError):
            pass  # libcst decides below
        else:
            result.diagnostics = apply_suppressions(path, source, [], settings)
            return result
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError) as error:
        try:  # CPython's message and position are the ones users know
            ast.parse(source)
        except SyntaxError as python_error:
            error = python_error
        except (RecursionError, MemoryError, ValueError):
            pass
        _report_syntax_error(path, source, settings, error, result)
        return result
    if not active:
        result.diagnostics = apply_suppressions(path, source, [], settings)
        return result
    context = FileContext(path, source, module, settings)
    _Walker(context, active, result).run()
    result.diagnostics = apply_suppressions(path, source, _resolve(context), settings)
    return result


def _report_syntax_error(
    path: str, source: str, settings: Settings, error: Exception, result: FileResult
) -> None:
    if SYNTAX_ERROR_CODE in settings.enabled_codes(path):
        result.diagnostics = [_syntax_error(path, error, source)]


class _Walker:
    """Walks the CST once, calling each rule's visitors; crashes disable only that rule."""

    def __init__(self, context: FileContext, rules: Sequence[type[Rule]], result: FileResult):
        self.context = context
        self.result = result
        self.visit: dict[type, list[tuple[Rule, Callable[[Any], Any]]]] = {}
        self.leave: dict[type, list[tuple[Rule, Callable[[Any], Any]]]] = {}
        self.crashed: set[int] = set()
        for rule_type in rules:
            rule = rule_type(context)
            for attr in dir(rule_type):
                if attr.startswith("visit_"):
                    table, node_name = self.visit, attr[6:]
                elif attr.startswith("leave_"):
                    table, node_name = self.leave, attr[6:]
                else:
                    continue
                node_type = getattr(cst, node_name, None)
                if node_type is None:
                    raise TypeError(f"{rule_type.__name__}.{attr}: no libcst node {node_name}")
                table.setdefault(node_type, []).append((rule, getattr(rule, attr)))

    def run(self) -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))
        try:
            self._walk(self.context.module)
        except RecursionError:
            self.result.errors.append(
                f"{self.context.path}: internal error: the file is nested too deeply to analyse"
            )
        finally:
            sys.setrecursionlimit(limit)

    def _call(self, rule: Rule, method: Callable[[Any], Any], node: cst.CSTNode) -> None:
        if id(rule) in self.crashed:
            return
        try:
            method(node)
        except Exception as error:  # noqa: BLE001 - crash isolation is the point
            self.crashed.add(id(rule))
            where = traceback.extract_tb(error.__traceback__)[-1]
            self.result.errors.append(
                f"{self.context.path}: internal error in {rule.code} ({rule.name}): "
                f"{type(error).__name__}: {error} "
                f"[{where.filename.rsplit('/', 1)[-1]}:{where.lineno}]"
            )

    def _walk(self, node: cst.CSTNode) -> None:
        node_type = type(node)
        context = self.context
        visitors = self.visit.get(node_type)
        if visitors:
            for rule, method in visitors:
                self._call(rule, method, node)
        is_scope = node_type in _SCOPE_TYPES
        if is_scope:
            context.scope = Scope(node, context.scope)
        ancestors = context.ancestors
        ancestors.append(node)
        is_node = _IS_NODE
        for name in child_fields(node_type):
            value = getattr(node, name)
            value_type = type(value)
            if value_type is tuple or value_type is list:
                for child in value:
                    self._walk(child)
            else:
                known = is_node.get(value_type)
                if known is None:
                    known = is_node_type(value_type)
                if known:
                    self._walk(value)
        ancestors.pop()
        if is_scope:
            context.scope = context.scope.parent  # type: ignore[assignment]
        leavers = self.leave.get(node_type)
        if leavers:
            for rule, method in leavers:
                self._call(rule, method, node)


def _resolve(context: FileContext) -> list[Diagnostic]:
    """Turn node-based reports into located diagnostics with offset-based fixes."""
    if not context.pending:
        return []
    spans = node_spans(context.module)
    lines = LineIndex(context.source)
    diagnostics = []
    for pending in context.pending:
        span = spans.get(id(pending.node))
        if span is None:
            continue
        start, end = span
        start_location = Location(*lines.line_col(start))
        fix = _resolve_fix(pending.fix, spans, lines, context) if pending.fix else None
        diagnostics.append(
            Diagnostic(
                path=context.path,
                start=start_location,
                end=Location(*lines.line_col(end)),
                code=pending.rule.code,
                name=pending.rule.name,
                message=pending.message,
                fix=fix,
                start_offset=start,
                end_offset=end,
                source_line=lines.line_text(context.source, start_location.line),
            )
        )
    return diagnostics


def _resolve_fix(
    pending: PendingFix,
    spans: dict[int, tuple[int, int]],
    lines: LineIndex,
    context: FileContext,
) -> Fix | None:
    edits: list[Edit] = []
    for edit in pending.edits:
        if isinstance(edit, Replace):
            start, end = spans[id(edit.node)]
            text = edit.new if isinstance(edit.new, str) else context.code_for(edit.new, pending.indents)
            edits.append(Edit(start, end, text))
        elif isinstance(edit, InsertBefore):
            start = spans[id(edit.node)][0]
            edits.append(Edit(start, start, edit.text))
        elif isinstance(edit, InsertAfter):
            end = spans[id(edit.node)][1]
            edits.append(Edit(end, end, edit.text))
        elif isinstance(edit, InsertLine):
            start = spans[id(edit.statement)][0]
            line_start = lines.line_start(lines.line_col(start)[0])
            indent = context.source[line_start:start]
            if indent.strip():
                return None  # the statement shares its line: no safe place for a new line
            newline = context.module.default_newline
            text = "".join(indent + line + newline for line in edit.text.splitlines())
            edits.append(Edit(line_start, line_start, text))
    located = tuple(sorted(edit.located(lines) for edit in edits))
    return Fix(pending.applicability, located, pending.message, pending.preamble)
