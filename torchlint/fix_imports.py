"""Where the imports a fix needs go, and which imports a fix left unused.

A fixed file should read as if a person had edited it: the names a pass adds from one module
are one ``from m import a, b`` line (merged into an existing line for that module); a new
line goes into the import block where isort would put it (standard library, third party,
first party, sorted by module); it never goes inside a ``try: ... except ImportError:``
guard; in a file that imports torch only inside functions it goes into the function the fix
is in; and an import whose last use a fix replaced is removed.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

from torchlint.diagnostics import Edit
from torchlint.names import Scope, is_docstring
from torchlint.positions import node_spans

STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class _Line:
    """One import line: ``import module`` (``names`` empty) or ``from module import names``."""

    module: str
    names: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        if not self.names:
            return f"import {self.module}"
        return f"from {self.module} import {', '.join(sorted(set(self.names)))}"

    @property
    def sort_key(self) -> tuple[int, bool, str]:
        return (_group(self.module), bool(self.names), self.module.lower())


def _group(module: str) -> int:
    """isort's sections: 0 standard library, 1 third party, 2 first party (relative)."""
    if module.startswith("."):
        return 2
    return 0 if module.split(".")[0] in STDLIB else 1


def _parse_line(line: str) -> _Line | None:
    try:
        statement = cst.parse_statement(line)
    except cst.ParserSyntaxError:
        return None
    small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else None
    if isinstance(small, cst.Import) and len(small.names) == 1 and small.names[0].asname is None:
        return _Line(_dotted(small.names[0].name))
    if (
        isinstance(small, cst.ImportFrom)
        and small.module is not None
        and not small.relative
        and not isinstance(small.names, cst.ImportStar)
        and all(alias.asname is None for alias in small.names)
    ):
        return _Line(_dotted(small.module), tuple(_dotted(a.name) for a in small.names))
    return None


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _statement_key(statement: cst.CSTNode) -> tuple[int, bool, str] | None:
    """The isort key of an import statement; None for anything else."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Import):
        module = _dotted(small.names[0].name)
        return (_group(module), False, module.lower())
    if isinstance(small, cst.ImportFrom):
        module = "." * len(small.relative) + (_dotted(small.module) if small.module else "")
        if module == "__future__":
            return None
        return (_group(module), True, module.lower())
    return None


def _is_future(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and isinstance(statement.body[0], cst.ImportFrom)
        and isinstance(statement.body[0].module, cst.Name)
        and statement.body[0].module.value == "__future__"
    )


def _binds(statements: Sequence[cst.CSTNode], line: _Line) -> bool:
    """Whether ``statements`` import everything ``line`` does, under the same names."""
    bound: set[str] = set()
    for statement in statements:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                bound.update(_dotted(a.name) for a in small.names if a.asname is None)
            elif (
                isinstance(small, cst.ImportFrom)
                and small.module is not None
                and not isinstance(small.names, cst.ImportStar)
            ):
                base = _dotted(small.module)
                bound.update(f"{base}:{_dotted(a.name)}" for a in small.names if a.asname is None)
    if not line.names:
        return line.module in bound
    return all(f"{line.module}:{name}" in bound for name in line.names)


# --- Adding imports ------------------------------------------------------------------------


def import_edits(
    source: str, module: cst.Module, requests: Sequence[tuple[str, int]]
) -> list[Edit]:
    """The edits that add the ``requests`` (line, offset of the fix that needs it), each once."""
    spans = node_spans(module)
    newline = module.default_newline
    local = _imports_torch_only_in_functions(module)
    targets: dict[int, tuple[cst.CSTNode | None, list[str]]] = {}
    for line, offset in requests:
        function = _enclosing_function(module, spans, offset) if local else None
        targets.setdefault(id(function), (function, []))[1].append(line)
    edits: list[Edit] = []
    for function, lines in targets.values():
        if function is None:
            edits.extend(_module_edits(source, module, spans, lines, newline))
        else:
            edits.extend(_function_edits(source, function, spans, lines, newline))
    return edits


def _wanted(
    lines: Sequence[str], statements: Sequence[cst.CSTNode], missing: object
) -> tuple[list[_Line], list[str]]:
    """The import lines still missing, one per module (names merged), and the other lines."""
    merged: dict[tuple[str, bool], _Line] = {}
    others: list[str] = []
    for text in lines:
        line = _parse_line(text)
        if line is None:
            if text not in others and not any(
                isinstance(s, cst.SimpleStatementLine)
                and cst.Module([]).code_for_node(s).strip() == text.strip()
                for s in statements
            ):
                others.append(text)
            continue
        if not missing(line):  # type: ignore[operator]
            continue
        key = (line.module, bool(line.names))
        old = merged.get(key)
        merged[key] = _Line(line.module, (old.names if old else ()) + line.names)
    return sorted(merged.values(), key=lambda line: line.sort_key), others


def _module_edits(
    source: str,
    module: cst.Module,
    spans: dict[int, tuple[int, int]],
    lines: Sequence[str],
    newline: str,
) -> list[Edit]:
    scope = Scope(module, None)
    body = list(module.body)

    def missing(line: _Line) -> bool:
        if not line.names:
            top = line.module.split(".")[0]
            return scope.resolve(top) != top
        return any(scope.resolve(n) != f"{line.module}.{n}" for n in line.names)

    imports, others = _wanted(lines, body, missing)
    return _block_edits(source, body, spans, imports, others, newline, "")


def _function_edits(
    source: str,
    function: cst.FunctionDef,
    spans: dict[int, tuple[int, int]],
    lines: Sequence[str],
    newline: str,
) -> list[Edit]:
    body = list(function.body.body) if isinstance(function.body, cst.IndentedBlock) else []
    if not body:
        return []
    imports, others = _wanted(lines, body, lambda line: not _binds(body, line))
    start = spans[id(body[0])][0]
    indent = source[source.rfind("\n", 0, start) + 1 : start]
    return _block_edits(source, body, spans, imports, others, newline, indent)


def _block_edits(
    source: str,
    body: list[cst.CSTNode],
    spans: dict[int, tuple[int, int]],
    imports: list[_Line],
    others: list[str],
    newline: str,
    indent: str,
) -> list[Edit]:
    """Merge each import into the block's line for its module, or insert it in isort order
    among the block's leading imports; other lines go after the imports."""
    index = 1 if body and is_docstring(body[0]) else 0
    while index < len(body) and _is_future(body[index]):
        index += 1
    first = index
    while index < len(body) and _statement_key(body[index]) is not None:
        index += 1
    block = body[first:index]
    after = body[first - 1] if first > 0 else None  # the docstring or __future__ import
    edits: list[Edit] = []
    inserts: dict[int, list[str]] = {}  # offset -> lines
    for line in imports:
        existing = _same_module(block, line)
        if existing is not None:
            edits.append(_merged(source, existing, spans, line))
            continue
        offset, text = _position(source, body, block, after, spans, indent + line.text, newline)
        inserts.setdefault(max(offset, _after_magics(source, block, spans)), []).append(text)
    if others:
        offset = _line_after(source, spans, block[-1] if block else after, body)
        inserts.setdefault(offset, []).extend(indent + line + newline for line in others)
    for offset, texts in inserts.items():
        lead = newline if offset == len(source) and not source.endswith(("\n", "\r")) else ""
        edits.append(Edit(offset, offset, lead * bool(source) + "".join(texts)))
    return edits


