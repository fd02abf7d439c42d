"""TL602 variable-api."""

from __future__ import annotations

from torchlint.rules.base import Invalid, Valid
from torchlint.rules.deprecation import VARIABLE, DeprecatedNameRule, Use, ignored_volatile

VOLATILE = "`volatile=` was removed and has no effect: use `with torch.no_grad():`"


class VariableApi(DeprecatedNameRule):
    """
    ## What it does
    Reports `torch.autograd.Variable(..., volatile=...)` (through any alias): the
    `volatile` flag that torch has ignored since 0.4.

    Not reported any more: `Variable(t)` and `Variable(t, requires_grad=...)` without
    `volatile`, and `volatile=False`. They do what they always did (`t.detach()`, with
    `requires_grad` set) and warn about nothing, so rewriting them is a modernisation that
    changes nothing for anyone: on projects no rule was tuned on, none of the 17 labelled
    reports of the earlier TL602 was worth a change (strict labels). That rewrite, with its
    safe fix, is the opt-in TL613 `variable-wrapper`.

    ## Why is this bad?
    `volatile=True` used to turn autograd off for everything computed from the variable.
    Torch now ignores it (with a `UserWarning`), so code that relies on it silently builds
    graphs: evaluation keeps every activation alive, uses more memory and runs slower. The
    replacement is `torch.no_grad()` around the computation.

    Opt-in (`extend-select = ["TL602"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 3 of 5 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were code
    nothing calls.

    ## Example
    ```python
    from torch.autograd import Variable

    x = Variable(batch, volatile=True)
    out = model(x)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        out = model(batch)
    ```

    ## Fix safety
    No fix: where `torch.no_grad()` must go depends on the code that uses the variable.

    ## References
    - https://pytorch.org/blog/pytorch-0_4_0-migration-guide/
    - https://pytorch.org/docs/stable/autograd.html#variable-deprecated
    """

    code = "TL602"
    default = False
    name = "variable-api"
    applies_to_tests = True
    summary = VOLATILE
    names = VARIABLE
    report_imports = False
    requires = ("volatile",)
    examples = (
        Invalid(
            """
            from torch.autograd import Variable as V
            x = V(batch, volatile=True)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            def batchify(data, evaluation):
                return torch.autograd.Variable(data, volatile=evaluation)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch.autograd
            batches = [torch.autograd.Variable(b.cuda(), volatile=not train) for b in data]
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            from torch.autograd import Variable
            noise = Variable(torch.randn(4, 8))
            w = Variable(init, requires_grad=True)
            x = Variable(batch, volatile=False)
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
            class Variable:
                def __init__(self, value, volatile=False):
                    self.value = value
            v = Variable(1, volatile=True)
            """
        ),
        Valid(
            """
            import torch
            from torch.autograd import Variable
            if torch.__version__ < "0.4":
                x = Variable(batch, volatile=True)
            """
        ),
    )

    def check_use(self, use: Use) -> None:
        if use.call is not None and ignored_volatile(use.call) is not None:
            self.report(use.node, VOLATILE)
