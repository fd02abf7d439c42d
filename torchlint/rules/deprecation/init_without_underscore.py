"""TL606 init-without-underscore."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use

# The deprecated aliases `torch.nn.init` defines with `_make_deprecate(f_)`.
INIT_FUNCTIONS = [
    "uniform",
    "normal",
    "constant",
    "eye",
    "dirac",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "sparse",
]
RENAMED = {f"torch.nn.init.{name}": f"torch.nn.init.{name}_" for name in INIT_FUNCTIONS}
RENAMED["torch.nn.utils.clip_grad_norm"] = "torch.nn.utils.clip_grad_norm_"
RENAMED["torch.nn.utils.clip_grad.clip_grad_norm"] = "torch.nn.utils.clip_grad.clip_grad_norm_"


class InitWithoutUnderscore(DeprecatedNameRule):
    """
    ## What it does
    Reports the deprecated non-underscore aliases of `torch.nn.init` (`xavier_uniform`,
    `kaiming_normal`, `normal`, `constant`, ...) and `torch.nn.utils.clip_grad_norm`:
    in calls, references and imports, through any alias. An entry in a list, tuple, set or
    dict is not reported: projects keep tables of every init function (old names included)
    to switch initialisation off while loading weights, and a reference that is never
    called never warns.

    ## Why is this bad?
    These functions modify the tensor in place; PyTorch names in-place functions with a
    trailing underscore. The old names are deprecated wrappers that warn on every call.

    ## Example
    ```python
    from torch import nn

    nn.init.xavier_uniform(layer.weight)
    nn.utils.clip_grad_norm(model.parameters(), 1.0)
    ```

    ## Use instead
    ```python
    nn.init.xavier_uniform_(layer.weight)
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    ```

    Opt-in (`extend-select = ["TL606"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 2 of 8 sampled reports were worth a
    change, below the 90 % a default rule must reach: six were in one weight-init helper that nothing calls.

    ## Fix safety
    Safe for calls: the old name only warns and calls the underscore version with the same
    arguments. Unsafe where the name is used as a value (a table of init functions): the
    new name is a different function object, which registries and identity checks notice. A name imported with `from torch.nn.init import xavier_uniform` is rewritten
    to the full path where `torch` can be referenced; the import itself is reported but
    left alone.

    ## References
    - https://pytorch.org/docs/stable/nn.init.html
    - https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
    """

    code = "TL606"
    name = "init-without-underscore"
    default = False
    applies_to_tests = True
    summary = "deprecated in-place function name without the trailing underscore"
    fix_applicability = Applicability.SAFE
    names = RENAMED
    examples = (
        Invalid(
            """
            import torch.nn as nn
            nn.init.xavier_uniform(layer.weight, gain=2.0)
            nn.init.constant(layer.bias, 0)
            """,
            fixed="""
            import torch.nn as nn
            nn.init.xavier_uniform_(layer.weight, gain=2.0)
            nn.init.constant_(layer.bias, 0)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch.nn as nn
            def init_weights(m):
                if hasattr(m, "weight"):
                    nn.init.normal(m.weight, std=0.02)
            """,
            fixed="""
            import torch.nn as nn
            def init_weights(m):
                if hasattr(m, "weight"):
                    nn.init.normal_(m.weight, std=0.02)
            """,
        ),
        Invalid(
            """
            import torch
            torch.nn.utils.clip_grad_norm(model.parameters(), max_norm=1.0)
            """,
            fixed="""
            import torch
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            """,
        ),
        Invalid(
            """
            from torch.nn import init
            init.normal(m.weight, 0.0, 0.02)
            """,
            fixed="""
            from torch.nn import init
            init.normal_(m.weight, 0.0, 0.02)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.nn.init import kaiming_normal as kn
            kn(conv.weight, mode="fan_out")
            """,
            fixed="""
            import torch
            torch.nn.init.kaiming_normal_(conv.weight, mode="fan_out")
            """,
            count=2,
        ),
        Valid(
            """
            import torch.nn as nn
            # a table of every init function, old names included, to switch them all off
            TORCH_INIT_FUNCTIONS = {"normal_": nn.init.normal_, "normal": nn.init.normal}
            """
        ),
        Valid(
            """
            import torch.nn as nn
            nn.init.xavier_uniform_(layer.weight)
            gain = nn.init.calculate_gain("relu")
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            """
        ),
        Valid(
            """
            import numpy as np
            import torch
            w = np.random.normal(0, 1) + torch.normal(0.0, 1.0, (3,))
            """
        ),
        Valid(
            """
            def f(init, w):
                init.normal(w)
            """
        ),
        Valid(
            """
            from mylib import init
            init.xavier_uniform(w)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            nn.init.trunc_normal_(w)
            nn.utils.clip_grad_value_(params, 1.0)
            """
        ),
    )

    def message(self, qualified: str) -> str:
        old = qualified.rsplit(".", 1)[-1]
        return f"`{old}` is deprecated: use the in-place `{old}_`"

    def check_use(self, use: Use) -> None:
        if (
            use.call is None
            and use.decorator is None
            and isinstance(self.context.parent, (cst.Element, cst.DictElement))
        ):
            return  # an entry in a table of functions is not a call: nothing warns
        super().check_use(use)

    def fix_use(self, use: Use) -> PendingFix | None:
        target = RENAMED[use.qualified]
        return self.rename_fix(use, target, f"Use `{target.rsplit('.', 1)[-1]}`")
