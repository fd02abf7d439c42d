"""TL302 train-mode-not-restored."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import UNKNOWN, Event, Flow, Loop, covers, flow_of
from torchlint.context import FileContext
from torchlint.diagnostics import Applicability
from torchlint.rules.base import InsertLine, Invalid, Rule, Valid
from torchlint.rules.training._common import calls_method, first_statement


def _switch(event: Event, name: str) -> str | None:
    """How ``event`` changes ``name``'s mode: "eval", "train", or None (not at all)."""
    if event.kind == "eval":
        return "eval" if event.name != UNKNOWN and covers(event.name, name) else None
    if event.kind in ("train", "mode") and covers(event.name, name):
        return "train"  # an unknown train(flag) may well be the restore: trust it
    return None


def _unrestored_loop(flow: Flow, events: list[Event], loop: Loop, name: str) -> Loop | None:
    """The loop (``loop`` or one around it) whose next step runs ``name`` in eval mode."""
    # The training call: a helper's calls under no_grad (an evaluation) are not the step.
    calls = [
        p
        for p, e in enumerate(events)
        if e.kind == "model" and e.name == name and loop in e.loops and e.grad != "off"
    ]
    if not calls:
        return None
    step = calls[0]
    switches = [(p, e, s) for p, e in enumerate(events) if (s := _switch(e, name)) is not None]
    trains = [e for _, e, s in switches if s == "train"]

    def is_eval(last: tuple[Event, str]) -> bool:
        """An eval() that no train() in another branch of the same `if` may replace
        (`if phase == "train": model.train() else: model.eval()`)."""
        event, switch = last
        return switch == "eval" and not any(t.exclusive(event) for t in trains)

    for outer in loop.chain():
        inside = [(p, e, s) for p, e, s in switches if outer in e.loops]
        before = [(e, s) for p, e, s in inside if p < step]
        if before:
            return outer if is_eval(before[-1]) else None
        after = [(e, s) for p, e, s in inside if p > step]
        if after and is_eval(after[-1]):
            return outer  # the eval() at the end of one iteration is still on at the next
    earlier = [(p, e, s) for p, e, s in switches if p < step]
    if earlier and is_eval(earlier[-1][1:]):
        position, event, _ = earlier[-1]
        outermost = loop.chain()[-1]
        # A plain eval() right before the loop keeps a frozen model in eval on purpose; an
        # eval() left over from evaluating it first (a call, or a helper) is the bug.
        used = event.site is not None or any(
            e.kind == "model" and e.name == name and outermost not in e.loops
            for e in events[position + 1 : step]
        )
        if used:
            return outermost
    return None


def find(context: FileContext) -> dict[int, tuple[cst.CSTNode, list[str]]]:
    """Loop node id -> (loop node, model names that its next step runs in eval mode)."""
    found: dict[int, tuple[cst.CSTNode, list[str]]] = {}
    source = context.source
    if not (
        calls_method(source, "backward")
        and calls_method(source, "step")
        and calls_method(source, "eval", "train")
    ):
        return found
    flow = flow_of(context)
    for function in flow.functions:
        loops = flow.step_loops(function)
        if not loops:
            continue
        events = flow.expanded(function)
        frozen = {e.name for e in events if e.kind == "freeze"}
        for loop in loops:
            in_step = [e for e in events if e.kind == "model" and loop in e.loops]
            names: list[str] = []
            for event in in_step:
                name = event.name
                if name == UNKNOWN or name in names or name in frozen:
                    continue
                if all(e.grad == "off" for e in in_step if e.name == name):
                    continue  # a frozen teacher or target network, not the trained model
                names.append(name)
            for name in names:
                target = _unrestored_loop(flow, events, loop, name)
                if target is not None:
                    entry = found.setdefault(id(target.node), (target.node, []))
                    if name not in entry[1]:
                        entry[1].append(name)
    return found


