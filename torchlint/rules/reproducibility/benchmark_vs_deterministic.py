"""TL802 benchmark-vs-deterministic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.rules.base import Invalid, Rule, Valid

if TYPE_CHECKING:
    from torchlint.context import FileContext

BENCHMARK = "torch.backends.cudnn.benchmark"
DETERMINISTIC = "torch.backends.cudnn.deterministic"
USE_DETERMINISTIC = "torch.use_deterministic_algorithms"


def exclusive(a: Sequence[cst.CSTNode], b: Sequence[cst.CSTNode]) -> bool:
    """True when two nodes (given as root-to-node paths) sit in the two branches of one `if`."""
    for index in range(1, min(len(a), len(b))):
        if a[index] is not b[index]:
            common = a[index - 1]
            return isinstance(common, cst.If) and {id(a[index]), id(b[index])} == {
                id(common.body),
                id(common.orelse),
            }
    return False


class BenchmarkVsDeterministic(Rule):
    """
    ## What it does
    Reports `torch.backends.cudnn.benchmark = True` in a file that also asks for
    determinism: `torch.backends.cudnn.deterministic = True` or
    `torch.use_deterministic_algorithms(True)`. Settings in the two branches of the same
    `if`/`else` are not reported, nor is a `benchmark = True` in a function that turns
    determinism off in the same breath (`deterministic = False`,
    `use_deterministic_algorithms(False)`): a `tearDown` restoring the fast defaults after a
    `setUp` that asked for determinism switches modes, it does not mix them.

    ## Why is this bad?
    The two settings pull in opposite directions. Benchmark mode times several convolution
    algorithms on the first batch of each shape and keeps the fastest; which one wins
    depends on timing noise, so it can differ from run to run and the results with it.
    PyTorch's reproducibility notes say to turn benchmarking off when you want determinism.
    Code that sets both usually wanted one of them and silently gets neither speed nor
    reproducibility.

    ## Example
    ```python
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = True
    ```

    ## Use instead
    ```python
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    ```
    or, to make it a choice:
    ```python
    if args.deterministic:
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.benchmark = True
    ```

    ## Fix safety
    No fix: only the author knows whether speed or reproducibility was meant.

    Opt-in (`extend-select = ["TL802"]`) since round 2026-12-08c: on every unseen label it
    matches it was right 10 of 12 times (strict labels, LABELLING.md), under the 90 % a
    default rule must reach. The false ones: a `benchmark = True` that an
    `if args.deterministic:` branch right after switches off (a deliberate choice, in
    vendored example code), and an inference demo where neither setting changes anything
    its users rely on.

    ## References
    - https://pytorch.org/docs/stable/notes/randomness.html#cuda-convolution-benchmarking
    - https://pytorch.org/docs/stable/backends.html#torch.backends.cudnn.benchmark
    """

    code = "TL802"
    name = "benchmark-vs-deterministic"
    applies_to_tests = False
    default = False
    summary = "cuDNN benchmark mode is on in a file that asks for deterministic results"
    requires = ("benchmark",)
    examples = (
        Invalid(
            """
            import torch
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = True
            """
        ),
        Invalid(
            """
            import torch
            from torch.backends import cudnn
            def seed(value):
                torch.manual_seed(value)
                torch.use_deterministic_algorithms(True)
            def main():
                seed(0)
                cudnn.benchmark = True
            """
        ),
        Invalid(
            """
            import torch.backends.cudnn as cudnn
            import torch
            cudnn.benchmark = True
            if args.strict:
                torch.use_deterministic_algorithms(mode=True)
            """
        ),
        Invalid(
            """
            import torch
            torch.backends.cudnn.benchmark = torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = True
            """,
            count=2,
        ),
        Valid(
            """
            import torch
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            """
        ),
        Valid(
            """
            import torch
            class TestLoss:
                def setUp(self):
                    torch.backends.cudnn.deterministic = True
                    torch.backends.cudnn.benchmark = False
                def tearDown(self):
                    torch.backends.cudnn.deterministic = False
                    torch.backends.cudnn.benchmark = True
            """
        ),
        Valid(
            """
            import torch
            if args.deterministic:
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
            elif args.fast:
                torch.backends.cudnn.benchmark = True
            """
        ),
        Valid(
            """
            import torch
            torch.backends.cudnn.benchmark = True
            torch.use_deterministic_algorithms(False)
            torch.backends.cudnn.deterministic = args.deterministic
            """
        ),
        Valid(
            """
            import torch
            class cudnn:
                benchmark = False
            cudnn.benchmark = True
            torch.backends.cudnn.deterministic = True
            """
        ),
        Valid(
            """
            import torch
            def configure(torch):
                torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.deterministic = True
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.benchmarks: list[tuple[cst.Assign, list[cst.CSTNode], int]] = []
        self.deterministic: list[list[cst.CSTNode]] = []
        self.switched_off: set[int] = set()  # functions (or the module) turning determinism off

    def _function(self) -> int:
        """The innermost function around the node being visited (the module at top level)."""
        return next(
            (id(a) for a in reversed(self.context.ancestors) if isinstance(a, cst.FunctionDef)),
            id(self.context.module),
        )

    def visit_Assign(self, node: cst.Assign) -> None:
        if calls.is_false(node.value):
            for target in node.targets:
                attribute = target.target
                if (
                    isinstance(attribute, cst.Attribute)
                    and attribute.attr.value == "deterministic"
                    and self.qualified_name(attribute) == DETERMINISTIC
                ):
                    self.switched_off.add(self._function())
            return
        if not calls.is_true(node.value):
            return
        for target in node.targets:
            attribute = target.target
            if not isinstance(attribute, cst.Attribute):
                continue
            if attribute.attr.value not in ("benchmark", "deterministic"):
                continue
            qualified = self.qualified_name(attribute)
            path = [*self.context.ancestors, node]
            if qualified == BENCHMARK:
                self.benchmarks.append((node, path, self._function()))
            elif qualified == DETERMINISTIC:
                self.deterministic.append(path)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if name != "use_deterministic_algorithms" or calls.has_star_args(node):
            return
        mode = calls.argument(node, "mode", 0)
        if mode is None or self.qualified_name(func) != USE_DETERMINISTIC:
            return
        if calls.is_true(mode.value):
            self.deterministic.append([*self.context.ancestors, node])
        elif calls.is_false(mode.value):
            self.switched_off.add(self._function())

    def leave_Module(self, node: cst.Module) -> None:
        reported: set[int] = set()
        for assign, path, function in self.benchmarks:
            if id(assign) in reported or function in self.switched_off:
                continue
            if any(not exclusive(path, other) for other in self.deterministic):
                reported.add(id(assign))
                self.report(assign)
