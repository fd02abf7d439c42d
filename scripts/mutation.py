"""A small mutation tester for torchlint's core modules (run by hand, not in CI).

Each mutant changes one operator or constant of a module (``==`` to ``!=``, ``and`` to
``or``, ``True`` to ``False``, ``n`` to ``n + 1``, dropping a ``not`` ...), and the module's
own tests run against it (``-x``, so a killed mutant costs little). A mutant no test kills
is a gap: add a test, or, when the mutant cannot change behaviour, list it in
``tests/mutation/equivalent.md`` with the reason.

    python scripts/mutation.py suppression cache sourcefile     # some modules
    python scripts/mutation.py --list suppression               # the mutants, without running

The module file is restored after each mutant (also on Ctrl-C or `kill`).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT = REPO / "tests" / "mutation" / "equivalent.md"
# pytest's own temporary directory: the shared default is pruned by other pytest runs,
# which would fail a test, and so kill a mutant, for no reason of the mutant's.
BASETEMP = Path(tempfile.gettempdir()) / f"torchlint-mutation-{os.getpid()}"

# The tests that guard each module (what runs against its mutants).
MODULE_TESTS: dict[str, list[str]] = {
    "suppression": ["tests/test_suppression.py"],
    "cache": [
        "tests/test_cache_entries.py",
        "tests/test_cache_keys.py",
        "tests/test_project.py",  # entries that depend on other files of the project
        "tests/test_parallel_cache.py",
    ],
    "sourcefile": ["tests/test_atomic_write.py", "tests/test_interrupts.py"],
    "fixer": [
        "tests/test_fixer_guards.py",
        "tests/test_fix_invariant.py",
        "tests/test_fix_imports.py",
        "tests/test_fix.py",
    ],
    # config and runner: tests that call the module directly (seconds a mutant); the CLI's
    # tests (test_cli, test_parallel_cache, test_files, test_stdin) cover them too, in minutes.
    "config": ["tests/test_config.py"],
    "engine": [
        "tests/test_engine.py",
        "tests/test_positions.py",
        "tests/test_rule_examples.py",
        "tests/test_collector.py",  # the cycles a file leaves (FileContext.release)
    ],
    # FileContext: the rule interface the engine builds for each file
    "context": [
        "tests/test_engine.py",
        "tests/test_rule_examples.py",
        "tests/test_collector.py",  # the cycles a file leaves (FileContext.release)
    ],
    "names": ["tests/test_names.py", "tests/test_rule_examples.py"],
    "runner": ["tests/test_runner.py"],
}
_SWAP = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
    ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.And: ast.Or, ast.Or: ast.And, ast.Add: ast.Sub, ast.Sub: ast.Add,
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int
    line: int
    description: str

    @property
    def name(self) -> str:
        return f"{self.module}:{self.line}: {self.description}"


class _Mutator(ast.NodeTransformer):
    """Finds the mutation points in order; with ``target`` set, applies that one only."""

    def __init__(self, target: int | None = None) -> None:
        self.target = target
        self.points: list[tuple[int, str]] = []

    def _point(self, node: ast.AST, description: str) -> bool:
        self.points.append((getattr(node, "lineno", 0), description))
        return len(self.points) - 1 == self.target

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            new = _SWAP.get(type(op))
            if new and self._point(node, f"{type(op).__name__} -> {new.__name__}"):
                node.ops[i] = new()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        new = _SWAP[type(node.op)]
        if self._point(node, f"{type(node.op).__name__} -> {new.__name__}"):
            node.op = new()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        new = _SWAP.get(type(node.op))
        if new and self._point(node, f"{type(node.op).__name__} -> {new.__name__}"):
            node.op = new()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._point(node, "drop `not`"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._point(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int) and self._point(node, f"{value} -> {value + 1}"):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node  # imports for type checkers only
        if self._point(node, "if condition -> False"):
            node.test = ast.copy_location(ast.Constant(False), node.test)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        """A call made for its effect (``x.append(y)``, ``digest.update(...)``): drop it."""
        self.generic_visit(node)
        if isinstance(node.value, ast.Call) and self._point(node, "drop the call statement"):
            return ast.copy_location(ast.Pass(), node)
        return node


def mutants(module: str) -> list[Mutant]:
    source = _path(module).read_text()
    finder = _Mutator()
    finder.visit(ast.parse(source))
    found, seen = [], {}
    for index, (line, text) in enumerate(finder.points):
        seen[line, text] = seen.get((line, text), 0) + 1
        suffix = f" [{seen[line, text]}]" if seen[line, text] > 1 else ""  # same line twice
        found.append(Mutant(module, index, line, text + suffix))
    return found


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse(_path(mutant.module).read_text())
    tree = _Mutator(mutant.index).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _path(module: str) -> Path:
    return REPO / "torchlint" / f"{module}.py"


def equivalent() -> set[str]:
    """Mutant names listed as equivalent (lines ``- `module:line: description` ...``)."""
    if not EQUIVALENT.exists():
        return set()
    names = set()
    for line in EQUIVALENT.read_text().splitlines():
        if line.startswith("- `") and "`" in line[3:]:
            names.add(line[3 : line.index("`", 3)])
    return names


def killed(mutant: Mutant, timeout: float) -> bool:
    path = _path(mutant.module)
    original = path.read_text()
    try:
        path.write_text(mutated_source(mutant))
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        command += [f"--basetemp={BASETEMP}"]
        done = subprocess.run(
            [*command, *MODULE_TESTS[mutant.module]],
            cwd=REPO,
            capture_output=True,
            timeout=timeout,
        )
        return done.returncode != 0
    except subprocess.TimeoutExpired:
        return True  # a mutant that hangs the tests is caught by them
    finally:
        path.write_text(original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="+", choices=sorted(MODULE_TESTS))
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per mutant")
    options = parser.parse_args()
    # Stopped by `kill` (a background run ignores Ctrl-C): exit through `finally`, which
    # puts the module back.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))
    known = equivalent()
    totals = []
    for module in options.modules:
        found = mutants(module)
        if options.list:
            print("\n".join(m.name for m in found))
            continue
        counts = {"killed": 0, "survived": 0, "equivalent": 0}
        start = time.monotonic()
        for mutant in found:
            if killed(mutant, options.timeout):
                counts["killed"] += 1
            elif mutant.name in known:
                counts["equivalent"] += 1
            else:
                counts["survived"] += 1
                print(f"SURVIVED {mutant.name}", flush=True)
        minutes = (time.monotonic() - start) / 60
        line = ", ".join(f"{v} {k}" for k, v in counts.items())
        totals.append(f"{module}: {len(found)} mutants: {line} ({minutes:.1f} min)")
        print(totals[-1], flush=True)
    shutil.rmtree(BASETEMP, ignore_errors=True)
    if totals:
        print("\n".join(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
