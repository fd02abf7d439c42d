"""Cost that grows with the input, not with its square (DESIGN.md, Performance).

No test here is timed: each counts the work (how often a scope's facts are read, how many
times the source is searched, how many Python calls a run makes) or the size of what a
diagnostic keeps, at a size N and at 2N. ``benchmarks/stress.py`` measures the time.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import tokenize
from io import StringIO
from pathlib import Path

import pytest

from torchlint import engine, fixer, nesting, parse_cost
from torchlint.analysis import device_names, scope_device
from torchlint.config import DEFAULT_MAX_FILE_SIZE, build_settings
from torchlint.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from torchlint.nesting import DEFAULT_MAX_NESTING
from torchlint.parse_cost import DEFAULT_MAX_PARSE_MEMORY
from torchlint.positions import ELLIPSIS, EXCERPT, SHOWN_LINE
from torchlint.registry import selected_rules
from torchlint.report.text import write_full

GROWTH = 2.3  # doubling an input at most doubles the work (DESIGN.md), with room to spare


def _lint(source: str, select: str):
    # Strict portability: the generated scopes select no device, and TL201 must still fire.
    chosen = build_settings(None, select=[select], table={"portability": "strict"})
    rules = selected_rules(chosen.selected_codes)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:  # in this thread (`lint_source` uses a thread of its own): the counts see it all
        return engine._lint_source("gen.py", source, chosen, rules, None)
    finally:
        sys.setrecursionlimit(limit)


def _calls(source: str, select: str) -> int:
    """How many Python functions one lint of ``source`` calls: the work, without a clock."""
    _lint(_scope(2), select)  # one-time work (imports, per-class tables) is not the input's
    count = 0

    def profile(frame, event, arg) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        _lint(source, select)
    finally:
        sys.setprofile(None)
    return count


def _scope(n: int, head: str = "") -> str:
    return "import torch\n" + head + "".join(f"x{i} = torch.zeros(1).cuda()\n" for i in range(n))


# --- TL201 (and the device fixes): per-scope facts once per scope --------------------------


def test_calls_in_one_scope_cost_linear_work() -> None:
    """Every rule on a scope of N `.cuda()` calls, then 2N: TL201's fix looked for a device
    among all the scope's names once per call (quadratic in the calls of one scope)."""
    small, large = _calls(_scope(100), "ALL"), _calls(_scope(200), "ALL")
    assert large / small <= GROWTH


def test_a_scope_s_names_are_read_once_not_once_per_call(monkeypatch) -> None:
    """The device fixes look for a device among a scope's bindings: read once per scope."""
    bound: list[object] = []
    real = scope_device._bind_target

    def counting(*args, **kwargs):
        bound.append(args[2])
        return real(*args, **kwargs)

    read: list[object] = []
    real_bindings = scope_device._device_bindings

    def reading(context, scope):
        read.append(scope)
        return real_bindings(context, scope)

    monkeypatch.setattr(scope_device, "_bind_target", counting)
    monkeypatch.setattr(scope_device, "_device_bindings", reading)
    result = _lint(_scope(80), "TL201")
    assert len(result.diagnostics) == 80
    assert len(bound) <= 2 * 80  # each binding once, not once per call
    assert len(read) <= 4  # and the names that hold a device are picked once per scope


def test_a_scope_s_statements_are_listed_once(monkeypatch) -> None:
    """With a device in scope, each fix asks where the call stands among the statements."""
    listed: list[object] = []
    real = device_names.scope_body

    def counting(node):
        listed.append(node)
        return real(node)

    monkeypatch.setattr(device_names, "scope_body", counting)
    result = _lint(_scope(80, head='device = torch.device("cuda")\n'), "TL201")
    fixes = [d.fix.edits[0].content for d in result.diagnostics if d.fix is not None]
    assert fixes == ["torch.zeros(1).to(device)"] * 80  # the device in scope is reused
    assert len(listed) <= 3


# --- the fixer: thousands of fixes in one pass --------------------------------------------------


def _fix_calls(n: int) -> int:
    strict = {"portability": "strict"}
    source, settings = _scope(n), build_settings(None, select=["TL201"], table=strict)
    rules = selected_rules(settings.selected_codes)
    count = 0

    def profile(frame, event, arg) -> None:
        nonlocal count
        if event == "call":
            count += 1

    fixer._fix_source("gen.py", _scope(2), settings, rules, unsafe=True, only=None)
    sys.setprofile(profile)
    try:
        fixed = fixer._fix_source("gen.py", source, settings, rules, unsafe=True, only=None)
    finally:
        sys.setprofile(None)
    assert fixed.fixed == n
    return count


