"""Wrapping the lines a fix made too long, the way ``ruff format`` (and black) would.

A fix that adds an argument (``num_workers=...``, ``map_location=device``) or a longer
device (``.to(device, non_blocking=True)``) can push a line past the project's line length.
The fixer then rewraps that one logical line, as the formatter the project runs would: split
at the last bracket whose opening part fits (a "right-hand split"), put the contents on one
indented line if they fit, else one element per line with a trailing comma; a bare tuple on
the right of ``=`` or ``return``, and the names of ``from m import a, b``, get the
parentheses the formatter adds. Only lines that are new (a fix wrote them) and too long are
touched; a trailing comment ends the last line, as the formatter puts it. A line with a
comment inside its brackets, or a suppression (`# noqa`) or type comment at its end that
must stay on the line it is about, or that the formatter could not shorten either, is left as
it is.

The line length comes from the project: ``line-length`` of ``[tool.ruff]`` (or ``ruff.toml``)
or ``[tool.black]``, else 88, the default of both.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from torchlint.diagnostics import Edit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from torchlint.config import Settings

DEFAULT_LINE_LENGTH = 88
# Trailing comments that speak about their own line: a wrapped statement would move them.
_PRAGMA = re.compile(r"noqa|type:|pragma|pylint:|pyright:|fmt:|torchlint:|isort:", re.I)
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
_SKIPPED = frozenset(
    {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)
# Keywords after which a bracket opens a collection, not a call or a subscript.
_KEYWORDS = frozenset(
    {"return", "in", "and", "or", "not", "if", "else", "yield", "await", "lambda", "is",
     "for", "from", "import", "assert", "del", "with", "as", "elif", "while", "raise"}
)  # fmt: skip


# --- the project's line length ----------------------------------------------------------


def line_length(settings: Settings) -> int:
    """``line-length`` from the project's ruff or black settings, else 88."""
    candidates = []
    if settings.config_file is not None:
        candidates.append(Path(settings.config_file))
    root = Path(settings.root)
    candidates += [root / "ruff.toml", root / ".ruff.toml", root / "pyproject.toml"]
    for path in candidates:
        found = _read_line_length(str(path))
        if found is not None:
            return found
    return DEFAULT_LINE_LENGTH


