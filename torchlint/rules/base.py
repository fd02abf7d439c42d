"""The rule API: a rule is a class that carries its code, documentation, examples and visitors.

Visitors are methods named ``visit_<NodeType>`` / ``leave_<NodeType>`` after libcst node
classes. The engine walks each file once and calls every selected rule's visitors; a rule
reports through ``self.report``. See ``torchlint/rules/data/dataloader_no_workers.py`` for a
complete example.
"""

from __future__ import annotations

import textwrap
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import libcst as cst

from torchlint.analysis import api_versions
from torchlint.analysis.dead_code import never_runs
from torchlint.context import (
    FileContext,
    InsertAfter,
    InsertBefore,
    InsertLine,
    NodeEdit,
    PendingFix,
    Replace,
)
from torchlint.diagnostics import Applicability

# The edits a fix asks for are part of the rule interface (``torchlint.context``); rules
# import them from here, with the rest of what a rule is written against.
__all__ = [
    "InsertAfter",
    "InsertBefore",
    "InsertLine",
    "Invalid",
    "NodeEdit",
    "PendingFix",
    "Replace",
    "Rule",
    "Valid",
]


@dataclass(frozen=True)
class Valid:
    """Code the rule must not report."""

    code: str
    settings: dict[str, Any] = field(default_factory=dict)
    path: str = "example.py"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code).lstrip("\n"))


@dataclass(frozen=True)
class Invalid:
    """Code the rule must report, and what its fix (unsafe fixes included) turns it into.

    ``fixed=None`` means the rule offers no applicable fix for this example.
    """

    code: str
    fixed: str | None = None
    count: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    path: str = "example.py"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", textwrap.dedent(self.code).lstrip("\n"))
        if self.fixed is not None:
            object.__setattr__(self, "fixed", textwrap.dedent(self.fixed).lstrip("\n"))


_TEST_CODE_CHECKED = (
    "Checked in test code too (files matched by `test-code`): a removed, unsafe or misspelt "
    "API is as wrong in a test as anywhere else."
)
_TEST_CODE_SKIPPED = (
    "Not checked in test code (files matched by `test-code`, by default `tests/`, `test/`, "
    "`test_*.py`, `*_test.py`, `conftest.py`): tests use this on purpose (tiny loaders, "
    "CUDA-only tests behind skip markers, models put in a chosen mode), and the cost it "
    "warns about never reaches users."
)


class Rule:
    """Base class of every rule. Subclasses set the class attributes and define visitors."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    default: ClassVar[bool] = True
    fix_applicability: ClassVar[Applicability | None] = None
    requires: ClassVar[tuple[str, ...]] = ()
    """Substrings of which at least one must occur in a file for the rule to possibly fire."""
    examples: ClassVar[tuple[Valid | Invalid, ...]] = ()
    applies_to_tests: ClassVar[bool]
    """Whether the rule checks test code (``test-code`` in the configuration); every rule
    says so explicitly, and ``test_code_note`` may say why in its own words."""
    test_code_note: ClassVar[str] = ""

    def __init__(self, context: FileContext) -> None:
        self.context = context

    def names_visited(self) -> Container[str] | None:
        """The values of the ``Name`` nodes ``visit_Name`` wants, when it wants only a few:
        the engine calls it for those alone (a third of all nodes are names). The container
        is read at every name, so it may grow during the walk. None: every name."""
        return None

    @classmethod
    def documentation(cls) -> str:
        """The docstring, with a closing section on whether test code is checked."""
        doc = textwrap.dedent(cls.__doc__ or "").strip()
        note = cls.test_code_note or (
            _TEST_CODE_CHECKED if cls.applies_to_tests else _TEST_CODE_SKIPPED
        )
        return f"{doc}\n\n## Test code\n{note}"

    @classmethod
    def family(cls) -> str:
        return cls.__module__.split(".")[2] if cls.__module__.count(".") >= 3 else "meta"

    def report(
        self,
        node: cst.CSTNode,
        message: str | None = None,
        fix: PendingFix | None = None,
        *,
        api: str | None = None,
    ) -> None:
        """Report at ``node``. A version rule's report (``api``: the qualified name used) is
        held to the file's supported versions (``analysis.api_versions``): dropped where no
        supported release warns, without a fix where the oldest lacks the replacement. A
        report in code that never runs (``analysis.dead_code``, decided from the ancestors
        of the node being visited) is dropped for every rule: nobody edits what nothing
        runs (see ``reports_dead_code``)."""
        found = api_versions.verdict(self.code, api, self.context.settings, fix is not None)
        if found is not None:
            if not found.report:
                return
            if not found.fix:
                fix = None
            message = (message or self.summary) + found.note
        if not self.reports_dead_code() and never_runs(self.context) is not None:
            return
        self.context.add(self, node, message or self.summary, fix)

    def reports_dead_code(self) -> bool:
        """Whether this rule also reports in code that never runs: a setting that asks for
        every use (``portability = "strict"`` for TL201 / TL202) does."""
        return False

    def fix(
        self,
        applicability: Applicability,
        message: str,
        *edits: NodeEdit,
        preamble: tuple[str, ...] | list[str] = (),
        ancestors: Sequence[cst.CSTNode] | None = None,
    ) -> PendingFix:
        """A fix whose new nodes the engine renders at the current node's indentation, or at
        that of a node whose ``ancestors`` were kept (a fix made after the walk passed it)."""
        return PendingFix(
            applicability,
            message,
            tuple(edits),
            tuple(preamble),
            self.context.indents(ancestors),
        )

    # Shorthands that almost every rule needs.
    def qualified_name(self, expr: cst.CSTNode) -> str | None:
        return self.context.scope.qualified_name(expr)
