"""TL402 softmax-before-cross-entropy."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.architecture._common import (
    SOFTMAX,
    Activation,
    activation,
    instance_constructor,
    single_assignment,
)
from torchlint.rules.base import Invalid, Replace, Rule, Valid

# qualified name -> (what the message calls it, whether it takes logits: True for cross-entropy)
LOSS_FUNCTIONS = {
    "torch.nn.functional.cross_entropy": ("cross_entropy", True),
    "torch.nn.functional.nll_loss": ("nll_loss", False),
}
LOSS_MODULES = {
    "torch.nn.CrossEntropyLoss": ("CrossEntropyLoss", True),
    "torch.nn.modules.loss.CrossEntropyLoss": ("CrossEntropyLoss", True),
    "torch.nn.NLLLoss": ("NLLLoss", False),
    "torch.nn.modules.loss.NLLLoss": ("NLLLoss", False),
}


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Reports a softmax output passed to `cross_entropy` / `nn.CrossEntropyLoss` (or to
    `nll_loss` / `nn.NLLLoss`), directly or through one assignment.

    ## Why is this bad?
    `cross_entropy` applies `log_softmax` itself: it expects raw logits. Feeding it
    probabilities applies softmax twice, which squashes the outputs into a narrow range,
    shrinks the gradients and slows or stalls training, without any error. `nll_loss`
    expects log-probabilities (`log_softmax`), not probabilities. (`log_softmax` into
    `nll_loss` is the correct pairing and is never reported.)

    ## Example
    ```python
    import torch.nn.functional as F

    loss = F.cross_entropy(F.softmax(logits, dim=1), target)
    ```

    ## Use instead
    ```python
    import torch.nn.functional as F

    loss = F.cross_entropy(logits, target)
    ```
    Apply `softmax` only where probabilities are needed (metrics, inference).

    ## Fix safety
    Safe when the softmax call is the loss's argument itself: the fix drops it and keeps its
    input. Through an assignment, or into `nll_loss`, there is no fix (the probabilities may
    be used elsewhere; `nll_loss` needs `log_softmax` instead).

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
    - https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html
    """

    code = "TL402"
    name = "softmax-before-cross-entropy"
    applies_to_tests = False
    summary = "`cross_entropy` expects logits, not softmax probabilities"
    fix_applicability = Applicability.SAFE
    requires = ("cross_entropy", "nll_loss", "CrossEntropyLoss", "NLLLoss")
    examples = (
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(F.softmax(logits, dim=1), target)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(logits, target)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
            def step(out, y):
                return criterion(torch.softmax(out, 1), y)
            """,
            fixed="""
            from torch import nn
            criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
            def step(out, y):
                return criterion(out, y)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            class Model(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.criterion = nn.CrossEntropyLoss()
                def training_step(self, x, y):
                    logits = self.net(x)
                    return self.criterion(logits.softmax(dim=-1), y)
            """,
            fixed="""
            import torch.nn as nn
            class Model(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.criterion = nn.CrossEntropyLoss()
                def training_step(self, x, y):
                    logits = self.net(x)
                    return self.criterion(logits, y)
            """,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            def step(logits, y):
                probs = F.softmax(logits, dim=1)
                return F.cross_entropy(probs, y)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.nn.functional import nll_loss, softmax
            loss = nll_loss(softmax(x, dim=1), y)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch.nn as nn
            loss = nn.CrossEntropyLoss()(nn.Softmax(dim=1)(x), y)
            """,
            fixed="""
            import torch.nn as nn
            loss = nn.CrossEntropyLoss()(x, y)
            """,
        ),
        Valid(
            """
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(logits, dim=1), target)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def softmax(x, dim):
                return x
            loss = F.cross_entropy(softmax(logits, 1), target)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(logits, target)
            probs = F.softmax(logits, dim=1)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def step(logits, y):
                probs = F.softmax(logits, dim=1)
                probs = smooth(probs)
                return F.cross_entropy(probs, y)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def loss(*args, **kwargs):
                return F.cross_entropy(*args, **kwargs)
            """
        ),
        Valid(
            """
            from mylib import cross_entropy
            import torch.nn.functional as F
            loss = cross_entropy(F.softmax(x, 1), y)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            class Model(nn.Module):
                def softmax(self, x):
                    return x
                def step(self, x, y):
                    return nn.functional.cross_entropy(self.softmax(x), y)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        arg = calls.argument(node, "input", 0)
        if arg is None or not isinstance(arg.value, (cst.Call, cst.Name)):
            return
        nested = isinstance(arg.value, cst.Call)
        found = self._softmax(arg.value)
        if found is None:
            return
        loss = self._loss(node.func)
        if loss is None:
            return
        name, takes_logits = loss
        if not takes_logits:
            self.report(
                arg.value,
                f"`{name}` expects log-probabilities: use `log_softmax`, not `softmax`",
            )
            return
        fix = None
        if nested and found.input is not None and not found.extra:
            fix = self.fix(
                Applicability.SAFE,
                "Pass the logits: drop the `softmax`",
                Replace(arg.value, found.input),
            )
        message = f"`{name}` expects logits, not softmax probabilities"
        self.report(arg.value, message, fix=fix)

    def _softmax(self, value: cst.BaseExpression) -> Activation | None:
        if isinstance(value, cst.Name):
            assigned = single_assignment(self.context, self.context.scope, value.value)
            if assigned is None or not isinstance(assigned[0], cst.Call):
                return None
            return activation(self.context, assigned[0], SOFTMAX, assigned[1])
        return activation(self.context, value, SOFTMAX)  # type: ignore[arg-type]

    def _loss(self, func: cst.BaseExpression) -> tuple[str, bool] | None:
        if isinstance(func, (cst.Name, cst.Attribute)):
            qualified = self.qualified_name(func)
            if qualified is not None:
                return LOSS_FUNCTIONS.get(qualified)
        return LOSS_MODULES.get(instance_constructor(self.context, func) or "")
