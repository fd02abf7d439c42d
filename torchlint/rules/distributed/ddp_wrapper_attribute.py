"""TL909 ddp-wrapper-attribute."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from torchlint.analysis.attributes import WRAPPER_ATTRIBUTES
from torchlint.analysis.distributed import is_wrapper_call
from torchlint.names import Scope, dotted_name, iter_children
from torchlint.rules.base import Invalid, Rule, Valid

_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _store_targets(statement: cst.CSTNode) -> list[cst.BaseExpression]:
    """The expressions a simple statement assigns to (or deletes)."""
    if isinstance(statement, cst.Assign):
        return [t.target for t in statement.targets]
    if isinstance(statement, (cst.AnnAssign, cst.AugAssign)):
        return [statement.target]
    if isinstance(statement, cst.Del):
        return [statement.target]
    return []


def _names_in(target: cst.CSTNode) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _names_in(e.value)]
    if isinstance(target, cst.StarredElement):
        return _names_in(target.value)
    return []


def _type_tested(body: Sequence[cst.CSTNode]) -> set[str]:
    """Names the code asks about (``hasattr(model, "module")``, ``isinstance(model, DDP)``,
    ``getattr(model, ...)``): it knows the name may hold a wrapper and branches on it."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = list(body)
    while stack:
        current = stack.pop()
        if (
            isinstance(current, cst.Call)
            and isinstance(current.func, cst.Name)
            and current.func.value in ("hasattr", "isinstance", "getattr")
            and current.args
            and isinstance(current.args[0].value, cst.Name)
        ):
            found.add(current.args[0].value.value)
        stack.extend(iter_children(current))
    return found


