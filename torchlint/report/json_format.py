"""``json`` (one array) and ``json-lines`` (one object a line), shaped like ruff's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from torchlint.diagnostics import Diagnostic, Location
from torchlint.report.rule_docs import rule_url


def _location(location: Location | None) -> dict[str, int] | None:
    return None if location is None else {"row": location.line, "column": location.column}


def to_dict(d: Diagnostic) -> dict[str, Any]:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [
                {
                    "content": e.content,
                    "location": _location(e.start_location),
                    "end_location": _location(e.end_location),
                }
                for e in d.fix.edits
            ],
            "preamble": list(d.fix.preamble),
        }
    return {
        "code": d.code,
        "name": d.name,
        "message": d.message,
        "filename": d.path,
        "cell": d.cell,
        "location": _location(d.start),
        "end_location": _location(d.end),
        "fix": fix,
        "url": rule_url(d.code),
    }


def write_json(
    diagnostics: Sequence[Diagnostic], out: TextIO, color: bool, unsafe: bool = False
) -> None:
    json.dump([to_dict(d) for d in diagnostics], out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_json_lines(
    diagnostics: Sequence[Diagnostic], out: TextIO, color: bool, unsafe: bool = False
) -> None:
    for d in diagnostics:
        out.write(json.dumps(to_dict(d), ensure_ascii=False) + "\n")
