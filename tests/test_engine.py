"""The engine, called directly: which rules run, the walk, crash isolation, syntax errors,
and how reports and fixes on nodes become offsets (each test guards mutants of engine.py:
see scripts/mutation.py)."""

from __future__ import annotations

import gc
import random
import re
import sys
import time
import types

import libcst as cst
import pytest

from torchlint import engine, names, timing
from torchlint.config import build_settings
from torchlint.diagnostics import Applicability, Location
from torchlint.engine import FileContext, FileResult, lint_source
from torchlint.positions import node_spans
from torchlint.rules.base import InsertAfter, InsertBefore, InsertLine, Replace, Rule

ALL = build_settings(None, select=["ALL"])
ONLY_TL703 = build_settings(None, select=["TL703"])


class _Fake(Rule):
    code = "TL703"
    name = "fake"
    summary = "fake report"
    applies_to_tests = True

    def reports_dead_code(self) -> bool:
        return True  # the sources here are fragments: `g(x)` with nothing bound


class ReportNames(_Fake):
    """Reports every name, in walk order."""

    def visit_Name(self, node: cst.Name) -> None:
        self.report(node, f"name {node.value}")


class ReportCalls(_Fake):
    requires = ("(",)

    def visit_Call(self, node: cst.Call) -> None:
        self.report(node)


def lint(source: str, *rules: type[Rule], settings=ALL, **kwargs) -> FileResult:
    return lint_source("example.py", source, settings, list(rules), **kwargs)


def messages(result: FileResult) -> list[str]:
    return [d.message for d in result.diagnostics]


def context_for(source: str) -> FileContext:
    return FileContext("example.py", source, cst.parse_module(source), ALL)


# --- FileContext ----------------------------------------------------------------------------


def test_the_module_scope_scans_expressions_only_when_the_text_has_a_walrus() -> None:
    assert context_for("x = 1\n").module_scope.walrus is False
    assert context_for("(x := 1)\n").module_scope.walrus is True


def test_parent_is_the_innermost_ancestor() -> None:
    context = context_for("x = 1\n")
    assert context.parent is None
    statement = context.module.body[0]
    context.ancestors = [context.module, statement]
    assert context.parent is statement


def test_a_fact_is_computed_once(monkeypatch) -> None:
    monkeypatch.setattr(timing, "TIMER", None)
    context = context_for("x = 1\n")
    calls = []
    assert context.fact("answer", lambda c: calls.append(c) or 42) == 42
    assert context.fact("answer", lambda c: calls.append(c) or 43) == 42
    assert calls == [context]


def test_a_fact_is_timed_per_analysis(monkeypatch) -> None:
    timer = timing.Timer()
    monkeypatch.setattr(timing, "TIMER", timer)
    context = context_for("x = 1\n")
    assert context.fact("uses:7", lambda c: 5) == 5
    assert context.fact("uses:7", lambda c: 6) == 5
    assert list(timer.seconds) == ["analysis uses"]


def test_indents_of_the_enclosing_blocks() -> None:
    context = context_for("def f():\n    if x:\n      pass\n")
    function = context.module.body[0]
    if_node = function.body.body[0]
    chain = [context.module, function, function.body, if_node, if_node.body]
    assert context.indents(chain) == ("    ", "  ")  # the module's default, then its own
    assert context.indents() == ()
    context.ancestors = chain
    assert context.indents() == ("    ", "  ")
    assert context.indents(chain[:3]) == ("    ",)


def test_code_for_renders_at_the_blocks_indentation() -> None:
    context = context_for("def f():\n    x = [\n        1,\n    ]\n")
    statement = context.module.body[0].body.body[0]
    assert context.code_for(statement) == "x = [\n    1,\n]\n"
    assert context.code_for(statement, ("    ",)) == "    x = [\n        1,\n    ]\n"
    assert context.code_for(statement, ("  ", "\t")) == "  \tx = [\n  \t    1,\n  \t]\n"


# --- which rules run --------------------------------------------------------------------------


class NoVisitors(_Fake):
    pass


