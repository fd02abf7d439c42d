"""One file in, diagnostics out: one parse, one walk shared by all selected rules.

Rules are instantiated per file and dispatched by node type. A rule that raises is
disabled for the rest of that file and reported as an internal error; the other rules
still run. Offsets are computed only for files that report something.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import sys
import traceback
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst

from torchlint import timing
from torchlint.context import (
    FileContext,
    InsertAfter,
    InsertBefore,
    InsertLine,
    Locate,
    Pending,
    PendingFix,
    Replace,
)
from torchlint.deepstack import call_deep
from torchlint.diagnostics import Diagnostic, Edit, Fix, Location
from torchlint.names import (
    _IS_NODE,
    SCOPE_TYPES,
    Scope,
    child_fields,
    is_node_type,
)
from torchlint.nesting import too_deep
from torchlint.parse_cost import MAX_OPERATOR_CHAIN, too_costly, too_long_chain
from torchlint.parsing import parse_module
from torchlint.positions import LineIndex, node_spans, placed_spans
from torchlint.python2 import python2_syntax
from torchlint.rules.base import Rule
from torchlint.suppression import apply_suppressions

if TYPE_CHECKING:
    from torchlint.config import Settings

SYNTAX_ERROR_CODE = "TL000"
T = TypeVar("T")
_SCOPE_TYPES = frozenset(SCOPE_TYPES)


@dataclass
class FileResult:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # internal errors, one line each


def _active_rules(rules: Sequence[type[Rule]], source: str) -> list[type[Rule]]:
    """The rules that could fire on ``source``: they visit nodes, and one of their
    ``requires`` words is in the text. Rules without visitors (TL000, TL001) are the
    engine's own work and need no tree. A word is looked for once (a word absent costs a
    scan of the whole text), and a rule's search stops at the first word found."""
    found: dict[str, bool] = {}

    def present(word: str) -> bool:
        known = found.get(word)
        if known is None:
            known = found[word] = word in source
        return known

    return [r for r in rules if _visitors(r) and (not r.requires or any(map(present, _words(r))))]


_WORDS: dict[type[Rule], tuple[str, ...]] = {}


def _words(rule_type: type[Rule]) -> tuple[str, ...]:
    """A rule's ``requires`` words as searched: shortest (most often present) first, and
    without a word that contains another of them (``kaiming_normal`` is there only if
    ``normal`` is). A word absent costs a scan of the whole text."""
    found = _WORDS.get(rule_type)
    if found is None:
        words = set(rule_type.requires)
        kept = [word for word in words if not any(o != word and o in word for o in words)]
        found = _WORDS[rule_type] = tuple(sorted(kept, key=lambda word: (len(word), word)))
    return found


def _rules_that_could_fire(
    path: str, source: str, settings: Settings, rules: Sequence[type[Rule]]
) -> list[type[Rule]]:
    """The rules enabled for ``path`` (per-file ignores, test code) that could fire on it."""
    enabled = settings.enabled_codes(path)
    return _active_rules([rule for rule in rules if rule.code in enabled], source)


def needs_tree(path: str, source: str, settings: Settings, rules: Sequence[type[Rule]]) -> bool:
    """Whether linting ``source`` parses it with libcst: some enabled rule could fire.
    Otherwise the engine only checks the syntax (with CPython's parser)."""
    return bool(_rules_that_could_fire(path, source, settings, rules))


