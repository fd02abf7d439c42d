"""Positions the way LSP counts them: 0-based lines, columns in the negotiated code units.

The engine speaks 1-based lines and 1-based code-point columns; clients count UTF-16 code
units by default (an emoji is two), UTF-8 bytes or code points when they negotiate so.
Lines end at ``\\r\\n``, ``\\n`` or ``\\r``, as in both LSP and the engine.
"""

from __future__ import annotations

from lsprotocol import types

from torchlint.diagnostics import Location
from torchlint.positions import LineIndex


def _units(text: str, encoding: str) -> int:
    if text.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


class Positions:
    """Converts between the engine's locations and offsets and LSP positions for one text."""

    def __init__(self, text: str, encoding: str = types.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        self.lines = LineIndex(text)
        # Columns count as code units when the text is ASCII (or units are code points):
        # then a position needs no copy of its line (a long line with thousands of
        # findings would be copied once per finding).
        self._plain = encoding == types.PositionEncodingKind.Utf32 or text.isascii()

    def line_text(self, line: int) -> str:
        """The 1-based line's text without its ending ('' past the end)."""
        return self.lines.line_text(self.text, line)

    def position(self, location: Location) -> types.Position:
        """An engine location (clamped to the text) as an LSP position."""
        line = min(max(location.line, 1), len(self.lines.starts))
        if self._plain:
            return types.Position(line - 1, min(max(location.column - 1, 0), self._length(line)))
        text = self.line_text(line)
        column = min(max(location.column - 1, 0), len(text))
        return types.Position(line - 1, _units(text[:column], self.encoding))

    def _length(self, line: int) -> int:
        """The 1-based line's length without its ending, without copying it."""
        starts = self.lines.starts
        start = starts[line - 1]
        end = starts[line] if line < len(starts) else len(self.text)
        while end > start and self.text[end - 1] in "\r\n":
            end -= 1
        return end - start

    def position_at(self, offset: int) -> types.Position:
        return self.position(Location(*self.lines.line_col(max(0, min(offset, len(self.text))))))

    def range(self, start: Location, end: Location) -> types.Range:
        return types.Range(self.position(start), self.position(end))

    def offset(self, location: Location) -> int:
        """The character offset of an engine location (clamped to its line)."""
        line = min(max(location.line, 1), len(self.lines.starts))
        column = min(max(location.column - 1, 0), len(self.line_text(line)))
        return self.lines.line_start(line) + column

    def location(self, position: types.Position) -> Location:
        """An LSP position (clamped to the text) as an engine location."""
        line = min(max(position.line + 1, 1), len(self.lines.starts))
        text = self.line_text(line)
        column = 0
        units = 0
        while column < len(text) and units < position.character:
            units += _units(text[column], self.encoding)
            column += 1
        return Location(line, column + 1)
