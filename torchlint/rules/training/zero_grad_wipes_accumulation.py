"""TL317 zero-grad-wipes-accumulation."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.accumulation import clears, method_calls
from torchlint.rules.base import Invalid, Valid
from torchlint.rules.training._common import AccumulatingLoopRule


class ZeroGradWipesAccumulation(AccumulatingLoopRule):
    """
    ## What it does
    Reports `optimizer.zero_grad()` (or `model.zero_grad()`) that runs on every iteration of
    a loop which accumulates gradients: the loop calls `backward()` on every iteration but
    steps that optimizer only under an `if` with a cadence test (`(i + 1) % n == 0`, a name
    about accumulation).

    Only that shape is reported: the `zero_grad()` and the `backward()` are statements that
    run every iteration (not under an `if`), the optimizer is stepped in the loop only under
    the cadence test, and the `zero_grad()` clears that optimizer (same name) or a model.
    A `zero_grad()` inside the stepping `if` is the correct form and is not reported.
    Neither is a loop whose stepping `if` has an `else` that calls the same optimizer
    (Opacus's `else: optimizer.virtual_step()`): that optimizer keeps the accumulated
    gradients itself, and clearing `.grad` every micro-batch is redundant, not wrong.

    ## Why is this bad?
    Accumulation means letting `backward()` add the gradients of `n` micro-batches into
    `.grad` before one `optimizer.step()`. A `zero_grad()` on every iteration throws away
    what the previous micro-batches added: each step uses the gradient of the last
    micro-batch only (divided by `n` if the loss is scaled), so the effective batch size is
    `n` times smaller than configured and the learning rate `n` times too small.

    ## Example
    ```python
    for i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
    ```

    ## Use instead
    ```python
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Fix safety
    No fix: where the call belongs (after the step, or at the start of a group) depends on
    the rest of the loop.

    ## References
    - https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-accumulation
    """

    code = "TL317"
    name = "zero-grad-wipes-accumulation"
    applies_to_tests = False
    summary = (
        "`zero_grad()` on every micro-batch of an accumulating loop wipes what was "
        "accumulated: clear the gradients after `optimizer.step()`"
    )
    requires = ("zero_grad",)
    examples = (
        Invalid(
            """
            for i, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
            """
        ),
        Invalid(
            """
            import torch
            def train(self, loader):
                for step, batch in enumerate(loader):
                    with torch.autocast("cuda"):
                        loss = self.model(batch)
                    self.scaler.scale(loss).backward()
                    self.model.zero_grad()
                    if step % self.grad_accum_steps == 0:
                        self.scaler.step(self.optimizer)
                        self.scaler.update()
            """
        ),
        Invalid(
            """
            while True:
                batch = next(data)
                opt.zero_grad(set_to_none=True)
                model(batch).backward()
                if counter % update_freq == 0:
                    opt.step()
            """
        ),
        Invalid(
            """
            for i, batch in enumerate(loader):
                loss = model(batch)
                loss.backward()
                if (i + 1) % args.gradient_accumulation_steps == 0:
                    optimizer.step()
                optimizer.zero_grad()
            """
        ),
        Valid(
            """
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Valid(
            """
            for i, batch in enumerate(loader):
                optimizer.zero_grad()
                model(batch).backward()
                optimizer.step()
                if i % 100 == 0:
                    print(i)
            """
        ),
        Valid(
            """
            for i, (real, _) in enumerate(loader):
                optimizer_d.zero_grad()
                critic_loss(real).backward()
                optimizer_d.step()
                if i % n_critic == 0:
                    optimizer_g.zero_grad()
                    generator_loss().backward()
                    optimizer_g.step()
            """
        ),
        Valid(
            """
            while True:
                opt.zero_grad()
                model(next(data)).backward()
                if ready():
                    opt.step()
            """
        ),
        Valid(
            """
            for i, (images, target) in enumerate(train_loader):
                loss = criterion(model(images), target)
                optimizer.zero_grad()
                loss.backward()
                if ((i + 1) % args.n_accumulation_steps == 0) or ((i + 1) == len(train_loader)):
                    optimizer.step()
                else:
                    optimizer.virtual_step()
            """
        ),
        Valid(
            """
            for i, batch in enumerate(loader):
                if i % accumulation_steps == 0:
                    optimizer.zero_grad()
                model(batch).backward()
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
            """
        ),
    )

    def check_loop(self, every_iteration: list[cst.BaseStatement], stepped: set[str]) -> None:
        for statement in every_iteration:
            for call in method_calls(statement, "zero_grad"):
                if clears(call, stepped):
                    self.report(call)
