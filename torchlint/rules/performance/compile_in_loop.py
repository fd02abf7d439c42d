"""TL502 compile-in-loop."""

from __future__ import annotations

import libcst as cst

from torchlint.rules.base import Invalid, Rule, Valid

COMPILE = "torch.compile"


class CompileInLoop(Rule):
    """
    ## What it does
    Reports `torch.compile(...)` (a call or a decorator) inside the body of a `for`/`while`
    loop, or inside a module's `forward` method.

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
        where = _repeated_context(self.context.ancestors, node)
        if where is not None:
            self.report(node, f"`torch.compile` called {where}: compile once, outside it")


def _repeated_context(ancestors: list[cst.CSTNode], node: cst.CSTNode) -> str | None:
    """``"in a loop"`` / ``"in forward"`` when ``node`` runs again and again, else None.

    Looks outwards to the enclosing function: a decorator belongs to the scope around its
    ``def``, a ``def`` or ``lambda`` body runs only when called, and an ``if`` on the way is a
    compile-once guard (``if self._compiled is None: ...``).
    """
    child = node
    for index in range(len(ancestors) - 1, -1, -1):
        parent = ancestors[index]
        if isinstance(parent, (cst.For, cst.While)) and child is parent.body:
            return "in a loop"
        if isinstance(parent, (cst.If, cst.IfExp)):
            return None
        if isinstance(parent, cst.FunctionDef):
            if isinstance(child, cst.Decorator):
                child = parent
                continue
            in_class = index >= 2 and isinstance(ancestors[index - 2], cst.ClassDef)
            return "in `forward`" if in_class and parent.name.value == "forward" else None
        if isinstance(parent, (cst.Lambda, cst.ClassDef)):
            return None
        child = parent
    return None