class NoRequires(_Fake):
    def visit_Module(self, node: cst.Module) -> None:
        pass


class NeedsWords(_Fake):
    requires = ("absent", "torch")

    def leave_Module(self, node: cst.Module) -> None:
        pass


def test_active_rules_visit_nodes_and_find_a_required_word() -> None:
    rules = [NoVisitors, NoRequires, NeedsWords]
    assert engine._active_rules(rules, "import torch\n") == [NoRequires, NeedsWords]
    assert engine._active_rules(rules, "x = 1\n") == [NoRequires]
    assert engine._active_rules([NeedsWords, NeedsWords], "torch torch") == [NeedsWords] * 2


def test_needs_tree_only_for_enabled_rules() -> None:
    assert engine.needs_tree("a.py", "import torch\n", ALL, [NeedsWords]) is True
    assert engine.needs_tree("a.py", "x = 1\n", ALL, [NeedsWords]) is False
    other = build_settings(None, select=["TL101"])
    assert engine.needs_tree("a.py", "import torch\n", other, [NeedsWords]) is False


class Events(_Fake):
    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        Events.seen = []

    def visit_Call(self, node: cst.Call) -> None:
        Events.seen.append(("visit Call", self.context.parent.__class__.__name__))

    def leave_Call(self, node: cst.Call) -> None:
        Events.seen.append(("leave Call", self.context.parent.__class__.__name__))

    def visit_Name(self, node: cst.Name) -> None:
        Events.seen.append((f"visit {node.value}", self.context.parent.__class__.__name__))


def test_visitors_and_leavers_in_walk_order() -> None:
    assert engine._visitors(Events) == (
        (True, cst.Call, "leave_Call"),
        (False, cst.Call, "visit_Call"),
        (False, cst.Name, "visit_Name"),
    )
    assert engine._visitors(Events) is engine._visitors(Events)  # once per class
    assert lint("f(a)\n", Events).errors == []
    assert Events.seen == [
        ("visit Call", "Expr"),
        ("visit f", "Call"),
        ("visit a", "Arg"),
        ("leave Call", "Expr"),
    ]


class Misspelt(_Fake):
    def visit_Nothing(self, node: cst.CSTNode) -> None:
        pass


def test_a_visitor_for_no_libcst_node_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Misspelt\.visit_Nothing: no libcst node Nothing"):
        engine._visitors(Misspelt)


def test_the_walk_sees_every_node_with_a_cold_type_cache() -> None:
    names._IS_NODE.clear()
    names._FIELDS_BY_TYPE.clear()
    assert messages(lint("f(a, b=c)\n", ReportNames)) == ["name f", "name a", "name b", "name c"]


class ReportLiterals(_Fake):
    """Reports literals (leaves other rules leave alone), with their parent."""

    def visit_Integer(self, node: cst.Integer) -> None:
        self.report(node, f"int {node.value} in {type(self.context.parent).__name__}")

    def leave_SimpleString(self, node: cst.SimpleString) -> None:
        self.report(node, f"str {node.value} in {type(self.context.parent).__name__}")


def test_leaves_with_visitors_are_visited_inside_any_expression() -> None:
    result = lint("f(1, x['k'], [2])\n", ReportLiterals, ReportCalls)
    assert sorted(messages(result)) == [
        "fake report",
        "int 1 in Arg",
        "int 2 in Element",
        "str 'k' in Index",
    ]


def test_nodes_with_nothing_to_do_are_not_entered(monkeypatch) -> None:
    entered: list[str] = []
    walk = engine._Walker._walk

    def spy(self, node: cst.CSTNode) -> None:
        entered.append(type(node).__name__)
        walk(self, node)

    monkeypatch.setattr(engine._Walker, "_walk", spy)
    assert messages(lint("f(a, 1, b, 2)\n", ReportCalls)) == ["fake report"]
    # No visitor wants a name or an integer, and they have no children: once the first of
    # each type has shown that, the others are not entered.
    top = ["Module", "SimpleStatementLine", "Expr", "Call"]
    assert entered == [*top, "Name", "Arg", "Arg", "Integer", "Arg", "Arg"]
    entered.clear()
    result = lint("f(a, 1, b, 2)\n", ReportCalls, ReportNames)
    assert messages(result) == ["fake report", "name f", "name a", "name b"]
    assert entered.count("Name") == 3 and entered.count("Integer") == 1