class ParserLimitation(Exception):
    """libcst rejects (or crashes on) code that CPython accepts: reported as TL000, honestly."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _syntax_error(path: str, error: Exception, source: str) -> Diagnostic:
    prefix = "SyntaxError: "
    if isinstance(error, cst.ParserSyntaxError):
        line, column = error.raw_line, error.raw_column + 1
        message = str(error.message) if hasattr(error, "message") else str(error)
    elif isinstance(error, SyntaxError):
        line, column = error.lineno or 1, error.offset or 1
        message = error.msg
    elif isinstance(error, ParserLimitation):
        inner = error.error
        line, column = 1, 1
        if isinstance(inner, cst.ParserSyntaxError):
            line, column = inner.raw_line, inner.raw_column + 1
            detail = str(inner.message)
        else:
            detail = f"{type(inner).__name__}: {inner}"
        prefix = ""
        message = (
            "torchlint's parser (libcst) cannot read this file although Python can, so nothing "
            f"in it was checked ({detail})"
        )
    else:  # MemoryError / RecursionError: CPython's parser gives up too
        line, column = 1, 1
        prefix = ""
        message = f"the file is nested too deeply for Python to compile ({type(error).__name__})"
    message = " ".join(message.split())
    loc = Location(max(line, 1), max(column, 1))
    text, shift = LineIndex(source).shown_line(source, loc.line, loc.column)
    return Diagnostic(
        path,
        loc,
        loc,
        SYNTAX_ERROR_CODE,
        "invalid-syntax",
        f"{prefix}{message}",
        source_line=text,
        line_shift=shift,
    )


# Deep nesting makes libcst's parser slow (quadratic) and, on the C stack, fatal. CPython
# refuses it cheaply: more than 200 nested brackets, or more than its parser stack allows.
# Only files that could be that deep (long lines, many nested brackets) pay for the check.
_LONG_LINE_LENGTH = 1000
_LONG_LINE = re.compile(rf"^[^\r\n]{{{_LONG_LINE_LENGTH}}}", re.MULTILINE)  # anchored: linear
# Brackets as bytes: every opening one becomes "(", every closing one ")", the rest goes.
_AS_PARENTHESES = bytes.maketrans(b"([{)]}", b"((()))")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"()[]{}")
_SUSPICIOUS_DEPTH = 100


def _depth(parentheses: bytes) -> int:
    """The deepest nesting of a string of "(" and ")" (strings and comments too: an estimate)."""
    return max(itertools.accumulate(1 if byte == 40 else -1 for byte in parentheses), default=0)


def _may_be_too_deep(source: str) -> bool:
    # Splitting at "\n" first is cheap, and a line under the length is under it for "\r" too.
    longest = max(map(len, source.split("\n")))
    if longest >= _LONG_LINE_LENGTH and _LONG_LINE.search(source):
        return True
    parentheses = source.encode("utf-8", "surrogatepass").translate(_AS_PARENTHESES, _NOT_BRACKETS)
    if len(parentheses) <= _SUSPICIOUS_DEPTH:
        return False
    # Taking out the innermost pairs lowers the depth by one at most, so the passes made
    # plus what is left bound it from above; ordinary code is done in a few passes.
    rest, passes = parentheses, 0
    while b"()" in rest and passes <= _SUSPICIOUS_DEPTH:
        rest, passes = rest.replace(b"()", b""), passes + 1
    if passes + _depth(rest) <= _SUSPICIOUS_DEPTH:
        return False
    return _depth(parentheses) > _SUSPICIOUS_DEPTH


@dataclass(frozen=True)
class OverLimit:
    """Why a file's code is left unparsed: the setting it is over, and by how much."""

    # "max-file-size" (amount: bytes), "max-nesting" (amount: bracket depth) or
    # "max-parse-memory" (amount: the parse's estimated MiB) or "operator-chain" (amount:
    # the operators of one expression; a fixed limit, MAX_OPERATOR_CHAIN) or "python-2"
    # (amount: the line where Python 3 stops parsing a Python 2 file; not a setting)
    setting: str
    amount: int
    limit: int  # the setting's value: KiB, brackets or MiB
    of_code: bool = False  # a notebook: its code is measured, not the file (mostly outputs)
    construct: str = ""  # "python-2" (amount: the line of the error): what is there

    def why(self) -> str:
        """``not checked: 2 KiB is more than `max-file-size` (1 KiB)``."""
        if self.setting == "python-2":
            return (
                f"not checked: Python 2 code ({self.construct} at line {self.amount:,}), "
                "which Python 3 does not parse"
            )
        if self.setting == "max-file-size":
            code = " of code" if self.of_code else ""
            return (
                f"not checked: {self.amount / 1024:,.0f} KiB{code} is more than "
                f"`max-file-size` ({self.limit:,} KiB)"
            )
        if self.setting == "operator-chain":
            return (
                f"not checked: one expression chains {self.amount:,} arithmetic operators, "
                f"more than the parser handles in reasonable time ({self.limit:,})"
            )
        if self.setting == "max-parse-memory":
            return (
                f"not checked: parsing it would take about {self.amount:,} MiB, more than "
                f"`max-parse-memory` ({self.limit:,} MiB)"
            )
        return (
            f"not checked: brackets nested {self.amount:,} deep, more than `max-nesting` "
            f"({self.limit:,})"
        )