def _same_module(block: Sequence[cst.CSTNode], line: _Line) -> cst.SimpleStatementLine | None:
    if not line.names:
        return None
    for statement in block:
        small = statement.body[0]  # type: ignore[attr-defined]
        if (
            isinstance(small, cst.ImportFrom)
            and small.module is not None
            and not small.relative
            and _dotted(small.module) == line.module
            and not isinstance(small.names, cst.ImportStar)
        ):
            return statement  # type: ignore[return-value]
    return None


def _merged(
    source: str, statement: cst.SimpleStatementLine, spans: dict[int, tuple[int, int]], line: _Line
) -> Edit:
    small = statement.body[0]
    assert isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar)
    start, end = spans[id(small)]
    old = {cst.Module([]).code_for_node(alias).rstrip(", ").strip() for alias in small.names}
    names = sorted(old | set(line.names), key=lambda n: (n.split(" as ")[0], n))
    text = f"from {_dotted(small.module)} import "  # type: ignore[arg-type]
    joined = ", ".join(names)
    if len(text) + len(joined) > 88 or "\n" in source[start:end]:
        inner = "".join(f"    {n},\n" for n in names)
        return Edit(start, end, f"{text}(\n{inner})")
    return Edit(start, end, text + joined)


def _position(
    source: str,
    body: Sequence[cst.CSTNode],
    block: Sequence[cst.CSTNode],
    after: cst.CSTNode | None,
    spans: dict[int, tuple[int, int]],
    line: str,
    newline: str,
) -> tuple[int, str]:
    """Where the import ``line`` goes among the leading imports, and its text (with a blank
    line when it starts a new section)."""
    parsed = _parse_line(line.strip())
    key = parsed.sort_key if parsed else (1, True, line.strip())
    text = line + newline
    same = [s for s in block if _statement_key(s)[0] == key[0]]  # type: ignore[index]
    if same:
        before = [s for s in same if _statement_key(s) <= key]  # type: ignore[operator]
        if before:
            return _line_end(source, spans, before[-1]), text
        return _line_start(source, spans, same[0]), text
    earlier = [s for s in block if _statement_key(s)[0] < key[0]]  # type: ignore[index]
    if earlier:
        return _line_end(source, spans, earlier[-1]), newline + text
    if block:  # the first section: before the imports that follow
        return _line_start(source, spans, block[0]), text + newline
    return _line_after(source, spans, after, body), text


