"""Jupyter notebooks: lint and fix the code cells of an ``.ipynb`` file.

**What is linted.** The code cells of a Python notebook, joined in order into one virtual
module (so an import in the first cell resolves names in the tenth, as in the kernel),
with a boundary statement (a bare name at column 0) after each cell. Being a statement, it
ends the run of leading imports, so the imports a fix needs go after the leading imports
(and magics) of the first code cell, never into a later one. If that module does not parse, each cell is linted on
its own instead, so one broken cell does not hide the others. A cell that does not parse
because it is an exercise blank (``lr = `` with nothing after it, a ``def`` with no body,
``model = ???``)
or because it is indented as a whole (IPython strips that indentation) is not linted and
not reported: it is not a syntax error the notebook's author would fix. Markdown and raw cells,
cells run by a non-Python cell magic (``%%bash``, ``%%writefile``...), cells of shell
commands that do not parse as Python (``ls /content``, ``$ docker run ...``: IPython
automagic, or commands shown for a terminal) and notebooks whose kernel language is not
Python are skipped.

**Locations.** ``Diagnostic.cell`` is the 1-based index of the cell among *all* cells of
the notebook (markdown included), which is the number VS Code shows and the index into
the file's ``cells`` array; line and column are relative to that cell.

**IPython syntax.** Line magics (``%time``, ``%matplotlib inline``), shell escapes
(``!pip install``), assignments from them (``files = !ls``), help (``model?``, ``??f``) and
the first line of a Python-bodied cell magic (``%%time``, ``%%capture``...) are replaced,
for linting only, by a placeholder statement at the same indentation, so the cell still
parses and nothing is reported on them. The placeholder is an import of a name nobody uses
(``import _torchlint_magic_N_``): like a magic, it may sit anywhere a statement can, it has
no effect on any rule, and the imports a fix adds go after leading magics as they go after
leading imports (so never above a ``%%capture`` line, which must stay first in its cell).
A line is a magic only where a logical line starts: inside open brackets, a string or
after a backslash it continues Python (``% (epoch, loss))``), as IPython reads it.
``get_ipython()`` is plain Python and is linted as such. The placeholders are never written.

**One pipeline.** This module only turns cells into code and code back into cells
(``NotebookSource``); the runner lints and fixes that code as it does a file, so it imports
this module and never the other way round.

**Fixing.** Only the ``source`` of code cells that a fix changed is rewritten, spliced into
the original text of the file: outputs, metadata, key order, indentation, the final newline
and the ``ensure_ascii`` style of the file stay byte-identical.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import keyword
import re
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from json.decoder import scanstring
from typing import Any

from torchlint.diagnostics import Diagnostic, Edit, Fix, Location

NOTEBOOK_SUFFIX = ".ipynb"
BOUNDARY = "_torchlint_cell_boundary_5f0c2a_"
PLACEHOLDER = "import _torchlint_magic_{}_"
_PLACEHOLDER = re.compile(r"^[ \t]*import _torchlint_magic_(\d+)_[ \t]*$")
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})

_LINE_MAGIC = re.compile(r"^[ \t]*[%!]")
_ASSIGN_MAGIC = re.compile(
    r"^[ \t]*[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*[%!]"
)
_HELP = re.compile(r"^[ \t]*(?:\?{1,2}[\w.*\[\]]+\?{0,2}|[\w.*\[\]()]+\?{1,2})[ \t]*$")
_INDENT = re.compile(r"^[ \t]*")


class NotebookError(Exception):
    """A file that is not a notebook we can read; reported as one line."""


# --- JSON with positions -------------------------------------------------------------------


@dataclass
class JsonNode:
    """A JSON value, its Python value and its span ``text[start:end]`` in the file."""

    value: Any
    start: int
    end: int
    items: list[JsonNode] | None = None  # arrays
    members: dict[str, JsonNode] | None = None  # objects


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


class _JsonParser:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, what: str, at: int) -> NotebookError:
        line = self.text.count("\n", 0, at) + 1
        return NotebookError(f"not valid JSON: {what} at line {line}")

    def skip(self, index: int) -> int:
        return _WS.match(self.text, index).end()  # type: ignore[union-attr]

    def parse(self) -> JsonNode:
        node = self.value(0)
        if self.skip(node.end) != len(self.text):
            raise self.fail("extra data", node.end)
        return node

    def value(self, index: int) -> JsonNode:
        text = self.text
        index = self.skip(index)
        char = text[index : index + 1]
        if char == '"':
            try:
                string, end = scanstring(text, index + 1, True)
            except ValueError as error:
                raise self.fail("bad string", index) from error
            return JsonNode(string, index, end)
        if char == "{":
            return self.object(index)
        if char == "[":
            return self.array(index)
        for word, literal in _LITERALS.items():
            if text.startswith(word, index):
                return JsonNode(literal, index, index + len(word))
        match = _NUMBER.match(text, index)
        if match and match.end() > index:
            raw = match.group()
            number = float(raw) if any(c in raw for c in ".eE") else int(raw)
            return JsonNode(number, index, match.end())
        raise self.fail("unexpected character" if char else "unexpected end", index)

    def array(self, start: int) -> JsonNode:
        items: list[JsonNode] = []
        index = self.skip(start + 1)
        if self.text.startswith("]", index):
            return JsonNode([], start, index + 1, items=items)
        while True:
            item = self.value(index)
            items.append(item)
            index = self.skip(item.end)
            char = self.text[index : index + 1]
            if char == "]":
                return JsonNode([i.value for i in items], start, index + 1, items=items)
            if char != ",":
                raise self.fail("expected ',' or ']'", index)
            index += 1

    def object(self, start: int) -> JsonNode:
        members: dict[str, JsonNode] = {}
        index = self.skip(start + 1)
        if self.text.startswith("}", index):
            return JsonNode({}, start, index + 1, members=members)
        while True:
            key = self.value(index)
            if not isinstance(key.value, str) or key.items is not None or key.members is not None:
                raise self.fail("expected a key", key.start)
            index = self.skip(key.end)
            if not self.text.startswith(":", index):
                raise self.fail("expected ':'", index)
            member = self.value(index + 1)
            members[key.value] = member
            index = self.skip(member.end)
            char = self.text[index : index + 1]
            if char == "}":
                value = {k: v.value for k, v in members.items()}
                return JsonNode(value, start, index + 1, members=members)
            if char != ",":
                raise self.fail("expected ',' or '}'", index)
            index = self.skip(index + 1)


def parse_json(text: str) -> JsonNode:
    return _JsonParser(text).parse()


# --- The notebook model -------------------------------------------------------------------


@dataclass
class Cell:
    index: int  # 1-based among all cells
    source: str
    node: JsonNode  # the "source" value
    lint: bool


@dataclass
class Notebook:
    text: str
    cells: list[Cell]
    python: bool
    ensure_ascii: bool

    @property
    def code_cells(self) -> list[Cell]:
        return [cell for cell in self.cells if cell.lint] if self.python else []


_HIGH_ESCAPE = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)


def _is_python(metadata: Any) -> bool:
    if not isinstance(metadata, dict):
        return True
    for key, inner in (("kernelspec", "language"), ("language_info", "name")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(inner), str):
            return section[inner].lower() in {"python", "python3", "ipython", "ipython3"}
    return True


def _cell_magic(source: str) -> str | None:
    first = source.split("\n", 1)[0]
    if first.startswith("%%"):
        name = first[2:].split(None, 1)
        return name[0] if name else ""
    return None


def parse_notebook(text: str) -> Notebook:
    root = parse_json(text)
    if root.members is None or "cells" not in root.members:
        raise NotebookError("not a notebook (no `cells`; only nbformat 4 is supported)")
    cells_node = root.members["cells"]
    if cells_node.items is None:
        raise NotebookError("not a notebook (`cells` is not a list)")
    cells = []
    for position, node in enumerate(cells_node.items, start=1):
        if node.members is None or "source" not in node.members:
            raise NotebookError(f"cell {position} has no `source`")
        source_node = node.members["source"]
        value = source_node.value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            source = "".join(value)
        elif isinstance(value, str):
            source = value
        else:
            raise NotebookError(f"cell {position}: `source` is not text")
        magic = _cell_magic(source)
        lint = (
            node.value.get("cell_type") == "code"
            and (magic is None or magic in PYTHON_CELL_MAGICS)
            and not is_shell_cell(source)
        )
        cells.append(Cell(position, source, source_node, lint))
    ensure_ascii = text.isascii() and bool(_HIGH_ESCAPE.search(text))
    return Notebook(text, cells, _is_python(root.value.get("metadata")), ensure_ascii)


def read_notebook(path: str, text: str) -> Notebook:
    try:
        return parse_notebook(text)
    except NotebookError as error:
        raise NotebookError(f"{path}: {error}") from None
    except RecursionError:
        raise NotebookError(f"{path}: not a notebook (JSON nested too deeply)") from None


# --- IPython syntax ------------------------------------------------------------------------

# A shell command line: an optional `$ ` prompt, a command word (`ls`, `docker-compose`,
# `./run.sh`), whitespace, then an argument that cannot continue a Python expression.
_SHELL_LINE = re.compile(
    r"^[ \t]*(?:\$[ \t]+)?[A-Za-z_.~/][\w.~/-]*(?:[ \t]+[\w\-$~/.\"':@{&|;<>]\S*)+[ \t]*\\?$"
)
# Words that start Python (or Python 2) statements: a line starting with one is code.
_PYTHON_WORDS = frozenset({*keyword.kwlist, *keyword.softkwlist, "print", "exec"})


def is_shell_cell(source: str) -> bool:
    """A code cell of shell commands (`ls /content`, `$ docker run ...`, `cd efs`): IPython
    runs the first kind as automagic, and tutorials show the others for a terminal. Every
    line must look like a command and the cell must not parse as Python; such a cell is
    not linted (its syntax error is not the notebook's)."""
    lines = [
        line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        return False
    continued = False
    for number, line in enumerate(lines):
        # a line after a trailing backslash continues the command, and so does an option or
        # a path on a later line of a command shown for a terminal (`    --nnodes=1`)
        continued = continued or (number > 0 and line.lstrip()[:1] in ("-", "/", "$", "~"))
        if not continued:
            if not _SHELL_LINE.match(line):
                return False
            if line.strip().removeprefix("$").split(None, 1)[0] in _PYTHON_WORDS:
                return False
        continued = line.rstrip().endswith("\\")
    try:
        ast.parse(source)
    except SyntaxError:
        return True
    return False


def _is_magic(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return False
    return bool(_LINE_MAGIC.match(line) or _ASSIGN_MAGIC.match(line) or _HELP.match(line))


def _string_interior_lines(text: str) -> set[int]:
    """1-based lines whose start lies inside a multi-line string."""
    inside: set[int] = set()
    starts: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            name = tokenize.tok_name.get(token.type, "")
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
            elif name == "FSTRING_START":
                starts.append(token.start[0])
            elif name == "FSTRING_END" and starts:
                first = starts.pop()
                inside.update(range(first + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return inside


class _LogicalLines:
    """Where the Python lines of a cell leave off: how many brackets are open, the quote of
    a string still open, and whether the last line ended with a backslash. A line read
    while any of these holds continues a logical line, so it is not a magic, whatever it
    starts with. An estimate for code that may not parse: it follows quotes, brackets and
    comments, nothing else."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""
        self.backslash = False

    @property
    def continues(self) -> bool:
        return bool(self.depth or self.quote or self.backslash)

    def read(self, line: str) -> None:
        index, end = 0, len(line)
        commented = False
        while index < end:
            char = line[index]
            if self.quote:
                if char == "\\":
                    index += 2
                    continue
                if line.startswith(self.quote, index):
                    index += len(self.quote)
                    self.quote = ""
                    continue
                index += 1
                continue
            if char == "#":
                commented = True
                break
            if char in "'\"":
                triple = line[index : index + 3]
                self.quote = triple if triple in ('"""', "'''") else char
                index += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(self.depth - 1, 0)
            index += 1
        self.backslash = line.endswith("\\") and not commented and len(self.quote) != 3
        if len(self.quote) == 1 and not self.backslash:
            self.quote = ""  # a one-quote string ends with its line (or is an error there)


def mask_magics(source: str, counter: list[int], originals: dict[int, str]) -> str:
    """``source`` with IPython-only lines replaced by numbered placeholders (recorded).
    A cell that parses as Python has none: a line starting with ``%`` there continues an
    expression (``"%d items"\n    % (n,)`` inside brackets)."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    else:
        return source
    lines = source.splitlines(keepends=True)
    masked: list[str] = []
    replaced: dict[int, int] = {}  # 0-based line -> placeholder number
    continuation_indent: str | None = None
    python = _LogicalLines()
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        first_cell_magic = number == 0 and body.startswith("%%")
        if continuation_indent is None and not first_cell_magic and python.continues:
            # inside open brackets, a string or after a backslash: `% (epoch, loss))`
            # continues a Python expression; IPython reads a magic only where a line starts
            python.read(body)
            masked.append(line)
        elif continuation_indent is not None or first_cell_magic or _is_magic(body):
            indent = continuation_indent
            if indent is None:
                indent = _INDENT.match(body).group()  # type: ignore[union-attr]
            key = counter[0]
            counter[0] += 1
            originals[key] = body
            replaced[number] = key
            masked.append(indent + PLACEHOLDER.format(key) + line[len(body) :])
            continuation_indent = indent if body.endswith("\\") and not first_cell_magic else None
        else:
            python.read(body)
            masked.append(line)
    if replaced:
        interior = _string_interior_lines("".join(masked))
        for number, key in replaced.items():
            if number + 1 in interior:  # a line of a multi-line string, not a magic
                masked[number] = lines[number]
                del originals[key]
    return "".join(masked)


def unmask_magics(source: str, originals: dict[int, str], seen: set[int]) -> str:
    lines = source.splitlines(keepends=True)
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        match = _PLACEHOLDER.match(body)
        if match and int(match.group(1)) in originals and int(match.group(1)) not in seen:
            key = int(match.group(1))
            seen.add(key)
            out.append(originals[key] + line[len(body) :])
        else:
            out.append(line)
    return "".join(out)


# --- Virtual modules -----------------------------------------------------------------------


@dataclass
class _Virtual:
    """Some code cells joined into one module, with what it takes to split them again."""

    cells: list[Cell]
    text: str
    originals: dict[int, str] = field(default_factory=dict)
    added_newline: dict[int, bool] = field(default_factory=dict)  # cell index -> we added "\n"


def _build(cells: Sequence[Cell]) -> _Virtual:
    counter = [0]
    virtual = _Virtual(list(cells), "")
    parts = []
    for cell in cells:
        masked = mask_magics(cell.source, counter, virtual.originals)
        added = bool(masked) and not masked.endswith(("\n", "\r"))
        virtual.added_newline[cell.index] = added
        parts.append(masked + ("\n" if added else "") + BOUNDARY + "\n")
    virtual.text = "".join(parts)
    return virtual


@dataclass(frozen=True)
class _Span:
    cell: Cell
    first_line: int  # 1-based line of the virtual text where the cell starts
    offset: int  # offset of the cell's start in the virtual text


def _spans(virtual: _Virtual, text: str) -> list[_Span] | None:
    """Where each cell starts in ``text`` (the virtual module, maybe fixed); None if mangled."""
    spans = [_Span(virtual.cells[0], 1, 0)] if virtual.cells else []
    line, offset = 1, 0
    for raw in text.splitlines(keepends=True):
        line += 1
        offset += len(raw)
        if raw.rstrip("\r\n") == BOUNDARY:
            if len(spans) < len(virtual.cells):
                spans.append(_Span(virtual.cells[len(spans)], line, offset))
            else:
                spans.append(_Span(virtual.cells[-1], line, offset))  # the final boundary
    return spans[: len(virtual.cells)] if len(spans) == len(virtual.cells) + 1 else None


def _split(virtual: _Virtual, text: str) -> list[str] | None:
    """The cells' sources out of a (fixed) virtual module, magics restored."""
    chunks: list[list[str]] = [[]]
    for raw in text.splitlines(keepends=True):
        if raw.rstrip("\r\n") == BOUNDARY:
            chunks.append([])
        else:
            chunks[-1].append(raw)
    if len(chunks) != len(virtual.cells) + 1 or chunks[-1]:
        return None
    seen: set[int] = set()
    sources = []
    for cell, chunk in zip(virtual.cells, chunks, strict=False):
        source = unmask_magics("".join(chunk), virtual.originals, seen)
        if virtual.added_newline[cell.index] and source.endswith("\n"):
            source = source[:-1]
        sources.append(source)
    if seen != set(virtual.originals):
        return None
    return sources


def _locate(spans: list[_Span], line: int) -> _Span:
    found = spans[0]
    for span in spans:
        if span.first_line <= line:
            found = span
        else:
            break
    return found


def _shift(location: Location | None, span: _Span) -> Location | None:
    if location is None:
        return None
    return Location(max(location.line - span.first_line + 1, 1), location.column)


def _map_diagnostic(d: Diagnostic, spans: list[_Span]) -> Diagnostic:
    span = _locate(spans, d.start.line)
    fix = d.fix
    if fix is not None:
        edits = tuple(
            Edit(
                e.start - span.offset,
                e.end - span.offset,
                e.content,
                _shift(e.start_location, span),
                _shift(e.end_location, span),
            )
            for e in fix.edits
        )
        fix = Fix(fix.applicability, edits, fix.message, fix.preamble)
    return replace(
        d,
        start=_shift(d.start, span),
        end=_shift(d.end, span),
        start_offset=d.start_offset - span.offset,
        end_offset=d.end_offset - span.offset,
        fix=fix,
        cell=span.cell.index,
    )


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _groups(notebook: Notebook) -> list[_Virtual]:
    """One virtual module of all code cells.

    If that does not parse, the cells that do not parse on their own are linted alone (for
    their TL000; not exercise blanks, nor cells IPython runs after removing their leading
    indent) and the others together; if even those do not parse together, each alone.
    """
    cells = notebook.code_cells
    if not cells:
        return []
    whole = _build(cells)
    if _parses(whole.text):
        return [whole]
    alone = {cell.index: _build([cell]) for cell in cells}
    good = [cell for cell in cells if _parses(alone[cell.index].text)]
    good_indexes = {cell.index for cell in good}
    groups = [
        alone[cell.index]
        for cell in cells
        if cell.index not in good_indexes
        and not left_to_complete(alone[cell.index].text)
        and not _runs_in_ipython(alone[cell.index].text)
    ]
    if good:
        rest = _build(good)
        groups[:0] = [rest] if _parses(rest.text) else [alone[cell.index] for cell in good]
    return groups


# `model = ???`, `SGD(???)`, `for ??? in loader:`: a blank that a template notebook leaves
# for the reader. Three or more question marks, which no Python or IPython syntax uses.
_QUESTION_BLANK = re.compile(r"\?{3,}")


def left_to_complete(code: str) -> bool:
    """A cell that stops parsing where the reader is to write code: an assignment with no
    value (``criterion = # TODO``, ``lr = ``, ``x = pass``), a block with no body (``def loss(out):``
    and a comment) or ``???`` where an expression or a name goes (``model = ???``,
    ``for ??? in loader:``), so that the cell parses once each ``???`` is a name. Exercise
    notebooks leave such blanks on purpose; they are not errors to report, and the cell
    cannot be linted until it is filled in."""
    if "???" in code:
        filled = _QUESTION_BLANK.sub("_", code)
        if _parses(filled) or left_to_complete(filled):
            return True
    try:
        ast.parse(code)
    except SyntaxError as error:
        if error.msg.startswith("expected an indented block"):
            return True
        lines = code.splitlines()
        line = lines[error.lineno - 1] if error.lineno and error.lineno <= len(lines) else ""
        statement = line.split("#", 1)[0].rstrip().removesuffix(" pass")  # `x = pass`
        return (
            statement.endswith("=")
            and not statement.endswith(("==", "<=", ">=", "!="))
            and bool(statement[:-1].strip())
        )
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def _runs_in_ipython(code: str) -> bool:
    """Whether ``code``, which does not parse, runs in IPython all the same: IPython drops
    leading blank lines and removes the first line's indentation from every line that
    starts with it (its ``leading_indent`` transform), so a cell pasted with one space in
    front runs. Such a cell is not linted (its columns would not be the file's) and is not
    a syntax error."""
    lines = code.splitlines(keepends=True)
    while lines and not lines[0].strip():
        lines.pop(0)
    space = _INDENT.match(lines[0]).group() if lines else ""  # type: ignore[union-attr]
    if not space:
        return False
    return _parses(
        "".join(line[len(space) :] if line.startswith(space) else line for line in lines)
    )


def _map_all(
    path: str, virtual: _Virtual, text: str, diagnostics: list[Diagnostic]
) -> list[Diagnostic]:
    spans = _spans(virtual, text)
    if spans is None:  # cannot happen for a text we built; be safe
        return diagnostics
    return [_map_diagnostic(d, spans) for d in diagnostics]


# --- The notebook as a source: code in, cells out ----------------------------------------


class NotebookSource:
    """A notebook as the runner lints and fixes it, like a file: ``modules`` are the texts
    to lint (one per virtual module); ``located`` maps what is found in one back onto its
    cells; ``update`` takes a fixed text of one; ``text`` and ``diff`` give the result."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.notebook = read_notebook(path, text)
        self._groups = _groups(self.notebook)
        self.modules = [virtual.text for virtual in self._groups]
        self._sources: dict[int, str] = {}
        self._changed: dict[int, tuple[str, str]] = {}

    def located(self, index: int, text: str, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
        """``diagnostics`` found in ``text`` (module ``index``, maybe fixed), on their cells."""
        return _map_all(self.path, self._groups[index], text, diagnostics)

    def update(self, index: int, text: str) -> bool:
        """Take the fixed ``text`` of module ``index``; False if a fix moved a cell boundary
        or an IPython line (then nothing of it is taken)."""
        virtual = self._groups[index]
        sources = _split(virtual, text)
        if sources is None:
            return False
        for cell, source in zip(virtual.cells, sources, strict=False):
            if source != cell.source:
                self._sources[cell.index] = source
                self._changed[cell.index] = (cell.source, source)
        return True

    def text(self) -> str:
        """The file text with the updated cells spliced in."""
        if not self._sources:
            return self.notebook.text
        return splice_sources(self.notebook, self._sources)

    def diff(self) -> str:
        return cell_diff(self.path, self._changed)


# --- Writing cells back --------------------------------------------------------------------


def _dumps(value: str, ensure_ascii: bool) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii)


def encode_source(text: str, node: JsonNode, source: str, ensure_ascii: bool) -> str:
    """The JSON for a cell's new ``source``, laid out like the value it replaces."""
    if node.items is None:
        return _dumps(source, ensure_ascii)
    lines = source.splitlines(keepends=True)  # as nbformat splits them
    if not lines:
        return "[]"
    items = node.items
    if items:
        open_ws = text[node.start + 1 : items[0].start]
        close_ws = text[items[-1].end : node.end - 1]
        if len(items) >= 2:
            separator = text[items[0].end : items[1].start]
        else:
            separator = "," + open_ws if "\n" in open_ws else ", "
    else:
        line_start = text.rfind("\n", 0, node.start) + 1
        indent = _INDENT.match(text, line_start).group()  # type: ignore[union-attr]
        open_ws, close_ws = "\n" + indent + " ", "\n" + indent
        separator = "," + open_ws
    body = separator.join(_dumps(line, ensure_ascii) for line in lines)
    return f"[{open_ws}{body}{close_ws}]"


def splice_sources(notebook: Notebook, sources: dict[int, str]) -> str:
    """The file text with the ``source`` of the given cells replaced; the rest untouched."""
    text = notebook.text
    parts = []
    position = 0
    for cell in notebook.cells:
        if cell.index not in sources:
            continue
        node = cell.node
        parts.append(text[position : node.start])
        parts.append(encode_source(text, node, sources[cell.index], notebook.ensure_ascii))
        position = node.end
    parts.append(text[position:])
    return "".join(parts)


def cell_diff(path: str, changed: dict[int, tuple[str, str]]) -> str:
    out = []
    for index in sorted(changed):
        before, after = changed[index]
        if not before.endswith("\n"):
            before += "\n"
        if not after.endswith("\n"):
            after += "\n"
        out.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"a/{path}:cell {index}",
                tofile=f"b/{path}:cell {index}",
            )
        )
    return "".join(out)


# --- Rewriting cells from a whole-module transform ----------------------------------------


def transform_cells(
    path: str,
    text: str,
    transform: Callable[[str, list[Diagnostic]], str],
    diagnostics: Sequence[Diagnostic],
) -> str:
    """Apply a source-to-source ``transform`` to the virtual module(s) of a notebook.

    ``transform`` receives the virtual text and the diagnostics re-mapped onto it (used by
    ``--add-noqa``); the result is split back into cells and spliced into the file text.
    """
    notebook = read_notebook(path, text)
    new_sources: dict[int, str] = {}
    for virtual in _groups(notebook):
        spans = _spans(virtual, virtual.text) or []
        by_cell = {span.cell.index: span for span in spans}
        local = []
        for d in diagnostics:
            span = by_cell.get(d.cell or -1)
            if span is None:
                continue
            local.append(
                replace(
                    d,
                    start=Location(d.start.line + span.first_line - 1, d.start.column),
                    end=Location(d.end.line + span.first_line - 1, d.end.column),
                    cell=None,
                )
            )
        if not local:
            continue
        new_text = transform(virtual.text, local)
        sources = _split(virtual, new_text)
        if sources is None:
            raise NotebookError(f"{path}: could not rewrite the cells")
        for cell, source in zip(virtual.cells, sources, strict=False):
            if source != cell.source:
                new_sources[cell.index] = source
    return splice_sources(notebook, new_sources) if new_sources else text


def is_notebook(path: str) -> bool:
    return path.lower().endswith(NOTEBOOK_SUFFIX)
