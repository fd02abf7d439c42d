"""Applying fixes: to a fixpoint, each kept only if it removed its diagnostic, every result
verified to parse. Where imports go is fix_imports.py's job."""

from __future__ import annotations

import bisect
import itertools
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.diagnostics import Diagnostic, Edit
from torchlint.engine import FileResult, guarded, lint_source, python_rejects
from torchlint.fix_imports import import_edits, name_uses, unused_import_edits
from torchlint.parsing import parse_module
from torchlint.wrap import line_length, wrap_edits

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
    warnings: list[str] = field(default_factory=list)  # fixes held back: a bug in a rule
    fixed_codes: Counter[str] = field(default_factory=Counter)  # fixes applied, by rule

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

    The invariant: a fix is kept only if the diagnostic it was made for is gone after its
    pass; one that leaves it in place is rolled back, and a rule whose fixes do not settle
    within the pass bound has none of its fixes written. Either way the diagnostic stays
    reported without a fix, and a warning names the rule and the file.
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


Identity = tuple[str, int, int]  # a diagnostic's code and span: "the same finding"


def identity_of(diagnostic: Diagnostic) -> Identity:
    return (diagnostic.code, diagnostic.start_offset, diagnostic.end_offset)


@dataclass
class _Pass:
    """One fixpoint run from the original source, with some rules' fixes held back."""

    source: str
    result: FileResult
    fixed_codes: Counter[str] = field(default_factory=Counter)
    broken: set[Identity] = field(default_factory=set)  # fixes that left their diagnostic
    unsettled: frozenset[str] = frozenset()  # codes still fixing at the pass bound
    error: str | None = None


def _fix_source(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    *,
    unsafe: bool,
    only: frozenset[str] | None,
) -> FixOutcome:
    held: set[str] = set()  # rules none of whose fixes are written
    warned: dict[str, str] = {}
    while True:
        run = _fixpoint(path, source, settings, rules, unsafe, only, frozenset(held))
        for code, _, _ in sorted(run.broken):
            warned.setdefault(
                code,
                f"{path}: a {code} fix did not remove its diagnostic and was not applied "
                "(a bug in torchlint: please report it)",
            )
        if not run.unsettled:
            break
        for code in sorted(run.unsettled):
            warned[code] = (
                f"{path}: {code} fixes did not settle in {MAX_ITERATIONS} passes; none were "
                "applied (a bug in torchlint: please report it)"
            )
        held |= run.unsettled
    fixed = sum(run.fixed_codes.values())
    outcome = FixOutcome(run.source, fixed, run.result, list(run.result.errors))
    outcome.fixed_codes = run.fixed_codes
    if run.error:
        outcome.errors.append(run.error)
    outcome.warnings = [warned[code] for code in sorted(warned)]
    run.result.diagnostics = [
        replace(d, fix=None) if d.code in held or identity_of(d) in run.broken else d
        for d in run.result.diagnostics
    ]
    return outcome


def _fixpoint(
    path: str,
    source: str,
    settings: Settings,
    rules: Sequence[type[Rule]],
    unsafe: bool,
    only: frozenset[str] | None,
    held: frozenset[str],
) -> _Pass:
    run = _Pass(source, lint_source(path, source, settings, rules))
    errors = list(run.result.errors)
    limit = line_length(settings)

    def fixable() -> list[Diagnostic]:
        return [
            d
            for d in run.result.diagnostics
            if d.fix_applies(unsafe)
            and (only is None or d.code in only)
            and d.code not in held
            and identity_of(d) not in run.broken
        ]

    for _ in range(MAX_ITERATIONS):
        chosen = _non_overlapping(fixable())
        while chosen:
            try:
                text, module, stages = apply_fixes(run.source, chosen, limit)
            except (cst.ParserSyntaxError, RecursionError, SyntaxError, MemoryError) as error:
                codes = ", ".join(sorted({d.code for d in chosen}))
                run.error = (
                    f"{path}: internal error: fixing {codes} produced code that does not "
                    f"parse ({type(error).__name__}); the file was left as it was"
                )
                run.result.errors = errors
                return run
            result = lint_source(path, text, settings, rules, module=module)
            after = {identity_of(d) for d in result.diagnostics}
            maps = [OffsetMap(edits) for edits in stages]
            failed = [d for d in chosen if map_identity(identity_of(d), maps) in after]
            if failed:  # roll those back and redo the pass without them
                run.broken.update(identity_of(d) for d in failed)
                chosen = [d for d in chosen if d not in failed]
                continue
            run.broken = {map_identity(identity, maps) for identity in run.broken}
            run.source, run.result = text, result
            run.fixed_codes.update(d.code for d in chosen)
            errors.extend(e for e in result.errors if e not in errors)
            break
        else:
            run.result.errors = errors
            return run
    run.result.errors = errors
    run.unsettled = frozenset(d.code for d in fixable())
    return run


