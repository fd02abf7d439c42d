"""Code that runs only on some torch versions.

A branch of ``if is_torch_version(">=", "1.11.0"): ... else: ...`` (or of any test that reads
a version: ``torch.__version__``, ``TORCH_VERSION``, ``version.parse(...)``) is the author
handling old releases on purpose: an API missing there is not an oversight.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import libcst as cst

from torchlint.names import iter_children


def _reads_version(expr: cst.CSTNode) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and "version" in node.value.lower():
            return True
        stack.extend(iter_children(node))
    return False


def under_version_check(ancestors: Sequence[cst.CSTNode]) -> bool:
    """The current node sits in a branch (not the test) of an ``if`` that reads a version."""
    for parent, child in itertools.pairwise(ancestors):
        if (
            isinstance(parent, (cst.If, cst.IfExp))
            and child is not parent.test
            and _reads_version(parent.test)
        ):
            return True
    return False
