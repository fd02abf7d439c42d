"""TL906 ddp-wrapper-state-dict."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import TORCH_SAVE
from torchlint.analysis.devices import last_name
from torchlint.analysis.distributed import Site, dist_facts, wrapper_name
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, inner_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.vocabulary import MODULE_WRAPPERS

SAVED_OBJECT_INDEX = 0


class DdpWrapperStateDict(Rule):
    """
    ## What it does
    Reports `torch.save` of the `state_dict()` of a `DistributedDataParallel` or
    `DataParallel` wrapper (the model after `model = DDP(model)`), also inside a dict
    (`torch.save({"model": ddp_model.state_dict()}, path)`).

    ## Why is this bad?
    The wrapper holds the model as its `module` attribute, so every key of its `state_dict`
    starts with `module.`. Loading the file into the bare model (for evaluation, inference,
    fine-tuning, or a single-GPU resume) fails with "Missing key(s) ... Unexpected key(s)
    module.conv1.weight", and with `strict=False` it silently loads nothing and the model
    keeps its random weights. Save the wrapped model's `module` instead: the keys are then
    the model's own, whatever wraps it when the file is read.

    The rule follows the name within the function: it reports when the last assignment
    before the save wraps the model (also under `if distributed:`), and not after
    `model = model.module`. A model wrapped by a helper of another file is not seen.

    ## Example
    ```python
    ddp_model = DistributedDataParallel(model, device_ids=[rank])
    ...
    torch.save(ddp_model.state_dict(), "checkpoint.pt")
    ```

    ## Use instead
    ```python
    torch.save(ddp_model.module.state_dict(), "checkpoint.pt")
    ```

    ## Fix safety
    Unsafe: the keys in the file change. Code that reads the checkpoint back into a wrapped
    model (`ddp_model.load_state_dict(...)`) then needs the bare model too
    (`ddp_model.module.load_state_dict(...)`), and old checkpoints keep their prefix.

    Opt-in (`extend-select = ["TL906"]`) since round 2026-12-08b: on every unseen label it
    matches it was right 1 of 3 times (strict labels, LABELLING.md). Where it was wrong: a
    project whose own loaders wrap the model before `load_state_dict`, so the `module.`
    prefix is its checkpoint format, and a save in the `else` of
    `isinstance(model, DataParallel)`. A save where such a test (`isinstance(model,
    DataParallel)`, `hasattr(model, "module")`) says the model is not wrapped is no longer
    reported.

    ## References
    - https://pytorch.org/tutorials/intermediate/ddp_tutorial.html#save-and-load-checkpoints
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html#saving-torch-nn-dataparallel-models
    """

    code = "TL906"
    name = "ddp-wrapper-state-dict"
    summary = (
        "`state_dict()` of a `DistributedDataParallel`/`DataParallel` wrapper is saved: "
        "every key gets a `module.` prefix"
    )
    applies_to_tests = False
    default = False
    fix_applicability = Applicability.UNSAFE
    requires = ("DataParallel",)
    examples = (
        Invalid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def train(rank, model):
                ddp_model = DDP(model, device_ids=[rank])
                torch.save(ddp_model.state_dict(), "checkpoint.pt")
            """,
            fixed="""
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def train(rank, model):
                ddp_model = DDP(model, device_ids=[rank])
                torch.save(ddp_model.module.state_dict(), "checkpoint.pt")
            """,
        ),
        Invalid(
            """
            import torch
            from model import Net, train
            def main(args):
                model = Net()
                if args.distributed:
                    model = torch.nn.parallel.DistributedDataParallel(model)
                for epoch in range(10):
                    train(model)
                    torch.save({"epoch": epoch, "model": model.state_dict()}, "last.pt")
            """,
            fixed="""
            import torch
            from model import Net, train
            def main(args):
                model = Net()
                if args.distributed:
                    model = torch.nn.parallel.DistributedDataParallel(model)
                for epoch in range(10):
                    train(model)
                    torch.save({"epoch": epoch, "model": model.module.state_dict()}, "last.pt")
            """,
        ),
        Invalid(
            """
            import torch.nn as nn
            from torch import save
            class Trainer:
                def __init__(self, net):
                    self.net = nn.DataParallel(net)
                def checkpoint(self, path):
                    save(self.net.state_dict(), path)
            """,
            fixed="""
            import torch.nn as nn
            from torch import save
            class Trainer:
                def __init__(self, net):
                    self.net = nn.DataParallel(net)
                def checkpoint(self, path):
                    save(self.net.module.state_dict(), path)
            """,
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def train(rank, model):
                ddp_model = DDP(model, device_ids=[rank])
                model_without_ddp = ddp_model.module
                torch.save(model_without_ddp.state_dict(), "checkpoint.pt")
                torch.save(ddp_model.module.state_dict(), "again.pt")
            """
        ),
        Valid(
            """
            import torch
            def main(model):
                model = torch.nn.parallel.DistributedDataParallel(model)
                model = model.module
                torch.save(model.state_dict(), "checkpoint.pt")
            """
        ),
        Valid(
            """
            import torch
            from helpers import wrap
            def main(model):
                model = wrap(model)
                torch.save(model.state_dict(), "checkpoint.pt")
            """
        ),
        Valid(
            """
            import torch
            class DataParallel:
                pass
            def main(model):
                model = DataParallel(model)
                torch.save(model.state_dict(), "checkpoint.pt")
            """
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def main(model):
                torch.save(model.state_dict(), "before.pt")
                model = DDP(model)
            """
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def save(model, path, wrap):
                model = DDP(model)
                if isinstance(model, (torch.nn.DataParallel, DDP)):
                    torch.save(model.module.state_dict(), path)
                else:
                    torch.save(model.state_dict(), path)
                if not hasattr(model, "module"):
                    torch.save(model.state_dict(), path)
            """
        ),
        Invalid(
            """
            import torch
            def save(model, path):
                model = torch.nn.DataParallel(model)
                if isinstance(model, torch.nn.DataParallel):
                    torch.save(model.state_dict(), path)
            """,
            fixed="""
            import torch
            def save(model, path):
                model = torch.nn.DataParallel(model)
                if isinstance(model, torch.nn.DataParallel):
                    torch.save(model.module.state_dict(), path)
            """,
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        last = last_name(func)
        if last is None or "save" not in last:
            return
        if self.qualified_name(func) not in TORCH_SAVE:
            return
        saved = calls.argument(node, "obj", SAVED_OBJECT_INDEX)
        if saved is None:
            return
        facts = dist_facts(self.context)
        site = facts.by_node.get(id(node))
        if site is None:
            return
        edits = [
            Replace(receiver, cst.Attribute(value=receiver, attr=cst.Name("module")))
            for receiver in self._wrapper_state_dicts(saved.value, site)
        ]
        if edits:
            self.report(
                node,
                fix=self.fix(
                    Applicability.UNSAFE,
                    "Save the wrapped model's `module.state_dict()`",
                    *edits,
                ),
            )

    def _wrapper_state_dicts(
        self, saved: cst.BaseExpression, site: Site
    ) -> list[cst.BaseExpression]:
        """The receivers ``x`` of the ``x.state_dict()`` calls in the saved object that are
        DDP/DataParallel wrappers."""
        found: list[cst.BaseExpression] = []
        stack: list[cst.CSTNode] = [saved]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.Lambda, cst.FunctionDef)):
                continue
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "state_dict"
                and not node.args
            ):
                receiver = node.func.value
                name = dotted_name(receiver)
                if (
                    name is not None
                    and wrapper_name(dist_facts(self.context), site, name)
                    and not _tested_unwrapped(site, name)
                ):
                    found.append(receiver)
                    continue
            stack.extend(inner_children(node))
        return found


def _tested_unwrapped(site: Site, name: str) -> bool:
    """The save runs where a test says ``name`` is not a wrapper: the ``else`` of
    ``if isinstance(name, DataParallel)`` or ``if hasattr(name, "module")``, or the body of
    their negation (the other branch saves ``name.module``)."""
    chain = (*site.ancestors, site.node)
    for index, node in enumerate(chain[:-1]):
        if not isinstance(node, cst.If):
            continue
        inner = chain[index + 1]
        test, negated = node.test, False
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, negated = test.expression, True
        if not _asks_wrapped(test, name, site):
            continue
        if (inner is node.orelse) != negated:
            return True
    return False


def _asks_wrapped(test: cst.BaseExpression, name: str, site: Site) -> bool:
    """``isinstance(name, <...DataParallel...>)`` or ``hasattr(name, "module")``."""
    if not isinstance(test, cst.Call) or not isinstance(test.func, cst.Name) or len(test.args) != 2:
        return False
    subject, kind = test.args[0].value, test.args[1].value
    if dotted_name(subject) != name:
        return False
    if test.func.value == "hasattr":
        return isinstance(kind, cst.SimpleString) and kind.evaluated_value == "module"
    if test.func.value != "isinstance":
        return False
    kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    return any(
        (site.scope.qualified_name(k) or last_name(k) or "").rsplit(".", 1)[-1] in MODULE_WRAPPERS
        for k in kinds
    )