def test_fixing_n_calls_costs_linear_work() -> None:
    """Each fix's offset was mapped through all the pass's edits, and each fix compared
    with all those chosen before it: quadratic in the fixes of a file."""
    assert _fix_calls(200) / _fix_calls(100) <= GROWTH


def test_choosing_n_fixes_compares_each_with_its_neighbours(monkeypatch) -> None:
    compared: list[object] = []
    real = fixer._overlaps
    monkeypatch.setattr(fixer, "_overlaps", lambda e, span: compared.append(e) or real(e, span))
    location = Location(1, 1)
    found = [
        Diagnostic(
            "a.py", location, location, "TL201", "n", "m",
            Fix(Applicability.SAFE, (Edit(10 * i, 10 * i + 4, "x"),), "fix"), 10 * i,
        )
        for i in range(500)
    ]  # fmt: skip
    assert len(fixer._non_overlapping(found)) == 500
    assert len(compared) <= 2 * 500


def _random_edits(rng: random.Random, overlapping: bool) -> list[Edit]:
    edits, position = [], 0
    for _ in range(rng.randint(0, 8)):
        start = position + rng.randint(0, 3)
        end = start + rng.choice((0, 0, 1, 2, 5))
        edits.append(Edit(start, end, "x" * rng.randint(0, 4)))
        position = end if not overlapping else max(0, start - 2)
    rng.shuffle(edits)
    return edits


@pytest.mark.parametrize("overlapping", [False, True])
def test_offset_map_agrees_with_map_offset(overlapping: bool) -> None:
    rng = random.Random(35)
    for _ in range(400):
        edits = _random_edits(rng, overlapping)
        moved = fixer.OffsetMap(edits)
        for offset in range(0, 45):
            for end in (False, True):
                assert moved.map(offset, end=end) == fixer.map_offset(offset, edits, end=end)


def _quadratic_non_overlapping(diagnostics):
    """The old choice, every edit against every chosen range: what the fast one must match."""
    chosen, taken = [], []
    for d in sorted(diagnostics, key=lambda d: (d.start_offset, d.code)):
        if any(fixer._overlaps(e, span) for e in d.fix.edits for span in taken):
            continue
        chosen.append(d)
        taken.extend((e.start, e.end) for e in d.fix.edits)
    return chosen


def test_non_overlapping_choice_is_unchanged() -> None:
    rng = random.Random(7)
    for _ in range(300):
        found = []
        for index in range(rng.randint(0, 12)):
            edits = tuple(_random_edits(rng, rng.random() < 0.2)[:3]) or (Edit(0, 0, "x"),)
            start = min(e.start for e in edits)
            fix = Fix(Applicability.SAFE, edits, "fix")
            location = Location(1, 1)
            found.append(
                Diagnostic("a.py", location, location, f"TL{index:03}", "n", "m", fix, start)
            )
        assert fixer._non_overlapping(found) == _quadratic_non_overlapping(found)


# --- diagnostics keep spans and an excerpt, never copies of long lines -----------------------


def _one_line(n: int) -> str:
    return "import torch\nt = [" + ", ".join(["torch.zeros(1).cuda()"] * n) + "]\n"


def test_what_diagnostics_keep_grows_with_their_number_not_with_their_line() -> None:
    """N findings on one line of N calls, then 2N: each diagnostic kept a copy of the line
    (17 GB for 20,000 calls); the pickled result is what a worker sends and the cache keeps."""
    small = _lint(_one_line(150), "TL201").diagnostics
    large = _lint(_one_line(300), "TL201").diagnostics
    assert len(large) == 2 * len(small) == 300
    assert len(pickle.dumps(large)) / len(pickle.dumps(small)) <= GROWTH
    assert max(len(d.source_line) for d in large) <= EXCERPT + 2 * len(ELLIPSIS)


def test_full_output_grows_with_the_findings_not_with_their_line() -> None:
    outputs = []
    for n in (150, 300):
        out = StringIO()
        write_full(_lint(_one_line(n), "TL201").diagnostics, out, color=False)
        outputs.append(len(out.getvalue()))
    assert outputs[1] / outputs[0] <= GROWTH