def code_over_limits(
    modules: Sequence[str],
    settings: Settings,
    *,
    size: int | None = None,
    of_code: bool = False,
) -> OverLimit | None:
    """The limit one file's code is over, checked before any parse: a notebook's code is
    several modules, measured together for `max-file-size` (in KiB; ``size``: the file's own
    bytes, where known) and each (libcst parses each alone) for `max-nesting`, the longest
    operator chain (a fixed limit) and `max-parse-memory` (0: no limit); a Python file (not
    a notebook) that is Python 2 code is not checked either (``python2.py``: its syntax
    error is not one to fix). None: it is checked. Every front end (the runner, the editor,
    flake8) asks this one function."""
    max_file_size = settings.max_file_size
    if size is None:
        size = sum(len(text.encode("utf-8", "surrogateescape")) for text in modules)
    if max_file_size and size > max_file_size * 1024:
        return OverLimit("max-file-size", size, max_file_size, of_code)
    for text in modules:
        limit = settings.max_nesting
        depth = timing.measure("read: nesting check", too_deep_to_parse, text, limit)
        if depth is not None:
            return OverLimit("max-nesting", depth, limit, of_code)
    for text in modules:
        chain = timing.measure("read: operator chain check", too_long_chain, text)
        if chain is not None and python_rejects(text) is None:  # else TL000 says why
            return OverLimit("operator-chain", chain, MAX_OPERATOR_CHAIN, of_code)
    for text in modules:
        limit = settings.max_parse_memory
        mib = timing.measure("read: parse memory estimate", too_costly, text, limit)
        if mib is not None:
            return OverLimit("max-parse-memory", mib, limit, of_code)
    if not of_code:
        for text in modules:
            legacy = timing.measure("read: Python 2 check", python2_syntax, text)
            if legacy is not None:
                return OverLimit("python-2", legacy.line, 0, construct=legacy.construct)
    return None


def over_limits(text: str, settings: Settings) -> str | None:
    """Why the front ends that lint a text rather than a file (editors, flake8) leave it
    unchecked, as the runner does a file; None when it is checked."""
    over = code_over_limits([text], settings)
    return over.why() if over is not None else None


def too_deep_to_parse(text: str, max_nesting: int) -> int | None:
    """The bracket depth of a text nested deeper than ``max_nesting`` that Python itself
    accepts (libcst's memory grows with the depth); None otherwise. Code too deep for Python
    is TL000, which the engine finds without libcst."""
    depth = too_deep(text, max_nesting)
    return depth if depth is not None and python_rejects(text) is None else None


def python_rejects(source: str) -> Exception | None:
    """CPython's error for a file nested too deeply to compile; None for every other file."""
    if not _may_be_too_deep(source):
        return None
    try:
        ast.parse(source)
    except SyntaxError as error:
        return error if "too many nested parentheses" in str(error.msg) else None
    except (MemoryError, RecursionError) as error:
        return error
    except ValueError:
        return None
    return None


def lint_source(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    *,
    module: cst.Module | None = None,
    locate: Locate = node_spans,
) -> FileResult:
    """Lint one decoded source text with the given (already selected) rules.

    ``module`` is ``source`` already parsed (the fixer parses each result to check it), so
    it is not parsed twice; ``locate`` finds the offsets of its nodes (the language server
    keeps them per statement across edits). Never raises for any input: code too deep for Python is TL000;
    a crash outside the rules (or in libcst) becomes one internal-error line for this file,
    and the run goes on.
    """
    too_deep = timing.measure("engine: nesting check", python_rejects, source)
    if too_deep is not None:
        result = FileResult(path)
        _report_syntax_error(path, source, settings, too_deep, result)
        return result
    return guarded(
        path,
        lambda line: FileResult(path, errors=[line]),
        _lint_source,
        path,
        source,
        settings,
        rules,
        module,
        locate,
    )


NESTED_TOO_DEEPLY = "internal error: the file is nested too deeply to analyse"


