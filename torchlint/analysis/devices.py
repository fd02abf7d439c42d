"""Device facts shared by the TL1/TL2 rules: guards, CUDA moves, DataLoaders, tensor names.

Each function here takes the ``FileContext`` and is meant to be used through
``context.fact(name, function)`` (or called from a visitor), so a file pays for a walk only
when a rule asks, and only once however many rules ask. Everything errs towards "not
sure": a guard that might be a guard counts as one, a name that might not be a tensor is
not one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.names import (
    SCOPE_TYPES,
    Scope,
    child_fields,
    dotted_name,
    inner_children,
    iter_children,
    statement_fields,
)
from torchlint.vocabulary import DATALOADER, DDP_WRAPPERS

if TYPE_CHECKING:
    from torchlint.context import FileContext
    from torchlint.project.index import ProjectView

COLLATE_FN_INDEX = 6
PIN_MEMORY_INDEX = 7

AVAILABILITY = "torch.cuda.is_available"
DEVICE_COUNT = "torch.cuda.device_count"
BEST_DEVICE = "torchlint.runtime.best_device"
_CUDA_STRING = re.compile(r"cuda(:\d+)?")

# Calls whose body certainly stops the rest of the block: `return`, `raise`, `sys.exit()`...
_EXIT_CALLS = frozenset({"exit", "_exit", "skip", "skipTest", "fail"})
# Decorators that run the function only when the condition (first argument) is false/true.
_SKIP_IF = frozenset({"skipIf", "skipif"})
_SKIP_UNLESS = frozenset({"skipUnless"})
_NEGATIVE_FLAG = ("no_", "not_", "disable", "without")
# A flag that reads "run on the CPU" (`--cpu`, `use_cpu`, `cpu_only`): true means no CUDA.
_CPU_FLAG = re.compile(r"^(?:use_|force_|only_|run_on_|on_)?cpu(?:_only|_mode)?$")
# Calls that raise without CUDA: code after (or inside a `with` of) them is CUDA-only anyway.
CUDA_ONLY_CALLS = frozenset(
    f"torch.cuda.{name}"
    for name in (
        "synchronize", "set_device", "current_device", "current_stream", "default_stream",
        "Stream", "Event", "device", "stream", "graph", "CUDAGraph", "init",
        "reset_peak_memory_stats", "get_device_properties", "get_device_name",
    )
)  # fmt: skip


# `torch.nn.parallel.gather(outputs, target_device)`: outputs of DataParallel replicas,
# gathered on a GPU (an integer) or on the CPU (-1, written as a unary minus).
_GATHERS = frozenset({"torch.nn.parallel.gather", "torch.nn.parallel.scatter_gather.gather"})


# --- small expression predicates --------------------------------------------------------


def cuda_literal(expr: cst.BaseExpression) -> str | None:
    """``"cuda"`` or ``"cuda:N"`` when ``expr`` is exactly such a string literal."""
    value = calls.string_literal(expr)
    return value if value is not None and _CUDA_STRING.fullmatch(value) else None


def last_name(expr: cst.BaseExpression) -> str | None:
    """``dev`` for ``dev``, ``device`` for ``args.device``; None for anything else."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def _name_says_device(name: str) -> bool:
    lowered = name.lower()
    return "device" in lowered or "dev" in lowered.split("_")


def is_best_device_call(
    scope: Scope, expr: cst.BaseExpression, project: ProjectView | None = None
) -> bool:
    """``best_device()`` from the runtime (spelled so: an alias is not recognised), or a
    function of the project that does the same (``select_device(...)``: it returns the
    device, chosen by asking torch which accelerator there is)."""
    if not isinstance(expr, cst.Call):
        return False
    if project is not None and project.device_selector(scope.qualified_name(expr.func)):
        return True
    if expr.args or last_name(expr.func) != "best_device":
        return False
    qualified = scope.qualified_name(expr.func)
    return qualified is not None and qualified.endswith("best_device")


def is_device_like(
    scope: Scope, expr: cst.BaseExpression, project: ProjectView | None = None
) -> bool:
    """An expression that is surely a device (never a dtype or a tensor) as ``.to``'s argument.

    A string literal, a QN ``torch.device(...)`` call, ``best_device()``, or a name or
    attribute that says so (``device``, ``args.device``, ``dev``, ``x.device``).
    """
    if calls.string_literal(expr) is not None:
        return True
    if isinstance(expr, cst.Call):
        return scope.qualified_name(expr.func) == "torch.device" or is_best_device_call(
            scope, expr, project
        )
    name = last_name(expr)
    return name is not None and _name_says_device(name)


