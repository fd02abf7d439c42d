"""Output formats, one module each; ``FORMATS`` maps a format name to its writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from torchlint.diagnostics import Diagnostic
from torchlint.report import github, json_format, sarif, text

# (diagnostics, stream, color, unsafe fixes enabled: what the `[*]` marker counts)
Writer = Callable[[Sequence[Diagnostic], TextIO, bool, bool], None]

FORMATS: dict[str, Writer] = {
    "full": text.write_full,
    "concise": text.write_concise,
    # `rules --output-format text` exists, and ruff once called its one-line output `text`:
    # the same word gives the same one line per diagnostic here.
    "text": text.write_concise,
    "json": json_format.write_json,
    "json-lines": json_format.write_json_lines,
    "github": github.write_github,
    "sarif": sarif.write_sarif,
}
