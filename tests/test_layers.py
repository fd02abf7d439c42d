"""The package's layers go one way, as docs/architecture.md draws them.

Every module of ``torchlint/`` is read with ``ast``, and every import in it counts: at module
level, under ``if TYPE_CHECKING:`` (an annotation is a dependency for the reader too), and
inside functions (a late import hides a circle from Python, not from the reader). An import
of ``torchlint.a.b`` is an arrow to the module ``a/b.py`` (or the package ``a/__init__.py``);
``from torchlint.a import b`` is an arrow to ``a/b.py`` where that is a module, else to
``a/__init__.py``. Imports made by ``importlib`` (the registry's walk over the rule
packages) are not seen.

The layers are read from the table in docs/architecture.md, so the picture there and the
imports cannot drift apart: a module imports only from its own layer or the ones below.
"""

from __future__ import annotations

import ast
import itertools
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "torchlint"
ARCHITECTURE = REPO / "docs" / "architecture.md"

Graph = dict[str, dict[str, int]]  # module -> {imported module: line of the first import}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may bind, most specific first per name."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def graph_of(sources: dict[str, tuple[str, bool]]) -> Graph:
    """The arrows between the given modules (name -> (source, is a package))."""
    graph: Graph = {}
    for module, (source, is_package) in sources.items():
        arrows: dict[str, int] = {}
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = _imported(node, module, is_package)
            if isinstance(node, ast.ImportFrom):
                base, names = names[-1], names[:-1]
                targets = {name if name in sources else _owner(base, sources) for name in names}
            else:
                targets = {_owner(name, sources) for name in names}
            for target in targets:
                if target is not None and target != module:
                    arrows.setdefault(target, node.lineno)
        graph[module] = arrows
    return graph


def _owner(name: str, sources: dict[str, tuple[str, bool]]) -> str | None:
    """The module of ours that ``name`` names, or the innermost package above it."""
    while name and name not in sources:
        name = name.rpartition(".")[0]
    return name or None


@cache
def package_graph() -> Graph:
    sources = {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    return graph_of(sources)


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of imports (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def describe(cycle: list[str], graph: Graph) -> str:
    return "\n".join(
        f"  {a} -> {b} ({a.replace('.', '/')}.py line {graph[a][b]})"
        for a, b in itertools.pairwise(cycle)
    )


@cache
def layers() -> list[tuple[str, tuple[str, ...]]]:
    """The layers from the table in docs/architecture.md, bottom first: (name, modules),
    a module written as a path under ``torchlint/`` (``engine.py``, ``rules/``)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].isdigit():
            continue
        paths = tuple(re.findall(r"`([\w/.]+)`", cells[2]))
        rows.append((int(cells[0]), cells[1], paths))
    rows.sort()
    assert [number for number, _, _ in rows] == list(range(1, len(rows) + 1)), rows
    return [(name, paths) for _, name, paths in rows]


def _as_module(path: str) -> str:
    path = path.rstrip("/").removesuffix(".py")
    return "torchlint" if path == "__init__" else "torchlint." + path.replace("/", ".")


def layer_of(module: str) -> int | None:
    """The index (0 at the bottom) of the layer that holds ``module``: a file holds itself, a
    folder (``rules/``) everything under it; the longest path wins."""
    best: tuple[int, int] | None = None
    for index, (_, paths) in enumerate(layers()):
        for path in paths:
            prefix = _as_module(path)
            folder = path.endswith("/")
            covers = module == prefix or (folder and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def test_no_import_circle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "an import circle in torchlint/:\n" + describe(cycle, graph)


def test_every_module_has_a_layer() -> None:
    missing = sorted(module for module in package_graph() if layer_of(module) is None)
    assert not missing, f"modules on no layer of docs/architecture.md: {missing}"


def test_imports_go_down_the_layers() -> None:
    names = [name for name, _ in layers()]
    upward = [
        f"{a} ({names[layer_of(a)]}) -> {b} ({names[layer_of(b)]}), line {line}"
        for a, arrows in sorted(package_graph().items())
        for b, line in sorted(arrows.items())
        if layer_of(a) is not None and layer_of(b) is not None and layer_of(b) > layer_of(a)
    ]
    assert not upward, "imports up the layers:\n" + "\n".join(upward)


def _imports_of(prefixes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    return {
        module: arrows
        for module, arrows in package_graph().items()
        if module in prefixes or module.startswith(tuple(p + "." for p in prefixes))
    }


def test_the_vocabulary_imports_nothing_of_torchlint() -> None:
    assert package_graph()["torchlint.vocabulary"] == {}


def test_facts_and_the_project_know_no_rules_and_no_engine() -> None:
    """The rule interface, the shared analyses and the project index sit below the rules and
    the machinery that runs them."""
    above = (
        "torchlint.rules",
        "torchlint.registry",
        "torchlint.engine",
        "torchlint.suppression",
        "torchlint.fixer",
        "torchlint.runner",
        "torchlint.cli",
        "torchlint.server",
    )
    wrong = [
        f"{module} -> {target} (line {line})"
        for module, arrows in sorted(
            _imports_of(("torchlint.analysis", "torchlint.project", "torchlint.context")).items()
        )
        for target, line in sorted(arrows.items())
        if target in above or target.startswith(tuple(p + "." for p in above))
    ]
    assert not wrong, "\n".join(wrong)


def test_the_settings_do_not_import_the_rules() -> None:
    """The registry hands its rules to the settings (``config.use_rules``)."""
    assert not {"torchlint.registry", "torchlint.rules.base"} & set(
        package_graph()["torchlint.config"]
    )


def test_the_runtime_module_stands_apart() -> None:
    """``torchlint.runtime`` is imported by users' training code (it imports torch): it
    imports none of the linter, and the linter does not import it."""
    runtime = _imports_of(("torchlint.runtime",))
    outside = {
        target
        for arrows in runtime.values()
        for target in arrows
        if not target.startswith("torchlint.runtime")
    }
    assert outside <= {"torchlint"}, outside
    users = sorted(
        module
        for module, arrows in package_graph().items()
        if module not in runtime and any(t.startswith("torchlint.runtime") for t in arrows)
    )
    assert not users, users


def test_the_reading_sees_every_kind_of_import() -> None:
    """Module level, TYPE_CHECKING, late and relative imports all make arrows; a circle
    through any of them is found."""
    sources = {
        "pkg": ("", True),
        "pkg.a": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import X\n",
            False,
        ),
        "pkg.b": ("def f():\n    from . import c\n", False),
        "pkg.c": ("import pkg.a as a\n", False),
        "pkg.d": ("from pkg import a\nfrom os import path\n", False),
    }
    graph = graph_of(sources)
    assert graph == {
        "pkg": {},
        "pkg.a": {"pkg.b": 3},
        "pkg.b": {"pkg.c": 2},
        "pkg.c": {"pkg.a": 1},
        "pkg.d": {"pkg.a": 1},
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    del graph["pkg.c"]["pkg.a"]
    assert find_cycle(graph) is None
