"""TL313 checkpoint-reentrant."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import under_version_test
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

CHECKPOINT = frozenset({"torch.utils.checkpoint.checkpoint"})
USE_REENTRANT_SINCE = (1, 11)


class CheckpointReentrant(Rule):
    """
    ## What it does
    Reports `torch.utils.checkpoint.checkpoint(...)` without an explicit `use_reentrant`
    argument. A call in a branch of an `if` that tests the torch version
    (`if is_torch_version(">=", "1.11.0"): ... else: ...`) is the fallback for releases
    that have no `use_reentrant`, written on purpose: it is not reported. Nor is any call
    in a project whose declared torch range starts before 1.11, which has no
    `use_reentrant` to pass (on the projects of round 2026-12-07c, maintainers would not
    break their declared floor for it).

    ## Why is this bad?
    The old default, the reentrant implementation, gives the checkpointed layers no
    gradient at all when none of the segment's inputs requires grad (the layer before is
    frozen, or the input is the raw batch): training silently skips them, with only a
    warning. It also does not work with `torch.autograd.grad`, keyword arguments or
    tensors nested in other structures. PyTorch warns when `use_reentrant` is not passed,
    recommends `use_reentrant=False`, and announces that leaving it out will become an
    error.

    ## Example
    ```python
    from torch.utils.checkpoint import checkpoint

    out = checkpoint(self.block, x)
    ```

    ## Use instead
    ```python
    out = checkpoint(self.block, x, use_reentrant=False)
    ```

    ## Fix safety
    Unsafe: the non-reentrant implementation computes gradients in cases where the
    reentrant one silently produced none, and it handles random state and hooks
    differently.

    Opt-in (`extend-select = ["TL313"]`) since round 2026-12-07h: on the projects fetched
    that round it was right 0 of 18 times (strict labels, LABELLING.md), 17 of them in
    vendored segmentation backbones (`with_cp` / `use_checkpoint` off by default, never set
    by the project, most calls already guarded by `x.requires_grad`) of an application that
    pins torch 1.12, where no warning is given; on every unseen label it still matches,
    15 of 34. Where it was right, the project is a library whose users turn checkpointing
    on, on a torch (>= 2.1) that warns: whether the option is ever on is not in the file.

    ## References
    - https://pytorch.org/docs/stable/checkpoint.html
    """

    code = "TL313"
    name = "checkpoint-reentrant"
    default = False
    applies_to_tests = True
    summary = "`checkpoint` without `use_reentrant`: pass `use_reentrant=False`"
    fix_applicability = Applicability.UNSAFE
    requires = ("checkpoint",)
    examples = (
        Invalid(
            """
            from torch.utils.checkpoint import checkpoint
            out = checkpoint(block, x)
            """,
            fixed="""
            from torch.utils.checkpoint import checkpoint
            out = checkpoint(block, x, use_reentrant=False)
            """,
        ),
        Invalid(
            """
            import torch.utils.checkpoint as cp
            def forward(self, *inputs):
                return cp.checkpoint(self.layer, *inputs)
            """,
            fixed="""
            import torch.utils.checkpoint as cp
            def forward(self, *inputs):
                return cp.checkpoint(self.layer, *inputs, use_reentrant=False)
            """,
        ),
        Invalid(
            """
            import torch
            class Net(torch.nn.Module):
                def forward(self, x):
                    for block in self.blocks:
                        x = torch.utils.checkpoint.checkpoint(
                            block,
                            x,
                        )
                    return x
            """,
            fixed="""
            import torch
            class Net(torch.nn.Module):
                def forward(self, x):
                    for block in self.blocks:
                        x = torch.utils.checkpoint.checkpoint(
                            block,
                            x,
                            use_reentrant=False,
                        )
                    return x
            """,
        ),
        Valid(
            """
            from torch.utils.checkpoint import checkpoint
            out = checkpoint(block, x)
            """,
            settings={"target-version": "1.10"},
        ),
        Valid(
            """
            from torch.utils.checkpoint import checkpoint
            out = checkpoint(block, x, use_reentrant=False)
            """
        ),
        Valid(
            """
            from torch.utils.checkpoint import checkpoint
            out = checkpoint(block, x, use_reentrant=True)
            """
        ),
        Valid(
            """
            import torch
            if is_torch_version(">=", "1.11.0"):
                out = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                out = torch.utils.checkpoint.checkpoint(block, x)
            """
        ),
        Valid(
            """
            from torch.utils.checkpoint import checkpoint
            def run(block, x, **kwargs):
                return checkpoint(block, x, **kwargs)
            """
        ),
        Valid(
            """
            from deepspeed import checkpointing
            out = checkpointing.checkpoint(block, x)
            """
        ),
        Valid(
            """
            def checkpoint(fn, *args):
                return fn(*args)
            out = checkpoint(block, x)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in CHECKPOINT:
            return
        if any(arg.star == "**" for arg in node.args):
            return
        if calls.keyword(node, "use_reentrant") is not None:
            return
        if under_version_test(self.context.ancestors, self.context, node):
            return  # the branch for a torch without `use_reentrant`, on purpose
        if not self.context.settings.supports(USE_REENTRANT_SINCE):
            return  # the oldest supported torch has no `use_reentrant`: nothing to pass
        new = calls.add_keyword(node, "use_reentrant", "False")
        fix = self.fix(Applicability.UNSAFE, "Pass `use_reentrant=False`", Replace(node, new))
        self.report(node, fix=fix)
