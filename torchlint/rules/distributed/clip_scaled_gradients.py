"""TL903 clip-scaled-gradients."""

from __future__ import annotations

import bisect

import libcst as cst

from torchlint.analysis.devices import last_name
from torchlint.analysis.distributed import (
    dist_facts,
    exclusive,
    mentions_name,
)
from torchlint.analysis.scaler_events import scaler_events
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import InsertLine, Invalid, Rule, Valid

CLIPS = frozenset(
    {
        "torch.nn.utils.clip_grad_norm_",
        "torch.nn.utils.clip_grad_value_",
        "torch.nn.utils.clip_grad_norm",
        "torch.nn.utils.clip_grad.clip_grad_norm_",
        "torch.nn.utils.clip_grad.clip_grad_value_",
        "torch.nn.utils.clip_grad.clip_grad_norm",
    }
)


class ClipScaledGradients(Rule):
    """
    ## What it does
    Reports `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` called after
    `scaler.scale(loss).backward()` and before `scaler.step(optimizer)`, in the same function,
    with no `scaler.unscale_(optimizer)` before the clip.

    ## Why is this bad?
    After `scaler.scale(loss).backward()` the gradients are multiplied by the loss scale
    (65536 at the start, changing as training goes). Clipping them then compares the scaled
    norm with a threshold meant for true gradients: nearly every step is clipped, by an
    amount that changes with the scale, so the effective learning rate is far smaller than
    intended and drifts. `scaler.unscale_(optimizer)` first divides the gradients back;
    `scaler.step` then knows they are unscaled and does not divide again.

    An `unscale_` anywhere before the clip in the function, the scaler handed to a helper
    in between (`unscale_and_clip(scaler, optimizer)`), a same-file helper that unscales or a
    `self.` method torchlint cannot find called in between, is taken as unscaling; a
    threshold that names the scaler (`max_norm * scaler.get_scale()`) is scaled on purpose;
    a clip in a branch that excludes the scaled backward is not reported.

    ## Example
    ```python
    scaler.scale(loss).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Use instead
    ```python
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    scaler.step(optimizer)
    scaler.update()
    ```

    ## Fix safety
    Unsafe: clipping starts to apply to the true gradients, so training changes (as
    intended: the threshold finally means what it says).

    ## References
    - https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-clipping
    """

    code = "TL903"
    name = "clip-scaled-gradients"
    summary = "gradients clipped while still scaled by `GradScaler`: call `scaler.unscale_` first"
    applies_to_tests = False
    default = True
    fix_applicability = Applicability.UNSAFE
    requires = ("clip_grad",)
    examples = (
        Invalid(
            """
            import torch
            for x, y in loader:
                optimizer.zero_grad()
                scaler.scale(loss_fn(model(x), y)).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                scaler.step(optimizer)
                scaler.update()
            """,
            fixed="""
            import torch
            for x, y in loader:
                optimizer.zero_grad()
                scaler.scale(loss_fn(model(x), y)).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                scaler.step(optimizer)
                scaler.update()
            """,
        ),
        Invalid(
            """
            from torch.nn.utils import clip_grad_value_ as clip
            class Trainer:
                def step(self, loss):
                    self.scaler.scale(loss).backward()
                    if self.clip:
                        clip(self.model.parameters(), self.clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
            fixed="""
            from torch.nn.utils import clip_grad_value_ as clip
            class Trainer:
                def step(self, loss):
                    self.scaler.scale(loss).backward()
                    if self.clip:
                        self.scaler.unscale_(self.optimizer)
                        clip(self.model.parameters(), self.clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
            """,
        ),
        Invalid(
            """
            import torch.nn.utils
            def step(scaler, loss, params, opts):
                scaler.scale(loss).backward()
                norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
                scaler.step(opts[0])
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            """
        ),
        Valid(
            """
            import torch
            def unscale_and_clip(scaler, optimizer, model):
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            def train_step(scaler, optimizer, model, loss):
                scaler.scale(loss).backward()
                unscale_and_clip(scaler, optimizer, model)
                scaler.step(optimizer)
            """
        ),
        Valid(
            """
            import torch
            scaler.scale(loss).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm * scaler.get_scale())
            scaler.step(optimizer)
            """
        ),
        Valid(
            """
            import torch
            class Trainer:
                def unscale(self):
                    self.scaler.unscale_(self.optimizer)
                def step(self, loss):
                    self.scaler.scale(loss).backward()
                    self.unscale()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                    self.scaler.step(self.optimizer)
            """
        ),
        Valid(
            """
            import torch
            class Trainer:
                def step(self, loss):
                    self.scaler.scale(loss).backward()
                    self.unscale_gradients()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                    self.scaler.step(self.optimizer)
            """
        ),
        Valid(
            """
            import torch
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(x)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            """
        ),
        Valid(
            """
            import torch
            if use_amp:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = last_name(func)
        if last is None or (not last.startswith("clip_grad") and "clip" not in last):
            return
        if self.qualified_name(func) not in CLIPS:
            return
        facts = dist_facts(self.context)
        clip = facts.by_node.get(id(node))
        if clip is None:
            return
        events = scaler_events(self.context, clip.function)
        position = bisect.bisect_left(events.backwards, (clip.order,))
        backward = next(
            (
                (order, scaler)
                for order, scaler, site in reversed(events.backwards[:position])
                if not exclusive(site, clip)
            ),
            None,
        )
        if backward is None:
            return
        start, scaler = backward
        if events.unscales.get(scaler, clip.order) < clip.order:
            return  # unscaled before
        if any(mentions_name(arg.value, scaler) for arg in node.args):
            return  # a threshold scaled to match: `max_norm * scaler.get_scale()`
        for between in (events.handed.get(scaler, []), events.helpers):
            index = bisect.bisect_right(between, start)
            if index < len(between) and between[index] < clip.order:
                return  # maybe unscaled by a helper
        steps = events.steps.get(scaler, [])
        index = bisect.bisect_right(events.step_orders.get(scaler, []), clip.order)
        step = next((s for s in steps[index:] if not exclusive(s, clip)), None)
        if step is not None:
            self.report(node, fix=self._unscale(clip, scaler, step))

    def _unscale(self, clip, scaler, step):
        line = clip.line()
        args = step.node.args
        optimizer = dotted_name(args[0].value) if len(args) == 1 and not args[0].keyword else None
        if line is None or optimizer is None:
            return None
        return self.fix(
            Applicability.UNSAFE,
            f"Call `{scaler}.unscale_({optimizer})` before clipping",
            InsertLine(line, f"{scaler}.unscale_({optimizer})"),
            ancestors=clip.ancestors,
        )
