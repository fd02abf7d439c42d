"""TL607 legacy-reduction-args."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import in_compat_branch
from torchlint.analysis.losses import LEGACY_REDUCTION_LOSSES
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid

LOSS_CLASSES = [
    "L1Loss",
    "NLLLoss",
    "NLLLoss2d",
    "PoissonNLLLoss",
    "KLDivLoss",
    "MSELoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "HingeEmbeddingLoss",
    "MultiLabelMarginLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "CrossEntropyLoss",
    "MultiLabelSoftMarginLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
    "MultiMarginLoss",
    "TripletMarginLoss",
]
LOSSES = frozenset(
    [
        *(
            f"{module}.{name}"
            for module in ("torch.nn", "torch.nn.modules", "torch.nn.modules.loss")
            for name in LOSS_CLASSES
        ),
        *(f"torch.nn.functional.{name}" for name in LEGACY_REDUCTION_LOSSES),
    ]
)
LEGACY = ("size_average", "reduce")


def legacy_get_string(size_average: bool | None, reduce: bool | None) -> str:
    """torch.nn._reduction.legacy_get_string, without the warning."""
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        return "mean"
    if reduce:
        return "sum"
    return "none"


def _literal(expr: cst.BaseExpression) -> tuple[bool, bool | None]:
    """(is a True/False/None literal, its value)."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return True, {"True": True, "False": False, "None": None}[expr.value]
    return False, None


class LegacyReductionArgs(Rule):
    """
    ## What it does
    Reports `size_average=` and `reduce=` passed to a loss class of `torch.nn` or a loss
    function of `torch.nn.functional`.

    ## Why is this bad?
    Both arguments are deprecated (a warning on every call) in favour of `reduction=`.
    Worse, when either is given, torch ignores `reduction=` altogether, so a call that
    passes both does something other than it says.

    ## Example
    ```python
    criterion = nn.CrossEntropyLoss(size_average=False)
    loss = F.mse_loss(pred, target, reduce=False)
    ```

    ## Use instead
    ```python
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss = F.mse_loss(pred, target, reduction="none")
    ```

    ## Fix safety
    Safe: the arguments are mapped exactly as `torch.nn._reduction.legacy_get_string` does
    (`None` counts as `True`; both true: `"mean"`; only `reduce`: `"sum"`; else `"none"`).
    Offered only when the values are the literals `True` / `False` / `None` and the call
    does not also pass `reduction=` (which torch would ignore: check what was meant).

    ## References
    - https://pytorch.org/docs/stable/nn.html#loss-functions
    - https://github.com/pytorch/pytorch/blob/main/torch/nn/_reduction.py
    """

    code = "TL607"
    name = "legacy-reduction-args"
    applies_to_tests = True
    summary = "`size_average` / `reduce` are deprecated: use `reduction=`"
    fix_applicability = Applicability.SAFE
    requires = LEGACY
    examples = (
        Invalid(
            """
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss(weight=w, size_average=False, ignore_index=-1)
            """,
            fixed="""
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss(weight=w, reduction="sum", ignore_index=-1)
            """,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.mse_loss(pred, target, reduce=False)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.mse_loss(pred, target, reduction="none")
            """,
        ),
        Invalid(
            """
            from torch.nn import NLLLoss
            a = NLLLoss(size_average=True, reduce=True)
            b = NLLLoss(size_average=None, reduce=False)
            """,
            fixed="""
            from torch.nn import NLLLoss
            a = NLLLoss(reduction="mean")
            b = NLLLoss(reduction="none")
            """,
            count=2,
        ),
        Invalid(
            """
            import torch.nn as nn
            criterion = nn.BCELoss(size_average=average)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.l1_loss(x, y, size_average=False, reduction="mean")
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss(reduction="sum")
            huber = nn.HuberLoss(reduction="none")
            """
        ),
        Valid(
            """
            import torch.nn as nn
            criterion = nn.MSELoss(size_average=None, reduce=None)
            """
        ),
        Valid(
            """
            from mylib import MSELoss
            criterion = MSELoss(size_average=False)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def loss(x, y, **kwargs):
                return F.mse_loss(x, y, **kwargs)
            """
        ),
        Valid(
            """
            import numpy as np
            m = np.add.reduce(x)
            def f(nn):
                return nn.MSELoss(size_average=False)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        legacy = [
            arg for arg in node.args if arg.keyword is not None and arg.keyword.value in LEGACY
        ]
        if not legacy or self.qualified_name(node.func) not in LOSSES:
            return
        values = {arg.keyword.value: _literal(arg.value) for arg in legacy}  # type: ignore[union-attr]
        if all(known and value is None for known, value in values.values()):
            return  # explicit `None`s: torch takes `reduction=` as it is
        if in_compat_branch(self.context.ancestors, self.context, node):
            return  # written for another torch, on purpose
        self.report(legacy[0], fix=self._fix(node, legacy, values))

    def _fix(
        self,
        node: cst.Call,
        legacy: list[cst.Arg],
        values: dict[str, tuple[bool, bool | None]],
    ) -> PendingFix | None:
        if not all(known for known, _ in values.values()):
            return None
        if calls.keyword(node, "reduction") is not None or calls.has_star_args(node):
            return None
        reduction = legacy_get_string(
            values.get("size_average", (True, None))[1], values.get("reduce", (True, None))[1]
        )
        first, *rest = legacy  # `rest` (at most one) comes after `first`
        index = list(node.args).index(first)
        new = node
        for arg in rest:
            new = calls.remove_arg(new, arg)
        args = list(new.args)
        args[index] = args[index].with_changes(
            keyword=cst.Name("reduction"), value=cst.SimpleString(f'"{reduction}"')
        )
        new = new.with_changes(args=args)
        return self.fix(Applicability.SAFE, f'Use `reduction="{reduction}"`', Replace(node, new))
