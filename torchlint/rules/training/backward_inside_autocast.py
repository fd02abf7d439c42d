"""TL309 backward-inside-autocast."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.rules.base import Invalid, Rule, Valid

AUTOCAST = frozenset(
    {
        "torch.autocast",
        "torch.amp.autocast",
        "torch.amp.autocast_mode.autocast",
        "torch.cuda.amp.autocast",
        "torch.cuda.amp.autocast_mode.autocast",
        "torch.cpu.amp.autocast",
        "torch.cpu.amp.autocast_mode.autocast",
    }
)
# Where `enabled` sits positionally: torch.autocast(device_type, dtype, enabled, ...),
# torch.cuda.amp.autocast(enabled, dtype, ...).
_ENABLED_INDEX = {"torch.cuda.amp": 0, "torch.cpu.amp": 0}


class BackwardInsideAutocast(Rule):
    """
    ## What it does
    Reports a `.backward()` call inside a `torch.autocast(...)` (or `torch.amp.autocast`,
    `torch.cuda.amp.autocast`) block. Blocks with a literal `enabled=False` are skipped.

    ## Why is this bad?
    The AMP documentation says that backward passes under autocast are not recommended:
    autocast should wrap only the forward pass and the loss computation. Backward ops
    already run in the dtype autocast chose for the matching forward ops; running them
    inside the region also autocasts whatever the backward pass computes outside the
    recorded graph (custom autograd functions, gradient hooks, `create_graph=True`
    penalties), with results that differ from the intended precision.

    ## Example
    ```python
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
        scaler.scale(loss).backward()
    ```

    ## Use instead
    ```python
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(x), y)
    scaler.scale(loss).backward()
    ```

    ## Fix safety
    No fix: which statements belong inside the block needs a human.

    Opt-in (`extend-select = ["TL309"]`) since round 2026-12-07h: right 0 of 3 times on
    projects no rule was tuned on (strict labels, LABELLING.md). Each was a plain model with
    no custom autograd function, gradient hook or `create_graph`, where moving `backward()`
    out of the block changes nothing (a benchmark script; a trainer whose `amp` is off by
    default); the cases that matter need facts outside the block.

    ## References
    - https://pytorch.org/docs/stable/amp.html#torch.autocast
    - https://pytorch.org/docs/stable/notes/amp_examples.html
    """

    code = "TL309"
    name = "backward-inside-autocast"
    default = False
    applies_to_tests = False
    summary = "`.backward()` inside an `autocast` block: run backward outside the region"
    requires = ("autocast",)
    examples = (
        Invalid(
            """
            import torch
            with torch.autocast("cuda", dtype=torch.float16):
                loss = criterion(model(x), y)
                scaler.scale(loss).backward()
            """
        ),
        Invalid(
            """
            from torch.cuda.amp import autocast
            def step(model, x):
                with autocast():
                    loss = model(x).mean()
                    loss.backward()
            """
        ),
        Invalid(
            """
            import torch
            for x, y in loader:
                with torch.amp.autocast(device_type="cuda"):
                    out = model(x)
                    if out.isfinite().all():
                        out.sum().backward()
            """
        ),
        Invalid(
            """
            from torch import autocast
            with open("log.txt") as log, autocast("cpu", dtype=torch.bfloat16):
                model(x).sum().backward()
            """
        ),
        Valid(
            """
            import torch
            with torch.autocast("cuda", dtype=torch.float16):
                loss = criterion(model(x), y)
            scaler.scale(loss).backward()
            """
        ),
        Valid(
            """
            import torch
            with torch.autocast("cuda", enabled=False):
                loss = model(x).mean()
                loss.backward()
            """
        ),
        Valid(
            """
            import torch
            with torch.autocast("cuda"):
                def closure():
                    loss = model(x).mean()
                    loss.backward()
                    return loss
            optimizer.step(closure)
            """
        ),
        Valid(
            """
            from contextlib import nullcontext as autocast
            with autocast():
                model(x).sum().backward()
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "backward"):
            return
        for ancestor in reversed(self.context.ancestors):
            if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return
            if isinstance(ancestor, cst.With) and any(
                self._enabled_autocast(item.item) for item in ancestor.items
            ):
                self.report(node)
                return

    def _enabled_autocast(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.qualified_name(expr.func)
        if qualified not in AUTOCAST:
            return False
        if any(arg.star == "**" for arg in expr.args):
            return False
        index = next((i for p, i in _ENABLED_INDEX.items() if qualified.startswith(p)), 2)
        enabled = calls.argument(expr, "enabled", index)
        return enabled is None or not calls.is_false(enabled.value)
