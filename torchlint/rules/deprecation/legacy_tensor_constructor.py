"""TL608 legacy-tensor-constructor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules import calls
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid
from torchlint.rules.deprecation import module_alias

if TYPE_CHECKING:
    from torchlint.engine import FileContext

DTYPES = {
    "FloatTensor": "float32",
    "DoubleTensor": "float64",
    "HalfTensor": "float16",
    "BFloat16Tensor": "bfloat16",
    "ByteTensor": "uint8",
    "CharTensor": "int8",
    "ShortTensor": "int16",
    "IntTensor": "int32",
    "LongTensor": "int64",
    "BoolTensor": "bool",
}
# qualified constructor -> (dtype or None for the default dtype, device or None)
CONSTRUCTORS: dict[str, tuple[str | None, str | None]] = {"torch.Tensor": (None, None)}
for _type, _dtype in DTYPES.items():
    CONSTRUCTORS[f"torch.{_type}"] = (_dtype, None)
    CONSTRUCTORS[f"torch.cuda.{_type}"] = (_dtype, "cuda")
LAST_PARTS = frozenset(name.rsplit(".", 1)[-1] for name in CONSTRUCTORS)


def _is_data_literal(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.List, cst.Tuple)) and not any(
        isinstance(element, cst.StarredElement) for element in expr.elements
    )


def _is_size_literal(expr: cst.BaseExpression) -> bool:
    value = calls.int_literal(expr)
    return value is not None and value >= 0


class LegacyTensorConstructor(Rule):
    """
    ## What it does
    Reports calls to the legacy typed constructors `torch.FloatTensor(...)`,
    `torch.LongTensor(...)`, ..., `torch.cuda.FloatTensor(...)` and `torch.Tensor(...)`.
    Type checks (`isinstance(x, torch.FloatTensor)`) and annotations are not calls and are
    not reported.

    ## Why is this bad?
    The legacy constructors overload one call for two meanings: `torch.FloatTensor(3)` is
    an *uninitialized* tensor of size 3, `torch.FloatTensor([3])` is the value 3. A size
    read from a variable silently becomes garbage memory, and the CUDA variants hard-code
    the device. `torch.tensor` (data) and `torch.empty` / `torch.zeros` (sizes) say which
    one is meant.

    ## Example
    ```python
    a = torch.FloatTensor([1, 2, 3])
    b = torch.cuda.LongTensor(4, 5)
    ```

    ## Use instead
    ```python
    a = torch.tensor([1, 2, 3], dtype=torch.float32)
    b = torch.empty(4, 5, dtype=torch.int64, device="cuda")
    ```

    ## Fix safety
    Unsafe, and offered only when the arguments show which meaning is used: a list or
    tuple literal becomes `torch.tensor(data, dtype=...)`, integer-literal sizes become
    `torch.empty(sizes, dtype=...)` (both uninitialized: use `torch.zeros` if you relied
    on luck). `torch.Tensor` uses `dtype=torch.get_default_dtype()` for data and the
    default dtype for sizes, as it did. Anything else is reported without a fix.

    ## References
    - https://pytorch.org/docs/stable/tensors.html
    - https://pytorch.org/docs/stable/generated/torch.tensor.html
    """

    code = "TL608"
    name = "legacy-tensor-constructor"
    applies_to_tests = True
    summary = "legacy tensor constructor: use `torch.tensor(...)` or `torch.empty(...)`"
    fix_applicability = Applicability.UNSAFE
    requires = ("Tensor",)
    examples = (
        Invalid(
            """
            import torch
            a = torch.FloatTensor([1, 2, 3])
            b = torch.LongTensor(4, 5)
            """,
            fixed="""
            import torch
            a = torch.tensor([1, 2, 3], dtype=torch.float32)
            b = torch.empty(4, 5, dtype=torch.int64)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch as th
            buf = th.cuda.FloatTensor(3)
            """,
            fixed="""
            import torch as th
            buf = th.empty(3, dtype=th.float32, device="cuda")
            """,
        ),
        Invalid(
            """
            import torch
            w = torch.Tensor([[1, 2], [3, 4]])
            v = torch.Tensor(2, 3)
            """,
            fixed="""
            import torch
            w = torch.tensor([[1, 2], [3, 4]], dtype=torch.get_default_dtype())
            v = torch.empty(2, 3)
            """,
            count=2,
        ),
        Invalid(
            """
            from torch import ByteTensor
            mask = ByteTensor([1, 0, 1])
            """,
            fixed="""
            from torch import ByteTensor
            import torch
            mask = torch.tensor([1, 0, 1], dtype=torch.uint8)
            """,
        ),
        Invalid(
            """
            import torch
            x = torch.Tensor(n)
            y = torch.FloatTensor(array, device=d)
            """,
            fixed=None,
            count=2,
        ),
        Valid(
            """
            import torch
            if isinstance(x, torch.FloatTensor):
                x = x.type(torch.LongTensor)
            """
        ),
        Valid(
            """
            import torch
            def f(x: torch.Tensor) -> torch.Tensor:
                return torch.tensor([1.0]) + torch.Tensor.add(x, x)
            """
        ),
        Valid(
            """
            class Tensor:
                pass
            t = Tensor(3)
            """
        ),
        Valid(
            """
            from tensorflow import Tensor
            t = Tensor(op, 0, dtype)
            """
        ),
        Valid(
            """
            import torch
            def f(torch):
                return torch.FloatTensor([1.0])
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self._aliases: set[str] = set()  # `from torch import FloatTensor as FT`

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module)
        for alias in node.names:
            if alias.asname is not None and f"{module}.{alias.evaluated_name}" in CONSTRUCTORS:
                self._aliases.add(alias.evaluated_alias or "")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value not in LAST_PARTS:
                return
        elif not isinstance(func, cst.Name) or (
            func.value not in LAST_PARTS and func.value not in self._aliases
        ):
            return
        qualified = self.qualified_name(func)
        if qualified not in CONSTRUCTORS:
            return
        self.report(node, fix=self._fix(node, *CONSTRUCTORS[qualified]))

    def _fix(self, node: cst.Call, dtype: str | None, device: str | None) -> PendingFix | None:
        if any(arg.keyword is not None or arg.star for arg in node.args):
            return None
        args = node.args
        torch = module_alias(self.context, "torch")
        root = _root_name(node.func)
        if root is not None and self.qualified_name(root) == "torch":
            torch = (root.value, ())
        if torch is None:
            return None
        name, preamble = torch
        if len(args) == 1 and _is_data_literal(args[0].value):
            function = "tensor"
            dtype_text = f"{name}.{dtype}" if dtype else f"{name}.get_default_dtype()"
        elif all(_is_size_literal(arg.value) for arg in args):
            function = "empty"
            dtype_text = f"{name}.{dtype}" if dtype else None
            if not args:
                args = (cst.Arg(cst.Integer("0")),)  # `torch.FloatTensor()` is empty, size 0
        else:
            return None
        new = node.with_changes(func=cst.parse_expression(f"{name}.{function}"), args=args)
        if dtype_text:
            new = calls.add_keyword(new, "dtype", dtype_text)
        if device:
            new = calls.add_keyword(new, "device", f'"{device}"')
        return self.fix(
            Applicability.UNSAFE,
            f"Use `torch.{function}(...)`",
            Replace(node, new),
            preamble=preamble,
        )


def _root_name(expr: cst.BaseExpression) -> cst.Name | None:
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return expr if isinstance(expr, cst.Name) else None
