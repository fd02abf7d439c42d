"""TL311 zero-grad-keeps-tensors."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.flow import flow_of
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.training._common import function_node

SET_TO_NONE_INDEX = 0


class ZeroGradKeepsTensors(Rule):
    """
    ## What it does
    Reports `optimizer.zero_grad(set_to_none=False)` (or `model.zero_grad(False)`) on an
    optimizer-like or model-like receiver.

    ## Why is this bad?
    Since PyTorch 2.0 `zero_grad()` sets gradients to `None` by default: the next
    `backward()` writes fresh gradients instead of adding into zero-filled ones, which saves
    a memset kernel per parameter and lets the allocator reuse the memory. Asking for
    `set_to_none=False` keeps every gradient tensor alive and zeroes it on every step.

    ## Example
    ```python
    optimizer.zero_grad(set_to_none=False)
    ```

    ## Use instead
    ```python
    optimizer.zero_grad()
    ```

    ## Fix safety
    Unsafe: code that reads `p.grad` before the next `backward()` (or for parameters that
    got no gradient in this step) sees `None` instead of zeros, and optimizers then skip
    those parameters instead of applying weight decay with a zero gradient.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#use-parameter-grad-none-instead-of-model-zero-grad-or-optimizer-zero-grad
    """

    code = "TL311"
    name = "zero-grad-keeps-tensors"
    applies_to_tests = False
    summary = "`zero_grad(set_to_none=False)` keeps and zero-fills every gradient tensor"
    fix_applicability = Applicability.UNSAFE
    requires = ("zero_grad",)
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            optimizer.zero_grad(set_to_none=False)
            """,
            fixed="""
            optimizer.zero_grad()
            """,
        ),
        Invalid(
            """
            import torch
            opt = torch.optim.SGD(params, lr=0.1)
            opt.zero_grad(False)
            """,
            fixed="""
            import torch
            opt = torch.optim.SGD(params, lr=0.1)
            opt.zero_grad()
            """,
        ),
        Invalid(
            """
            class Trainer:
                def step(self):
                    self.model.zero_grad(set_to_none=False)
            """,
            fixed="""
            class Trainer:
                def step(self):
                    self.model.zero_grad()
            """,
        ),
        Invalid(
            """
            import torch
            class Net(torch.nn.Module):
                def reset(self):
                    self.zero_grad(set_to_none=False)
            """,
            fixed="""
            import torch
            class Net(torch.nn.Module):
                def reset(self):
                    self.zero_grad()
            """,
        ),
        Valid(
            """
            optimizer.zero_grad()
            """
        ),
        Valid(
            """
            optimizer.zero_grad(set_to_none=True)
            """
        ),
        Valid(
            """
            buffer.zero_grad(set_to_none=False)
            """
        ),
        Valid(
            """
            optimizer.zero_grad(set_to_none=args.keep_grads)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "zero_grad"):
            return
        if calls.has_star_args(node):
            return
        arg = calls.argument(node, "set_to_none", SET_TO_NONE_INDEX)
        if arg is None or not calls.is_false(arg.value):
            return
        receiver = dotted_name(func.value)
        if receiver is None or not self._is_target(receiver):
            return
        new = calls.remove_arg(node, arg)
        self.report(
            node,
            fix=self.fix(Applicability.UNSAFE, "Drop `set_to_none=False`", Replace(node, new)),
        )

    def _is_target(self, receiver: str) -> bool:
        flow = flow_of(self.context)
        function = flow.function(function_node(self.context.ancestors))
        if function is None:
            return False
        if receiver == "self":
            return function.cls is not None and function.cls.is_module
        return flow.is_optimizer(function, receiver) or flow.is_model(function, receiver)
