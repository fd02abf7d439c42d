"""The data that flows out of the engine: diagnostics, fixes and the edits they are made of."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchlint.positions import LineIndex


class Applicability(enum.Enum):
    """How far a fix can be trusted (ruff's model)."""

    SAFE = "safe"  # keeps the exact meaning: applied by `fix`
    UNSAFE = "unsafe"  # changes behaviour on purpose: needs `--unsafe-fixes`
    DISPLAY = "display-only"  # shown as a hint, never applied


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based line and 1-based column."""

    line: int
    column: int


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the characters ``source[start:end]`` with ``content`` (offsets into decoded text)."""

    start: int
    end: int
    content: str
    start_location: Location | None = field(default=None, compare=False)
    end_location: Location | None = field(default=None, compare=False)

    def located(self, lines: LineIndex) -> Edit:
        return Edit(
            self.start,
            self.end,
            self.content,
            Location(*lines.line_col(self.start)),
            Location(*lines.line_col(self.end)),
        )


@dataclass(frozen=True)
class Fix:
    """A set of edits that must be applied together, plus the module-level lines (imports) they need."""

    applicability: Applicability
    edits: tuple[Edit, ...]
    message: str
    preamble: tuple[str, ...] = ()  # module-level lines (imports first) the fix needs


@dataclass(frozen=True)
class Diagnostic:
    """One finding in one file."""

    path: str
    start: Location
    end: Location
    code: str
    name: str
    message: str
    fix: Fix | None = None
    start_offset: int = 0
    end_offset: int = 0
    cell: int | None = field(default=None, compare=False)
    # What the `full` format shows of the start line (an excerpt of a long line: see
    # `LineIndex.shown_line`), and how many columns of the line it leaves out at its start.
    source_line: str = field(default="", compare=False)
    line_shift: int = field(default=0, compare=False)

    @property
    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.start.line, self.start.column, self.code)

    def fix_applies(self, unsafe: bool) -> bool:
        """Would ``torchlint fix`` apply this fix (``unsafe``: unsafe fixes are enabled)?

        The fixer's test, and what the ``[*]`` marker means (as in ruff: not merely that
        some fix exists).
        """
        if self.fix is None:
            return False
        kind = self.fix.applicability
        return kind is Applicability.SAFE or (unsafe and kind is Applicability.UNSAFE)
