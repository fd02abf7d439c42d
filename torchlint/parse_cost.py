"""What libcst's parse of a file will take in memory, estimated before it is parsed.

libcst keeps every token of a file as nodes (the token, the whitespace around it, its
place in the tree), and each bracket costs more per token it encloses. Measured with
libcst 1.x on CPython 3.11 (64-bit), peak memory of ``libcst.parse_module`` above the
interpreter's: 2.2 KiB per token of statements (``a1 = 1`` lines), 1.9 KiB per number
in a list, 2.6 KiB per token of a table of rows of numbers, 3.1 KiB per token of a list
of ``torch.tensor([...])`` rows, 0.3 KiB per blank line, and 0.7 KiB more per token for
each bracket around it (1,000 lines of 100 numbers: 0.4 GB one list deep, 5.3 GB 32 deep).
So a dense 1 MiB file (a table of short numbers: 300,000 to 1,000,000 tokens) takes 1.3
to 2.1 GB, far more than its size suggests, and a file's size alone cannot bound the parse.

The estimate is ``0.75 KiB x (3 x tokens + the sum over the tokens of their bracket
depth)``: on every shape measured it is at least the parse's memory and at most 1.3
times it (``benchmarks/README.md`` has the measurements). Files estimated above
``max-parse-memory`` are not parsed.

Tokens are counted as Python's tokenizer counts them (a name, a number, a string, a
comment, an operator, a line break), with a regular expression in C over the code whose
strings and comments are each replaced by one letter (as :mod:`torchlint.nesting` lexes
them): the same count as :mod:`tokenize` on the shapes above, ten times faster (0.3 s
per MiB of the densest code, a twentieth of the parse it spares), and a multi-character
operator counts once per character (more, never fewer). A file too small to reach the
limit whatever it holds is not scanned at all.
"""

from __future__ import annotations

import math
import re
from array import array
from itertools import accumulate

from torchlint.nesting import NOT_CODE

DEFAULT_MAX_PARSE_MEMORY = 900  # MiB: the 1 GiB budget, less torchlint's own ~120 MiB
KIB_PER_UNIT = 0.75  # libcst's memory per unit of weight (3 per token, 1 per bracket)
TOKEN_WEIGHT = 3
_DEEPEST = 200  # CPython refuses more nested brackets: a deeper file is a syntax error

# A number (with its dots: ``1.5`` is one token) or a name; strings and comments are one
# letter by then. Every other character that is not white space is an operator.
_TOKEN = re.compile(r"(?:\d|\.\d)[\w.]*|\w+")
_NOT_TOKENS = b" \t\f\r\\"  # white space (a line break is a token: NEWLINE or NL)
_SIGNS = bytes(1 if b in b"([{" else 255 if b in b")]}" else 0 for b in range(256))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"()[]{}")


def weight(source: str) -> tuple[int, int]:
    """The file's tokens, and the sum over them of their bracket depth."""
    return _weight(NOT_CODE.sub("a", source))


def _weight(code: str) -> tuple[int, int]:
    tokens = _TOKEN.sub("a", code).encode("utf-8", "surrogatepass").translate(None, _NOT_TOKENS)
    return len(tokens), sum(accumulate(array("b", tokens.translate(_SIGNS))))


def estimated_mib(tokens: int, depths: int) -> int:
    """libcst's parse memory, in MiB (rounded up), for a weight :func:`weight` found."""
    return math.ceil(KIB_PER_UNIT * (TOKEN_WEIGHT * tokens + depths) / 1024)


def _could_reach(size: int, depth: int, limit: int) -> bool:
    """Whether ``size`` characters at most ``depth`` brackets deep could reach ``limit``
    MiB: every character a token, every token that deep."""
    return estimated_mib(size, size * depth) > limit


def too_costly(source: str, limit: int) -> int | None:
    """The estimated parse memory (MiB) of a text estimated above ``limit`` MiB (0: no
    limit); None otherwise. Most files are not scanned for tokens: their size, then their
    size and depth, cannot reach the limit."""
    if not limit or not _could_reach(len(source), _DEEPEST, limit):
        return None
    code = NOT_CODE.sub("a", source)
    encoded = code.encode("utf-8", "surrogatepass")
    brackets = array("b", encoded.translate(_SIGNS, _NOT_BRACKETS))
    depth = max(accumulate(brackets), default=0)
    if not _could_reach(len(encoded.translate(None, _NOT_TOKENS)), depth, limit):
        return None
    estimate = estimated_mib(*_weight(code))
    return estimate if estimate > limit else None


# libcst nests a chain of binary operators (`a + b + c ...`) one node deeper per operator,
# and its parse time grows far faster than the chain: 1,000 / 2,000 / 4,000 terms take
# 0.2 / 1.3 / 7 s, 16,000 more than ten minutes. Real code chains at most ~50 (torch's
# sources and 130 projects); generated code (a polynomial, a sum of many terms) can chain
# thousands. Comparisons and `and`/`or` are flat in libcst's tree: they do not count.
MAX_OPERATOR_CHAIN = 1000
_OPERATORS = "+-*/%@&|^"
_INNERMOST = re.compile(r"[(\[{][^()\[\]{}]*[)\]}]")
_BREAKS = re.compile(r"[,;=:\n]")  # where one expression ends and the next begins


def _operators(code: str) -> int:
    # Counted one character at a time: names may be non-ASCII (`größe`), and they are not operators.
    return sum(code.count(operator) for operator in _OPERATORS)


def _longest_in(segment: str) -> int:
    return max(_operators(part) for part in _BREAKS.split(segment))


def longest_operator_chain(source: str, limit: int = MAX_OPERATOR_CHAIN) -> int:
    """The most arithmetic or bitwise operators in one expression (at least: an operator
    inside brackets belongs to the bracketed operand), or 0 where the whole file has no
    more than ``limit`` of them. Brackets are read innermost first, each group's content
    measured and then replaced by one operand, so a chain of calls (`f(x) + g(y) + ...`)
    counts whole; inside brackets a line break does not end an expression."""
    code = NOT_CODE.sub("a", source)
    if _operators(code) <= limit:
        return 0
    longest = 0

    def collapse(group: re.Match[str]) -> str:
        nonlocal longest
        longest = max(longest, _longest_in(group.group()[1:-1].replace("\n", " ")))
        return "a"

    replaced = 1
    while replaced:
        code, replaced = _INNERMOST.subn(collapse, code)
    return max(longest, _longest_in(code))


def too_long_chain(source: str) -> int | None:
    """The operators of the longest chain, where it is over :data:`MAX_OPERATOR_CHAIN`."""
    chain = longest_operator_chain(source)
    return chain if chain > MAX_OPERATOR_CHAIN else None
