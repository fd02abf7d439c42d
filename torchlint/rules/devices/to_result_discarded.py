"""TL204 to-result-discarded."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.devices import rebound_to_tensor, tensor_names
from torchlint.diagnostics import Applicability
from torchlint.rules.base import InsertBefore, Invalid, Rule, Valid

MOVES = frozenset({"to", "cuda", "cpu"})


class ToResultDiscarded(Rule):
    """
    ## What it does
    Reports an expression statement `x.to(...)`, `x.cuda()` or `x.cpu()` whose result is
    thrown away, when `x` is surely a tensor: every binding of `x` in the function (or
    module) is a `torch` factory or operation (`x = torch.zeros(...)`,
    `x = torch.cat(...)`) or the loop target of a `DataLoader` with the default collate.

    ## Why is this bad?
    `Module.to()` moves a model in place, but `Tensor.to()` returns a *new* tensor and
    leaves the original where it was. The statement does nothing except waste a copy; the
    code after it still uses the CPU tensor, which fails later with a device mismatch, or
    silently runs on the wrong device.

    A name rebound to a `torch` operation earlier in the same block is a tensor from there
    on, whatever it was before (`batch = torch.as_tensor(batch)` then `batch.to(device)`).
    Names that could be modules (parameters, attributes, anything assigned from another
    call) are otherwise never reported.

    ## Example
    ```python
    for images, labels in loader:
        images.to(device)
        labels.to(device)
    ```

    ## Use instead
    ```python
    for images, labels in loader:
        images = images.to(device)
        labels = labels.to(device)
    ```

    ## Fix safety
    Safe: the name now refers to the moved tensor, which is what the statement was meant
    to do.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.Tensor.to.html
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.to
    """

    code = "TL204"
    name = "to-result-discarded"
    applies_to_tests = True
    summary = "`Tensor.to()` returns a new tensor; the result of this call is discarded"
    fix_applicability = Applicability.SAFE
    requires = ("torch",)
    examples = (
        Invalid(
            """
            import torch
            x = torch.zeros(3)
            x.to(device)
            """,
            fixed="""
            import torch
            x = torch.zeros(3)
            x = x.to(device)
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=8)
            def train():
                for images, labels in loader:
                    images.cuda()
                    labels.to(device, non_blocking=True)
            """,
            fixed="""
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=8)
            def train():
                for images, labels in loader:
                    images = images.cuda()
                    labels = labels.to(device, non_blocking=True)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch as th
            def f(a, b):
                out = th.cat([a, b])
                out.cpu()
                return out
            """,
            fixed="""
            import torch as th
            def f(a, b):
                out = th.cat([a, b])
                out = out.cpu()
                return out
            """,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader
            for i, batch in enumerate(DataLoader(data)):
                batch.to("cuda")
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader
            for i, batch in enumerate(DataLoader(data)):
                batch = batch.to("cuda")
            """,
        ),
        Invalid(
            """
            import torch
            def step(model, batch, device):
                batch = torch.as_tensor(batch)
                batch.to(device)
                return model(batch)
            """,
            fixed="""
            import torch
            def step(model, batch, device):
                batch = torch.as_tensor(batch)
                batch = batch.to(device)
                return model(batch)
            """,
        ),
        Valid(
            """
            import torch
            def step(model, batch, device):
                batch = torch.as_tensor(batch)
                if device is not None:
                    batch = wrap(batch)
                batch.to(device)
                model.to(device)
            """
        ),
        Valid(
            """
            import torch
            model = torch.nn.Linear(3, 4)
            model.to(device)
            model.cuda()
            """
        ),
        Valid(
            """
            def train(model, batch):
                model.to(device)
                batch.cuda()
            """
        ),
        Valid(
            """
            import torch
            x = torch.zeros(3)
            x = make_module()
            x.to(device)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, collate_fn=collate)
            for batch in loader:
                batch.to(device)
            """
        ),
        Valid(
            """
            import torch
            x = torch.load("model.pt")
            x.to(device)
            """
        ),
        Valid(
            """
            import torch
            def torch_stuff(torch):
                x = torch.zeros(3)
                x.to(device)
            """
        ),
        Valid(
            """
            import torch
            x = torch.zeros(3)
            y = x.to(device)
            print(x.to(device))
            """
        ),
    )

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        func = call.func
        if func.attr.value not in MOVES or not isinstance(func.value, cst.Name):
            return
        name = func.value.value
        if name not in self.context.scope.bindings:
            return  # not bound in this scope: neither of the two questions below can say yes
        if name not in tensor_names(self.context) and not rebound_to_tensor(self.context, name):
            return
        fix = None
        if not call.lpar:  # `(x.to(d))` cannot take an assignment inside its parentheses
            fix = self.fix(
                Applicability.SAFE,
                f"Assign the result: `{name} = {name}.{func.attr.value}(...)`",
                InsertBefore(call, f"{name} = "),
            )
        self.report(call, fix=fix)
