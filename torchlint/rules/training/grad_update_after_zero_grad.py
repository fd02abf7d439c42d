"""TL319 grad-update-after-zero-grad."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.flow import flow_of
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import Invalid, Rule, Valid

SET_TO_NONE_INDEX = 0
_SKIPPED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
# Calls that hand their argument's items on: `zip(model.parameters(), grads)`.
_PASSING = frozenset({"list", "tuple", "zip", "enumerate", "filter", "sorted", "reversed"})


def _is_grad(expr: cst.BaseExpression, name: str) -> bool:
    """``p.grad`` or ``p.grad.data`` for the loop variable ``p``."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    return (
        isinstance(expr, cst.Attribute)
        and expr.attr.value == "grad"
        and isinstance(expr.value, cst.Name)
        and expr.value.value == name
    )


def _mentions_grad(node: cst.CSTNode, name: str) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.BaseExpression) and _is_grad(current, name):
            return True
        stack.extend(iter_children(current))
    return False


def _grad_update(node: cst.CSTNode, name: str) -> bool:
    """``p.grad += g``, ``p.grad.add_(g)`` (any in-place method), ``p.grad[i] = g``,
    ``p.grad = p.grad + g``: each raises when ``p.grad`` is None."""
    if isinstance(node, cst.AugAssign):
        return _is_grad(node.target, name)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        return (
            method.endswith("_")
            and not method.startswith("_")
            and method != "requires_grad_"
            and _is_grad(node.func.value, name)
        )
    if isinstance(node, cst.Assign):
        for target in node.targets:
            if isinstance(target.target, cst.Subscript) and _is_grad(target.target.value, name):
                return True
            if _is_grad(target.target, name):
                value = node.value
                return isinstance(value, cst.BinaryOperation) and _mentions_grad(value, name)
    return False


def _assigns_grad(node: cst.CSTNode) -> bool:
    """``x.grad = <not None>``: a gradient is set by hand, so it exists from here on."""
    if not isinstance(node, cst.Assign):
        return False
    if isinstance(node.value, cst.Name) and node.value.value == "None":
        return False
    return any(
        isinstance(t.target, cst.Attribute) and t.target.attr.value == "grad" for t in node.targets
    )


