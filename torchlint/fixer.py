"""Applying fixes: to a fixpoint, imports added once, every result verified to parse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.diagnostics import Diagnostic, Edit
from torchlint.engine import FileResult, guarded, lint_source, python_rejects
from torchlint.names import Scope, is_docstring
from torchlint.positions import node_spans

if TYPE_CHECKING:
    from torchlint.config import Settings
    from torchlint.rules.base import Rule

MAX_ITERATIONS = 10


@dataclass
class FixOutcome:
    source: str
    fixed: int = 0
    result: FileResult | None = None  # the diagnostics that remain after fixing
    errors: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> list[Diagnostic]:
        return self.result.diagnostics if self.result else []


def fix_source(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    *,
    unsafe: bool,
    only: frozenset[str] | None = None,
) -> FixOutcome:
    """Fix ``source`` until nothing applicable is left (or ``MAX_ITERATIONS`` passes).

    Never raises: on a crash the source comes back unchanged, with one internal-error line.
    """
    if python_rejects(source) is not None:  # TL000: too deep for Python, nothing to fix
        return FixOutcome(source, result=lint_source(path, source, settings, rules))
    return guarded(
        path,
        lambda line: FixOutcome(source, errors=[line]),
        _fix_source,
        path,
        source,
        settings,
        rules,
        unsafe=unsafe,
        only=only,
    )


def _fix_source(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    *,
    unsafe: bool,
    only: frozenset[str] | None,
) -> FixOutcome:
    outcome = FixOutcome(source)
    module: cst.Module | None = None  # outcome.source parsed, once it has been
    for _ in range(MAX_ITERATIONS):
        result = lint_source(path, outcome.source, settings, rules, module=module)
        outcome.result = result
        outcome.errors.extend(e for e in result.errors if e not in outcome.errors)
        chosen = _non_overlapping(
            [
                d
                for d in result.diagnostics
                if d.fix_applies(unsafe) and (only is None or d.code in only)
            ]
        )
        if not chosen:
            return outcome
        new_source = apply_edits(outcome.source, [e for d in chosen for e in d.fix.edits])  # type: ignore[union-attr]
        preamble = [line for d in chosen for line in d.fix.preamble]  # type: ignore[union-attr]
        try:
            module = cst.parse_module(new_source)
            if preamble:
                new_source = add_preamble(new_source, module, preamble)
                module = cst.parse_module(new_source)
            too_deep = python_rejects(new_source)  # libcst accepts more nesting than Python
            if too_deep is not None:
                raise too_deep
        except (cst.ParserSyntaxError, RecursionError, SyntaxError, MemoryError) as error:
            codes = ", ".join(sorted({d.code for d in chosen}))
            outcome.errors.append(
                f"{path}: internal error: fixing {codes} produced code that does not parse "
                f"({type(error).__name__}); the file was left as it was"
            )
            return outcome
        outcome.source = new_source
        outcome.fixed += len(chosen)
    outcome.result = lint_source(path, outcome.source, settings, rules, module=module)
    return outcome


def _non_overlapping(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Pick fixes in position order; one that touches an already chosen range waits."""
    chosen: list[Diagnostic] = []
    taken: list[tuple[int, int]] = []
    for diagnostic in sorted(diagnostics, key=lambda d: (d.start_offset, d.code)):
        edits = diagnostic.fix.edits  # type: ignore[union-attr]
        if any(_overlaps(e, span) for e in edits for span in taken):
            continue
        chosen.append(diagnostic)
        taken.extend((e.start, e.end) for e in edits)
    return chosen


def _overlaps(edit: Edit, span: tuple[int, int]) -> bool:
    start, end = span
    if edit.start == edit.end or start == end:  # insertions conflict only strictly inside
        return start < edit.start < end or edit.start < start < edit.end or edit.start == start
    return edit.start < end and start < edit.end


def apply_edits(source: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (sorted here) to ``source``."""
    parts = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            continue  # overlapping edit of the same fix: keep the first
        parts.append(source[position : edit.start])
        parts.append(edit.content)
        position = edit.end
    parts.append(source[position:])
    return "".join(parts)


def _is_import(statement: cst.CSTNode, future: bool = False) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    small = statement.body
    if not small or not all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in small):
        return False
    is_future = any(
        isinstance(s, cst.ImportFrom)
        and isinstance(s.module, cst.Name)
        and s.module.value == "__future__"
        for s in small
    )
    return is_future if future else True


def _missing(line: str, module: cst.Module, scope: Scope) -> bool:
    statement = cst.parse_statement(line)
    small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
    if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
        base = module.code_for_node(small.module) if small.module else ""
        return any(
            scope.resolve(alias.evaluated_alias or alias.evaluated_name)
            != f"{base}.{alias.evaluated_name}"
            for alias in small.names
        )
    if isinstance(small, cst.Import):
        return any(
            scope.resolve(alias.evaluated_alias or alias.evaluated_name.split(".")[0])
            != (alias.evaluated_name if alias.asname else alias.evaluated_name.split(".")[0])
            for alias in small.names
        )
    wanted = line.strip()
    return not any(module.code_for_node(s).strip() == wanted for s in module.body)


def add_preamble(source: str, module: cst.Module, lines: list[str]) -> str:
    """Insert the module-level lines the fixes need, once each: imports after the imports."""
    scope = Scope(module, None)
    wanted: list[str] = []
    for line in lines:
        if line not in wanted and _missing(line, module, scope):
            wanted.append(line)
    if not wanted:
        return source
    imports = [line for line in wanted if line.startswith(("import ", "from "))]
    others = [line for line in wanted if line not in imports]
    body = list(module.body)
    index = 0
    if body and is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import(body[index], future=True):
        index += 1
    last_import = None
    while index < len(body) and _is_import(body[index]):
        last_import = body[index]
        index += 1
    anchor = last_import or (body[index - 1] if index > 0 else None)
    newline = module.default_newline
    block = "".join(line + newline for line in imports + others)
    if anchor is None:
        if not body:
            return source + ("" if not source or source.endswith(("\n", "\r")) else newline) + block
        offset = node_spans(module)[id(body[0])][0]
        line_start = source.rfind("\n", 0, offset) + 1
        return source[:line_start] + block + source[line_start:]
    spans = node_spans(module)
    end = spans[id(anchor)][1]
    line_end = source.find("\n", max(end - 1, 0))
    insert_at = len(source) if line_end == -1 else line_end + 1
    prefix = source[:insert_at]
    if line_end == -1:
        prefix += newline
    return prefix + block + source[insert_at:]