def test_a_long_line_shows_an_excerpt_with_the_caret_on_the_finding() -> None:
    source = "import torch\nt = [" + "0, " * 2000 + "x.cuda()]\n"
    (diagnostic,) = _lint(source, "TL201").diagnostics
    out = StringIO()
    write_full([diagnostic], out, color=False)
    lines = out.getvalue().splitlines()
    shown = lines[2].split(" | ", 1)[1]
    carets = lines[3].split(" | ", 1)[1]
    assert shown.startswith(ELLIPSIS) and not shown.endswith(ELLIPSIS)
    column = carets.index("^")
    assert shown[column : column + 4] == "cuda" and carets.count("^") == 4
    assert len(shown) < SHOWN_LINE


def test_short_lines_are_shown_whole() -> None:
    (diagnostic,) = _lint("import torch\nx = batch.cuda()\n", "TL201").diagnostics
    assert diagnostic.source_line == "x = batch.cuda()" and diagnostic.line_shift == 0


# --- locating findings: the source is searched a bounded number of times ---------------------


def test_placing_many_statements_stops_searching_the_source(monkeypatch) -> None:
    """Each statement with a finding was found by searching the whole source: thousands of
    them in a large file made that quadratic. Past a budget the module is generated once."""
    source = _scope(60)
    expected = _lint(source, "TL201").diagnostics
    searches: list[object] = []
    real = engine.placed_spans

    def counting(*args, **kwargs):
        searches.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "placed_spans", counting)
    monkeypatch.setattr(engine, "_PLACE_BUDGET", 10 * len(source))
    found = _lint(source, "TL201").diagnostics
    assert len(searches) <= 10
    assert [(d.start, d.end, d.fix) for d in found] == [(d.start, d.end, d.fix) for d in expected]


# --- the language server: a position needs no copy of its line -------------------------------


def test_lsp_positions_of_an_ascii_text_copy_no_line(monkeypatch) -> None:
    pytest.importorskip("lsprotocol")
    from torchlint.diagnostics import Location
    from torchlint.positions import LineIndex
    from torchlint.server.positions import Positions

    copies: list[int] = []
    real = LineIndex.line_text
    monkeypatch.setattr(
        LineIndex, "line_text", lambda self, s, line: copies.append(line) or real(self, s, line)
    )
    positions = Positions("x = 1\r\ny = [" + "1, " * 100 + "]\n")
    assert positions.position(Location(2, 9)).character == 8
    assert positions.position(Location(2, 10_000)).character == len("y = [" + "1, " * 100 + "]")
    assert positions.position(Location(1, 99)).character == 5  # not the "\r"
    assert copies == []
    assert Positions("é = 1\n").position(Location(1, 3)).character == 2  # UTF-16 still counts


# --- the summary says when files were not checked --------------------------------------------

REPORTED = "import torch.nn.functional as F\ny = F.upsample(x)\n"  # TL605, on by default


