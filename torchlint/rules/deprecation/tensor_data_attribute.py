"""TL603 tensor-data-attribute."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.autograd import grad_disabled
from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid

# Trailing underscore, but they set a flag rather than change the data.
NOT_DATA_UPDATES = frozenset({"requires_grad_", "share_memory_"})
# The calls that consume a graph: `loss.backward()`, `torch.autograd.grad(loss, ...)`.
BACKWARD_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward"})
_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


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
    Reports an in-place change through `.data` (`w.data.mul_(s)`, `p.data -= lr * g`)
    made while a graph that was built before it still waits for `backward()`: in one
    function (or module code), the loss is computed, then `.data` is changed, then the loss
    is back-propagated (`loss.backward()`, `scaler.scale(loss).backward()`,
    `torch.autograd.grad(loss, ...)`; a loss that arrives as a parameter was built before).

    Not reported any more, because the code works and nothing warns (on projects no rule
    was tuned on, 1 of 20 earlier reports was worth a change, strict labels):
    - `.data` on a gradient (`p.grad.data.zero_()`): no graph holds a gradient;
    - updates after `backward()`: an optimizer's `step`, a hand-written SGD or EMA update,
      weight clipping, a closure helper that perturbs and restores weights around a
      forward/backward pair, all of which change the weights when no graph is waiting;
    - reads (`p.data.shape`, `.dtype`, `.is_sparse`, `.is_cuda`, `.device`, `.size()`,
      `p.data.cpu().numpy()`, `w = layer.weight.data`): a read is `.detach()` by another
      name, and metadata is the same either way;
    - `p.data = t`, which swaps in a whole tensor while any graph keeps the old one;
    - weight initialisation, checkpoint conversion and model surgery (`__init__`,
      `reset_parameters`, functions given to `.apply()`, code under `torch.no_grad()`, or
      before a function's first graph statement), and code in a branch for another torch.

    ## Why is this bad?
    A graph keeps the tensors its backward pass needs (a layer's weight, to compute the
    gradient of its input). A change made through `.data` is invisible to autograd's
    version counter, so `backward()` uses the changed values and the gradients are
    silently wrong; the same change without `.data` raises an error instead.

    ## Example
    ```python
    loss = criterion(model(x), y)
    for p in model.parameters():
        p.data.clamp_(-0.01, 0.01)
    loss.backward()
    ```

    ## Use instead
    ```python
    loss = criterion(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.clamp_(-0.01, 0.01)
    ```

    ## Fix safety
    Display only: the change must move before the forward pass or after `backward()`,
    under `torch.no_grad()`, which depends on the surrounding code.

    Opt-in (`extend-select = ["TL603"]`) since round 2026-12-08f: on every unseen label it
    matches it was right 0 of 2 times (strict labels, LABELLING.md). One was a textbook
    cell that changes `x.data` to show that autograd does not see it; the other an fp16
    training loop copying its fp32 master weights back through `.data` after the
    optimizer step, where no graph waits (the loop's next `backward()` is in another
    branch).

    ## References
    - https://pytorch.org/blog/pytorch-0_4_0-migration-guide/#what-about-data
    - https://pytorch.org/docs/stable/autograd.html#in-place-correctness-checks
    """

    code = "TL603"
    name = "tensor-data-attribute"
    default = False
    applies_to_tests = True
    summary = (
        "`.data` changed in place while a graph that uses it waits for `backward()`: "
        "the gradients are silently wrong"
    )
    fix_applicability = Applicability.DISPLAY
    requires = ("data",)
    examples = (
        Invalid(
            """
            loss = criterion(model(x), y)
            for p in model.parameters():
                p.data.clamp_(-1, 1)
            loss.backward()
            """
        ),
        Invalid(
            """
            def train_step(model, loss, scale):
                model.weight.data.mul_(scale)
                loss.backward()
            """
        ),
        Invalid(
            """
            class Trainer:
                def step(self, x):
                    out = self.model(x)
                    loss = self.loss_fn(out)
                    self.model.fc.weight.data -= 0.1
                    self.scaler.scale(loss).backward()
            """
        ),
        Invalid(
            """
            import torch
            energy = net(x).sum()
            net.bias.data.zero_()
            grads = torch.autograd.grad(energy, x)
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
            def train(model, optimizer, loss):
                model.apply(init_weights)
                loss.backward()
                optimizer.step()
            """
        ),
        Valid(
            """
            def train_step(model, loss, lr):
                loss.backward()
                for p in model.parameters():
                    p.data.add_(p.grad.data, alpha=-lr)
                for name, p in model.named_parameters():
                    p.data -= lr * p.grad
            """
        ),
        Valid(
            """
            import torch
            class SGD(torch.optim.Optimizer):
                def step(self, closure=None):
                    loss = closure() if closure is not None else None
                    for group in self.param_groups:
                        for p in group["params"]:
                            p.data.add_(p.grad, alpha=-group["lr"])
                    return loss
            def perturbed_loss(params, closure, eps):
                for p in params:
                    p.data.add_(eps)
                loss = closure()
                for p in params:
                    p.data.sub_(eps)
                return loss
            """
        ),
        Valid(
            """
            for x in loader:
                for p in critic.parameters():
                    p.data.clamp_(-0.01, 0.01)
                loss = critic(x).mean()
                loss.backward()
                optimizer.step()
                ema.data.copy_(decay * ema + (1 - decay) * value)
            """
        ),
        Valid(
            """
            for x in loader:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.data.zero_()
                loss = loss_fn(model(x))
                for p in model.parameters():
                    p.grad.data.clamp_(-1, 1)
                loss.backward()
            """
        ),
        Valid(
            """
            loss = criterion(model(x), y)
            w = layer.weight.data
            sparse, dtype = w.data.is_sparse, layer.weight.data.dtype
            on_gpu, shape = layer.weight.data.is_cuda, layer.weight.data.size()
            norms = [p.data.norm() for p in net.parameters()]
            for param in model.parameters():
                param.data = param.to(torch.float32)
            loss.backward()
            """
        ),
        Valid(
            """
            import torch
            loss = criterion(model(x), y)
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(0.9)
            loss.backward()
            """
        ),
        Valid(
            """
            import torch
            loss = criterion(model(x), y)
            if version.parse(torch.__version__) < version.parse("0.4"):
                model.weight.data.mul_(0.5)
            loss.backward()
            """
        ),
        Valid(
            """
            loss = criterion(model(x), y)
            self.data.append(x)
            response.data.update(extra)
            packed.data.requires_grad_(True)
            loss.backward()
            """
        ),
        Valid(
            """
            loss = criterion(model(x), y)
            def show(p):
                p.data.zero_()
            loss.backward()
            """
        ),
    )

    def __init__(self, context) -> None:  # type: ignore[no-untyped-def]
        super().__init__(context)
        # function (or module) id -> what `_graph_events` found in it
        self._order: dict[int, tuple[dict[int, int], dict[str, list[int]], list]] = {}

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "data":
            return
        base = node.value
        if isinstance(base, cst.Attribute) and base.attr.value == "grad":
            return  # a gradient: no graph holds it
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
        augmented = isinstance(parent, cst.AugAssign) and parent.target is node
        if not (inplace or augmented):
            return  # a read (metadata, a copy, a detached value) or `p.data = t`
        if grad_disabled(self.context, ancestors):
            return  # under no_grad: the change is tracked, not hidden
        if in_compat_branch(ancestors, self.context, node):
            return  # written for another torch, on purpose
        if not self._graph_pending(node, ancestors):
            return  # an update after backward() (an optimizer, EMA, clipping): nothing waits
        self.report(
            node,
            fix=self.fix(
                Applicability.DISPLAY,
                "Drop `.data` and make the change outside the forward/backward pair, under "
                "`with torch.no_grad():`",
                Replace(node, self.context.code_for(base)),
            ),
        )

    def _graph_pending(self, node: cst.Attribute, ancestors: list[cst.CSTNode]) -> bool:
        """A graph built before ``node`` is back-propagated after it, in the same function
        (or module code): ``loss = f(w)``, then ``w.data.mul_(s)``, then ``loss.backward()``.
        The loss counts as built before when its last assignment before the ``backward``
        comes before ``node``, or is not in the function (a parameter, an attribute)."""
        owner = next((a for a in reversed(ancestors) if isinstance(a, _NESTED)), None)
        root = owner if isinstance(owner, cst.FunctionDef) else self.context.module
        order = self._order.get(id(root))
        if order is None:
            order = self._order[id(root)] = _graph_events(root, self.context.scope)
        positions, assignments, backwards = order
        here = positions.get(id(node))
        if here is None:
            return False
        for position, keys in backwards:
            if position <= here:
                continue
            for key in keys:
                before = [p for p in assignments.get(key, ()) if p < position]
                if not before or max(before) < here:
                    return True
        return False


