"""TL603 tensor-data-attribute."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.autograd import autograd_live
from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.names import SCOPE_TYPES
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid

PARAMETER_ATTRIBUTES = frozenset({"grad", "weight", "bias"})


# Trailing underscore, but they set a flag rather than change the data.
NOT_DATA_UPDATES = frozenset({"requires_grad_", "share_memory_"})

# What `.data` is read for when the value never meets autograd: metadata, or a copy out.
METADATA_ATTRIBUTES = frozenset(
    {"shape", "dtype", "device", "ndim", "is_cuda", "layout", "requires_grad", "is_leaf"}
)
VALUE_ONLY_METHODS = frozenset(
    {"size", "dim", "numel", "nelement", "element_size", "data_ptr", "get_device", "stride"}
    | {"is_contiguous", "numpy", "tolist", "item", "clone"}
)
# Methods a read passes through on its way to one of those (`.data.cpu().numpy()`).
PASS_THROUGH = frozenset(
    {"cpu", "float", "double", "half", "to", "detach", "contiguous", "view", "reshape"}
    | {"squeeze", "unsqueeze", "flatten", "t", "abs", "norm", "sum", "mean", "max", "min", "std"}
)


def _inplace_method(name: str) -> bool:
    """`add_`, `zero_`, `copy_`...: torch's naming convention for in-place methods."""
    return (
        name.endswith("_")
        and not name.startswith("_")
        and len(name) > 1
        and name not in NOT_DATA_UPDATES
    )