class DdpWrapperAttribute(Rule):
    """
    ## What it does
    Reports `model.<name>` where `model` holds a `DistributedDataParallel` or
    `DataParallel` wrapper (the last assignment to it before the read, in the same function,
    is `model = DDP(model, ...)`, also under `if args.distributed:`; or every assignment to
    `self.model` in the class wraps) and `<name>` is an attribute neither `nn.Module` nor the
    wrapper has: a layer, a hyper-parameter or a method of the model (`model.stride`,
    `model.fc`, `model.generate(...)`).

    ## Why is this bad?
    The wrapper is a new module whose only submodule is `module`; `nn.Module.__getattr__`
    looks in the wrapper's own parameters, buffers and submodules, so reading the model's
    attributes through it raises `AttributeError: 'DistributedDataParallel' object has no
    attribute 'stride'`. The code works on one GPU (no wrapper) and fails as soon as it runs
    distributed. Read them from `model.module` (or keep a reference to the bare model,
    `model_without_ddp = model.module`).

    Not reported: private names (`model._foo`), attributes the function assigns on the
    wrapper itself (`model.stride = 4` then `model.stride`), names the function tests with
    `hasattr` / `isinstance` / `getattr` (it branches on what the name holds, as diffusers'
    fix `dtype = m.module.dtype if hasattr(m, "module") else m.dtype` does), wrappers made by another
    function or a subclass of the wrapper (which may forward attributes), and
    `FullyShardedDataParallel` / `torch.compile` results, which forward unknown attributes
    to the wrapped model. An attribute that a newer torch adds to `nn.Module` or the wrappers
    may be missing from torchlint's list (torch 2.13's names), which errs towards reporting
    it; none is known.

    Opt-in (`extend-select = ["TL909"]`) until the held-out measurement: on the 22
    tuning projects and the installed torch sources it reports nothing, so no real-code
    evidence backs it yet.

    ## Example
    ```python
    model = DistributedDataParallel(model, device_ids=[rank])
    for images, targets in loader:
        loss = criterion(model(images), targets, stride=model.stride)
    ```

    ## Use instead
    ```python
    model = DistributedDataParallel(model, device_ids=[rank])
    model_without_ddp = model.module
    for images, targets in loader:
        loss = criterion(model(images), targets, stride=model_without_ddp.stride)
    ```

    ## Fix safety
    No fix: where the wrapping is conditional, `model.module` would fail on the path that
    does not wrap; the bare model has to be kept where the wrapper is made.


    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html#saving-torch-nn-dataparallel-models
    """

    code = "TL909"
    name = "ddp-wrapper-attribute"
    summary = (
        "Attribute read from a `DistributedDataParallel`/`DataParallel` wrapper that only the "
        "wrapped model has: `AttributeError`; read it from `.module`"
    )
    applies_to_tests = False
    default = False
    requires = ("DataParallel",)
    examples = (
        Invalid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def train(rank, model, loader):
                model = DDP(model, device_ids=[rank])
                for images, targets in loader:
                    loss = criterion(model(images), targets, stride=model.stride)
            """
        ),
        Invalid(
            """
            import torch.nn as nn
            def main(args):
                model = build_model(args)
                if args.gpus > 1:
                    model = nn.DataParallel(model)
                optimizer = make_optimizer(model.backbone.parameters(), model.head_lr)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            class Trainer:
                def __init__(self, net):
                    self.net = torch.nn.parallel.DistributedDataParallel(net)
                def sample(self, n):
                    return self.net.generate(n)
            """
        ),
        Valid(
            """
            import torch
            from torch.nn.parallel import DistributedDataParallel as DDP
            def train(rank, model, loader):
                model = DDP(model, device_ids=[rank])
                model_without_ddp = model.module
                print(model.module.stride, model_without_ddp.stride)
                model.train()
                params = model.parameters()
                with model.no_sync():
                    model(loader)
                torch.save(model.module.state_dict(), "m.pt")
            """
        ),
        Valid(
            """
            import torch.nn as nn
            def main(model, distributed):
                if distributed:
                    model = nn.DataParallel(model)
                else:
                    print(model.stride)
                model = model.module if distributed else model
                print(model.stride)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            def main(model):
                print(model.stride)
                model = nn.DataParallel(model)
                model.stride = 4
                print(model.stride, model._private)
            """
        ),
        Valid(
            """
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            import torch
            def main(model):
                model = FSDP(model)
                compiled = torch.compile(model)
                print(model.stride, compiled.stride)
            """
        ),
        Valid(
            """
            import torch
            def encode(text_encoder, ids, distributed):
                if distributed:
                    text_encoder = torch.nn.parallel.DistributedDataParallel(text_encoder)
                embeds = text_encoder(ids)[0]
                if hasattr(text_encoder, "module"):
                    dtype = text_encoder.module.dtype
                else:
                    dtype = text_encoder.dtype
                return embeds.to(dtype=dtype)
            """
        ),
        Valid(
            """
            class DataParallel:
                pass
            def main(model):
                model = DataParallel(model)
                print(model.stride)
            """
        ),
        Valid(
            """
            import torch
            class Trainer:
                def __init__(self, net, distributed):
                    self.net = net
                    if distributed:
                        self.net = torch.nn.parallel.DistributedDataParallel(net)
                def sample(self, n):
                    return self.net.generate(n)
            """
        ),
    )

    def visit_Module(self, node: cst.Module) -> None:
        self._tested = _type_tested(node.body)
        self._block(node.body, {}, self.context.scope, self._assigned_attributes(node.body))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        scope = Scope(node, self.context.scope)  # the function's own imports count
        self._tested = _type_tested(body)
        self._block(body, {}, scope, self._assigned_attributes(body))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        wrapped = self._wrapped_self_attributes(node)
        if not wrapped:
            return
        assigned = self._assigned_attributes(node.body.body)
        stack: list[cst.CSTNode] = [node.body]
        while stack:
            current = stack.pop()
            if isinstance(current, cst.ClassDef):
                continue
            if (
                isinstance(current, cst.Attribute)
                and isinstance(current.value, cst.Attribute)
                and dotted_name(current.value) in wrapped
            ):
                self._check_read(current, assigned)
            stack.extend(iter_children(current))

    # -- locals ---------------------------------------------------------------------------

    def _block(
        self,
        statements: Sequence[cst.CSTNode],
        state: dict[str, bool],
        scope: Scope,
        assigned: set[str],
    ) -> dict[str, bool]:
        """Walk a block in source order; ``state``: does the name hold a wrapper now."""
        for statement in statements:
            if isinstance(statement, _NESTED):
                continue
            if isinstance(statement, cst.If):
                self._reads(statement.test, state, assigned)
                taken = self._block(statement.body.body, dict(state), scope, assigned)
                other = dict(state)
                if statement.orelse is not None:
                    orelse = statement.orelse
                    branch = [orelse] if isinstance(orelse, cst.If) else orelse.body.body
                    other = self._block(branch, other, scope, assigned)
                state = {n: taken.get(n, False) or other.get(n, False) for n in {*taken, *other}}
            elif isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    self._simple(small, state, scope, assigned)
            elif isinstance(statement, (cst.For, cst.While, cst.With, cst.Try, cst.TryStar)):
                if isinstance(statement, cst.For):
                    self._reads(statement.iter, state, assigned)
                    for name in _names_in(statement.target):
                        state[name] = False
                elif isinstance(statement, cst.While):
                    self._reads(statement.test, state, assigned)
                elif isinstance(statement, cst.With):
                    for item in statement.items:
                        self._reads(item.item, state, assigned)
                        if item.asname is not None:
                            for name in _names_in(item.asname.name):
                                state[name] = False
                inner = statement.body.body if isinstance(statement.body, cst.IndentedBlock) else ()
                state = self._block(inner, state, scope, assigned)
                for part in self._other_blocks(statement):
                    state = self._block(part, state, scope, assigned)
            elif isinstance(statement, cst.Match):
                return state  # rare in training code: stop following names
        return state

    @staticmethod
    def _other_blocks(statement: cst.CSTNode) -> list[Sequence[cst.CSTNode]]:
        blocks: list[Sequence[cst.CSTNode]] = []
        for handler in getattr(statement, "handlers", ()):
            blocks.append(handler.body.body)
        for name in ("orelse", "finalbody"):
            part = getattr(statement, name, None)
            if part is not None and isinstance(part.body, cst.IndentedBlock):
                blocks.append(part.body.body)
        return blocks

    def _simple(
        self, small: cst.CSTNode, state: dict[str, bool], scope: Scope, assigned: set[str]
    ) -> None:
        if isinstance(small, (cst.Assign, cst.AnnAssign)):
            value = small.value
            if value is not None:
                self._reads(value, state, assigned)
            for target in _store_targets(small):
                for name in _names_in(target):
                    state[name] = (
                        isinstance(target, cst.Name)
                        and value is not None
                        and is_wrapper_call(value, scope)
                    )
        else:
            self._reads(small, state, assigned)

    def _reads(self, expr: cst.CSTNode, state: dict[str, bool], assigned: set[str]) -> None:
        if not any(state.values()):
            return
        stack = [expr]
        while stack:
            current = stack.pop()
            if isinstance(current, _NESTED):
                continue
            if (
                isinstance(current, cst.Attribute)
                and isinstance(current.value, cst.Name)
                and state.get(current.value.value)
                and current.value.value not in self._tested
            ):
                self._check_read(current, assigned)
            stack.extend(iter_children(current))

    def _check_read(self, node: cst.Attribute, assigned: set[str]) -> None:
        attribute = node.attr.value
        if attribute.startswith("_") or attribute in WRAPPER_ATTRIBUTES:
            return
        owner = dotted_name(node.value)
        if owner is None or f"{owner}.{attribute}" in assigned:
            return
        self.report(
            node,
            f"`{owner}` is a `DistributedDataParallel`/`DataParallel` wrapper here: "
            f"`{owner}.{attribute}` raises `AttributeError`; read it from `{owner}.module`",
        )

    @staticmethod
    def _assigned_attributes(body: Sequence[cst.CSTNode]) -> set[str]:
        """``model.stride`` for every ``model.stride = ...`` (or ``del``) in the body."""
        found: set[str] = set()
        stack: list[cst.CSTNode] = list(body)
        while stack:
            current = stack.pop()
            if isinstance(current, (cst.ClassDef, cst.Lambda)):
                continue
            for target in _store_targets(current):
                name = dotted_name(target) if isinstance(target, cst.Attribute) else None
                if name is not None:
                    found.add(name)
            stack.extend(iter_children(current))
        return found

    # -- self attributes ------------------------------------------------------------------

    def _wrapped_self_attributes(self, node: cst.ClassDef) -> set[str]:
        """``self.net`` when every assignment to it in the class's methods is a wrapper."""
        values: dict[str, list[bool]] = {}
        stack: list[cst.CSTNode] = [node.body]
        while stack:
            current = stack.pop()
            if isinstance(current, (cst.ClassDef, cst.Lambda)) and current is not node:
                continue
            for target in _store_targets(current):
                name = dotted_name(target) if isinstance(target, cst.Attribute) else None
                if name is not None and name.startswith("self.") and name.count(".") == 1:
                    value = getattr(current, "value", None)
                    wraps = (
                        isinstance(current, cst.Assign)
                        and value is not None
                        and is_wrapper_call(value, self.context.scope)
                    )
                    values.setdefault(name, []).append(wraps)
            stack.extend(iter_children(current))
        assigned_in_class = set()
        for name, wraps in values.items():
            if all(wraps):
                assigned_in_class.add(name)
        return assigned_in_class
