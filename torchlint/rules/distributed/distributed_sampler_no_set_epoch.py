"""TL901 distributed-sampler-no-set-epoch."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import DATALOADER
from torchlint.analysis.distributed import DistFacts, Site, bindings_of, dist_facts, iterated
from torchlint.analysis.flow import evaluation_named
from torchlint.diagnostics import Applicability
from torchlint.names import Scope, dotted_name, inner_children
from torchlint.rules.base import InsertLine, Invalid, Rule, Valid
from torchlint.vocabulary import DISTRIBUTED_SAMPLER

SAMPLER_SHUFFLE_INDEX = 3
LOADER_SAMPLER_INDEX = 3


def _shuffling_sampler(expr: cst.BaseExpression, scope: Scope) -> bool:
    """``DistributedSampler(...)`` that shuffles (its default)."""
    if not isinstance(expr, cst.Call) or scope.qualified_name(expr.func) not in DISTRIBUTED_SAMPLER:
        return False
    if calls.has_star_args(expr):
        return False
    shuffle = calls.argument(expr, "shuffle", SAMPLER_SHUFFLE_INDEX)
    return shuffle is None or calls.is_true(shuffle.value)


class DistributedSamplerNoSetEpoch(Rule):
    """
    ## What it does
    Reports an epoch loop that iterates a `DataLoader` fed by a shuffling
    `DistributedSampler` and never calls `set_epoch(...)` (on the sampler, `loader.sampler`
    or anything else) in the loop.

    ## Why is this bad?
    `DistributedSampler` shuffles with a generator seeded by `seed + epoch`, and the epoch
    only changes through `sampler.set_epoch(epoch)`. Without it every epoch sees exactly the
    same order, on every rank: the shuffling the run asked for is gone, which costs accuracy
    and is hard to notice (nothing fails, the loss just goes down less).

    The rule reads one function: the sampler and the loader are built there (a sampler that
    may be `None`, `DistributedSampler(ds) if distributed else None`, counts), and the loader is
    iterated in a loop nested in another loop, directly or by a same-file function it is
    passed to. Evaluation data (a loader or sampler named `val`/`test`/`eval`, a helper
    named `evaluate`/`validate`/...) is not reported: its order does not matter. Any
    `set_epoch` in the epoch loop, the loader or sampler handed to another
    call in it (a callback may set the epoch), or a loader rebound to what
    `accelerator.prepare` returns (which sets the epoch itself) is not reported. A sampler
    from `**kwargs` or from another file is not seen.

    ## Example
    ```python
    sampler = DistributedSampler(train_set)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        for x, y in loader:
            train_step(x, y)
    ```

    ## Use instead
    ```python
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            train_step(x, y)
    ```

    ## Fix safety
    Unsafe: the order of the samples changes from epoch to epoch, which is the intent but
    changes the numbers of a run. The fix inserts `sampler.set_epoch(<loop variable>)` first in
    the epoch loop (guarded by `if sampler is not None:` when the sampler may be `None`);
    there is no fix when the loop variable is not a plain name.

    ## References
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.distributed.DistributedSampler
    """

    code = "TL901"
    name = "distributed-sampler-no-set-epoch"
    summary = "`DistributedSampler` without `set_epoch()` in the epoch loop: every epoch has the same order"
    applies_to_tests = False
    default = True
    fix_applicability = Applicability.UNSAFE
    requires = ("DistributedSampler",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs):
                sampler = DistributedSampler(train_set)
                loader = DataLoader(train_set, batch_size=64, sampler=sampler)
                for epoch in range(epochs):
                    for x, y in loader:
                        train_step(x, y)
            """,
            fixed="""
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs):
                sampler = DistributedSampler(train_set)
                loader = DataLoader(train_set, batch_size=64, sampler=sampler)
                for epoch in range(epochs):
                    sampler.set_epoch(epoch)
                    for x, y in loader:
                        train_step(x, y)
            """,
        ),
        Invalid(
            """
            import torch
            def train_one_epoch(model, data_loader):
                for i, batch in enumerate(data_loader):
                    model(batch).sum().backward()
            def main(args, dataset, model):
                sampler = torch.utils.data.distributed.DistributedSampler(dataset) if args.distributed else None
                loader = torch.utils.data.DataLoader(dataset, sampler=sampler)
                for epoch in range(args.start_epoch, args.epochs):
                    train_one_epoch(model, loader)
            """,
            fixed="""
            import torch
            def train_one_epoch(model, data_loader):
                for i, batch in enumerate(data_loader):
                    model(batch).sum().backward()
            def main(args, dataset, model):
                sampler = torch.utils.data.distributed.DistributedSampler(dataset) if args.distributed else None
                loader = torch.utils.data.DataLoader(dataset, sampler=sampler)
                for epoch in range(args.start_epoch, args.epochs):
                    if sampler is not None:
                        sampler.set_epoch(epoch)
                    train_one_epoch(model, loader)
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torch.utils.data.distributed import DistributedSampler
            def main(ds):
                loader = DataLoader(ds, sampler=DistributedSampler(ds, shuffle=True))
                for _ in range(10):
                    for batch in loader:
                        step(batch)
            """,
            fixed=None,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs):
                loader = DataLoader(train_set, sampler=DistributedSampler(train_set))
                for epoch in range(epochs):
                    loader.sampler.set_epoch(epoch)
                    for x, y in loader:
                        train_step(x, y)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def evaluate(model, loader):
                for x, y in loader:
                    model(x)
            def main(model, val_set, test_set, other_set, epochs):
                sampler = DistributedSampler(val_set)
                val_loader = DataLoader(val_set, sampler=sampler)
                test_sampler = DistributedSampler(test_set)
                loader = DataLoader(test_set, sampler=test_sampler)
                other = DataLoader(other_set, sampler=DistributedSampler(other_set))
                for epoch in range(epochs):
                    for x, y in val_loader:
                        model(x)
                    for x, y in loader:
                        model(x)
                    evaluate(model, other)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs, callbacks):
                sampler = DistributedSampler(train_set)
                loader = DataLoader(train_set, sampler=sampler)
                for epoch in range(epochs):
                    callbacks.on_epoch_start(epoch, sampler)
                    for x, y in loader:
                        train_step(x, y)
            """
        ),
        Valid(
            """
            from accelerate import Accelerator
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs):
                accelerator = Accelerator()
                loader = DataLoader(train_set, sampler=DistributedSampler(train_set))
                model, loader = accelerator.prepare(model, loader)
                for epoch in range(epochs):
                    for x, y in loader:
                        train_step(x, y)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, epochs):
                sampler = DistributedSampler(train_set, shuffle=False)
                loader = DataLoader(train_set, sampler=sampler)
                for epoch in range(epochs):
                    for x, y in loader:
                        evaluate(x, y)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, **kwargs):
                loader = DataLoader(train_set, **kwargs)
                for epoch in range(10):
                    for x, y in loader:
                        train_step(x, y)
                sampler = DistributedSampler(train_set)
                once = DataLoader(train_set, sampler=sampler)
                for x, y in once:
                    train_step(x, y)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def main(train_set, privacy_engine):
                loader = DataLoader(train_set, sampler=DistributedSampler(train_set))
                model, loader = privacy_engine.make_private(model, loader)
                for epoch in range(10):
                    for batch in loader:
                        train_step(batch)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            def train_one_epoch(data_loader, epoch):
                data_loader.sampler.set_epoch(epoch)
                for batch in data_loader:
                    step(batch)
            def main(ds):
                loader = DataLoader(ds, sampler=DistributedSampler(ds))
                for epoch in range(10):
                    train_one_epoch(loader, epoch)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            from engine import train_one_epoch
            def main(train_set):
                sampler = DistributedSampler(train_set)
                loader = DataLoader(train_set, sampler=sampler)
                for epoch in range(10):
                    train_one_epoch(loader, epoch)
            """
        ),
    )

    def visit_For(self, node: cst.For) -> None:
        if not isinstance(node.body, cst.IndentedBlock):
            return
        facts = dist_facts(self.context)
        found = self._unset_loader(facts, node)
        if found is None:
            return
        sampler, optional, loader = found
        self.report(node, fix=self._set_epoch(node, sampler, optional, loader))

    def _unset_loader(self, facts: DistFacts, loop: cst.For) -> tuple[str | None, bool, str] | None:
        """(sampler name, may be None, loader name) of a loader with a shuffling distributed
        sampler that this loop iterates each time round without ``set_epoch``."""
        sites = _sites_in(facts, loop)
        function = next(
            (n for n in reversed(self.context.ancestors) if isinstance(n, cst.FunctionDef)),
            self.context.module,
        )
        if any(s.method() == "set_epoch" for s in sites):
            return None
        for inner in _inner_loops(loop):
            name = dotted_name(iterated(inner.iter))
            if name is not None:
                found = self._loader(facts, function, name)
                if found is not None and not self._handed_on(sites, found):
                    return found
        for site in sites:
            callee = _same_file(facts, site)
            if callee is None or evaluation_named(callee.name.value):
                continue  # the order of evaluation batches does not matter
            for position, arg in enumerate(site.node.args):
                name = dotted_name(arg.value)
                if name is None or arg.star:
                    continue
                found = self._loader(facts, function, name)
                if found is None or not _iterates_parameter(callee, arg, position):
                    continue
                if not self._handed_on([s for s in sites if s is not site], found):
                    return found
        return None

    def _loader(
        self, facts: DistFacts, function: cst.CSTNode, name: str
    ) -> tuple[str | None, bool, str] | None:
        values = bindings_of(facts, name, function)
        if len(values) != 1 or "." in name or _evaluation(name):
            return None
        targets = values[0].scope.binds(name)
        if targets is None or len(targets) != 1:
            return None  # also bound by a loop, a tuple assignment, a parameter...
        loader = values[0].value
        if not isinstance(loader, cst.Call) or calls.has_star_args(loader):
            return None
        if values[0].scope.qualified_name(loader.func) not in DATALOADER:
            return None
        sampler = calls.argument(loader, "sampler", LOADER_SAMPLER_INDEX)
        if sampler is None:
            return None
        if _shuffling_sampler(sampler.value, values[0].scope):
            return None, False, name
        sampler_name = dotted_name(sampler.value)
        if sampler_name is None or "." in sampler_name or _evaluation(sampler_name):
            return None
        built = bindings_of(facts, sampler_name, function)
        if len(built) != 1:
            return None
        value = built[0].value
        if _shuffling_sampler(value, built[0].scope):
            return sampler_name, False, name
        if isinstance(value, cst.IfExp):
            branches = (value.body, value.orelse)
            if any(_shuffling_sampler(b, built[0].scope) for b in branches) and any(
                isinstance(b, cst.Name) and b.value == "None" for b in branches
            ):
                return sampler_name, True, name
        return None

    def _handed_on(self, sites: list[Site], found: tuple[str | None, bool, str]) -> bool:
        """Is the sampler, or the loader to something else than a same-file iterating
        function, passed to a call in the loop (which may set the epoch)?"""
        sampler, _, loader = found
        for site in sites:
            for arg in site.node.args:
                text = dotted_name(arg.value)
                if text is not None and text == sampler:
                    return True
                wrapper = (dotted_name(site.node.func) or "").rsplit(".", 1)[-1]
                if (
                    text == loader
                    and _same_file(dist_facts(self.context), site) is None
                    and wrapper not in ("enumerate", "tqdm", "iter")
                ):
                    return True
        return False

    def _set_epoch(self, loop: cst.For, sampler: str | None, optional: bool, loader: str):
        if not isinstance(loop.target, cst.Name) or loop.target.value == "_":
            return None
        if sampler is None:
            return None  # `loader.sampler` would need the name to be a DataLoader at fix time
        epoch = loop.target.value
        text = f"{sampler}.set_epoch({epoch})"
        if optional:
            text = f"if {sampler} is not None:\n{self.context.module.default_indent}{text}"
        first = loop.body.body[0]  # type: ignore[union-attr]
        return self.fix(
            Applicability.UNSAFE,
            f"Call `{sampler}.set_epoch({epoch})` first in the epoch loop",
            InsertLine(first, text),
        )


def _evaluation(name: str) -> bool:
    """``val_loader``, ``test_sampler``: data for evaluation, whose order does not matter."""
    lowered = name.lower()
    return any(word in lowered for word in ("val", "test", "eval"))


def _sites_in(facts: DistFacts, loop: cst.For) -> list[Site]:
    """The calls inside the loop (same function)."""
    return facts.by_loop.get(id(loop), [])


def _inner_loops(loop: cst.For) -> list[cst.For]:
    """The ``for`` loops whose nearest enclosing loop is ``loop``."""
    found: list[cst.For] = []
    stack: list[cst.CSTNode] = [loop.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.For):
            found.append(node)
            continue
        if isinstance(node, cst.While):
            continue
        stack.extend(inner_children(node))
    return found


def _same_file(facts: DistFacts, site: Site) -> cst.FunctionDef | None:
    func = site.node.func
    if isinstance(func, cst.Name):
        targets = site.scope.binds(func.value)
        if targets is not None and len(targets) == 1:
            return facts.functions.get(func.value)
    return None


def _iterates_parameter(callee: cst.FunctionDef, arg: cst.Arg, position: int) -> bool:
    """Does the function loop over the parameter ``arg`` lands in, with no ``set_epoch``?"""
    params = callee.params.params
    if arg.keyword is not None:
        param = arg.keyword.value
    elif position < len(params):
        param = params[position].name.value
    else:
        return False
    for inner in _inner_loops_of(callee):
        if dotted_name(iterated(inner.iter)) == param:
            return not _mentions_set_epoch(callee)
    return False


def _inner_loops_of(function: cst.FunctionDef) -> list[cst.For]:
    found: list[cst.For] = []
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.For):
            found.append(node)
        stack.extend(inner_children(node))
    return found


def _mentions_set_epoch(function: cst.FunctionDef) -> bool:
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Attribute) and node.attr.value == "set_epoch":
            return True
        stack.extend(node.children)
    return False
