"""TL907 distributed-load-default-device."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import TORCH_LOAD, round_trips
from torchlint.analysis.devices import last_name
from torchlint.analysis.distributed import (
    PER_RANK_MARKERS,
    dist_facts,
    rank_guarded,
    runs_per_rank,
)
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, Replace, Rule, Valid

MAP_LOCATION_INDEX = 1
CHECKPOINT_WORDS = (
    "ckpt",
    "checkpoint",
    "resume",
    "pretrain",
    "weight",
    "state",
    "model",
    ".pth",
    "snapshot",
)


def _mentions_name(expr: cst.CSTNode, names: set[str]) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) in names:
            return True
        stack.extend(node.children)
    return False


class DistributedLoadDefaultDevice(Rule):
    """
    ## What it does
    Reports `torch.load` without `map_location` in code that runs once per rank: a function
    that sets up distributed training (`init_process_group`, a `DistributedDataParallel` or
    FSDP wrapper, `accelerate.Accelerator()`), or one it calls without a rank guard.

    ## Why is this bad?
    Without `map_location`, each tensor is restored onto the device it was saved from,
    usually `cuda:0`. With one process per GPU, every rank then allocates the whole
    checkpoint on GPU 0 (and creates a CUDA context there) before copying it to its own GPU:
    GPU 0 holds world-size copies and runs out of memory, or the run is slowed by the
    traffic. Mapping the load to the rank's own device (or to the CPU) keeps each process on
    its GPU.

    Only per-rank code of the same file is reported: a load in a helper module, in code
    kept to one rank (`if rank == 0:`), or behind `**kwargs` is left alone. And only model
    checkpoints, which were saved from where the model lived: a load whose result goes to
    `load_state_dict`, or whose path or name says checkpoint (`ckpt`, `checkpoint`,
    `resume`, `pretrained`, `weights`, `state`, `model`, `.pth`); a file of preprocessed
    data (`torch.load(args.data_path)`) is usually written from the CPU and is not reported,
    nor is a load that reads back what the same code just saved (a round trip through a
    temporary file or buffer: the tensors come back to the device this process saved from). `TL703`
    (off by default) reports every `torch.load` without `map_location`.

    ## Example
    ```python
    def main(rank, world_size):
        dist.init_process_group("nccl", rank=rank, world_size=world_size)
        device = torch.device("cuda", rank)
        state = torch.load("checkpoint.pt", weights_only=True)
    ```

    ## Use instead
    ```python
    def main(rank, world_size):
        dist.init_process_group("nccl", rank=rank, world_size=world_size)
        device = torch.device("cuda", rank)
        state = torch.load("checkpoint.pt", weights_only=True, map_location=device)
    ```

    Opt-in (`extend-select = ["TL907"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 0 of 4 sampled reports were worth a
    change, below the 90 % a default rule must reach: in each, the unmapped load runs only with one process per node, and the per-rank branch already maps to the rank's GPU.

    ## Fix safety
    Unsafe: the loaded tensors land on the device in scope (a `device` parameter or local,
    `self.device`, a module-level `device`) or, when there is none, on the CPU, which is not
    where they were before. `load_state_dict` copies them to the model's device either way;
    code that uses the loaded tensors directly may need a `.to(device)`.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.load.html
    - https://pytorch.org/tutorials/intermediate/ddp_tutorial.html#save-and-load-checkpoints
    """

    code = "TL907"
    name = "distributed-load-default-device"
    summary = (
        "`torch.load` without `map_location` in per-rank code: every rank loads onto the "
        "saving device (usually GPU 0)"
    )
    applies_to_tests = False
    default = False
    fix_applicability = Applicability.UNSAFE
    requires = PER_RANK_MARKERS
    examples = (
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def main(rank, world_size):
                dist.init_process_group("nccl", rank=rank, world_size=world_size)
                device = torch.device("cuda", rank)
                state = torch.load("checkpoint.pt", weights_only=True)
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            def main(rank, world_size):
                dist.init_process_group("nccl", rank=rank, world_size=world_size)
                device = torch.device("cuda", rank)
                state = torch.load("checkpoint.pt", weights_only=True, map_location=device)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def resume(model, path):
                model.load_state_dict(torch.load(path))
            def main(model, path):
                model = DDP(model)
                resume(model, path)
            """,
            fixed="""
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def resume(model, path):
                device = next(model.parameters()).device
                model.load_state_dict(torch.load(path, map_location=device))
            def main(model, path):
                model = DDP(model)
                resume(model, path)
            """,
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            class Trainer:
                def __init__(self, rank):
                    self.device = torch.device("cuda", rank)
                def setup(self):
                    dist.init_process_group("nccl")
                    self.restore()
                def restore(self):
                    self.state = torch.load("last.pt")
            """,
            fixed="""
            import torch
            import torch.distributed as dist
            class Trainer:
                def __init__(self, rank):
                    self.device = torch.device("cuda", rank)
                def setup(self):
                    dist.init_process_group("nccl")
                    self.restore()
                def restore(self):
                    self.state = torch.load("last.pt", map_location=self.device)
            """,
        ),
        Valid(
            """
            import tempfile
            import torch
            import torch.distributed as dist
            def main(model):
                dist.init_process_group("gloo")
                with tempfile.NamedTemporaryFile() as tmp:
                    torch.save(model, tmp.name)
                    model = torch.load(tmp.name, weights_only=False)
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def main(args):
                dist.init_process_group("nccl")
                features = torch.load(args.data_path)
            """
        ),
        Valid(
            """
            import torch
            def resume(model, path):
                model.load_state_dict(torch.load(path))
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def main(rank, path, device):
                dist.init_process_group("gloo")
                a = torch.load(path, map_location=device)
                b = torch.load(path, device)
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def main(rank, path, **kwargs):
                dist.init_process_group("gloo")
                a = torch.load(path, **kwargs)
                if dist.get_rank() == 0:
                    b = torch.load(path)
            """
        ),
    )

    def _checkpoint(self, facts, site) -> bool:
        """Is this a model checkpoint (saved where the model lived, often a GPU)? Its result
        goes to ``load_state_dict``, or its path or name says so. A file of preprocessed
        data is usually written from the CPU and loads there anyway."""
        for node in site.ancestors:
            if isinstance(node, cst.Call) and last_name(node.func) == "load_state_dict":
                return True
        words = []
        source = calls.argument(site.node, "f", 0)
        if source is not None:
            words.append(self.context.module.code_for_node(source.value))
        statement = site.statement()
        if isinstance(statement, cst.Assign) and statement.value is site.node:
            targets = [dotted_name(t.target) for t in statement.targets]
            names = {t for t in targets if t is not None}
            words.extend(names)
            for other in facts.by_function.get(id(site.function), ()):
                if other.method() == "load_state_dict" and any(
                    _mentions_name(arg.value, names) for arg in other.node.args
                ):
                    return True
        text = " ".join(words).lower()
        return any(word in text for word in CHECKPOINT_WORDS)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = last_name(func)
        if last is None or "load" not in last or calls.has_star_args(node):
            return
        if self.qualified_name(func) not in TORCH_LOAD:
            return
        if calls.argument(node, "map_location", MAP_LOCATION_INDEX) is not None:
            return
        facts = dist_facts(self.context)
        site = facts.by_node.get(id(node))
        if site is None or not runs_per_rank(facts, site) or rank_guarded(site, facts):
            return
        if not self._checkpoint(facts, site) or id(node) in round_trips(self.context).loads:
            return  # a round trip reads back what this process saved, on its own device
        found = scope_device(self.context, select=False)  # the rank's device, as TL703 asks
        device = '"cpu"' if found is None else found.text
        new = calls.add_keyword(node, "map_location", device)
        edits = () if found is None else found.edits
        preamble = () if found is None else found.preamble
        self.report(
            node,
            fix=self.fix(
                Applicability.UNSAFE,
                f"Add `map_location={device}`",
                Replace(node, new),
                *edits,
                preamble=preamble,
            ),
        )
