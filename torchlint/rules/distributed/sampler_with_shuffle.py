"""TL908 sampler-with-shuffle."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import DATALOADER, last_name
from torchlint.analysis.distributed import bindings_of, dist_facts
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, Replace, Rule, Valid

SHUFFLE_INDEX = 2
SAMPLER_INDEX = 3
BATCH_SAMPLER_INDEX = 4


class SamplerWithShuffle(Rule):
    """
    ## What it does
    Reports a `DataLoader` given both a sampler (`sampler=` or `batch_sampler=`) and
    `shuffle=True`.

    ## Why is this bad?
    The sampler decides the order; `shuffle=True` asks the loader to decide it too.
    `DataLoader` refuses the pair: it raises `ValueError: sampler option is mutually
    exclusive with shuffle` when the loader is built, so the run stops before its first
    batch (often only on the distributed path, where the `DistributedSampler` is passed, after
    the job has waited for its GPUs). A `DistributedSampler` shuffles on its own
    (`shuffle=True` is its default).

    The rule reports only a sampler that is surely there: a sampler built in the call, or a
    name every assignment of which (in the function) builds one. `sampler=None`, a name that
    may be `None` (`sampler = DistributedSampler(ds) if distributed else None`), a parameter,
    and `**kwargs` are not reported.

    ## Example
    ```python
    sampler = DistributedSampler(train_set)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler, shuffle=True)
    ```

    ## Use instead
    ```python
    sampler = DistributedSampler(train_set)  # shuffles; call sampler.set_epoch(epoch)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    ```

    ## Fix safety
    Safe: the call raised before, and without `shuffle=True` the sampler's own order is used,
    which is what passing a sampler asks for.

    ## References
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.distributed.DistributedSampler
    """

    code = "TL908"
    name = "sampler-with-shuffle"
    summary = "`DataLoader` with both a sampler and `shuffle=True` raises `ValueError`"
    applies_to_tests = False
    default = True
    fix_applicability = Applicability.SAFE
    requires = ("sampler", "Sampler")
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            sampler = DistributedSampler(train_set)
            loader = DataLoader(train_set, batch_size=64, sampler=sampler, shuffle=True)
            """,
            fixed="""
            from torch.utils.data import DataLoader, DistributedSampler
            sampler = DistributedSampler(train_set)
            loader = DataLoader(train_set, batch_size=64, sampler=sampler)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data.distributed import DistributedSampler as DS
            def build(ds):
                return torch.utils.data.DataLoader(
                    ds,
                    shuffle=True,
                    batch_sampler=torch.utils.data.BatchSampler(DS(ds), 32, False),
                )
            """,
            fixed="""
            import torch
            from torch.utils.data.distributed import DistributedSampler as DS
            def build(ds):
                return torch.utils.data.DataLoader(
                    ds,
                    batch_sampler=torch.utils.data.BatchSampler(DS(ds), 32, False),
                )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader, RandomSampler
            loader = DataLoader(ds, 32, True, RandomSampler(ds))
            """,
            fixed=None,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            sampler = DistributedSampler(train_set) if distributed else None
            loader = DataLoader(train_set, sampler=sampler, shuffle=True)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(ds, sampler=None):
                return DataLoader(ds, sampler=sampler, shuffle=True)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            sampler = DistributedSampler(train_set)
            loader = DataLoader(train_set, sampler=sampler, shuffle=sampler is None)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(ds, **kwargs):
                return DataLoader(ds, shuffle=True, **kwargs)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            loader = DataLoader(ds, sampler=None, shuffle=True)
            other = DataLoader(ds, sampler=DistributedSampler(ds), shuffle=False)
            """
        ),
        Valid(
            """
            from mylib import DataLoader, DistributedSampler
            loader = DataLoader(ds, sampler=DistributedSampler(ds), shuffle=True)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = last_name(func)
        if last is None or "Loader" not in last or calls.has_star_args(node):
            return
        if self.qualified_name(func) not in DATALOADER:
            return
        shuffle = calls.argument(node, "shuffle", SHUFFLE_INDEX)
        if shuffle is None or not calls.is_true(shuffle.value):
            return
        sampler = calls.argument(node, "sampler", SAMPLER_INDEX) or calls.argument(
            node, "batch_sampler", BATCH_SAMPLER_INDEX
        )
        if sampler is None or not self._surely_a_sampler(node, sampler.value):
            return
        fix = None
        if shuffle.keyword is not None:
            fix = self.fix(
                Applicability.SAFE,
                "Drop `shuffle=True`: the sampler decides the order",
                Replace(node, calls.remove_arg(node, shuffle)),
            )
        self.report(node, fix=fix)

    def _surely_a_sampler(self, call: cst.Call, value: cst.BaseExpression) -> bool:
        """A call that builds something (not None) here, or a name every assignment of which
        in this function does so."""
        if isinstance(value, cst.Call):
            return True
        name = dotted_name(value)
        if name is None:
            return False
        facts = dist_facts(self.context)
        site = facts.by_node.get(id(call))
        if site is None:
            return False
        values = [b.value for b in bindings_of(facts, name, site.function)]
        if not values or isinstance(value, cst.Attribute):
            return False
        targets = self.context.scope.binds(name)
        if targets is None or len(targets) != len(values):
            return False  # also a parameter, loop target or import
        return all(isinstance(v, cst.Call) for v in values)
