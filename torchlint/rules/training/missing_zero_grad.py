"""TL304 missing-zero-grad."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import UNKNOWN, flow_of
from torchlint.context import FileContext
from torchlint.diagnostics import Applicability
from torchlint.rules.base import InsertLine, Invalid, Rule, Valid
from torchlint.rules.training._common import calls_method, first_statement


def find(context: FileContext) -> dict[int, str | None]:
    """Loop node id -> the optimizer it steps (None when it cannot be named here)."""
    found: dict[int, str | None] = {}
    if not (calls_method(context.source, "backward") and calls_method(context.source, "step")):
        return found
    flow = flow_of(context)
    for function in flow.functions:
        loops = flow.step_loops(function)
        if not loops:
            continue
        events = flow.expanded(function)
        for loop in loops:
            inside = [e for e in events if loop in e.loops]
            steps = [e for e in inside if e.kind == "step"]
            if any(e.closure for e in steps):
                continue  # LBFGS & co: the closure zeroes the gradients
            if any(e.kind in ("zero_grad", "grad_reset") for e in inside):
                continue
            if any(e.guarded_in(loop) for e in steps):
                continue  # gradient accumulation: `if (i + 1) % k == 0: optimizer.step()`
            rebound = {e.name for e in inside if e.kind == "bind"}
            if steps and all(e.name in rebound for e in steps):
                continue  # a new optimizer each iteration (over new tensors): nothing adds up
            name = steps[0].name if steps and steps[0].site is None else None
            found[id(loop.node)] = None if name == UNKNOWN else name
    return found


class MissingZeroGrad(Rule):
    """
    ## What it does
    Reports a training loop (a loop that calls `.backward()` and `optimizer.step()`, also
    through same-file helpers) that never clears the gradients: no `zero_grad()` and no
    `p.grad = None`. Loops that step with a closure (`LBFGS`), loops that visibly
    accumulate gradients (`if (i + 1) % k == 0: optimizer.step()`) and loops that build a
    new optimizer each iteration (guidance that optimises a fresh latent per step) are not
    reported.

    ## Why is this bad?
    `.backward()` adds to `.grad`; it does not overwrite it. Without clearing, every step
    uses the sum of all gradients so far, so the updates grow without bound and training
    diverges or silently goes nowhere.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    Opt-in (`extend-select = ["TL304"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 1 sampled reports were worth a
    change, below the 90 % a default rule must reach: the gradients were cleared by a project helper the rule does not follow.

    ## Fix safety
    Display only: where the gradients should be cleared depends on the loop (accumulation
    over several batches is sometimes intended), so the fix shows
    `optimizer.zero_grad()` as the loop's first statement without applying it.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html
    - https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html
    """

    code = "TL304"
    name = "missing-zero-grad"
    default = False
    applies_to_tests = False
    summary = "Training loop never clears gradients: `.backward()` keeps adding to `.grad`"
    fix_applicability = Applicability.DISPLAY
    requires = ("backward",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch.nn.functional as F
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
            """
        ),
        Invalid(
            """
            def train(model, loader, opt):
                for epoch in range(10):
                    opt.zero_grad()  # once per epoch: every batch adds to the same grads
                    for i, (x, y) in enumerate(tqdm(loader)):
                        model(x).sum().backward()
                        opt.step()
            """
        ),
        Invalid(
            """
            class Trainer:
                def train_step(self, batch):
                    loss = self.model(batch).mean()
                    loss.backward()
                    self.optimizer.step()

                def fit(self, loader):
                    for batch in loader:
                        self.train_step(batch)
            """
        ),
        Invalid(
            """
            step = 0
            while step < 1000:
                loss = model(next(data)).mean()
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                step += 1
            """
        ),
        Valid(
            """
            for x, y in loader:
                optimizer.zero_grad(set_to_none=True)
                loss = model(x).mean()
                loss.backward()
                optimizer.step()
            """
        ),
        Valid(
            """
            for i, (x, y) in enumerate(loader):
                loss = model(x).mean() / accum_steps
                loss.backward()
                if (i + 1) % accum_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Valid(
            """
            import torch
            optimizer = torch.optim.LBFGS(model.parameters())
            for x, y in loader:
                def closure():
                    optimizer.zero_grad()
                    loss = model(x).mean()
                    loss.backward()
                    return loss
                loss = model(x).mean()
                loss.backward()
                optimizer.step(closure)
            """
        ),
        Valid(
            """
            for x, y in loader:
                for p in model.parameters():
                    p.grad = None
                model(x).mean().backward()
                optimizer.step()
            """
        ),
        Valid(
            """
            def clear(model):
                model.zero_grad()

            def train(model, loader, optimizer):
                for x, y in loader:
                    clear(model)
                    model(x).mean().backward()
                    optimizer.step()
            """
        ),
        Valid(
            """
            class LitModel:
                def training_step(self, batch, batch_idx):
                    loss = self.model(batch).mean()
                    loss.backward()
                    self.optimizer.step()
                    return loss
            """
        ),
        Valid(
            """
            import torch
            for t in timesteps:
                latent = latents.detach().clone().requires_grad_(True)
                opt = torch.optim.SGD([latent], lr=0.1)
                guidance_loss(unet(latent, t)).backward()
                opt.step()
            """
        ),
        Valid(
            """
            for state in states:
                value = critic(state)
                value.backward()
                env.step(action)
            """
        ),
    )

    def visit_For(self, node: cst.For) -> None:
        self._check(node)

    def visit_While(self, node: cst.While) -> None:
        self._check(node)

    def _check(self, node: cst.For | cst.While) -> None:
        found = self.context.fact("TL304", find)
        if id(node) not in found:
            return
        optimizer = found[id(node)] or "optimizer"
        first = first_statement(node.body)
        fix = None
        if first is not None:
            fix = self.fix(
                Applicability.DISPLAY,
                f"Call `{optimizer}.zero_grad()` at the start of each step",
                InsertLine(first, f"{optimizer}.zero_grad()"),
            )
        self.report(node, fix=fix)
