"""TL803 dataloader-worker-seeding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.names import Scope
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.data.dataloader_no_persistent_workers import literal_workers
from torchlint.rules.reproducibility.missing_seed import NOT_LITERAL, seed_value, seeding_call
from torchlint.vocabulary import DATALOADER

if TYPE_CHECKING:
    from torchlint.context import FileContext

WORKER_INIT_FN_INDEX = 10
GENERATOR_INDEX = 12


@dataclass
class _Candidate:
    call: cst.Call
    ancestors: list[cst.CSTNode]
    scope: Scope


class DataloaderWorkerSeeding(Rule):
    """
    ## What it does
    In a file that seeds torch (`torch.manual_seed`, `seed_everything`, `set_seed`, ...),
    reports a `DataLoader` with a literal `num_workers > 0` that passes neither
    `generator=` nor `worker_init_fn=`.

    ## Why is this bad?
    The file wants repeatable runs, but the loader's shuffling order and the seeds of its
    worker processes are drawn from the global generator at the moment each epoch's
    iterator is created. Anything else that consumes global random numbers in between
    (a new layer, a dropout call, an extra evaluation pass) shifts every later epoch's data
    order and augmentations. A dedicated, seeded `generator` makes the data pipeline
    reproducible on its own, as PyTorch's reproducibility notes recommend.

    ## Example
    ```python
    torch.manual_seed(0)
    loader = DataLoader(dataset, shuffle=True, num_workers=4)
    ```

    ## Use instead
    ```python
    torch.manual_seed(0)
    loader = DataLoader(
        dataset, shuffle=True, num_workers=4, generator=torch.Generator().manual_seed(0)
    )
    ```

    ## Fix safety
    Safe: the loader draws its randomness from its own generator seeded with the file's
    seed. The fix is offered only when every seeding call passes the same integer literal.

    ## References
    - https://pytorch.org/docs/stable/notes/randomness.html#dataloader
    - https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading
    """

    code = "TL803"
    name = "dataloader-worker-seeding"
    applies_to_tests = False
    summary = "`DataLoader` workers in a seeded script draw from the global generator"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader
            torch.manual_seed(0)
            loader = DataLoader(dataset, shuffle=True, num_workers=4)
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader
            torch.manual_seed(0)
            loader = DataLoader(
                dataset, shuffle=True, num_workers=4, generator=torch.Generator().manual_seed(0)
            )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchlint.runtime import seed_everything
            def build(ds):
                return DataLoader(
                    ds,
                    num_workers=2,
                )
            if __name__ == "__main__":
                seed_everything(seed=1234)
            """,
            fixed="""
            import torch
            from torch.utils.data import DataLoader
            from torchlint.runtime import seed_everything
            def build(ds):
                return DataLoader(
                    ds,
                    num_workers=2,
                    generator=torch.Generator().manual_seed(1234),
                )
            if __name__ == "__main__":
                seed_everything(seed=1234)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader
            torch.manual_seed(args.seed)
            loader = DataLoader(dataset, num_workers=8)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import lightning as L
            import torch.utils.data as tud
            L.seed_everything(7)
            train = tud.DataLoader(train_set, 64, True, num_workers=4)
            val = tud.DataLoader(val_set, 64, num_workers=4)
            """,
            fixed="""
            import lightning as L
            import torch
            import torch.utils.data as tud
            L.seed_everything(7)
            train = tud.DataLoader(
                train_set, 64, True, num_workers=4, generator=torch.Generator().manual_seed(7)
            )
            val = tud.DataLoader(val_set, 64, num_workers=4, generator=torch.Generator().manual_seed(7))
            """,
            count=2,
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, shuffle=True, num_workers=4)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            torch.manual_seed(0)
            g = torch.Generator()
            g.manual_seed(0)
            a = DataLoader(dataset, num_workers=4, generator=g)
            b = DataLoader(dataset, num_workers=4, worker_init_fn=seed_worker)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            torch.manual_seed(0)
            a = DataLoader(dataset)
            b = DataLoader(dataset, num_workers=args.workers)
            c = DataLoader(dataset, num_workers=4, **options)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def make(g):
                g.manual_seed(0)
                return DataLoader(dataset, num_workers=4)
            """
        ),
        Valid(
            """
            import torch
            from mylib import DataLoader
            torch.manual_seed(0)
            loader = DataLoader(dataset, num_workers=4)
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.seeded = False
        self.seeds: list[int | object] = []  # the seeds that choose the generator's seed
        self.candidates: list[_Candidate] = []

    def visit_Call(self, node: cst.Call) -> None:
        if seeding_call(self, node):
            if not self._forwards_parameter(node):
                self.seeds.append(seed_value(node))
            self.seeded = True
            return
        if not node.args or self.qualified_name(node.func) not in DATALOADER:
            return
        if calls.has_star_args(node):
            return
        workers = literal_workers(node)
        if workers is None or workers <= 0:
            return
        if calls.argument(node, "generator", GENERATOR_INDEX) is not None:
            return
        if calls.argument(node, "worker_init_fn", WORKER_INIT_FN_INDEX) is not None:
            return
        self.candidates.append(_Candidate(node, list(self.context.ancestors), self.context.scope))

    def _forwards_parameter(self, node: cst.Call) -> bool:
        """``torch.manual_seed(seed)`` inside ``def set_seed(seed)``: the caller's literal
        decides the seed, not this call."""
        function = self.context.scope.node
        if not isinstance(function, cst.FunctionDef) or calls.has_star_args(node):
            return False
        arg = calls.argument(node, "seed", 0)
        if arg is None or not isinstance(arg.value, cst.Name):
            return False
        params = function.params
        names = {
            p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)
        }
        return arg.value.value in names

    def leave_Module(self, node: cst.Module) -> None:
        if not self.seeded:
            return
        distinct = set(self.seeds)
        seed = distinct.pop() if len(distinct) == 1 else NOT_LITERAL
        for candidate in self.candidates:
            self.report(
                candidate.call, fix=None if seed is NOT_LITERAL else self._fix(candidate, seed)
            )

    def _fix(self, candidate: _Candidate, seed: object):
        scope = candidate.scope
        if scope.resolve("torch") == "torch":
            preamble: list[str] = []
        elif scope.binds("torch") is None:
            preamble = ["import torch"]
        else:
            return None
        generator = f"torch.Generator().manual_seed({seed})"
        new = calls.add_keyword(candidate.call, "generator", generator)
        return self.fix(
            Applicability.SAFE,
            f"Add `generator={generator}`",
            Replace(candidate.call, new),
            preamble=preamble,
            ancestors=candidate.ancestors,
        )
