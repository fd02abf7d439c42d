"""``# noqa`` comments: line-level and file-level suppression, and TL001 for unused ones.

Line level: ``# noqa`` (everything) or ``# noqa: TL101, TL201`` on the line a diagnostic
starts on. File level: ``# torchlint: noqa`` or ``# torchlint: noqa: TL101``. Only TL codes
are ours: ``# noqa: E501`` belongs to another tool and is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torchlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from torchlint.positions import LineIndex
from torchlint.registry import all_codes

if TYPE_CHECKING:
    from torchlint.config import Settings

UNUSED_NOQA_CODE = "TL001"
_CODE_LIST = r"[A-Za-z]+[0-9]+(?:\s*,\s*[A-Za-z]+[0-9]+|\s+[A-Za-z]+[0-9]+)*"
_LINE_NOQA = re.compile(rf"#\s*noqa(?::\s*(?P<codes>{_CODE_LIST}))?", re.IGNORECASE)
_FILE_NOQA = re.compile(rf"#\s*torchlint\s*:\s*noqa(?::\s*(?P<codes>{_CODE_LIST}))?", re.IGNORECASE)
_SPLIT = re.compile(r"[\s,]+")
# A superset of the comments whose codes include one starting with TL (case-insensitive).
_MAY_NAME_TL_CODE = re.compile(r"noqa[^\r\n]*tl", re.IGNORECASE)


@dataclass
class Noqa:
    line: int
    column: int  # 0-based column of the comment's '#'
    comment: str
    codes: list[str] | None  # None: bare, suppresses everything
    file_level: bool
    used: set[str] = field(default_factory=set)
    match_span: tuple[int, int] = (0, 0)  # the noqa directive inside the comment


def _codes(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    return [code.upper() for code in _SPLIT.split(raw.strip()) if code]


def _may_say_noqa(source: str) -> bool:
    """Whether ``source`` may hold "noqa" in any case. No letter but n, o, q and a
    themselves matches them ignoring case, so a text whose lower case lacks "noqa" has no
    directive (tokenizing, or a case-blind search, costs more)."""
    return "noqa" in source or "noqa" in source.lower()


def parse_noqa(source: str) -> list[Noqa]:
    """All noqa directives in real comments (never inside strings)."""
    if not _may_say_noqa(source):
        return []
    found: list[Noqa] = []
    for line, column, text in _comments(source):
        # A file-wide directive wins over a line one in the same comment.
        whole_file, match = True, _FILE_NOQA.search(text)
        if match is None:
            whole_file, match = False, _LINE_NOQA.search(text)
        if match is not None:
            found.append(
                Noqa(
                    line, column, text, _codes(match["codes"]), whole_file, match_span=match.span()
                )
            )
    return found


# One pass over the text, left to right, consuming string literals and comments: a `#` the
# scan reaches outside a string starts a comment, and a quote outside a comment starts a
# string, as in Python's tokenizer. Far cheaper than `tokenize` (pure Python before 3.12).
# Not modelled: quotes nested in f-string fields (PEP 701, `f"{d["k"]}"`), which end the
# string early here; a noqa directive inside such a field is no comment either way.
_TRIPLE = r"{q}{q}{q}[^{q}\\]*(?:(?:\\.|{q}(?!{q}{q}))[^{q}\\]*)*{q}{q}{q}"
_SINGLE = r"{q}[^{q}\\\n]*(?:\\.[^{q}\\\n]*)*{q}"
_STRING_OR_COMMENT = re.compile(
    "|".join(
        (
            r"(?P<comment>#[^\r\n]*)",
            _TRIPLE.format(q="'"),
            _TRIPLE.format(q='"'),
            _SINGLE.format(q="'"),
            _SINGLE.format(q='"'),
        )
    ),
    re.DOTALL,
)


def _comments(source: str) -> list[tuple[int, int, str]]:
    """(1-based line, 0-based column, text) of the comments that mention noqa.

    Lines are counted at ``\\n`` and columns in characters, as ``tokenize`` counts them."""
    found = []
    line, counted_to = 1, 0
    for match in _STRING_OR_COMMENT.finditer(source):
        text = match["comment"]
        if text is None or "noqa" not in text.lower():
            continue
        start = match.start()
        line += source.count("\n", counted_to, start)
        counted_to = start
        line_start = source.rfind("\n", 0, start) + 1
        found.append((line, start - line_start, text))
    return found


def _nothing_to_suppress(diagnostics: list[Diagnostic], source: str) -> bool:
    """No diagnostic, and no directive naming a TL code, the only kind that can be unused
    (TL001): the file need not be tokenized."""
    if diagnostics:
        return False
    return not _may_say_noqa(source) or not _MAY_NAME_TL_CODE.search(source)


def apply_suppressions(
    path: str, source: str, diagnostics: list[Diagnostic], settings: Settings
) -> list[Diagnostic]:
    """Drop suppressed diagnostics and add TL001 for directives that suppressed nothing."""
    if _nothing_to_suppress(diagnostics, source):
        return []  # most files: not even the enabled codes are worked out
    enabled = settings.enabled_codes(path)
    diagnostics = [d for d in diagnostics if d.code in enabled]
    if _nothing_to_suppress(diagnostics, source):
        return []
    directives = parse_noqa(source)
    if not directives:
        return sorted(diagnostics, key=lambda d: d.sort_key)
    by_line = {d.line: d for d in directives if not d.file_level}
    file_level = [d for d in directives if d.file_level]
    kept = []
    for diagnostic in diagnostics:
        if _suppressed(diagnostic, by_line.get(diagnostic.start.line), file_level):
            continue
        kept.append(diagnostic)
    if UNUSED_NOQA_CODE in enabled:
        kept.extend(_unused(path, source, directives, settings, enabled))
    return sorted(kept, key=lambda d: d.sort_key)


def _suppressed(diagnostic: Diagnostic, line: Noqa | None, file_level: list[Noqa]) -> bool:
    for directive in ([line] if line else []) + file_level:
        if directive.codes is None:
            directive.used.add(diagnostic.code)
            return True
        if diagnostic.code in directive.codes:
            directive.used.add(diagnostic.code)
            return True
    return False


def _unused(
    path: str, source: str, directives: list[Noqa], settings: Settings, enabled: frozenset[str]
) -> list[Diagnostic]:
    known = all_codes()
    lines = LineIndex(source)
    out = []
    for directive in directives:
        if directive.codes is None:
            continue
        ours = [c for c in directive.codes if c.startswith("TL")]
        unknown = [c for c in ours if c not in known]
        unused = [c for c in ours if c in known and c in enabled and c not in directive.used]
        if UNUSED_NOQA_CODE in directive.codes and UNUSED_NOQA_CODE not in directive.used:
            unused = [c for c in unused if c != UNUSED_NOQA_CODE]
        if not unknown and not unused:
            continue
        parts = []
        if unused:
            parts.append("unused: " + ", ".join(unused))
        if unknown:
            parts.append("unknown: " + ", ".join(unknown))
        start = lines.line_start(directive.line) + directive.column
        end = start + len(directive.comment)
        message = f"Unused `noqa` directive ({'; '.join(parts)})"
        start_location = Location(*lines.line_col(start))
        shown, shift = lines.shown_line(source, start_location.line, start_location.column)
        out.append(
            Diagnostic(
                path=path,
                start=start_location,
                end=Location(*lines.line_col(end)),
                code=UNUSED_NOQA_CODE,
                name="unused-noqa",
                message=message,
                fix=_located(
                    _removal_fix(source, directive, set(unused) | set(unknown), start, end), lines
                ),
                start_offset=start,
                end_offset=end,
                source_line=shown,
                line_shift=shift,
            )
        )
    return out


def _located(fix: Fix, lines: LineIndex) -> Fix:
    return Fix(fix.applicability, tuple(e.located(lines) for e in fix.edits), fix.message)


def _removal_fix(source: str, directive: Noqa, drop: set[str], start: int, end: int) -> Fix:
    """Remove the dropped codes, or the whole directive when nothing is left of it."""
    remaining = [c for c in directive.codes or [] if c not in drop]
    comment = directive.comment
    m_start, m_end = directive.match_span
    if remaining:
        prefix = "# torchlint: noqa" if directive.file_level else "# noqa"
        new_comment = comment[:m_start] + f"{prefix}: {', '.join(remaining)}" + comment[m_end:]
        return Fix(Applicability.SAFE, (Edit(start, end, new_comment),), "Remove unused codes")
    rest = (comment[:m_start] + comment[m_end:]).strip()
    if rest and rest != "#":
        # Other text shares the comment (a type-ignore after the directive, say): keep it.
        rest = rest if rest.startswith("#") else "# " + rest.lstrip("# ")
        return Fix(Applicability.SAFE, (Edit(start, end, rest),), "Remove unused `noqa` directive")
    # Drop the comment and the whitespace before it; drop the whole line if it held nothing else.
    line_begin = source.rfind("\n", 0, start) + 1
    if not source[line_begin:start].strip():
        line_end = end
        while line_end < len(source) and source[line_end] in "\r\n":
            line_end += 1
            if source[line_end - 1] == "\n":
                break
        return Fix(
            Applicability.SAFE, (Edit(line_begin, line_end, ""),), "Remove unused `noqa` directive"
        )
    begin = start
    while begin > line_begin and source[begin - 1] in " \t":
        begin -= 1
    return Fix(Applicability.SAFE, (Edit(begin, end, ""),), "Remove unused `noqa` directive")