def is_dataloader_call(scope: Scope, expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and scope.qualified_name(expr.func) in DATALOADER


# --- walking ----------------------------------------------------------------------------


_SCOPE_NODES = frozenset(SCOPE_TYPES)


def _walk_with_scopes(context: FileContext) -> Iterator[tuple[cst.CSTNode, Scope]]:
    """Every node of the module but names and literals, with the scope it is evaluated in
    (lazy scopes, no metadata)."""
    stack: list[tuple[cst.CSTNode, Scope]] = [(context.module, context.module_scope)]
    while stack:
        node, scope = stack.pop()
        yield node, scope
        inner = Scope(node, scope) if type(node) in _SCOPE_NODES else scope
        stack.extend((child, inner) for child in inner_children(node))


# Nodes that can hold statements: assignments are statements, so a walk for them need not
# enter a single expression (a fraction of the nodes of a file).
_STATEMENT_HOLDERS = (
    cst.BaseStatement,
    cst.BaseSuite,
    cst.Else,
    cst.Finally,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.MatchCase,
)


def _assignments_with_scopes(context: FileContext) -> Iterator[tuple[cst.Assign, Scope]]:
    """Every ``Assign`` of the module, in source order, with the scope it runs in."""
    stack: list[tuple[cst.CSTNode, Scope]] = [(context.module, context.module_scope)]
    while stack:
        node, scope = stack.pop()
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in node.body:
                if isinstance(small, cst.Assign):
                    yield small, scope
            continue
        inner = Scope(node, scope) if isinstance(node, SCOPE_TYPES) else scope
        holders = [child for child in iter_children(node) if isinstance(child, _STATEMENT_HOLDERS)]
        stack.extend((child, inner) for child in reversed(holders))


# --- guards: is this code reached only when CUDA is there? -------------------------------


def cuda_flags(context: FileContext) -> frozenset[str]:
    """Dotted names assigned from an expression that is true only with CUDA.

    ``use_cuda = not args.no_cuda and torch.cuda.is_available()`` makes ``use_cuda`` (and
    ``args.cuda = ...`` makes ``args.cuda``) a guard as good as the call itself.
    """
    flags: set[str] = set()
    for node, scope in _assignments_with_scopes(context):
        if _implies_cuda(node.value, True, scope, flags):
            for target in node.targets:
                name = dotted_name(target.target)
                if name is not None:
                    flags.add(name)
        choice = _choice_flag(node.value, scope)
        if choice is not None:
            flags.add(choice)
    return frozenset(flags)


def _choice_flag(value: cst.BaseExpression, scope: Scope) -> str | None:
    """``comm_device = torch.device("cpu") if cpu_comm else torch.device("cuda")``: the code
    picks CUDA exactly when ``cpu_comm`` is false, so code run only when it is false (``x.cpu()
    if cpu_comm else x.cuda()``, ``if not cpu_comm: x.cuda()``) runs where CUDA was chosen.
    The flag, as ``"!cpu_comm"`` (false means CUDA) or ``"use_gpu"`` (true means CUDA)."""
    if not isinstance(value, cst.IfExp):
        return None
    test, negated = value.test, False
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test, negated = test.expression, not negated
    name = dotted_name(test)
    if name is None:
        return None
    if _places_on_cpu(scope, value.body) and _places_on_cuda(value.orelse):
        cuda_when_true = False
    elif _places_on_cuda(value.body) and _places_on_cpu(scope, value.orelse):
        cuda_when_true = True
    else:
        return None
    return name if cuda_when_true != negated else f"!{name}"


def _places_on_cuda(expr: cst.BaseExpression) -> bool:
    """``"cuda"``, ``torch.device("cuda:0")``, ``x.cuda()``, ``x.to("cuda")``."""
    if cuda_literal(expr) is not None:
        return True
    if not isinstance(expr, cst.Call):
        return False
    if last_name(expr.func) == "cuda" and isinstance(expr.func, cst.Attribute):
        return True
    first = expr.args[0] if expr.args and expr.args[0].keyword is None else None
    device = calls.keyword(expr, "device")
    return any(arg is not None and cuda_literal(arg.value) is not None for arg in (first, device))


def _flag_polarity(expr: cst.BaseExpression, flags: frozenset[str] | set[str]) -> int:
    """+1 when the name reads "CUDA is on" (``use_cuda``, ``args.cuda``, ``x.is_cuda``),
    -1 when it reads "CUDA is off" (``args.no_cuda``, ``args.cpu``), 0 when it says nothing."""
    name = dotted_name(expr)
    if name is None:
        return 0
    if name in flags:
        return 1
    if f"!{name}" in flags:
        return -1  # `cpu_comm`, tested to pick the CPU over CUDA
    last = name.rsplit(".", 1)[-1].lower()
    if _CPU_FLAG.match(last):
        return -1  # `if not args.cpu: model.cuda()`: the user did not ask for the CPU
    if "cuda" not in last and "gpu" not in last:
        return 0
    if last.startswith(_NEGATIVE_FLAG) or "no_cuda" in last or "no_gpu" in last:
        return -1
    return 1


def _is_call_to(expr: cst.BaseExpression, scope: Scope, qualified: str) -> bool:
    if not isinstance(expr, cst.Call):
        return False
    if scope.qualified_name(expr.func) == qualified:
        return True
    name = dotted_name(expr.func)  # `cuda.is_available()` after any import of cuda
    return name is not None and name.endswith(qualified.split(".", 1)[1])


def _implies_cuda(
    expr: cst.BaseExpression, when: bool, scope: Scope, flags: frozenset[str] | set[str]
) -> bool:
    """True when ``expr`` evaluating to ``when`` means CUDA is available (or chosen)."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return _implies_cuda(expr.expression, not when, scope, flags)
    if isinstance(expr, cst.BooleanOperation):
        left = _implies_cuda(expr.left, when, scope, flags)
        right = _implies_cuda(expr.right, when, scope, flags)
        conjunction = isinstance(expr.operator, cst.And) == when
        return (left or right) if conjunction else (left and right)
    if isinstance(expr, cst.Call):
        return when and _is_call_to(expr, scope, AVAILABILITY)
    if isinstance(expr, cst.IfExp):  # `True if torch.cuda.is_available() else False`
        if calls.is_true(expr.body) and calls.is_false(expr.orelse):
            return _implies_cuda(expr.test, when, scope, flags)
        if calls.is_false(expr.body) and calls.is_true(expr.orelse):
            return _implies_cuda(expr.test, not when, scope, flags)
        return False
    if isinstance(expr, cst.Comparison):
        return _comparison_implies_cuda(expr, when, scope)
    polarity = _flag_polarity(expr, flags)
    return (polarity == 1 and when) or (polarity == -1 and not when)


def _comparison_implies_cuda(expr: cst.Comparison, when: bool, scope: Scope) -> bool:
    """``device == "cuda"``, ``"cuda" in str(d)``, ``d.type != "cpu"``, ``device_count() > 0``,
    ``args.gpu is not None`` (a GPU index the user gave), ``cfg.NUM_GPUS > 0`` (a GPU count),
    ``get_backend() == "nccl"``, ``dtype == torch.float16``."""
    if len(expr.comparisons) != 1:
        return False
    target = expr.comparisons[0]
    operator, left, right = target.operator, expr.left, target.comparator
    gpu_index = _gpu_index_test(operator, left, right)
    if gpu_index is None:
        gpu_index = _nccl_test(operator, left, right)
    if gpu_index is not None:
        return when == gpu_index
    if _half_precision_test(operator, left, right, scope):
        return when
    if _is_call_to(left, scope, DEVICE_COUNT):
        if isinstance(operator, (cst.GreaterThan, cst.GreaterThanEqual, cst.NotEqual)):
            return when  # device_count() > 0
        return not when and _false_only_with_a_gpu(operator, right)
    literal = calls.string_literal(left)
    if literal is None:
        literal = calls.string_literal(right)
    elif isinstance(operator, (cst.In, cst.NotIn)):
        if not literal.startswith("cuda"):
            return False
        return when if isinstance(operator, cst.In) else not when
    if literal is None:
        return False
    equal = isinstance(operator, (cst.Equal, cst.Is))
    unequal = isinstance(operator, (cst.NotEqual, cst.IsNot))
    if literal.startswith("cuda"):
        return when if equal else (not when if unequal else False)
    if literal == "cpu":
        return not when if equal else (when if unequal else False)
    return False


def _gpu_index_test(
    operator: cst.BaseCompOp, left: cst.BaseExpression, right: cst.BaseExpression
) -> bool | None:
    """``args.gpu is not None`` / ``gpu_id >= 0`` (True: a GPU was asked for), ``args.gpu is
    None`` / ``gpu_id < 0`` (False), else None. Only for a name that says GPU or CUDA: such a
    value is a CUDA ordinal (``--gpu 0``), set only when the run uses that GPU."""
    name = dotted_name(left)
    if name is None:
        return None
    last = name.rsplit(".", 1)[-1].lower()
    bound = calls.signed_int(right)
    if "device" in last and bound in (-1, 0):
        # an integer device is a CUDA ordinal: `cuda_device != -1`, `device >= 0` (True)
        if isinstance(operator, (cst.NotEqual, cst.IsNot, cst.GreaterThan)) and bound == -1:
            return True
        if isinstance(operator, cst.GreaterThanEqual) and bound == 0:
            return True
        if isinstance(operator, (cst.Equal, cst.Is)) and bound == -1:
            return False
        if isinstance(operator, cst.LessThan) and bound == 0:
            return False
        return None
    if ("gpu" not in last and "cuda" not in last) or last.startswith(_NEGATIVE_FLAG):
        return None
    if isinstance(right, cst.Name) and right.value == "None":
        if isinstance(operator, (cst.IsNot, cst.NotEqual)):
            return True
        if isinstance(operator, (cst.Is, cst.Equal)):
            return False
        return None
    if isinstance(right, cst.Integer) and bound == 0:
        if isinstance(operator, cst.GreaterThanEqual):
            return True
        if isinstance(operator, cst.LessThan):
            return False
    if bound is not None and (
        (isinstance(operator, cst.GreaterThan) and bound >= 0)
        or (isinstance(operator, (cst.GreaterThanEqual, cst.Equal)) and bound >= 1)
    ):
        return True  # `args.cuda > 0`, `params.num_gpus == 1`, `gpu >= 1`: a GPU in use
    if ("gpus" in last or last.startswith(("n_gpu", "ngpu", "num_gpu"))) and bound is not None:
        # a GPU count: `cfg.NUM_GPUS > 0`, `n_gpu >= 1` (True), `args.ngpu == 0` (False)
        if isinstance(operator, cst.GreaterThan) and bound >= 0:
            return True
        if isinstance(operator, cst.GreaterThanEqual) and bound >= 1:
            return True
        if isinstance(operator, cst.NotEqual) and bound == 0:
            return True
        if _false_only_with_a_gpu(operator, right):
            return False
    return None


def _nccl_test(operator: cst.BaseCompOp, left: cst.BaseExpression, right: cst.BaseExpression):
    """``get_backend() == "nccl"`` / ``== dist.Backend.NCCL`` (True: the processes talk over
    NCCL, which only moves CUDA tensors), ``!= "nccl"`` (False), else None."""
    for side in (left, right):
        literal = calls.string_literal(side)
        name = dotted_name(side)
        if (literal is not None and literal.lower() == "nccl") or (
            name is not None and name.rsplit(".", 1)[-1] == "NCCL"
        ):
            if isinstance(operator, (cst.Equal, cst.Is)):
                return True
            if isinstance(operator, (cst.NotEqual, cst.IsNot)):
                return False
    return None


_HALF = frozenset({"torch.float16", "torch.half"})


def _half_precision_test(
    operator: cst.BaseCompOp, left: cst.BaseExpression, right: cst.BaseExpression, scope: Scope
) -> bool:
    """``dtype == torch.float16``: a half-precision branch, written for a GPU (half
    precision kernels are a CUDA feature; such branches say so: "fp16 only on GPU")."""
    if not isinstance(operator, (cst.Equal, cst.Is)):
        return False
    return any(scope.qualified_name(side) in _HALF for side in (left, right))


def _false_only_with_a_gpu(operator: cst.BaseCompOp, bound: cst.BaseExpression) -> bool:
    """``device_count() < 1``, ``<= 0``, ``== 0``: false only when a GPU is there."""
    value = calls.int_literal(bound)
    if value is None:
        return False
    if isinstance(operator, cst.LessThan):
        return value >= 1
    return isinstance(operator, (cst.LessThanEqual, cst.Equal)) and value == 0


def _exits(body: cst.BaseSuite) -> bool:
    """The block certainly leaves: ends in return/raise/continue/break or an exit-like call."""
    if isinstance(body, cst.SimpleStatementSuite):
        small = body.body
    elif isinstance(body, cst.IndentedBlock) and body.body:
        last = body.body[-1]
        if not isinstance(last, cst.SimpleStatementLine):
            return False
        small = last.body
    else:
        return False
    if not small:
        return False
    final = small[-1]
    if isinstance(final, (cst.Return, cst.Raise, cst.Continue, cst.Break)):
        return True
    if isinstance(final, cst.Expr) and isinstance(final.value, cst.Call):
        name = last_name(final.value.func)
        return name in _EXIT_CALLS
    return False


def _cuda_only_call(expr: cst.BaseExpression | None, scope: Scope) -> bool:
    """A call that raises without CUDA (``torch.cuda.synchronize()``, ``set_device``...)."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = scope.qualified_name(expr.func)
    if qualified == "torch.distributed.init_process_group":  # the NCCL backend is CUDA-only
        backend = calls.argument(expr, "backend", 0)
        return backend is not None and calls.string_literal(backend.value) == "nccl"
    callee = qualified or dotted_name(expr.func) or ""
    if callee.endswith(
        "DistributedDataParallel"
    ):  # `device_ids=[rank]` is for a module on one GPU: DDP raises for a CPU module (as do
        # its subclasses, `MMDistributedDataParallel`)
        device_ids = calls.argument(expr, "device_ids", 1)
        value = device_ids.value if device_ids is not None else None
        return isinstance(value, (cst.List, cst.Tuple)) and bool(value.elements)
    if qualified in _GATHERS:  # `gather(outputs, 0)`: a non-negative target is a GPU
        target = calls.argument(expr, "target_device", 1)
        return target is not None and isinstance(target.value, cst.Integer)
    return qualified is not None and qualified in CUDA_ONLY_CALLS


def _guards_rest(statement: cst.CSTNode, scope: Scope, flags: frozenset[str]) -> bool:
    """``if not torch.cuda.is_available(): return``, ``assert torch.cuda.is_available()``, or
    a statement that already fails without CUDA (``torch.cuda.set_device(rank)``)."""
    if _stops_without_cuda(statement, scope, flags, _exits):
        return True
    return fails_without_cuda(statement, scope)


def fails_without_cuda(statement: cst.CSTNode, scope: Scope) -> bool:
    """``statement`` raises where CUDA is missing, whatever the code selected: a call that
    needs CUDA (``torch.cuda.set_device(rank)``, ``torch.cuda.synchronize()``,
    ``current_stream()``, ``dist.init_process_group("nccl")``, ``DistributedDataParallel(m,
    device_ids=[rank])``, ``gather(outputs, 0)`` to GPU 0), a batch size that is a multiple
    of ``torch.cuda.device_count()`` (zero without a GPU: the loader raises), or ``assert
    torch.cuda.is_available()`` / ``if not torch.cuda.is_available(): raise ...``. Code on
    the same path as such a statement runs only with CUDA."""
    if isinstance(statement, cst.If):
        return _stops_without_cuda(statement, scope, frozenset(), _refuses) and _asks_for_gpus(
            statement.test, scope
        )
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    for small in statement.body:
        if isinstance(small, cst.Assert):
            if _implies_cuda(small.test, True, scope, frozenset()) and _asks_for_gpus(
                small.test, scope
            ):
                return True
        elif isinstance(small, (cst.Expr, cst.Assign, cst.AnnAssign, cst.Return)):
            if _cuda_only_call(small.value, scope):
                return True
            if isinstance(small, (cst.Assign, cst.AnnAssign)) and _sized_by_gpu_count(small, scope):
                return True
    return False


def _asks_for_gpus(test: cst.BaseExpression, scope: Scope) -> bool:
    """The test calls ``torch.cuda.is_available()`` or ``device_count()`` (not a flag, a
    dtype or a GPU index: those say what the user chose, not what the machine has)."""
    stack: list[cst.CSTNode] = [test]
    while stack:
        node = stack.pop()
        if _is_call_to(node, scope, AVAILABILITY) or _is_call_to(node, scope, DEVICE_COUNT):
            return True
        stack.extend(iter_children(node))
    return False


def _sized_by_gpu_count(small: cst.Assign | cst.AnnAssign, scope: Scope) -> bool:
    """``batch_size = 4 * torch.cuda.device_count()``: a size (a target that says batch or
    size) that is the GPU count or a product with it, zero without a GPU (``max(1, ...)``
    is not)."""
    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
    if not any(
        (name := last_name(target)) is not None
        and ("batch" in name.lower() or "size" in name.lower())
        for target in targets
    ):
        return False
    if small.value is not None and _is_call_to(small.value, scope, DEVICE_COUNT):
        return True  # `batch_size = torch.cuda.device_count()`: one item per GPU
    stack: list[cst.CSTNode] = [small.value] if small.value is not None else []
    while stack:
        node = stack.pop()
        if (
            isinstance(node, cst.BinaryOperation)
            and isinstance(node.operator, cst.Multiply)
            and (
                _is_call_to(node.left, scope, DEVICE_COUNT)
                or _is_call_to(node.right, scope, DEVICE_COUNT)
            )
        ):
            return True
        if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
            stack.extend(iter_children(node))
    return False


def _stops_without_cuda(
    statement: cst.CSTNode,
    scope: Scope,
    flags: frozenset[str],
    stops: Callable[[cst.BaseSuite], bool],
) -> bool:
    """``if not torch.cuda.is_available(): <a block that ``stops``>`` (no ``else``) or
    ``assert torch.cuda.is_available()``: past this statement, CUDA is there."""
    if isinstance(statement, cst.If):
        return (
            statement.orelse is None
            and stops(statement.body)
            and _implies_cuda(statement.test, False, scope, flags)
        )
    return isinstance(statement, cst.SimpleStatementLine) and any(
        isinstance(small, cst.Assert) and _implies_cuda(small.test, True, scope, flags)
        for small in statement.body
    )


def _guarded_statements(
    context: FileContext, block: cst.Module | cst.IndentedBlock, flags: frozenset[str]
) -> frozenset[int]:
    """Ids of the statements of ``block`` that come after an early-exit CUDA guard (cached)."""
    cache = context.fact("devices.guarded_statements", lambda _: {})
    key = id(block)
    if key not in cache:
        guarded: set[int] = set()
        seen_guard = False
        for statement in block.body:
            if seen_guard:
                guarded.add(id(statement))
            elif _guards_rest(statement, context.scope, flags):
                seen_guard = True
        cache[key] = frozenset(guarded)
    return cache[key]


def _gates_on_cuda(
    expr: cst.BaseExpression,
    scope: Scope,
    flags: frozenset[str],
    local: frozenset[str],
    project: ProjectView | None = None,
) -> bool:
    """Is ``expr`` (a decorator, or a pytest mark) one that runs its target only with CUDA?

    ``unittest.skipIf(not torch.cuda.is_available(), ...)``,
    ``pytest.mark.skipif(torch.cuda.device_count() < 1, ...)``, ``skipUnless(...)``,
    ``RunIf(min_cuda_gpus=1)`` (a keyword that says CUDA/GPU with a true value), any name
    that says CUDA/GPU (``requires_cuda``, ``pytest.mark.gpu``; not ``skipIfCuda``), and
    ``local``: decorators of this file that do one of these in their body, and those of
    the ``project``'s other files.
    """
    call = expr if isinstance(expr, cst.Call) else None
    func = call.func if call is not None else expr
    name = last_name(func)
    if name is None:
        return False
    if dotted_name(func) in local:
        return True
    if project is not None and project.cuda_gate(scope.qualified_name(func)):
        return True
    if call is not None:
        if call.args and call.args[0].keyword is None:
            test = call.args[0].value
            if name in _SKIP_IF and _implies_cuda(test, False, scope, flags):
                return True
            if name in _SKIP_UNLESS and _implies_cuda(test, True, scope, flags):
                return True
        for arg in call.args:
            keyword = arg.keyword.value.lower() if arg.keyword is not None else ""
            if _mentions_cuda(keyword) and not _falsy(arg.value):
                return True
    return _guard_decorator_name(name.lower())


def _falsy(expr: cst.BaseExpression) -> bool:
    return calls.is_false(expr) or (isinstance(expr, cst.Integer) and int(expr.value) == 0)


def _guard_decorator_name(lowered: str) -> bool:
    """``requires_cuda``, ``onlyCUDA``, ``skipIfNoCUDA``, ``gpu_test`` (not ``skipIfCuda``)."""
    if not _mentions_cuda(lowered):
        return False
    if lowered.startswith(("skipif", "skip_if")):
        rest = lowered.removeprefix("skipif").removeprefix("skip_if").lstrip("_")
        return rest.startswith(("no", "lt", "less", "fewer", "not"))
    return not lowered.startswith(("skip", "no_", "without", "cpu"))


def local_cuda_decorators(context: FileContext) -> frozenset[str]:
    """Module-level names of this file that gate a function on CUDA, read from their body.

    ``requires_gpu = pytest.mark.skipif(not torch.cuda.is_available(), ...)``, or a
    ``def`` whose body skips or returns without CUDA (``if not torch.cuda.is_available():
    pytest.skip(...)``) or applies such a mark: used as ``@requires_gpu`` they guard the
    decorated function like the mark itself.
    """
    flags = context.fact("devices.cuda_flags", cuda_flags)
    scope = context.module_scope
    found: set[str] = set()
    for statement in context.module.body:
        if isinstance(statement, cst.FunctionDef):
            if _body_gates_on_cuda(statement, scope, flags, frozenset(found)):
                found.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Assign) and _gates_on_cuda(
                    small.value, scope, flags, frozenset(found)
                ):
                    found.update(
                        t.target.value for t in small.targets if isinstance(t.target, cst.Name)
                    )
    return frozenset(found)


