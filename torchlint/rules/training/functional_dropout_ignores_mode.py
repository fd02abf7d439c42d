"""TL308 functional-dropout-ignores-mode."""

from __future__ import annotations

import itertools

import libcst as cst

from torchlint import calls
from torchlint.analysis.flow import flow_of
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

DROPOUTS = frozenset(
    {
        "torch.nn.functional.dropout",
        "torch.nn.functional.dropout1d",
        "torch.nn.functional.dropout2d",
        "torch.nn.functional.dropout3d",
        "torch.nn.functional.alpha_dropout",
        "torch.nn.functional.feature_alpha_dropout",
    }
)
TRAINING_INDEX = 2
_NOT_METHODS = frozenset({"staticmethod", "classmethod"})


def _reads_training(test: cst.BaseExpression) -> bool:
    """``self.training`` appears in the test, not negated (``if self.training and p > 0``)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _reads_training(test.left) or _reads_training(test.right)
    return (
        isinstance(test, cst.Attribute)
        and test.attr.value == "training"
        and isinstance(test.value, cst.Name)
        and test.value.value == "self"
    )


class FunctionalDropoutIgnoresMode(Rule):
    """
    ## What it does
    Reports `F.dropout(...)` (and `dropout1d/2d/3d`, `alpha_dropout`,
    `feature_alpha_dropout`) inside a method of an `nn.Module` subclass without a `training`
    argument. A call that runs only in training mode (under `if self.training:`) already
    follows the mode: it is not reported.

    ## Why is this bad?
    The functional form does not know about the module's mode. `F.dropout` defaults to
    `training=True`, so it keeps dropping activations after `model.eval()`: evaluation is
    noisy and predictions are not reproducible. (`alpha_dropout` defaults to `False` and so
    never drops at all.) `nn.Dropout`, or passing `training=self.training`, follows the mode.

    ## Example
    ```python
    class Net(nn.Module):
        def forward(self, x):
            return self.fc(F.dropout(x, p=0.5))
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def forward(self, x):
            return self.fc(F.dropout(x, p=0.5, training=self.training))
    ```

    ## Fix safety
    Safe for `dropout*`: in training mode nothing changes, and in eval mode dropout is what
    every reader expects to be off. For `alpha_dropout` / `feature_alpha_dropout` the fix is
    unsafe: they currently never drop, and will start dropping in training mode.

    Opt-in (`extend-select = ["TL308"]`) since round 2026-12-08d: on every unseen label it
    matches it was right 2 of 4 times (strict labels, LABELLING.md). Both false reports were
    the same family in two projects that vendor one diffusion codebase: `noise_dropout`
    applied to the sampling noise, an option the user turns on at sampling time, in eval
    mode, which `training=self.training` would switch off.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html
    """

    code = "TL308"
    name = "functional-dropout-ignores-mode"
    applies_to_tests = False
    default = False
    summary = "`F.dropout` without `training=self.training` ignores `model.eval()`"
    fix_applicability = Applicability.SAFE
    requires = ("dropout",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, p=0.5)
            """,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, p=0.5, training=self.training)
            """,
        ),
        Invalid(
            """
            from torch import nn
            from torch.nn.functional import dropout2d
            class Block(nn.Sequential):
                def forward(self, x):
                    x = dropout2d(
                        x,
                        0.1,
                    )
                    return x
            """,
            fixed="""
            from torch import nn
            from torch.nn.functional import dropout2d
            class Block(nn.Sequential):
                def forward(self, x):
                    x = dropout2d(
                        x,
                        0.1,
                        training=self.training,
                    )
                    return x
            """,
        ),
        Invalid(
            """
            import torch
            class Base(torch.nn.Module):
                pass
            class Head(Base):
                def forward(self, x):
                    return torch.nn.functional.alpha_dropout(x, 0.2)
            """,
            fixed="""
            import torch
            class Base(torch.nn.Module):
                pass
            class Head(Base):
                def forward(self, x):
                    return torch.nn.functional.alpha_dropout(x, 0.2, training=self.training)
            """,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            import pytorch_lightning as pl
            class Lit(pl.LightningModule):
                def forward(self, x):
                    return F.dropout(x)
            """,
            fixed="""
            import torch.nn.functional as F
            import pytorch_lightning as pl
            class Lit(pl.LightningModule):
                def forward(self, x):
                    return F.dropout(x, training=self.training)
            """,
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    return F.dropout(x, 0.5, self.training)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x):
                    if self.training and self.dropout_rate > 0:
                        x = F.dropout(x, p=self.dropout_rate)
                    return self.linear(x)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            def augment(x):
                return F.dropout(x, p=0.1)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def forward(self, x, **kwargs):
                    return F.dropout(x, **kwargs)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                @staticmethod
                def noise(x):
                    return F.dropout(x, p=0.1)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            def dropout(x, p):
                return x
            class Net(nn.Module):
                def forward(self, x):
                    return dropout(x, 0.5)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.qualified_name(node.func)
        if qualified not in DROPOUTS or any(arg.star == "**" for arg in node.args):
            return
        if calls.argument(node, "training", TRAINING_INDEX) is not None:
            return
        if any(arg.star == "*" for arg in node.args):
            return
        if self._under_training_check() or not self._in_module_method():
            return
        new = calls.add_keyword(node, "training", "self.training")
        applicability = Applicability.UNSAFE if "alpha" in qualified else Applicability.SAFE
        fix = self.fix(applicability, "Add `training=self.training`", Replace(node, new))
        self.report(node, fix=fix)

    def _under_training_check(self) -> bool:
        """Inside ``if self.training:`` (or ``x if self.training else y``): the call only
        runs in training mode, where dropping is right."""
        ancestors = self.context.ancestors
        for parent, child in itertools.pairwise(ancestors):
            if isinstance(parent, cst.FunctionDef):
                continue
            if (
                isinstance(parent, (cst.If, cst.IfExp))
                and child is parent.body
                and _reads_training(parent.test)
            ):
                return True
        return False

    def _in_module_method(self) -> bool:
        """Directly in a method (first parameter ``self``) of an nn.Module subclass."""
        ancestors = self.context.ancestors
        method = next((a for a in reversed(ancestors) if isinstance(a, cst.FunctionDef)), None)
        if method is None:
            return False
        index = next(i for i, a in enumerate(ancestors) if a is method)
        if index < 2 or not isinstance(ancestors[index - 2], cst.ClassDef):
            return False
        for decorator in method.decorators:
            if (
                isinstance(decorator.decorator, cst.Name)
                and decorator.decorator.value in _NOT_METHODS
            ):
                return False
        params = [*method.params.posonly_params, *method.params.params]
        if not params or params[0].name.value != "self":
            return False
        classdef = ancestors[index - 2]
        flow = flow_of(self.context)
        return any(
            info.node is classdef and info.is_module
            for info in flow.classes.get(classdef.name.value, [])  # type: ignore[attr-defined]
        )