MAGIC = "_torchlint_magic_"  # a notebook's IPython line, masked (see notebook.py)


def _after_magics(
    source: str, block: Sequence[cst.CSTNode], spans: dict[int, tuple[int, int]]
) -> int:
    """New imports go below the leading IPython lines of a notebook, which stay first."""
    magics = [s for s in block if (_statement_key(s) or (0, 0, ""))[2].startswith(MAGIC)]
    return _line_end(source, spans, magics[-1]) if magics else 0


def _line_start(source: str, spans: dict[int, tuple[int, int]], node: cst.CSTNode) -> int:
    return source.rfind("\n", 0, spans[id(node)][0]) + 1


def _line_end(source: str, spans: dict[int, tuple[int, int]], node: cst.CSTNode) -> int:
    end = source.find("\n", max(spans[id(node)][1] - 1, 0))
    return len(source) if end == -1 else end + 1


def _line_after(
    source: str,
    spans: dict[int, tuple[int, int]],
    node: cst.CSTNode | None,
    body: Sequence[cst.CSTNode],
) -> int:
    if node is not None:
        return _line_end(source, spans, node)
    return _line_start(source, spans, body[0]) if body else len(source)


def _imports_torch_only_in_functions(module: cst.Module) -> bool:
    """True when no module-level statement imports torch but some function does."""
    finder = _TorchImports()
    module.visit(finder)
    return finder.in_function and not finder.at_module


class _TorchImports(cst.CSTVisitor):
    def __init__(self) -> None:
        self.depth = 0
        self.at_module = False
        self.in_function = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_Import(self, node: cst.Import) -> bool:
        self._found(_dotted(a.name) for a in node.names)
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.module is not None and not node.relative:
            self._found([_dotted(node.module)])
        return False

    def _found(self, modules) -> None:  # type: ignore[no-untyped-def]
        if any(m == "torch" or m.startswith("torch.") for m in modules):
            if self.depth:
                self.in_function = True
            else:
                self.at_module = True


def _enclosing_function(
    module: cst.Module, spans: dict[int, tuple[int, int]], offset: int
) -> cst.FunctionDef | None:
    """The innermost function that holds ``offset``."""
    finder = _Functions()
    module.visit(finder)
    found = None
    for function in finder.functions:  # outer functions come first
        start, end = spans[id(function)]
        if start <= offset <= end:
            found = function
    return found


class _Functions(cst.CSTVisitor):
    def __init__(self) -> None:
        self.functions: list[cst.FunctionDef] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)


# --- Removing imports a fix left unused ----------------------------------------------------


def name_uses(source: str) -> Counter[str]:
    """How often each name is read or written (imports do not count); ``ast`` is fast."""
    return Counter(node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name))


def unused_import_edits(
    source: str, module: cst.Module, before: Counter[str], after: Counter[str]
) -> list[Edit]:
    """Remove the import aliases whose name was used before the fixes and is used no more
    (a name also quoted in the file, as in ``__all__``, stays)."""
    gone = {name for name, count in before.items() if count and not after[name]}
    gone = {n for n in gone if f'"{n}"' not in source and f"'{n}'" not in source}
    if not gone:
        return []
    spans: dict[int, tuple[int, int]] | None = None
    edits: list[Edit] = []
    for statement, siblings in _import_statements(module):
        small = statement.body[0]
        aliases = small.names  # type: ignore[attr-defined]
        if isinstance(aliases, cst.ImportStar):
            continue
        keep = [a for a in aliases if _bound_name(a) not in gone]
        if len(keep) == len(aliases):
            continue
        spans = spans or node_spans(module)
        if keep:
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            start, end = spans[id(small)]
            new = small.with_changes(names=keep)  # type: ignore[attr-defined]
            edits.append(Edit(start, end, cst.Module([]).code_for_node(new)))
        elif siblings > 1:
            start = _line_start(source, spans, statement)
            edits.append(Edit(start, _line_end(source, spans, statement), ""))
    return edits


def _bound_name(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return _dotted(alias.name).split(".")[0]


def _import_statements(module: cst.Module):  # type: ignore[no-untyped-def]
    """Single import statements at module level or at the top of a function body, each with
    how many statements share its block (one alone in its block must stay), never inside a
    ``try`` (an import guard) or a conditional."""
    blocks: list[Sequence[cst.CSTNode]] = [module.body]
    while blocks:
        block = blocks.pop()
        for statement in block:
            if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) and isinstance(
                statement.body, cst.IndentedBlock
            ):
                blocks.append(statement.body.body)
            elif (
                isinstance(statement, cst.SimpleStatementLine)
                and len(statement.body) == 1
                and isinstance(statement.body[0], (cst.Import, cst.ImportFrom))
            ):
                yield statement, len(block)
