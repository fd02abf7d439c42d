"""TL902 save-on-every-rank."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import TORCH_SAVE, round_trips
from torchlint.analysis.devices import last_name, target_names
from torchlint.analysis.distributed import (
    PER_RANK_MARKERS,
    dist_facts,
    iterated,
    last_binding,
    rank_guarded,
    rank_test,
    runs_per_rank,
    temporary,
)
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

SAVE_TARGET_INDEX = 1


class SaveOnEveryRank(Rule):
    """
    ## What it does
    Reports `torch.save` (and `save_pretrained` without `is_main_process=`) in code that runs
    once per rank, with no rank guard around it. Per-rank code is a function that sets up
    distributed training (`init_process_group`, a `DistributedDataParallel` or FSDP wrapper,
    `accelerate.Accelerator()`), or one it calls without a guard.

    ## Why is this bad?
    With one process per GPU, every rank reaches the save and writes the same file at the
    same time. The writes race: on a shared file system the checkpoint can end up truncated
    or mixed, a reader on another rank can see a half-written file, and the job does
    world-size times the I/O. Keep the write to one process: `if dist.get_rank() == 0:`
    (or `is_main_process`, `@rank_zero_only`), usually followed by `dist.barrier()` before
    other ranks read it.

    Guards are recognised broadly: an `if` (either branch) whose test names a rank or the main
    process (`rank == 0`, `local_rank in (-1, 0)`, `args.gpu == 0`,
    `accelerator.is_main_process`, `is_master`), or calls a project function torchlint cannot
    see into; an earlier `if not is_main: return`; a decorator such as `@rank_zero_only`. A
    path that names the rank (`f"ckpt_rank{rank}.pt"`) writes one file per rank on purpose
    and is not reported, nor is a path that follows the items of a loop over data (each rank
    writing the files of its share, `for path in files: torch.save(..., out / path.name)`;
    a loop over `range`, such as epochs, does not count), nor a save into a `tempfile` (each
    process gets its own) or into a buffer read back in memory. Lightning modules
    and `accelerator.save(...)` are not reported: the trainer and `accelerate` write from one
    process for you.

    ## Example
    ```python
    def main(rank, world_size):
        dist.init_process_group("nccl", rank=rank, world_size=world_size)
        model = DDP(Net().to(rank), device_ids=[rank])
        train(model)
        torch.save(model.module.state_dict(), "model.pt")
    ```

    ## Use instead
    ```python
        if dist.get_rank() == 0:
            torch.save(model.module.state_dict(), "model.pt")
        dist.barrier()
    ```

    Opt-in (`extend-select = ["TL902"]`): It fired on none of the 11 projects no rule
    was tuned on (round 2026-12); on the tuning projects, 5 of its 6 reports were worth
    a change under the strict question (the other: a `torch.save` branch that no caller
    reaches), below the 90 % a default rule must reach.

    ## Fix safety
    Display-only: the fix shows the guard, but only the author knows which rank should
    write, whether others must wait for the file (`dist.barrier()`), and whether the saved
    object needs a collective (FSDP's full state dict) that every rank must still join.

    ## References
    - https://pytorch.org/tutorials/intermediate/ddp_tutorial.html#save-and-load-checkpoints
    - https://pytorch.org/docs/stable/distributed.html#torch.distributed.get_rank
    """

    code = "TL902"
    name = "save-on-every-rank"
    summary = "checkpoint written by every rank: the processes race on the same file"
    applies_to_tests = False
    default = False
    fix_applicability = Applicability.DISPLAY
    requires = PER_RANK_MARKERS
    examples = (
        Invalid(
            """
            import torch
            import torch.distributed as dist
            from torch.nn.parallel import DistributedDataParallel as DDP
            from model import Net, train
            def main(rank, world_size):
                dist.init_process_group("nccl", rank=rank, world_size=world_size)
                model = DDP(Net().to(rank), device_ids=[rank])
                train(model)
                torch.save(model.module.state_dict(), "model.pt")
            """,
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def save_checkpoint(model, epoch):
                torch.save({"model": model.state_dict(), "epoch": epoch}, "last.pt")
            def main(args):
                dist.init_process_group("nccl")
                for epoch in range(args.epochs):
                    if epoch % args.save_every == 0:
                        save_checkpoint(model, epoch)
            """,
        ),
        Invalid(
            """
            import torch
            import torch.distributed as dist
            def setup(rank, world_size):
                dist.init_process_group("gloo", rank=rank, world_size=world_size)
            def train(rank, world_size, model):
                setup(rank, world_size)
                for epoch in range(10):
                    fit(model)
                    torch.save(model.state_dict(), f"epoch_{epoch}.pt")
            """,
        ),
        Invalid(
            """
            from accelerate import Accelerator
            def main(model):
                accelerator = Accelerator()
                model = accelerator.prepare(model)
                model.save_pretrained("out")
            """,
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def main(rank, world_size, model, args):
                dist.init_process_group("nccl", rank=rank, world_size=world_size)
                if rank == 0:
                    torch.save(model.state_dict(), "a.pt")
                if dist.get_rank() == 0 and args.save:
                    torch.save(model.state_dict(), "b.pt")
                if args.local_rank in (-1, 0):
                    torch.save(model.state_dict(), "c.pt")
                torch.save(model.state_dict(), f"shard_{rank}.pt")
            """
        ),
        Valid(
            """
            import torch
            from accelerate import Accelerator
            def main(model):
                accelerator = Accelerator()
                model = accelerator.prepare(model)
                accelerator.save(model.state_dict(), "model.pt")
                if accelerator.is_main_process:
                    torch.save(model.state_dict(), "copy.pt")
                model.save_pretrained("out", is_main_process=accelerator.is_main_process)
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            from utils import is_main_process
            def save(model):
                if not is_main_process():
                    return
                torch.save(model.state_dict(), "model.pt")
            def main(model):
                dist.init_process_group("nccl")
                save(model)
                if should_save():
                    torch.save(model.state_dict(), "other.pt")
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            def save(model):
                torch.save(model.state_dict(), "model.pt")
            def main(model):
                dist.init_process_group("nccl")
                if dist.get_rank() == 0:
                    save(model)
            """
        ),
        Valid(
            """
            import torch
            import torch.distributed as dist
            from lightning.pytorch.utilities import rank_zero_only
            @rank_zero_only
            def export(model):
                torch.save(model.state_dict(), "export.pt")
            def main(model):
                dist.init_process_group("nccl")
                export(model)
            """
        ),
        Valid(
            """
            import torch
            from lightning.pytorch.utilities import rank_zero_only
            import lightning as L
            class Model(L.LightningModule):
                def on_train_end(self):
                    torch.save(self.state_dict(), "model.pt")
            @rank_zero_only
            def export(model):
                torch.save(model.state_dict(), "export.pt")
            """
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
                folder = tempfile.mkdtemp()
                torch.save(model.state_dict(), folder + "/model.pt")
            """
        ),
        Valid(
            """
            import os
            import torch
            import torch.distributed as dist
            dist.init_process_group(backend="nccl", init_method="env://")
            for image_path in image_paths:
                out_path = os.path.join(save_root, os.path.basename(image_path))
                torch.save(process(image_path), out_path)
            """
        ),
        Valid(
            """
            import torch
            def save_checkpoint(model):
                torch.save(model.state_dict(), "model.pt")
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = calls.callee_name(node)
        if last is None:
            return
        if last == "save_pretrained":
            if not isinstance(func, cst.Attribute) or calls.has_star_args(node):
                return
            if calls.keyword(node, "is_main_process") is not None:
                return
            target = calls.argument(node, "save_directory", 0)
        elif "save" in last and self.qualified_name(func) in TORCH_SAVE:
            if calls.has_star_args(node) or id(node) in round_trips(self.context).buffer_saves:
                return
            target = calls.argument(node, "f", SAVE_TARGET_INDEX)
        else:
            return
        facts = dist_facts(self.context)
        site = facts.by_node.get(id(node))
        if site is None or not runs_per_rank(facts, site) or rank_guarded(site, facts):
            return
        if target is not None and rank_test(target.value, site.scope):
            return  # a file per rank, or a path from a helper that may pick one
        if target is not None and self._per_item(facts, site, target.value):
            return
        if target is not None and temporary(facts, site, target.value):
            return  # a temporary file is this process's own
        self.report(node, fix=self._guard(site))

    def _per_item(self, facts, site, target: cst.BaseExpression) -> bool:
        """Does the path follow the items of a loop over data (``for path in files:``),
        directly or through a local assigned from them? Each rank then writes its own files
        (a dataset split by rank), not one shared checkpoint. A loop over ``range`` (epochs,
        steps) does not count: every rank writes the same ``ckpt_{epoch}.pt``."""
        items: set[str] = set()
        for loop in site.loops():
            if not isinstance(loop, cst.For):
                continue
            source = iterated(loop.iter)
            if isinstance(source, cst.Call) and last_name(source.func) == "range":
                continue
            items |= target_names(loop.target)
        if not items:
            return False
        names = _names_in(target)
        for name in list(names):
            binding = last_binding(facts, site, name)
            if binding is not None:
                names |= _names_in(binding.value)
        return bool(names & items)

    def _guard(self, site):
        line = site.line()
        if line is None or len(line.body) != 1:
            return None
        scope = self.context.scope
        if scope.binds("dist") and scope.resolve("dist") == "torch.distributed":
            test = "dist.get_rank() == 0"
        elif scope.resolve("torch") == "torch":
            test = "torch.distributed.get_rank() == 0"
        else:
            return None
        # Indented by the engine like the line it replaces; the line's own leading comments
        # and its end stay where they are in the file.
        new = cst.If(
            test=cst.parse_expression(test),
            body=cst.IndentedBlock(body=[line.with_changes(leading_lines=())]),
        )
        indents = self.context.indents(site.ancestors)
        text = self.context.code_for(new, indents).rstrip("\r\n").lstrip(" \t")
        return self.fix(
            Applicability.DISPLAY,
            f"Write from one process: `if {test}:`",
            Replace(line, text),
            ancestors=site.ancestors,
        )


def _names_in(expr: cst.CSTNode) -> set[str]:
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.add(node.value)
        stack.extend(node.children)
    return found
