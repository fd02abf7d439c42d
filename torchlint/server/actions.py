"""Code actions: a quick fix per fixable diagnostic, fix all, and disable-for-this-line.

Every action is computed as the new text of a document, with the engine's own functions
(``apply_edits`` and ``import_edits`` for one fix, ``fix_source`` for all, the
``--add-noqa`` code for a ``# noqa``); ``text_edits`` turns old and new text into the few
small edits an editor applies, so the cursor and the rest of the buffer stay put.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import libcst as cst
from lsprotocol import types

from torchlint.add_noqa import NoqaResult, add_noqa_to_source
from torchlint.diagnostics import Applicability, Diagnostic, Edit
from torchlint.fix_imports import import_edits
from torchlint.fixer import apply_edits, fix_source
from torchlint.notebook import _parses
from torchlint.parsing import parse_module
from torchlint.registry import selected_rules
from torchlint.server.convert import SOURCE, identity
from torchlint.server.documents import Snapshot
from torchlint.server.notebooks import fix_cells
from torchlint.server.positions import Positions

FIX_ALL_KIND = "source.fixAll.torchlint"
KINDS = (types.CodeActionKind.QuickFix, FIX_ALL_KIND)


def wanted(only: Iterable[str] | None, kind: str) -> bool:
    """Whether a request limited to the kinds ``only`` asks for actions of ``kind``."""
    return only is None or any(kind == o or kind.startswith(o + ".") for o in only)


def diff_edits(old: str, new: str) -> list[Edit]:
    """Small offset edits that turn ``old`` into ``new``: changed lines, trimmed to the
    characters that differ."""
    if old == new:
        return []
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    starts = [0]
    for line in a:
        starts.append(starts[-1] + len(line))
    edits = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start, end, content = starts[i1], starts[i2], "".join(b[j1:j2])
        before = old[start:end]
        head = 0
        while head < min(len(before), len(content)) and before[head] == content[head]:
            head += 1
        tail = 0
        limit = min(len(before), len(content)) - head
        while tail < limit and before[-1 - tail] == content[-1 - tail]:
            tail += 1
        edits.append(Edit(start + head, end - tail, content[head : len(content) - tail]))
    return edits


def text_edits(old: str, new: str, encoding: str) -> list[types.TextEdit]:
    positions = Positions(old, encoding)
    return [
        types.TextEdit(
            types.Range(positions.position_at(e.start), positions.position_at(e.end)), e.content
        )
        for e in diff_edits(old, new)
    ]


def fixed_by_one(text: str, diagnostic: Diagnostic, notebook: bool) -> str | None:
    """``text`` with the diagnostic's fix applied (its imports added); None if it cannot be."""
    fix = diagnostic.fix
    if fix is None or fix.applicability is Applicability.DISPLAY:
        return None
    if fix.preamble and notebook:
        return None  # its imports belong in another cell: `Fix all` does that
    positions = Positions(text)
    edits = [
        Edit(
            positions.offset(e.start_location) if e.start_location else e.start,
            positions.offset(e.end_location) if e.end_location else e.end,
            e.content,
        )
        for e in fix.edits
    ]
    new = apply_edits(text, edits)
    if fix.preamble:
        try:
            at = min((edit.start for edit in edits), default=0)
            requests = [(line, at) for line in fix.preamble]
            new = apply_edits(new, import_edits(new, parse_module(new), requests))
        except (cst.ParserSyntaxError, RecursionError, ValueError):
            return None
    return new if _parses(new) or not _parses(text) else None


def without_line(text: str, diagnostic: Diagnostic) -> str | None:
    """``text`` with a ``# noqa`` for the diagnostic on its line; None where none can go."""
    new = add_noqa_to_source(text, [diagnostic], NoqaResult())
    return new if new != text else None


def _action(
    title: str,
    kind: str,
    uri: str,
    edits: list[types.TextEdit],
    diagnostic: types.Diagnostic | None = None,
    preferred: bool | None = None,
) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=kind,
        diagnostics=[diagnostic] if diagnostic else None,
        edit=types.WorkspaceEdit(changes={uri: edits}),
        is_preferred=preferred,
    )


def _find(found: list[Diagnostic], wanted_diagnostic: types.Diagnostic) -> Diagnostic | None:
    data = wanted_diagnostic.data
    if isinstance(data, dict):
        for diagnostic in found:
            if identity(diagnostic) == data:
                return diagnostic
    return None


def line_actions(
    snapshot: Snapshot,
    uri: str,
    requested: list[types.Diagnostic],
    only: Iterable[str] | None,
    encoding: str,
) -> list[types.CodeAction]:
    """Quick fixes and disable-for-this-line for the diagnostics the client asks about."""
    text = snapshot.texts.get(uri)
    if text is None:
        return []
    found = snapshot.diagnostics.get(uri, [])
    actions: list[types.CodeAction] = []
    noqa: list[types.CodeAction] = []
    for lsp_diagnostic in requested:
        if lsp_diagnostic.source != SOURCE:
            continue
        diagnostic = _find(found, lsp_diagnostic)
        if diagnostic is None:
            continue
        if wanted(only, types.CodeActionKind.QuickFix):
            new = fixed_by_one(text, diagnostic, snapshot.notebook)
            if new is not None and diagnostic.fix is not None:
                safe = diagnostic.fix.applicability is Applicability.SAFE
                label = "" if safe else " (unsafe: changes behaviour)"
                actions.append(
                    _action(
                        f"Fix {diagnostic.code}: {diagnostic.fix.message}{label}",
                        types.CodeActionKind.QuickFix,
                        uri,
                        text_edits(text, new, encoding),
                        lsp_diagnostic,
                        preferred=safe,
                    )
                )
            silenced = without_line(text, diagnostic)
            if silenced is not None:
                noqa.append(
                    _action(
                        f"Disable {diagnostic.code} for this line",
                        types.CodeActionKind.QuickFix,
                        uri,
                        text_edits(text, silenced, encoding),
                        lsp_diagnostic,
                    )
                )
    return actions + noqa


def has_fixes(snapshot: Snapshot) -> bool:
    unsafe = bool(snapshot.settings and snapshot.settings.unsafe_fixes)
    return any(d.fix_applies(unsafe) for found in snapshot.diagnostics.values() for d in found)


def fix_all(snapshot: Snapshot, encoding: str) -> types.WorkspaceEdit | None:
    """The edit applying every fix the CLI's ``fix`` would (unsafe ones if configured)."""
    settings = snapshot.settings
    if settings is None:
        return None
    if snapshot.notebook:
        new_texts = fix_cells(snapshot.path, snapshot.cells, settings, unsafe=settings.unsafe_fixes)
    else:
        (uri, text), *_ = snapshot.texts.items()
        rules = selected_rules(settings.selected_codes)
        outcome = fix_source(snapshot.path, text, settings, rules, unsafe=settings.unsafe_fixes)
        new_texts = {uri: outcome.source} if outcome.fixed else {}
    changes = {
        uri: text_edits(snapshot.texts[uri], new, encoding)
        for uri, new in new_texts.items()
        if new != snapshot.texts[uri]
    }
    return types.WorkspaceEdit(changes=changes) if changes else None


def fix_all_action(edit: types.WorkspaceEdit | None, data: object = None) -> types.CodeAction:
    return types.CodeAction(
        title="Fix all torchlint problems", kind=FIX_ALL_KIND, edit=edit, data=data
    )
