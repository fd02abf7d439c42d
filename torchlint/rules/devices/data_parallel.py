"""TL205 data-parallel."""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.constants import in_dead_branch
from torchlint.analysis.devices import sets_up_distributed
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, Rule, Valid
from torchlint.vocabulary import DATA_PARALLEL

_ALIAS = re.compile(r"\bDataParallel\s+as\s+(\w+)")
# Words of a class name (or a base's) that say its job is data parallelism: a training
# library's strategy or wrapper that offers `DataParallel` among its modes.
_PARALLEL_WORDS = frozenset({"parallel", "dataparallel", "dp", "ddp", "strategy", "distributed"})
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


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

    Not reported where `DataParallel` is not the project's way to use several GPUs:
    - in a file that also wraps a model in `DistributedDataParallel` or FSDP, or calls a
      function of the project that does (`model = smart_DDP(model)`, found through the
      project index): there DDP is the chosen path, and `DataParallel` is the fallback for
      a single process with several GPUs (measured on real projects: every such report was
      that fallback);
    - in a branch that a module constant (or a literal) rules out
      (`USE_DP = False` ... `if USE_DP:`): it never runs;
    - in a class whose job is data parallelism, by its name or its bases'
      (`DataParallelStrategy`, `DPWrapper`, `DistributedHelper`): a library that offers
      `DataParallel` as one of its modes on purpose.

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

    Opt-in (`extend-select = ["TL205"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 4 sampled reports were worth a
    change, below the 90 % a default rule must reach: notebooks, where DDP's one-process-per-GPU launch does not fit, and a `DataParallel` kept to match a checkpoint's `module.` keys.

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
    default = False
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
        Invalid(
            """
            import torch.nn as nn
            USE_DP = True
            if USE_DP:
                model = nn.DataParallel(model)
            class Trainer:
                def wrap(self, model):
                    return nn.DataParallel(model)
            """,
            count=2,
        ),
        Valid(
            """
            import torch.nn as nn
            USE_DATA_PARALLEL = False
            MODE = "ddp"
            if USE_DATA_PARALLEL:
                model = nn.DataParallel(model)
            net = nn.DataParallel(net) if MODE == "dp" else net
            if False:
                net = nn.DataParallel(net)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            class DataParallelStrategy(Strategy):
                def setup(self, model):
                    return nn.DataParallel(model, device_ids=self.devices)
            class Wrapper(ParallelStrategy):
                def wrap(self, model):
                    return nn.DataParallel(model)
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
        ancestors = self.context.ancestors
        if in_dead_branch(ancestors, self.context, node):
            return  # `if USE_DP:` with `USE_DP = False`: never runs
        if _in_parallel_class(ancestors):
            return  # a strategy or wrapper whose job is data parallelism
        if self.context.fact("data_parallel.project_ddp", _calls_project_ddp):
            return  # DDP through a project helper (`smart_DDP(model)`)
        self.report(node)

    def _names(self) -> frozenset[str]:
        """Plain names that may be `DataParallel` here: itself and its import aliases."""
        return self.context.fact("data_parallel.names", _data_parallel_names)


def _in_parallel_class(ancestors) -> bool:  # type: ignore[no-untyped-def]
    """Inside a class whose name, or a base's, says data parallelism."""
    for ancestor in ancestors:
        if not isinstance(ancestor, cst.ClassDef):
            continue
        names = [ancestor.name.value]
        for base in ancestor.bases:
            value = base.value
            while isinstance(value, cst.Attribute):
                value = value.attr
            if isinstance(value, cst.Name):
                names.append(value.value)
        for name in names:
            if any(word.lower() in _PARALLEL_WORDS for word in _WORDS.findall(name)):
                return True
    return False


def _calls_project_ddp(context) -> bool:  # type: ignore[no-untyped-def]
    """The file calls a function of its project that wraps a model in DDP or FSDP (an
    imported helper such as `smart_DDP`, asked of the project index)."""
    project = context.project
    if project is None:
        return False
    scope = context.module_scope
    asked: set[str] = set()
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, (cst.Name, cst.Attribute)):
            qualified = scope.qualified_name(node.func)
            if qualified and not qualified.startswith("torch.") and qualified not in asked:
                asked.add(qualified)
                if project.builds_ddp(qualified):
                    return True
        stack.extend(iter_children(node))
    return False


def _data_parallel_names(context) -> frozenset[str]:
    """``DataParallel`` and the names it is imported as (``... import DataParallel as DP``):
    read from the text, which costs far less than a walk; the import resolution in
    ``visit_Call`` decides whether a name really is torch's."""
    return frozenset({"DataParallel", *_ALIAS.findall(context.source)})