def _receiver_keys(expr: cst.BaseExpression) -> set[str]:
    """The values a ``backward`` receiver is computed from: ``loss`` for ``loss``,
    ``scaler.scale(loss)``, ``(a + b)`` (both), ``self.loss``, ``losses[0]``."""
    name = dotted_name(expr)
    if name is not None:
        return {name}
    if isinstance(expr, cst.Call):
        found: set[str] = set()
        for arg in expr.args:
            found |= _receiver_keys(arg.value)
        return found
    if isinstance(expr, cst.BinaryOperation):
        return _receiver_keys(expr.left) | _receiver_keys(expr.right)
    if isinstance(expr, cst.UnaryOperation):
        return _receiver_keys(expr.expression)
    if isinstance(expr, cst.Subscript):
        return _receiver_keys(expr.value)
    return set()


def _graph_events(root: cst.CSTNode, scope) -> tuple:  # type: ignore[no-untyped-def]
    """In source order, inside ``root`` but not its nested definitions: the position of
    every ``.data``, where each name (or attribute chain) is assigned, and each backward
    call with the keys of what it back-propagates."""
    positions: dict[int, int] = {}
    assignments: dict[str, list[int]] = {}
    backwards: list[tuple[int, set[str]]] = []
    counter = 0
    body = root.body if isinstance(root, cst.FunctionDef) else root
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        counter += 1
        if isinstance(node, _NESTED):
            continue
        if isinstance(node, cst.Attribute) and node.attr.value == "data":
            positions[id(node)] = counter
        elif isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            for target in targets:
                for key in _target_keys(target):
                    # assigned once the value is computed: after the right-hand side
                    assignments.setdefault(key, []).append(counter + _size(node))
        elif isinstance(node, (cst.For, cst.CompFor)):
            for name in _target_keys(node.target):
                assignments.setdefault(name, []).append(counter)  # `for loss in losses:`
        elif isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                backwards.append((counter, _receiver_keys(func.value)))
            elif node.args and scope.qualified_name(func) in BACKWARD_FUNCTIONS:
                backwards.append((counter, _receiver_keys(node.args[0].value)))
        stack.extend(reversed(list(iter_children(node))))
    return positions, assignments, backwards


def _target_keys(target: cst.BaseExpression) -> list[str]:
    """The names and attribute chains an assignment target binds (`a, self.b = ...`)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        return [key for element in target.elements for key in _target_keys(element.value)]
    if isinstance(target, cst.StarredElement):
        return _target_keys(target.value)
    key = dotted_name(target)
    return [key] if key is not None else []


def _size(node: cst.CSTNode) -> int:
    """How many nodes the walk visits under ``node`` (so an assignment takes effect after
    its value is computed)."""
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        count += 1
        if not isinstance(current, _NESTED):
            stack.extend(iter_children(current))
    return count
