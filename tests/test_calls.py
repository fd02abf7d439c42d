"""Reading string literals: the text itself where it has no escapes, Python's value else."""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from torchlint.calls import string_literal

LITERALS = [
    '"cuda"',
    "'cuda:0'",
    'r"a\\b"',
    '"a\\tb"',
    '"\\x63uda"',
    'u"x"',
    'R"x"',
    '"""two\nlines"""',
    '"""crlf\r\nlines"""',
    '"a" "b"',
    '"a\\\nb"',
]


@pytest.mark.parametrize("text", LITERALS)
def test_a_string_literal_has_the_value_python_gives_it(text: str) -> None:
    expr = cst.parse_module(f"x = {text}\n").body[0].body[0].value
    assert string_literal(expr) == ast.literal_eval(text.replace("\r\n", "\n"))


@pytest.mark.parametrize("text", ['b"cuda"', 'f"cuda{x}"', "x", "1"])
def test_bytes_f_strings_and_other_expressions_have_none(text: str) -> None:
    assert string_literal(cst.parse_expression(text)) is None
