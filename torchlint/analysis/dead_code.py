"""Code that never runs: no rule reports there, since a maintainer does not edit it.

``Rule.report`` asks :func:`never_runs` of every report, for every rule, from the ancestors
of the node being visited (``context.ancestors``); a report in code that never runs is
dropped. Not asked: TL000 (a file that does not parse is reported by the engine, dead code
or not), reports not tied to a visited node (made after the walk, at the module: too few
ancestors to say), and a rule whose setting asks for every use (TL201 / TL202 under
``portability = "strict"``, through ``Rule.reports_dead_code``). The question is asked only
once a report is at stake, so the project's text is read only then (once per run).

Two kinds:

- **unreferenced**: the node lies in a module-level function or class of a *script* that
  nothing names: not its own file outside the definition, not any other file of the
  project (imports, calls, strings for ``getattr``, ``__all__``, configs), and no decorator
  registers it, and no test runner collects it (a test module's ``test*`` functions and
  ``Test*`` classes, a ``TestCase`` subclass anywhere). A *script* is a file that is not a library module. A *library module* is a
  module of a package (an ``__init__.py`` beside it) in an installable project (a
  ``setup.py``, ``setup.cfg`` or ``pyproject.toml`` at or above it, in the project): its
  top-level functions are API its users may call, so they count as used. Without a project
  index (standard input, a file outside any project) only the own file can be read, and only
  a file run as a program (an ``if __name__ == "__main__":`` block, no ``__init__.py``
  beside it) is a script. The node's top-level definition decides: a method of a class
  nothing names is dead with its class; a function nested in a live function is live; a
  statement at module level (an ``if __name__ == "__main__":`` block) is live, and so is
  every cell of a notebook (its cells are one module, run by hand).
- **cannot run**: a function whose body, at its top level and before the node, reads a name
  that nothing binds (no import, definition, assignment, builtin; no star import, ``exec``
  or ``globals()`` in the file): every call raises ``NameError`` first.
"""

from __future__ import annotations

import builtins
import re
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.names import iter_children
from torchlint.realpaths import real_path

if TYPE_CHECKING:
    from torchlint.context import FileContext

_BUILTINS = frozenset(dir(builtins)) | {
    "__file__",
    "__name__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__path__",
    "__builtins__",
    "__annotations__",
    "__class__",
    "__debug__",
}
# A file that binds or looks up names in ways a reading cannot follow.
_DYNAMIC_NAMES = re.compile(
    r"\bimport\s+\*|\bglobals\(\)|\blocals\(\)|(?<![.\w])(?<!def )(?:vars\(\)|exec\(|eval\()|__builtins__"
    r"|\bbuiltins\b|sys\.modules|\bFire\("
)
# Files whose functions a tool calls by name from outside: torch.hub, pytest, setuptools.
_CALLED_BY_TOOLS = frozenset({"hubconf.py", "conftest.py", "setup.py", "__main__.py"})
_PROJECT_FILES = ("setup.py", "setup.cfg", "pyproject.toml")
# Subtrees whose names are not read when the statement runs, or live in their own scope.
_NOT_READ = (
    cst.Lambda,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
    cst.Annotation,
    cst.Import,
    cst.ImportFrom,
    cst.Global,
    cst.Nonlocal,
)


def never_runs(context: FileContext) -> str | None:
    """Why the node being visited never runs (for a diagnostic's docs), or None."""
    chain = context.ancestors
    if len(chain) < 2 or not isinstance(chain[0], cst.Module):
        return None
    if context.path.endswith(".ipynb"):
        return None  # a notebook's functions are called from cells, by hand
    if _reads_unbound_name(context):
        return "cannot-run"
    if _unreferenced(context):
        return "unreferenced"
    return None


# --- a function that cannot run -------------------------------------------------------------


def _reads_unbound_name(context: FileContext) -> bool:
    chain = context.ancestors
    if _dynamic(context):
        return False
    unbound = context.fact("dead_code.unbound_reads", lambda _: {})
    for index in range(len(chain) - 1, 0, -1):
        function = chain[index]
        if not isinstance(function, cst.FunctionDef) or index + 2 >= len(chain):
            continue
        body = function.body
        if not isinstance(body, cst.IndentedBlock) or chain[index + 1] is not body:
            continue
        holder = chain[index + 2]  # the top-level statement of the function that holds the node
        for statement in body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                key = (id(statement), id(context.scope))  # asked of every report: once each
                if key not in unbound:
                    unbound[key] = _unbound_read(context, statement)
                if unbound[key]:
                    return True
            if statement is holder:
                break
        return False
    return False


def _dynamic(context: FileContext) -> bool:
    return context.fact("dead_code.dynamic", lambda c: dynamic_names(c.source))


# (text, a word may not stand right before it, not after it, not `.`/`def ` before it)
_DYNAMIC_WORDS = (
    ("globals()", True, False, False),
    ("locals()", True, False, False),
    ("vars()", True, False, True),
    ("exec(", True, False, True),
    ("eval(", True, False, True),
    ("__builtins__", False, False, False),
    ("builtins", True, True, False),
    ("sys.modules", False, False, False),
    ("Fire(", True, False, False),
)
_STAR_IMPORT = re.compile(r"\bimport\s+\*")