def test_scopes_follow_the_walk() -> None:
    class Resolve(_Fake):
        def visit_Name(self, node: cst.Name) -> None:
            if node.value == "torch":
                self.report(node, str(self.context.scope.resolve("torch")))

    source = "import torch\ndef f(torch):\n    torch\ntorch\n"
    assert messages(lint(source, Resolve)) == ["torch", "None", "None", "torch"]


def test_rules_are_timed_when_timing_is_on(monkeypatch) -> None:
    timer = timing.Timer()
    monkeypatch.setattr(timing, "TIMER", timer)
    assert messages(lint("f(a)\n", ReportCalls)) == ["fake report"]
    assert "rule TL703 (fake)" in timer.seconds


# --- crashes ------------------------------------------------------------------------------------


class CrashOnName(_Fake):
    name = "crashy"

    def visit_Name(self, node: cst.Name) -> None:
        raise ValueError(f"bad {node.value}")


class CrashOnLeave(_Fake):
    name = "crashy-leave"

    def leave_Name(self, node: cst.Name) -> None:
        raise KeyError(node.value)


def test_a_crashing_rule_is_one_error_and_the_others_go_on() -> None:
    result = lint("a + b + c\n", CrashOnName, ReportNames, CrashOnLeave)
    line = CrashOnName.visit_Name.__code__.co_firstlineno + 1
    assert result.errors == [
        f"example.py: internal error in TL703 (crashy): ValueError: bad a [test_engine.py:{line}]",
        f"example.py: internal error in TL703 (crashy-leave): KeyError: 'a' "
        f"[test_engine.py:{CrashOnLeave.leave_Name.__code__.co_firstlineno + 1}]",
    ]
    assert messages(result) == ["name a", "name b", "name c"]


# --- rules run after the walk (after_walk) -------------------------------------------------------


class Where(_Fake):
    """Reports, at each call and on leaving each def, the ancestors and the scope it sees."""

    def _where(self) -> str:
        context = self.context
        path = ".".join(type(node).__name__ for node in context.ancestors)
        return f"{path} in {type(context.scope.node).__name__} under {type(context.parent)}"

    def visit_Call(self, node: cst.Call) -> None:
        self.report(node, f"call {self._where()}")

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.report(node.name, f"left {self._where()}")


class WhereLater(Where):
    after_walk = "flow"


def test_a_rule_run_after_the_walk_sees_what_it_saw_during_it(monkeypatch) -> None:
    source = (
        "f(a)\n"
        "def g(x=h()):\n"
        "    with k():\n"
        "        m(lambda: n(x))\n"
        "class C:\n"
        "    def p(self):\n"
        "        return q()\n"
    )
    ran_after = []
    real = engine._Walker._replay
    monkeypatch.setattr(engine._Walker, "_replay", lambda self: ran_after.append(1) or real(self))
    during, after = lint(source, Where), lint(source, WhereLater)
    assert during.errors == after.errors == []
    assert len(messages(during)) == 8  # six calls, two defs
    assert messages(after) == messages(during)
    assert ran_after == [1]  # the second lint only


class CrashLater(_Fake):
    name = "crashy-later"
    after_walk = "flow"
    calls = 0

    def visit_Name(self, node: cst.Name) -> None:
        CrashLater.calls += 1
        raise ValueError(f"bad {node.value}")


def test_a_rule_run_after_the_walk_that_crashes_is_one_error_and_stops_there() -> None:
    CrashLater.calls = 0
    result = lint("a + b + c\n", CrashLater, ReportNames)
    line = CrashLater.visit_Name.__code__.co_firstlineno + 2
    assert result.errors == [
        f"example.py: internal error in TL703 (crashy-later): ValueError: bad a [test_engine.py:{line}]"
    ]
    assert CrashLater.calls == 1
    assert messages(result) == ["name a", "name b", "name c"]


