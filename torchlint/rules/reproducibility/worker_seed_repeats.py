"""TL804 worker-seed-repeats."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, Rule, Valid
from torchlint.vocabulary import DATALOADER

WORKER_INIT_FN_INDEX = 10
SEEDING = frozenset({"numpy.random.seed", "random.seed"})


def _names(expr: cst.CSTNode) -> list[str]:
    found: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.append(node.value)
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)  # `args.seed`: only the root can be a local
            continue
        stack.extend(iter_children(node))
    return found


def _has_call(expr: cst.CSTNode) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            return True
        stack.extend(iter_children(node))
    return False


def _assigned_locally(function: cst.FunctionDef) -> set[str]:
    names: set[str] = set()
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        targets: list[cst.CSTNode] = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)):
            targets = [node.target]
        for target in targets:
            names.update(_names(target))
        stack.extend(iter_children(node))
    return names


class WorkerSeedRepeats(Rule):
    """
    ## What it does
    Reports `np.random.seed(...)` or `random.seed(...)` inside a same-file function passed
    as a `DataLoader`'s `worker_init_fn`, when the seed is computed from the worker id and
    fixed values only (`worker_id`, `args.seed + worker_id`, a literal): no call, nothing
    assigned in the function. Loaders with `persistent_workers=True` are not reported.

    ## Why is this bad?
    PyTorch already gives every worker, in every epoch, its own seed for `random`, torch and
    NumPy (derived from a base seed the main process draws per epoch). A `worker_init_fn`
    that reseeds NumPy with `worker_id` (plus a constant) throws that away: the workers are
    restarted each epoch and reseeded with the same values, so every epoch sees exactly the
    same "random" crops, flips and noise. The model trains on a fixed set of augmentations,
    and nothing warns about it.

    ## Example
    ```python
    def worker_init_fn(worker_id):
        np.random.seed(args.seed + worker_id)

    loader = DataLoader(dataset, num_workers=4, worker_init_fn=worker_init_fn)
    ```

    ## Use instead
    ```python
    def worker_init_fn(worker_id):
        np.random.seed(torch.initial_seed() % 2**32)  # differs per worker and per epoch

    loader = DataLoader(dataset, num_workers=4, worker_init_fn=worker_init_fn)
    ```
    (or drop the `worker_init_fn`: on torch >= 1.9 NumPy is seeded per worker already).

    ## Fix safety
    No fix: which seed the project wants (per epoch from torch, or a fixed schedule) is its
    choice.

    ## References
    - https://pytorch.org/docs/stable/data.html#randomness-in-multi-process-data-loading
    - https://pytorch.org/docs/stable/notes/randomness.html#dataloader
    """

    code = "TL804"
    name = "worker-seed-repeats"
    applies_to_tests = False
    summary = (
        "`worker_init_fn` reseeds from the worker id only: every epoch repeats the same "
        "random augmentations; seed from `torch.initial_seed()`"
    )
    requires = ("worker_init_fn",)
    examples = (
        Invalid(
            """
            import numpy as np
            from torch.utils.data import DataLoader
            def worker_init_fn(worker_id):
                np.random.seed(args.seed + worker_id)
            loader = DataLoader(dataset, num_workers=4, worker_init_fn=worker_init_fn)
            """
        ),
        Invalid(
            """
            import random
            import numpy
            import torch
            def seed_worker(wid):
                numpy.random.seed(wid)
                random.seed(1234)
            loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, worker_init_fn=seed_worker)
            """,
            count=2,
        ),
        Invalid(
            """
            import numpy as np
            from torch.utils.data import DataLoader as DL
            def init(worker_id):
                np.random.seed(42)
            train = DL(ds, num_workers=8, persistent_workers=False, worker_init_fn=init)
            """
        ),
        Valid(
            """
            import numpy as np
            import torch
            from torch.utils.data import DataLoader
            def worker_init_fn(worker_id):
                np.random.seed(torch.initial_seed() % 2**32)
            def seed_worker(worker_id):
                seed = torch.utils.data.get_worker_info().seed % 2**32
                np.random.seed(seed)
            a = DataLoader(ds, num_workers=4, worker_init_fn=worker_init_fn)
            b = DataLoader(ds, num_workers=4, worker_init_fn=seed_worker)
            """
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import DataLoader
            def worker_init_fn(worker_id):
                np.random.seed(worker_id)
            loader = DataLoader(ds, num_workers=4, persistent_workers=True, worker_init_fn=worker_init_fn)
            """
        ),
        Valid(
            """
            import numpy as np
            from torch.utils.data import DataLoader
            def worker_init_fn(worker_id):
                np.random.seed(np.random.get_state()[1][0] + worker_id)
            loader = DataLoader(ds, num_workers=4, worker_init_fn=worker_init_fn)
            """
        ),
        Valid(
            """
            import numpy as np
            def worker_init_fn(worker_id):
                np.random.seed(worker_id)
            pool = Pool(initializer=worker_init_fn)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in DATALOADER or calls.has_star_args(node):
            return
        persistent = calls.keyword(node, "persistent_workers")
        if persistent is not None and not calls.is_false(persistent.value):
            return
        arg = calls.argument(node, "worker_init_fn", WORKER_INIT_FN_INDEX)
        if arg is None or not isinstance(arg.value, cst.Name):
            return
        function = self._module_function(arg.value.value)
        if function is None:
            return
        params = {p.name.value for p in function.params.params}
        local = _assigned_locally(function)
        for call in self._seeding_calls(function):
            positional = calls.positional(call)
            if len(call.args) != 1 or not positional:
                continue
            seed = positional[0].value
            if _has_call(seed) or (set(_names(seed)) & local) - params:
                continue
            self.report(call)

    def _module_function(self, name: str) -> cst.FunctionDef | None:
        """The one module-level ``def name`` of this file (None if rebound or absent)."""
        found = [
            s
            for s in self.context.module.body
            if isinstance(s, cst.FunctionDef) and s.name.value == name
        ]
        bindings = self.context.module_scope.binds(name)
        return found[0] if len(found) == 1 and bindings is not None and len(bindings) == 1 else None

    def _seeding_calls(self, function: cst.FunctionDef) -> list[cst.Call]:
        found: list[cst.Call] = []
        stack: list[cst.CSTNode] = [function.body]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                continue
            if isinstance(node, cst.Call) and self._qualified_in(node.func, function):
                found.append(node)
            stack.extend(iter_children(node))
        return found

    def _qualified_in(self, func: cst.BaseExpression, function: cst.FunctionDef) -> bool:
        if not (isinstance(func, cst.Attribute) and func.attr.value == "seed"):
            return False
        return self.context.module_scope.qualified_name(func) in SEEDING
