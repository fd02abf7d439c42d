"""TL801 missing-seed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import InsertLine, Invalid, Rule, Valid

if TYPE_CHECKING:
    from torchlint.context import FileContext

TORCH_SEEDERS = frozenset(
    {
        "torch.manual_seed",
        "torch.random.manual_seed",
        "torch.cuda.manual_seed",
        "torch.cuda.manual_seed_all",
    }
)
# Seeding helpers, whatever module they come from (lightning's `seed_everything`,
# `transformers.set_seed`, `accelerate.utils.set_seed`, a project's own `set_seed`).
SEED_HELPERS = frozenset(
    {
        "seed_everything",
        "set_seed",
        "set_seeds",
        "set_random_seed",
        "seed_all",
        "setup_seed",
        "init_seeds",
        "fix_seed",
        "fix_seeds",
        "seed_torch",
    }
)
NOT_OPTIMIZER_PACKAGES = frozenset({"lr_scheduler", "swa_utils"})
NOT_LITERAL = object()  # a seeding call whose seed is not an integer literal


def seeding_call(rule: Rule, node: cst.Call) -> bool:
    """True for a call that seeds torch's global generator (or a helper that surely does)."""
    func = node.func
    last = calls.callee_name(node)
    if last is None:
        return False
    if last in SEED_HELPERS:
        return True
    if last in ("manual_seed", "manual_seed_all"):  # not `generator.manual_seed(...)`
        return rule.qualified_name(func) in TORCH_SEEDERS
    return False


def seed_value(node: cst.Call) -> int | object:
    """The integer literal a seeding call passes, or ``NOT_LITERAL``."""
    if calls.has_star_args(node):
        return NOT_LITERAL
    arg = calls.argument(node, "seed", 0)
    value = None if arg is None else calls.int_literal(arg.value)
    return NOT_LITERAL if value is None else value


def is_optimizer(qualified: str | None) -> bool:
    """``torch.optim.SGD``, ``torch.optim.adamw.AdamW``; not schedulers or ``swa_utils``."""
    if qualified is None or not qualified.startswith("torch.optim."):
        return False
    parts = qualified.split(".")
    return parts[-1][:1].isupper() and not NOT_OPTIMIZER_PACKAGES.intersection(parts)


def is_main_guard(node: cst.If) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    test = node.test
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    operands = [test.left, target.comparator]
    names = [o for o in operands if isinstance(o, cst.Name) and o.value == "__name__"]
    strings = [o for o in operands if calls.string_literal(o) == "__main__"]
    return len(names) == 1 and len(strings) == 1