def test_a_rule_run_after_the_walk_cannot_want_only_some_names() -> None:
    """Its visits are kept in walk order; a filter on names would need a table of its own."""

    class SomeNamesLater(ReportSomeNames):
        after_walk = "flow"

    (error,) = lint_source("example.py", "a\n", ALL, [SomeNamesLater]).errors
    assert "TypeError: SomeNamesLater: after_walk with names_visited" in error


def test_after_walk_names_an_index_the_engine_knows() -> None:
    class Unknown(_Fake):
        after_walk = "nothing"

        def visit_Name(self, node: cst.Name) -> None:
            pass

    (error,) = lint_source("example.py", "a\n", ALL, [Unknown]).errors
    assert "internal error: ValueError: no whole-file index 'nothing'" in error


class ReportSomeNames(_Fake):
    """Wants the names ``a`` and, once it has seen ``import x as alias``, ``alias``."""

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.wanted = {"a"}

    def names_visited(self) -> set[str]:
        return self.wanted

    def visit_Import(self, node: cst.Import) -> None:
        self.wanted.add("alias")

    def visit_Name(self, node: cst.Name) -> None:
        self.report(node, f"some name {node.value}")


class CrashOnSomeName(_Fake):
    name = "crashy-some"

    def names_visited(self) -> set[str]:
        return {"b", "c"}

    def visit_Name(self, node: cst.Name) -> None:
        raise ValueError(f"bad {node.value}")


def test_a_rule_that_wants_some_names_sees_only_those_and_those_it_adds() -> None:
    result = lint("alias + a + b\nimport x as alias\nalias + a\n", ReportSomeNames, ReportNames)
    assert [m for m in messages(result) if m.startswith("some")] == [
        "some name a",
        "some name alias",  # the `as` name of the import: the Import was visited first
        "some name alias",
        "some name a",
    ]
    assert len([m for m in messages(result) if not m.startswith("some")]) == 7  # all of them


def test_a_rule_that_wants_some_names_and_crashes_stops_there() -> None:
    result = lint("a + b + c\n", CrashOnSomeName, ReportNames)
    assert len(result.errors) == 1 and "ValueError: bad b" in result.errors[0]
    assert messages(result) == ["name a", "name b", "name c"]


class KeepsTheContextInAFact(ReportNames):
    """A fact that refers back to the context: a cycle until the file is done."""

    def visit_Module(self, node: cst.Module) -> None:
        self.context.fact("the context itself", lambda context: [context])


@pytest.mark.parametrize("source", ["a\n", "1\n"], ids=["a report", "no report"])
def test_a_linted_file_leaves_no_cycles_behind(source: str) -> None:
    """A pending report refers to its rule, the rule to the context, and a fact may refer to
    it too: ``release`` lets go of them, so reference counting frees the file's tree."""
    gc.collect()
    gc.disable()
    try:
        lint(source, KeepsTheContextInAFact)
        left_for_the_collector = gc.collect()
    finally:
        gc.enable()
    assert left_for_the_collector == 0


def _deep_module(depth: int) -> cst.Module:
    expression: cst.BaseExpression = cst.Name("x")
    for _ in range(depth):
        expression = cst.UnaryOperation(cst.Minus(), expression)
    return cst.Module([cst.SimpleStatementLine([cst.Expr(expression)])])


def _walk(module: cst.Module) -> FileResult:
    context = FileContext("deep.py", "", module, ALL)
    result = FileResult("deep.py")
    engine._Walker(context, [NoRequires], result).run()
    return result


def test_the_walk_raises_the_recursion_limit_and_puts_it_back() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        assert _walk(_deep_module(5000)).errors == []
        assert sys.getrecursionlimit() == 1000
        assert _walk(_deep_module(30000)).errors == [f"deep.py: {engine.NESTED_TOO_DEEPLY}"]
        assert sys.getrecursionlimit() == 1000
    finally:
        sys.setrecursionlimit(limit)


# --- syntax errors and files too deep ---------------------------------------------------------


