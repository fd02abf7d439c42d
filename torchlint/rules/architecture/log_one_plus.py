"""TL405 log-one-plus."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.rules.architecture._common import is_one, unary_torch_call, with_function
from torchlint.rules.base import Invalid, Replace, Rule, Valid


class LogOnePlus(Rule):
    """
    ## What it does
    Reports `torch.log(1 + x)` and `torch.log(x + 1)`.

    ## Why is this bad?
    For small `x`, `1 + x` rounds to `1` in floating point before the logarithm sees it, so
    the result loses most of its significant digits (in float32 every `|x| < 6e-8` gives
    exactly `0`). `torch.log1p(x)` computes the same value accurately and in one kernel.

    ## Example
    ```python
    import torch

    y = torch.log(1 + x)
    ```

    ## Use instead
    ```python
    import torch

    y = torch.log1p(x)
    ```

    Off by default: whether the precision matters depends on the values, which a linter
    cannot see. On real code the reports were `log(1 + counts)` over integer counts (where `1 + x` is exact) or of a loss value, where the result is the same
    to the digits that matter (0 of 14 sampled worth a change). Enable it
    (`extend-select = ["TL405"]`) for numerical code that works near zero.

    ## Fix safety
    Safe: the same function, computed more accurately. Only a literal `1` (or `1.0`) is
    rewritten; the fix reuses the name the call was spelled with (`th.log` becomes
    `th.log1p`).

    ## References
    - https://pytorch.org/docs/stable/generated/torch.log1p.html
    """

    code = "TL405"
    name = "log-one-plus"
    applies_to_tests = False
    summary = "`torch.log(1 + x)` loses precision for small `x`: use `torch.log1p(x)`"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("log",)
    examples = (
        Invalid(
            """
            import torch
            y = torch.log(1 + x)
            """,
            fixed="""
            import torch
            y = torch.log1p(x)
            """,
        ),
        Invalid(
            """
            import torch as th
            y = th.log(x.abs() + 1.0) * scale
            """,
            fixed="""
            import torch as th
            y = th.log1p(x.abs()) * scale
            """,
        ),
        Invalid(
            """
            import torch
            def f(a, b):
                return torch.log((1 + a * b))
            """,
            fixed="""
            import torch
            def f(a, b):
                return torch.log1p(a * b)
            """,
        ),
        Invalid(
            """
            from torch import log
            y = log(1 + x)
            """,
            fixed="""
            from torch import log1p
            y = log1p(x)
            """,
        ),
        Invalid(
            """
            from torch import log
            log1p = None
            y = log(1 + x)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            y = torch.log(x + 1e-8)
            """
        ),
        Valid(
            """
            import math
            y = math.log(1 + x)
            """
        ),
        Valid(
            """
            import torch
            def f(torch, x):
                return torch.log(1 + x)
            """
        ),
        Valid(
            """
            import torch
            y = torch.log(2 + x)
            z = torch.log(1 - x)
            w = torch.log1p(x)
            """
        ),
        Valid(
            """
            import torch
            y = torch.log(1 + x, **kwargs)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if last != "log" and not isinstance(func, cst.Name):
            return
        argument = unary_torch_call(self.context, node, "torch.log")
        if not isinstance(argument, cst.BinaryOperation) or not isinstance(
            argument.operator, cst.Add
        ):
            return
        if is_one(argument.left):
            x = argument.right
        elif is_one(argument.right):
            x = argument.left
        else:
            return
        new = with_function(self.context, node, "log1p", x)
        fix = None
        if new is not None:
            fix = self.fix(
                Applicability.SAFE, "Use `log1p`", Replace(node, new[0]), preamble=new[1]
            )
        self.report(node, fix=fix)