def dynamic_names(source: str) -> bool:
    """``_DYNAMIC_NAMES.search(source)``, with plain substring searches: the regex tries
    its lookbehinds at every character, a few percent of a whole run when every file asks."""
    if "import" in source and _STAR_IMPORT.search(source) is not None:
        return True
    for text, word_before, word_after, bare in _DYNAMIC_WORDS:
        start = source.find(text)
        while start != -1:
            before = source[start - 1] if start else ""
            end = start + len(text)
            after = source[end] if end < len(source) else ""
            if not (
                (word_before and _is_word(before))
                or (word_after and _is_word(after))
                or (bare and (before == "." or source[max(0, start - 4) : start] == "def "))
            ):
                return True
            start = source.find(text, start + 1)
    return False


def _is_word(char: str) -> bool:
    return bool(char) and (char.isalnum() or char == "_")


def _unbound_read(context: FileContext, statement: cst.SimpleStatementLine) -> bool:
    """A name read by ``statement`` that nothing in the file binds."""
    scope = context.scope
    stack: list[cst.CSTNode] = list(statement.body)
    while stack:
        node = stack.pop()
        if isinstance(node, _NOT_READ):
            continue
        if isinstance(node, cst.Name):
            name = node.value
            if name not in _BUILTINS and scope.binds(name) is None and not _declared(context, name):
                return True
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)  # not `.attr`: an attribute, not a name
            continue
        if isinstance(node, cst.Arg):
            stack.append(node.value)  # not the keyword
            continue
        if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            if node.value is not None:
                stack.append(node.value)  # not the targets (bound, or read through them)
            continue
        if isinstance(node, cst.Del):
            continue
        stack.extend(iter_children(node))
    return False


def _declared(context: FileContext, name: str) -> bool:
    """``global name`` / ``nonlocal name`` anywhere: bound where a scan of scopes cannot see."""
    return (
        re.search(rf"\b(?:global|nonlocal)\b[^\n]*\b{re.escape(name)}\b", context.source)
        is not None
    )


# --- a definition nothing names ---------------------------------------------------------------


def _unreferenced(context: FileContext) -> bool:
    definition = context.ancestors[1]
    if not isinstance(definition, (cst.FunctionDef, cst.ClassDef)) or definition.decorators:
        return False
    name = definition.name.value
    if name.startswith("__") or name.endswith("__") or name == "main":
        return False
    path = real_path(Path(context.path))
    if path.name in _CALLED_BY_TOOLS or _dynamic(context):
        return False
    if _collected_by_test_runner(definition, path):
        return False
    cache = context.fact("dead_code.unreferenced", lambda _: {})
    if name not in cache:
        cache[name] = _named_nowhere(context, definition, path)
    return cache[name]


def _named_nowhere(
    context: FileContext, definition: cst.FunctionDef | cst.ClassDef, path: Path
) -> bool:
    name = definition.name.value
    word = re.compile(rf"\b{re.escape(name)}\b")
    own = context.module.code_for_node(definition)
    if len(word.findall(context.source)) > len(word.findall(own)):
        return False  # named in its own file outside the definition (a call, `__all__`)
    if sum(1 for s in context.module.body if _defines(s, name)) > 1:
        return False  # defined twice (a fallback under `try`): either may be the one used
    project = context.project
    if project is None:
        return _runs_as_program(context) and not (path.parent / "__init__.py").is_file()
    if _library_module(path, project.root):
        return False
    return project.mentioned_elsewhere(name) is False


def _collected_by_test_runner(definition: cst.FunctionDef | cst.ClassDef, path: Path) -> bool:
    """pytest calls a test module's ``test*`` functions and ``Test*`` classes by their names,
    unittest every ``TestCase`` subclass: nothing in the project names them."""
    if isinstance(definition, cst.ClassDef) and any(
        "TestCase" in cst.Module([]).code_for_node(base.value) for base in definition.bases
    ):
        return True
    test_module = path.name.startswith("test") or path.stem.endswith(("_test", "_tests"))
    return test_module and definition.name.value.lower().startswith("test")


def _defines(statement: cst.CSTNode, name: str) -> bool:
    return isinstance(statement, (cst.FunctionDef, cst.ClassDef)) and statement.name.value == name


def _runs_as_program(context: FileContext) -> bool:
    return any(
        isinstance(statement, cst.If)
        and isinstance(statement.test, cst.Comparison)
        and isinstance(statement.test.left, cst.Name)
        and statement.test.left.value == "__name__"
        for statement in context.module.body
    )


def _library_module(path: Path, root: Path) -> bool:
    """A module of a package (``__init__.py`` beside it) of an installable project: its
    top-level names are API that the project's users may call."""
    if not (path.parent / "__init__.py").is_file():
        return False
    for directory in path.parents:
        if any((directory / name).is_file() for name in _PROJECT_FILES):
            return True
        if directory == root or directory == directory.parent:
            return False
    return False
