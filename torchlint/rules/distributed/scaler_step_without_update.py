"""TL904 scaler-step-without-update."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.distributed import dist_facts, grad_scalers
from torchlint.analysis.scaler_events import scaler_events, scaler_updates
from torchlint.diagnostics import Applicability
from torchlint.rules.base import InsertAfter, Invalid, Rule, Valid


class ScalerStepWithoutUpdate(Rule):
    """
    ## What it does
    Reports `scaler.step(optimizer)` of a `GradScaler` in a loop of a function that never
    calls `scaler.update()`.

    ## Why is this bad?
    `GradScaler` adapts its scale factor in `update()`: it lowers the scale after a step
    whose gradients overflowed (and which `step` therefore skipped) and raises it after a run
    of good steps. Without `update()` the scale never changes: once gradients overflow at
    that scale, every later step is skipped and the model silently stops training; with no
    overflow, a scale that is too small lets small gradients underflow to zero in float16.

    A scaler handed to another call (a helper may update it), or updated anywhere in the file
    (a helper method of the trainer), is not reported.

    ## Example
    ```python
    for images, labels in loader:
        with torch.autocast("cuda", dtype=torch.float16):
            loss = criterion(model(images), labels)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
    ```

    ## Use instead
    ```python
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    ```

    ## Fix safety
    Unsafe: the scale starts to change from step to step, which is the point, but changes the
    numbers of a run that was tuned without it.

    ## References
    - https://pytorch.org/docs/stable/amp.html#gradient-scaling
    - https://pytorch.org/docs/stable/notes/amp_examples.html
    """

    code = "TL904"
    name = "scaler-step-without-update"
    summary = "`scaler.step()` in a loop with no `scaler.update()`: the loss scale never adapts"
    applies_to_tests = False
    default = True
    fix_applicability = Applicability.UNSAFE
    requires = ("GradScaler", ".scale(")
    examples = (
        Invalid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for images, labels in loader:
                optimizer.zero_grad()
                scaler.scale(loss_fn(model(images), labels)).backward()
                scaler.step(optimizer)
            """,
            fixed="""
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for images, labels in loader:
                optimizer.zero_grad()
                scaler.scale(loss_fn(model(images), labels)).backward()
                scaler.step(optimizer)
                scaler.update()
            """,
        ),
        Invalid(
            """
            class Trainer:
                def fit(self, loader):
                    for batch in loader:
                        self.scaler.scale(self.loss(batch)).backward()
                        self.scaler.step(self.opt)  # step
                        self.opt.zero_grad()
            """,
            fixed="""
            class Trainer:
                def fit(self, loader):
                    for batch in loader:
                        self.scaler.scale(self.loss(batch)).backward()
                        self.scaler.step(self.opt)  # step
                        self.scaler.update()
                        self.opt.zero_grad()
            """,
        ),
        Invalid(
            """
            from torch.cuda.amp import GradScaler as GS
            def train(model, optimizer, batches):
                amp_scaler = GS()
                while batches:
                    amp_scaler.scale(model(batches.pop())).backward()
                    result = amp_scaler.step(optimizer)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            scaler = torch.cuda.amp.GradScaler()
            for images, labels in loader:
                scaler.scale(loss_fn(model(images), labels)).backward()
                scaler.step(optimizer)
                if log:
                    scaler.update()
            """
        ),
        Valid(
            """
            import torch
            def train(loader, scaler):
                for batch in loader:
                    scaler.scale(compute(batch)).backward()
                    scaler.step(optimizer)
                    finish_step(scaler, optimizer)
            """
        ),
        Valid(
            """
            def optimizer_step(scaler, optimizer):
                scaler.step(optimizer)
            for batch in loader:
                optimizer.step()
                lr_scheduler.step()
            """
        ),
        Valid(
            """
            import torch
            class Trainer:
                def __init__(self):
                    self.scaler = torch.amp.GradScaler("cuda")
                def after_step(self):
                    self.scaler.update()
                def fit(self, loader):
                    for batch in loader:
                        self.scaler.scale(self.loss(batch)).backward()
                        self.scaler.step(self.optimizer)
                        self.after_step()
            """
        ),
        Valid(
            """
            from sklearn.preprocessing import StandardScaler
            scaler = StandardScaler()
            for x in data:
                scaler.step(x)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "step":
            return
        facts = dist_facts(self.context)
        site = facts.by_node.get(id(node))
        if site is None:
            return
        scaler = site.receiver()
        if scaler is None or scaler not in grad_scalers(self.context) or not site.loops():
            return
        if scaler in scaler_updates(self.context):  # anywhere: a helper method may update it
            return
        if scaler in scaler_events(self.context, site.function).handed:
            return  # a helper may update it
        fix = None
        statement = site.statement()
        line = site.line()
        if (
            isinstance(statement, cst.Expr)
            and statement.value is node
            and line is not None
            and len(line.body) == 1
        ):
            indent = "".join(self.context.indents(site.ancestors))
            newline = self.context.module.default_newline
            comment = line.trailing_whitespace.comment
            anchor = comment if comment is not None else statement
            fix = self.fix(
                Applicability.UNSAFE,
                f"Call `{scaler}.update()` after the step",
                InsertAfter(anchor, f"{newline}{indent}{scaler}.update()"),
            )
        self.report(node, fix=fix)
