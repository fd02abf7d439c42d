"""Hover on a diagnostic: the rule's explanation, as ``torchlint rule CODE`` prints it."""

from __future__ import annotations

from lsprotocol import types

from torchlint.diagnostics import Diagnostic, Location
from torchlint.registry import rule_by_code
from torchlint.report.rule_docs import rule_url


def rule_markdown(code: str) -> str | None:
    rule = rule_by_code(code)
    if rule is None:
        return None
    fix = rule.fix_applicability.value if rule.fix_applicability else "none"
    url = rule_url(rule.code)
    title = f"[{rule.code}]({url})" if url else rule.code
    return f"**{title}** `{rule.name}`: {rule.summary}.\n\n_fix: {fix}_\n\n{rule.documentation()}"


def covering(diagnostics: list[Diagnostic], where: Location) -> list[Diagnostic]:
    """The diagnostics whose range holds ``where`` (an empty range holds its own point)."""
    return [d for d in diagnostics if d.start <= where <= d.end]


def hover_text(diagnostics: list[Diagnostic]) -> str | None:
    parts = []
    for code in dict.fromkeys(d.code for d in diagnostics):
        text = rule_markdown(code)
        if text is not None:
            parts.append(text)
    return "\n\n---\n\n".join(parts) or None


def to_hover(text: str, range_: types.Range | None) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=range_
    )
