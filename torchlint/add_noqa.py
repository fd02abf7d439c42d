"""``torchlint check --add-noqa``: suppress every current diagnostic where it is reported.

For adopting torchlint in an existing codebase: start at zero diagnostics, then remove the
comments one by one. Each line with a diagnostic gets ``# noqa: CODE`` (all its codes,
sorted); an existing ``# noqa: X`` on that line is extended instead (``# noqa: X, TL101``);
other comments are kept. Lines where a comment cannot go are skipped and counted: a line
that ends inside a multi-line string (the comment would become part of the string) or with
a backslash continuation. ``TL000`` (the file does not parse) and ``TL001`` (an unused
``noqa``: ``torchlint fix`` removes it) are never suppressed this way. Running it again adds
nothing, since everything it could suppress is suppressed.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torchlint.diagnostics import Diagnostic
from torchlint.engine import SYNTAX_ERROR_CODE
from torchlint.suppression import UNUSED_NOQA_CODE, parse_noqa

NEVER = frozenset({SYNTAX_ERROR_CODE, UNUSED_NOQA_CODE})


@dataclass
class NoqaResult:
    added: int = 0  # codes added (one per line and code)
    skipped: int = 0  # codes that could not be added
    files: int = 0  # files changed
    errors: list[str] = field(default_factory=list)


def _blocked_lines(source: str) -> set[int] | None:
    """1-based lines that end inside a string or with a backslash; None if it won't tokenize."""
    blocked: set[int] = set()
    starts: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            name = tokenize.tok_name.get(token.type, "")
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                blocked.update(range(token.start[0], token.end[0]))
            elif name == "FSTRING_START":
                starts.append(token.start[0])
            elif name == "FSTRING_END" and starts:
                blocked.update(range(starts.pop(), token.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    for number, line in enumerate(source.splitlines(), start=1):
        if line.rstrip(" \t").endswith("\\") and number not in blocked:
            blocked.add(number)
    return blocked


def add_noqa_to_source(source: str, diagnostics: Iterable[Diagnostic], result: NoqaResult) -> str:
    """``source`` with noqa comments for ``diagnostics`` (lines are 1-based in ``source``)."""
    wanted: dict[int, set[str]] = {}
    for d in diagnostics:
        if d.code in NEVER:
            result.skipped += 1
            continue
        wanted.setdefault(d.start.line, set()).add(d.code)
    if not wanted:
        return source
    blocked = _blocked_lines(source)
    if blocked is None:
        result.skipped += sum(len(codes) for codes in wanted.values())
        return source
    existing = {n.line: n for n in parse_noqa(source) if not n.file_level}
    lines = source.splitlines(keepends=True)
    for number, codes in sorted(wanted.items()):
        if number in blocked or not 1 <= number <= len(lines):
            result.skipped += len(codes)
            continue
        line = lines[number - 1]
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        directive = existing.get(number)
        if directive is not None and directive.codes is None:
            continue  # a bare directive (no codes) already suppresses everything
        if directive is not None:
            have = list(directive.codes or [])
            new = sorted(c for c in codes if c not in have)
            if not new:
                continue
            start = directive.column + directive.match_span[0]
            end = directive.column + directive.match_span[1]
            body = body[:start] + "# noqa: " + ", ".join([*have, *new]) + body[end:]
        else:
            new = sorted(codes)
            body = body.rstrip(" \t") + "  # noqa: " + ", ".join(new)
        result.added += len(new)
        lines[number - 1] = body + ending
    return "".join(lines)


def add_noqa_to_files(diagnostics: Sequence[Diagnostic]) -> NoqaResult:
    """Add noqa comments to the files the diagnostics name, writing each file atomically."""
    from torchlint.notebook import NotebookError, is_notebook, transform_cells
    from torchlint.sourcefile import SourceError, read_source, write_source

    result = NoqaResult()
    by_path: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        by_path.setdefault(d.path, []).append(d)
    for path, found in sorted(by_path.items()):
        local = NoqaResult()
        try:
            source = read_source(Path(path))
            if is_notebook(path):

                def transform(text: str, cells: list[Diagnostic], local: NoqaResult = local) -> str:
                    return add_noqa_to_source(text, cells, local)

                new_text = transform_cells(path, source.text, transform, found)
            else:
                new_text = add_noqa_to_source(source.text, found, local)
            if new_text != source.text:
                write_source(source, new_text)
                result.files += 1
        except (SourceError, NotebookError) as error:
            result.errors.append(str(error))
            result.skipped += len(found)
            continue
        result.added += local.added
        result.skipped += local.skipped
    return result
