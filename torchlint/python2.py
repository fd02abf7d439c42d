"""Python 2 files: recognised, so that they are not checked rather than reported as TL000.

A Python 3 project often vendors Python 2 code (an old evaluation script, a copied
utility): ``print "done"``, ``except IOError, e:``, ``exec code in ns``, backticks, ``<>``,
``0777``, ``10L``, ``ur"..."``. It does not parse, but nobody will port it because a linter
says so, so a TL000 there is noise. Such a file is named in the summary as not checked, as a
file over ``max-file-size`` is.

The test is strict, so that a real Python 3 syntax error stays TL000:

- the file must not parse, and CPython's (first) error must be on a line that holds a
  Python 2 construct outside strings and comments (a ``print`` statement, ``except E, e:``,
  ...). ``x.cuda(async=True)`` or a missing colon is on no such line: TL000;
- the file must show no Python 3-only syntax anywhere (an f-string, ``super()``, ``nonlocal``,
  ``async def``, ``await``, ``yield from``, ``raise ... from``, a return annotation, ``:=``,
  ``print(..., end=...)`` without ``from __future__ import print_function``): a Python 3 file
  with a stray ``print x`` is a file to fix, and stays TL000.

Only files that a cheap scan finds a Python 2 statement (or ``<>``) in are parsed here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from torchlint.nesting import NOT_CODE  # strings and comments

# What a Python 2 line holds, strings blanked to "" (their prefix kept) and comments gone.
_PY2_LINE = (
    (
        "a print statement",
        re.compile(r"(?:^|[:;])[ \t]*print(?:[ \t]+(?:[\w\"'\[{`]|>>)|[ \t]*\"|[ \t]*>>)"),
    ),
    ("an exec statement", re.compile(r"(?:^|[:;])[ \t]*exec[ \t]+[\w\"']")),
    # the target a name, not a class: `except ValueError, TypeError:` meant a tuple (a bug)
    ("`except E, e:`", re.compile(r"^[ \t]*except[ \t]+[^:]+,[ \t]*[a-z_]\w*[ \t]*:")),
    ("`raise E, message`", re.compile(r"^[ \t]*raise[ \t]+[\w.]+(?:\([^()]*\))?[ \t]*,")),
    ("a backtick repr", re.compile(r"`")),
    ("`<>`", re.compile(r"<>")),
    ("an octal literal", re.compile(r"(?<![\w.])0[0-7]*[1-7][0-7]*[lL]?(?![\w.])")),
    ("a long literal", re.compile(r"(?<![\w.])(?:0[xX][0-9a-fA-F]+|\d+)[lL](?!\w)")),
    ("a `ur` string", re.compile(r"(?<![\w])[uU][rR]\"\"")),
    (
        "a tuple parameter",
        re.compile(r"\blambda[ \t]*\(|^[ \t]*def[ \t]+\w+[ \t]*\((?:[^()]*,)?[ \t]*\("),
    ),
)
# A file worth parsing: a Python 2 statement at the start of a line, or ``<>``, in code or
# strings alike (the line of the error decides). Cheap and selective: backticks (Markdown in
# docstrings), octal-looking digits (dates) and the like are common in Python 3 files, so a
# Python 2 file is found by its statements (it has some); the search starts with a literal
# newline, which the regular expression engine scans for quickly.
_STATEMENT = (
    r"[ \t]*(?:print(?:[ \t]+[\w\"'\[{]|[ \t]*[\"']|[ \t]*>>)|exec[ \t]+[\w\"']"
    r"|except[ \t][^:\n]*,[ \t]*\w+[ \t]*:|raise[ \t]+[\w.]+[ \t]*,)"
)
_FIRST_STATEMENT = re.compile(_STATEMENT)
_LATER_STATEMENT = re.compile("\n" + _STATEMENT)


def _maybe_python2(source: str) -> bool:
    return bool("<>" in source or _FIRST_STATEMENT.match(source) or _LATER_STATEMENT.search(source))


# Python 3-only syntax, on the blanked text.
_PY3 = re.compile(
    r"(?<![\w])(?:[fF][rRbB]?|[rR][fF])\"\""  # an f-string
    r"|\bsuper\([ \t]*\)|\bnonlocal\b|\byield[ \t]+from\b|:="
    r"|^[ \t]*async[ \t]+(?:def|with|for)\b|\bawait[ \t]+[\w(]"
    r"|^[ \t]*raise[ \t][^\n]*[ \t]from[ \t]"
    r"|^[ \t]*(?:async[ \t]+)?def[ \t][^\n]*\)[ \t]*->",
    re.MULTILINE,
)
_PRINT_KEYWORDS = re.compile(r"\bprint\([^\n]*\b(?:end|sep|file|flush)[ \t]*=", re.MULTILINE)


@dataclass(frozen=True)
class Python2:
    """Where a Python 2 file stops parsing as Python 3, and on what."""

    line: int
    construct: str  # "a print statement"


def _blank(match: re.Match[str]) -> str:
    text = match.group()
    newlines = "\n" * text.count("\n")
    return newlines if text.startswith("#") else '""' + newlines


def python2_syntax(source: str) -> Python2 | None:
    """The Python 2 construct where ``source`` stops parsing, for a file that is Python 2 and
    nothing newer; None for every other file (those that parse, and real syntax errors)."""
    if not _maybe_python2(source):
        return None
    try:
        ast.parse(source)
    except SyntaxError as error:  # IndentationError and TabError too: not Python 2's own
        if isinstance(error, IndentationError) or not error.lineno:
            return None
        line = error.lineno
    except (ValueError, RecursionError, MemoryError):
        return None
    else:
        return None
    code = NOT_CODE.sub(_blank, source)
    if _PY3.search(code):
        return None
    if "print_function" not in code and _PRINT_KEYWORDS.search(code):
        return None
    lines = code.split("\n")
    text = lines[line - 1] if line <= len(lines) else ""
    for construct, pattern in _PY2_LINE:
        if pattern.search(text):
            return Python2(line, construct)
    return None
