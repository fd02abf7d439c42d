"""Does this code also run without CUDA? The evidence that a file selects its device.

A hard-coded `.cuda()` or `"cuda"` is a mistake only where the code supports another device:
in a GPU benchmark, a weight-conversion script for a model that needs a GPU or an NCCL
helper it is the point (measured on real projects, most hard-coded CUDA is of that kind). The
code says it supports another device when it *selects* one: it asks
`torch.cuda.is_available()` (other than to stop without CUDA), builds
`torch.device("cuda" if ... else "cpu")`, offers a `--device` / `--cpu` / `--no-cuda`
option or a `device="cpu"` parameter, asks for MPS, XPU or `torch.accelerator`, or calls
`best_device()`. Then an unguarded hard-coded CUDA use breaks a path the code supports.

``device_selection(context)`` gives the first such evidence (its node and a short text);
``evidence_line`` places it (only when a diagnostic needs the line). Both are asked only
for a hard-coded CUDA use that no guard covers, so most files never pay for the walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.devices import (
    cpu_alternative,
    cuda_guarded,
    fails_without_cuda,
    init_requires_cuda,
)
from torchlint.names import dotted_name, inner_children
from torchlint.positions import LineIndex, node_spans

if TYPE_CHECKING:
    from torchlint.context import FileContext

AVAILABILITY = "torch.cuda.is_available"
# Namespaces that exist to find or use a device other than CUDA.
OTHER_DEVICE_PREFIXES = (
    "torch.backends.mps.",
    "torch.mps.",
    "torch.xpu.",
    "torch.accelerator.",
)
BEST_DEVICE = frozenset({"torchlint.runtime.best_device", "torchlint.runtime.device.best_device"})
OTHER_DEVICES = frozenset({"cpu", "mps", "xpu"})
# Command-line options that choose the device, or switch CUDA on or off.
DEVICE_OPTIONS = frozenset(
    {
        "--device",
        "--cpu",
        "--use-cpu",
        "--use_cpu",
        "--no-cuda",
        "--no_cuda",
        "--disable-cuda",
        "--disable_cuda",
        "--cuda",
        "--use-cuda",
        "--use_cuda",
        "--accelerator",
    }
)
_OPTION_CALLS = frozenset({"add_argument", "option", "Option", "argument"})
# Imports of libraries that run on NVIDIA GPUs only.
_CUDA_ONLY_LIBRARIES = re.compile(
    r"^\s*(?:import|from)\s+(?:tensorrt|torch_tensorrt|pycuda|cupy|cuda|apex)\b"
    # ...also imported lazily: `optional_import("tensorrt")`, `importlib.import_module(...)`
    r"|\b(?:optional_import|import_module|try_import|__import__)\(\s*"
    r"[\"'](?:tensorrt|torch_tensorrt|pycuda|cupy|cuda\.\w+)[\"'.]",
    re.MULTILINE,
)
# A hard-coded NCCL backend: `init_process_group("nccl")`, `backend = "nccl"`, or a
# `--dist-backend` option whose default is "nccl". Such a file's distributed path is CUDA-only.
_NCCL = re.compile(r"""["']nccl["']""")
_EXITS = frozenset({"exit", "_exit", "skip", "skipTest", "fail"})
_SKIPS = frozenset({"skipIf", "skipif", "skipUnless"})


@dataclass(frozen=True)
class DeviceSelection:
    node: cst.CSTNode
    what: str  # how the file selects it, for the message


def device_selection(context: FileContext) -> DeviceSelection | None:
    """The first place (in source order) where this file selects a device other than CUDA,
    or None: the file is written for CUDA only."""
    return context.fact("portability.device_selection", _find)


def evidence_line(context: FileContext, selection: DeviceSelection) -> int:
    """The 1-based line of the evidence (located once, only when asked)."""

    def locate(context: FileContext) -> int:
        span = node_spans(context.module, [selection.node]).get(id(selection.node))
        return LineIndex(context.source).line_col(span[0])[0] if span else 0

    return context.fact("portability.evidence_line", locate)


def selection_note(context: FileContext) -> str | None:
    """``this file selects a device at line 12 (`torch.cuda.is_available()`)``, or None."""
    selection = device_selection(context)
    if selection is None:
        return None
    demo = _demo_block(context)
    if demo is not None:
        cache = context.fact("portability.demo_selection", lambda _: {})
        if id(demo) not in cache:
            cache[id(demo)] = _search(context, demo.body)
        if cache[id(demo)] is None:
            return None  # a library module's usage example, written for a GPU
    line = evidence_line(context, selection)
    where = f" at line {line}" if line else ""
    return f"this file selects a device{where} ({selection.what})"


def breaks_cpu_path(context: FileContext, node: cst.CSTNode) -> tuple[bool, str | None]:
    """Whether a hard-coded CUDA use at ``node`` (``.cuda()``, ``"cuda"``) breaks a path
    the code supports, and the :func:`selection_note` that says which (None in strict
    mode, where every unguarded use counts). TL201 and TL202 ask the same question."""
    if cuda_guarded(context, node):
        return False, None
    if cpu_alternative(context, node):
        return False, None  # `x.cpu() if on_cpu else x.cuda()`: a device choice
    if context.settings.portability == "strict":
        return True, None
    note = selection_note(context)
    if note is None:
        return False, None  # written for CUDA only: nothing here runs without it
    return True, note  # in dead code the report is dropped (``Rule.report``)


def _find(context: FileContext) -> DeviceSelection | None:
    if _CUDA_ONLY_LIBRARIES.search(context.source):
        return None  # TensorRT, CUDA bindings, CuPy: the file runs on CUDA or not at all
    return _search(context, context.module)


def _search(
    context: FileContext, root: cst.CSTNode, branch: bool = False, nccl: bool | None = None
) -> DeviceSelection | None:
    """The first evidence under ``root``, in source order. An ``if`` whose test holds
    evidence but that chooses nothing (:func:`_if_chooses`) has its test skipped; whether
    it chooses is asked only then: that reads the code of its whole body, which, asked of
    every ``if``, costs each nested block as many times as it is deep."""
    scope = context.module_scope
    if nccl is None:
        nccl = _hard_codes_nccl(context.source)
    stack: list[tuple[cst.CSTNode, bool]] = [(root, branch)]
    while stack:
        node, branch = stack.pop()
        if _cuda_only_path(context, node):
            continue  # a CPU choice on a path that fails without CUDA anyway is no CPU path
        found = _evidence(scope, node, nccl, branch)
        if found is not None:
            return found
        children = _children(scope, node)
        if (
            isinstance(node, cst.If)
            and any(child is node.test for child in children)
            and _search(context, node.test, branch, nccl) is not None
            and not _if_chooses(context.module, scope, node)
        ):
            children = [child for child in children if child is not node.test]
        if isinstance(node, cst.IfExp) and _counts_gpus(scope, node):
            children = [child for child in children if child is not node.test]
        if isinstance(node, cst.Module):  # a script's own top-level setting is its choice
            pairs = [(c, branch or isinstance(c, cst.SimpleStatementLine)) for c in children]
        else:
            inner = branch or (isinstance(node, _BRANCHES) and not _main_guard(node))
            pairs = [(child, inner) for child in children]
        stack.extend(pairs)  # last first: in source order
    return None


def _cuda_only_path(context: FileContext, node: cst.CSTNode) -> bool:
    """A block that, unconditionally, does something that fails without CUDA
    (:func:`~torchlint.analysis.devices.fails_without_cuda`: ``torch.cuda.set_device(rank)``,
    ``torch.cuda.synchronize()``, ``dist.init_process_group("nccl")``, ``assert
    torch.cuda.is_available()``, a batch size of ``n * torch.cuda.device_count()``), or a
    class whose ``__init__`` refuses to build an object without CUDA: whatever it selects,
    everything in it runs with CUDA or not at all (jukebox's ``device = ... else
    torch.device("cpu")`` followed by ``torch.cuda.set_device(local_rank)``)."""
    if isinstance(node, (cst.Module, cst.IndentedBlock)):
        return any(fails_without_cuda(statement, context.module_scope) for statement in node.body)
    if isinstance(node, cst.ClassDef):
        return init_requires_cuda(context, node)
    return False


def _demo_block(context: FileContext) -> cst.If | None:
    """The ``if __name__ == "__main__":`` block of a module in a package (an
    ``__init__.py`` beside it) that holds the node being visited: the library's usage
    example or debugging run (nnU-Net's predictor, a diffusion module's demo). It runs
    without CUDA only where it selects a device itself; the library's selection above it
    is for the library's callers."""
    chain = context.ancestors
    for index in range(1, min(len(chain), 3)):
        node = chain[index]
        if isinstance(node, cst.If) and isinstance(chain[index - 1], cst.Module):
            if not _main_guard(node):
                return None
            path = Path(context.path)
            in_package = path.suffix == ".py" and (path.parent / "__init__.py").is_file()
            return node if in_package else None
    return None


def _main_guard(node: cst.CSTNode) -> bool:
    """``if __name__ == "__main__":``: a script's body, run every time, not a choice."""
    test = node.test if isinstance(node, cst.If) else None
    return (
        isinstance(test, cst.Comparison)
        and isinstance(test.left, cst.Name)
        and test.left.value == "__name__"
    )


# Statements whose blocks run on a condition: a device assigned there is one of a choice.
_BRANCHES = (cst.If, cst.Else, cst.Try, cst.TryStar, cst.ExceptHandler, cst.Match)


def _hard_codes_nccl(source: str) -> bool:
    """The file names the NCCL backend and no other (`"gloo"`, `"mpi"`): a CUDA-only
    distributed launcher (`dist.init_process_group("nccl")`, `--dist-backend nccl`,
    `torch.cuda.set_device(args.gpu)`). Its `torch.cuda.is_available()` asks whether
    to spawn, count or log GPUs, not which device to run on."""
    return _NCCL.search(source) is not None and _OTHER_BACKEND.search(source) is None


_OTHER_BACKEND = re.compile(r"""["'](?:gloo|mpi|xccl|ccl|hccl)["']""")
# Calls that only show a value: `print(torch.cuda.is_available())` chooses nothing.
_SHOWS = frozenset({"print", "info", "debug", "warning", "warn", "log", "write", "echo"})


def _children(scope, node: cst.CSTNode):
    """The children to search: not an `assert`'s test, a decorator (a skip marker) or the
    test of `if not torch.cuda.is_available(): <stop>` (those make code CUDA-only)."""
    if isinstance(node, cst.Assert):
        return ()
    if isinstance(node, cst.Decorator):
        return ()
    if isinstance(node, cst.Call) and _last_name(node.func) in (*_SKIPS, *_SHOWS):
        return ()
    if (
        isinstance(node, cst.Expr)
        and isinstance(node.value, cst.Call)
        and _last_name(node.value.func) == "is_available"
    ):
        return ()  # a bare `torch.cuda.is_available()` (a notebook cell shows the value)
    if isinstance(node, cst.If) and _stops_without_cuda(scope, node):
        return [child for child in inner_children(node) if child is not node.test]
    if isinstance(node, cst.Assign) and isinstance(node.value, cst.IfExp) and _names_a_type(node):
        # `device_type = device_type if device_type != "mps" else "cpu"`: the kind autocast
        # takes for the data's own device, not a device the code picks; its parts still count
        return [
            *inner_children(node.value),
            *(child for child in inner_children(node) if child is not node.value),
        ]
    return inner_children(node)


def _names_a_type(node: cst.Assign) -> bool:
    """Every target is a name that ends in ``type`` (``device_type``, ``autocast_type``)."""
    return all(
        (name := _last_name(target.target)) is not None and name.lower().endswith("type")
        for target in node.targets
    )


def _if_chooses(module: cst.Module, scope, node: cst.If) -> bool:
    """``if <... is_available() ...>:`` picks a device only when it has another branch or
    places something in its body; ``if torch.cuda.is_available(): log(memory)`` and an
    import under the check do not; nor does an ``else`` where both branches only show a
    value or keep CUDA's state (``print(... torch.cuda.max_memory_allocated() ...)`` or the
    same line without the memory: a log format; ``torch.cuda.set_rng_state(...)`` or
    ``assert state is None``: a restored RNG; not a device)."""
    if node.orelse is not None:
        return not (
            isinstance(node.orelse, cst.Else)
            and _only_shows(scope, node.body)
            and _only_shows(scope, node.orelse.body)
        )
    statements = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]
    body = "".join(
        module.code_for_node(statement)
        for statement in statements
        if not _only_imports(statement)  # `from torch._inductor import cudagraph_trees`
    )
    body = _HOUSEKEEPING.sub("", body)
    return any(word in body for word in ("cuda", ".to(", "device"))


