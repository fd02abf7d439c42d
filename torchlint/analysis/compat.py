"""Compatibility branches: code that runs only on an older torch, on purpose.

A project that supports several torch releases keeps the old spelling where the new one is
missing: ``try: from torch.amp import GradScaler`` / ``except ImportError: from torch.cuda.amp
import GradScaler``, or ``if Version(torch.__version__) < Version("1.8"): outer = torch.ger``.
Telling it that the old name is deprecated is noise: it already knows. The check is a look at
the ancestors of the node being reported (no walk), so it costs nothing until a rule is about
to report.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from torchlint.names import dotted_name, iter_children

# Exceptions a fallback for a missing name is written against.
_FALLBACK_EXCEPTIONS = frozenset(
    {"ImportError", "ModuleNotFoundError", "AttributeError", "Exception", "BaseException"}
)
# Parts of names that test the running torch: `torch.__version__`, `Version(...)`,
# `is_torch_version(...)`, `TORCH_VERSION`, `_TORCH_GREATER_EQUAL_2_0`, `packaging.version`.
_VERSION_MARKERS = ("version", "torch_greater", "torch_less", "torch_at_least")
# Roots a feature probe names: `hasattr(torch.nn.functional, ...)`, `hasattr(F, ...)`.
_TORCH_MODULES = frozenset({"torch", "torchvision", "functorch", "nn", "F", "th"})


def in_compat_branch(ancestors: Sequence[cst.CSTNode]) -> bool:
    """The node whose ``ancestors`` these are runs only as a fallback for another torch.

    True inside an ``except`` handler for a missing import or attribute (bare ``except``
    included), and inside either branch of an ``if`` / conditional expression whose test
    reads the torch version or probes for a name (``hasattr(torch, "outer")``).
    """
    for index, ancestor in enumerate(ancestors):
        child = ancestors[index + 1] if index + 1 < len(ancestors) else None
        if isinstance(ancestor, cst.ExceptHandler) and child is ancestor.body:
            if _catches_fallback(ancestor.type):
                return True
        elif (
            isinstance(ancestor, (cst.If, cst.IfExp))
            and child is not None
            and child is not ancestor.test
            and tests_version(ancestor.test)
        ):
            return True
    return False


def _catches_fallback(kind: cst.BaseExpression | None) -> bool:
    if kind is None:
        return True
    kinds = kind.elements if isinstance(kind, cst.Tuple) else [kind]
    for element in kinds:
        value = element.value if isinstance(element, cst.Element) else element
        name = dotted_name(value)
        if name is not None and name.rsplit(".", 1)[-1] in _FALLBACK_EXCEPTIONS:
            return True
    return False


def tests_version(test: cst.BaseExpression) -> bool:
    """``test`` reads a version (``torch.__version__ < "2"``, ``is_torch_version(...)``,
    ``_TORCH_GREATER_EQUAL_2_1``) or probes for a name with ``hasattr``."""
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            lowered = node.value.lower()
            if any(marker in lowered for marker in _VERSION_MARKERS):
                return True
        elif isinstance(node, cst.Call) and _probes_torch(node):
            return True
        stack.extend(iter_children(node))
    return False


def _probes_torch(call: cst.Call) -> bool:
    """``hasattr(torch.testing, "assert_close")``: a feature test on a torch module (not
    ``hasattr(module, "weight")``, which tests the user's object)."""
    if not (isinstance(call.func, cst.Name) and call.func.value == "hasattr" and call.args):
        return False
    owner = dotted_name(call.args[0].value)
    return owner is not None and owner.split(".", 1)[0] in _TORCH_MODULES