class MissingSeed(Rule):
    """
    ## What it does
    Reports a script (a file with `if __name__ == "__main__":`) that builds a
    `torch.optim` optimizer but never seeds torch (`torch.manual_seed`, `seed_everything`,
    `set_seed`, ...).

    ## Why is this bad?
    Without a seed, weight initialization, dropout, data shuffling and augmentation differ
    on every run: two runs of the same script give different numbers, a regression cannot
    be told apart from noise, and a bug that shows up once cannot be reproduced.

    ## Example
    ```python
    import torch

    def main():
        model = Net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        ...

    if __name__ == "__main__":
        main()
    ```

    ## Use instead
    ```python
    import torch
    from torchlint.runtime import seed_everything

    ...

    if __name__ == "__main__":
        seed_everything(0)
        main()
    ```
    `seed_everything` seeds Python's `random`, numpy and torch on every device.

    ## Fix safety
    Unsafe: results change (they become repeatable). The seed goes first in the
    `if __name__ == "__main__":` block; an optimizer built at module level outside that
    block gets no fix, as seeding there would come too late. With `runtime-helpers = false`
    the fix inserts `torch.manual_seed(0)` instead.

    ## References
    - https://pytorch.org/docs/stable/notes/randomness.html
    """

    code = "TL801"
    name = "missing-seed"
    applies_to_tests = False
    summary = "Training script never seeds its random number generators"
    default = False
    fix_applicability = Applicability.UNSAFE
    requires = ("__main__",)
    examples = (
        Invalid(
            """
            import torch

            def main():
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

            if __name__ == "__main__":
                main()
            """,
            fixed="""
            import torch
            from torchlint.runtime import seed_everything

            def main():
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

            if __name__ == "__main__":
                seed_everything(0)
                main()
            """,
        ),
        Invalid(
            """
            import random
            from torch.optim import AdamW

            def main():
                random.seed(0)
                opt = AdamW(params)

            if "__main__" == __name__:
                # run it
                main()
            """,
            fixed="""
            import random
            import torch
            from torch.optim import AdamW

            def main():
                random.seed(0)
                opt = AdamW(params)

            if "__main__" == __name__:
                # run it
                torch.manual_seed(0)
                main()
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            import torch.optim as optim
            model = build()
            opt = optim.Adam(model.parameters())
            if __name__ == "__main__":
                train(model, opt)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            def seed_everything():
                pass
            def main():
                opt = torch.optim.SGD(params, lr=0.1)
            if __name__ == "__main__":
                main()
            """,
            fixed=None,
        ),
        Valid(
            """
            import torch
            def main():
                torch.manual_seed(0)
                optimizer = torch.optim.SGD(params, lr=0.1)
            if __name__ == "__main__":
                main()
            """
        ),
        Valid(
            """
            import lightning as L
            import torch
            def main():
                optimizer = torch.optim.Adam(params)
            if __name__ == "__main__":
                L.seed_everything(42)
                main()
            """
        ),
        Valid(
            """
            import torch
            from transformers import set_seed
            if __name__ == "__main__":
                set_seed(1)
                opt = torch.optim.AdamW(params)
            """
        ),
        Valid(
            """
            import torch
            def build():
                return torch.optim.SGD(params, lr=0.1)
            """
        ),
        Valid(
            """
            import torch
            def main():
                scheduler = torch.optim.lr_scheduler.StepLR(opt, 10)
            if __name__ == "__main__":
                main()
            """
        ),
        Valid(
            """
            from mylib import optim
            def main():
                opt = optim.SGD(params)
            if __name__ == "__main__":
                main()
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.guard: cst.If | None = None
        self.optimizer = False
        self.optimizer_before_guard = False
        self.seeded = False

    def visit_If(self, node: cst.If) -> None:
        if (
            self.guard is None
            and self.context.parent is self.context.module
            and is_main_guard(node)
        ):
            self.guard = node

    def visit_Call(self, node: cst.Call) -> None:
        if self.seeded:
            return
        if seeding_call(self, node):
            self.seeded = True
            return
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
        if not isinstance(last, str) or not last[:1].isupper():
            return
        if is_optimizer(self.qualified_name(func)):
            self.optimizer = True
            context = self.context
            if context.scope is context.module_scope and self.guard is None:
                self.optimizer_before_guard = True

    def leave_Module(self, node: cst.Module) -> None:
        if self.guard is None or not self.optimizer or self.seeded:
            return
        self.report(self.guard, fix=self._fix(self.guard))

    def _fix(self, guard: cst.If):
        body = guard.body
        if self.optimizer_before_guard or not isinstance(body, cst.IndentedBlock):
            return None
        first = body.body[0]
        scope = self.context.module_scope
        if self.context.settings.runtime_helpers:
            if not scope.can_use("seed_everything", "torchlint.runtime.seed_everything"):
                return None
            return self.fix(
                Applicability.UNSAFE,
                "Insert `seed_everything(0)`",
                InsertLine(first, "seed_everything(0)"),
                preamble=["from torchlint.runtime import seed_everything"],
            )
        if not scope.can_use("torch", "torch"):
            return None
        return self.fix(
            Applicability.UNSAFE,
            "Insert `torch.manual_seed(0)`",
            InsertLine(first, "torch.manual_seed(0)"),
            preamble=["import torch"],
        )