def _guards(node: cst.CSTNode, name: str) -> bool:
    """A test that reads ``p.grad`` (``if p.grad is None: continue``, ``if p.grad is not
    None:``, ``assert p.grad is not None``, ``p.grad if ... else``)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, _SKIPPED):
            continue
        test = None
        if isinstance(current, (cst.If, cst.While, cst.IfExp, cst.Assert)):
            test = current.test
        elif isinstance(current, (cst.Comparison, cst.BooleanOperation)):
            test = current
        if test is not None and _mentions_grad(test, name):
            return True
        stack.extend(iter_children(current))
    return False


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    return []


class GradUpdateAfterZeroGrad(Rule):
    """
    ## What it does
    Reports an in-place update of a parameter's gradient (`p.grad += g`,
    `p.grad.add_(g)`, `p.grad.mul_(s)`, `p.grad[...] = g`, `p.grad = p.grad + g`) that
    follows `optimizer.zero_grad()` or `model.zero_grad()` in the same function with no
    `backward()` in between, where `p` is the target of a loop over parameters
    (`model.parameters()`, `named_parameters()`, `group["params"]` of `param_groups`, or a
    name the function assigned from one of them) and nothing in that loop tests `p.grad`.

    The `zero_grad()` call must run whenever the update does (its block encloses the update)
    and must not pass `set_to_none=False`. A call in between whose name says `backward`
    (`loss.backward()`, `accelerator.backward(loss)`, `scaler.scale(loss).backward()`), or a
    same-file function that calls `backward()`, or an assignment `x.grad = ...` in between,
    ends the search: gradients may exist from there on.

    ## Why is this bad?
    Since PyTorch 2.0 `zero_grad()` sets every gradient to `None` (`set_to_none=True` is the
    default), it no longer fills them with zeros. Code written for the old behaviour, that
    adds into the gradients by hand after clearing them (manual accumulation of
    `torch.autograd.grad` results, noise for privacy, a regulariser's gradient), now fails
    with `TypeError: unsupported operand type(s) for +=: 'NoneType' and 'Tensor'` or
    `AttributeError: 'NoneType' object has no attribute 'add_'`.

    Opt-in (`extend-select = ["TL319"]`) until the held-out measurement: the shape is a
    crash on torch >= 2.0 wherever it runs, but neither the 22 tuning projects nor the
    installed torch sources contain it, so there is no evidence yet of how it behaves on
    real code.

    ## Example
    ```python
    optimizer.zero_grad()
    for x, y in micro_batches:
        grads = torch.autograd.grad(criterion(model(x), y), list(model.parameters()))
        for p, g in zip(model.parameters(), grads):
            p.grad += g
    optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    for x, y in micro_batches:
        grads = torch.autograd.grad(criterion(model(x), y), list(model.parameters()))
        for p, g in zip(model.parameters(), grads):
            p.grad = g if p.grad is None else p.grad + g
    optimizer.step()
    ```
    (or `optimizer.zero_grad(set_to_none=False)` where zero-filled gradients are meant).

    ## Fix safety
    No fix: whether the gradient should start from zeros (`set_to_none=False`) or from the
    first update (`p.grad = g`) is the author's choice.


    ## References
    - https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html
    - https://github.com/pytorch/pytorch/pull/92731
    """

    code = "TL319"
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    name = "grad-update-after-zero-grad"
    applies_to_tests = False
    default = False
    summary = (
        "Gradient updated in place after `zero_grad()` with no `backward()` in between: "
        "`zero_grad()` sets gradients to `None` (torch >= 2.0)"
    )
    requires = ("zero_grad",)
    examples = (
        Invalid(
            """
            import torch
            def train_step(model, optimizer, criterion, micro_batches):
                optimizer.zero_grad()
                for x, y in micro_batches:
                    loss = criterion(model(x), y)
                    grads = torch.autograd.grad(loss, list(model.parameters()))
                    for p, g in zip(model.parameters(), grads):
                        p.grad += g
                optimizer.step()
            """
        ),
        Invalid(
            """
            def add_noise(model, optimizer, sigma):
                model.zero_grad()
                for group in optimizer.param_groups:
                    for param in group["params"]:
                        param.grad.add_(torch.randn_like(param) * sigma)
            """
        ),
        Invalid(
            """
            import torch
            class Net(torch.nn.Module):
                def scale(self, factor):
                    self.zero_grad()
                    params = list(self.parameters())
                    for p in params:
                        p.grad.data.mul_(factor)
            """
        ),
        Valid(
            """
            def step(model, optimizer, loss, sigma):
                optimizer.zero_grad()
                loss.backward()
                for p in model.parameters():
                    p.grad += sigma * torch.randn_like(p)
                optimizer.step()
            """
        ),
        Valid(
            """
            def step(model, optimizer, accelerator, loss):
                optimizer.zero_grad()
                accelerator.backward(loss)
                for p in model.parameters():
                    p.grad.mul_(0.5)
            """
        ),
        Valid(
            """
            def step(model, optimizer, grads):
                optimizer.zero_grad()
                for p, g in zip(model.parameters(), grads):
                    if p.grad is None:
                        p.grad = g
                    else:
                        p.grad += g
            """
        ),
        Valid(
            """
            def step(model, optimizer, grads):
                optimizer.zero_grad(set_to_none=False)
                for p, g in zip(model.parameters(), grads):
                    p.grad += g
            """
        ),
        Valid(
            """
            def step(model, optimizer, grads):
                optimizer.zero_grad()
                for p in model.parameters():
                    p.grad = torch.zeros_like(p)
                for p, g in zip(model.parameters(), grads):
                    p.grad.add_(g)
            """
        ),
        Valid(
            """
            def run(model, optimizer, batch):
                optimizer.zero_grad()
                compute(model, batch)
                for p in model.parameters():
                    p.grad.mul_(0.5)
            def compute(model, batch):
                model(batch).sum().backward()
            """
        ),
        Valid(
            """
            def step(model, optimizer, grads, warm):
                if warm:
                    optimizer.zero_grad()
                else:
                    for p, g in zip(model.parameters(), grads):
                        p.grad.add_(g)
            """
        ),
    )

    def visit_Module(self, node: cst.Module) -> None:
        self._check(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._check(node)

    def _check(self, node: cst.Module | cst.FunctionDef) -> None:
        flow = flow_of(self.context)
        function = flow.function(node)
        if function is None:
            return
        backward_functions = self._backward_functions()
        # Source-order walk: (node, its ancestors) for every node of the body.
        order: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = []
        body: list[cst.CSTNode] = list(node.body) if isinstance(node, cst.Module) else [node.body]
        stack: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = [
            (child, (node,)) for child in reversed(body)
        ]
        while stack:
            current, ancestors = stack.pop()
            order.append((current, ancestors))
            if isinstance(current, _SKIPPED) and current is not node:
                continue
            children = list(iter_children(current))
            inner = (*ancestors, current)
            stack.extend((child, inner) for child in reversed(children))
        cleared: cst.CSTNode | None = None  # the block of the zero_grad still in force
        param_names = self._parameter_names(body)
        for current, ancestors in order:
            if isinstance(current, cst.Call):
                if self._clears(current, function, flow):
                    cleared = next(
                        a for a in reversed(ancestors) if isinstance(a, (cst.BaseSuite, cst.Module))
                    )
                    continue
                if cleared is not None and self._may_backward(current, backward_functions):
                    cleared = None
            if cleared is None:
                continue
            if _assigns_grad(current):
                cleared = None
                continue
            if not any(a is cleared for a in ancestors):
                continue  # the zero_grad's block does not enclose this
            loop = self._parameter_loop(current, ancestors, param_names)
            if loop is not None:
                self.report(current)

    def _clears(self, call: cst.Call, function, flow) -> bool:
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "zero_grad"):
            return False
        if calls.has_star_args(call):
            return False
        arg = calls.argument(call, "set_to_none", SET_TO_NONE_INDEX)
        if arg is not None and not calls.is_true(arg.value):
            return False
        receiver = dotted_name(func.value)
        if receiver is None:
            return False
        if receiver == "self":
            return function.cls is not None and function.cls.is_module
        return flow.is_optimizer(function, receiver) or flow.is_model(function, receiver)

    def _may_backward(self, call: cst.Call, backward_functions: set[str]) -> bool:
        last = calls.callee_name(call)
        if last is None:
            return False
        return "backward" in last or last in backward_functions

    def _backward_functions(self) -> set[str]:
        """Names of the same-file functions and methods whose body calls ``backward``."""

        def calls_backward(function: cst.FunctionDef) -> bool:
            stack: list[cst.CSTNode] = [function.body]
            while stack:
                current = stack.pop()
                func = current.func if isinstance(current, cst.Call) else None
                if isinstance(func, cst.Attribute) and "backward" in func.attr.value:
                    return True
                if isinstance(func, cst.Name) and "backward" in func.value:
                    return True
                stack.extend(iter_children(current))
            return False

        def build(context) -> set[str]:
            found: set[str] = set()
            stack: list[cst.CSTNode] = [context.module]
            while stack:
                current = stack.pop()
                if isinstance(current, cst.FunctionDef) and calls_backward(current):
                    found.add(current.name.value)
                stack.extend(iter_children(current))
            return found

        return self.context.fact("training.backward_functions", build)

    def _parameter_names(self, body: list[cst.CSTNode]) -> set[str]:
        """Names the function assigns from a parameter list (``params = list(m.parameters())``)."""
        found: set[str] = set()
        stack: list[cst.CSTNode] = list(body)
        while stack:
            current = stack.pop()
            if isinstance(current, _SKIPPED):
                continue
            if isinstance(current, cst.Assign) and self._is_parameters(current.value, set()):
                for target in current.targets:
                    found.update(_target_names(target.target))
            stack.extend(iter_children(current))
        return found

    def _is_parameters(self, expr: cst.BaseExpression, names: set[str]) -> bool:
        """``m.parameters()``, ``group["params"]``, a name assigned from one, or one passed
        through ``list``/``zip``/``enumerate``/``filter``/``sorted`` or a comprehension."""
        if isinstance(expr, cst.Name):
            return expr.value in names
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute):
                return func.attr.value in ("parameters", "named_parameters")
            if isinstance(func, cst.Name) and func.value in _PASSING:
                return any(self._is_parameters(a.value, names) for a in expr.args)
            return False
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._is_parameters(expr.for_in.iter, names)
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
            key = expr.slice[0].slice
            return (
                isinstance(key, cst.Index)
                and isinstance(key.value, cst.SimpleString)
                and key.value.evaluated_value == "params"
            )
        return False

    def _parameter_loop(
        self,
        current: cst.CSTNode,
        ancestors: tuple[cst.CSTNode, ...],
        param_names: set[str],
    ) -> cst.For | None:
        """The loop over parameters whose variable ``current`` updates the gradient of, when
        nothing in that loop tests the gradient."""
        for ancestor in reversed(ancestors):
            if not isinstance(ancestor, cst.For):
                continue
            for name in _target_names(ancestor.target):
                if not _grad_update(current, name):
                    continue
                if not self._is_parameters(ancestor.iter, param_names):
                    return None
                if _guards(ancestor.body, name):
                    return None
                return ancestor
        return None
