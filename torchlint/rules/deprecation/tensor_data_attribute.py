"""TL603 tensor-data-attribute."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Applicability
from torchlint.names import SCOPE_TYPES
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid

PARAMETER_ATTRIBUTES = frozenset({"grad", "weight", "bias"})


# Trailing underscore, but they set a flag rather than change the data.
NOT_DATA_UPDATES = frozenset({"requires_grad_", "share_memory_"})


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
    or followed by an in-place method (`x.data.add_(...)`, `.zero_()`, `.copy_(...)`).
    A bare `.data` elsewhere is not reported: many objects have a `data` attribute.

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
            for p in model.parameters():
                p.data.mul_(0.9)
            """
        ),
        Invalid(
            """
            w = layer.weight.data
            """
        ),
        Invalid(
            """
            for p in model.parameters():
                if p.grad is not None:
                    p.grad.data.zero_()
            """
        ),
        Invalid(
            """
            ema.data.copy_(decay * ema + (1 - decay) * value)
            """
        ),
        Invalid(
            """
            for name, p in model.named_parameters():
                p.data -= lr * p.grad
            """
        ),
        Invalid(
            """
            norms = [p.data.norm() for p in net.parameters()]
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
        if isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.Del)):
            return None  # `p.data = v` becomes `p.copy_(v)` under no_grad: a rewrite, not a hint
        return self.fix(Applicability.DISPLAY, "Use `.detach()`", Replace(node, f"{base}.detach()"))


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