@pytest.fixture
def over_the_limit(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nmax-file-size = 1\n")
    (tmp_path / "big.py").write_text(REPORTED + "# padding\n" * 200)  # about 2 KiB
    return tmp_path


def test_a_pass_with_a_file_not_checked_says_so(over_the_limit: Path, run_cli) -> None:
    done = run_cli("check", ".")
    assert done.returncode == 0  # documented: a file over the limit is not an error
    assert done.stderr.decode().splitlines()[-1] == (
        "All checks passed! (1 file not checked: larger than max-file-size)"
    )


def test_findings_with_a_file_not_checked_end_with_it(over_the_limit: Path, run_cli) -> None:
    (over_the_limit / "small.py").write_text(REPORTED)
    done = run_cli("check", "--output-format", "json", ".")
    assert done.returncode == 1
    assert [d["filename"] for d in json.loads(done.stdout)] == ["small.py"]
    assert done.stderr.decode().splitlines()[-1] == (
        "(1 file not checked: larger than max-file-size.)"
    )


def test_sarif_and_github_name_the_file_not_checked(over_the_limit: Path, run_cli) -> None:
    sarif = json.loads(run_cli("check", "--output-format", "sarif", ".").stdout)
    (notification,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notification["level"] == "warning"
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "big.py"
    github = run_cli("check", "--output-format", "github", ".").stdout.decode()
    assert github.startswith("::warning title=torchlint (not checked),file=big.py::")
    (over_the_limit / "pyproject.toml").write_text("[tool.torchlint]\n")
    clean = json.loads(run_cli("check", "--output-format", "sarif", ".").stdout)
    assert "invocations" not in clean["runs"][0]


# --- TL301: the mode before each `no_grad` block, worked out once per function ------------


def _no_grad_blocks(n: int) -> str:
    head = (
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.drop = nn.Dropout(0.5)\n\n"
        "    def forward(self, x):\n        return self.drop(x)\n\n\ndef run(x):\n    model = Net()\n"
    )
    return head + "".join(f"    with torch.no_grad():\n        y{i} = model(x)\n" for i in range(n))


def _flow_lines(source: str) -> int:
    """How many lines of the training-loop index and of TL301 run for one lint of ``source``
    (the walk over a function's events is a loop of plain statements: no call to count)."""
    from torchlint.analysis import flow
    from torchlint.rules.training import missing_eval

    files = {flow.__file__, missing_eval.__file__}
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename in files else None

    sys.settrace(tracer)
    try:
        result = _lint(source, "TL301")
    finally:
        sys.settrace(None)
    assert len(result.diagnostics) == source.count("no_grad")
    return count


def test_the_mode_before_each_no_grad_block_costs_linear_work() -> None:
    """Each block asked for the mode by walking the function's events up to it: quadratic in
    the blocks of one function."""
    _flow_lines(_no_grad_blocks(2))  # one-time work
    small, large = _flow_lines(_no_grad_blocks(150)), _flow_lines(_no_grad_blocks(300))
    assert large / small <= GROWTH, (small, large)


def _nested_ifs(depth: int, test: str) -> str:
    lines = ["import torch\n", "def f(x):\n"]
    for level in range(1, depth + 1):
        pad = "    " * level
        lines += [f"{pad}if {test}:\n", f"{pad}    y = x.cuda()\n"]
    return "".join(lines)


def test_the_device_selection_reads_an_if_body_only_when_its_test_could_choose(
    monkeypatch,
) -> None:
    """Whether an ``if`` chooses a device reads the code of its whole body: asked of every
    ``if``, nested blocks cost the square of their depth (`nested-blocks`). It is asked
    only of an ``if`` whose test holds evidence (``torch.cuda.is_available()``)."""
    from torchlint.analysis import portability

    bodies: list[int] = []
    real = portability._if_chooses

    def counted(module, scope, node):
        bodies.append(len(module.code_for_node(node.body)))
        return real(module, scope, node)

    def selection(source: str):
        import libcst as cst

        from torchlint.engine import FileContext

        context = FileContext("f.py", source, cst.parse_module(source), build_settings(None))
        return portability.device_selection(context)

    monkeypatch.setattr(portability, "_if_chooses", counted)
    assert selection(_nested_ifs(40, "x.size(0) > 1")) is None
    assert bodies == []
    found = selection(_nested_ifs(3, "torch.cuda.is_available()"))
    assert found is not None and "is_available" in found.what
    assert len(bodies) == 1  # the outer `if`: its test is the evidence, and it chooses


# --- brackets nested deeper than max-nesting: not parsed, and said so -------------------------


def _nested(depth: int) -> str:
    return REPORTED + "x = " + "[" * depth + "1" + "]" * depth + "\n"


@pytest.fixture
def nested_too_deeply(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")  # the default max-nesting
    (tmp_path / "deep.py").write_text(_nested(DEFAULT_MAX_NESTING + 1))
    return tmp_path


def test_a_file_nested_deeper_than_max_nesting_is_not_checked(nested_too_deeply, run_cli) -> None:
    for _ in range(2):  # the second run reads the cache: the file is still not checked
        done = run_cli("check", ".")
        assert done.returncode == 0  # as for max-file-size: the limit is not an error
        lines = done.stderr.decode().splitlines()
        assert lines[0] == (
            "torchlint: warning: deep.py: not checked: brackets nested 41 deep, more than "
            "`max-nesting` (40), where the parser's memory grows with the depth; exclude the "
            "file, or raise the limit"
        )
        assert lines[-1] == (
            "All checks passed! (1 file not checked: nested deeper than 40 brackets)"
        )


def test_a_file_at_max_nesting_is_checked(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "deep.py").write_text(_nested(DEFAULT_MAX_NESTING))
    done = run_cli("check", ".")
    assert done.returncode == 1 and b"deep.py:2:5: TL605" in done.stdout
    assert b"not checked" not in done.stderr


def test_a_file_too_deep_for_python_is_still_a_syntax_error(tmp_path: Path, run_cli) -> None:
    """Past CPython's 200 brackets the file is invalid, not skipped: TL000, found without
    libcst, fails the run."""
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "deep.py").write_text(_nested(250))
    done = run_cli("check", ".")
    assert (
        done.returncode == 1
        and b"deep.py:3:205: TL000 SyntaxError: too many nested parentheses" in done.stdout
    )
    assert b"not checked" not in done.stderr


def test_json_sarif_and_github_name_the_file_nested_too_deeply(nested_too_deeply, run_cli) -> None:
    (nested_too_deeply / "small.py").write_text(REPORTED)
    done = run_cli("check", "--output-format", "json", ".")
    assert [d["filename"] for d in json.loads(done.stdout)] == ["small.py"]
    assert done.stderr.decode().splitlines()[-1] == (
        "(1 file not checked: nested deeper than 40 brackets.)"
    )
    sarif = json.loads(run_cli("check", "--output-format", "sarif", ".").stdout)
    (notification,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notification["descriptor"] == {"id": "max-nesting"}
    assert (
        notification["message"]["text"] == "not checked: the file is nested deeper than 40 brackets"
    )
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deep.py"
    github = run_cli("check", "--output-format", "github", ".").stdout.decode().splitlines()
    assert github[-1] == (
        "::warning title=torchlint (not checked),file=deep.py::"
        "not checked: the file is nested deeper than 40 brackets"
    )


def test_files_skipped_for_both_reasons_are_counted_apart(nested_too_deeply, run_cli) -> None:
    (nested_too_deeply / "pyproject.toml").write_text("[tool.torchlint]\nmax-file-size = 1\n")
    (nested_too_deeply / "big.py").write_text(REPORTED + "# padding\n" * 200)
    done = run_cli("check", ".")
    assert done.stderr.decode().splitlines()[-1] == (
        "All checks passed! (2 files not checked: 1 larger than max-file-size, "
        "1 nested deeper than 40 brackets)"
    )
    sarif = json.loads(run_cli("check", "--output-format", "sarif", ".").stdout)
    notifications = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notifications] == ["max-file-size", "max-nesting"]


@pytest.mark.parametrize(("limit", "checked"), [(0, True), (41, True), (20, False)])
def test_max_nesting_is_a_setting(tmp_path: Path, run_cli, limit: int, checked: bool) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.torchlint]\nmax-nesting = {limit}\n")
    (tmp_path / "deep.py").write_text(_nested(DEFAULT_MAX_NESTING + 1))
    done = run_cli("check", ".")
    assert (b"deep.py:2:5: TL605" in done.stdout) is checked
    assert (b"not checked" in done.stderr) is not checked


NOT_CODE = [  # (source, its bracket depth): what is in strings and comments does not count
    ('x = "(((((("\n', 0),
    ("x = 1  # ((((((\n", 0),
    ("x = '''\n((( \\''' ((\n'''\n", 0),
    ('x = """a "" ((( \\""" [[\n"""\n', 0),
    ('x = f"{y!r} ((((" + rb")))" + r"\\"(("\n', 0),
    ("x = [b']]]', {'(': 1}]  # ]]]\n", 2),
    ("x = ('#', ((1)))\n", 3),
    ("x = '\\\n((('\n", 0),  # a backslash-newline inside a string
]


@pytest.mark.parametrize(("source", "depth"), NOT_CODE)
def test_brackets_in_strings_and_comments_do_not_count(source: str, depth: int) -> None:
    assert nesting.estimated_depth(source) == depth
    assert nesting.tokenized_depth(source) == depth


def test_brackets_in_strings_do_not_make_a_file_too_deep() -> None:
    inside = "x = " + "(" * 3 + repr("(" * 100) + ")" * 3 + "  # " + "[" * 100 + "\n"
    assert nesting.too_deep(inside, 40) is None
    assert nesting.too_deep(_nested(41), 40) == 41
    assert nesting.too_deep(_nested(41), 0) is None  # 0: no limit


def test_a_file_nested_too_deeply_is_never_parsed(monkeypatch) -> None:
    from torchlint import runner
    from torchlint.sourcefile import decode_source

    def parse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(runner, "lint_source", parse)
    monkeypatch.setattr(runner, "fix_source", parse)
    source = decode_source(_nested(41).encode(), Path("deep.py"))
    for mode in (runner.Mode(), runner.Mode(fix=True, write=False)):
        outcome = runner.process_source("deep.py", source, build_settings(None), mode)
        assert outcome.not_checked is not None and outcome.not_checked.setting == "max-nesting"


def _nesting_work(source: str, monkeypatch) -> int:
    """Characters lexed, brackets summed and tokens read by one nesting check."""
    work = 0
    lexer, real_accumulate, real_tokens = (
        nesting.NOT_CODE,
        nesting.accumulate,
        tokenize.generate_tokens,
    )

    class Lexer:
        def sub(self, replacement, text):
            nonlocal work
            work += len(text)
            return lexer.sub(replacement, text)

    def accumulate(values):
        nonlocal work
        work += len(values)
        return real_accumulate(values)

    def generate_tokens(readline):
        nonlocal work
        for token in real_tokens(readline):
            work += 1
            yield token

    with monkeypatch.context() as patch:
        patch.setattr(nesting, "NOT_CODE", Lexer())
        patch.setattr(nesting, "accumulate", accumulate)
        patch.setattr(tokenize, "generate_tokens", generate_tokens)
        assert nesting.too_deep(source, 40) == 62  # 60 lists, a dict, a tuple
    return work


def test_the_nesting_check_costs_linear_work(monkeypatch) -> None:
    """Each character is lexed once and each bracket summed once; only a file found too deep
    is tokenized, once."""
    statement = "x = " + "[" * 60 + "f'(', '[', {1: (2,)}" + "]" * 60 + "  # ]]\n"
    small = _nesting_work(statement * 150, monkeypatch)
    large = _nesting_work(statement * 300, monkeypatch)
    assert large / small <= GROWTH, (small, large)


# --- files whose parse would take more than max-parse-memory: not parsed, and said so ----------


def _dense(rows: int) -> str:
    """A generated table: rows of tensors of short numbers, as exported weights are."""
    return "import torch\nW = [\n" + "    torch.tensor([1, 2, 3]).cuda(),\n" * rows + "]\n"


def _tokenized_weight(source: str) -> tuple[int, int]:
    """The tokens (less the end marker and the indents, which libcst keeps no node for) and
    the sum of their bracket depths (a bracket's: the depth inside it), read by :mod:`tokenize`."""
    tokens = depths = depth = 0
    for token in tokenize.generate_tokens(StringIO(source).readline):
        if token.type in (tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        if token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        tokens, depths = tokens + 1, depths + depth
    return tokens, depths


WEIGHED = [
    _dense(50),
    "x = [" + ", ".join(f"{i / 7:.5f}" for i in range(300)) + "]\n",  # numbers with dots
    "".join(f"a{i} = {i}\n" for i in range(200)),  # statements
    "x = " + "[" * 30 + "1, 2" + "]" * 30 + "\n",  # deep
    'x = f"((({y}" + r"\\\\" + b"]]"  # a comment ((( is one token\n',
    "def f(x):\n    if x:\n        return {'a': (1, 2)}\n\n\n# end\n",
    "y = 1e-05 + 0x1F + 1_000 + 2j\n",  # its exponent's sign is an operator: one more
]


@pytest.mark.parametrize("source", WEIGHED)
def test_the_weight_counts_the_tokens_and_their_depth_as_tokenize_does(source: str) -> None:
    tokens, depths = _tokenized_weight(source)
    extra = source.count("e-0")  # `1e-05` is one token to Python, three to the scan
    assert parse_cost.weight(source) == (tokens + 2 * extra, depths)


def test_the_estimate_is_three_units_a_token_and_one_a_bracket_around_it() -> None:
    source = "x = [[1, 2]]\n"  # x = [ [ 1 , 2 ] ] NEWLINE: 10 tokens at 0 0 1 2 2 2 2 1 0 0
    assert parse_cost.weight(source) == (10, 10)
    assert parse_cost.estimated_mib(10, 10) == 1  # rounded up
    assert parse_cost.estimated_mib(400_000, 0) == 879  # 0.75 KiB x 3 x 400,000
    assert parse_cost.estimated_mib(400_000, 1_000_000) == 1612


def test_a_dense_table_under_max_file_size_is_over_max_parse_memory() -> None:
    """600 KiB of tensor rows: well under max-file-size, over 900 MiB to parse (measured:
    a 560 KiB table of these rows takes 0.82 GB to parse, 0.84 GB to check)."""
    source = _dense(17_000)
    assert len(source) < DEFAULT_MAX_FILE_SIZE * 1024
    estimate = parse_cost.too_costly(source, DEFAULT_MAX_PARSE_MEMORY)
    assert estimate is not None and estimate > DEFAULT_MAX_PARSE_MEMORY
    assert parse_cost.too_costly(source, 0) is None  # 0: no limit


def test_ordinary_code_near_max_file_size_is_under_max_parse_memory() -> None:
    """A big hand-written file: copies of the example training script (compact code, 3.6
    bytes a token) up to 1,000 KiB are estimated at 759 MiB. The largest hand-written files
    in torch and the 114 projects (400 KiB at most) are estimated at 183 MiB at most."""
    example = (Path(__file__).resolve().parents[1] / "examples" / "train_bad.py").read_text()
    source = example * (1000 * 1024 // len(example))
    assert 700 < parse_cost.estimated_mib(*parse_cost.weight(source)) < DEFAULT_MAX_PARSE_MEMORY
    assert parse_cost.too_costly(source, DEFAULT_MAX_PARSE_MEMORY) is None


def test_a_file_too_small_to_reach_the_limit_is_not_scanned(monkeypatch) -> None:
    """Its size bounds the estimate (every character a token, 200 brackets deep); then its
    size and depth; only a file past both is scanned for tokens."""
    scanned = []
    monkeypatch.setattr(parse_cost, "_weight", lambda code: scanned.append(code) or (0, 0))
    assert parse_cost.too_costly("x = [1, 2]\n" * 500, 900) is None  # 5.5 KB
    assert parse_cost.too_costly("x = 1\n" * 100_000, 900) is None  # 600 KB, flat
    assert scanned == []
    parse_cost.too_costly("x = [" + "1, " * 200_000 + "]\n", 900)
    assert len(scanned) == 1


@pytest.fixture
def too_dense(tmp_path: Path) -> Path:
    """A dense file and a small one, with a limit a test can reach cheaply."""
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nmax-parse-memory = 10\n")
    (tmp_path / "table.py").write_text(_dense(300))
    (tmp_path / "small.py").write_text(REPORTED)
    return tmp_path


def test_a_file_over_max_parse_memory_is_not_checked_and_said_so(too_dense, run_cli) -> None:
    estimate = parse_cost.estimated_mib(*parse_cost.weight(_dense(300)))
    assert estimate == 20
    for _ in range(2):  # the second run reads the cache: the file is still not checked
        done = run_cli("check", ".")
        assert done.returncode == 1  # small.py's finding; the skipped file changes nothing
        assert b"table.py" not in done.stdout
        lines = done.stderr.decode().splitlines()
        assert lines[0] == (
            "torchlint: warning: table.py: not checked: parsing it would take about 20 MiB, "
            "more than `max-parse-memory` (10 MiB), where the parser's memory grows with the "
            "tokens and their bracket depth; exclude the file, or raise the limit"
        )
        assert "(1 file not checked: estimated to take more than 10 MiB to parse" in lines[-1]
    (too_dense / "small.py").unlink()
    done = run_cli("check", "--output-format", "json", ".")
    assert json.loads(done.stdout) == []
    assert done.stderr.decode().splitlines()[-1] == (
        "All checks passed! (1 file not checked: estimated to take more than 10 MiB to parse)"
    )
    sarif = json.loads(run_cli("check", "--output-format", "sarif", ".").stdout)
    (notification,) = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notification["descriptor"] == {"id": "max-parse-memory"}
    assert notification["message"]["text"] == (
        "not checked: the file is estimated to take more than 10 MiB to parse"
    )
    github = run_cli("check", "--output-format", "github", ".").stdout.decode().splitlines()
    assert github[-1] == (
        "::warning title=torchlint (not checked),file=table.py::"
        "not checked: the file is estimated to take more than 10 MiB to parse"
    )
    fixed = run_cli("fix", ".")
    assert (
        "(1 file not checked: estimated to take more than 10 MiB to parse"
        in (fixed.stderr.decode().splitlines()[-1])
    )


@pytest.mark.parametrize(("limit", "checked"), [(0, True), (20, True), (19, False)])
def test_max_parse_memory_is_a_setting(tmp_path: Path, run_cli, limit: int, checked: bool) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.torchlint]\nmax-parse-memory = {limit}\n")
    (tmp_path / "table.py").write_text(REPORTED + _dense(300))  # estimated at 20 MiB
    done = run_cli("check", ".")
    assert (b"table.py:2:5: TL605" in done.stdout) is checked
    assert (b"not checked" in done.stderr) is not checked


def test_the_editor_gets_no_diagnostics_for_a_buffer_over_max_parse_memory() -> None:
    from torchlint.server.documents import lint_text

    settings = build_settings(None, table={"max-parse-memory": 10})
    found, lines = lint_text("table.py", REPORTED + _dense(300), settings)
    assert (found, lines) == (
        [],
        [
            "table.py: not checked: parsing it would take about 20 MiB, more than "
            "`max-parse-memory` (10 MiB)"
        ],
    )
    found, lines = lint_text("table.py", REPORTED + _dense(100), settings)
    assert [d.code for d in found] == ["TL605"] and lines == []


def test_a_file_over_max_parse_memory_is_never_parsed(monkeypatch) -> None:
    from torchlint import runner
    from torchlint.sourcefile import decode_source

    def parse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(runner, "lint_source", parse)
    monkeypatch.setattr(runner, "fix_source", parse)
    source = decode_source(_dense(17_000).encode(), Path("table.py"))
    for mode in (runner.Mode(), runner.Mode(fix=True, write=False)):
        outcome = runner.process_source("table.py", source, build_settings(None), mode)
        assert outcome.not_checked is not None
        assert outcome.not_checked.setting == "max-parse-memory"


def _chain(terms: int, term: str = "x") -> str:
    return "y = (" + "\n + ".join([term] * terms) + ")\n"


@pytest.mark.parametrize(
    ("source", "operators"),
    [
        (_chain(3000), 2999),
        (_chain(1500, "f(a, b * c)"), 1499),  # a chain of calls counts whole; its arguments apart
        ("z = " + " and ".join(["x"] * 3000) + "\n", 0),  # flat in libcst's tree
        ("z = x + y\n" * 3000, 1),  # many short statements
        ("s = '" + "+" * 5000 + "'  # " + "-" * 5000 + "\n", 0),  # strings and comments
        ("größe = maß * 2\n" * 400, 1),  # non-ASCII names are operands, not operators
    ],
)
def test_the_longest_operator_chain_is_counted(source: str, operators: int) -> None:
    found = parse_cost.longest_operator_chain(source, limit=0)
    assert found == operators


def test_a_file_with_a_long_operator_chain_is_never_parsed(monkeypatch, run_cli, tmp_path) -> None:
    """libcst's parse time grows far faster than a chain of binary operators (16,000 terms:
    more than ten minutes): such a file is skipped, said so, before any parse."""
    from torchlint import runner
    from torchlint.sourcefile import decode_source

    def parse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(runner, "lint_source", parse)
    source = decode_source(_chain(16_000).encode(), Path("poly.py"))
    outcome = runner.process_source("poly.py", source, build_settings(None), runner.Mode())
    assert outcome.not_checked is not None and outcome.not_checked.setting == "operator-chain"
    (tmp_path / "poly.py").write_text(_chain(parse_cost.MAX_OPERATOR_CHAIN + 2))  # 1,001 `+`
    (tmp_path / "fine.py").write_text(_chain(parse_cost.MAX_OPERATOR_CHAIN + 1))
    done = run_cli("check", ".")
    assert done.returncode == 0
    lines = done.stderr.decode().splitlines()
    assert lines[0] == (
        "torchlint: warning: poly.py: not checked: one expression chains 1,001 arithmetic "
        "operators, more than the parser handles in reasonable time (1,000); exclude the file"
    )
    assert lines[-1] == (
        "All checks passed! (1 file not checked: an expression chains more than 1,000 operators)"
    )


# --- the stress suite's in-process drivers run (benchmarks/stress.py) --------------------------


@pytest.mark.parametrize("mode", ["lsp", "parse"])
def test_the_stress_drivers_run_on_a_notebook_and_a_python_file(tmp_path: Path, mode: str) -> None:
    """A driver that fails at once reads as a cheap run in the suite's table: each must
    lint (or parse) the notebook and the file, and end without a traceback."""

    root = Path(__file__).resolve().parents[1]
    config = tmp_path / "all.toml"
    config.write_text('[tool.torchlint]\nselect = ["ALL"]\n')
    cells = [{"cell_type": "code", "metadata": {}, "source": "import torch\nx = torch.zeros(1)\n"}]
    notebook = tmp_path / "notebook.ipynb"
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    script = tmp_path / "train.py"
    script.write_text("import torch\nx = torch.zeros(1).cuda()\n")
    done = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "stress.py"),
            "--driver",
            mode,
            str(config),
            str(notebook),
            str(script),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