def _body_gates_on_cuda(
    function: cst.FunctionDef, scope: Scope, flags: frozenset[str], local: frozenset[str]
) -> bool:
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        if _guards_rest(node, scope, flags):
            return True
        if (
            isinstance(node, cst.Call)
            and last_name(node.func) in (*_SKIP_IF, *_SKIP_UNLESS)
            and _gates_on_cuda(node, scope, flags, local)
        ):
            return True
        stack.extend(iter_children(node))
    return False


def _marks_gate_on_cuda(context: FileContext, call: cst.Call, flags: frozenset[str]) -> bool:
    """``pytest.param(torch.device("cuda"), marks=pytest.mark.skipif(not cuda, ...))``."""
    if last_name(call.func) != "param":
        return False
    marks = calls.keyword(call, "marks")
    if marks is None:
        return False
    value = marks.value
    items = (
        [element.value for element in value.elements]
        if isinstance(value, (cst.List, cst.Tuple))
        else [value]
    )
    local = context.fact("devices.local_cuda_decorators", local_cuda_decorators)
    return any(_gates_on_cuda(item, context.scope, flags, local, context.project) for item in items)


def _pytestmark_gates(
    context: FileContext, block: cst.Module | cst.IndentedBlock, flags: frozenset[str]
) -> bool:
    """``pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), ...)`` in ``block``."""
    local = context.fact("devices.local_cuda_decorators", local_cuda_decorators)
    for statement in block.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if not isinstance(small, cst.Assign) or not any(
                isinstance(t.target, cst.Name) and t.target.value == "pytestmark"
                for t in small.targets
            ):
                continue
            value = small.value
            items = (
                [element.value for element in value.elements]
                if isinstance(value, (cst.List, cst.Tuple))
                else [value]
            )
            if any(
                _gates_on_cuda(item, context.scope, flags, local, context.project) for item in items
            ):
                return True
    return False


