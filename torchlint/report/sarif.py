"""SARIF 2.1.0, the format GitHub code scanning (and most CI dashboards) read.

One run, one tool: ``tool.driver.rules`` lists every rule torchlint knows (so ``ruleIndex``
is stable), each with its documentation as help text; each result points at the file
(a URI relative to the working directory, ``%SRCROOT%``) and the region, and carries the
fix as a SARIF ``fix`` (replacements) where torchlint has an applicable one.

Columns are 1-based Unicode code points (``columnKind: unicodeCodePoints``) and the end
column is exclusive, as SARIF wants. Notebook results name the cell (``properties.cell``,
and in the message) and have no region or fix: SARIF regions are lines of the ``.ipynb``
file, not of a cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from torchlint import __version__
from torchlint.diagnostics import Applicability, Diagnostic, Edit
from torchlint.not_checked import NotChecked
from torchlint.report.rule_docs import rule_url
from torchlint.report.severity import LEVEL

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
FALLBACK_URI = "https://pypi.org/project/torchlint/"
SRCROOT = "%SRCROOT%"
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


def information_uri() -> str:
    """The project's home page from the installed metadata, else its PyPI page."""
    try:
        from importlib.metadata import PackageNotFoundError, metadata

        for entry in metadata("torchlint").get_all("Project-URL") or []:
            _, _, url = entry.partition(",")
            if url.strip().startswith("http"):
                return url.strip()
    except (PackageNotFoundError, ValueError, OSError):  # pragma: no cover - not installed
        pass
    return FALLBACK_URI


def _section(doc: str, title: str) -> str:
    """The body of ``## title`` in a rule's docstring ('' if absent)."""
    matches = list(_SECTION.finditer(doc))
    for index, match in enumerate(matches):
        if match.group(1).lower() == title.lower():
            end = matches[index + 1].start() if index + 1 < len(matches) else len(doc)
            return doc[match.end() : end].strip()
    return ""


def _rule_descriptor(rule: Any) -> dict[str, Any]:
    doc = rule.documentation()
    what = _section(doc, "What it does") or rule.summary
    why = _section(doc, "Why is this bad?")
    full = " ".join(f"{what} {why}".split())
    fix = rule.fix_applicability.value if rule.fix_applicability else "none"
    help_text = doc or rule.summary
    url = rule_url(rule.code)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": _plain(rule.summary)},
        "fullDescription": {"text": _plain(full)},
        "help": {
            "text": f"{help_text}\n\nRun `torchlint rule {rule.code}` for details.",
            "markdown": f"{help_text}\n\nRun `torchlint rule {rule.code}` for details.",
        },
        **({"helpUri": url} if url else {}),
        "defaultConfiguration": {"level": LEVEL, "enabled": bool(rule.default)},
        "properties": {
            "tags": [rule.family(), f"fix:{fix}"],
        },
    }


def _plain(text: str) -> str:
    """Markdown-light text: drop the backticks that SARIF's plain text would show verbatim."""
    return text.replace("`", "")


def artifact_uri(path: str, base: Path | None = None) -> str:
    """A relative POSIX URI for paths under ``base`` (the cwd), an absolute file URI otherwise."""
    base = base or Path.cwd()
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            candidate = candidate.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            return candidate.as_uri()
    posix = PurePosixPath(candidate.as_posix()).as_posix()
    while posix.startswith("./"):
        posix = posix[2:]
    return quote(posix, safe="/")


def _region(start_line: int, start_column: int, end_line: int, end_column: int) -> dict[str, int]:
    return {
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    }


def _replacement(edit: Edit) -> dict[str, Any] | None:
    if edit.start_location is None or edit.end_location is None:
        return None
    start, end = edit.start_location, edit.end_location
    return {
        "deletedRegion": _region(start.line, start.column, end.line, end.column),
        "insertedContent": {"text": edit.content},
    }


def _fix(d: Diagnostic, location: dict[str, Any]) -> dict[str, Any] | None:
    fix = d.fix
    if fix is None or fix.applicability is Applicability.DISPLAY or d.cell is not None:
        return None
    replacements = [_replacement(edit) for edit in fix.edits]
    if not replacements or any(r is None for r in replacements):
        return None
    description = fix.message
    if fix.preamble:
        description += " (also add at module level: " + "; ".join(fix.preamble) + ")"
    return {
        "description": {"text": _plain(description)},
        "artifactChanges": [{"artifactLocation": location, "replacements": replacements}],
        "properties": {
            "applicability": fix.applicability.value,
            "requiredModuleLines": list(fix.preamble),
        },
    }


def _result(d: Diagnostic, index: dict[str, int], base: Path) -> dict[str, Any]:
    artifact = {"uri": artifact_uri(d.path, base), "uriBaseId": SRCROOT}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    message = d.message
    properties: dict[str, Any] = {"name": d.name}
    if d.cell is None:
        physical["region"] = _region(d.start.line, d.start.column, d.end.line, d.end.column)
    else:
        message = f"cell {d.cell}, line {d.start.line}, column {d.start.column}: {message}"
        properties.update(
            cell=d.cell,
            cellRegion=_region(d.start.line, d.start.column, d.end.line, d.end.column),
        )
    result: dict[str, Any] = {
        "ruleId": d.code,
        "level": LEVEL,
        "message": {"text": _plain(message)},
        "locations": [{"physicalLocation": physical}],
        "properties": properties,
    }
    if d.code in index:
        result["ruleIndex"] = index[d.code]
    fix = _fix(d, artifact)
    if fix is not None:
        result["fixes"] = [fix]
    return result


def _not_checked(skipped: Sequence[NotChecked], base: Path) -> list[dict[str, Any]]:
    """SARIF's place for what the tool could not do: one ``toolExecutionNotifications``
    entry (a warning) per file not checked because it is over a limit (``max-file-size``,
    ``max-nesting``, ``max-parse-memory``: the descriptor names it)."""
    return [
        {
            "level": "warning",
            "message": {"text": f"not checked: the file is {item.reason}"},
            "descriptor": {"id": item.setting},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": artifact_uri(item.path, base),
                            "uriBaseId": SRCROOT,
                        }
                    }
                }
            ],
        }
        for item in skipped
    ]


def to_sarif(
    diagnostics: Sequence[Diagnostic],
    base: Path | None = None,
    not_checked: Sequence[NotChecked] = (),
) -> dict[str, Any]:
    from torchlint.registry import all_rules

    base = base or Path.cwd()
    rules = list(all_rules())
    index = {rule.code: position for position, rule in enumerate(rules)}
    root_uri = base.resolve().as_uri().rstrip("/") + "/"
    sarif = {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": information_uri(),
                        "rules": [_rule_descriptor(rule) for rule in rules],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
                "columnKind": "unicodeCodePoints",
                "results": [_result(d, index, base) for d in diagnostics],
            }
        ],
    }
    if not_checked:  # only then: the output of a run that checked everything is unchanged
        sarif["runs"][0]["invocations"] = [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": _not_checked(not_checked, base),
            }
        ]
    return sarif


def write_sarif(
    diagnostics: Sequence[Diagnostic],
    out: TextIO,
    color: bool,
    unsafe: bool = False,
    not_checked: Sequence[NotChecked] = (),
) -> None:
    json.dump(to_sarif(diagnostics, not_checked=not_checked), out, indent=2, ensure_ascii=False)
    out.write("\n")
