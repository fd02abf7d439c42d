"""TL103 dataloader-no-persistent-workers."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.data.dataloader_no_workers import NUM_WORKERS_INDEX
from torchlint.vocabulary import DATALOADER


def literal_workers(node: cst.Call) -> int | None:
    """The literal ``num_workers`` of a DataLoader call (keyword or positional), else None."""
    workers = calls.argument(node, "num_workers", NUM_WORKERS_INDEX)
    return None if workers is None else calls.int_literal(workers.value)


class DataloaderNoPersistentWorkers(Rule):
    """
    ## What it does
    Reports a `DataLoader` with a literal `num_workers > 0` that does not pass
    `persistent_workers`.

    ## Why is this bad?
    Without `persistent_workers=True` the worker processes are shut down at the end of
    every epoch and started again at the beginning of the next one: the dataset is pickled
    into each new worker, files are reopened and caches are lost. With short epochs or an
    expensive dataset constructor this start-up cost dominates.

    Only literal worker counts are reported: `persistent_workers=True` with
    `num_workers=0` raises, so a count that could be zero is left alone.

    ## Example
    ```python
    loader = DataLoader(dataset, batch_size=64, num_workers=4)
    ```

    ## Use instead
    ```python
    loader = DataLoader(dataset, batch_size=64, num_workers=4, persistent_workers=True)
    ```

    ## Fix safety
    Safe: the same batches are produced; the workers simply stay alive between epochs.
    (They keep their own copy of the dataset, so changes made to the dataset object in the
    main process between epochs are not seen by them.)

    ## References
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html
    """

    code = "TL103"
    name = "dataloader-no-persistent-workers"
    applies_to_tests = False
    summary = "`DataLoader` with workers but no `persistent_workers` restarts them every epoch"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, num_workers=4)
            """,
            fixed="""
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=64, num_workers=4, persistent_workers=True)
            """,
        ),
        Invalid(
            """
            import torch
            loader = torch.utils.data.DataLoader(
                dataset,
                batch_size=64,
                num_workers=8,
            )
            """,
            fixed="""
            import torch
            loader = torch.utils.data.DataLoader(
                dataset,
                batch_size=64,
                num_workers=8,
                persistent_workers=True,
            )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            loader = DL(dataset, 32, True, None, None, 2)
            """,
            fixed="""
            from torch.utils.data import DataLoader as DL
            loader = DL(dataset, 32, True, None, None, 2, persistent_workers=True)
            """,
        ),
        Invalid(
            """
            from torch.utils.data.dataloader import DataLoader
            def build(ds):
                return DataLoader(ds, num_workers=1)
            """,
            fixed="""
            from torch.utils.data.dataloader import DataLoader
            def build(ds):
                return DataLoader(ds, num_workers=1, persistent_workers=True)
            """,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=4, persistent_workers=True)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=4, persistent_workers=False)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=args.workers)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=0)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(**kwargs):
                return DataLoader(dataset, num_workers=4, **kwargs)
            """
        ),
        Valid(
            """
            from mylib import DataLoader
            loader = DataLoader(dataset, num_workers=4)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not node.args or self.qualified_name(node.func) not in DATALOADER:
            return
        if calls.has_star_args(node) or calls.keyword(node, "persistent_workers") is not None:
            return
        workers = literal_workers(node)
        if workers is None or workers <= 0:
            return
        new = calls.add_keyword(node, "persistent_workers", "True")
        self.report(
            node,
            fix=self.fix(
                Applicability.SAFE,
                "Add `persistent_workers=True`",
                Replace(node, new),
            ),
        )