def _block_marked(
    context: FileContext, block: cst.Module | cst.IndentedBlock, flags: frozenset[str]
) -> bool:
    """``_pytestmark_gates`` for a module or class body, cached per block."""
    cache = context.fact("devices.pytestmark", lambda _: {})
    key = id(block)
    if key not in cache:
        cache[key] = _pytestmark_gates(context, block, flags)
    return cache[key]


def _needs_cuda(context: FileContext, function: cst.FunctionDef) -> bool:
    """The function calls something that fails without CUDA (``torch.cuda.synchronize()``)
    in its own body, unconditionally: all of it is written for a GPU (cached)."""
    cache = context.fact("devices.needs_cuda", lambda _: {})
    key = id(function)
    if key not in cache:
        body = function.body
        statements = body.body if isinstance(body, cst.IndentedBlock) else ()
        cache[key] = any(fails_without_cuda(statement, context.scope) for statement in statements)
    return cache[key]


def cuda_guarded(context: FileContext, node: cst.CSTNode) -> bool:
    """Is ``node`` (the node being visited) reached only when CUDA is available?

    Guards: an ``if``/``elif``/``while`` test, a ternary or ``and``/``or`` operand that
    implies ``torch.cuda.is_available()`` (``not`` flips it: the ``else`` of
    ``if not ...`` counts); an earlier ``if not torch.cuda.is_available(): return``
    (or ``raise``, ``continue``, ``sys.exit()``, ``pytest.skip()``) or ``assert`` in an
    enclosing block; a ``skipIf``/``skipUnless``/``requires_cuda``/``RunIf(min_cuda_gpus=1)``
    decorator, a decorator of this file whose body does that, a ``pytestmark`` of the
    module or class, ``pytest.param(..., marks=<such a mark>)``. Flags
    assigned from such a test (``use_cuda``, ``args.cuda``), names like ``use_gpu`` and
    comparisons like ``device.type == "cuda"`` count as the test itself.

    Code that is CUDA-only anyway counts too: inside a function or class whose name
    mentions CUDA/GPU (``def cuda``, ``def to_gpu``), inside ``with torch.cuda.device(...)``
    / ``stream(...)``, or after a statement that fails without CUDA
    (``torch.cuda.set_device(rank)``, ``torch.cuda.synchronize()``,
    ``dist.init_process_group("nccl")``) in an enclosing block, or anywhere in the body of
    the enclosing function (a GPU benchmark that synchronises at its end).
    """
    flags = context.fact("devices.cuda_flags", cuda_flags)
    scope = context.scope
    chain = [*context.ancestors, node]
    for index in range(len(chain) - 1, 0, -1):
        parent, child = chain[index - 1], chain[index]
        if isinstance(parent, (cst.If, cst.IfExp)):
            if child is parent.body and _implies_cuda(parent.test, True, scope, flags):
                return True
            if child is parent.orelse and _implies_cuda(parent.test, False, scope, flags):
                return True
        elif isinstance(parent, cst.While):
            if child is parent.body and _implies_cuda(parent.test, True, scope, flags):
                return True
        elif isinstance(parent, cst.BooleanOperation):
            when = isinstance(parent.operator, cst.And)
            if child is parent.right and _implies_cuda(parent.left, when, scope, flags):
                return True
        elif isinstance(parent, (cst.Module, cst.IndentedBlock)):
            if id(child) in _guarded_statements(context, parent, flags):
                return True
            if isinstance(parent, cst.Module) and _block_marked(context, parent, flags):
                return True
        elif isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
            if child is not parent.body:
                continue
            if isinstance(parent, cst.ClassDef) and _init_requires_cuda(context, parent, flags):
                return True
            local = context.fact("devices.local_cuda_decorators", local_cuda_decorators)
            if _mentions_cuda(parent.name.value) or any(
                _gates_on_cuda(d.decorator, scope, flags, local, context.project)
                for d in parent.decorators
            ):
                return True
            if isinstance(parent, cst.FunctionDef) and _needs_cuda(context, parent):
                return True
            if isinstance(parent, cst.FunctionDef) and _callers_guard(context, parent):
                return True
            if isinstance(parent.body, cst.IndentedBlock) and _block_marked(
                context, parent.body, flags
            ):
                return True
        elif isinstance(parent, cst.Call):
            if _marks_gate_on_cuda(context, parent, flags) or _cuda_only_call(parent, scope):
                return True  # ... or an argument of `DistributedDataParallel(..., device_ids=)`
        elif isinstance(parent, cst.Lambda) and child is parent.body and index >= 2:
            holder = chain[index - 2]  # `cuda = lambda arr, gpu: arr.cuda(gpu)`: a CUDA helper
            if isinstance(holder, cst.Assign) and any(
                isinstance(t.target, cst.Name) and _mentions_cuda(t.target.value)
                for t in holder.targets
            ):
                return True
        elif (
            isinstance(parent, cst.With)
            and child is parent.body
            and any(_cuda_only_call(item.item, scope) for item in parent.items)
        ):
            return True
    return False


