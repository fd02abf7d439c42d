"""TL316 accumulation-step-off-by-one."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.accumulation import steps_after_backward
from torchlint.diagnostics import Applicability
from torchlint.names import iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.training._common import calls_method


def _counter_from_zero(scope, loop: cst.For) -> str | None:
    """The loop's index when it counts from 0: ``for i, b in enumerate(x)`` (no start, or
    start 0) or ``for i in range(n)``."""
    iterable, target = loop.iter, loop.target
    if not isinstance(iterable, cst.Call) or not isinstance(iterable.func, cst.Name):
        return None
    builtin = iterable.func.value
    if builtin not in ("enumerate", "range") or scope.binds(builtin) is not None:
        return None
    if calls.has_star_args(iterable):
        return None
    if builtin == "enumerate":
        start = calls.argument(iterable, "start", 1)
        if start is not None and calls.int_literal(start.value) != 0:
            return None
        if not isinstance(target, cst.Tuple) or len(target.elements) != 2:
            return None
        target = target.elements[0].value
    else:
        positional = calls.positional(iterable)
        if len(positional) == 2 and calls.int_literal(positional[0].value) != 0:
            return None
        if len(positional) not in (1, 2):
            return None
    return target.value if isinstance(target, cst.Name) else None


def _modulo_is_zero(test: cst.BaseExpression, index: str) -> cst.BinaryOperation | None:
    """``index % n == 0`` (also ``0 == index % n``, ``not index % n``), alone or as one side
    of an ``or``: the test is true on the first iteration. Returns the ``index % n``."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _modulo_is_zero(test.left, index) or _modulo_is_zero(test.right, index)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _index_modulo(test.expression, index)
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return None
    left, right = test.left, target.comparator
    if calls.int_literal(right) == 0:
        return _index_modulo(left, index)
    if calls.int_literal(left) == 0:
        return _index_modulo(right, index)
    return None


def _index_modulo(expr: cst.BaseExpression, index: str) -> cst.BinaryOperation | None:
    if (
        isinstance(expr, cst.BinaryOperation)
        and isinstance(expr.operator, cst.Modulo)
        and isinstance(expr.left, cst.Name)
        and expr.left.value == index
        and calls.int_literal(expr.right) != 1
    ):
        return expr
    return None


def _rebinds(node: cst.CSTNode, name: str) -> bool:
    """``name`` is assigned (``=``, ``+=``, walrus, a ``for`` target) somewhere in ``node``."""
    stack = [node]
    while stack:
        current = stack.pop()
        targets: list[cst.CSTNode] = []
        if isinstance(current, cst.Assign):
            targets = [t.target for t in current.targets]
        elif isinstance(current, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr, cst.For)):
            targets = [current.target]
        for target in targets:
            for sub in [target, *_names_in(target)]:
                if isinstance(sub, cst.Name) and sub.value == name:
                    return True
        stack.extend(iter_children(current))
    return False


def _names_in(node: cst.CSTNode) -> list[cst.CSTNode]:
    found: list[cst.CSTNode] = []
    stack = list(iter_children(node))
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(iter_children(current))
    return found


