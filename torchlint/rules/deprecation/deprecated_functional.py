"""TL605 deprecated-functional."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use

INTERPOLATE = "torch.nn.functional.interpolate"
# qualified name -> (replacement, keywords the old function implied)
FUNCTIONAL = {
    "torch.nn.functional.upsample": (INTERPOLATE, ()),
    "torch.nn.functional.upsample_nearest": (INTERPOLATE, (("mode", '"nearest"'),)),
    "torch.nn.functional.upsample_bilinear": (
        INTERPOLATE,
        (("mode", '"bilinear"'), ("align_corners", "True")),
    ),
}


class DeprecatedFunctional(DeprecatedNameRule):
    """
    ## What it does
    Reports the deprecated functionals `F.upsample`, `F.upsample_nearest` and
    `F.upsample_bilinear` of `torch.nn.functional`: in calls, references and imports,
    through any alias.

    `F.sigmoid` and `F.tanh` are not reported: torch 1.x warned on them, torch 2.x does not
    (they are documented aliases of `torch.sigmoid` / `torch.tanh` again), so a change
    would buy nothing.

    ## Why is this bad?
    The `upsample*` functions warn on every call and forward to `F.interpolate`, where the
    interpolation mode is explicit.

    ## Example
    ```python
    import torch.nn.functional as F

    y = F.upsample(x, scale_factor=2)
    z = F.upsample_bilinear(x, scale_factor=2)
    ```

    ## Use instead
    ```python
    import torch.nn.functional as F

    y = F.interpolate(x, scale_factor=2)
    z = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    ```

    ## Fix safety
    Safe for calls: each old function calls `F.interpolate` with exactly these arguments
    (`upsample_nearest` implies `mode="nearest"`, `upsample_bilinear` implies
    `mode="bilinear", align_corners=True`). `F.upsample` used as a value (`{"up":
    F.upsample}`) becomes `F.interpolate` as an unsafe fix: a different function object,
    which registries and identity checks notice. References to `upsample_nearest` /
    `upsample_bilinear` that are not calls, and calls of them with `*args` / `**kwargs`,
    are reported without a fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html
    - https://pytorch.org/docs/stable/nn.functional.html
    """

    code = "TL605"
    name = "deprecated-functional"
    applies_to_tests = True
    summary = "deprecated `torch.nn.functional` function"
    fix_applicability = Applicability.SAFE
    names = FUNCTIONAL
    examples = (
        Invalid(
            """
            import torch.nn.functional as F
            a = F.upsample(x, scale_factor=2, mode="bilinear")
            b = F.upsample_bilinear(x, size=(8, 8))
            c = F.upsample_nearest(x, None, 2)
            """,
            fixed="""
            import torch.nn.functional as F
            a = F.interpolate(x, scale_factor=2, mode="bilinear")
            b = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=True)
            c = F.interpolate(x, None, 2, mode="nearest")
            """,
            count=3,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            UPSAMPLERS = {"up": F.upsample}
            """,
            fixed="""
            import torch.nn.functional as F
            UPSAMPLERS = {"up": F.interpolate}
            """,
        ),
        Invalid(
            """
            import torch.nn.functional as F
            y = F.upsample_nearest(x, **options)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.nn.functional import relu, upsample
            def up(x):
                return upsample(relu(x), scale_factor=2)
            """,
            fixed="""
            import torch
            from torch.nn.functional import relu
            def up(x):
                return torch.nn.functional.interpolate(relu(x), scale_factor=2)
            """,
            count=2,
        ),
        Valid(
            """
            import torch.nn.functional as F
            from torch.nn.functional import sigmoid as sig, tanh
            y = F.sigmoid(x) + F.tanh(x) + tanh(sig(x))
            ACTIVATIONS = {"sigmoid": F.sigmoid, "tanh": tanh}
            """
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            y = torch.sigmoid(x) + F.hardtanh(x) + F.logsigmoid(x)
            z = F.interpolate(x, scale_factor=2)
            p = F.log_softmax(x, dim=-1)
            """
        ),
        Valid(
            """
            def f(F, x):
                return F.upsample(x)
            """
        ),
        Valid(
            """
            import numpy as np
            y = np.tanh(x) + x.sigmoid()
            """
        ),
        Valid(
            """
            from mylib import functional as F
            y = F.upsample(x)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            act = nn.Sigmoid()
            up = nn.Upsample(scale_factor=2)
            """
        ),
    )

    def message(self, qualified: str) -> str:
        _, implied = FUNCTIONAL[qualified]
        short = qualified.replace("torch.nn.functional.", "F.")
        extra = "".join(f", {key}={value}" for key, value in implied)
        return f"`{short}` is deprecated: use `F.interpolate(...{extra})`"

    def fix_use(self, use: Use) -> PendingFix | None:
        target, implied = FUNCTIONAL[use.qualified]
        if not implied:
            return self.rename_fix(use, target, "Use `F.interpolate`")
        spelled = self.spell(use.node, target)
        if spelled is None:
            return None
        text, preamble = spelled
        call = use.call
        if call is None or calls.has_star_args(call):
            return None
        if any(calls.keyword(call, key) is not None for key, _ in implied):
            return None
        if len(calls.positional(call)) > 3:
            return None
        new = call.with_changes(func=cst.parse_expression(text))
        for key, value in implied:
            new = calls.add_keyword(new, key, value)
        extra = ", ".join(f"{key}={value}" for key, value in implied)
        return self.fix(
            Applicability.SAFE,
            f"Use `F.interpolate(..., {extra})`",
            Replace(call, new),
            preamble=preamble,
        )