# `torch.cuda.<call>`s that keep CUDA's own state (streams, seeds, memory, the current GPU):
# `if torch.cuda.is_available(): torch.cuda.synchronize()` keeps a call from failing without
# CUDA; it places nothing, so it chooses no device (FSDP's `state_dict`).
_HOUSEKEEPING = re.compile(
    r"\bcuda\.(?:synchronize|empty_cache|manual_seed(?:_all)?|seed(?:_all)?|set_device"
    r"|reset_\w+|memory_\w+|max_memory_\w+|Stream|Event|current_stream|default_stream"
    r"|ipc_collect|get_device_\w+|device_count|nvtx\.\w+|[gs]et_rng_state(?:_all)?)\b"
)


def _counts_gpus(scope, node: cst.IfExp) -> bool:
    """``torch.cuda.device_count() if torch.cuda.is_available() else 0``,
    ``torch.cuda.get_rng_state() if torch.cuda.is_available() else None``: the test picks a
    number of GPUs (to assert on, to size a launch) or CUDA's own state, not a device: each
    arm is a number, ``None`` or a ``torch.cuda.*`` call."""
    return _asks_availability(scope, node.test) and all(
        isinstance(arm, cst.Integer)
        or (isinstance(arm, cst.Name) and arm.value == "None")
        or _cuda_state_call(scope, arm)
        for arm in (node.body, node.orelse)
    )