def _callers_guard(context: FileContext, function: cst.FunctionDef) -> bool:
    """A private module-level function (``_wrap_in_data_parallel``) that this file calls,
    and calls only where CUDA is there: every call is under a CUDA guard (``if gpu_setting
    == "cuda":``, a ``use_gpu`` flag) or in code that is CUDA-only itself, a caller of the
    same kind included. Its body is CUDA-only code whose guard lives in its callers. Any
    other use of the name (passed as a value, no call at all) keeps it reported (cached)."""
    cache = context.fact("devices.callers_guard", lambda _: {})
    key = id(function)
    if key in cache:
        return cache[key]
    cache[key] = False  # while the callers are read: a recursive call proves nothing
    name = function.name.value
    if (
        not name.startswith("_")
        or name.startswith("__")
        or not any(statement is function for statement in context.module.body)
    ):
        return False
    sites = _call_sites(context, name)
    if not sites:
        return False
    saved = context.ancestors, context.scope
    try:
        for chain, scope in sites:
            context.ancestors, context.scope = list(chain[:-1]), scope
            if not cuda_guarded(context, chain[-1]):
                return False
    finally:
        context.ancestors, context.scope = saved
    cache[key] = True
    return True


def _call_sites(
    context: FileContext, name: str
) -> list[tuple[tuple[cst.CSTNode, ...], Scope]] | None:
    """The chain (module to call) and scope of each call of the module's ``name``; None
    when the name is used otherwise (passed, stored, rebound) anywhere in the file."""
    uses = context.source.count(name)
    if uses < 2 or uses > 64:
        return None  # never called (only defined), or called everywhere: not worth the walk
    module_binding = context.module_scope.bindings.get(name)
    found: list[tuple[tuple[cst.CSTNode, ...], Scope]] = []
    stack: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...], Scope]] = [
        (context.module, (context.module,), context.module_scope)
    ]
    while stack:
        node, chain, scope = stack.pop()
        inner = Scope(node, scope) if type(node) in _SCOPE_NODES else scope
        for child in iter_children(node):
            if isinstance(child, cst.Name) and child.value == name:
                if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and child is node.name:
                    continue  # the definition itself
                if isinstance(node, cst.Attribute) and child is node.attr:
                    continue  # `self._helper`: another name
                if isinstance(node, cst.Arg) and child is node.keyword:
                    continue
                if inner.binds(name) is not module_binding:
                    continue  # a local of the same name
                if not (isinstance(node, cst.Call) and child is node.func):
                    return None
                found.append(((*chain, node), inner))
                continue
            stack.append((child, (*chain, child), inner))
    return found


def _refuses(body: cst.BaseSuite) -> bool:
    """The block ends by refusing to go on: ``raise``, ``sys.exit()``, ``pytest.skip()``
    (not ``return``: an ``__init__`` that returns early still builds the object)."""
    if not _exits(body):
        return False
    last = body.body[-1]  # `_exits` saw a simple statement there
    final = last.body[-1] if isinstance(last, cst.SimpleStatementLine) else last
    return not isinstance(final, (cst.Return, cst.Continue, cst.Break))


def init_requires_cuda(context: FileContext, cls: cst.ClassDef) -> bool:
    """``_init_requires_cuda`` with this file's CUDA flags."""
    return _init_requires_cuda(context, cls, context.fact("devices.cuda_flags", cuda_flags))


