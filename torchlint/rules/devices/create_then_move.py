"""TL203 create-then-move."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.device_names import holds_device
from torchlint.analysis.devices import is_device_like
from torchlint.analysis.setup_code import runs_once
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

if TYPE_CHECKING:
    from torchlint.context import FileContext

# Factories that allocate and fill a new tensor on the CPU when given no `device=`.
FACTORIES = frozenset(
    f"torch.{name}"
    for name in (
        "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "arange",
        "linspace", "logspace", "eye", "empty_strided",
    )
)  # fmt: skip
# Keywords of `.to` that the factory cannot take over (or that change what `.to` does).
_MOVE_KEYWORDS = frozenset({"device", "non_blocking"})


class CreateThenMove(Rule):
    """
    ## What it does
    Reports `.to(device)` or `.cuda()` called directly on a tensor factory
    (`torch.zeros`, `ones`, `empty`, `full`, `rand`, `randn`, `randint`, `randperm`,
    `arange`, `linspace`, `logspace`, `eye`, `empty_strided`) that has no `device=`, in
    code that may run many times.

    ## Why is this bad?
    The tensor is first allocated and filled on the CPU, then copied to the device: two
    allocations, a host-to-device copy and a synchronisation, where `device=` creates it in
    place. In a training step this is pure overhead.

    Only `.to` calls whose argument is surely a device are reported: a string, a
    `torch.device(...)`, `best_device()`, a name such as `device`, `dev`, `x.device`, or
    a local name bound only to `torch.device(...)` / `best_device()`. `.to(dtype)`,
    `.to(other_tensor)`, `.to(..., copy=True)`, factories with `out=`, `generator=`,
    `pin_memory=True` or `**kwargs` are left alone.

    Narrowed after measuring it on real projects, where most reports were not worth a
    change: `torch.tensor(data)` / `torch.as_tensor(data)` are not reported (their data
    comes from the host, so `device=` copies it just the same: torch builds the CPU
    tensor and moves it itself), nor the `*_like` factories (they allocate on their
    argument's device, not on the CPU), nor `.to("cpu")` (no copy at all), nor one-time
    setup code, which pays the copy once: a constructor (`__init__`), `main()`,
    `reset_parameters()`, the `if __name__ == "__main__":` block, outside their loops.

    Opt-in (`extend-select = ["TL203"]`): even narrowed so, only 12 of 17 sampled reports
    in library code, examples and scripts (71%) were worth a change, below the 80% a
    default rule must reach. What remains false is code that runs once per call of a
    function that does much more (a tensor made before a 1000-step sampling loop), or
    once per epoch, or on a CPU-only path where nothing is copied; none of which a
    linter can tell from the line. Turn it on for hot code (models, training steps).

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
    default = False
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
            table = torch.arange(3).to("cuda:1")
            """,
            fixed="""
            import torch
            from torchlint.runtime import best_device
            noise = torch.randn(*shape, device=best_device())
            table = torch.arange(3, device="cuda:1")
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            ok = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def step(batch):
                return batch + torch.randn(3).to(ok)
            """,
            fixed="""
            import torch
            ok = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def step(batch):
                return batch + torch.randn(3, device=ok)
            """,
        ),
        Invalid(
            """
            import torch
            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = [torch.zeros(3).to(device) for _ in range(4)]
                def forward(self, x):
                    h0 = torch.zeros(2, x.size(0), 8).to(x.device)
                    return self.rnn(x, h0)
            """,
            fixed="""
            import torch
            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = [torch.zeros(3, device=device) for _ in range(4)]
                def forward(self, x):
                    h0 = torch.zeros(2, x.size(0), 8, device=x.device)
                    return self.rnn(x, h0)
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
            table = torch.tensor([1, 2, 3]).to(device)
            weights = torch.as_tensor(values).to(device)
            noise = torch.randn_like(x).to(x.device)
            host = torch.zeros(3).to("cpu")
            also_host = torch.zeros(3).to(torch.device("cpu"))
            """
        ),
        Valid(
            """
            import torch
            class Net(torch.nn.Module):
                def __init__(self, device):
                    super().__init__()
                    self.mask = torch.ones(8, 8).to(device)
            def main(device):
                torch.zeros(1).to(device)  # warm up
            if __name__ == "__main__":
                images = torch.randn(8, 3, 32, 32).cuda()
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
        if runs_once(self.context):
            return  # setup code pays the copy once
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
            if positional or _is_cpu(self.context, keyword.value):
                return None
            return keyword.value
        if len(positional) != 1:
            return None
        device = positional[0].value
        if not is_device_like(self.context.scope, device, self.context.project) and not (
            isinstance(device, cst.Name) and holds_device(self.context, device.value)
        ):
            return None
        return None if _is_cpu(self.context, device) else device

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


def _is_cpu(context: FileContext, device: cst.BaseExpression) -> bool:
    """``"cpu"`` or ``torch.device("cpu")``: the tensor is already there, nothing moves."""
    if isinstance(device, cst.Call) and device.args:
        if context.scope.qualified_name(device.func) != "torch.device":
            return False
        device = device.args[0].value
    literal = calls.string_literal(device)
    return literal is not None and literal.split(":", 1)[0] == "cpu"
