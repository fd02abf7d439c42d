"""TL203 create-then-move."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.devices import is_device_like
from torchlint.diagnostics import Applicability
from torchlint.rules import calls
from torchlint.rules.base import Invalid, Replace, Rule, Valid

FACTORIES = frozenset(
    f"torch.{name}"
    for name in (
        "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange",
        "linspace", "logspace", "eye", "tensor", "as_tensor", "zeros_like", "ones_like",
        "empty_like", "full_like", "rand_like", "randn_like", "randint_like", "empty_strided",
    )
)  # fmt: skip
# Keywords of `.to` that the factory cannot take over (or that change what `.to` does).
_MOVE_KEYWORDS = frozenset({"device", "non_blocking"})


class CreateThenMove(Rule):
    """
    ## What it does
    Reports `.to(device)` or `.cuda()` called directly on a tensor factory
    (`torch.zeros`, `ones`, `empty`, `full`, `rand`, `randn`, `randint`, `arange`,
    `linspace`, `eye`, `tensor`, the `*_like` variants...) that has no `device=`.

    ## Why is this bad?
    The tensor is first allocated and filled on the CPU, then copied to the device: two
    allocations, a host-to-device copy and a synchronisation, where `device=` creates it in
    place. In a training step this is pure overhead.

    Only `.to` calls whose argument is surely a device are reported: a string, a
    `torch.device(...)`, `best_device()`, or a name such as `device`, `dev`, `x.device`.
    `.to(dtype)`, `.to(other_tensor)`, `.to(..., copy=True)`, factories with `out=`,
    `generator=`, `pin_memory=True` or `**kwargs` are left alone.

    ## Example
    ```python
    mask = torch.ones(n, n).to(device)
    ids = torch.arange(n).cuda()
    ```

    ## Use instead
    ```python
    mask = torch.ones(n, n, device=device)
    ids = torch.arange(n, device="cuda")
    ```

    ## Fix safety
    Safe for deterministic factories: the tensor has the same values, dtype and device. `non_blocking=` of `.to` is
    dropped (there is no copy left). Unsafe for random factories (`rand`, `randn`,
    `randint`, `randperm`, ...): they then draw from the device's generator instead of the
    CPU's, so seeded runs give other (equally distributed) numbers. When the factory has
    `requires_grad=`, the fix is unsafe too: the result becomes a leaf tensor whose
    `.grad` is populated, which the moved copy never was. `.cuda(i)` is reported without a
    fix.

    ## References
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#create-tensors-directly-on-the-target-device
    - https://pytorch.org/docs/stable/notes/cuda.html#best-practices
    """

    code = "TL203"
    name = "create-then-move"
    applies_to_tests = False
    summary = "Tensor created on the CPU and then moved; create it on the device with `device=`"
    fix_applicability = Applicability.SAFE
    requires = ("torch",)
    examples = (
        Invalid(
            """
            import torch
            mask = torch.ones(n, n).to(device)
            """,
            fixed="""
            import torch
            mask = torch.ones(n, n, device=device)
            """,
        ),
        Invalid(
            """
            import torch as th
            ids = th.arange(10, dtype=th.long).to(device=args.device, non_blocking=True)
            """,
            fixed="""
            import torch as th
            ids = th.arange(10, dtype=th.long, device=args.device)
            """,
        ),
        Invalid(
            """
            from torch import zeros
            z = zeros(3).cuda()
            """,
            fixed="""
            from torch import zeros
            z = zeros(3, device="cuda")
            """,
        ),
        Invalid(
            """
            import torch
            from torchlint.runtime import best_device
            noise = torch.randn(*shape).to(best_device())
            table = torch.tensor([1, 2, 3]).to("cpu")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            noise = torch.randn(*shape, device=best_device())
            table = torch.tensor([1, 2, 3], device="cpu")
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            w = torch.zeros(3, requires_grad=True).to(dev)
            """,
            fixed="""
            import torch
            w = torch.zeros(3, requires_grad=True, device=dev)
            """,
        ),
        Invalid(
            """
            import torch
            x = torch.zeros(3).cuda(1)
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            x = torch.zeros(3).to(torch.float16)
            y = torch.zeros(3).to(other)
            z = torch.zeros(3).to(device, torch.float16)
            """
        ),
        Valid(
            """
            import torch
            x = torch.zeros(3, device=device).to(device)
            y = torch.zeros(3).to(device, copy=True)
            p = torch.empty(3, pin_memory=True).to(device, non_blocking=True)
            r = torch.randn(3, generator=cpu_generator).to(device)
            """
        ),
        Valid(
            """
            import torch
            def make(**options):
                return torch.zeros(3, **options).to(device)
            """
        ),
        Valid(
            """
            import numpy as np
            x = np.zeros(3).to(device)
            """
        ),
        Valid(
            """
            import torch
            def f(torch):
                return torch.zeros(3).to(device)
            """
        ),
        Valid(
            """
            import torch
            x = torch.zeros(3).to(*where)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        factory = func.value
        if not isinstance(factory, cst.Call) or calls.has_star_args(node):
            return
        if func.attr.value == "to":
            device = self._to_device(node)
            if device is None:
                return
        else:
            if _other_keywords(node):
                return  # memory_format=
            explicit = calls.positional(node) or calls.keyword(node, "device") is not None
            device = None if explicit else cst.SimpleString('"cuda"')  # `.cuda(i)`: no fix
        if self.qualified_name(factory.func) not in FACTORIES:
            return
        if any(arg.star == "**" for arg in factory.args):
            return
        for name in ("device", "out", "generator"):  # a CPU generator cannot fill a CUDA tensor
            if calls.keyword(factory, name) is not None:
                return
        pin = calls.keyword(factory, "pin_memory")
        if pin is not None and not calls.is_false(pin.value):
            return
        self.report(node, fix=self._fix(node, factory, device))

    def _to_device(self, node: cst.Call) -> cst.BaseExpression | None:
        """The device of a `.to(device)` call that only moves, else None."""
        if _other_keywords(node):
            return None  # dtype=, copy=, memory_format=
        positional = calls.positional(node)
        keyword = calls.keyword(node, "device")
        if keyword is not None:
            return None if positional else keyword.value
        if len(positional) != 1 or not is_device_like(self.context.scope, positional[0].value):
            return None
        return positional[0].value

    def _fix(self, node: cst.Call, factory: cst.Call, device: cst.BaseExpression | None):
        if device is None:
            return None
        grad = calls.keyword(factory, "requires_grad")
        random = (self.qualified_name(factory.func) or "").rsplit(".", 1)[-1].startswith("rand")
        unsafe = random or (grad is not None and not calls.is_false(grad.value))
        new = calls.add_keyword(factory, "device", device)
        return self.fix(
            Applicability.UNSAFE if unsafe else Applicability.SAFE,
            "Create the tensor on the device with `device=`",
            Replace(node, new),
        )


def _other_keywords(call: cst.Call) -> bool:
    """Keywords besides ``device=`` / ``non_blocking=``: the call does more than move."""
    return any(a.keyword is not None and a.keyword.value not in _MOVE_KEYWORDS for a in call.args)
