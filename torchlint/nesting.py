"""How deeply a file nests its brackets, found before libcst parses it.

libcst's parse keeps, for each bracket, a copy of what it encloses, so its memory grows with
the sum over the tokens of their bracket depth: about 1.5 KB per byte of flat code, 20 KB
per byte at 32 brackets deep (682 MB for 33 KB of lists nested 44 deep). The depth is the
one factor a file's size does not bound, so files nested deeper than ``max-nesting`` are
not parsed. Real code stays far below it (9 in 22 projects, 26 once in torch's tests).

The check is linear and cheap: strings and comments go (one regular expression, whose
every match consumes what it matched, so nothing is scanned twice), the brackets that are
left become +1 and -1, and their running sum's maximum is the depth, all in C. Only a
file that this estimate finds too deep is read by :mod:`tokenize`, which decides.
"""

from __future__ import annotations

import io
import re
import tokenize
from array import array
from itertools import accumulate

DEFAULT_MAX_NESTING = 40  # brackets

# Comments and strings, in the order Python's tokenizer sees them. The prefix (r, b, f, ...)
# does not change where a string ends: a backslash escapes the quote in raw strings too.
# An unterminated string runs to the end of its line (or of the file, triple-quoted): the
# file is a syntax error, and no match is ever given back. Shared: the parse-cost estimate
# and the Python 2 check lex with it too, so all three agree on what is code.
NOT_CODE = re.compile(
    r"""
      \#[^\r\n]*
    | '''[^'\\]*(?:(?:\\[\s\S]?|'(?!''))[^'\\]*)*(?:'''|\Z)
    | \"\"\"[^"\\]*(?:(?:\\[\s\S]?|"(?!""))[^"\\]*)*(?:\"\"\"|\Z)
    | '[^'\\\r\n]*(?:\\[\s\S]?[^'\\\r\n]*)*'?
    | "[^"\\\r\n]*(?:\\[\s\S]?[^"\\\r\n]*)*"?
    """,
    re.VERBOSE,
)
# An opening bracket becomes 1, a closing one -1 (as a signed byte), everything else goes.
_SIGNS = bytes.maketrans(b"([{)]}", b"\x01\x01\x01\xff\xff\xff")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"()[]{}")


def estimated_depth(source: str) -> int:
    """The deepest bracket nesting outside strings and comments, from a lexer that knows
    only those (exact for every file :mod:`tokenize` reads the same way)."""
    code = NOT_CODE.sub("", source).encode("utf-8", "surrogatepass")
    signs = array("b", code.translate(_SIGNS, _NOT_BRACKETS))
    return max(accumulate(signs), default=0)


def tokenized_depth(source: str) -> int | None:
    """The deepest bracket nesting by :mod:`tokenize`; None where it cannot read the file."""
    depth = deepest = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
                deepest = max(deepest, depth)
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
    except (tokenize.TokenError, SyntaxError):
        return None
    return deepest


def too_deep(source: str, limit: int) -> int | None:
    """The file's bracket depth when it is more than ``limit`` (0: no limit), else None."""
    if not limit or estimated_depth(source) <= limit:
        return None
    depth = tokenized_depth(source)
    if depth is None:  # tokenize gives up (a syntax error): the estimate decides
        depth = estimated_depth(source)
    return depth if depth > limit else None
