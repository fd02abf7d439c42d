"""TL905 backward-bypasses-scaler."""

from __future__ import annotations

import bisect

import libcst as cst

from torchlint.analysis.distributed import (
    dist_facts,
    exclusive,
    grad_scalers,
    last_binding,
    scaled_backward,
)
from torchlint.analysis.scaler_events import scaler_events
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, inner_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid


class BackwardBypassesScaler(Rule):
    """
    ## What it does
    Reports `loss.backward()` on a loss that was not scaled, in a step that then calls
    `scaler.step(optimizer)` on a `GradScaler`.

    ## Why is this bad?
    `scaler.step(optimizer)` assumes the gradients were produced by
    `scaler.scale(loss).backward()`: it divides them by the loss scale (65536 at first)
    before stepping. Gradients from a plain `loss.backward()` are then tens of thousands of
    times too small, so the model barely moves; and without the scaling, float16 gradients
    that underflow are lost, which is what the scaler is there to prevent.

    Only a backward followed in the same function (and the same loop) by the scaler's step,
    with no other optimizer step or scaled backward in between and not in another branch of
    an `if` (`if amp: scaler.scale(loss).backward() else: loss.backward()`), is reported.
    bfloat16 autocast without a scaler is not concerned.

    Opt-in (`extend-select = ["TL905"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 0 of 2 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were an
    unscaled `backward()` in the other branch of `if use_amp:`, which never reaches the
    scaler.

    ## Example
    ```python
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    loss.backward()
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Fix safety
    Unsafe: the gradients change (they become right), and so does training.

    ## References
    - https://pytorch.org/docs/stable/amp.html#gradient-scaling
    - https://pytorch.org/docs/stable/notes/amp_examples.html
    """

    code = "TL905"
    name = "backward-bypasses-scaler"
    summary = "`backward()` on an unscaled loss before `scaler.step()`: the step unscales gradients that were never scaled"
    applies_to_tests = False
    default = False
    fix_applicability = Applicability.UNSAFE
    requires = ("GradScaler", ".scale(")
    examples = (
        Invalid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for x, y in loader:
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                scaler.step(optimizer)
                scaler.update()
            """,
            fixed="""
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for x, y in loader:
                with torch.autocast("cuda", dtype=torch.float16):
                    loss = criterion(model(x), y)
                optimizer.zero_grad()
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            """,
        ),
        Invalid(
            """
            from torch.cuda.amp import GradScaler
            class Trainer:
                def __init__(self):
                    self.scaler = GradScaler()
                def step(self, batch):
                    (self.loss(batch) / self.accumulate).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
            fixed="""
            from torch.cuda.amp import GradScaler
            class Trainer:
                def __init__(self):
                    self.scaler = GradScaler()
                def step(self, batch):
                    self.scaler.scale(self.loss(batch) / self.accumulate).backward()
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
        ),
        Invalid(
            """
            import torch
            def train(loader, scaler):
                for x in loader:
                    scaler.scale(model(x).sum()).backward(retain_graph=True)
                    scaler.step(optimizer)
                    aux = head(x).sum()
                    aux.backward()
                    scaler.step(optimizer)
                    scaler.update()
            """,
            fixed="""
            import torch
            def train(loader, scaler):
                for x in loader:
                    scaler.scale(model(x).sum()).backward(retain_graph=True)
                    scaler.step(optimizer)
                    aux = head(x).sum()
                    scaler.scale(aux).backward()
                    scaler.step(optimizer)
                    scaler.update()
            """,
        ),
        Valid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
            for x, y in loader:
                loss = criterion(model(x), y)
                if use_amp:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                else:
                    loss.backward()
                    optimizer.step()
            """
        ),
        Valid(
            """
            from typing import cast
            import torch
            def update(engine, batch):
                if scaler:
                    cast(torch.Tensor, scaler.scale(loss)).backward()
                    scaler.step(optimizer)
                    scaler.update()
            """
        ),
        Valid(
            """
            import torch
            for x, y in loader:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            """
        ),
        Valid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda")
            for x, y in loader:
                d_loss.backward()
                d_optimizer.step()
                scaled = scaler.scale(g_loss)
                scaled.backward()
                scaler.step(g_optimizer)
                scaler.update()
            """
        ),
        Valid(
            """
            import torch
            scaler = torch.amp.GradScaler("cuda", enabled=False)
            for x, y in loader:
                loss.backward()
                scaler.step(optimizer)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "backward":
            return
        receiver = func.value
        if isinstance(receiver, cst.Call) and scaled_backward_receiver(receiver):
            return
        scalers = grad_scalers(self.context)
        if not scalers:
            return
        facts = dist_facts(self.context)
        backward = facts.by_node.get(id(node))
        if backward is None or scaled_backward(backward) is not None:
            return
        name = dotted_name(receiver)
        events = scaler_events(self.context, backward.function)
        index = bisect.bisect_right(events.stop_orders, backward.order)
        for site in events.stops[index : index + 1]:
            owner = site.receiver()
            if scaled_backward(site) is not None:
                return  # a scaled backward comes first
            if owner not in scalers:
                return  # another optimizer steps first (GAN-style alternation)
            if exclusive(site, backward) or site.loops() != backward.loops():
                return
            if name is not None:
                binding = last_binding(facts, backward, name)
                if binding is not None and _mentions(binding.value, owner):
                    return  # scaled = scaler.scale(loss); scaled.backward()
            bare = receiver.with_changes(lpar=(), rpar=()) if receiver.lpar else receiver
            code = self.context.module.code_for_node(bare)
            new = cst.parse_expression(f"{owner}.scale({code}).backward")
            self.report(
                node,
                fix=self.fix(
                    Applicability.UNSAFE,
                    f"Scale the loss: `{owner}.scale(...).backward()`",
                    Replace(func, new),
                ),
            )
            return


def scaled_backward_receiver(call: cst.Call) -> bool:
    return isinstance(call.func, cst.Attribute) and call.func.attr.value == "scale"


def _mentions(expr: cst.CSTNode, name: str) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if dotted_name(node) == name:  # type: ignore[arg-type]
            return True
        stack.extend(inner_children(node))
        stack.extend(c for c in node.children if isinstance(c, cst.Name))
    return False
