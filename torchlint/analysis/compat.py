"""Compatibility branches: code that runs only on another torch, on purpose.

A project that supports several torch releases keeps the old spelling where the new one is
missing, and writes the choice in many ways:

- ``try: from torch.amp import GradScaler`` / ``except ImportError: from torch.cuda.amp
  import GradScaler`` (any handler for ``ImportError`` / ``AttributeError``, bare included;
  ``TypeError`` for a keyword the older release lacks);
- an ``if`` or a conditional expression whose test reads the version:
  ``if Version(torch.__version__) < Version("1.8"): outer = torch.ger``,
  ``if version.parse(torch.__version__) >= ...``, ``is_torch_version("<", "2.2")``;
- a version flag: ``A if TORCH_GE_2_4 else B``, ``if _TORCH_GREATER_EQUAL_2_1:``,
  ``if is_torch2_available():``, or any name the file assigns from a version test
  (``new_amp = hasattr(torch, "amp")``);
- a feature probe on a torch module: ``hasattr(torch, "outer")``,
  ``getattr(torch.amp, "GradScaler", None) is not None``, and the fallbacks a probe
  picks: ``getattr(torch.amp, "GradScaler", torch.cuda.amp.GradScaler)``,
  ``getattr(torch.amp, "GradScaler", None) or torch.cuda.amp.GradScaler``;
- the code after such an ``if`` whose branch always leaves (``if hasattr(torch, "amp"):
  return torch.amp.GradScaler("cuda")`` then ``return torch.cuda.amp.GradScaler()``).

Telling such code that the old name is deprecated is noise: it already knows. This is the
one place every TL6 rule (and TL313) asks. The check looks at the ancestors of the node
being reported (no walk), so it costs nothing until a rule is about to report; the flags a
file assigns are found once per file, on first use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from torchlint.names import dotted_name, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext

# Exceptions a fallback for a missing name is written against (`TypeError`: a keyword the
# older release lacks, `models.inception_v3(weights=...)` before torchvision 0.13).
_FALLBACK_EXCEPTIONS = frozenset(
    {"ImportError", "ModuleNotFoundError", "AttributeError", "TypeError"}
    | {"Exception", "BaseException"}
)
# Parts of names that test the running torch: `torch.__version__`, `Version(...)`,
# `is_torch_version(...)`, `TORCH_VERSION`, `_TORCH_GREATER_EQUAL_2_0`, `packaging.version`.
_VERSION_MARKERS = ("version", "torch_greater", "torch_less", "torch_at_least")
# Roots a feature probe names: `hasattr(torch.nn.functional, ...)`, `hasattr(F, ...)`.
_TORCH_MODULES = frozenset({"torch", "torchvision", "functorch", "nn", "F", "th"})
_TORCH_PACKAGES = ("torch", "torchvision", "torchaudio", "functorch")
# A version flag: a torch word and a comparison or a version number among its words
# (`TORCH_GE_2_4`, `_PYTORCH_GREATER_EQUAL_1_13`, `is_torch2_available`, `PT2`, `TH_LT_1_9`).
_WORD = re.compile(r"[a-z]+|\d+")
_TORCH_WORDS = frozenset({"torch", "pytorch", "torchvision"})
_SHORT_TORCH_WORDS = frozenset({"pt", "th", "tv"})  # with a comparison only: `pt2` may be a point
_COMPARISON_WORDS = frozenset(
    {"ge", "gt", "le", "lt", "geq", "leq", "gte", "lte", "eq", "greater", "less", "newer"}
    | {"older", "above", "below", "before", "after", "least", "atleast", "ver"}
)
_PROBES = frozenset({"hasattr", "getattr"})


def is_version_flag(name: str) -> bool:
    """A name that, by its words, says which torch is running (see ``_TORCH_WORDS``)."""
    lowered = name.lower()
    if any(marker in lowered for marker in _VERSION_MARKERS):
        return True
    words = _WORD.findall(lowered)
    compares = any(w in _COMPARISON_WORDS for w in words)
    if any(w in _TORCH_WORDS for w in words):
        return compares or any(w.isdigit() for w in words)
    return compares and any(w in _SHORT_TORCH_WORDS for w in words)


def in_compat_branch(
    ancestors: Sequence[cst.CSTNode],
    context: FileContext | None = None,
    node: cst.CSTNode | None = None,
) -> bool:
    """The node whose ``ancestors`` these are runs only as a fallback for another torch.

    True inside an ``except`` handler for a missing import or attribute (bare ``except``
    included); inside either branch of an ``if`` / conditional expression whose test reads
    the torch version, a version flag or a feature probe; in the operand of ``or`` / ``and``
    after such a test; and in the default of ``getattr(<torch module>, "name", default)``.
    With ``context``, names the file assigns from such a test count as flags too; ``node``
    is the node itself when ``ancestors`` stop above it (a rule's visitor of that node).
    """
    flags = _LazyFlags(context)
    if node is not None:
        ancestors = [*ancestors, node]
    for index, ancestor in enumerate(ancestors):
        child = ancestors[index + 1] if index + 1 < len(ancestors) else None
        if child is None:
            continue
        kind = type(ancestor)
        if kind is cst.ExceptHandler:
            if child is ancestor.body and _catches_fallback(ancestor.type):  # type: ignore[attr-defined]
                return True
        elif kind is cst.If or kind is cst.IfExp:
            if child is not ancestor.test and flags.test(ancestor.test):  # type: ignore[attr-defined]
                return True
        elif kind is cst.BooleanOperation:
            if child is ancestor.right and flags.test(ancestor.left):  # type: ignore[attr-defined]
                return True
        elif kind is cst.Arg and isinstance(child, cst.BaseExpression):
            owner = ancestors[index - 1] if index > 0 else None
            if isinstance(owner, cst.Call) and _getattr_default(owner, ancestor):  # type: ignore[arg-type]
                return True
        elif (kind is cst.IndentedBlock or kind is cst.Module) and _after_version_exit(
            ancestor.body,  # type: ignore[attr-defined]
            child,
            flags,
        ):
            return True
    return False


def in_try_attempt(ancestors: Sequence[cst.CSTNode], node: cst.CSTNode | None = None) -> bool:
    """Inside the body of a ``try`` whose handler catches a missing import or attribute:
    the attempt that falls back when the running torch lacks a name (right for a name torch
    removed, whose use there is on purpose; a deprecated one still runs and warns)."""
    chain = [*ancestors, node] if node is not None else list(ancestors)
    for index, ancestor in enumerate(chain[:-1]):
        if (
            isinstance(ancestor, cst.Try)
            and chain[index + 1] is ancestor.body
            and any(_catches_fallback(handler.type) for handler in ancestor.handlers)
        ):
            return True
    return False


_EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


def _after_version_exit(
    body: Sequence[cst.CSTNode], statement: cst.CSTNode, flags: _LazyFlags
) -> bool:
    """``statement`` follows, in the same block, an ``if`` that tests the version (no
    ``else``) and whose branch always leaves: it is that test's implicit ``else``."""
    for sibling in body:
        if sibling is statement:
            return False
        if (
            isinstance(sibling, cst.If)
            and sibling.orelse is None
            and _always_exits(sibling.body)
            and flags.test(sibling.test)
        ):
            return True
    return False


def _always_exits(block: cst.BaseSuite) -> bool:
    statements = block.body if isinstance(block, cst.IndentedBlock) else [block]
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        return bool(last.body) and isinstance(last.body[-1], _EXITS)
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


def tests_version(test: cst.BaseExpression, flags: frozenset[str] = frozenset()) -> bool:
    """``test`` reads a version (``torch.__version__ < "2"``, ``is_torch_version(...)``,
    ``TORCH_GE_2_4``, a name in ``flags``) or probes a torch module for a name
    (``hasattr(torch, "outer")``, ``getattr(torch.amp, "GradScaler", None)``)."""
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value in flags or is_version_flag(node.value):
                return True
        elif isinstance(node, cst.Call) and _probes_torch(node):
            return True
        stack.extend(iter_children(node))
    return False


def _probes_torch(call: cst.Call) -> bool:
    """``hasattr(torch.testing, "assert_close")`` / ``getattr(torch.amp, "X", None)``: a
    feature test on a torch module (not ``hasattr(module, "weight")``, which tests the
    user's object)."""
    if not (isinstance(call.func, cst.Name) and call.func.value in _PROBES and call.args):
        return False
    owner = dotted_name(call.args[0].value)
    return owner is not None and owner.split(".", 1)[0] in _TORCH_MODULES


def _getattr_default(call: cst.Call, arg: cst.Arg) -> bool:
    """``arg`` is the default of ``getattr(<torch module>, "name", default)``: the value used
    where the running torch lacks the name."""
    return (
        isinstance(call.func, cst.Name)
        and call.func.value == "getattr"
        and len(call.args) == 3
        and call.args[2] is arg
        and _probes_torch(call)
    )


class _LazyFlags:
    """Tests a condition by its words first; the flags the file assigns are looked for only
    when that is not enough (once per file, and never for a file with no such test)."""

    __slots__ = ("context", "flags")

    def __init__(self, context: FileContext | None) -> None:
        self.context = context
        self.flags: frozenset[str] | None = None

    def test(self, expr: cst.BaseExpression) -> bool:
        if tests_version(expr):
            return True
        if self.context is None:
            return False
        if self.flags is None:
            self.flags = _file_flags(self.context)
        return bool(self.flags) and tests_version(expr, self.flags)


def _file_flags(context: FileContext) -> frozenset[str]:
    return context.fact("compat.flags", _assigned_flags)


def _assigned_flags(context: FileContext) -> frozenset[str]:
    """Names the file assigns from a version test or a probe of a torch module
    (``NEW_AMP = hasattr(torch, "amp")``, ``use_linalg = Version(torch.__version__) >= ...``),
    anywhere in the file: such a name is a version flag wherever it is tested."""
    source = context.source
    if "version" not in source.lower() and "hasattr" not in source and "getattr" not in source:
        return frozenset()
    found: set[str] = set()
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            if tests_version(node.value):
                targets = (
                    [t.target for t in node.targets]
                    if isinstance(node, cst.Assign)
                    else [node.target]
                )
                found.update(t.value for t in targets if isinstance(t, cst.Name))
            continue
        if isinstance(node, cst.BaseExpression):
            continue
        stack.extend(iter_children(node))
    return frozenset(found)


def under_version_test(
    ancestors: Sequence[cst.CSTNode],
    context: FileContext | None = None,
    node: cst.CSTNode | None = None,
) -> bool:
    """The node sits in a branch (not the test) of an ``if`` / conditional expression whose
    test reads the version, a version flag or a feature probe (``in_compat_branch`` without
    the exception handlers and fallbacks): code written for some torch versions only."""
    flags = _LazyFlags(context)
    if node is not None:
        ancestors = [*ancestors, node]
    for index, ancestor in enumerate(ancestors[:-1]):
        child = ancestors[index + 1]
        if (
            isinstance(ancestor, (cst.If, cst.IfExp))
            and child is not ancestor.test
            and flags.test(ancestor.test)
        ):
            return True
    return False