def apply_fixes(
    source: str, chosen: Sequence[Diagnostic], limit: int | None = None
) -> tuple[str, cst.Module, list[list[Edit]]]:
    """``source`` with the ``chosen`` fixes, the imports they need and without the imports
    they left unused, the lines they made longer than ``limit`` wrapped (wrap.py), parsed
    and checked; also the edit stages that led there (to map positions)."""
    edits = [e for d in chosen for e in d.fix.edits]  # type: ignore[union-attr]
    text = apply_edits(source, edits)
    module = parse_module(text)
    stages = [edits]
    moved = OffsetMap(edits)
    requests = [
        (line, moved.map(d.fix.edits[0].start))  # type: ignore[union-attr]
        for d in chosen
        for line in d.fix.preamble  # type: ignore[union-attr]
    ]
    if requests:
        text, module = _stage(text, module, import_edits(text, module, requests), stages)
    removed = unused_import_edits(text, module, name_uses(source), name_uses(text))
    text, module = _stage(text, module, removed, stages)
    if limit is not None:
        wrapped = wrap_edits(text, source, limit, module.default_indent, module.default_newline)
        text, module = _stage(text, module, wrapped, stages)
    too_deep = python_rejects(text)  # libcst accepts more nesting than Python
    if too_deep is not None:
        raise too_deep
    return text, module, stages


def _stage(
    text: str, module: cst.Module, edits: list[Edit], stages: list[list[Edit]]
) -> tuple[str, cst.Module]:
    if not edits:
        return text, module
    stages.append(edits)
    text = apply_edits(text, edits)
    return text, parse_module(text)


def map_offset(offset: int, edits: Sequence[Edit], *, end: bool = False) -> int:
    """Where ``offset`` is after ``edits``. Text inserted exactly at a span's start goes
    before it, at its end after it; an offset inside a replaced range goes to the
    replacement's start (``end``: its end)."""
    shift = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        inserted_here = edit.start == edit.end == offset
        if edit.end < offset or (edit.end == offset and not (inserted_here and end)):
            shift += len(edit.content) - (edit.end - edit.start)
        elif edit.start < offset:
            return edit.start + shift + (len(edit.content) if end else 0)
        else:
            break
    return offset + shift


class OffsetMap:
    """``map_offset`` for one set of edits, asked many times: sorted once, then each offset
    found by bisection (a pass with thousands of fixes maps thousands of offsets; a scan
    of all the edits for each was quadratic). Edits whose ends are out of order (two
    edits of one fix that overlap) are mapped by ``map_offset`` itself."""

    def __init__(self, edits: Sequence[Edit]) -> None:
        self.edits = sorted(edits, key=lambda e: (e.start, e.end))
        self.ends = [edit.end for edit in self.edits]
        self.ordered = all(a <= b for a, b in itertools.pairwise(self.ends))
        deltas = (len(edit.content) - (edit.end - edit.start) for edit in self.edits)
        self.shifts = list(itertools.accumulate(deltas, initial=0))

    def map(self, offset: int, *, end: bool = False) -> int:
        if not self.ordered:
            return map_offset(offset, self.edits, end=end)
        # The edits that end before ``offset`` (or at it) shift it; `map_offset` stops at
        # the first other one, which holds ``offset`` or lies after it.
        first = bisect.bisect_left(self.ends, offset)
        stop = bisect.bisect_right(self.ends, offset)
        if end:  # text inserted exactly here goes before the end of a span
            for index in range(first, stop):
                edit = self.edits[index]
                if edit.start == edit.end == offset:
                    stop = index
                    break
        shift = self.shifts[stop]
        if stop < len(self.edits):
            edit = self.edits[stop]
            if edit.start < offset:
                return edit.start + shift + (len(edit.content) if end else 0)
        return offset + shift


def map_identity(identity: Identity, stages: Sequence[Sequence[Edit] | OffsetMap]) -> Identity:
    code, start, end = identity
    for edits in stages:
        moved = edits if isinstance(edits, OffsetMap) else OffsetMap(edits)
        start, end = moved.map(start), moved.map(end, end=True)
    return code, start, end


def _non_overlapping(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Pick fixes in position order; one that touches an already chosen range waits.

    Only the chosen ranges that start within the longest one's length of an edit can touch
    it: they are found by bisection, so thousands of fixes are not each compared with all
    the others."""
    chosen: list[Diagnostic] = []
    taken: list[tuple[int, int]] = []  # sorted
    longest = 0
    for diagnostic in sorted(diagnostics, key=lambda d: (d.start_offset, d.code)):
        edits = diagnostic.fix.edits  # type: ignore[union-attr]
        if any(
            _overlaps(e, span)
            for e in edits
            for span in taken[
                bisect.bisect_left(taken, (e.start - longest, -1)) : bisect.bisect_right(
                    taken, (e.end, sys.maxsize)
                )
            ]
        ):
            continue
        chosen.append(diagnostic)
        for e in edits:
            bisect.insort(taken, (e.start, e.end))
            longest = max(longest, e.end - e.start)
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
