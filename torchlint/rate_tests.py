"""Is a test a test of a dropout rate? One reading for the per-file mode analysis (libcst)
and for the project summary (ast), so that a layer both judge is judged the same.

Nothing here knows a tree: the callers pass how to print a node, name it and judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

Node = TypeVar("Node")

# The words that name a dropout rate (or a flag for one) in a test: `if args.dropout > 0:`,
# `if self.drop_rate:`, `if cfg["p_drop"] != 0`.
RATE_WORDS = ("drop", "rate", "prob")


def names_rate(word: str) -> bool:
    """``dropout``, ``drop_rate``, ``p_drop``: a word that names a rate."""
    lowered = word.lower()
    return any(w in lowered for w in RATE_WORDS)


def judge_rate_tests(
    subjects: Iterable[Node],
    rate: Node | None,
    code: Callable[[Node], str],
    word_of: Callable[[Node], str | None],
    kind_of: Callable[[Node], str | None],
) -> str | None:
    """Over the tested ``subjects`` that test a rate (the layer's own ``rate``, by its code
    or its word, or anything named as a rate; `if i > 0:` is not one): "" as soon as one's
    ``kind_of`` is "" (a test that proves nothing), else the last gate parameter found,
    else None."""
    rate_code = code(rate) if rate is not None else None
    rate_word = word_of(rate) if rate is not None else None
    found: str | None = None
    for subject in subjects:
        word = word_of(subject)
        if not (
            (rate_code is not None and code(subject) == rate_code)
            or (word is not None and (word == rate_word or names_rate(word)))
        ):
            continue  # `if i > 0:`, `if self.training and self.aux:`: not a rate
        kind = kind_of(subject)
        if kind == "":
            return ""
        if kind is not None:
            found = kind
    return found