def test_syntax_error_from_libcst() -> None:
    error = None
    try:
        cst.parse_module("x = 1\ny = (\n")
    except cst.ParserSyntaxError as caught:
        error = caught
    diagnostic = engine._syntax_error("a.py", error, "x = 1\ny = (\n")
    assert diagnostic.start == Location(error.raw_line, error.raw_column + 1)
    assert diagnostic.message == "SyntaxError: " + " ".join(error.message.split())
    assert diagnostic.code == "TL000"


def test_syntax_error_from_python() -> None:
    source = "a\nb\nc\n"
    error = SyntaxError("bad\n  thing", ("a.py", 3, 2, "c"))
    diagnostic = engine._syntax_error("a.py", error, source)
    assert (diagnostic.start, diagnostic.end) == (Location(3, 2), Location(3, 2))
    assert diagnostic.message == "SyntaxError: bad thing"
    assert diagnostic.source_line == "c"
    diagnostic = engine._syntax_error("a.py", SyntaxError("bad"), source)  # no position
    assert diagnostic.start == Location(1, 1)


def test_syntax_error_for_what_libcst_cannot_read() -> None:
    limitation = engine.ParserLimitation(TypeError("odd"))
    assert str(limitation) == "odd"
    diagnostic = engine._syntax_error("a.py", limitation, "x\n")
    assert diagnostic.start == Location(1, 1)
    assert diagnostic.message == (
        "torchlint's parser (libcst) cannot read this file although Python can, so nothing "
        "in it was checked (TypeError: odd)"
    )
    error = None
    try:
        cst.parse_module("a\nb = (\n")
    except cst.ParserSyntaxError as caught:
        error = caught
    diagnostic = engine._syntax_error("a.py", engine.ParserLimitation(error), "a\nb = (\n")
    assert diagnostic.start == Location(error.raw_line, error.raw_column + 1)
    assert diagnostic.message.endswith(f"({error.message})")


def test_syntax_error_for_a_file_too_deep() -> None:
    diagnostic = engine._syntax_error("a.py", RecursionError(), "x\ny\n")
    assert diagnostic.start == Location(1, 1)
    assert diagnostic.message == (
        "the file is nested too deeply for Python to compile (RecursionError)"
    )


@pytest.mark.parametrize(("opener", "closer"), [("(", ")"), ("[", "]"), ("{", "}")])
def test_may_be_too_deep_counts_bracket_depth(opener: str, closer: str) -> None:
    too_deep = engine._may_be_too_deep
    assert too_deep(opener * 101 + closer * 101) is True
    assert too_deep(opener * 100 + closer * 100) is False  # more than 100 deep only
    assert too_deep(opener * 60 + "\n" + closer * 60) is False
    assert too_deep((opener + closer) * 10 + opener * 101) is True  # closed ones count down
    assert too_deep(opener * 50 + closer * 50 + opener * 51 + closer * 51) is False


def _reference_too_deep(source: str) -> bool:
    """The estimate spelled out: a line of 1000 characters, or more than 100 brackets open
    at some point, counting every opening bracket up and every closing one down."""
    if any(len(line) >= 1000 for line in re.split(r"[\r\n]", source)):
        return True
    depth = deepest = 0
    for char in source:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        deepest = max(deepest, depth)
    return deepest > 100


def test_may_be_too_deep_agrees_with_the_estimate_spelled_out() -> None:
    chunks = ["(", ")", "[", "]", "{", "}", "x", " ", "\n", "\r", "é", "\udcff", "'('"]
    rng = random.Random(7)
    for _ in range(400):
        size = rng.choice([50, 300, 1200])
        weights = [rng.random() for _ in chunks]
        source = "".join(rng.choices(chunks, weights, k=size))
        if rng.random() < 0.3:  # a run of openers somewhere: the deep files are like this
            at = rng.randrange(len(source) + 1)
            source = source[:at] + "([{"[rng.randrange(3)] * rng.randrange(90, 110) + source[at:]
        assert engine._may_be_too_deep(source) is _reference_too_deep(source), repr(source)


