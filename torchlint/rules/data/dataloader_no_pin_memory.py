"""TL102 dataloader-no-pin-memory."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import PIN_MEMORY_INDEX, moves_to_cuda
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.vocabulary import DATALOADER


class DataloaderNoPinMemory(Rule):
    """
    ## What it does
    Reports a `DataLoader` built without `pin_memory` in a file that moves data to CUDA
    (`.cuda()`, `.to("cuda")`, `device="cuda"`, `torch.device("cuda" ...)`,
    `best_device()`).

    ## Why is this bad?
    Batches are created in pageable host memory. Copying them to the GPU then goes through
    an extra staging copy into page-locked memory, and cannot overlap with computation.
    With `pin_memory=True` the loader's pinning thread puts each batch in page-locked
    memory, so the copy is faster and can be made asynchronous with
    `.to(device, non_blocking=True)`.

    Off by default: the gain depends on the batch size and on whether copies are
    asynchronous, which a linter cannot see. On real code the reports were small batches
    (MNIST, tabular rows) copied synchronously, loaders in tests, and loaders that
    `accelerate` prepares, where pinning changes nothing measurable (0 of 10 sampled worth a
    change). Enable it (`extend-select = ["TL102"]`) for input pipelines with large batches.

    ## Example
    ```python
    loader = DataLoader(dataset, batch_size=64, num_workers=4)
    for x, y in loader:
        x, y = x.cuda(), y.cuda()
    ```

    ## Use instead
    ```python
    loader = DataLoader(
        dataset, batch_size=64, num_workers=4, pin_memory=torch.cuda.is_available()
    )
    ```

    ## Fix safety
    Safe: `pin_memory=torch.cuda.is_available()` pins only where there is a GPU to copy to;
    batch values are unchanged. An existing alias of `torch` (`import torch as th`) is used,
    else `import torch` is added when the name `torch` is free.

    ## References
    - https://pytorch.org/docs/stable/data.html#memory-pinning
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#use-pinned-memory
    - https://pytorch.org/tutorials/intermediate/pinmem_nonblock.html
    """

    code = "TL102"
    name = "dataloader-no-pin-memory"
    applies_to_tests = False
    summary = "`DataLoader` without `pin_memory` in code that copies batches to CUDA"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, num_workers=4)
            for x, y in loader:
                x, y = x.cuda(), y.cuda()
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, num_workers=4, pin_memory=torch.cuda.is_available())
            for x, y in loader:
                x, y = x.cuda(), y.cuda()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            device = "cuda:0"
            loader = DataLoader(
                dataset,
                batch_size=64,
            )
            model.to(device)
            x = batch.to("cuda")
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader
            device = "cuda:0"
            loader = DataLoader(
                dataset,
                batch_size=64,
                pin_memory=torch.cuda.is_available(),
            )
            model.to(device)
            x = batch.to("cuda")
            """,
        ),
        Invalid(
            """
            import torch as th
            device = th.device("cuda" if th.cuda.is_available() else "cpu")
            loader = th.utils.data.DataLoader(data)
            """,
            fixed="""
            import torch as th
            device = th.device("cuda" if th.cuda.is_available() else "cpu")
            loader = th.utils.data.DataLoader(data, pin_memory=th.cuda.is_available())
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchlint.runtime import best_device
            def build(torch):
                return DataLoader(torch.dataset, num_workers=2)
            model = Net().to(best_device())
            """,
            fixed=None,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64)
            for x, y in loader:
                loss = model(x).sum()
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, pin_memory=False)
            model.cuda()
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, 64, True, None, None, 4, None, True)
            model.cuda()
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            def build(**options):
                return DataLoader(dataset, **options)
            model.cuda()
            """
        ),
        Valid(
            """
            import torch
            class DataLoader:
                pass
            loader = DataLoader(dataset)
            model.cuda()
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset)
            model.to("cpu")
            x = torch.zeros(3, device="mps")
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in DATALOADER or calls.has_star_args(node):
            return
        if calls.argument(node, "pin_memory", PIN_MEMORY_INDEX) is not None:
            return
        if not self.context.fact("moves_to_cuda", moves_to_cuda):
            return
        self.report(node, fix=self._fix(node))

    def _fix(self, node: cst.Call):
        scope = self.context.scope
        preamble: tuple[str, ...] = ()
        alias = self._torch_alias()
        if alias is None:
            if not scope.can_use("torch", "torch"):
                return None
            alias, preamble = "torch", ("import torch",)
        value = f"{alias}.cuda.is_available()"
        return self.fix(
            Applicability.SAFE,
            f"Add `pin_memory={value}`",
            Replace(node, calls.add_keyword(node, "pin_memory", value)),
            preamble=preamble,
        )

    def _torch_alias(self) -> str | None:
        """A name that refers to the ``torch`` module here: ``torch``, or ``th`` after
        ``import torch as th``."""
        scope = self.context.scope
        if scope.resolve("torch") == "torch":
            return "torch"
        for name, targets in self.context.module_scope.bindings.items():
            if targets == ["torch"] and scope.resolve(name) == "torch":
                return name
        return None
