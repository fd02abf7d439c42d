"""TL205 data-parallel."""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.devices import sets_up_distributed
from torchlint.rules.base import Invalid, Rule, Valid

DATA_PARALLEL = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.data_parallel.DataParallel",
    }
)


_ALIAS = re.compile(r"\bDataParallel\s+as\s+(\w+)")


class DataParallel(Rule):
    """
    ## What it does
    Reports the construction of `torch.nn.DataParallel` (or
    `torch.nn.parallel.DataParallel`).

    ## Why is this bad?
    `DataParallel` runs one Python process that drives every GPU from threads: it
    replicates the model on every forward pass, scatters inputs and gathers outputs on the
    first GPU, and is held back by the GIL. It is slower than `DistributedDataParallel`
    even on a single machine, and the PyTorch documentation recommends DDP instead.
    References to the class (`isinstance(model, nn.DataParallel)`) are not reported.

    Not reported in a file that also wraps a model in `DistributedDataParallel` or FSDP:
    there DDP is the chosen path, and `DataParallel` is the fallback for a single process
    with several GPUs (measured on real projects: every such report was that fallback).

    ## Example
    ```python
    model = torch.nn.DataParallel(model)
    ```

    ## Use instead
    ```python
    # launched with `torchrun --nproc_per_node=N train.py`
    torch.distributed.init_process_group("nccl")
    local_rank = int(os.environ["LOCAL_RANK"])
    model = torch.nn.parallel.DistributedDataParallel(
        model.to(local_rank), device_ids=[local_rank]
    )
    ```

    ## Fix safety
    No fix: moving to `DistributedDataParallel` changes how the program is launched (one
    process per GPU), how data is sampled (`DistributedSampler`) and how metrics are
    reduced.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.DataParallel.html
    - https://pytorch.org/docs/stable/notes/cuda.html#use-nn-parallel-distributeddataparallel-instead-of-multiprocessing-or-nn-dataparallel
    - https://pytorch.org/tutorials/intermediate/ddp_tutorial.html
    """

    code = "TL205"
    name = "data-parallel"
    applies_to_tests = False
    summary = (
        "`DataParallel` is slower than `DistributedDataParallel`; use DDP (one process per GPU)"
    )
    requires = ("DataParallel",)
    examples = (
        Invalid(
            """
            import torch
            model = torch.nn.DataParallel(model)
            """
        ),
        Invalid(
            """
            import torch.nn as nn
            model = nn.DataParallel(model, device_ids=[0, 1])
            """
        ),
        Invalid(
            """
            from torch.nn.parallel import DataParallel as DP
            net = DP(net)
            """
        ),
        Invalid(
            """
            from torch import nn
            def wrap(model):
                return nn.parallel.DataParallel(model).cuda()
            """
        ),
        Valid(
            """
            import torch.nn as nn
            if isinstance(model, nn.DataParallel):
                model = model.module
            """
        ),
        Valid(
            """
            from torch.nn.parallel import DistributedDataParallel
            model = DistributedDataParallel(model, device_ids=[rank])
            """
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def wrap(model, distributed):
                if distributed:
                    return DDP(model)
                return torch.nn.DataParallel(model)
            """
        ),
        Valid(
            """
            class DataParallel:
                pass
            model = DataParallel(model)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            def wrap(nn, model):
                return nn.DataParallel(model)
            """
        ),
        Valid(
            """
            from my_library import DataParallel
            model = DataParallel(model)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value != "DataParallel":
                return
        elif not isinstance(func, cst.Name) or func.value not in self._names():
            return
        if self.qualified_name(func) not in DATA_PARALLEL:
            return
        if self.context.fact("devices.sets_up_distributed", sets_up_distributed):
            return  # the single-process fallback of a script that uses DDP
        self.report(node)

    def _names(self) -> frozenset[str]:
        """Plain names that may be `DataParallel` here: itself and its import aliases."""
        return self.context.fact("data_parallel.names", _data_parallel_names)


def _data_parallel_names(context) -> frozenset[str]:
    """``DataParallel`` and the names it is imported as (``... import DataParallel as DP``):
    read from the text, which costs far less than a walk; the import resolution in
    ``visit_Call`` decides whether a name really is torch's."""
    return frozenset({"DataParallel", *_ALIAS.findall(context.source)})
