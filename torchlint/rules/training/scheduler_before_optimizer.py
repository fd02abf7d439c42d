"""TL307 scheduler-before-optimizer."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import flow_of
from torchlint.context import FileContext
from torchlint.rules.base import Invalid, Rule, Valid
from torchlint.rules.training._common import calls_method


def find(context: FileContext) -> set[int]:
    """Ids of ``scheduler.step()`` calls that come before ``optimizer.step()`` in a loop."""
    found: set[int] = set()
    if not calls_method(context.source, "step"):
        return found
    flow = flow_of(context)
    for function in flow.functions:
        if not function.loops:
            continue
        events = flow.expanded(function)
        for position, event in enumerate(events):
            if event.kind != "sched_step" or event.site is not None or not event.loops:
                continue
            if (event.qualified or "").endswith("ReduceLROnPlateau"):
                continue  # stepped with a metric, usually after validation
            later = events[position + 1 :]
            if any(
                e.kind == "step" and any(loop in e.loops for loop in event.loops) for e in later
            ):
                found.add(id(event.node))
    return found


class SchedulerBeforeOptimizer(Rule):
    """
    ## What it does
    Reports `scheduler.step()` (a `torch.optim.lr_scheduler` scheduler other than
    `ReduceLROnPlateau`) called before `optimizer.step()` in the same loop, also when the
    optimizer steps inside a same-file helper called later in the loop.

    ## Why is this bad?
    Since PyTorch 1.1 the scheduler must step after the optimizer. Stepping it first skips
    the first value of the schedule: the warm-up starts one step late, a step decay happens
    one epoch early, and the learning rate is not the one the schedule describes. PyTorch
    only warns once, at the first call.

    ## Example
    ```python
    for epoch in range(epochs):
        scheduler.step()
        train_one_epoch(model, loader, optimizer)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        train_one_epoch(model, loader, optimizer)
        scheduler.step()
    ```

    ## Fix safety
    No fix: moving the call changes which learning rate each step uses.

    Opt-in (`extend-select = ["TL307"]`) since round 2026-12-08d: on every unseen label it
    matches it was right 0 of 2 times (strict labels, LABELLING.md). Both were
    `scheduler.step(epoch)` with the epoch passed explicitly, in code written for torch
    before 1.1, where the order was the other way round and the explicit epoch keeps the
    schedule where the author meant it.

    ## References
    - https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate
    """

    code = "TL307"
    name = "scheduler-before-optimizer"
    applies_to_tests = False
    default = False
    summary = "`scheduler.step()` before `optimizer.step()`: the schedule runs one step ahead"
    requires = ("lr_scheduler", "SWALR")
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30)
            for epoch in range(100):
                scheduler.step()
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
            """
        ),
        Invalid(
            """
            from torch.optim.lr_scheduler import OneCycleLR
            def train(model, loader, opt):
                sched = OneCycleLR(opt, max_lr=0.1, total_steps=1000)
                for x, y in loader:
                    opt.zero_grad()
                    model(x).sum().backward()
                    sched.step()
                    opt.step()
            """
        ),
        Invalid(
            """
            from torch.optim import lr_scheduler
            def train_one_epoch(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()

            def fit(model, loader, optimizer):
                scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
                for epoch in range(10):
                    scheduler.step()
                    train_one_epoch(model, loader, optimizer)
            """
        ),
        Invalid(
            """
            import torch
            class Trainer:
                def __init__(self, model):
                    self.optimizer = torch.optim.Adam(model.parameters())
                    self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, 0.9)

                def fit(self, loader):
                    while True:
                        self.scheduler.step()
                        self.optimizer.step()
            """
        ),
        Valid(
            """
            import torch
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30)
            for epoch in range(100):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                scheduler.step()
            """
        ),
        Valid(
            """
            from torch.optim.lr_scheduler import ReduceLROnPlateau
            scheduler = ReduceLROnPlateau(optimizer)
            for epoch in range(100):
                scheduler.step(val_loss)
                for x, y in loader:
                    optimizer.step()
            """
        ),
        Valid(
            """
            scheduler = make_scheduler(optimizer)
            for epoch in range(100):
                scheduler.step()
                optimizer.step()
            """
        ),
        Valid(
            """
            import torch
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30)
            for x, y in loader:
                optimizer.step()
                scheduler.step()
            scheduler.step()
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "step"):
            return
        if id(node) in self.context.fact("TL307", find):
            self.report(node)
