"""TL318 clip-every-micro-batch."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.accumulation import method_calls
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, Valid
from torchlint.rules.training._common import AccumulatingLoopRule

CLIPPING = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.utils.clip_grad_value_",
        "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
    }
)


class ClipEveryMicroBatch(AccumulatingLoopRule):
    """
    ## What it does
    Reports gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`) and
    `scaler.unscale_(...)` that run on every iteration of a loop which accumulates
    gradients: the loop calls `backward()` on every iteration but steps its optimizer only
    under an `if` with a cadence test (`(i + 1) % n == 0`, a name about accumulation).

    The loop shape is TL317's: the clipping call and the `backward()` are statements that run
    every iteration (not under an `if`), and the optimizer is stepped in the loop only under
    the cadence test. Clipping inside the stepping `if` is the correct form and is not
    reported.

    ## Why is this bad?
    Clipping is meant for the gradient of the whole accumulated batch, once, right before
    `optimizer.step()`. Clipping after every micro-batch clips partial sums: the first
    micro-batches are clipped again and again while the last one is added unclipped, so the
    update is neither the clipped total nor any fixed scaling of it, and it changes with the
    number of accumulation steps. With a `GradScaler`, `unscale_` on the second micro-batch
    raises (`unscale_() has already been called on this optimizer since the last update()`).

    ## Example
    ```python
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Fix safety
    No fix: moving the call into the `if` is right in the plain case, but the statement may
    also compute a value (the norm) that the loop logs on every iteration.

    ## References
    - https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-accumulation
    - https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
    """

    code = "TL318"
    name = "clip-every-micro-batch"
    applies_to_tests = False
    summary = (
        "Gradients clipped (or unscaled) on every micro-batch of an accumulating loop: "
        "clip once, right before `optimizer.step()`"
    )
    requires = ("clip_grad", "unscale_")
    examples = (
        Invalid(
            """
            import torch
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Invalid(
            """
            from torch.nn.utils import clip_grad_norm_ as clip
            def train(model, loader, optimizer, scaler, accum):
                for step, batch in enumerate(loader):
                    scaler.scale(model(batch)).backward()
                    scaler.unscale_(optimizer)
                    norm = clip(model.parameters(), 1.0)
                    if (step + 1) % accum == 0:
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
            """,
            count=2,
        ),
        Invalid(
            """
            import torch.nn as nn
            for i, batch in enumerate(loader):
                model(batch).backward()
                nn.utils.clip_grad_value_(model.parameters(), 0.5)
                if i % args.gradient_accumulation_steps == 0:
                    opt.step()
                    opt.zero_grad()
            """
        ),
        Valid(
            """
            import torch
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if (i + 1) % accumulation_steps == 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Valid(
            """
            import torch
            for i, batch in enumerate(loader):
                optimizer.zero_grad()
                model(batch).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                if i % 100 == 0:
                    print(i)
            """
        ),
        Valid(
            """
            def clip_grad_norm_(params, value):
                pass
            for i, batch in enumerate(loader):
                model(batch).backward()
                clip_grad_norm_(model.parameters(), 1.0)
                if (i + 1) % accum == 0:
                    optimizer.step()
            """
        ),
    )

    def check_loop(self, every_iteration: list[cst.BaseStatement], stepped: set[str]) -> None:
        for statement in every_iteration:
            for call in method_calls(statement, "unscale_"):
                self.report(call)
            for call in self._clipping_calls(statement):
                self.report(call)

    def _clipping_calls(self, statement: cst.CSTNode) -> list[cst.Call]:
        found: list[cst.Call] = []
        stack = [statement]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(node, cst.Call) and self.qualified_name(node.func) in CLIPPING:
                found.append(node)
            stack.extend(iter_children(node))
        return found
