"""Engine diagnostics as LSP diagnostics: range, severity, code, docs link and message."""

from __future__ import annotations

from lsprotocol import types

from torchlint.diagnostics import Diagnostic
from torchlint.engine import SYNTAX_ERROR_CODE
from torchlint.report.rule_docs import rule_url
from torchlint.server.positions import Positions
from torchlint.suppression import UNUSED_NOQA_CODE

SOURCE = "torchlint"


def to_lsp(diagnostic: Diagnostic, positions: Positions) -> types.Diagnostic:
    """One engine diagnostic, positioned in the text ``positions`` was built from.

    ``data`` carries what identifies the diagnostic again when a code action asks for it.
    """
    code = diagnostic.code
    url = rule_url(code)
    return types.Diagnostic(
        range=positions.range(diagnostic.start, diagnostic.end),
        message=diagnostic.message,
        severity=(
            types.DiagnosticSeverity.Error
            if code == SYNTAX_ERROR_CODE
            else types.DiagnosticSeverity.Warning
        ),
        code=code,
        code_description=types.CodeDescription(href=url) if url else None,
        source=SOURCE,
        tags=[types.DiagnosticTag.Unnecessary] if code == UNUSED_NOQA_CODE else None,
        data=identity(diagnostic),
    )


def identity(diagnostic: Diagnostic) -> dict[str, int | str]:
    """What tells one diagnostic of a file from the others: code and position."""
    return {
        "code": diagnostic.code,
        "line": diagnostic.start.line,
        "column": diagnostic.start.column,
    }