def test_may_be_too_deep_without_brackets() -> None:
    assert engine._may_be_too_deep("x = 1\n") is False
    assert engine._may_be_too_deep("x = 1 + f()\n" * 50) is False
    assert engine._may_be_too_deep("x = " + "1 + " * 300 + "1\n") is True  # a long line
    assert engine._may_be_too_deep("x" * 1000 + "\n") is True  # 1000 characters: long
    assert engine._may_be_too_deep("x" * 999 + "\n") is False
    assert engine._may_be_too_deep("x" * 600 + "\r" + "x" * 600) is False  # two lines


def test_python_rejects_only_what_it_cannot_compile() -> None:
    assert engine.python_rejects("x = 1\n") is None
    too_many = engine.python_rejects("x = " + "(" * 300 + "1" + ")" * 300 + "\n")
    assert isinstance(too_many, SyntaxError) and "too many nested parentheses" in too_many.msg
    assert engine.python_rejects("x = " + "(" * 150 + "\n") is None  # another syntax error
    assert engine.python_rejects("x = " + "(" * 150 + "1" + ")" * 150 + "\n") is None
    assert isinstance(
        engine.python_rejects("x = " + "-" * 100_000 + "1\n"), MemoryError | RecursionError
    )


def test_a_file_too_deep_is_reported_when_tl000_is_enabled() -> None:
    source = "x = " + "(" * 300 + "1" + ")" * 300 + "\n"
    result = lint(source, ReportNames)
    assert [(d.code, d.start) for d in result.diagnostics] == [("TL000", Location(1, 205))]
    assert lint(source, ReportNames, settings=ONLY_TL703).diagnostics == []


# --- parsing ------------------------------------------------------------------------------------


def test_code_libcsts_validation_trips_on_is_read_and_checked() -> None:
    # libcst's own parse_module crashes validating this tree (a TypeError); built without
    # validation, the tree is the source, and the rules see it.
    source = "x = 1 if 0 else(lambda:1)\n"
    assert messages(lint(source, ReportNames)) == ["name x"]  # no TL000


def test_a_syntax_error_is_pythons_with_or_without_a_tree() -> None:
    for rules in ([], [ReportNames]):
        result = lint("x = 1\ny = (\n", *rules)
        assert [(d.code, d.message) for d in result.diagnostics] == [
            ("TL000", "SyntaxError: '(' was never closed")
        ]
        assert lint("y = (\n", *rules, settings=ONLY_TL703).diagnostics == []


def test_what_libcst_cannot_read_is_reported_only_when_a_rule_could_fire() -> None:
    source = "(x): int = 1\n"  # valid Python, refused by libcst's grammar (libcst#1011)
    assert lint(source).diagnostics == []
    assert lint(source, NeedsWords).diagnostics == []
    (diagnostic,) = lint(source, ReportNames).diagnostics
    assert diagnostic.code == "TL000"
    assert diagnostic.message.startswith("torchlint's parser (libcst) cannot read this file")


def test_a_file_without_active_rules_still_has_its_noqa_checked() -> None:
    result = lint("x = 1  # noqa: TL703\n")
    assert [d.code for d in result.diagnostics] == ["TL001"]
    result = lint("x = 1  # noqa: TL703\n", NeedsWords)
    assert [d.code for d in result.diagnostics] == ["TL001"]


def test_a_parsed_module_is_not_parsed_again(monkeypatch) -> None:
    source = "f(a)\n"
    module = cst.parse_module(source)

    def refuse(*args, **kwargs):
        raise AssertionError("parsed twice")

    monkeypatch.setattr(cst, "parse_module", refuse)
    assert messages(lint(source, ReportCalls, module=module)) == ["fake report"]
    assert lint(source, NeedsWords, module=module).diagnostics == []


def test_an_engine_crash_is_one_line_or_raised_when_debugging(monkeypatch) -> None:
    def work() -> str:
        return {}["missing"]

    line = work.__code__.co_firstlineno + 1
    expected = f"a.py: internal error: KeyError: 'missing' [test_engine.py:{line}]"
    monkeypatch.delenv("TORCHLINT_DEBUG", raising=False)
    assert engine.guarded("a.py", lambda text: text, work) == expected
    monkeypatch.setenv("TORCHLINT_DEBUG", "1")
    with pytest.raises(KeyError):
        engine.guarded("a.py", lambda text: text, work)


