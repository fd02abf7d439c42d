"""TL312 require-grad-typo."""

from __future__ import annotations

import libcst as cst

from torchlint.context import FileContext
from torchlint.diagnostics import Applicability
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid

TYPO = "require_grad"


def _read_somewhere(context: FileContext) -> bool:
    """The file reads ``.require_grad`` somewhere: it is a real attribute of its own."""
    stack: list[tuple[cst.CSTNode, bool]] = [(context.module, False)]
    while stack:
        node, is_target = stack.pop()
        if isinstance(node, cst.Attribute) and node.attr.value == TYPO and not is_target:
            return True
        if isinstance(node, cst.Assign):
            stack.extend((t.target, True) for t in node.targets)
            stack.append((node.value, False))
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            stack.append((node.target, True))
            if node.value is not None:
                stack.append((node.value, False))
        elif isinstance(node, (cst.Tuple, cst.List)) and is_target:
            stack.extend((e.value, True) for e in node.elements)
        elif isinstance(node, cst.Attribute) and is_target:
            stack.append((node.value, False))
        else:
            stack.extend((child, False) for child in iter_children(node))
    return False


class RequireGradTypo(Rule):
    """
    ## What it does
    Reports an assignment to an attribute named `require_grad` (the real one is
    `requires_grad`), e.g. `p.require_grad = False`. A file that also reads
    `.require_grad` (its own attribute of that name) is left alone.

    ## Why is this bad?
    Python happily creates a new, meaningless attribute on the tensor; the parameter stays
    trainable. "Frozen" layers keep training, fine-tuning updates the backbone, and memory
    use is higher than expected, all without an error.

    ## Example
    ```python
    for p in model.backbone.parameters():
        p.require_grad = False
    ```

    ## Use instead
    ```python
    for p in model.backbone.parameters():
        p.requires_grad = False
    ```

    ## Fix safety
    Safe: the fix makes the code do what it says; no code reads the misspelt attribute.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.Tensor.requires_grad.html
    - https://pytorch.org/docs/stable/notes/autograd.html#setting-requires-grad
    """

    code = "TL312"
    name = "require-grad-typo"
    applies_to_tests = True
    summary = "`require_grad` is not a tensor attribute: use `requires_grad`"
    fix_applicability = Applicability.SAFE
    requires = (TYPO,)
    examples = (
        Invalid(
            """
            for p in model.parameters():
                p.require_grad = False
            """,
            fixed="""
            for p in model.parameters():
                p.requires_grad = False
            """,
        ),
        Invalid(
            """
            model.fc.weight.require_grad = True
            """,
            fixed="""
            model.fc.weight.requires_grad = True
            """,
        ),
        Invalid(
            """
            a.require_grad = b.require_grad = False
            """,
            fixed="""
            a.requires_grad = b.requires_grad = False
            """,
            count=2,
        ),
        Invalid(
            """
            x.require_grad, y = True, 1
            """,
            fixed="""
            x.requires_grad, y = True, 1
            """,
        ),
        Invalid(
            """
            param.require_grad: bool = False
            """,
            fixed="""
            param.requires_grad: bool = False
            """,
        ),
        Valid(
            """
            p.requires_grad = False
            """
        ),
        Valid(
            """
            class Config:
                def __init__(self, require_grad):
                    self.require_grad = require_grad
                def apply(self, p):
                    p.requires_grad_(self.require_grad)
            """
        ),
        Valid(
            """
            require_grad = False
            """
        ),
        Valid(
            """
            p.requires_grad_(False)
            """
        ),
    )

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node.target)

    def _check(self, target: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._check(element.value)
            return
        if not (isinstance(target, cst.Attribute) and target.attr.value == TYPO):
            return
        if self.context.fact("TL312", _read_somewhere):
            return
        fix = self.fix(
            Applicability.SAFE, "Rename to `requires_grad`", Replace(target.attr, "requires_grad")
        )
        self.report(target, fix=fix)
