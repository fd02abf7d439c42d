"""TL315 attention-dropout-ignores-mode."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.training._module_methods import module_method, under_training_check

ATTENTION = frozenset({"torch.nn.functional.scaled_dot_product_attention"})
DROPOUT_INDEX = 4  # (query, key, value, attn_mask, dropout_p, ...)


def _attribute_of_self(expr: cst.BaseExpression) -> bool:
    """``self.p``, ``self.attn_drop.p``, ``self.config.attention_dropout``."""
    while isinstance(expr, cst.Attribute):
        if expr.attr.value == "training":
            return False
        expr = expr.value
    return isinstance(expr, cst.Name) and expr.value == "self"


def _nonzero_number(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Float)):
        try:
            return float(expr.evaluated_value) != 0.0
        except (TypeError, ValueError):
            return False
    return False


def _ungated(expr: cst.BaseExpression) -> bool:
    """A dropout rate that is the same in both modes: a non-zero literal or an attribute of
    ``self``. A plain name, a call or a conditional may already depend on the mode."""
    return _nonzero_number(expr) or _attribute_of_self(expr)


class AttentionDropoutIgnoresMode(Rule):
    """
    ## What it does
    Reports `F.scaled_dot_product_attention(..., dropout_p=...)` inside a method of an
    `nn.Module` subclass when the rate does not depend on the module's mode: a non-zero
    literal or an attribute of `self` (`dropout_p=self.dropout`, `self.attn_drop.p`).

    Not reported: a rate gated on the mode (`dropout_p=self.p if self.training else 0.0`),
    a plain local name or parameter (it may have been gated where it was computed), a call
    under `if self.training:`, functions outside a module class, static and class methods,
    and classes that define their own `train` / `eval`.

    ## Why is this bad?
    Like `F.dropout` (TL308), `scaled_dot_product_attention` does not know the module's
    mode: it applies `dropout_p` on every call. After `model.eval()` the attention weights
    are still dropped at random, so validation scores are noisy and lower than they should
    be, and inference is not reproducible. `nn.MultiheadAttention` and `nn.Dropout` follow
    the mode; the functional form must be told.

    This is a code of its own rather than part of TL308: the argument is a rate, not a
    `training` flag, so the fix rewrites the value instead of adding a keyword.

    ## Example
    ```python
    class Attention(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
    ```

    ## Use instead
    ```python
    class Attention(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0
            )
    ```

    ## Fix safety
    Safe: in training mode nothing changes, and in eval mode dropout is what every reader
    expects to be off (as for TL308).

    Opt-in (`extend-select = ["TL315"]`) since round 2026-12-08a: its first unseen labels
    were 0 of 2 (strict labels, LABELLING.md), both in an inference-only project whose
    dropout rate comes from a config that is 0 in its released checkpoints; whether the
    rate is ever above 0 in training is not in the file.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
    """

    code = "TL315"
    name = "attention-dropout-ignores-mode"
    default = False
    applies_to_tests = False
    summary = (
        "`scaled_dot_product_attention` with a fixed `dropout_p` keeps dropping after "
        "`model.eval()`: gate it on `self.training`"
    )
    fix_applicability = Applicability.SAFE
    requires = ("scaled_dot_product_attention",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Attention(nn.Module):
                def forward(self, q, k, v):
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
            """,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F
            class Attention(nn.Module):
                def forward(self, q, k, v):
                    return F.scaled_dot_product_attention(
                        q, k, v, dropout_p=self.dropout if self.training else 0.0
                    )
            """,
        ),
        Invalid(
            """
            import torch
            from torch.nn.functional import scaled_dot_product_attention as sdpa
            class Block(torch.nn.Module):
                def attend(self, q, k, v, mask):
                    return sdpa(q, k, v, mask, 0.1)
            """,
            fixed="""
            import torch
            from torch.nn.functional import scaled_dot_product_attention as sdpa
            class Block(torch.nn.Module):
                def attend(self, q, k, v, mask):
                    return sdpa(q, k, v, mask, 0.1 if self.training else 0.0)
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class SABlock(nn.Module):
                def forward(self, x):
                    q, k, v = self.qkv(x).chunk(3, dim=-1)
                    x = F.scaled_dot_product_attention(
                        query=q, key=k, value=v, dropout_p=self.attn_drop.p, is_causal=True
                    )
                    return x
            """,
            fixed="""
            import torch.nn as nn
            import torch.nn.functional as F
            class SABlock(nn.Module):
                def forward(self, x):
                    q, k, v = self.qkv(x).chunk(3, dim=-1)
                    x = F.scaled_dot_product_attention(
                        query=q,
                        key=k,
                        value=v,
                        dropout_p=self.attn_drop.p if self.training else 0.0,
                        is_causal=True,
                    )
                    return x
            """,
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Attention(nn.Module):
                def forward(self, q, k, v):
                    return F.scaled_dot_product_attention(
                        q, k, v, dropout_p=self.dropout.p if self.training else 0.0
                    )
            """
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Attention(nn.Module):
                def forward(self, q, k, v):
                    dropout_p = self.p if self.training and self.p > 0 else 0.0
                    out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
                    if self.training:
                        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.p)
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
            """
        ),
        Valid(
            """
            import torch.nn.functional as F
            class AttnProcessor:
                def __call__(self, attn, q, k, v):
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.p)
            def attend(q, k, v, p=0.1):
                return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Attention(nn.Module):
                def forward(self, q, k, v, **kwargs):
                    return F.scaled_dot_product_attention(q, k, v, **kwargs)
                def train(self, mode=True):
                    self.dropout = self.rate if mode else 0.0
                    return super().train(mode)
                def attend(self, q, k, v):
                    return F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            def scaled_dot_product_attention(q, k, v, dropout_p):
                return q
            class Attention(nn.Module):
                def forward(self, q, k, v):
                    return scaled_dot_product_attention(q, k, v, dropout_p=self.p)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in ATTENTION or calls.has_star_args(node):
            return
        arg = calls.argument(node, "dropout_p", DROPOUT_INDEX)
        if arg is None or not _ungated(arg.value):
            return
        ancestors = self.context.ancestors
        if under_training_check(ancestors) or module_method(self.context, ancestors) is None:
            return
        gated = cst.IfExp(
            test=cst.parse_expression("self.training"),
            body=arg.value,
            orelse=cst.Float("0.0"),
        )
        fix = self.fix(
            Applicability.SAFE,
            "Gate the rate: `... if self.training else 0.0`",
            Replace(arg.value, gated),
        )
        self.report(arg, fix=fix)