def _init_requires_cuda(context: FileContext, cls: cst.ClassDef, flags: frozenset[str]) -> bool:
    """The class's ``__init__`` refuses to build an object without CUDA (a top-level
    ``if not torch.cuda.is_available(): raise ...`` or ``assert torch.cuda.is_available()``,
    wherever in its body): every method runs on an object that exists only with CUDA, so the
    whole class is CUDA-only (cached per class)."""
    cache = context.fact("devices.init_requires_cuda", lambda _: {})
    key = id(cls)
    if key not in cache:
        cache[key] = False
        statements = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
        for statement in statements:
            if not (isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__"):
                continue
            body = statement.body.body if isinstance(statement.body, cst.IndentedBlock) else ()
            if any(_stops_without_cuda(line, context.scope, flags, _refuses) for line in body):
                cache[key] = True
                break
    return cache[key]


def cpu_alternative(context: FileContext, node: cst.CSTNode) -> bool:
    """Is ``node`` (a CUDA use being visited) in one arm of a ternary whose other arm puts
    things on the CPU (``torch.device("cpu") if cpu_comm else torch.device("cuda")``,
    ``x.cpu().pin_memory() if on_cpu else x.cuda()``)? Then the code chooses between the
    two devices: the CUDA arm is a choice, not a hard-coded device, whatever the test."""
    chain = [*context.ancestors, node]
    for index in range(len(chain) - 1, 0, -1):
        parent, child = chain[index - 1], chain[index]
        if isinstance(parent, cst.Assign):
            return _branch_choice(context.scope, chain, index - 1)
        if isinstance(parent, (cst.BaseStatement, cst.BaseSmallStatement, cst.Lambda)):
            return False
        if isinstance(parent, cst.IfExp):
            if child is parent.body:
                other = parent.orelse
            elif child is parent.orelse:
                other = parent.body
            else:
                continue
            if _places_on_cpu(context.scope, other):
                return True
    return False


def _branch_choice(scope: Scope, chain: list[cst.CSTNode], at: int) -> bool:
    """``if opt.gpus[0] >= 0: opt.device = torch.device("cuda") else: opt.device =
    torch.device("cpu")``: the assignment at ``chain[at]`` sits in one branch of an
    ``if``/``elif``/``else`` whose other branch assigns the same name a CPU (MPS, XPU)
    device. The statement form of the ternary: a device choice, whatever the test."""
    assign = chain[at]
    targets = {dotted_name(t.target) for t in assign.targets} - {None}  # type: ignore[attr-defined]
    if not targets or at < 3:
        return False
    block, holder = chain[at - 2], chain[at - 3]
    if not isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)):
        return False
    if not isinstance(holder, (cst.If, cst.Else)):
        return False
    top = at - 3  # climb `elif`s and `else`s to the first `if` of the chain
    while top >= 1 and (isinstance(chain[top - 1], cst.If) and chain[top] is chain[top - 1].orelse):
        top -= 1
    branch: cst.CSTNode | None = chain[top]
    for other in _branch_blocks(branch):
        if other is block:
            continue
        for statement in other.body:
            smalls = (
                statement.body
                if isinstance(statement, cst.SimpleStatementLine)
                else ([statement] if isinstance(statement, cst.BaseSmallStatement) else ())
            )
            for small in smalls:
                if (
                    isinstance(small, cst.Assign)
                    and any(dotted_name(t.target) in targets for t in small.targets)
                    and _places_on_cpu(scope, small.value)
                ):
                    return True
    return False


def _branch_blocks(node: cst.CSTNode | None) -> Iterator[cst.BaseSuite]:
    """The blocks of an ``if``/``elif``/``else`` chain."""
    while node is not None:
        if isinstance(node, cst.If):
            yield node.body
            node = node.orelse
        elif isinstance(node, cst.Else):
            yield node.body
            node = None
        else:
            node = None


_OTHER_DEVICE_NAMES = frozenset({"cpu", "mps", "xpu"})


def _other_device_literal(expr: cst.BaseExpression | None) -> bool:
    value = calls.string_literal(expr) if expr is not None else None
    return value is not None and value.split(":", 1)[0] in _OTHER_DEVICE_NAMES


def _places_on_cpu(scope: Scope, expr: cst.BaseExpression) -> bool:
    """``"cpu"``, ``torch.device("cpu")``, ``x.cpu()``, ``x.to("cpu")``,
    ``torch.zeros(3, device="cpu")``, and method chains on them (``x.cpu().pin_memory()``);
    also MPS and XPU."""
    while True:
        if _other_device_literal(expr):
            return True
        if isinstance(expr, cst.Call):
            func = expr.func
            name = last_name(func)
            if name == "cpu" and isinstance(func, cst.Attribute):
                return True
            device = calls.keyword(expr, "device")
            if device is not None and _other_device_literal(device.value):
                return True
            first = expr.args[0] if expr.args and expr.args[0].keyword is None else None
            if (
                first is not None
                and _other_device_literal(first.value)
                and (name == "to" or scope.qualified_name(func) == "torch.device")
            ):
                return True
            expr = func
        elif isinstance(expr, (cst.Attribute, cst.Subscript)):
            expr = expr.value
        else:
            return False


def _mentions_cuda(name: str) -> bool:
    """``def cuda``, ``def to_gpu``, ``class CUDATestBase``: code that is CUDA-only by name."""
    lowered = name.lower()
    return "cuda" in lowered or "gpu" in lowered


# --- is a device object used to place something? -------------------------------------------

_PLACING_KEYWORDS = frozenset({"device", "map_location"})


def used_as_value(context: FileContext) -> bool:
    """Is the ``torch.device(...)`` being visited only a value, never a placement?

    Building a ``torch.device("cuda")`` needs no GPU; only placing something there does. It
    places when it is bound to a name, returned, a parameter default, the argument of
    ``.to(...)`` or a ``device=`` / ``map_location=`` keyword. Compared, put in a list of
    test cases, passed positionally to another function (a parser, a mock) or asked for an
    attribute (``.type``), it is a value.
    """
    chain = context.ancestors
    for index in range(len(chain) - 1, -1, -1):
        parent = chain[index]
        if isinstance(parent, (cst.IfExp, cst.BooleanOperation)):
            continue
        if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.Param, cst.Return, cst.AssignTarget)):
            return False
        if isinstance(parent, cst.Arg):
            if parent.keyword is not None:
                return parent.keyword.value not in _PLACING_KEYWORDS
            call = chain[index - 1] if index else None
            func = call.func if isinstance(call, cst.Call) else None
            return not (isinstance(func, cst.Attribute) and func.attr.value == "to")
        return True
    return False


def device_parameter_default(context: FileContext) -> bool:
    """Is the node being visited the default of a parameter that takes the device
    (``def run_training(..., device: torch.device = torch.device("cuda"))``)? The function
    already runs on whatever device it is given; its callers pick one (a ``-device``
    option, the trainer's device), and the default is the documented one for a GPU."""
    chain = context.ancestors
    for index in range(len(chain) - 1, -1, -1):
        parent = chain[index]
        if isinstance(parent, (cst.IfExp, cst.BooleanOperation)):
            continue
        if isinstance(parent, cst.Param):
            name = parent.name.value.lower()
            return "device" in name or name in ("dev", "map_location")
        return False
    return False


# --- does this file move data to CUDA? ----------------------------------------------------


def _cuda_ish(expr: cst.BaseExpression, scope: Scope) -> bool:
    """A CUDA literal, a ternary with one, or ``torch.device(<such>)``."""
    if cuda_literal(expr) is not None:
        return True
    if isinstance(expr, cst.IfExp):
        return _cuda_ish(expr.body, scope) or _cuda_ish(expr.orelse, scope)
    return (
        isinstance(expr, cst.Call)
        and bool(expr.args)
        and last_name(expr.func) == "device"
        and scope.qualified_name(expr.func) == "torch.device"
        and _cuda_ish(expr.args[0].value, scope)
    )