class AccumulationStepOffByOne(Rule):
    """
    ## What it does
    Reports a gradient-accumulation loop that steps the optimizer when `i % n == 0`, where
    `i` counts the micro-batches from 0 (`for i, batch in enumerate(loader)` or
    `for i in range(steps)`) and the loop calls `backward()` on every iteration *before*
    that test.

    Only this shape is reported: the index is not reassigned in the loop, the `backward()`
    is in a statement that runs every iteration (not under an `if`), the `if` that steps an
    optimizer (`optimizer.step()`, `scaler.step(optimizer)`) calls no `backward()` itself (a
    GAN that trains its generator every `n` critic steps does), and `n` is not the literal 1.
    `(i + 1) % n == 0`, `enumerate(loader, 1)`, a counter incremented before the test, or a
    test placed *before* the `backward()` (it steps what the previous `n` micro-batches
    accumulated) are correct and not reported.

    ## Why is this bad?
    On the first iteration `0 % n == 0`: the optimizer steps after one micro-batch instead
    of `n`, and every later step comes one micro-batch early relative to the intended groups
    (`n` micro-batches 1..n, then n+1..2n): the first update uses a gradient `n` times
    smaller than the others (or, when the loss is divided by `n`, a noisy one-batch gradient
    with the wrong scale), and the last `n - 1` micro-batches of an epoch are carried into the
    next one. Maintainers fix this to `(i + 1) % n == 0`.

    ## Example
    ```python
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if i % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accumulation_steps
        loss.backward()
        if (i + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Fix safety
    Unsafe: the fix (`i % n` → `(i + 1) % n`) changes when the optimizer steps, which is the
    point, but it also changes the training trajectory a saved run was tuned with.

    ## References
    - https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-accumulation
    """

    code = "TL316"
    name = "accumulation-step-off-by-one"
    applies_to_tests = False
    summary = (
        "Optimizer steps when `i % n == 0` after `backward()`: the first step comes after one "
        "micro-batch; use `(i + 1) % n == 0`"
    )
    fix_applicability = Applicability.UNSAFE
    requires = ("backward",)
    examples = (
        Invalid(
            """
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if i % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """,
            fixed="""
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """,
        ),
        Invalid(
            """
            import torch
            def train(model, loader, optimizer, scaler, args):
                for step in range(args.max_steps):
                    with torch.autocast("cuda"):
                        loss = model(next(loader))
                    scaler.scale(loss).backward()
                    if step % args.grad_accum == 0 or step == args.max_steps - 1:
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
            """,
            fixed="""
            import torch
            def train(model, loader, optimizer, scaler, args):
                for step in range(args.max_steps):
                    with torch.autocast("cuda"):
                        loss = model(next(loader))
                    scaler.scale(loss).backward()
                    if (step + 1) % args.grad_accum == 0 or step == args.max_steps - 1:
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
            """,
        ),
        Invalid(
            """
            for it, batch in enumerate(loader, start=0):
                accelerator.backward(model(batch).loss)
                if not it % self.accum:
                    self.optimizer.step()
            """,
            fixed="""
            for it, batch in enumerate(loader, start=0):
                accelerator.backward(model(batch).loss)
                if not (it + 1) % self.accum:
                    self.optimizer.step()
            """,
        ),
        Valid(
            """
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                loss.backward()
                if (i + 1) % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Valid(
            """
            for i, (x, y) in enumerate(loader, 1):
                loss_fn(model(x), y).backward()
                if i % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
            """
        ),
        Valid(
            """
            for i, (x, y) in enumerate(loader):
                if i % accumulation_steps == 0:
                    optimizer.step()
                    optimizer.zero_grad()
                loss_fn(model(x), y).backward()
            """
        ),
        Valid(
            """
            for i, (real, _) in enumerate(loader):
                d_loss = critic_loss(real)
                d_loss.backward()
                optimizer_d.step()
                if i % n_critic == 0:
                    g_loss = generator_loss()
                    g_loss.backward()
                    optimizer_g.step()
            """
        ),
        Valid(
            """
            for i, batch in enumerate(loader):
                loss = model(batch)
                loss.backward()
                optimizer.step()
                if i % log_every == 0:
                    print(loss.item())
                if i % 100 == 0:
                    scheduler.step()
            """
        ),
        Valid(
            """
            for i, batch in enumerate(loader):
                i = i + 1
                model(batch).backward()
                if i % accumulation_steps == 0:
                    optimizer.step()
            """
        ),
    )

    def visit_For(self, node: cst.For) -> None:
        if not calls_method(self.context.source, "backward"):
            return
        index = _counter_from_zero(self.context.scope, node)
        if index is None or _rebinds(node.body, index):
            return
        for statement in steps_after_backward(node):
            modulo = _modulo_is_zero(statement.test, index)
            if modulo is not None:
                self._report(modulo)

    def _report(self, modulo: cst.BinaryOperation) -> None:
        shifted = modulo.with_changes(
            left=cst.BinaryOperation(
                left=modulo.left,
                operator=cst.Add(),
                right=cst.Integer("1"),
                lpar=[cst.LeftParen()],
                rpar=[cst.RightParen()],
            )
        )
        fix = self.fix(Applicability.UNSAFE, "Step on `(i + 1) % n == 0`", Replace(modulo, shifted))
        self.report(modulo, fix=fix)
