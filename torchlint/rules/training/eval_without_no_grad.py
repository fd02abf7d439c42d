"""TL303 eval-without-no-grad."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import UNKNOWN, Event, covers, flow_of
from torchlint.context import FileContext
from torchlint.diagnostics import Applicability
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, PendingFix, Replace, Rule, Valid
from torchlint.rules.training._common import calls_method, is_framework_hook

_GRADIENT_KINDS = frozenset({"backward", "autograd", "grad_toggle"})


def _needs_gradients(expanded: list[Event], call: Event) -> bool:
    """Saliency maps, adversarial examples, input gradients: eval mode *with* autograd.
    Only gradients taken after the call (or in the loop around it) need its graph: a
    ``.backward()`` reached through an earlier call of a training function does not."""
    after = False
    for event in expanded:
        if event is call:
            after = True
            continue
        if event.kind == "grad_toggle":
            return True  # the function manages autograd itself
        if event.kind in _GRADIENT_KINDS and (
            after
            or any(loop in event.loops for loop in call.loops)
            or _contains(event.node, call.node)  # `model(x).max().backward()`
        ):
            return True
    return False


def _contains(outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
    stack = [outer]
    while stack:
        node = stack.pop()
        if node is inner:
            return True
        stack.extend(iter_children(node))
    return False


def find(context: FileContext) -> set[int]:
    """Ids of model calls made in eval mode with autograd on."""
    found: set[int] = set()
    if not calls_method(context.source, "eval", "train"):
        return found
    flow = flow_of(context)
    for function in flow.functions:
        events = function.events
        if not any(e.kind == "eval" for e in flow.expanded(function)):
            continue
        if is_framework_hook(function) or flow.is_truncated(function):
            continue
        if flow.runs_without_grad(function):
            continue
        expanded = flow.expanded(function)
        for event in events:
            if event.kind != "model" or event.grad is not None or event.name == UNKNOWN:
                continue
            last = None
            for earlier in expanded:
                if earlier is event:
                    break
                if earlier.kind in ("eval", "train", "mode", "scoped_eval") and covers(
                    earlier.name, event.name
                ):
                    last = earlier
                elif earlier.kind == "bind" and earlier.name == event.name:
                    last = None  # rebound: a new object, mode unknown
            if last is None or last.kind != "eval" or last.name == UNKNOWN:
                continue
            if any(other.kind in ("train", "mode") and other.exclusive(last) for other in expanded):
                continue  # `if training: m.train() else: m.eval()`: the mode depends
            if _needs_gradients(expanded, event):
                continue
            found.add(id(event.node))
    return found


class EvalWithoutNoGrad(Rule):
    """
    ## What it does
    Reports a call of a model after `model.eval()` that runs with autograd on: outside any
    `torch.no_grad()` / `torch.inference_mode()` block or decorator (torch's, or a decorator
    defined in the same file or in another file of the project, such as a `utils.inference`
    that wraps the function in one), unless gradients of that call
    are taken afterwards with `.backward()` or `torch.autograd.grad` (saliency maps,
    adversarial examples need the graph). A `.backward()` that ran before, inside an
    earlier call of a training function, does not need it.

    Opt-in (`extend-select = ["TL303"]`): on the ecosystem check 2 of its 3 remaining reports
    were library functions whose callers want the gradients (a differentiable descriptor) or
    models that already run their heavy part under `no_grad` inside `forward`, which one call
    site does not show.

    ## Why is this bad?
    `eval()` changes how dropout and batch norm behave; it does not stop autograd. Every
    activation of the forward pass is kept for a backward pass that never comes, so
    evaluation uses several times the memory it needs and runs slower.

    ## Example
    ```python
    model.eval()
    logits = model(images)
    ```

    ## Use instead
    ```python
    model.eval()
    with torch.inference_mode():
        logits = model(images)
    ```

    ## Fix safety
    Unsafe: tensors created under `inference_mode` cannot be used by autograd later (use
    `torch.no_grad()` if they must). The fix wraps the statement that makes the call; a call
    inside a compound statement's header (`if model(x) ...:`) gets no fix.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.inference_mode.html
    - https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation
    """

    code = "TL303"
    name = "eval-without-no-grad"
    applies_to_tests = False
    default = False
    summary = "Model called in eval mode with autograd on: the graph is built for nothing"
    fix_applicability = Applicability.UNSAFE
    requires = ("eval", "train")
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch
            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()

            def main(model, loader, optimizer, x_test):
                train(model, loader, optimizer)
                model.eval()
                return model(x_test)
            """,
            fixed="""
            import torch
            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()

            def main(model, loader, optimizer, x_test):
                train(model, loader, optimizer)
                model.eval()
                with torch.inference_mode():
                    return model(x_test)
            """,
        ),
        Invalid(
            """
            import torch
            def predict(model, x):
                model.eval()
                return model(x).argmax(-1)
            """,
            fixed="""
            import torch
            def predict(model, x):
                model.eval()
                with torch.inference_mode():
                    return model(x).argmax(-1)
            """,
        ),
        Invalid(
            """
            def evaluate(self, loader):
                self.model.eval()
                for x, y in loader:
                    logits = self.model(
                        x,
                    )  # forward
                    self.metric.update(logits, y)
            """,
            fixed="""
            import torch
            def evaluate(self, loader):
                self.model.eval()
                for x, y in loader:
                    with torch.inference_mode():
                        logits = self.model(
                            x,
                        )  # forward
                    self.metric.update(logits, y)
            """,
        ),
        Invalid(
            """
            import torch
            net = torch.load("net.pt", weights_only=False)
            net.eval()
            out = net(torch.ones(1, 3))
            """,
            fixed="""
            import torch
            net = torch.load("net.pt", weights_only=False)
            net.eval()
            with torch.inference_mode():
                out = net(torch.ones(1, 3))
            """,
        ),
        Invalid(
            """
            import torch
            def check(model, x):
                model.eval()
                if model(x).sum() > 0:
                    return True
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            def predict(model, x):
                model.eval()
                return model(x)
            """,
            fixed="""
            import torch
            def predict(model, x):
                model.eval()
                with torch.no_grad():
                    return model(x)
            """,
            settings={"target-version": "1.8"},
        ),
        Valid(
            """
            import torch
            def predict(model, x):
                model.eval()
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            def saliency(model, x):
                model.eval()
                x.requires_grad_(True)
                model(x).max().backward()
                return x.grad
            """
        ),
        Valid(
            """
            import torch
            def fgsm(model, x, y, eps):
                model.eval()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                grad, = torch.autograd.grad(loss, x)
                return x + eps * grad.sign()
            """
        ),
        Valid(
            """
            import torch
            def evaluate(model, x):
                model.eval()
                return model(x)

            def main(model, x):
                with torch.no_grad():
                    return evaluate(model, x)
            """
        ),
        Valid(
            """
            import functools
            import torch
            def inference(fn):
                @functools.wraps(fn)
                def wrapper(*args, **kwargs):
                    with torch.no_grad():
                        return fn(*args, **kwargs)
                return wrapper

            @inference
            def predict(model, x):
                model.eval()
                return model(x)
            """
        ),
        Valid(
            """
            import torch
            @torch.inference_mode()
            def evaluate(model, x):
                model.eval()
                return model(x)
            """
        ),
        Valid(
            """
            def step(model, x):
                model.eval()
                model.train()
                return model(x)
            """
        ),
        Valid(
            """
            import torch
            def evaluate(model, x):
                torch.set_grad_enabled(False)
                model.eval()
                return model(x)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if id(node) not in self.context.fact("TL303", find):
            return
        self.report(node, fix=self._fix())

    def _fix(self) -> PendingFix | None:
        context = self.context
        ancestors = context.ancestors
        line_index = next(
            (
                i
                for i in range(len(ancestors) - 1, -1, -1)
                if isinstance(ancestors[i], cst.SimpleStatementLine)
            ),
            None,
        )
        if line_index is None:
            return None
        line = ancestors[line_index]
        assert isinstance(line, cst.SimpleStatementLine)
        if len(line.body) != 1 or any(
            isinstance(a, (cst.Lambda, cst.FunctionDef)) for a in ancestors[line_index:]
        ):
            return None
        small = line.body[0]
        if isinstance(small, (cst.Global, cst.Nonlocal)):
            return None
        module = context.module
        # The statement moves one block deeper, into the new ``with``.
        indents = (*context.indents(ancestors[:line_index]), module.default_indent)
        text = context.code_for(small, indents)
        if '"""' in text or "'''" in text:
            return None  # a multi-line string would change if re-indented
        if not context.scope.can_use("torch", "torch"):
            return None
        manager = (
            "torch.inference_mode()" if context.settings.supports((1, 9)) else "torch.no_grad()"
        )
        indent = "".join(indents)
        newline = module.default_newline
        return self.fix(
            Applicability.UNSAFE,
            f"Wrap the statement in `with {manager}:`",
            Replace(small, f"with {manager}:{newline}{indent}{text}"),
            preamble=["import torch"],
        )
