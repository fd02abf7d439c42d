"""``# noqa`` directives: each documented form suppresses what it names, and TL001 is right."""

from __future__ import annotations

import re

import pytest

from tests.helpers import fix, lint, settings_for
from torchlint.engine import lint_source
from torchlint.registry import all_rules
from torchlint.suppression import parse_noqa

CUDA = "import torch\nx = x.cuda(){comment}\ny = y.cuda()\n"
# `portability = "strict"`: TL201 reports CUDA-only code too, so one line makes a diagnostic.
STRICT = {"portability": "strict"}
LOADER = """\
import torch, torchvision
from torch.utils.data import DataLoader
loader = DataLoader({comment}
    torchvision.datasets.ImageFolder(root),
    batch_size=2,
    shuffle=True,
)
"""


def _codes(source: str, *select: str, **table) -> list[tuple[int, str]]:
    result = lint(source, select[0], select=list(select), **{**STRICT, **table})
    assert not result.errors, result.errors
    return [(d.start.line, d.code) for d in result.diagnostics]


def test_unsuppressed_baseline() -> None:
    assert _codes(CUDA.format(comment=""), "TL201") == [(2, "TL201"), (3, "TL201")]


def test_bare_noqa_suppresses_every_code_on_its_line() -> None:
    source = CUDA.format(comment="  # noqa")
    assert _codes(source, "TL201", "TL001") == [(3, "TL201")]


def test_bare_file_level_noqa_suppresses_the_whole_file() -> None:
    source = "# torchlint: noqa\n" + CUDA.format(comment="")
    assert _codes(source, "TL201", "TL001") == []


def test_file_level_noqa_with_codes_suppresses_only_those() -> None:
    source = "# torchlint: noqa: TL202\n" + CUDA.format(comment="")
    # TL202 is selected-out here: the directive names a known code that is not enabled.
    assert _codes(source, "TL201") == [(3, "TL201"), (4, "TL201")]
    source = "# torchlint: noqa: TL201\n" + CUDA.format(comment="")
    assert _codes(source, "TL201", "TL001") == []


def test_lower_case_codes_are_codes() -> None:
    source = CUDA.format(comment="  # NOQA: tl201")
    assert _codes(source, "TL201", "TL001") == [(3, "TL201")]
    assert parse_noqa(source)[0].codes == ["TL201"]


def test_noqa_on_the_first_line_of_a_multi_line_statement() -> None:
    plain = _codes(LOADER.format(comment=""), "TL101")
    assert plain == [(3, "TL101")]  # reported where the call starts
    assert _codes(LOADER.format(comment="  # noqa: TL101"), "TL101", "TL001") == []


def test_noqa_on_a_later_line_of_the_statement_does_not_suppress() -> None:
    source = LOADER.replace("(root),\n", "(root),  # noqa: TL101\n").format(comment="")
    assert _codes(source, "TL101") == [(3, "TL101")]


def test_noqa_for_an_ignored_code_is_not_unused() -> None:
    """Under `--ignore TL101` a `# noqa: TL101` may still be needed by other configurations."""
    source = LOADER.format(comment="  # noqa: TL101")
    select = ["TL101", "TL001"]
    assert _codes(source, *select, ignore=["TL101"]) == []
    outcome = fix(source, "TL001", select=select, ignore=["TL101"], **STRICT)
    assert outcome.source == source and outcome.fixed == 0


def test_unused_noqa_is_reported_and_removed() -> None:
    source = CUDA.format(comment="  # noqa: TL101")
    assert _codes(source, "TL201", "TL001", "TL101") == [(2, "TL201"), (2, "TL001"), (3, "TL201")]
    outcome = fix(source, "TL001", select=["TL201", "TL001", "TL101"], **STRICT)
    assert outcome.source == CUDA.format(comment="")


def test_noqa_inside_a_string_is_not_a_directive() -> None:
    source = 'import torch\nx = x.cuda(); s = "# noqa"\n'
    assert _codes(source, "TL201") == [(2, "TL201")]


def test_directive_names_another_tools_code_only() -> None:
    source = CUDA.format(comment="  # noqa: E501")
    codes = ["TL201", "TL001"]
    rules = [r for r in all_rules() if r.code in codes]
    result = lint_source("example.py", source, settings_for(None, select=codes, **STRICT), rules)
    assert [(d.start.line, d.code) for d in result.diagnostics] == [(2, "TL201"), (3, "TL201")]


def test_unused_noqa_in_a_file_without_diagnostics() -> None:
    source = "import torch\nx = 1  # noqa: TL201\n"
    assert _codes(source, "TL201", "TL001") == [(2, "TL001")]


@pytest.mark.parametrize("spelling", ["NOQA", "NoQa", "nOqA"])
def test_unused_noqa_in_any_case_in_a_file_without_diagnostics(spelling: str) -> None:
    source = f"import torch\nx = 1  # {spelling}: tl201\n"
    assert _codes(source, "TL201", "TL001") == [(2, "TL001")]


