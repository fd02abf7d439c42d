"""TL101 dataloader-no-workers."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.rules import calls
from torchlint.rules.base import Invalid, Replace, Rule, Valid

DATALOADER = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
NUM_WORKERS_INDEX = 5
INLINE_WORKERS = "min(8, os.cpu_count() or 1)"


class DataloaderNoWorkers(Rule):
    """
    ## What it does
    Reports a `DataLoader` built without `num_workers`, or with `num_workers=0`.

    ## Why is this bad?
    With no workers every batch is loaded and transformed in the training process itself,
    so the accelerator sits idle while Python decodes images and collates tensors. Worker
    processes overlap loading with computation; it is the single cheapest speed-up of most
    input pipelines.

    ## Example
    ```python
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    ```

    ## Use instead
    ```python
    from torchlint.runtime import make_loader

    loader = make_loader(dataset, batch_size=32, shuffle=True)
    ```
    `make_loader` picks `num_workers` from the CPUs this process may use, enables
    `pin_memory` on CUDA and `persistent_workers` when there are workers; explicit
    arguments always win.

    ## Fix safety
    Unsafe: worker processes change behaviour (the dataset is pickled into the workers,
    per-worker random state, more memory). With `runtime-helpers = false` the fix adds
    `num_workers=min(8, os.cpu_count() or 1)` instead.

    ## References
    - https://pytorch.org/docs/stable/data.html#multi-process-data-loading
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html
    """

    code = "TL101"
    name = "dataloader-no-workers"
    applies_to_tests = False
    summary = "`DataLoader` without `num_workers` loads every batch in the main process"
    fix_applicability = Applicability.UNSAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=32, shuffle=True)
            """,
            fixed="""
            from torch.utils.data import DataLoader
            from torchlint.runtime import make_loader
            loader = make_loader(dataset, batch_size=32, shuffle=True)
            """,
        ),
        Invalid(
            """
            import torch.utils.data as tud
            loader = tud.DataLoader(dataset, batch_size=8, num_workers=0)
            """,
            fixed="""
            import torch.utils.data as tud
            from torchlint.runtime import make_loader
            loader = make_loader(dataset, batch_size=8)
            """,
        ),
        Invalid(
            """
            import torch
            loader = torch.utils.data.DataLoader(
                dataset,
                batch_size=8,
            )
            """,
            fixed="""
            import torch
            from torchlint.runtime import make_loader
            loader = make_loader(
                dataset,
                batch_size=8,
            )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            loader = DL(dataset, 16)
            """,
            fixed="""
            from torch.utils.data import DataLoader as DL
            import os
            loader = DL(dataset, 16, num_workers=min(8, os.cpu_count() or 1))
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            def make_loader():
                return DataLoader(dataset, num_workers=0)
            """,
            fixed=None,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=32, num_workers=4)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, 32, True, None, None, 4)
            """
        ),
        Valid(
            """
            class DataLoader:
                pass
            loader = DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(**kwargs):
                return DataLoader(dataset, **kwargs)
            """
        ),
        Valid(
            """
            from mylib import DataLoader
            loader = DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(DataLoader):
                return DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=args.workers)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in DATALOADER or calls.has_star_args(node):
            return
        workers = calls.argument(node, "num_workers", NUM_WORKERS_INDEX)
        if workers is not None and calls.int_literal(workers.value) != 0:
            return
        self.report(node, fix=self._fix(node, workers))

    def _fix(self, node: cst.Call, workers: cst.Arg | None):
        if workers is not None and workers.keyword is None:
            return None  # a positional 0 cannot be dropped without shifting the others
        scope = self.context.scope
        if self.context.settings.runtime_helpers:
            if not scope.can_use("make_loader", "torchlint.runtime.make_loader"):
                return None
            new = node if workers is None else calls.remove_arg(node, workers)
            new = new.with_changes(func=cst.Name("make_loader"))
            return self.fix(
                Applicability.UNSAFE,
                "Use `make_loader(...)`, which picks `num_workers` for this machine",
                Replace(node, new),
                preamble=["from torchlint.runtime import make_loader"],
            )
        if not scope.can_use("os", "os"):
            return None
        if workers is None:
            new = calls.add_keyword(node, "num_workers", INLINE_WORKERS)
        else:
            new = node.deep_replace(
                workers, workers.with_changes(value=cst.parse_expression(INLINE_WORKERS))
            )
        return self.fix(
            Applicability.UNSAFE,
            f"Add `num_workers={INLINE_WORKERS}`",
            Replace(node, new),
            preamble=["import os"],
        )