# --- locating reports and fixes -------------------------------------------------------------


def test_a_report_on_a_node_outside_the_tree_is_dropped() -> None:
    class Ghost(_Fake):
        def visit_Module(self, node: cst.Module) -> None:
            self.report(cst.Name("ghost"))

    result = lint("x = 1\n", Ghost, ReportNames)
    assert result.errors == []
    assert messages(result) == ["name x"]


def test_a_custom_locate_is_used() -> None:
    def locate(module, nodes):
        return {id(node): (0, 1) for node in nodes}

    result = lint("x = 1\ny = 2\n", ReportNames, locate=locate)
    assert [(d.start, d.end) for d in result.diagnostics] == [(Location(1, 1), Location(1, 2))] * 2


def _with_fix(*make_edits):
    """A rule that reports each call, with a fix made of ``make_edits(call, module)``."""

    class Fixing(ReportCalls):
        def visit_Call(self, node: cst.Call) -> None:
            module = self.context.module
            edits = [make(node, module) for make in make_edits]
            self.report(node, fix=self.fix(Applicability.SAFE, "fix it", *edits))

    return Fixing


def _edits(result: FileResult) -> list[list[tuple[int, int, str]]]:
    return [
        [(e.start, e.end, e.content) for e in d.fix.edits] if d.fix else None
        for d in result.diagnostics
    ]


def test_every_kind_of_edit_is_located() -> None:
    source = "import os\ndef f():\n    g(x)\n"
    rule = _with_fix(
        lambda call, module: Replace(call.args[0].value, "y"),
        lambda call, module: InsertBefore(call.func, "h."),
        lambda call, module: InsertAfter(call, ".cpu()"),
        lambda call, module: InsertLine(module.body[0], "import a\nimport b"),
        lambda call, module: InsertLine(module.body[1].body.body[0], "pass"),
    )
    (diagnostic,) = lint(source, rule).diagnostics
    assert (diagnostic.start, diagnostic.end) == (Location(3, 5), Location(3, 9))
    assert [(e.start, e.end, e.content) for e in diagnostic.fix.edits] == [
        (0, 0, "import a\nimport b\n"),
        (19, 19, "    pass\n"),
        (23, 23, "h."),
        (25, 26, "y"),
        (27, 27, ".cpu()"),
    ]
    assert diagnostic.fix.edits[1].start_location == Location(3, 1)
    assert diagnostic.fix.message == "fix it"
    assert diagnostic.fix.applicability is Applicability.SAFE


def test_a_new_line_above_a_statement_that_shares_its_line_is_no_fix() -> None:
    rule = _with_fix(lambda call, module: InsertLine(module.body[0].body[1], "pass"))
    assert _edits(lint("x = 1; g(x)\n", rule)) == [None]


def test_a_replacement_node_is_rendered_in_place_without_doubled_parentheses() -> None:
    source = "def f():\n    y = (g(x))\n"
    rule = _with_fix(
        lambda call, module: Replace(call, call.with_changes(args=[cst.Arg(cst.Name("z"))]))
    )
    assert _edits(lint(source, rule)) == [[(18, 22, "g(z)")]]
    assert _edits(lint(source.replace("(g(x))", "g(x)"), rule)) == [[(17, 21, "g(z)")]]


def test_inside_parens() -> None:
    old = cst.parse_expression("((a))")
    new = cst.parse_expression("(((b)))")
    assert cst.Module([]).code_for_node(engine._inside_parens(new, old)) == "(b)"
    bare = cst.parse_expression("b")
    assert engine._inside_parens(bare, old) is bare
    empty = cst.parse_expression("()")
    assert engine._inside_parens(empty, old) is empty  # an empty tuple cannot lose them


