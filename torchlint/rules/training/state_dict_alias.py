"""TL310 state-dict-alias."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import flow_of
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.training._common import LOOPS, function_node

_BOUNDARIES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _assigns(root: cst.CSTNode, name: str) -> bool:
    """``name`` (or its root, for ``model.state_dict()`` receivers) is rebound in ``root``."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, _BOUNDARIES):
            continue
        targets: list[cst.CSTNode] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For)):
            targets = [node.target]
        for target in targets:
            for element in _flatten(target):
                if dotted_name(element) == name:
                    return True
        stack.extend(iter_children(node))
    return False


def _flatten(target: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [leaf for e in target.elements for leaf in _flatten(e.value)]
    return [target]


class _ReadAfter:
    """Walks a function body in source order, answering: after ``boundary`` ends (and, for an
    assignment that is only inside an ``if``, after a later loop), is ``name`` read?"""

    def __init__(self, name: str, boundary: cst.CSTNode, need_loop: bool) -> None:
        self.name = name
        self.boundary = boundary
        self.need_loop = need_loop
        self.after = False
        self.read = False
        self.stopped = False

    def walk(self, node: cst.CSTNode, target: bool = False) -> None:
        if self.read or self.stopped:
            return
        if (
            self.after
            and not self.need_loop
            and isinstance(node, (cst.Name, cst.Attribute))
            and dotted_name(node) == self.name
        ):
            if target:
                self.stopped = True  # rebound before any read: the alias is gone
            else:
                self.read = True
            return
        if isinstance(node, cst.Assign):
            self.walk(node.value)
            for t in node.targets:
                for element in _flatten(t.target):
                    self.walk(element, target=True)
        elif isinstance(node, (cst.Name, cst.Attribute)) and target:
            if isinstance(node, cst.Attribute):
                self.walk(node.value)
        else:
            for child in iter_children(node):
                self.walk(child)
        if node is self.boundary:
            self.after = True
        elif self.after and self.need_loop and isinstance(node, LOOPS) and _has_call(node):
            self.need_loop = False


def _has_call(node: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            return True
        stack.extend(iter_children(current))
    return False


class StateDictAlias(Rule):
    """
    ## What it does
    Reports `best = model.state_dict()` inside a loop (or an `if`) when `best` is read after
    the loop: the usual "keep the best checkpoint" code, without a copy. Only the
    `state_dict()` of a model-like or optimizer-like object is reported: a data loader's,
    a sampler's or a metric's is a fresh dict of counters.

    ## Why is this bad?
    `state_dict()` returns references to the live parameter tensors, not a snapshot. Every
    later optimizer step updates the "best" weights too, so
    `model.load_state_dict(best)` after training restores the *last* weights, silently.

    ## Example
    ```python
    for epoch in range(epochs):
        train(model)
        if (acc := evaluate(model)) > best_acc:
            best_acc, best = acc, model.state_dict()
    model.load_state_dict(best)
    ```

    ## Use instead
    ```python
    import copy

    best = copy.deepcopy(model.state_dict())
    ```

    Opt-in (`extend-select = ["TL310"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 2 sampled reports were worth a
    change, below the 90 % a default rule must reach: the state dict was read or saved at once, before any further step could change it.

    ## Fix safety
    Safe: the snapshot holds exactly the values the alias held at that moment; it costs one
    copy of the weights in memory.

    ## References
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.state_dict
    """

    code = "TL310"
    name = "state-dict-alias"
    default = False
    applies_to_tests = False
    summary = "`state_dict()` kept without a copy: later training steps overwrite it"
    fix_applicability = Applicability.SAFE
    requires = ("state_dict",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            best_acc = 0
            for epoch in range(10):
                train(model)
                acc = evaluate(model)
                if acc > best_acc:
                    best_acc = acc
                    best = model.state_dict()
            model.load_state_dict(best)
            """,
            fixed="""
            import copy
            best_acc = 0
            for epoch in range(10):
                train(model)
                acc = evaluate(model)
                if acc > best_acc:
                    best_acc = acc
                    best = copy.deepcopy(model.state_dict())
            model.load_state_dict(best)
            """,
        ),
        Invalid(
            """
            import torch
            def fit(self, epochs):
                best_state = None
                while epochs > 0:
                    epochs -= 1
                    self.train_epoch()
                    best_state = self.model.state_dict()
                torch.save(best_state, "best.pt")
            """,
            fixed="""
            import copy

            import torch
            def fit(self, epochs):
                best_state = None
                while epochs > 0:
                    epochs -= 1
                    self.train_epoch()
                    best_state = copy.deepcopy(self.model.state_dict())
                torch.save(best_state, "best.pt")
            """,
        ),
        Invalid(
            """
            def fit(model, loader, optimizer):
                if resume:
                    initial = model.state_dict()
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                return initial
            """,
            fixed="""
            import copy
            def fit(model, loader, optimizer):
                if resume:
                    initial = copy.deepcopy(model.state_dict())
                for x in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                return initial
            """,
        ),
        Invalid(
            """
            copy = None
            for epoch in range(3):
                step(model)
                snapshot = model.state_dict()
            print(snapshot)
            """,
            fixed=None,
        ),
        Valid(
            """
            import copy
            for epoch in range(10):
                train(model)
                best = copy.deepcopy(model.state_dict())
            model.load_state_dict(best)
            """
        ),
        Valid(
            """
            import torch
            for epoch in range(10):
                train(model)
                state = model.state_dict()
                torch.save(state, f"epoch{epoch}.pt")
            """
        ),
        Valid(
            """
            for fold in range(5):
                model = build_model()
                train(model)
                last = model.state_dict()
            export(last)
            """
        ),
        Valid(
            """
            best = model.state_dict()
            export(best)
            """
        ),
        Valid(
            """
            for epoch in range(10):
                for batch in train_loader:
                    step(batch)
                    resume_point = train_loader.state_dict()
            save(resume_point)
            """
        ),
        Valid(
            """
            for epoch in range(10):
                train(model)
                best = model.state_dict()
            best = None
            print(best)
            """
        ),
    )

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Attribute)
            and value.func.attr.value == "state_dict"
            and not value.args
            and len(node.targets) == 1
        ):
            return
        best = dotted_name(node.targets[0].target)
        receiver = dotted_name(value.func.value)
        if best is None or receiver is None:
            return
        ancestors = self.context.ancestors
        loop = branch = None
        for ancestor in ancestors:
            if isinstance(ancestor, _BOUNDARIES):
                loop = branch = None
            elif isinstance(ancestor, LOOPS) and loop is None:
                loop = ancestor
            elif isinstance(ancestor, cst.If) and branch is None:
                branch = ancestor
        boundary = loop or branch
        if boundary is None:
            return
        flow = flow_of(self.context)
        function = flow.function(function_node(ancestors))
        if function is None or not flow.holds_tensors(function, receiver):
            return  # a loader's or a metric's state_dict() is a fresh dict of counters
        if loop is not None and _assigns(loop, receiver.split(".", 1)[0]):
            return  # a new model every iteration: nothing aliases across steps
        walker = _ReadAfter(best, boundary, need_loop=loop is None)
        walker.walk(function_node(ancestors))
        if not walker.read:
            return
        fix = None
        if self.context.scope.can_use("copy", "copy"):
            bare = value.with_changes(lpar=(), rpar=())  # its parentheses stay in the file
            copied = cst.Call(cst.parse_expression("copy.deepcopy"), [cst.Arg(bare)])
            fix = self.fix(
                Applicability.SAFE,
                "Keep a copy: `copy.deepcopy(...state_dict())`",
                Replace(value, copied),
                preamble=["import copy"],
            )
        self.report(node, fix=fix)