@lru_cache(maxsize=64)
def _read_line_length(path: str) -> int | None:
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    if not path.endswith("pyproject.toml"):  # ruff.toml: the settings are at the top
        value = data.get("line-length")
        return value if isinstance(value, int) and value > 0 else None
    tool = data.get("tool", {})
    for section in ("ruff", "black"):
        table = tool.get(section, {})
        value = table.get("line-length") if isinstance(table, dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return None


# --- wrapping -----------------------------------------------------------------------------


class _Token(NamedTuple):
    string: str
    start: tuple[int, int]  # (row, col); row 0 for a token the wrapper adds
    end: tuple[int, int]
    type: int = tokenize.OP


def wrap_edits(
    text: str, original: str, limit: int, indent_unit: str = "    ", newline: str = "\n"
) -> list[Edit]:
    """Edits that rewrap each logical line of ``text`` having a physical line longer than
    ``limit`` that does not appear in ``original`` (a fix wrote it)."""
    old_lines = set(original.splitlines())
    lines = text.splitlines(keepends=True)
    long_rows = {
        row
        for row, line in enumerate(lines, 1)
        if len(line.rstrip("\r\n")) > limit and line.rstrip("\r\n") not in old_lines
    }
    if not long_rows:
        return []
    try:
        logical = _logical_lines(text)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    done: set[int] = set()
    for tokens in logical:
        first_row, last_row = tokens[0].start[0], tokens[-1].end[0]
        if not any(first_row <= row <= last_row for row in long_rows) or first_row in done:
            continue
        done.add(first_row)
        new = _wrap(tokens, lines, limit, indent_unit, newline)
        if new is None:
            continue
        start = offsets[first_row - 1] + tokens[0].start[1]
        end = offsets[last_row - 1] + tokens[-1].end[1]
        if text[start:end] != new:
            edits.append(Edit(start, end, new))
    return edits


def _logical_lines(text: str) -> list[list[_Token]]:
    """The tokens of each logical line (a statement, or a compound statement's header);
    a line with a comment inside it comes with the comment, to be left alone."""
    found: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if current:
                found.append(current)
            current = []
            continue
        if token.type in _SKIPPED or (token.type == tokenize.COMMENT and not current):
            continue  # a comment on a line of its own belongs to no statement
        current.append(_Token(token.string, token.start, token.end, token.type))
    if current:
        found.append(current)
    return found


def _wrap(
    tokens: list[_Token], lines: list[str], limit: int, unit: str, newline: str
) -> str | None:
    """The wrapped text of one logical line (from its first token to its last), or None."""
    if any(t.type == tokenize.COMMENT for t in tokens[:-1]):
        return None  # a comment inside the brackets: where would it go?
    if tokens[-1].type == tokenize.COMMENT and _PRAGMA.search(tokens[-1].string):
        return None  # a suppression or type comment must stay on the line it is about
    if any(t.type == tokenize.STRING and t.start[0] != t.end[0] for t in tokens):
        return None  # a string over several lines keeps its layout
    if any(t.type == tokenize.OP and t.string == ";" for t in tokens):
        return None
    first_line = lines[tokens[0].start[0] - 1]
    indent = first_line[: tokens[0].start[1]]
    if indent.strip():
        return None  # shares its line with something else (`x = 1; y = ...`, `if a: b`)
    tokens = _with_invisible_parens(tokens)
    renderer = _Renderer(lines, limit, unit)
    out = renderer.format(tokens, indent)
    if len(out) == 1:
        return None
    return newline.join(out)[len(indent) :]


def _synthetic(string: str) -> _Token:
    return _Token(string, (0, 0), (0, 0))


def _depth0(tokens: list[_Token]):  # type: ignore[no-untyped-def]
    """(index, token) of the tokens outside any bracket."""
    depth = 0
    for index, token in enumerate(tokens):
        if token.type == tokenize.OP and token.string in _OPENERS:
            depth += 1
            continue
        if token.type == tokenize.OP and token.string in _CLOSERS:
            depth -= 1
            continue
        if depth == 0:
            yield index, token


def _with_invisible_parens(tokens: list[_Token]) -> list[_Token]:
    """The parentheses the formatter adds: around a bare tuple after ``=`` / ``return``,
    and around the names of ``from m import a, b``."""
    top = list(_depth0(tokens))
    if tokens[0].string == "from" and tokens[0].type == tokenize.NAME:
        for index, token in top:
            if token.string == "import" and index + 1 < len(tokens):
                if tokens[index + 1].string == "(":
                    return tokens
                return [
                    *tokens[: index + 1],
                    _synthetic("("),
                    *tokens[index + 1 :],
                    _synthetic(")"),
                ]
        return tokens
    split = None
    if tokens[0].type == tokenize.NAME and tokens[0].string == "return":
        split = 0
    for index, token in top:
        if token.type == tokenize.OP and token.string == "=":
            split = index
    if split is None or split + 1 >= len(tokens):
        return tokens
    if not any(t.string == "," and i > split for i, t in top):
        return tokens
    return [*tokens[: split + 1], _synthetic("("), *tokens[split + 1 :], _synthetic(")")]


class _Renderer:
    def __init__(self, lines: list[str], limit: int, unit: str) -> None:
        self.lines = lines
        self.limit = limit
        self.unit = unit

    def _gap(self, a: _Token, b: _Token) -> str:
        synthetic = a.start[0] == 0 or b.start[0] == 0
        if b.type == tokenize.COMMENT:
            return "  "  # as the formatter writes a trailing comment
        if not synthetic and a.end[0] == b.start[0]:
            return self.lines[a.end[0] - 1][a.end[1] : b.start[1]]
        if b.string in _CLOSERS or b.string in (",", ":"):
            return ""
        if a.string in _OPENERS:
            return ""
        if b.string == "(" and a.type == tokenize.NAME and a.string not in _KEYWORDS:
            return ""
        return " "

    def render(self, tokens: list[_Token]) -> str:
        parts = []
        for index, token in enumerate(tokens):
            if index:
                parts.append(self._gap(tokens[index - 1], token))
            parts.append(token.string)
        return "".join(parts)

    def fits(self, text: str) -> bool:
        return len(text) <= self.limit

    def _pairs(self, tokens: list[_Token]) -> list[tuple[int, int]]:
        """Bracket pairs outside any other bracket of ``tokens``, with something inside."""
        pairs = []
        stack: list[int] = []
        for index, token in enumerate(tokens):
            if token.type != tokenize.OP:
                continue
            if token.string in _OPENERS:
                stack.append(index)
            elif token.string in _CLOSERS and stack:
                opened = stack.pop()
                if not stack and index > opened + 1:
                    pairs.append((opened, index))
        return pairs

    def _magic(self, body: list[_Token]) -> bool:
        return bool(body) and body[-1].string == "," and body[-1].start[0] != 0

    def format(self, tokens: list[_Token], indent: str) -> list[str]:
        flat = self.render(tokens)
        pairs = self._pairs(tokens)
        magic = any(self._magic(tokens[i + 1 : j]) for i, j in pairs)
        if (self.fits(indent + flat) and not magic) or not pairs:
            return [indent + flat]
        chosen = pairs[-1]
        for opened, closed in reversed(pairs):
            if self.fits(indent + self.render(tokens[: opened + 1])):
                chosen = (opened, closed)
                break
        opened, closed = chosen
        head, body, tail = tokens[: opened + 1], tokens[opened + 1 : closed], tokens[closed:]
        out = (
            self.format(head, indent)
            if not self.fits(indent + self.render(head))
            else [indent + self.render(head)]
        )
        out += self._body(body, indent + self.unit, self._collection(tokens, opened))
        tail_lines = self.format(tail, indent)
        out += tail_lines
        return out

    def _collection(self, tokens: list[_Token], opened: int) -> bool:
        """A tuple, list, set or dict display (not a call's or a subscript's brackets)."""
        if tokens[opened].string == "{":
            return True
        if opened == 0:
            return True
        before = tokens[opened - 1]
        if before.start[0] == 0:
            return False
        if before.type == tokenize.NAME:
            return before.string in _KEYWORDS
        return before.type == tokenize.OP and before.string not in _CLOSERS

    def _body(self, body: list[_Token], indent: str, collection: bool) -> list[str]:
        elements: list[list[_Token]] = [[]]
        depth = 0
        for token in body:
            if token.type == tokenize.OP and token.string in _OPENERS:
                depth += 1
            elif token.type == tokenize.OP and token.string in _CLOSERS:
                depth -= 1
            elements[-1].append(token)
            if depth == 0 and token.type == tokenize.OP and token.string == ",":
                elements.append([])
        magic = self._magic(body)
        if not elements[-1]:
            elements.pop()
        if len(elements) == 1 and not magic:
            flat = self.render(body)
            if self.fits(indent + flat):
                return [indent + flat]
            return self.format(body, indent)
        if not magic and not collection:
            flat = self.render(body)
            if self.fits(indent + flat):
                return [indent + flat]
        out = []
        for element in elements:
            if element[-1].string != ",":
                element = [*element, _synthetic(",")]
            out += self.format(element, indent)
        return out
