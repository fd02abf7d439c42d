"""TL604 tensor-from-tensor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.names import SCOPE_TYPES, Scope, dotted_name, iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.deprecation import FRESH_TENSOR_FACTORIES, atom

if TYPE_CHECKING:
    from torchlint.context import FileContext

TORCH_TENSOR = frozenset({"torch.tensor"})
# torch functions that always return one tensor.
TENSOR_FUNCTIONS = FRESH_TENSOR_FACTORIES | frozenset(
    f"torch.{name}"
    for name in [
        "as_tensor",
        "randint_like",
        "cat",
        "concat",
        "stack",
        "matmul",
        "mm",
        "bmm",
        "einsum",
        "exp",
        "log",
        "sqrt",
        "abs",
        "sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "clamp",
        "where",
    ]
)
TENSOR_METHODS = frozenset({"clone", "detach"})
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class TensorFromTensor(Rule):
    """
    ## What it does
    Reports `torch.tensor(a)` where `a` is provably already a tensor: a torch factory or
    operation result passed directly, or a name that every assignment in the same function
    binds to one (`torch.zeros(...)`, `torch.from_numpy(...)`, `x.clone()`...).

    ## Why is this bad?
    `torch.tensor` always copies its data and is meant for Python lists and NumPy arrays;
    given a tensor it warns ("To copy construct from a tensor, it is recommended to use
    sourceTensor.clone().detach()") and the intent — copy? detach? — is unclear.

    ## Example
    ```python
    a = torch.zeros(3)
    b = torch.tensor(a)
    ```

    ## Use instead
    ```python
    a = torch.zeros(3)
    b = a.clone().detach()
    ```

    ## Fix safety
    Unsafe: `a.clone().detach()` is the copy torch's own warning recommends and holds the
    same values, but it is a different call: tensor subclasses and `__torch_function__`
    overrides take other code paths. Calls with more arguments (`dtype=`, `device=`) are
    reported without a fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.tensor.html
    """

    code = "TL604"
    name = "tensor-from-tensor"
    applies_to_tests = True
    summary = "`torch.tensor()` on a tensor: use `.clone().detach()`"
    fix_applicability = Applicability.UNSAFE
    requires = ("tensor",)
    examples = (
        Invalid(
            """
            import torch
            def f():
                a = torch.zeros(3)
                return torch.tensor(a)
            """,
            fixed="""
            import torch
            def f():
                a = torch.zeros(3)
                return a.clone().detach()
            """,
        ),
        Invalid(
            """
            import torch
            t = torch.tensor(torch.randn(2, 2))
            """,
            fixed="""
            import torch
            t = torch.randn(2, 2).clone().detach()
            """,
        ),
        Invalid(
            """
            import torch as th
            def f(x):
                a = x.clone()
                return th.tensor(a, dtype=th.float64)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch import from_numpy, tensor
            def load(arr):
                a = from_numpy(arr)
                a += 1
                return tensor(a)
            """,
            fixed="""
            from torch import from_numpy
            def load(arr):
                a = from_numpy(arr)
                a += 1
                return a.clone().detach()
            """,
        ),
        Valid(
            """
            import torch
            t = torch.tensor([1.0, 2.0])
            """
        ),
        Valid(
            """
            import torch
            def f(a):
                return torch.tensor(a)
            """
        ),
        Valid(
            """
            import numpy as np
            import torch
            a = np.zeros(3)
            t = torch.tensor(a)
            """
        ),
        Valid(
            """
            import torch
            def f(path):
                a = torch.zeros(3)
                if path:
                    a = load(path)
                return torch.tensor(a)
            """
        ),
        Valid(
            """
            import torch
            for a in rows:
                t = torch.tensor(a)
            u = torch.tensor(*rows)
            """
        ),
        Valid(
            """
            import torch
            a = torch.zeros(3)
            def f():
                return torch.tensor(a)
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self._cache: dict[tuple[int, str], bool] = {}
        self._aliases: set[str] = set()  # `from torch import tensor as T`

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar) or node.relative or node.module is None:
            return
        if dotted_name(node.module) == "torch":
            for alias in node.names:
                if alias.evaluated_name == "tensor" and alias.asname is not None:
                    self._aliases.add(alias.evaluated_alias or "")

    def visit_Call(self, node: cst.Call) -> None:
        args = node.args
        if not args or args[0].keyword is not None:
            return
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value != "tensor":
                return
        elif not isinstance(func, cst.Name) or (
            func.value != "tensor" and func.value not in self._aliases
        ):
            return
        if calls.has_star_args(node):
            return
        if len(calls.positional(node)) != 1:
            return
        if self.qualified_name(node.func) not in TORCH_TENSOR:
            return
        value = args[0].value
        if not self._is_tensor(value) and not (
            isinstance(value, cst.Name) and self._tensor_name(value.value)
        ):
            return
        if in_compat_branch(self.context.ancestors, self.context, node):
            return  # written for another torch, on purpose
        fix = None
        if len(args) == 1:
            text = atom(value, self.context.code_for(value)) + ".clone().detach()"
            fix = self.fix(Applicability.UNSAFE, "Use `.clone().detach()`", Replace(node, text))
        self.report(node, fix=fix)

    def _is_tensor(self, expr: cst.BaseExpression) -> bool:
        """A call that always returns a tensor: a torch factory/op or `.clone()` / `.detach()`."""
        if not isinstance(expr, cst.Call):
            return False
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in TENSOR_METHODS and not expr.args:
            return True
        return self.qualified_name(func) in TENSOR_FUNCTIONS

    def _tensor_name(self, name: str) -> bool:
        """Every binding of ``name`` in the current scope assigns a tensor (augmented
        assignments keep it one)."""
        scope = self.context.scope
        if scope.is_class:
            return False
        bindings = scope.bindings.get(name)
        if not bindings:
            return False
        key = (id(scope.node), name)
        if key not in self._cache:
            self._cache[key] = _tensor_assignments(scope, name, self) == len(bindings)
        return self._cache[key]


def _tensor_assignments(scope: Scope, name: str, rule: TensorFromTensor) -> int:
    """How many bindings of ``name`` in ``scope`` (nested scopes excluded) assign a tensor;
    -1 as soon as one does something else that the scope also counts as a binding."""
    count = 0
    root = scope.node
    stack: list[cst.CSTNode] = [root.body if isinstance(root, SCOPE_TYPES) else root]
    while stack:
        node = stack.pop()
        if isinstance(node, (SCOPE_TYPES, _COMPREHENSIONS)):
            continue  # nested scopes bind their own names
        if isinstance(node, cst.Assign):
            if any(_is_name(t.target, name) for t in node.targets):
                if len(node.targets) != 1 or not rule._is_tensor(node.value):
                    return -1
                count += 1
        elif isinstance(node, cst.AnnAssign) and _is_name(node.target, name):
            if node.value is None or not rule._is_tensor(node.value):
                return -1
            count += 1
        elif isinstance(node, cst.AugAssign) and _is_name(node.target, name):
            count += 1
        stack.extend(iter_children(node))
    return count


def _is_name(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name