class TensorDataAttribute(Rule):
    """
    ## What it does
    Reports `.data` where it is plainly used on a parameter or gradient: on a loop
    variable over `.parameters()` / `.named_parameters()`, on `.grad`, `.weight` or `.bias`,
    or followed by an in-place method (`x.data.add_(...)`, `.zero_()`, `.copy_(...)`),
    where autograd is live. A bare `.data` elsewhere is not reported: many objects have a
    `data` attribute.

    Autograd is live in a function that runs a graph: it calls `.backward()`,
    `torch.autograd.grad(...)` or `.step()`, or it is an optimizer's `step` or a `closure`
    (top-level code: when the module's own statements do), outside `torch.no_grad()` /
    `inference_mode()` (a `with` block, a decorator, or a same-file decorator that wraps the
    call in one). So weight initialisation (`__init__`, `reset_parameters`, `init_weights`,
    a function passed to `.apply()`), checkpoint conversion and model surgery are not
    reported: there is no graph to corrupt. Nor are reads that never meet autograd
    (`p.data.shape`, `.device`, `.size()`, `p.data.cpu().numpy()`, `.item()`), nor
    `p.data = t`, which swaps in a whole tensor (a dtype cast, a load) while any graph keeps
    the old one. On real code these were nearly all of what the rule found.

    ## Why is this bad?
    `.data` gives a tensor that autograd does not track: changes made through it are
    invisible to the version counter, so a gradient computed from the old value is
    silently wrong instead of raising an error. `.detach()` shares storage too but is
    tracked, and in-place updates belong under `with torch.no_grad():`.

    ## Example
    ```python
    for p in model.parameters():
        p.data.add_(p.grad.data, alpha=-lr)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)
    ```

    ## Fix safety
    Display only: dropping `.data` changes what autograd sees and needs a
    `torch.no_grad()` block around the update, which depends on the surrounding code.
    The suggestion shows `.detach()` for reads and the update without `.data` for in-place
    changes.

    ## References
    - https://pytorch.org/blog/pytorch-0_4_0-migration-guide/#what-about-data
    - https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html
    """

    code = "TL603"
    name = "tensor-data-attribute"
    applies_to_tests = True
    summary = "`.data` bypasses autograd's checks: use `.detach()` or `torch.no_grad()`"
    fix_applicability = Applicability.DISPLAY
    requires = ("data",)
    examples = (
        Invalid(
            """
            loss.backward()
            for p in model.parameters():
                p.data.mul_(0.9)
            """
        ),
        Invalid(
            """
            loss.backward()
            w = layer.weight.data
            """
        ),
        Invalid(
            """
            for x in loader:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.data.zero_()
                loss_fn(model(x)).backward()
            """
        ),
        Invalid(
            """
            optimizer.step()
            ema.data.copy_(decay * ema + (1 - decay) * value)
            """
        ),
        Invalid(
            """
            def sgd(model, loss, lr):
                loss.backward()
                for name, p in model.named_parameters():
                    p.data -= lr * p.grad
            """
        ),
        Invalid(
            """
            loss.backward()
            norms = [p.data.norm() for p in net.parameters()]
            """
        ),
        Invalid(
            """
            def train_step(model, loss, lr):
                loss.backward()
                for p in model.parameters():
                    p.data.add_(p.grad.data, alpha=-lr)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            class SGD(torch.optim.Optimizer):
                def step(self, closure=None):
                    for group in self.param_groups:
                        for p in group["params"]:
                            p.data.add_(p.grad, alpha=-group["lr"])
            def train_closure():
                model.weight.data.clamp_(-1, 1)
                return loss_fn(model(x), y)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            with torch.enable_grad():
                loss.backward()
                for p in model.parameters():
                    p.data.clamp_(-1, 1)
            """
        ),
        Valid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(2, 2)
                    self.fc.weight.data.normal_(0, 0.02)
                def reset_parameters(self):
                    self.fc.weight.data.uniform_(-0.1, 0.1)
            def init_weights(m):
                m.weight.data.fill_(1.0)
            def load(model, checkpoint):
                model.fc.weight.data.copy_(checkpoint["fc.weight"])
            def train(model, optimizer, loss):
                model.apply(init_weights)
                loss.backward()
                optimizer.step()
            net = Net()
            net.fc.bias.data.zero_()
            """
        ),
        Valid(
            """
            import torch
            def train(model, optimizer, loss, ema):
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for p in model.parameters():
                        p.data.clamp_(-1, 1)
                ema_update(ema, model)
            @torch.no_grad()
            def ema_update(ema, model):
                for e, p in zip(ema.parameters(), model.parameters()):
                    e.data.mul_(0.99).add_(p.data, alpha=0.01)
                optimizer.step()
            """
        ),
        Valid(
            """
            def train(model, optimizer, loss):
                for param in model.parameters():
                    param.data = param.to(torch.float32)
                loss.backward()
                optimizer.step()
            """
        ),
        Valid(
            """
            import functools
            import torch
            def without_grad(fn):
                @functools.wraps(fn)
                def inner(*args):
                    with torch.no_grad():
                        return fn(*args)
                return inner
            @without_grad
            def swa_step(swa, model, optimizer):
                optimizer.step()
                swa.weight.data.copy_(model.weight)
            """
        ),
        Valid(
            """
            loss.backward()
            for name, p in model.named_parameters():
                log(name, p.data.shape, p.grad.data.cpu().numpy(), p.data.norm().item())
            device, dtype = self.to_q.weight.data.device, self.to_q.weight.data.dtype
            """
        ),
        Valid(
            """
            def test_training(model, optimizer, loader):
                for p in model.parameters():
                    p.data.zero_()
                token_embeds = model.embed.weight.data
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                for name, p in model.named_parameters():
                    print(f"{name}: {p.data}")
                    assert_close(p.grad.data, expected[name])
                    saved[name].copy_(p.data.cpu())
                    p.data = p.data.to(torch.float32)
            """
        ),
        Valid(
            """
            x = batch.data
            first = dataset.data[0]
            """
        ),
        Valid(
            """
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(0.9)
            """
        ),
        Valid(
            """
            for p in items:
                print(p.data.shape)
            """
        ),
        Valid(
            """
            self.data.append(x)
            response.data.update(extra)
            packed.data.requires_grad_(True)
            """
        ),
        Valid(
            """
            for p in model.parameters():
                def show(p):
                    return p.data
            """
        ),
    )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "data":
            return
        ancestors = self.context.ancestors
        parent = ancestors[-1] if ancestors else None
        inplace = (
            isinstance(parent, cst.Attribute)
            and parent.value is node
            and _inplace_method(parent.attr.value)
            and len(ancestors) > 1
            and isinstance(ancestors[-2], cst.Call)
            and ancestors[-2].func is parent
        )
        base = node.value
        if not (
            inplace
            or (isinstance(base, cst.Attribute) and base.attr.value in PARAMETER_ATTRIBUTES)
            or (isinstance(base, cst.Name) and self._parameter_loop_target(base.value))
        ):
            return
        if not inplace and _value_only(node, ancestors):
            return  # `p.data.shape`, `p.data.cpu().numpy()`: the value never meets autograd
        if isinstance(parent, cst.AssignTarget):
            return  # `p.data = t` swaps the whole tensor (a cast, a load); graphs keep the old
        if not autograd_live(self.context, ancestors):
            return  # set-up code, or under no_grad: no graph to corrupt
        if in_compat_branch(ancestors, self.context, node):
            return  # written for another torch, on purpose
        self.report(node, fix=self._suggestion(node, parent, inplace))

    def _parameter_loop_target(self, name: str) -> bool:
        """``name`` is the target of an enclosing loop over ``.parameters()`` in this scope."""
        for ancestor in reversed(self.context.ancestors):
            if isinstance(ancestor, SCOPE_TYPES):
                return False
            if isinstance(ancestor, (cst.For, cst.CompFor)) and _iterates_parameters(
                ancestor, name
            ):
                return True
            if isinstance(ancestor, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
                for_in: cst.CompFor | None = ancestor.for_in
                while for_in is not None:
                    if _iterates_parameters(for_in, name):
                        return True
                    for_in = for_in.inner_for_in
        return False

    def _suggestion(
        self, node: cst.Attribute, parent: cst.CSTNode | None, inplace: bool
    ) -> PendingFix | None:
        base = self.context.code_for(node.value)
        if inplace or (isinstance(parent, cst.AugAssign) and parent.target is node):
            return self.fix(
                Applicability.DISPLAY,
                "Drop `.data` and make the update inside `with torch.no_grad():`",
                Replace(node, base),
            )
        if isinstance(parent, (cst.AnnAssign, cst.Del)):
            return None  # `del p.data`, `p.data: T = v`: a rewrite, not a hint
        return self.fix(Applicability.DISPLAY, "Use `.detach()`", Replace(node, f"{base}.detach()"))


def _value_only(node: cst.Attribute, ancestors: list[cst.CSTNode]) -> bool:
    """``node`` (an ``x.data``) is read only for metadata, copied out of torch, printed,
    compared, or to swap into another ``.data``."""
    current: cst.CSTNode = node
    index = len(ancestors) - 1
    while index >= 0:
        parent = ancestors[index]
        if not (isinstance(parent, cst.Attribute) and parent.value is current):
            return _consumed_as_value(current, ancestors[: index + 1])
        name = parent.attr.value
        if name in METADATA_ATTRIBUTES:
            return True
        call = ancestors[index - 1] if index > 0 else None
        if not (isinstance(call, cst.Call) and call.func is parent):
            return False
        if name in VALUE_ONLY_METHODS:
            return True
        if name not in PASS_THROUGH:
            return False
        current = call
        index -= 2
    return False


def _consumed_as_value(value: cst.CSTNode, ancestors: list[cst.CSTNode]) -> bool:
    """`print(x)`, `f"{x}"`, `assert_close(x, y)`, `out.copy_(x)`, `p.data = x.to(dtype)`."""
    parent = ancestors[-1] if ancestors else None
    if isinstance(parent, cst.FormattedStringExpression):
        return True
    if isinstance(parent, cst.Arg) and len(ancestors) > 1:
        call = ancestors[-2]
        if isinstance(call, cst.Call) and parent.value is value:
            func = call.func
            name = (
                func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
            )
            if name in ("print", "copy_") or name.startswith("assert") or "close" in name:
                return True
    statement = next((a for a in reversed(ancestors) if isinstance(a, cst.Assign)), None)
    return statement is not None and any(
        isinstance(t.target, cst.Attribute) and t.target.attr.value == "data"
        for t in statement.targets
    )


def _iterates_parameters(loop: cst.For | cst.CompFor, name: str) -> bool:
    it = loop.iter
    if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute)):
        return False
    method = it.func.attr.value
    target = loop.target
    if method == "parameters":
        return isinstance(target, cst.Name) and target.value == name
    if method == "named_parameters" and isinstance(target, (cst.Tuple, cst.List)):
        elements = target.elements
        return (
            len(elements) == 2
            and isinstance(elements[1].value, cst.Name)
            and elements[1].value.value == name
        )
    return False
