"""TL406 exp-minus-one."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.rules.architecture._common import is_one, unary_torch_call, with_function
from torchlint.rules.base import Invalid, Replace, Rule, Valid


class ExpMinusOne(Rule):
    """
    ## What it does
    Reports `torch.exp(x) - 1`.

    ## Why is this bad?
    For small `x`, `exp(x)` is `1 + x + ...` and subtracting `1` cancels the leading digits,
    leaving mostly rounding error (in float32 every `|x| < 6e-8` gives exactly `0`).
    `torch.expm1(x)` computes `exp(x) - 1` accurately and in one kernel.

    ## Example
    ```python
    import torch

    y = torch.exp(x) - 1
    ```

    ## Use instead
    ```python
    import torch

    y = torch.expm1(x)
    ```

    Off by default: whether the precision matters depends on the values, which a linter
    cannot see. On real code the reports were `exp(h) - 1` of a solver step of order 0.1, or scaled and rounded right after, where the result is the same
    to the digits that matter (0 of 14 sampled worth a change). Enable it
    (`extend-select = ["TL406"]`) for numerical code that works near zero.

    ## Fix safety
    Safe: the same function, computed more accurately. Only a literal `1` (or `1.0`) is
    rewritten; the fix reuses the name the call was spelled with (`th.exp` becomes
    `th.expm1`).

    ## References
    - https://pytorch.org/docs/stable/generated/torch.expm1.html
    """

    code = "TL406"
    name = "exp-minus-one"
    applies_to_tests = False
    summary = "`torch.exp(x) - 1` loses precision for small `x`: use `torch.expm1(x)`"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("exp",)
    examples = (
        Invalid(
            """
            import torch
            y = torch.exp(x) - 1
            """,
            fixed="""
            import torch
            y = torch.expm1(x)
            """,
        ),
        Invalid(
            """
            import torch as th
            y = 2 * (th.exp(rate * t) - 1.0) / rate
            """,
            fixed="""
            import torch as th
            y = 2 * th.expm1(rate * t) / rate
            """,
        ),
        Invalid(
            """
            import torch
            def elu(x, alpha):
                return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))
            """,
            fixed="""
            import torch
            def elu(x, alpha):
                return torch.where(x > 0, x, alpha * torch.expm1(x))
            """,
        ),
        Invalid(
            """
            from torch import exp
            y = exp(x) - 1 - z
            """,
            fixed="""
            from torch import expm1
            y = expm1(x) - z
            """,
        ),
        Invalid(
            """
            from torch import exp
            def expm1(x):
                return x
            y = exp(x) - 1
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            y = torch.exp(x) - 1e-6
            z = 1 - torch.exp(x)
            """
        ),
        Valid(
            """
            import numpy as np
            y = np.exp(x) - 1
            """
        ),
        Valid(
            """
            import torch
            def f(torch, x):
                return torch.exp(x) - 1
            """
        ),
        Valid(
            """
            import torch
            y = torch.exp(x) + 1
            z = torch.exp(x) - one
            w = torch.exp(*xs) - 1
            """
        ),
        Valid(
            """
            import torch
            y = a - torch.exp(x) - 1
            """
        ),
    )

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        left = node.left
        if not isinstance(node.operator, cst.Subtract) or not isinstance(left, cst.Call):
            return
        if not is_one(node.right):
            return
        argument = unary_torch_call(self.context, left, "torch.exp")
        if argument is None:
            return
        new = with_function(self.context, left, "expm1", argument)
        fix = None
        if new is not None:
            # a call needs no parentheses: drop the ones the subtraction had
            parens = [Replace(paren, "") for paren in (*node.lpar, *node.rpar)]
            fix = self.fix(
                Applicability.SAFE,
                "Use `expm1`",
                Replace(node, new[0]),
                *parens,
                preamble=new[1],
            )
        self.report(node, fix=fix)
