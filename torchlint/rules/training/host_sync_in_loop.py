"""TL306 host-sync-in-loop."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import Flow, FunctionInfo, flow_of
from torchlint.context import FileContext
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import Invalid, Rule, Valid
from torchlint.rules.training._common import (
    enclosing_loops,
    function_node,
    has_training_step,
    in_loop_body,
    is_loss_call,
    tensor_names,
)

SYNC_METHODS = frozenset({"item", "cpu", "numpy", "tolist"})
# Words that make an `if` a logging guard (`if step % log_every == 0`, `if args.verbose`).
_GUARD_WORDS = ("log", "verbose", "debug", "print", "interval", "every", "report", "display")


def _is_guard(test: cst.BaseExpression) -> bool:
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Modulo):
            return True
        if isinstance(node, cst.Comparison) and any(
            isinstance(c.operator, cst.Equal) for c in node.comparisons
        ):
            return True  # `if i == len(loader) - 1:` runs once, not every step
        word = None
        if isinstance(node, cst.Name):
            word = node.value
        elif isinstance(node, cst.Attribute):
            word = node.attr.value
        if word is not None and any(w in word.lower() for w in _GUARD_WORDS):
            return True
        stack.extend(iter_children(node))
    return False


def _tensor_names(context: FileContext) -> dict[int, set[str]]:
    """Per function: names that hold a loss or a model's output (for ``print(loss)``)."""
    flow = flow_of(context)
    found: dict[int, set[str]] = {}
    for owner, name, value in flow._raw_assign:
        if is_loss_call(owner.scope, value) or (
            isinstance(value, cst.Call)
            and (callee := dotted_name(value.func)) is not None
            and flow.is_model(owner, callee)
        ):
            found.setdefault(id(owner), set()).add(name)
    for function in flow.functions:
        for event in function.events:
            if event.kind == "backward" and isinstance(event.node, cst.Call):
                func = event.node.func
                if isinstance(func, cst.Attribute):
                    found.setdefault(id(function), set()).update(tensor_names(func.value))
    return found


class HostSyncInLoop(Rule):
    """
    ## What it does
    Reports `.item()`, `.cpu()`, `.numpy()`, `.tolist()` and `print(<tensor>)` directly in
    the body of a training step (a loop that calls `.backward()` and `optimizer.step()`),
    unless they sit under a guard that runs them only at some steps (`if step % k == 0:`,
    `if i == last:`, `if args.verbose:`). Calls in a
    loop nested inside the step (an environment rollout) are not reported.

    ## Why is this bad?
    On a GPU these calls wait until every queued kernel has finished and copy the value to
    the host. Done every step, they stop the CPU from queueing the next step's work ahead
    of the GPU, which then idles between steps. Logging every N steps, or accumulating on
    the device and reading once per epoch, removes the stall.

    ## Example
    ```python
    for x, y in loader:
        ...
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    ```

    ## Use instead
    ```python
    running_loss = torch.zeros((), device=device)
    for x, y in loader:
        ...
        running_loss += loss.detach()
    print(running_loss.item())
    ```

    ## Fix safety
    No fix: where to read values back (and how often) is a design choice.

    ## References
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#avoid-unnecessary-cpu-gpu-synchronization
    """

    code = "TL306"
    name = "host-sync-in-loop"
    applies_to_tests = False
    summary = "Host-device synchronisation in every training step stalls the GPU"
    default = False
    requires = ("backward",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
            """
        ),
        Invalid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                preds.extend(out.argmax(1).cpu().numpy())
            """,
            count=2,
        ),
        Invalid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                print(loss)
            """
        ),
        Invalid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                if loss.item() > 100:
                    break
            """
        ),
        Valid(
            """
            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                if step % 100 == 0:
                    print(loss.item())
            """
        ),
        Valid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                if args.verbose:
                    print(f"loss {loss.item():.3f}")
            """
        ),
        Valid(
            """
            for epoch in range(10):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                print(loss.item())
            """
        ),
        Valid(
            """
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                print("step done")
                model.cpu()
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value not in SYNC_METHODS or node.args:
                return
            kind = f"`.{func.attr.value}()`"
        elif isinstance(func, cst.Name) and func.value == "print":
            kind = "`print(<tensor>)`"
        else:
            return
        ancestors = self.context.ancestors
        loops = [loop for loop in enclosing_loops(ancestors) if in_loop_body(loop, ancestors)]
        if not loops or not has_training_step(self.context):
            return
        flow = flow_of(self.context)
        function = flow.function(function_node(ancestors))
        if function is None:
            return
        step = self._step_loop(flow, function, loops)
        if step is None:
            return
        start = next(i for i, a in enumerate(ancestors) if a is step)
        for ancestor in ancestors[start:]:
            if isinstance(ancestor, cst.If) and _is_guard(ancestor.test):
                return
        if isinstance(func, cst.Attribute):
            receiver = dotted_name(func.value)
            if func.attr.value == "cpu" and flow.is_model(function, receiver):
                return
        elif not self._prints_tensor(node, function):
            return
        self.report(node, f"{kind} in every training step waits for the GPU to finish")

    @staticmethod
    def _step_loop(flow: Flow, function: FunctionInfo, loops: list) -> cst.CSTNode | None:
        """The training step directly around the call; a nested loop inside the step (an
        environment rollout, a loop over parameters) is not reported."""
        steps = {id(loop.node) for loop in flow.step_loops(function)}
        return loops[0] if id(loops[0]) in steps else None

    def _prints_tensor(self, node: cst.Call, function: FunctionInfo) -> bool:
        names = self.context.fact("TL306", _tensor_names).get(id(function), set())
        for arg in node.args:
            if arg.keyword is not None:
                continue
            values: list[cst.BaseExpression] = [arg.value]
            if isinstance(arg.value, cst.FormattedString):
                values = [
                    part.expression
                    for part in arg.value.parts
                    if isinstance(part, cst.FormattedStringExpression)
                ]
            for value in values:
                if isinstance(value, (cst.Name, cst.Attribute)) and dotted_name(value) in names:
                    return True
        return False
