"""The interface a rule is written against: the file, its shared facts, its project, edits.

A rule sees the file being linted through a ``FileContext``: the source and its tree, the
settings, the scope and ancestors of the node being visited, the per-file facts that the
analyses compute once and share (``fact``), and this file's view of its project
(``project``). A fix is a ``PendingFix`` of edits expressed on nodes. The engine builds one
context per file, walks the rules over it, and turns the reports and their edits into
located diagnostics; it sits above this module, so rules and analyses import this one and
never the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import libcst as cst
from libcst._nodes.internal import CodegenState

from torchlint import timing
from torchlint.diagnostics import Applicability
from torchlint.names import Scope
from torchlint.positions import node_spans
from torchlint.project import view_for

if TYPE_CHECKING:
    from torchlint.config import Settings
    from torchlint.project.index import ProjectView

Locate = Callable[[cst.Module, Sequence[cst.CSTNode]], dict[int, tuple[int, int]]]


# --- Edits a rule asks for, expressed on nodes; the engine turns them into offsets. ------


@dataclass(frozen=True)
class Replace:
    node: cst.CSTNode
    new: cst.CSTNode | str


@dataclass(frozen=True)
class InsertBefore:
    node: cst.CSTNode
    text: str


@dataclass(frozen=True)
class InsertAfter:
    node: cst.CSTNode
    text: str


@dataclass(frozen=True)
class InsertLine:
    """Insert ``text`` as whole line(s) above ``statement``, at its indentation."""

    statement: cst.CSTNode
    text: str


NodeEdit = Replace | InsertBefore | InsertAfter | InsertLine


@dataclass(frozen=True)
class PendingFix:
    applicability: Applicability
    message: str
    edits: tuple[NodeEdit, ...]
    preamble: tuple[str, ...] = ()  # module-level lines (imports first) the fix needs
    indents: tuple[str, ...] = ()  # the enclosing blocks' indentation, to render new nodes in place


class Reporter(Protocol):
    """What the context keeps of a rule that reports: the engine names it in the diagnostic."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...


# --- What a rule sees of the file being linted. -------------------------------------------


@dataclass
class Pending:
    rule: Reporter
    node: cst.CSTNode
    message: str
    fix: PendingFix | None
    ancestors: tuple[cst.CSTNode, ...]  # of the node being visited when it was reported


class FileContext:
    """What a rule can see of the file being linted."""

    def __init__(
        self,
        path: str,
        source: str,
        module: cst.Module,
        settings: Settings,
        locate: Locate = node_spans,
    ) -> None:
        self.path = path
        self.locate = locate
        self.source = source
        self.module = module
        self.settings = settings
        # Without ``:=`` in the text no expression binds a name: the binding scans skip them.
        self.module_scope = Scope(module, None, walrus=":=" in source)
        self.scope = self.module_scope
        self.ancestors: list[cst.CSTNode] = []
        self.pending: list[Pending] = []
        self._facts: dict[str, Any] = {}
        self._releases: list[Callable[[], None]] = []

    def add(self, rule: Reporter, node: cst.CSTNode, message: str, fix: PendingFix | None) -> None:
        self.pending.append(Pending(rule, node, message, fix, tuple(self.ancestors)))

    @property
    def parent(self) -> cst.CSTNode | None:
        """The parent of the node being visited."""
        return self.ancestors[-1] if self.ancestors else None

    @property
    def project(self) -> ProjectView | None:
        """This file's view of the other files of its project (``torchlint.project``), or
        None outside any project: rules ask it, they never open another file."""
        return self.fact("project", _project_view)

    def fact(self, name: str, compute: Callable[[FileContext], Any]) -> Any:
        """A per-file fact computed once on first use, shared by all rules."""
        if name not in self._facts:
            if timing.TIMER is None:
                self._facts[name] = compute(self)
            else:  # per analysis, not per class: `tl401-uses:<id>` is `tl401-uses`
                label = f"analysis {name.split(':', 1)[0]}"
                self._facts[name] = timing.TIMER.measure(label, compute, self)
        return self._facts[name]

    def on_release(self, release: Callable[[], None]) -> None:
        """Have ``release`` called when the file is done (see ``release``)."""
        self._releases.append(release)

    def release(self) -> None:
        """Break the reference cycles the file's analysis made, once its diagnostics are
        out: a pending report points at its rule and the rule at this context, the flow's
        functions and loops at each other. Without cycles the file's tree is freed the
        moment it is let go, instead of waiting for the garbage collector, which visits
        every node first."""
        for release in self._releases:
            release()
        self._releases.clear()
        self._facts.clear()
        self.pending.clear()

    def indents(self, ancestors: Sequence[cst.CSTNode] | None = None) -> tuple[str, ...]:
        """The indentation of the blocks enclosing the node being visited, or enclosing a
        node whose ``ancestors`` a rule kept (to render it after the walk has moved on)."""
        default = self.module.default_indent
        return tuple(
            default if node.indent is None else node.indent
            for node in (self.ancestors if ancestors is None else ancestors)
            if isinstance(node, cst.IndentedBlock)
        )

    def code_for(self, node: cst.CSTNode, indents: Sequence[str] = ()) -> str:
        """Source text of ``node``, rendered at the given block indentation.

        ``module.code_for_node`` renders continuation lines of a multi-line node as if its
        statement were at column 0; inside a block that loses the block's indentation. This
        is the one place that renders nodes for fixes: rules pass ``indents()`` (plus
        ``default_indent`` per level they move code into a new block).
        """
        if not indents:
            return self.module.code_for_node(node)
        state = CodegenState(
            default_indent=self.module.default_indent,
            default_newline=self.module.default_newline,
        )
        for indent in indents:
            state.increase_indent(indent)
        node._codegen(state)
        return "".join(state.tokens)


def _project_view(context: FileContext) -> ProjectView | None:
    return view_for(context.path)