def _cuda_state_call(scope, expr: cst.BaseExpression) -> bool:
    """A call in ``torch.cuda`` (``synchronize()``, ``set_rng_state(...)``, ``Stream()``):
    CUDA's own state, which places no tensor of the program's."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = scope.qualified_name(expr.func)
    return qualified is not None and qualified.startswith("torch.cuda.")


def _only_shows(scope, block: cst.BaseSuite) -> bool:
    """Every statement of ``block`` is a bare ``print(...)`` / ``logger.info(...)`` call, an
    ``assert``, ``pass`` or a ``torch.cuda.*`` call (``torch.cuda.set_rng_state(...)``)."""
    statements = block.body if isinstance(block, cst.IndentedBlock) else [block]
    smalls = []
    for statement in statements:
        if not isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return False
        smalls.extend(statement.body)
    return bool(smalls) and all(
        isinstance(small, (cst.Assert, cst.Pass))
        or (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and (_last_name(small.value.func) in _SHOWS or _cuda_state_call(scope, small.value))
        )
        for small in smalls
    )


def _only_imports(statement: cst.CSTNode) -> bool:
    return isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
    )


def _stops_without_cuda(scope, node: cst.If) -> bool:
    test = node.test
    if not (isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)):
        return False
    if not _is_call_to(scope, test.expression, AVAILABILITY):
        return False
    smalls: list[cst.BaseSmallStatement] = []
    if isinstance(node.body, cst.SimpleStatementSuite):
        smalls.extend(node.body.body)
    else:
        for statement in node.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                smalls.extend(statement.body)
    for small in smalls:
        if isinstance(small, (cst.Raise, cst.Return)):
            return True
        if (
            isinstance(small, cst.Expr)
            and isinstance(small.value, cst.Call)
            and _last_name(small.value.func) in _EXITS
        ):
            return True
    return False


def _last_name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else None


def _is_call_to(scope, expr: cst.BaseExpression, qualified: str) -> bool:
    return isinstance(expr, cst.Call) and scope.qualified_name(expr.func) == qualified


def _other_device(scope, expr: cst.BaseExpression) -> bool:
    """``"cpu"`` / ``"mps"`` / ``"xpu"``, or ``torch.device`` of one."""
    literal = calls.string_literal(expr)
    if literal is not None:
        return literal.split(":", 1)[0] in OTHER_DEVICES
    if isinstance(expr, cst.Call) and expr.args:
        first = calls.string_literal(expr.args[0].value)
        return (
            first is not None
            and first in OTHER_DEVICES
            and scope.qualified_name(expr.func) == "torch.device"
        )
    return False


def _asks_availability(scope, test: cst.BaseExpression) -> bool:
    """The test is (``not``, ``and``/``or`` of) ``torch.cuda.is_available()``."""
    while isinstance(test, cst.UnaryOperation):
        test = test.expression
    if isinstance(test, cst.BooleanOperation):
        return _asks_availability(scope, test.left) or _asks_availability(scope, test.right)
    return _is_call_to(scope, test, AVAILABILITY)


def _device_text(expr: cst.BaseExpression) -> str:
    literal = calls.string_literal(expr)
    if literal is None and isinstance(expr, cst.Call) and expr.args:
        literal = calls.string_literal(expr.args[0].value)
    return f'"{literal}"'


# Words of a device that holds tensors rather than computes with them: `offload_device`,
# `storage_device`, `host_device`, `pin_memory_device`. A CPU there is where a CUDA model
# parks its weights, not a CPU path through the code.
_STORAGE_WORDS = frozenset({"offload", "storage", "store", "host", "pin", "pinned", "swap"})


def _says_device(name: str) -> bool:
    lowered = name.lower()
    if not _STORAGE_WORDS.isdisjoint(lowered.split("_")):
        return False
    return "device" in lowered or lowered in ("dev", "accelerator")


def _evidence(scope, node: cst.CSTNode, nccl: bool, branch: bool) -> DeviceSelection | None:
    if isinstance(node, cst.Call):
        func = node.func
        last = _last_name(func)
        if last in _OPTION_CALLS:
            for arg in node.args:
                option = calls.string_literal(arg.value) if arg.keyword is None else None
                if option is not None and option.lower() in DEVICE_OPTIONS:
                    return DeviceSelection(node, f"a `{option}` option")
            return None
        if last not in ("is_available", "best_device"):
            text = dotted_name(func) or ""
            if not any(word in text for word in ("mps", "xpu", "accelerator")):
                return None
        qualified = scope.qualified_name(func)
        if qualified is None:
            return None
        if qualified == AVAILABILITY:
            if nccl:
                return None  # an NCCL-only launcher asks for other reasons
            return DeviceSelection(node, "`torch.cuda.is_available()`")
        if qualified.startswith(OTHER_DEVICE_PREFIXES):
            return DeviceSelection(node, f"`{qualified}()`")
        if qualified in BEST_DEVICE:
            return DeviceSelection(node, "`best_device()`")
        return None
    if isinstance(node, cst.IfExp):
        if nccl and _asks_availability(scope, node.test):
            return None  # `"cuda" if torch.cuda.is_available() else "cpu"` in an NCCL launcher
        for arm in (node.orelse, node.body):
            if _other_device(scope, arm):
                return DeviceSelection(node, f"a `{_device_text(arm)}` alternative")
        return None
    if isinstance(node, cst.Param):
        default = node.default
        if default is not None and _says_device(node.name.value) and _other_device(scope, default):
            return DeviceSelection(node, f"a `{node.name.value}` parameter")
        return None
    if isinstance(node, cst.Assign) and branch and _other_device(scope, node.value):
        for target in node.targets:
            last = _last_name(target.target)
            if last is not None and _says_device(last):
                return DeviceSelection(node, f"`{last}` set to another device")
    return None
