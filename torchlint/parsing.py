"""libcst's parse, without validating again every node the parser builds.

A libcst node checks its fields when it is constructed (``CSTNode.__post_init__`` calls
``_validate``: balanced parentheses, whitespace that is whitespace, names that are
identifiers). For a tree the parser builds from source text that is work done twice: the
grammar has already accepted it, as libcst's own note on ``__post_init__`` says. It is about
a tenth of a parse, so while :func:`parse_module` runs, construction skips it (importing
this module installs the switch; outside a parse it is libcst's own check). Nodes built
at any other time (a rule's fix) are still validated. A node another thread builds while a
parse is running is not: validation only catches code that builds nodes wrongly, and the
tests build every fix with validation on.
"""

from __future__ import annotations

import threading

import libcst as cst

_ORIGINAL = cst.CSTNode.__dict__.get("__post_init__")
_lock = threading.Lock()
_parsing = 0  # parses in progress, all threads together


def _validate_unless_parsing(node: cst.CSTNode) -> None:
    """libcst's ``__post_init__``, skipped while a parse is in progress.

    Installed once rather than swapped in and out around each parse: assigning to a class
    attribute of ``CSTNode`` invalidates the attribute caches of all its ~380 node classes,
    and the walk after every parse would pay to fill them again."""
    if not _parsing:
        _ORIGINAL(node)  # type: ignore[misc]


if _ORIGINAL is not None:
    cst.CSTNode.__post_init__ = _validate_unless_parsing  # type: ignore[method-assign]


def _begin() -> None:
    global _parsing
    with _lock:
        _parsing += 1


def _end() -> None:
    global _parsing
    with _lock:
        _parsing -= 1


def parse_module(source: str) -> cst.Module:
    """``libcst.parse_module(source)``, the same tree, built without re-validating it."""
    _begin()
    try:
        return cst.parse_module(source)
    finally:
        _end()
