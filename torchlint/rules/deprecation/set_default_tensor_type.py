"""TL609 set-default-tensor-type."""

from __future__ import annotations

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Replace, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use

SET_DEFAULT = {"torch.set_default_tensor_type": None}
# CPU tensor types with the dtype `torch.set_default_dtype` takes instead.
CPU_TYPES = {"torch.FloatTensor": "float32", "torch.DoubleTensor": "float64"}


class SetDefaultTensorType(DeprecatedNameRule):
    """
    ## What it does
    Reports `torch.set_default_tensor_type(...)`, in calls, references and imports.

    ## Why is this bad?
    It is deprecated since torch 2.1: it mixes two settings, the default floating dtype
    and the default device, and the CUDA variant (`torch.cuda.FloatTensor`) hard-codes the
    device. `torch.set_default_dtype` and `torch.set_default_device` set each one
    explicitly.

    ## Example
    ```python
    torch.set_default_tensor_type(torch.DoubleTensor)
    ```

    ## Use instead
    ```python
    torch.set_default_dtype(torch.float64)
    ```

    ## Fix safety
    Safe for the CPU types `torch.FloatTensor` / `torch.DoubleTensor` (also spelled as
    strings): the default dtype is what they set. CUDA types and other arguments are
    reported without a fix: use `torch.set_default_dtype(...)` together with
    `torch.set_default_device("cuda")` (torch >= 2.0) or explicit `device=` arguments.

    Opt-in (`extend-select = ["TL609"]`): in round 2026-12-07e (16 projects no rule was tuned
    on) it was right 0 of 9 times (strict labels, LABELLING.md), all in one project written
    for torch 0.4 (`loss.data[0]`, legacy autograd functions) that cannot run on a torch where
    the call warns, and several of them set the CPU float type, which is the default anyway.
    It had no labels before; a default rule must be right 90 % of the time.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.set_default_tensor_type.html
    - https://pytorch.org/docs/stable/generated/torch.set_default_dtype.html
    """

    code = "TL609"
    name = "set-default-tensor-type"
    default = False
    applies_to_tests = True
    summary = (
        "`torch.set_default_tensor_type` is deprecated: "
        "use `torch.set_default_dtype` / `torch.set_default_device`"
    )
    fix_applicability = Applicability.SAFE
    names = SET_DEFAULT
    examples = (
        Invalid(
            """
            import torch
            torch.set_default_tensor_type(torch.FloatTensor)
            """,
            fixed="""
            import torch
            torch.set_default_dtype(torch.float32)
            """,
        ),
        Invalid(
            """
            import torch as th
            th.set_default_tensor_type("torch.DoubleTensor")
            """,
            fixed="""
            import torch as th
            th.set_default_dtype(th.float64)
            """,
        ),
        Invalid(
            """
            import torch
            torch.set_default_tensor_type(torch.cuda.FloatTensor)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            from torch import set_default_tensor_type as sdt
            sdt(torch.DoubleTensor)
            """,
            fixed="""
            import torch
            torch.set_default_dtype(torch.float64)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            torch.set_default_tensor_type(tensor_type)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            torch.set_default_dtype(torch.float32)
            torch.set_default_device("cuda")
            """
        ),
        Valid(
            """
            def set_default_tensor_type(t):
                pass
            set_default_tensor_type(None)
            """
        ),
        Valid(
            """
            import mylib
            mylib.set_default_tensor_type("torch.FloatTensor")
            """
        ),
        Valid(
            """
            import torch
            def f(torch):
                torch.set_default_tensor_type(torch.FloatTensor)
            """
        ),
    )

    def fix_use(self, use: Use) -> PendingFix | None:
        call = use.call
        if call is None or len(call.args) != 1:
            return None
        arg = call.args[0]
        if arg.keyword is not None or arg.star:
            return None
        name = calls.string_literal(arg.value) or self.qualified_name(arg.value)
        dtype = CPU_TYPES.get(name or "")
        spelled = self.spell(use.node, "torch.set_default_dtype")
        if dtype is None or spelled is None:
            return None
        func, preamble = spelled
        torch = func.rsplit(".", 1)[0]  # how `torch` itself is spelled here
        return self.fix(
            Applicability.SAFE,
            f"Use `torch.set_default_dtype(torch.{dtype})`",
            Replace(call, f"{func}({torch}.{dtype})"),
            preamble=preamble,
        )