def guarded(
    path: str,
    failed: Callable[[str], T],
    work: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """``work(*args, **kwargs)`` on the deep stack; a crash becomes ``failed(line)``.

    Linting and fixing share it so that one file's crash (or nesting too deep even for the
    deep stack) is one internal-error line for that file, and the run goes on;
    ``TORCHLINT_DEBUG`` lets the exception through.
    """
    try:
        return call_deep(work, *args, **kwargs)
    except RecursionError:
        return failed(f"{path}: {NESTED_TOO_DEEPLY}")
    except Exception as error:  # one file's crash must not stop the run
        if os.environ.get("TORCHLINT_DEBUG"):
            raise
        return failed(internal_error(path, error))


def internal_error(path: str, error: BaseException) -> str:
    """One line naming the file, the error and where it happened."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" [{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}]" if frames else ""
    text = " ".join(str(error).split())
    return f"{path}: internal error: {type(error).__name__}: {text}{where}"


def _lint_source(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    module: cst.Module | None,
    locate: Locate = node_spans,
) -> FileResult:
    result = FileResult(path)
    active = _rules_that_could_fire(path, source, settings, rules)
    if module is not None:
        return _lint_module(path, source, settings, active, module, result, locate)
    if not active:
        # Nothing can fire: a C-speed syntax check keeps TL000 without building a CST.
        try:
            timing.measure("parse (syntax check only)", ast.parse, source)
        except SyntaxError as error:
            _report_syntax_error(path, source, settings, error, result)
            return result
        except (RecursionError, MemoryError, ValueError):
            pass  # libcst decides below
        else:
            result.diagnostics = apply_suppressions(path, source, [], settings)
            return result
    try:
        module = timing.measure("parse (libcst)", parse_module, source)
    except Exception as error:  # noqa: BLE001 - libcst also raises TypeError on valid code
        reported: Exception = error
        try:  # CPython's message and position are the ones users know
            ast.parse(source)
        except SyntaxError as python_error:
            reported = python_error
        except (RecursionError, MemoryError, ValueError):
            pass
        else:  # valid Python that libcst cannot read (e.g. `(x): int = 1`, libcst#1011)
            reported = ParserLimitation(error)
        _report_syntax_error(path, source, settings, reported, result)
        return result
    return _lint_module(path, source, settings, active, module, result, locate)


def _lint_module(
    path: str,
    source: str,
    settings: Settings,
    active: list[type[Rule]],
    module: cst.Module,
    result: FileResult,
    locate: Locate = node_spans,
) -> FileResult:
    if not active:
        result.diagnostics = apply_suppressions(path, source, [], settings)
        return result
    context = FileContext(path, source, module, settings, locate)
    timing.measure("engine: walk", _Walker(context, active, result).run)
    located = timing.measure("engine: locate diagnostics", _resolve, context)
    result.diagnostics = timing.measure(
        "engine: suppressions", apply_suppressions, path, source, located, settings
    )
    context.release()
    return result


def _report_syntax_error(
    path: str, source: str, settings: Settings, error: Exception, result: FileResult
) -> None:
    if SYNTAX_ERROR_CODE in settings.enabled_codes(path):
        result.diagnostics = [_syntax_error(path, error, source)]


_VISITORS: dict[type[Rule], tuple[tuple[bool, type, str], ...]] = {}


def _visitors(rule_type: type[Rule]) -> tuple[tuple[bool, type, str], ...]:
    """(is a leave_ method, node type, method name) of a rule class; computed once per class."""
    found = _VISITORS.get(rule_type)
    if found is None:
        entries = []
        for attr in dir(rule_type):
            if attr.startswith("visit_"):
                leaving, node_name = False, attr[6:]
            elif attr.startswith("leave_"):
                leaving, node_name = True, attr[6:]
            else:
                continue
            node_type = getattr(cst, node_name, None)
            if node_type is None:
                raise TypeError(f"{rule_type.__name__}.{attr}: no libcst node {node_name}")
            entries.append((leaving, node_type, attr))
        found = _VISITORS[rule_type] = tuple(entries)
    return found


def _walk_record(index: str) -> Callable[[FileContext], Any]:
    """What records the walk for the whole-file index a rule's ``after_walk`` names (imported
    late: the analyses import the engine's types)."""
    if index == "flow":
        from torchlint.analysis.flow import WalkRecord

        return WalkRecord
    raise ValueError(f"no whole-file index {index!r}")


def _timed(timer: timing.Timer, label: str, method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda node: timer.measure(label, method, node)


_Visitors = list[tuple[Rule, Callable[[Any], Any]]]
# The visit_Name visitors that want only some names, with the names they want.
_NameVisitors = list[tuple[Container[str], tuple[Rule, Callable[[Any], Any]]]]
# A node type's visitors, child fields, whether it opens a scope, its leave_ visitors,
# (names only) the visitors that want some of them, and the visit_ and leave_ visitors of
# the rules that run after the walk (``Rule.after_walk``).
_Plan = tuple[
    _Visitors | None,
    tuple[str, ...],
    bool,
    _Visitors | None,
    _NameVisitors | None,
    _Visitors | None,
    _Visitors | None,
]
# A visit kept for after the walk: the visitors, the node, its ancestors and scope then.
_Later = tuple[_Visitors, cst.CSTNode, tuple[cst.CSTNode, ...], Scope]


class _Walker:
    """Walks the CST once, calling each rule's visitors; crashes disable only that rule.

    A rule that reads a whole-file index (``Rule.after_walk``, the training-loop index) has
    its visits kept, with the ancestors and scope of each, and replayed after the walk: the
    index is built from what this walk saw (``analysis.flow.WalkRecord``) instead of a
    second walk of the file, and is complete by the time such a rule asks for it.
    """

    def __init__(self, context: FileContext, rules: Sequence[type[Rule]], result: FileResult):
        self.context = context
        self.result = result
        self.visit: dict[type, _Visitors] = {}
        self.leave: dict[type, _Visitors] = {}
        self.visit_later: dict[type, _Visitors] = {}
        self.leave_later: dict[type, _Visitors] = {}
        self.some_names: _NameVisitors = []
        self.plans: dict[type, _Plan] = {}
        self.later: list[_Later] = []
        self.crashed: set[int] = set()  # rules (by id) that crashed: their kept visits are skipped
        # Node types with nothing to do (no visitors, no children, no scope): not entered.
        # Names and literals are half of all nodes, and most have nothing to do.
        self.idle: set[type] = set()
        self.record: Any = None  # what the walk records for the indexes (one kind for now)
        timer = timing.TIMER
        for rule_type in rules:
            label = f"rule {rule_type.code} ({rule_type.name})"
            rule = rule_type(context) if timer is None else timer.measure(label, rule_type, context)
            later = getattr(rule_type, "after_walk", None)
            if later is not None and self.record is None:
                self.record = _walk_record(later)(context)
                for node_type in self.record.node_types:
                    self.visit.setdefault(node_type, []).append((self.record, self.record.enter))
                    self.leave.setdefault(node_type, []).append((self.record, self.record.leave))
            for leaving, node_type, attr in _visitors(rule_type):
                method = getattr(rule, attr)
                if timer is not None:
                    method = _timed(timer, label, method)
                wanted = rule.names_visited() if attr == "visit_Name" else None
                if later is not None:
                    if wanted is not None:
                        raise TypeError(f"{rule_type.__name__}: after_walk with names_visited")
                    table = self.leave_later if leaving else self.visit_later
                    table.setdefault(node_type, []).append((rule, method))
                elif wanted is not None:
                    self.some_names.append((wanted, (rule, method)))
                else:
                    table = self.leave if leaving else self.visit
                    table.setdefault(node_type, []).append((rule, method))

    def run(self) -> None:
        """Walk the module (timed as the engine's own share: the visitors time themselves),
        then run the visits kept for after it."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))
        try:
            try:
                self._walk(self.context.module)
                if self.record is not None and id(self.record) not in self.crashed:
                    self.record.complete()
            except RecursionError:
                self.result.errors.append(f"{self.context.path}: {NESTED_TOO_DEEPLY}")
            if self.later:
                self._replay()
        finally:
            sys.setrecursionlimit(limit)

    def _replay(self) -> None:
        """The kept visits, in the order of the walk, each seeing the ancestors and scope it
        would have seen during the walk."""
        context = self.context
        ancestors = context.ancestors
        crashed = self.crashed
        for visitors, node, above, scope in self.later:
            ancestors[:] = above
            context.scope = scope
            for entry in visitors:
                if id(entry[0]) in crashed:
                    continue
                try:
                    entry[1](node)
                except Exception as error:  # noqa: BLE001 - crash isolation is the point
                    self._crashed(entry[0], error)

    def _crashed(self, rule: Rule, error: Exception) -> None:
        """Report a rule's crash and take all its visitors out of the tables."""
        where = traceback.extract_tb(error.__traceback__)[-1]
        self.result.errors.append(
            f"{self.context.path}: internal error in {rule.code} ({rule.name}): "
            f"{type(error).__name__}: {error} "
            f"[{where.filename.rsplit('/', 1)[-1]}:{where.lineno}]"
        )
        self.crashed.add(id(rule))
        for table in (self.visit, self.leave, self.visit_later, self.leave_later):
            for node_type, entries in table.items():
                # New lists: a loop over the old one (in progress) is left undisturbed.
                table[node_type] = [entry for entry in entries if entry[0] is not rule]
        self.some_names = [entry for entry in self.some_names if entry[1][0] is not rule]
        self.plans.clear()
        self.idle.clear()

    def _plan(self, node_type: type) -> _Plan:
        """What visiting a node of ``node_type`` involves, worked out once per type and file."""
        plan = self.plans[node_type] = (
            self.visit.get(node_type),
            child_fields(node_type),
            node_type in _SCOPE_TYPES,
            self.leave.get(node_type),
            (self.some_names or None) if node_type is cst.Name else None,
            self.visit_later.get(node_type),
            self.leave_later.get(node_type),
        )
        if not any(plan):
            self.idle.add(node_type)
        return plan

    def _walk(self, node: cst.CSTNode) -> None:
        visitors, fields, is_scope, leavers, some_names, later, leave_later = self.plans.get(
            type(node)
        ) or self._plan(type(node))
        if later:
            self.later.append((later, node, tuple(self.context.ancestors), self.context.scope))
        if visitors:
            for entry in visitors:
                try:
                    entry[1](node)
                except Exception as error:  # noqa: BLE001 - crash isolation is the point
                    self._crashed(entry[0], error)
        if some_names:
            value = node.value  # type: ignore[attr-defined]
            for wanted, entry in some_names:
                if value in wanted:
                    try:
                        entry[1](node)
                    except Exception as error:  # noqa: BLE001 - crash isolation is the point
                        self._crashed(entry[0], error)
        if fields:  # a leaf (a name, a literal) has no children to enter
            context = self.context
            if is_scope:
                context.scope = Scope(node, context.scope)
                if self.record is not None:
                    self.record.scoped(node, context.scope)
            ancestors = context.ancestors
            ancestors.append(node)
            idle = self.idle
            for name in fields:
                value = getattr(node, name)
                value_type = type(value)
                if value_type is tuple or value_type is list:
                    for child in value:
                        if type(child) not in idle:
                            self._walk(child)
                elif value_type not in idle:
                    known = _IS_NODE.get(value_type)
                    if known is None:
                        known = is_node_type(value_type)
                    if known:
                        self._walk(value)
            ancestors.pop()
            if is_scope:
                context.scope = context.scope.parent  # type: ignore[assignment]
        if leavers:
            for entry in leavers:
                try:
                    entry[1](node)
                except Exception as error:  # noqa: BLE001 - crash isolation is the point
                    self._crashed(entry[0], error)
        if leave_later:
            context = self.context
            self.later.append((leave_later, node, tuple(context.ancestors), context.scope))


def _resolve(context: FileContext) -> list[Diagnostic]:
    """Turn node-based reports into located diagnostics with offset-based fixes."""
    if not context.pending:
        return []
    spans = _spans(context, _located_nodes(context.pending))
    lines = LineIndex(context.source)
    diagnostics = []
    for pending in context.pending:
        span = spans.get(id(pending.node))
        if span is None:
            continue
        start, end = span
        start_location = Location(*lines.line_col(start))
        fix = _resolve_fix(pending.fix, spans, lines, context) if pending.fix else None
        shown, shift = lines.shown_line(context.source, start_location.line, start_location.column)
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
                source_line=shown,
                line_shift=shift,
            )
        )
    return diagnostics