class TrainModeNotRestored(Rule):
    """
    ## What it does
    Reports a training loop whose model is switched to eval mode (`model.eval()`, directly
    or inside a same-file helper such as `validate(model)`) and not switched back with
    `model.train()` before the next training step.

    Same-file helpers are followed: one that switches to eval and back to train before it
    returns (or uses `evaluating(model)`) leaves the loop in train mode, and the calls it
    makes under `no_grad` are its evaluation, not the training step. A helper imported from
    another file of the project counts by what it leaves behind: one that returns with its
    model argument still in eval mode (`evaluate(model, loader)` without `model.train()`)
    is an `eval()` at the call. A model put in eval
    mode right before the loop and not used in between is a frozen model (a VAE, a
    perceptual-loss network) kept in eval on purpose: it is not reported.

    ## Why is this bad?
    After the first validation, every later epoch trains with dropout off and batch norm
    frozen on its running statistics. Nothing fails: the loss just goes down more slowly,
    the model overfits, and the bug is very hard to see from the curves.

    ## Example
    ```python
    model.train()
    for epoch in range(epochs):
        for x, y in loader:
            ...  # forward, backward, optimizer.step()
        validate(model)  # calls model.eval()
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            ...
        validate(model)
    ```
    or let the validation restore the mode itself with
    `with torchlint.runtime.evaluating(model):`.

    Opt-in (`extend-select = ["TL302"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 2 sampled reports were worth a
    change, below the 90 % a default rule must reach: linear-probe scripts keep the frozen backbone in eval mode while they train the head, on purpose.

    ## Fix safety
    Unsafe: the fix inserts `model.train()` as the first statement of the loop, which
    changes how the following epochs train (as intended). A model deliberately kept in eval
    mode while fine-tuning (frozen batch norm) would be unfrozen; such models are rarely
    called outside `no_grad`, which this rule skips.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train
    - https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html
    """

    code = "TL302"
    name = "train-mode-not-restored"
    default = False
    applies_to_tests = False
    summary = "`model.eval()` in the training loop is never undone: later steps train in eval mode"
    fix_applicability = Applicability.UNSAFE
    requires = ("backward",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch
            def validate(net, loader):
                net.eval()
                with torch.no_grad():
                    return sum(net(x).sum() for x in loader)

            def fit(model, loader, optimizer, epochs):
                model.train()
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
                    validate(model, loader)
            """,
            fixed="""
            import torch
            def validate(net, loader):
                net.eval()
                with torch.no_grad():
                    return sum(net(x).sum() for x in loader)

            def fit(model, loader, optimizer, epochs):
                model.train()
                for epoch in range(epochs):
                    model.train()
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
                    validate(model, loader)
            """,
        ),
        Invalid(
            """
            def fit(model, loader, optimizer):
                for step, (x, y) in enumerate(loader):
                    optimizer.zero_grad()
                    loss = model(x).mean()
                    loss.backward()
                    optimizer.step()
                    if step % 100 == 0:
                        model.eval()
                        print(model(x).mean())
            """,
            fixed="""
            def fit(model, loader, optimizer):
                for step, (x, y) in enumerate(loader):
                    model.train()
                    optimizer.zero_grad()
                    loss = model(x).mean()
                    loss.backward()
                    optimizer.step()
                    if step % 100 == 0:
                        model.eval()
                        print(model(x).mean())
            """,
        ),
        Invalid(
            """
            class Trainer:
                def evaluate(self):
                    self.model.eval()

                def fit(self):
                    while self.step < self.max_steps:
                        loss = self.model(self.batch()).mean()
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()
                        self.evaluate()
            """,
            fixed="""
            class Trainer:
                def evaluate(self):
                    self.model.eval()

                def fit(self):
                    while self.step < self.max_steps:
                        self.model.train()
                        loss = self.model(self.batch()).mean()
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()
                        self.evaluate()
            """,
        ),
        Invalid(
            """
            def fit(model, loader, optimizer, epochs):
                model.eval()
                baseline = model(next(iter(loader))[0])
                for epoch in range(epochs):
                    for x, y in tqdm(loader):
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
            """,
            fixed="""
            def fit(model, loader, optimizer, epochs):
                model.eval()
                baseline = model(next(iter(loader))[0])
                for epoch in range(epochs):
                    model.train()
                    for x, y in tqdm(loader):
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
            """,
        ),
        Valid(
            """
            def fit(model, loader, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
                    model.eval()
            """
        ),
        Valid(
            """
            import torch
            def validate(net, loader):
                net.eval()
                with torch.no_grad():
                    out = [net(x) for x in loader]
                net.train()
                return out

            def fit(model, loader, optimizer):
                for epoch in range(3):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
                    validate(model, loader)
            """
        ),
        Valid(
            """
            import torch
            def distill(student_model, teacher_model, loader, optimizer):
                teacher_model.eval()
                for x, y in loader:
                    with torch.no_grad():
                        target = teacher_model(x)
                    optimizer.zero_grad()
                    (student_model(x) - target).pow(2).mean().backward()
                    optimizer.step()
            """
        ),
        Valid(
            """
            from torchlint.runtime import evaluating
            def fit(model, loader, optimizer):
                for epoch in range(3):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).sum().backward()
                        optimizer.step()
                    with evaluating(model):
                        model(x)
            """
        ),
        Valid(
            """
            def fit(model, loader, optimizer, was_training):
                model.eval()
                for x, y in loader:
                    model.train(was_training)
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
            """
        ),
        Valid(
            """
            def fit(text_encoder, vae, loader, optimizer):
                vae.eval()  # frozen: only the text encoder trains
                for batch in loader:
                    optimizer.zero_grad()
                    text_encoder(vae(batch)).mean().backward()
                    optimizer.step()
            """
        ),
        Valid(
            """
            def fit(model, loader, optimizer):
                model.backbone.eval()  # frozen batch norm, on purpose
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
            """
        ),
    )

    def _found(self) -> dict[int, tuple[cst.CSTNode, list[str]]]:
        return self.context.fact("TL302", find)

    def visit_For(self, node: cst.For) -> None:
        self._check(node)

    def visit_While(self, node: cst.While) -> None:
        self._check(node)

    def _check(self, node: cst.For | cst.While) -> None:
        entry = self._found().get(id(node))
        if entry is None:
            return
        names = entry[1]
        listed = ", ".join(f"`{n}.train()`" for n in names)
        message = (
            f"{', '.join(f'`{n}`' for n in names)} is switched to eval mode in this loop and "
            f"no {listed} switches it back before the next training step"
        )
        first = first_statement(node.body)
        fix = None
        if first is not None:
            fix = self.fix(
                Applicability.UNSAFE,
                f"Call {listed} at the start of each iteration",
                InsertLine(first, "\n".join(f"{n}.train()" for n in names)),
            )
        self.report(node, message, fix)