def test_only_the_letters_of_noqa_match_them_ignoring_case() -> None:
    """What lets a text whose lower case lacks "noqa" skip the search for directives."""
    letters = re.compile("[noqa]", re.IGNORECASE)
    others = [
        c for c in map(chr, range(0x110000)) if letters.fullmatch(c) and c.lower() not in "noqa"
    ]
    assert others == []


def test_a_directive_naming_tl001_is_not_itself_unused() -> None:
    assert _codes("import torch\nx = 1  # noqa: TL001\n", "TL201", "TL001") == []
    result = lint("import torch\nx = 1  # noqa: TL201, TL001\n", "TL001", select=["TL201", "TL001"])
    assert [d.message for d in result.diagnostics] == ["Unused `noqa` directive (unused: TL201)"]


@pytest.mark.parametrize(
    ("source", "message", "fixed"),
    [
        (
            "import torch\nx = x.cuda()  # noqa: TL201, TL101\n",
            "unused: TL101",
            "import torch\nx = x.cuda()  # noqa: TL201\n",
        ),
        ("import torch\nx = 1  # noqa: TL999\n", "unknown: TL999", "import torch\nx = 1\n"),
        (
            "import torch\nx = 1  # noqa: TL101, TL999\n",
            "unused: TL101; unknown: TL999",
            "import torch\nx = 1\n",
        ),
        (
            "import torch\nx = 1  # noqa: TL101 # type: ignore\n",
            "unused: TL101",
            "import torch\nx = 1  # type: ignore\n",
        ),
        ("import torch\n# noqa: TL101\nx = 1\n", "unused: TL101", "import torch\nx = 1\n"),
        (
            "import torch\r\n# noqa: TL101\r\nx = 1\r\n",
            "unused: TL101",
            "import torch\r\nx = 1\r\n",
        ),
        (
            "# torchlint: noqa: TL201, TL101\nimport torch\nx = x.cuda()\n",
            "unused: TL101",
            "# torchlint: noqa: TL201\nimport torch\nx = x.cuda()\n",
        ),
        (
            "import torch\nx = 1  #noqa:TL101 because\n",
            "unused: TL101",
            "import torch\nx = 1  # because\n",
        ),
        ("\n# noqa: TL101\nimport torch\n", "unused: TL101", "\nimport torch\n"),
        ("import torch\n# noqa: TL101", "unused: TL101", "import torch\n"),
        ("import torch\n# noqa: TL101\n\nx = 1\n", "unused: TL101", "import torch\n\nx = 1\n"),
        ("import torch\nx = 1 # noqa: TL101\n", "unused: TL101", "import torch\nx = 1\n"),
    ],
    ids=[
        "one-of-two",
        "unknown",
        "unused-and-unknown",
        "shared-comment",
        "own-line",
        "crlf",
        "file",
        "trailing-text",
        "blank-first-line",
        "last-line-without-newline",
        "blank-line-after",
        "one-space",
    ],
)
def test_unused_directive_message_and_fix(source: str, message: str, fixed: str) -> None:
    select = ["TL201", "TL101", "TL001"]
    result = lint(source, "TL001", select=select, **STRICT)
    assert [d.message for d in result.diagnostics if d.code == "TL001"] == [
        f"Unused `noqa` directive ({message})"
    ]
    outcome = fix(source, "TL001", select=select, **STRICT)
    assert outcome.source == fixed


# The comment scan must agree with Python's tokenizer (what it replaced, many times slower).
TRICKY_SOURCES = [
    "x = 1  # noqa: TL101\n",
    "s = '# noqa'  # noqa: TL201\n",
    's = "it\'s # noqa"\nt = 1  # NOQA\n',
    "doc = '''\n# noqa: TL101\n'''  # noqa\n",
    'doc = """a \\""" # noqa """\ny = 2  # noqa:TL1\n',
    "# don't # noqa: TL301\nz = 'a'  # noqa\n",
    "r = r'\\'# noqa'  # real noqa\n",
    "s = 'line \\\n# noqa'\nu = 1 # noqa\n",
    "f = f'{x!r} # noqa'  # noqa: TL2\n",
    "b = b'#' + rb\"# noqa\"\n# noqa at column zero\n",
    "\tw = 1\t# noqa\r\nv = 2 # noqa: TL5\r\n",
    "e = ''\nq = '''a''' '# noqa' # noqa: TL6\n",
    "é = 'ü'  # noqa: TL7\n",
]


def _tokenized_comments(source: str) -> list[tuple[int, int, str]]:
    import io
    import tokenize

    return [
        (token.start[0], token.start[1], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and "noqa" in token.string.lower()
    ]


@pytest.mark.parametrize("source", TRICKY_SOURCES)
def test_comment_scan_agrees_with_the_tokenizer(source: str) -> None:
    from torchlint.suppression import _comments

    assert _comments(source) == _tokenized_comments(source)


def test_comment_scan_agrees_on_this_project() -> None:
    from pathlib import Path

    from torchlint.suppression import _comments

    root = Path(__file__).resolve().parents[1]
    checked = 0
    for path in [*root.glob("torchlint/**/*.py"), *root.glob("tests/**/*.py")]:
        source = path.read_text(encoding="utf-8")
        if "noqa" in source.lower():
            assert _comments(source) == _tokenized_comments(source), path
            checked += 1
    assert checked > 20