def moves_to_cuda(context: FileContext) -> bool:
    """Does this file put data on CUDA: ``.cuda()``, ``.to(<cuda>)``, ``device="cuda"``,
    ``torch.device("cuda" ...)`` or ``best_device()``?"""
    for node, scope in _walk_with_scopes(context):
        if not isinstance(node, cst.Call):
            continue
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
            return True
        if is_best_device_call(scope, node, context.project):
            return True
        if _cuda_ish(node, scope):  # torch.device("cuda" ...)
            return True
        for arg in node.args:
            is_device_slot = (arg.keyword is not None and arg.keyword.value == "device") or (
                arg.keyword is None
                and isinstance(func, cst.Attribute)
                and func.attr.value == "to"
                and arg is node.args[0]
            )
            if is_device_slot and _cuda_ish(arg.value, scope):
                return True
    return False


# --- does this file set up distributed training? ---------------------------------------------


def sets_up_distributed(context: FileContext) -> bool:
    """Does this file wrap a model in ``DistributedDataParallel`` or FSDP (any alias)?

    Such a file has chosen DDP already; a ``DataParallel`` next to it is the
    single-process fallback, not the file's way to use several GPUs.
    """
    if not any(wrapper in context.source for wrapper in DDP_WRAPPERS):
        return False  # no name can resolve to one
    for node, scope in _walk_with_scopes(context):
        if not isinstance(node, cst.Call):
            continue
        qualified = scope.qualified_name(node.func)
        if qualified is None or not qualified.startswith("torch."):
            continue
        if qualified.rsplit(".", 1)[1] in DDP_WRAPPERS:
            return True
    return False


# --- which names are DataLoaders? ------------------------------------------------------------


# The node types ``bound_names`` finds names in: other nodes bind nothing themselves.
BINDING_NODES = frozenset(
    {
        cst.FunctionDef,
        cst.Lambda,
        cst.ClassDef,
        cst.For,
        cst.CompFor,
        cst.AugAssign,
        cst.NamedExpr,
        cst.Del,
        cst.AsName,
        cst.Import,
        cst.ImportFrom,
        cst.AssignTarget,
    }
)


def bound_names(node: cst.CSTNode, out: set[str]) -> None:
    """Names bound by anything but a plain ``name = value`` (params, loops, imports, ...)."""
    targets: list[cst.CSTNode] = []
    if isinstance(node, (cst.FunctionDef, cst.Lambda)):
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            out.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                out.add(star.name.value)
        if isinstance(node, cst.FunctionDef):
            out.add(node.name.value)
    elif isinstance(node, cst.ClassDef):
        out.add(node.name.value)
    elif isinstance(node, (cst.For, cst.CompFor, cst.AugAssign, cst.NamedExpr, cst.Del)):
        targets.append(node.target)
    elif isinstance(node, cst.AsName):
        targets.append(node.name)
    elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(
        node.names, cst.ImportStar
    ):
        for alias in node.names:
            bound = alias.asname.name if alias.asname else alias.name
            name = dotted_name(bound)  # type: ignore[arg-type]
            if name is not None:
                out.add(name.split(".", 1)[0])
    elif isinstance(node, cst.AssignTarget) and not isinstance(
        node.target, (cst.Name, cst.Attribute)
    ):
        targets.append(node.target)
    while targets:
        target = targets.pop()
        if isinstance(target, (cst.Tuple, cst.List)):
            targets.extend(element.value for element in target.elements)
        elif isinstance(target, cst.StarredElement):
            targets.append(target.value)
        else:
            name = dotted_name(target)  # type: ignore[arg-type]
            if name is not None:
                out.add(name)


def dataloaders(context: FileContext) -> dict[str, tuple[cst.Call, ...]]:
    """Dotted names (``loader``, ``self.train_loader``) bound only ever to QN DataLoader calls.

    One file-wide answer per name: a name that is also a parameter, a loop target or
    assigned anything else anywhere in the file is not a DataLoader here.
    """
    if "DataLoader" not in context.source:
        return {}  # no name can resolve to one (imports and aliases spell it out)
    built: dict[str, list[cst.Call]] = {}
    other: set[str] = set()
    for node, scope in _walk_with_scopes(context):
        node_type = type(node)
        if node_type in BINDING_NODES:
            bound_names(node, other)
        if node_type is cst.Assign:
            targets = [dotted_name(t.target) for t in node.targets]  # type: ignore[attr-defined]
            value = node.value  # type: ignore[attr-defined]
        elif node_type is cst.AnnAssign and node.value is not None:  # type: ignore[attr-defined]
            targets = [dotted_name(node.target)]  # type: ignore[attr-defined]
            value = node.value  # type: ignore[attr-defined]
        else:
            continue
        loader = is_dataloader_call(scope, value)
        for name in targets:
            if name is None:
                continue
            if loader:
                built.setdefault(name, []).append(value)  # type: ignore[arg-type]
            else:
                other.add(name)
    return {name: tuple(found) for name, found in built.items() if name not in other}


def pinned_loaders(context: FileContext) -> frozenset[str]:
    """Dotted names of DataLoaders built with a literal ``pin_memory=True``."""
    found = context.fact("devices.dataloaders", dataloaders)
    return frozenset(
        name for name, built in found.items() if all(_pins_memory(call) for call in built)
    )


def _pins_memory(call: cst.Call) -> bool:
    if calls.has_star_args(call):
        return False
    arg = calls.argument(call, "pin_memory", PIN_MEMORY_INDEX)
    return arg is not None and calls.is_true(arg.value)


def default_collated(call: cst.Call) -> bool:
    """A DataLoader whose batches come from the default collate (tensors, not custom objects)."""
    if calls.has_star_args(call):
        return False
    return calls.argument(call, "collate_fn", COLLATE_FN_INDEX) is None


def loop_loader(
    context: FileContext, loop: cst.For, scope: Scope, pinned: bool = False
) -> cst.BaseAssignTargetExpression | None:
    """When ``loop`` iterates a known DataLoader (directly or via ``enumerate``), its batch target.

    ``for x, y in loader`` → ``(x, y)``; ``for i, batch in enumerate(loader)`` → ``batch``.
    With ``pinned``, only DataLoaders with ``pin_memory=True`` count.
    """
    iterable = loop.iter
    target: cst.BaseExpression = loop.target
    if (
        isinstance(iterable, cst.Call)
        and isinstance(iterable.func, cst.Name)
        and iterable.func.value == "enumerate"
        and scope.binds("enumerate") is None
    ):
        if not iterable.args or iterable.args[0].star:
            return None
        if not isinstance(target, cst.Tuple) or len(target.elements) != 2:
            return None
        iterable = iterable.args[0].value
        target = target.elements[1].value
    if is_dataloader_call(scope, iterable):
        ok = _pins_memory(iterable) if pinned else default_collated(iterable)  # type: ignore[arg-type]
        return target if ok else None  # type: ignore[return-value]
    name = dotted_name(iterable)
    if name is None:
        return None
    if pinned:
        return target if name in context.fact("devices.pinned_loaders", pinned_loaders) else None  # type: ignore[return-value]
    built = context.fact("devices.dataloaders", dataloaders).get(name)
    if built and all(default_collated(call) for call in built):
        return target  # type: ignore[return-value]
    return None


def target_names(target: cst.BaseExpression) -> set[str]:
    """Plain names bound by a loop target (``x``, ``(x, y)``, ``[x, (y, z)]``)."""
    names: set[str] = set()
    stack = [target]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name):
            names.add(item.value)
        elif isinstance(item, (cst.Tuple, cst.List)):
            stack.extend(element.value for element in item.elements)
    return names