def test_statements_that_stand_twice_are_located_from_the_whole_module() -> None:
    source = "g(x)\ng(x)\n"
    rule = _with_fix(lambda call, module: Replace(call.args[0].value, "y"))
    result = lint(source, rule)
    assert [d.start for d in result.diagnostics] == [Location(1, 1), Location(2, 1)]
    assert _edits(result) == [[(2, 3, "y")], [(7, 8, "y")]]


@pytest.fixture
def placed(monkeypatch):
    """What ``_place`` returned, for each file linted."""
    found = []
    real = engine._place

    def recording(context):
        found.append(real(context))
        return found[-1]

    monkeypatch.setattr(engine, "_place", recording)
    return found


@pytest.mark.parametrize(
    "source",
    [
        "g(x)\n",
        "def f():\n    g(x)\n",
        "def f():\n    if a:\n        y = g(x)\n    g(x)\n",
        "def f():\n    g(x)\ndef h():\n    g(x)\n",  # the innermost text stands twice
        "class C:\n    def f(self):\n        return [g(x)]\n",
        "import os\ndef f():\n    g(x)\n",  # the line goes above a statement of its own
    ],
)
def test_reports_and_fixes_are_placed_from_their_statements(placed, source: str) -> None:
    rule = _with_fix(
        lambda call, module: Replace(call.args[0].value, "y"),
        lambda call, module: InsertLine(module.body[0], "import y"),
    )
    result = lint(source, rule)
    module = cst.parse_module(source)
    assert placed and all(found is not None for found in placed)
    full = lint(source, rule, locate=lambda module, nodes: node_spans(module, nodes))
    assert result.diagnostics == full.diagnostics
    assert len(result.diagnostics) == source.count("g(x)")
    assert module.code == source


def test_nothing_to_locate_places_nothing(placed) -> None:
    assert lint("x = (1)\n", ReportCalls).diagnostics == []
    assert placed == []


def test_a_report_knows_its_line() -> None:
    result = lint("x = 1\ny = 2\n", ReportNames)
    assert [(d.start_offset, d.end_offset) for d in result.diagnostics] == [(0, 1), (6, 7)]
    assert [d.source_line for d in result.diagnostics] == ["x = 1", "y = 2"]


@pytest.mark.parametrize(
    "source",
    [
        "if a:\n    pass\n",  # the report's parent is the statement itself
        "def f():\n    if a:\n        pass\n",
        "x = 1; y = 2\n",
    ],
)
def test_a_report_in_a_statements_own_fields_is_placed(placed, source: str) -> None:
    result = lint(source, ReportNames)
    assert placed and all(found is not None for found in placed)
    full = lint(source, ReportNames, locate=lambda module, nodes: node_spans(module, nodes))
    assert result.diagnostics == full.diagnostics


def test_python_checks_the_nesting_only_of_files_that_could_be_too_deep(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(engine, "ast", types.SimpleNamespace(parse=refuse))
    assert engine.python_rejects("x = (1 + f(2))\n" * 20) is None


def test_libcst_positions_are_made_one_based() -> None:
    source = "x = 1\ny = (\n"
    error = cst.ParserSyntaxError(
        "bad thing", lines=source.splitlines(True), raw_line=2, raw_column=4
    )
    diagnostic = engine._syntax_error("a.py", error, source)
    assert (diagnostic.start, diagnostic.message) == (Location(2, 5), "SyntaxError: bad thing")
    assert diagnostic.source_line == "y = ("
    diagnostic = engine._syntax_error("a.py", engine.ParserLimitation(error), source)
    assert diagnostic.start == Location(2, 5)
    assert diagnostic.message.endswith("so nothing in it was checked (bad thing)")


def test_the_time_of_a_rules_visitors_is_the_rules(monkeypatch) -> None:
    class Slow(_Fake):
        name = "slow"

        def visit_Call(self, node: cst.Call) -> None:
            time.sleep(0.05)

    timer = timing.Timer()
    monkeypatch.setattr(timing, "TIMER", timer)
    lint("f(a)\n", Slow)
    assert timer.seconds["rule TL703 (slow)"] >= 0.05  # not the walk's