def _spans(context: FileContext, nodes: list[cst.CSTNode]) -> dict[int, tuple[int, int]]:
    """The offsets of ``nodes``: by default from the statements they were reported in
    (``_place``), else from generating the whole module."""
    if context.locate is node_spans:
        found = _place(context)
        if found is not None:
            return found
    return context.locate(context.module, nodes)


_BODIES = (cst.Module, cst.IndentedBlock)


def _place(context: FileContext) -> dict[int, tuple[int, int]] | None:
    """Offsets from generating only the statements the nodes are in: for each node, the
    innermost statement around it (of a module's or a block's body) whose text is found once
    in the source, else the next one out. A fix's node may be a top-level statement of its
    own (an import to add above). None when a node is in none of them."""
    module = context.module
    top = {id(statement) for statement in module.body}
    placed: dict[int, dict[int, tuple[int, int]] | None] = {}
    found: dict[int, tuple[int, int]] = {}
    # Each statement placed searches the source once: past a budget (thousands of
    # statements with findings in a large file) generating the whole module once is the
    # cheaper, and linear, way.
    searches = [_PLACE_BUDGET // max(len(context.source), 1)]

    def spans_of(statement: cst.CSTNode, outer: Sequence[cst.CSTNode]) -> dict | None:
        key = id(statement)
        if key not in placed:
            searches[0] -= 1
            if searches[0] < 0:
                raise _OverBudget
            indents = context.indents(outer)
            placed[key] = placed_spans(module, context.source, statement, indents)
        return placed[key]

    try:
        return _place_all(context, spans_of, top, found)
    except _OverBudget:
        return None


class _OverBudget(Exception):
    """Placing statement by statement would search the source too many times."""


# Characters of source that placing statements may search through, in all: 64 MB, a
# fraction of a second (64 statements of a 1 MB file, 6,400 of a 10 KB one).
_PLACE_BUDGET = 64 * 2**20


def _place_all(
    context: FileContext,
    spans_of: Callable[[cst.CSTNode, Sequence[cst.CSTNode]], dict | None],
    top: set[int],
    found: dict[int, tuple[int, int]],
) -> dict[int, tuple[int, int]] | None:
    """Every node a report or its fix needs (``_located_nodes``) is found, or None."""
    for pending in context.pending:
        wanted = [pending.node]
        if pending.fix is not None:
            wanted += _edit_nodes(pending.fix)
        chain = pending.ancestors
        for node in wanted:
            key = id(node)
            if key in found:
                continue
            candidates = [
                (chain[i], chain[:i])
                for i in range(len(chain) - 1, 0, -1)
                if type(chain[i - 1]) in _BODIES
            ]
            if key in top:
                candidates.append((node, ()))
            for statement, outer in candidates:
                spans = spans_of(statement, outer)
                if spans is not None and key in spans:
                    found[key] = spans[key]
                    break
            else:
                return None
    return found


def _located_nodes(pending: list[Pending]) -> list[cst.CSTNode]:
    """The nodes whose offsets the diagnostics and their fixes need."""
    nodes = []
    for item in pending:
        nodes.append(item.node)
        if item.fix is not None:
            nodes.extend(_edit_nodes(item.fix))
    return nodes


def _edit_nodes(fix: PendingFix) -> list[cst.CSTNode]:
    return [edit.statement if isinstance(edit, InsertLine) else edit.node for edit in fix.edits]


def _inside_parens(new: cst.CSTNode, old: cst.CSTNode) -> cst.CSTNode:
    """``new`` without the parentheses ``old`` already has in the source.

    A node's span excludes its own parentheses, which stay in the file; a replacement made
    with ``old.with_changes(...)`` carries them too and would double them on every fix.
    """
    old_parens = getattr(old, "lpar", ())
    lpar, rpar = getattr(new, "lpar", ()), getattr(new, "rpar", ())
    count = min(len(old_parens), len(lpar), len(rpar))
    if not count:
        return new
    try:
        return new.with_changes(lpar=lpar[count:], rpar=rpar[: len(rpar) - count])
    except cst.CSTValidationError:  # a node that cannot lose them (e.g. a generator)
        return new


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
            if isinstance(edit.new, str):
                text = edit.new
            else:
                text = context.code_for(_inside_parens(edit.new, edit.node), pending.indents)
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
