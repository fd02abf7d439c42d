"""TL502 compile-in-loop."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.loops import varies_per_iteration
from torchlint.rules.base import Invalid, Rule, Valid

COMPILE = "torch.compile"


class CompileInLoop(Rule):
    """
    ## What it does
    Reports `torch.compile(...)` (a call or a decorator) inside the body of a `for`/`while`
    loop, or inside a module's `forward` method. A call whose arguments change with the loop
    (`for block in blocks: torch.compile(block)`, or a module built from the loop variable)
    compiles each distinct module once, as regional compilation and benchmarks do: it is not
    reported.

    ## Why is this bad?
    `torch.compile` returns a new wrapper each time it is called. Wrapping again on every
    iteration or every forward pass redoes guard setup and can trigger recompilation until
    the recompile limit is hit, after which the code silently falls back to eager mode: the
    run is slower than never compiling at all.

    ## Example
    ```python
    import torch

    for x, y in loader:
        loss = torch.compile(model)(x).sum()
    ```

    ## Use instead
    ```python
    import torch

    compiled = torch.compile(model)
    for x, y in loader:
        loss = compiled(x).sum()
    ```

    ## Fix safety
    No fix: hoisting the call out of the loop needs to know that what it compiles does not
    change between iterations.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.compile.html
    - https://pytorch.org/docs/stable/torch.compiler_troubleshooting.html
    """

    code = "TL502"
    name = "compile-in-loop"
    applies_to_tests = False
    summary = "`torch.compile` called repeatedly: compile once, outside the loop"
    requires = ("compile",)
    examples = (
        Invalid(
            """
            import torch
            for x, y in loader:
                loss = torch.compile(model)(x).sum()
            """
        ),
        Invalid(
            """
            import torch.nn as nn
            from torch import compile as tc
            class Net(nn.Module):
                def forward(self, x):
                    return tc(self.body)(x)
            """
        ),
        Invalid(
            """
            import torch
            def train(model, batches):
                step = 0
                while step < 100:
                    @torch.compile
                    def loss_fn(x):
                        return model(x).sum()
                    loss_fn(batches[step]).backward()
                    step += 1
            """
        ),
        Invalid(
            """
            import torch
            for epoch in range(10):
                for batch in loader:
                    opt_model = torch.compile(model, mode="max-autotune")
                    opt_model(batch)
            """
        ),
        Invalid(
            """
            import torch
            for epoch in range(3):
                model = torch.compile(model)
                train_one_epoch(model)
            """
        ),
        Valid(
            """
            import torch
            compiled = torch.compile(model)
            for x, y in loader:
                loss = compiled(x).sum()
            """
        ),
        Valid(
            """
            import torch
            for config in configs:
                def build():
                    return torch.compile(make_model(config))
                builders.append(build)
            """
        ),
        Valid(
            """
            import torch
            class Net(torch.nn.Module):
                def forward(self, x):
                    if self._compiled is None:
                        self._compiled = torch.compile(self.body)
                    return self._compiled(x)
            """
        ),
        Valid(
            """
            import torch
            # regional compilation: each distinct block is compiled once
            for i in range(len(self.blocks)):
                self.blocks[i].forward = torch.compile(self.blocks[i].forward)
            """
        ),
        Valid(
            """
            import torch
            for name, factory in registry.items():
                op = factory().to(device)
                compiled = torch.compile(op)
                timings[name] = benchmark(compiled)
            """
        ),
        Valid(
            """
            import re
            for pattern in patterns:
                regexes.append(re.compile(pattern))
            """
        ),
        Valid(
            """
            import torch
            def compile(fn):
                return fn
            for fn in fns:
                compile(fn)
            """
        ),
        Valid(
            """
            import torch
            for name in names:
                pass
            else:
                model = torch.compile(model)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if last != "compile" and not isinstance(func, cst.Name):
            return
        if self.qualified_name(func) == COMPILE:
            self._check(node)

    def visit_Decorator(self, node: cst.Decorator) -> None:
        decorator = node.decorator
        if (
            isinstance(decorator, (cst.Name, cst.Attribute))
            and self.qualified_name(decorator) == COMPILE
        ):
            self._check(node)

    def _check(self, node: cst.CSTNode) -> None:
        found = _repeated_context(self.context.ancestors, node)
        if found is None:
            return
        where, loop = found
        if loop is not None and isinstance(node, cst.Call) and varies_per_iteration(loop, node):
            return  # a different module (or setting) each time: each is compiled once
        self.report(node, f"`torch.compile` called {where}: compile once, outside it")


def _repeated_context(
    ancestors: list[cst.CSTNode], node: cst.CSTNode
) -> tuple[str, cst.For | cst.While | None] | None:
    """``"in a loop"`` (with the loop) / ``"in forward"`` when ``node`` runs again and
    again, else None.

    Looks outwards to the enclosing function: a decorator belongs to the scope around its
    ``def``, a ``def`` or ``lambda`` body runs only when called, and an ``if`` on the way is a
    compile-once guard (``if self._compiled is None: ...``).
    """
    child = node
    for index in range(len(ancestors) - 1, -1, -1):
        parent = ancestors[index]
        if isinstance(parent, (cst.For, cst.While)) and child is parent.body:
            return "in a loop", parent
        if isinstance(parent, (cst.If, cst.IfExp)):
            return None
        if isinstance(parent, cst.FunctionDef):
            if isinstance(child, cst.Decorator):
                child = parent
                continue
            in_class = index >= 2 and isinstance(ancestors[index - 2], cst.ClassDef)
            return ("in `forward`", None) if in_class and parent.name.value == "forward" else None
        if isinstance(parent, (cst.Lambda, cst.ClassDef)):
            return None
        child = parent
    return None