# --- which local names are surely tensors? --------------------------------------------------

# Single-level torch functions that do not return one tensor.
_NOT_TENSOR = frozenset(
    {
        "device", "load", "compile", "manual_seed", "seed", "initial_seed", "typename",
        "is_tensor", "is_storage", "is_floating_point", "is_complex", "is_nonzero", "numel",
        "finfo", "iinfo", "get_default_dtype", "get_default_device", "set_default_device",
        "set_default_dtype", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled",
        "is_grad_enabled", "autocast", "vmap", "cond", "save", "use_deterministic_algorithms",
        "broadcast_shapes", "split", "chunk", "unbind", "tensor_split", "hsplit", "vsplit",
        "dsplit", "meshgrid", "broadcast_tensors", "sort", "topk", "max", "min", "median",
        "mode", "kthvalue", "svd", "qr", "unique", "unique_consecutive", "frexp", "aminmax",
        "var_mean", "std_mean", "histogram", "cummax", "cummin", "slogdet", "lu", "where",
        "nonzero", "stream", "get_rng_state", "set_rng_state", "get_device", "export",
    }
)  # fmt: skip


_NOT_TENSOR_PREFIXES = ("get_", "set_", "is_", "are_", "has_", "use_", "can_")


_ARITHMETIC = (
    cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power,
    cst.MatrixMultiply,
)  # fmt: skip


def _tensor_source(scope: Scope, value: cst.BaseExpression) -> bool:
    """A call to a QN ``torch.<op>`` (one level: not ``torch.nn.*``) that returns a tensor,
    or arithmetic with one as an operand (``torch.sqrt(x) * torch.sign(x)``: a tensor's
    arithmetic gives a tensor or raises)."""
    if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, _ARITHMETIC):
        return _tensor_source(scope, value.left) or _tensor_source(scope, value.right)
    if not isinstance(value, cst.Call):
        return False
    qualified = scope.qualified_name(value.func)
    if qualified is None or not qualified.startswith("torch."):
        return False
    op = qualified[len("torch.") :]
    return (
        "." not in op
        and op[:1].islower()
        and op not in _NOT_TENSOR
        and not op.startswith(_NOT_TENSOR_PREFIXES)
    )


def tensor_names(context: FileContext) -> frozenset[str]:
    """Names of the current scope that are tensors at every binding (cached per scope).

    A name qualifies when every binding of it in the scope is ``name = torch.<op>(...)``
    or a DataLoader loop target (default collate); parameters, globals and every other
    binding disqualify it.
    """
    cache = context.fact("devices.tensor_names", lambda _: {})
    scope = context.scope
    key = id(scope.node)
    if key not in cache:
        cache[key] = _scope_tensor_names(context, scope)
    return cache[key]


_OWN_SCOPE = frozenset({cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp})


def _scope_tensor_names(context: FileContext, scope: Scope) -> frozenset[str]:
    root = scope.node
    tensors: set[str] = set()
    other: set[str] = set()
    if isinstance(root, (cst.FunctionDef, cst.Lambda)):
        bound_names(root, other)
        stack: list[cst.CSTNode] = [root.body]
    elif isinstance(root, cst.ClassDef):
        stack = [root.body]
    else:
        stack = [root]
    # Exact types (``isinstance`` on libcst classes goes through ABCMeta); without ``:=``
    # expressions bind nothing, so their fields are not entered.
    fields = child_fields if scope.walrus else statement_fields
    while stack:
        node = stack.pop()
        node_type = type(node)
        if node_type is cst.FunctionDef or node_type is cst.ClassDef:
            other.add(node.name.value)
            continue
        if node_type in _OWN_SCOPE:
            continue
        if node_type is cst.Global or node_type is cst.Nonlocal:
            other.update(item.name.value for item in node.names)
            continue
        if node_type is cst.Assign:
            source = _tensor_source(scope, node.value)
            for target in node.targets:
                if type(target.target) is cst.Name:
                    (tensors if source else other).add(target.target.value)
        elif node_type is cst.AnnAssign and type(node.target) is cst.Name:
            source = node.value is not None and _tensor_source(scope, node.value)
            (tensors if source else other).add(node.target.value)
        elif node_type is cst.For:
            batch = loop_loader(context, node, scope)
            names = target_names(node.target)
            good = target_names(batch) if batch is not None else set()
            tensors.update(names & good)
            other.update(names - good)
            if batch is not None and not isinstance(batch, (cst.Name, cst.Tuple, cst.List)):
                other.update(names)
        elif node_type in BINDING_NODES:
            bound_names(node, other)
        stack.extend(iter_children(node, fields))
    return frozenset(tensors - other)


def _binds(statement: cst.CSTNode, name: str) -> bool:
    """Does ``statement`` (anything inside it, nested scopes aside) bind ``name``?"""
    stack = [statement]
    while stack:
        node = stack.pop()
        node_type = type(node)  # exact types: `isinstance` on libcst classes is slow
        if node_type is cst.AssignTarget or node_type is cst.AnnAssign:
            target = node.target  # type: ignore[attr-defined]
            if type(target) is cst.Name and target.value == name:
                return True
        if node_type in BINDING_NODES:
            found: set[str] = set()
            bound_names(node, found)
            if name in found:
                return True
            if node_type in _SCOPE_NODES:
                continue
        stack.extend(iter_children(node))
    return False


def rebound_to_tensor(context: FileContext, name: str) -> bool:
    """Was ``name`` last bound, earlier in the block of the statement being visited, to a
    ``torch.<op>(...)`` call (``batch = torch.as_tensor(batch)``)? Then it is a tensor
    here, whatever it was before (a parameter, a list)."""
    chain = context.ancestors
    if len(chain) < 2 or not isinstance(chain[-2], (cst.Module, cst.IndentedBlock)):
        return False
    if name not in context.scope.bindings:
        return False  # `global` / `nonlocal`: bound in another scope too
    block, line = chain[-2], chain[-1]
    statements = list(block.body)
    if line not in statements:
        return False
    for statement in reversed(statements[: statements.index(line)]):
        if not _binds(statement, name):
            continue
        if not isinstance(statement, cst.SimpleStatementLine):
            return False
        for small in reversed(statement.body):
            if isinstance(small, cst.Assign) and any(
                isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets
            ):
                return len(small.targets) == 1 and _tensor_source(context.scope, small.value)
            if _binds(small, name):
                return False
        return False
    return False


# --- what a fix writes for "the best device" --------------------------------------------------

RUNTIME_IMPORT = "from torchlint.runtime import best_device"
INLINE_DEVICE = 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")'


def best_device_expression(context: FileContext) -> tuple[str, tuple[str, ...]] | None:
    """The text naming the best device at the current node, and the preamble it needs.

    ``best_device()`` from the runtime, or (``runtime-helpers = false``) a module-level
    ``device = torch.device(...)`` line; None when the name it needs is taken.
    """
    scope = context.scope
    if context.settings.runtime_helpers:
        if not scope.can_use("best_device", BEST_DEVICE):
            return None
        return "best_device()", (RUNTIME_IMPORT,)
    if not context.module_scope.can_use("torch", "torch"):
        return None
    visible = scope.binds("device")
    if visible is not None:
        ours = visible is context.module_scope.bindings.get("device") and len(visible) == 1
        if not ours or not any(
            context.code_for(statement).strip() == INLINE_DEVICE
            for statement in context.module.body
        ):
            return None
    return "device", ("import torch", INLINE_DEVICE)
