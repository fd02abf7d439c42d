"""TL613 variable-wrapper."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import (
    FRESH_TENSOR_FACTORIES,
    VARIABLE,
    DeprecatedNameRule,
    Use,
    atom,
    ignored_volatile,
)


class VariableWrapper(DeprecatedNameRule):
    """
    ## What it does
    Reports calls of `torch.autograd.Variable(...)` (through any alias) that TL602 does
    not: `Variable(t)`, `Variable(t, requires_grad=...)`, `volatile=False`. Imports and
    other references are left alone: `Variable._execution_engine` is still the documented
    way to queue backward callbacks, and `isinstance(x, Variable)` is merely
    `isinstance(x, torch.Tensor)`.

    Off by default: a modernisation. These calls work, warn about nothing and keep working;
    on projects no rule was tuned on, none of the 17 labelled reports of the earlier TL602
    (which reported these) was worth a change to their maintainers (strict labels). Select it (`--select TL613`) to clean a code base up with
    its safe fix. The form that does change behaviour, `volatile=`, is TL602.

    ## Why is this bad?
    Since PyTorch 0.4 tensors carry autograd themselves and `Variable` is a deprecated
    shim: `Variable(t)` returns `t.detach()` (optionally with `requires_grad` set). The
    wrapper only hides what the code means.

    ## Example
    ```python
    from torch.autograd import Variable

    x = Variable(batch)
    w = Variable(torch.randn(3, 3), requires_grad=True)
    ```

    ## Use instead
    ```python
    x = batch.detach()  # or just `batch`, when it never requires grad
    w = torch.randn(3, 3).requires_grad_()
    ```

    ## Fix safety
    Safe for `Variable(t)` and `Variable(t, requires_grad=True)`: the replacement is exactly
    what `Variable` does, `t.detach()` (plain `t` when `t` is a fresh factory call such as
    `torch.randn(...)`, where detaching changes nothing), plus `.requires_grad_()`.
    `volatile=` and other arguments are reported without a fix.

    ## References
    - https://pytorch.org/blog/pytorch-0_4_0-migration-guide/
    - https://pytorch.org/docs/stable/autograd.html#variable-deprecated
    """

    code = "TL613"
    name = "variable-wrapper"
    default = False
    applies_to_tests = True
    summary = "`torch.autograd.Variable(t)` is a deprecated wrapper that only detaches `t`: use the tensor"
    fix_applicability = Applicability.SAFE
    names = VARIABLE
    report_imports = False
    examples = (
        Invalid(
            """
            import torch
            from torch.autograd import Variable
            noise = Variable(torch.randn(4, 8))
            """,
            fixed="""
            import torch
            noise = torch.randn(4, 8)
            """,
        ),
        Invalid(
            """
            import torch
            x = torch.autograd.Variable(batch)
            y = torch.autograd.Variable(a + b)
            """,
            fixed="""
            x = batch.detach()
            y = (a + b).detach()
            """,
            count=2,
        ),
        Invalid(
            """
            import torch.autograd as ag
            w = ag.Variable(init, requires_grad=True)
            """,
            fixed="""
            w = init.detach().requires_grad_()
            """,
        ),
        Invalid(
            """
            from torch.autograd import Variable as V
            x = V(batch, volatile=False)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.autograd import Variable
            inputs = [Variable(t, requires_grad=grad) for t in tensors]
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            x = torch.randn(4, requires_grad=True)
            y = x.detach()
            """
        ),
        Valid(
            """
            import torch
            from torch.autograd.variable import Variable
            Variable._execution_engine.queue_callback(callback)
            if isinstance(x, torch.autograd.Variable):
                pass
            """
        ),
        Valid(
            """
            from torch.autograd import Variable
            x = Variable(batch, volatile=True)
            """
        ),
        Valid(
            """
            class Variable:
                pass
            v = Variable(1)
            """
        ),
        Valid(
            """
            from tensorflow import Variable
            v = Variable(1.0)
            """
        ),
        Valid(
            """
            from torch.autograd import Function, grad
            def f(Variable):
                return Variable(x)
            """
        ),
        Valid(
            """
            import torch
            def f(torch):
                return torch.autograd.Variable(x)
            """
        ),
    )

    def message(self, qualified: str) -> str:
        return self.summary

    def check_use(self, use: Use) -> None:
        call = use.call
        if call is None:
            return  # only calls construct a Variable
        if ignored_volatile(call) is not None:
            return  # TL602
        super().check_use(use)

    def fix_use(self, use: Use) -> PendingFix | None:
        call = use.call
        if call is None or calls.has_star_args(call):
            return None
        positional = calls.positional(call)
        if len(positional) != 1:
            return None
        grad = calls.keyword(call, "requires_grad")
        if len(call.args) != 1 + (grad is not None):
            return None
        if grad is not None and not (calls.is_true(grad.value) or calls.is_false(grad.value)):
            return None
        value = positional[0].value
        text = self.context.code_for(value)
        if not self._fresh(value):
            text = atom(value, text) + ".detach()"
        message = "Replace `Variable(t)` with `t.detach()`"
        if grad is not None and calls.is_true(grad.value):
            text += ".requires_grad_()"  # `text` is a call or attribute chain by now
            message = "Replace `Variable(t, requires_grad=True)` with `t.detach().requires_grad_()`"
        return self.fix(Applicability.SAFE, message, Replace(call, text))

    def _fresh(self, value: cst.BaseExpression) -> bool:
        return (
            isinstance(value, cst.Call)
            and calls.keyword(value, "requires_grad") is None
            and not calls.has_star_args(value)
            and self.qualified_name(value.func) in FRESH_TENSOR_FACTORIES
        )
