"""TL608 legacy-tensor-constructor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.compat import in_compat_branch
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid
from torchlint.rules.deprecation import module_alias

if TYPE_CHECKING:
    from torchlint.context import FileContext

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
PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
SIZES = "legacy constructor with sizes returns uninitialised memory: use `torch.empty(...)`"
CUDA = (
    "`torch.cuda.*Tensor` constructors warn since torch 2.1 and hard-code the device: "
    "use `torch.tensor(..., device=)` / `torch.empty(..., device=)`"
)
# Methods that move or retype a tensor without reading its values: an initialiser may
# still follow (`torch.Tensor(n).cuda().fill_(0)`, `.to(device).zero_()`).
MOVES = frozenset(
    {"cuda", "cpu", "to", "type", "float", "double", "half", "bfloat16", "long", "int"}
    | {"short", "byte", "char", "bool", "pin_memory", "contiguous", "detach", "share_memory_"}
    | {"requires_grad_", "view", "reshape", "resize_", "unsqueeze", "unsqueeze_", "squeeze_"}
)
# In-place methods that do not write every element: the memory stays uninitialised.
NOT_INITIALISERS = frozenset(
    {"resize_", "resize_as_", "requires_grad_", "share_memory_", "unsqueeze_", "squeeze_"}
    | {"t_", "transpose_", "as_strided_", "retain_grad", "index_fill_", "index_copy_"}
    | {"masked_fill_", "scatter_", "index_put_", "put_"}
)
# `torch.nn.init` functions that write every element of their first argument.
INIT_PREFIX = "torch.nn.init."


def _is_data_literal(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.List, cst.Tuple)) and not any(
        isinstance(element, cst.StarredElement) for element in expr.elements
    )


def _is_data(expr: cst.BaseExpression) -> bool:
    """A sequence of values: a list or tuple display, a comprehension, or one built from
    them with `*` / `+` (`[0] * n`, `ids + [eos]`)."""
    if isinstance(expr, (cst.List, cst.Tuple, cst.ListComp, cst.GeneratorExp)):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Add)):
        return _is_data(expr.left) or _is_data(expr.right)
    return False


def _initialiser(name: str) -> bool:
    """`fill_`, `zero_`, `normal_`, `uniform_`, `copy_`...: an in-place method that writes
    every element (torch names in-place methods with a trailing underscore)."""
    return name.endswith("_") and not name.startswith("_") and name not in NOT_INITIALISERS


# Calls and attributes whose value is a size: `len(x)`, `x.size(0)`, `x.numel()`, `x.shape`.
_SIZE_CALLS = frozenset({"len", "size", "numel", "dim", "Size"})
_SIZE_ATTRIBUTES = frozenset({"shape", "ndim"})


def _is_size(expr: cst.BaseExpression) -> bool:
    """``expr`` is plainly a size: an integer literal, `len(...)`, `x.size(...)`, `x.shape[i]`,
    `torch.Size(...)`, or arithmetic on them. A bare name is not: it may hold data."""
    if isinstance(expr, cst.Integer):
        return True
    if isinstance(expr, cst.Call):
        func = expr.func
        name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        return name in _SIZE_CALLS
    if isinstance(expr, cst.Subscript):
        return isinstance(expr.value, cst.Attribute) and expr.value.attr.value in _SIZE_ATTRIBUTES
    if isinstance(expr, cst.Attribute):
        return expr.attr.value in _SIZE_ATTRIBUTES
    if isinstance(expr, cst.BinaryOperation):
        if _is_data(expr):
            return False  # `[0] * len(x)`: a list of values
        return _is_size(expr.left) or _is_size(expr.right)
    return False


def sizes_form(call: cst.Call) -> bool:
    """The call builds an uninitialised tensor of given sizes, not one from data.

    The data form takes exactly one positional argument; two or more, a `*shape`, or one
    that is plainly a size (see ``_is_size``) mean sizes. `torch.Tensor()` (an empty tensor)
    and `torch.Tensor(values)` (a name that may hold data) are neither.
    """
    positional = [arg for arg in call.args if arg.keyword is None]
    if any(arg.star == "*" for arg in positional):
        return True
    if any(arg.star for arg in call.args):
        return False  # `**kwargs`: cannot tell
    if len(positional) >= 2:
        return True
    return len(positional) == 1 and _is_size(positional[0].value)


class LegacyTensorConstructor(Rule):
    """
    ## What it does
    Reports the misleading forms of the legacy typed constructors (`torch.Tensor`,
    `torch.FloatTensor`, `torch.LongTensor`, ...): a call with sizes (`torch.Tensor(3, 4)`,
    `torch.FloatTensor(len(x))`, `torch.LongTensor(*shape)`), and any call of a
    `torch.cuda.*Tensor` constructor, which warns since torch 2.1. Type checks
    (`isinstance(x, torch.FloatTensor)`) and annotations are not calls and are not reported.

    A call with data (`torch.LongTensor([[1, 2]])`, `torch.Tensor(values)`, and lists built
    with `*`, `+` or a comprehension: `torch.LongTensor([0] * n)`, `[len(s) for s in b]`)
    is not reported: old-style, but it does what it says and does not warn (on real code
    these were nearly all test fixtures and constants, and nobody changes them). Nor are
    sizes whose memory is never read uninitialised: `torch.Tensor()` / `torch.Tensor(0)`
    (empty); an in-place initialiser later in the chain, after moves and casts
    (`torch.Tensor(3, 4).uniform_(-1, 1)`, `.cuda().fill_(v)`, `.to(d).zero_()`); an
    initialiser in the next statement on the name it is assigned to (`x = torch.Tensor(n)`
    then `x.normal_()` or `nn.init.xavier_uniform_(x)`); and
    `nn.Parameter(torch.Tensor(n, m))`, the idiom of layers that initialise in place after.
    Code in a branch for another torch (a version test or flag, `hasattr`, an `except
    ImportError`) is not reported either.

    ## Why is this bad?
    The legacy constructors overload one call for two meanings: `torch.FloatTensor(3)` is
    an *uninitialized* tensor of size 3, `torch.FloatTensor([3])` is the value 3. Sizes give
    garbage memory that looks like data, and a size meant as a value silently becomes one.
    The `torch.cuda` variants hard-code the device, so the code fails on a machine without
    CUDA, and since torch 2.1 they warn ("The torch.cuda.*DtypeTensor constructors are no
    longer recommended"). `torch.empty` / `torch.zeros` (sizes) and `torch.tensor(..., device=)` (data) say
    which one is meant.

    ## Example
    ```python
    buf = torch.FloatTensor(4, 5)
    ids = torch.cuda.LongTensor([1, 2, 3])
    ```

    ## Use instead
    ```python
    buf = torch.empty(4, 5, dtype=torch.float32)
    ids = torch.tensor([1, 2, 3], dtype=torch.int64, device="cuda")
    ```

    Opt-in (`extend-select = ["TL608"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 1 of 2 sampled reports were worth a
    change, below the 90 % a default rule must reach: a tensor passed as data was read as sizes (and 0 of 5 on the tuning projects).

    ## Fix safety
    Unsafe, and offered only when the arguments show which meaning is used: sizes become
    `torch.empty(sizes, dtype=...)` (still uninitialized: use `torch.zeros` if you relied
    on luck), and a `torch.cuda` constructor with a list or tuple literal becomes
    `torch.tensor(data, dtype=..., device="cuda")`. `torch.Tensor` keeps the default dtype.
    Anything else (`*shape`, keywords, data in a variable) is reported without a fix.

    ## References
    - https://pytorch.org/docs/stable/tensors.html
    - https://pytorch.org/docs/stable/generated/torch.tensor.html
    """

    code = "TL608"
    name = "legacy-tensor-constructor"
    default = False
    applies_to_tests = True
    summary = "legacy tensor constructor: use `torch.tensor(...)` or `torch.empty(...)`"
    fix_applicability = Applicability.UNSAFE
    requires = ("Tensor",)
    examples = (
        Invalid(
            """
            import torch
            b = torch.LongTensor(4, 5)
            v = torch.Tensor(2, 3)
            """,
            fixed="""
            import torch
            b = torch.empty(4, 5, dtype=torch.int64)
            v = torch.empty(2, 3)
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
            w = torch.cuda.FloatTensor([[1, 2], [3, 4]])
            """,
            fixed="""
            import torch
            w = torch.tensor([[1, 2], [3, 4]], dtype=torch.float32, device="cuda")
            """,
        ),
        Invalid(
            """
            from torch.cuda import ByteTensor
            mask = ByteTensor([1, 0, 1])
            """,
            fixed="""
            import torch
            mask = torch.tensor([1, 0, 1], dtype=torch.uint8, device="cuda")
            """,
        ),
        Invalid(
            """
            import torch
            counts = torch.FloatTensor(len(items))
            grid = torch.Tensor(x.size(0), 2 * n)
            """,
            fixed="""
            import torch
            counts = torch.empty(len(items), dtype=torch.float32)
            grid = torch.empty(x.size(0), 2 * n)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            hidden = torch.Tensor(layers, batch, size).cuda()
            noise = torch.Tensor(batch, dim)
            total = noise.sum()
            noise.normal_(0, 1)
            """,
            fixed="""
            import torch
            hidden = torch.empty(layers, batch, size).cuda()
            noise = torch.empty(batch, dim)
            total = noise.sum()
            noise.normal_(0, 1)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            check = torch.cuda.FloatTensor(1).fill_(0)
            """,
            fixed="""
            import torch
            check = torch.empty(1, dtype=torch.float32, device="cuda").fill_(0)
            """,
        ),
        Invalid(
            """
            import torch
            x = torch.Tensor(*shape)
            y = torch.cuda.LongTensor(ids)
            z = torch.cuda.FloatTensor(array, device=d)
            """,
            fixed=None,
            count=3,
        ),
        Valid(
            """
            import torch
            a = torch.FloatTensor([1, 2, 3])
            w = torch.Tensor([[1, 2], [3, 4]])
            idx = torch.LongTensor([[1, 2]])
            target = torch.Tensor(caption)
            y = torch.FloatTensor(array, device=d)
            empty = torch.Tensor()
            """
        ),
        Valid(
            """
            import torch
            import torch.nn as nn
            outputs[0] = torch.Tensor(0)
            target = torch.LongTensor(1, 6, 5).fill_(0)
            w = torch.Tensor(3, 4).uniform_(-0.1, 0.1)
            self.weight = nn.Parameter(torch.Tensor(out_features, in_features))
            """
        ),
        Valid(
            """
            import torch
            mask = torch.LongTensor([0] * len(tokens))
            ids = torch.LongTensor(prefix + [eos_id])
            lengths = torch.LongTensor([len(s) for s in batch])
            hidden = torch.Tensor(layers, batch, size).cuda().fill_(0)
            counts = torch.FloatTensor(n).to(device).zero_()
            noise = torch.Tensor(batch, dim)
            noise.normal_(0, 1)
            """
        ),
        Valid(
            """
            import torch
            if TORCH_GE_2_1:
                ids = torch.tensor(data, device="cuda")
            else:
                ids = torch.cuda.LongTensor(data)
            buf = torch.cuda.FloatTensor(n) if not is_torch2_available() else None
            """
        ),
        Valid(
            """
            from torch import ByteTensor, Tensor
            mask = ByteTensor([1, 0, 1])
            boxes = Tensor([[214.15, 41.29, 562.41, 285.07]])
            """
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
                return torch.FloatTensor(3, 4)
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
        dtype, device = CONSTRUCTORS[qualified]
        if device is None and not (sizes_form(node) and self._garbage_may_be_read(node)):
            return  # data (`torch.LongTensor([[1, 2]])`), or sizes whose memory is set at once
        if in_compat_branch(self.context.ancestors, self.context, node):
            return  # written for another torch, on purpose
        self.report(node, SIZES if device is None else CUDA, fix=self._fix(node, dtype, device))

    def _garbage_may_be_read(self, node: cst.Call) -> bool:
        """Not when nothing is uninitialised (`torch.Tensor(0)`, an empty placeholder), when
        an in-place initialiser follows in the chain (`torch.Tensor(3, 4).uniform_(-1, 1)`,
        `torch.LongTensor(n).cuda().fill_(0)`, `.to(d).zero_()`) or in the next statement on
        the name it is assigned to (`x = torch.Tensor(n)` then `x.zero_()`), or for
        `nn.Parameter(torch.Tensor(n, m))`, which layers initialise in place after."""
        args = node.args
        if len(args) == 1 and calls.int_literal(args[0].value) == 0:
            return False
        ancestors = self.context.ancestors
        current: cst.CSTNode = node
        index = len(ancestors) - 1
        while index >= 1:  # along `.cuda().fill_(v)`: moves, then an initialiser
            parent, call = ancestors[index], ancestors[index - 1]
            if not (
                isinstance(parent, cst.Attribute)
                and parent.value is current
                and isinstance(call, cst.Call)
                and call.func is parent
            ):
                break
            name = parent.attr.value
            if _initialiser(name) and name not in MOVES:
                return False
            if name not in MOVES:
                return True  # `torch.Tensor(n).sum()`: read before any write
            current, index = call, index - 2
        parent = ancestors[index] if index >= 0 else None
        if isinstance(parent, cst.Arg) and index >= 1:
            owner = ancestors[index - 1]
            if isinstance(owner, cst.Call) and self.qualified_name(owner.func) in PARAMETER:
                return False
        if isinstance(parent, cst.Assign) and parent.value is current:
            return not self._initialised_next(parent, ancestors[:index])
        return True

    def _initialised_next(self, assign: cst.Assign, ancestors: list[cst.CSTNode]) -> bool:
        """The statement after ``assign`` writes every element of what it assigned:
        `x.fill_(0)`, `self.buf.data.normal_()`, `nn.init.xavier_uniform_(x)`."""
        if len(assign.targets) != 1 or len(ancestors) < 2:
            return False
        target = dotted_name(assign.targets[0].target)
        line, block = ancestors[-1], ancestors[-2]
        body = getattr(block, "body", None)
        if target is None or not isinstance(body, (list, tuple)) or line not in body:
            return False
        following = body[body.index(line) + 1 : body.index(line) + 2]
        if not following or not isinstance(following[0], cst.SimpleStatementLine):
            return False
        first = following[0].body[0]
        if not (isinstance(first, cst.Expr) and isinstance(first.value, cst.Call)):
            return False
        call = first.value
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and _initialiser(func.attr.value)
            and dotted_name(func.value) in (target, f"{target}.data")
        ):
            return True
        qualified = self.qualified_name(func) or ""
        return (
            qualified.startswith(INIT_PREFIX)
            and qualified.endswith("_")
            and bool(call.args)
            and dotted_name(call.args[0].value) in (target, f"{target}.data")
        )

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
        if len(args) == 1 and (_is_data_literal(args[0].value) or _is_data(args[0].value)):
            function = "tensor"
            dtype_text = f"{name}.{dtype}" if dtype else f"{name}.get_default_dtype()"
        elif not args or sizes_form(node):
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
