"""TL403 sigmoid-before-bce."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.names import Scope
from torchlint.rules.architecture._common import (
    SIGMOID,
    Activation,
    activation,
    instance_constructor,
    single_assignment,
)
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid

BCE_FUNCTION = "torch.nn.functional.binary_cross_entropy"
BCE_MODULES = frozenset({"torch.nn.BCELoss", "torch.nn.modules.loss.BCELoss"})
# modules that also export BCEWithLogitsLoss, so ``<alias>.BCEWithLogitsLoss`` resolves
LOSS_PACKAGES = frozenset({"torch.nn", "torch.nn.modules.loss"})
FUNCTIONAL = "torch.nn.functional"
WITH_LOGITS = "binary_cross_entropy_with_logits"


class SigmoidBeforeBce(Rule):
    """
    ## What it does
    Reports `binary_cross_entropy` / `nn.BCELoss` applied to a `sigmoid` output, directly or
    through a name assigned once (`p = torch.sigmoid(logits)` then
    `F.binary_cross_entropy(p, t)`).

    ## Why is this bad?
    Computing `log(sigmoid(z))` in two steps loses precision: for large `|z|` the sigmoid
    rounds to exactly 0 or 1 and the loss has to clamp the logarithm (to -100), so the
    gradient vanishes for confidently wrong predictions. It also breaks under autocast,
    where `binary_cross_entropy` refuses half precision. `binary_cross_entropy_with_logits`
    fuses both steps with the log-sum-exp trick and is stable everywhere.

    ## Example
    ```python
    import torch
    import torch.nn.functional as F

    loss = F.binary_cross_entropy(torch.sigmoid(z), y, reduction="sum")
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn.functional as F

    loss = F.binary_cross_entropy_with_logits(z, y, reduction="sum")
    ```
    For modules, use `nn.BCEWithLogitsLoss()` on the logits.

    ## Fix safety
    Safe: `binary_cross_entropy_with_logits` takes the same arguments (`weight`,
    `reduction`, ...) and computes the same loss, only more accurately. The fix reuses an
    existing alias of `torch.nn.functional` (or `torch.nn.functional.` when `torch` is
    imported) and offers nothing when neither is available. `nn.BCELoss()(...)` called
    in place becomes `nn.BCEWithLogitsLoss()(...)`; a `BCELoss` instance kept in a variable
    is reported without a fix, because the module itself would have to change. Through an
    assigned name there is no fix either: the probabilities may be used elsewhere.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html
    - https://pytorch.org/docs/stable/amp.html#prefer-binary-cross-entropy-with-logits-over-binary-cross-entropy
    """

    code = "TL403"
    name = "sigmoid-before-bce"
    applies_to_tests = False
    summary = "`binary_cross_entropy` on a `sigmoid` output: use the `_with_logits` version"
    fix_applicability = Applicability.SAFE
    requires = ("binary_cross_entropy", "BCELoss")
    examples = (
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy(torch.sigmoid(z), y, reduction="sum")
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y, reduction="sum")
            """,
        ),
        Invalid(
            """
            import torch
            from torch.nn.functional import binary_cross_entropy
            loss = binary_cross_entropy(z.sigmoid(), y, weight=w)
            """,
            fixed="""
            import torch
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y, weight=w)
            """,
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            loss = nn.BCELoss(reduction="none")(torch.sigmoid(z), y)
            """,
            fixed="""
            import torch.nn as nn
            loss = nn.BCEWithLogitsLoss(reduction="none")(z, y)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.BCELoss()
            loss = criterion(torch.sigmoid(z), y)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.nn.functional import binary_cross_entropy, sigmoid
            loss = binary_cross_entropy(sigmoid(z), y)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch as th
            import torch.nn.functional as nnf
            class Head(th.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.act = th.nn.Sigmoid()
                def loss(self, z, y):
                    return nnf.binary_cross_entropy(self.act(z), y)
            """,
            fixed="""
            import torch as th
            import torch.nn.functional as nnf
            class Head(th.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.act = th.nn.Sigmoid()
                def loss(self, z, y):
                    return nnf.binary_cross_entropy_with_logits(z, y)
            """,
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            def step(logits, t):
                p = torch.sigmoid(logits)
                return F.binary_cross_entropy(p, t)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y)
            """
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            def step(logits, t, calibrate):
                p = torch.sigmoid(logits)
                if calibrate:
                    p = p.clamp(0.01, 0.99)
                return F.binary_cross_entropy(p, t)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def sigmoid(x):
                return x
            loss = F.binary_cross_entropy(sigmoid(z), y)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def loss(**kwargs):
                return F.binary_cross_entropy(**kwargs)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            class Model(nn.Module):
                def sigmoid(self, x):
                    return x
                def step(self, z, y):
                    return nn.functional.binary_cross_entropy(self.sigmoid(z), y)
            """
        ),
        Valid(
            """
            import torch
            from mylib import BCELoss
            loss = BCELoss()(torch.sigmoid(z), y)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        arg = calls.argument(node, "input", 0)
        if arg is None or not isinstance(arg.value, (cst.Call, cst.Name)):
            return
        func = node.func
        qualified = (
            self.qualified_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        )
        functional = qualified == BCE_FUNCTION
        if not functional and (
            qualified is not None or instance_constructor(self.context, func) not in BCE_MODULES
        ):
            return
        found = self._sigmoid(arg.value)
        if found is None:
            return
        fix = None
        if isinstance(arg.value, cst.Call) and found.input is not None and not found.extra:
            fix = self._fix(node, arg.value, found.input, functional)
        self.report(arg.value, fix=fix)

    def _sigmoid(self, value: cst.BaseExpression) -> Activation | None:
        if isinstance(value, cst.Name):
            assigned = single_assignment(self.context, self.context.scope, value.value)
            if assigned is None or not isinstance(assigned[0], cst.Call):
                return None
            return activation(self.context, assigned[0], SIGMOID, assigned[1])
        return activation(self.context, value, SIGMOID)  # type: ignore[arg-type]

    def _fix(
        self,
        node: cst.Call,
        sigmoid: cst.Call,
        logits: cst.BaseExpression,
        functional: bool,
    ) -> PendingFix | None:
        func = node.func
        scope = self.context.scope
        new_func: cst.CSTNode | str
        if functional:
            if isinstance(func, cst.Attribute) and scope.qualified_name(func.value) == FUNCTIONAL:
                new_func = func.with_changes(attr=cst.Name(WITH_LOGITS))
            elif (alias := _alias(scope, FUNCTIONAL)) is not None:
                new_func = f"{alias}.{WITH_LOGITS}"
            elif scope.resolve("torch") == "torch":
                new_func = f"{FUNCTIONAL}.{WITH_LOGITS}"
            else:
                return None
            message = f"Use `{WITH_LOGITS}` on the logits"
            edit = Replace(func, new_func)
        else:
            # only ``nn.BCELoss(...)(...)`` called in place: a kept instance is used elsewhere
            if not isinstance(func, cst.Call) or not isinstance(func.func, cst.Attribute):
                return None
            if scope.qualified_name(func.func.value) not in LOSS_PACKAGES:
                return None
            message = "Use `BCEWithLogitsLoss` on the logits"
            edit = Replace(func.func, func.func.with_changes(attr=cst.Name("BCEWithLogitsLoss")))
        return self.fix(Applicability.SAFE, message, edit, Replace(sigmoid, logits))


def _alias(scope: Scope, qualified: str) -> str | None:
    """A name visible in ``scope`` bound to the module ``qualified`` (first in source order)."""
    current: Scope | None = scope
    first = True
    while current is not None:
        if not (current.is_class and not first):
            for name in current.bindings:
                if scope.resolve(name) == qualified:
                    return name
        first = False
        current = current.parent
    return None
