"""TL206 non-blocking-copy."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import is_device_like, loop_loader, target_names
from torchlint.diagnostics import Applicability
from torchlint.names import SCOPE_TYPES
from torchlint.rules.base import Invalid, Replace, Rule, Valid


class NonBlockingCopy(Rule):
    """
    ## What it does
    Reports `batch.to(device)` / `batch.cuda()` without `non_blocking=True` inside a loop
    over a `DataLoader` built with `pin_memory=True`, when the moved value is (an item of)
    the loop's batch.

    ## Why is this bad?
    Pinned (page-locked) host memory exists so that host-to-device copies can run
    asynchronously and overlap with computation. A blocking copy waits for the transfer to
    finish before Python continues, so half of what `pin_memory=True` buys is lost.

    ## Example
    ```python
    loader = DataLoader(dataset, batch_size=64, num_workers=4, pin_memory=True)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
    ```

    ## Use instead
    ```python
    loader = DataLoader(dataset, batch_size=64, num_workers=4, pin_memory=True)
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
    ```

    ## Fix safety
    Safe: a non-blocking copy from pinned memory is ordered on the current CUDA stream, so
    every later operation on the device sees the copied data; from pageable memory (or to
    the CPU) `non_blocking` is ignored. Code that reads the source tensor on the host after
    overwriting it in place would need a synchronisation, which batch tensors never do.

    ## References
    - https://pytorch.org/tutorials/intermediate/pinmem_nonblock.html
    - https://pytorch.org/docs/stable/notes/cuda.html#use-pinned-memory-buffers
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html
    """

    code = "TL206"
    name = "non-blocking-copy"
    applies_to_tests = False
    summary = "Copy from a pinned `DataLoader` batch without `non_blocking=True` blocks the host"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("pin_memory",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, pin_memory=True)
            for images, labels in loader:
                images, labels = images.to(device), labels.cuda()
            """,
            fixed="""
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, pin_memory=True)
            for images, labels in loader:
                images, labels = images.to(device, non_blocking=True), labels.cuda(non_blocking=True)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            class Trainer:
                def __init__(self, data):
                    self.loader = torch.utils.data.DataLoader(data, pin_memory=True)
                def epoch(self):
                    for step, batch in enumerate(self.loader):
                        x = batch["x"].to(self.device)
            """,
            fixed="""
            import torch
            class Trainer:
                def __init__(self, data):
                    self.loader = torch.utils.data.DataLoader(data, pin_memory=True)
                def epoch(self):
                    for step, batch in enumerate(self.loader):
                        x = batch["x"].to(self.device, non_blocking=True)
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            for x, y in DL(data, pin_memory=True, num_workers=2):
                loss = model(x.to(device=dev, non_blocking=False)).sum()
            """,
            fixed="""
            from torch.utils.data import DataLoader as DL
            for x, y in DL(data, pin_memory=True, num_workers=2):
                loss = model(x.to(device=dev, non_blocking=True)).sum()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchlint.runtime import best_device
            train_loader = DataLoader(ds, pin_memory=True)
            def train():
                for batch in train_loader:
                    for t in batch:
                        pass
                    batch[0].to(best_device())
            """,
            fixed="""
            from torch.utils.data import DataLoader
            from torchlint.runtime import best_device
            train_loader = DataLoader(ds, pin_memory=True)
            def train():
                for batch in train_loader:
                    for t in batch:
                        pass
                    batch[0].to(best_device(), non_blocking=True)
            """,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64)
            for images, labels in loader:
                images = images.to(device)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, pin_memory=True)
            for images, labels in loader:
                images = images.to(device, non_blocking=True)
                labels = labels.to(torch.float16)
                weights = model.weight.to(device)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def run(loader):
                for x in loader:
                    x = x.to(device)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, **options)
            loader2 = DataLoader(dataset, pin_memory=torch.cuda.is_available())
            for x in loader:
                x.to(device)
            for x in loader2:
                x.to(device)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, pin_memory=True)
            for x in loader:
                x = x.to(device, **move_options)
                y = x.to(device, non_blocking=args.async_copy)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, pin_memory=True)
            for x in loader:
                def later(x):
                    return x.to(device)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("to", "cuda"):
            return
        if calls.has_star_args(node):
            return
        flag = calls.keyword(node, "non_blocking")
        if flag is not None and not calls.is_false(flag.value):
            return
        positional = calls.positional(node)
        if len(positional) > 1:
            return  # `.to(device, dtype, non_blocking)` / `.cuda(device, non_blocking)`
        if func.attr.value == "to":
            device = calls.keyword(node, "device") or (positional[0] if positional else None)
            if device is None or not is_device_like(
                self.context.scope, device.value, self.context.project
            ):
                return
        root = _root_name(func.value)
        if root is None or not self._in_pinned_batch_loop(root):
            return
        if flag is not None:
            new = node.deep_replace(flag, flag.with_changes(value=cst.Name("True")))
        else:
            new = calls.add_keyword(node, "non_blocking", "True")
        self.report(
            node,
            fix=self.fix(Applicability.SAFE, "Add `non_blocking=True`", Replace(node, new)),
        )

    def _in_pinned_batch_loop(self, name: str) -> bool:
        """Is ``name`` bound by an enclosing ``for`` (same function) over a pinned DataLoader?"""
        chain = [*self.context.ancestors]
        for index in range(len(chain) - 1, -1, -1):
            loop = chain[index]
            if isinstance(loop, SCOPE_TYPES):
                return False
            if not isinstance(loop, cst.For):
                continue
            inside = chain[index + 1] if index + 1 < len(chain) else None
            if inside is not loop.body:
                continue
            target = loop_loader(self.context, loop, self.context.scope, pinned=True)
            if target is not None and name in target_names(target):
                return True
        return False


def _root_name(expr: cst.BaseExpression) -> str | None:
    """``batch`` for ``batch``, ``batch[0]``, ``batch["x"][1]``; None otherwise."""
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else None
