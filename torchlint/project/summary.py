"""One file's summary: what the other files of its project may ask about it.

A summary is computed from the file's text alone, with the standard library's ``ast`` (C
speed: a small fraction of a libcst parse), and is small, frozen and picklable, so it is
cached on disk by the file's content digest. It records names as the file spells them,
resolved only through the file's own imports (``nn.Dropout`` -> ``torch.nn.Dropout``,
``Block`` -> ``.layers.Block`` after ``from .layers import Block``); following them into
other files is the index's job (``torchlint.project.index``).

What it keeps, for each top-level function and class:

- functions: whether, used as a decorator, it runs the function with autograd off (a
  wrapper under ``no_grad`` / ``inference_mode``) or only with CUDA (a skip when CUDA is
  missing); whether it selects a device (returns ``torch.device(...)`` or a device string
  chosen by ``torch.cuda.is_available()``); which parameters it leaves in eval mode;
  whether it wraps a model in ``DistributedDataParallel`` / FSDP (``smart_DDP(model)``);
- classes: their bases, and whether their behaviour depends on train/eval mode: directly
  (dropout, batch norm, reading ``self.training``) or through the classes and helpers they
  call (kept as references for the index to follow);
- call sites anywhere in the file that pass an argument already switched to eval mode
  (``model.eval(); evaluate(model, loader)``): the reverse view of "who evaluates what".
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from torchlint.project.noise_layers import is_noise_layer
from torchlint.rate_tests import judge_rate_tests
from torchlint.vocabulary import (
    DDP_WRAPPERS,
    GRAD_OFF,
    LIGHTNING_BASES,
    MODULE_BASES,
    NN_CONTAINERS,
    RECURRENT_DROPOUT_POSITION,
    SET_GRAD_ENABLED,
)

# --- the summary -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Build:
    """What a class body or a function body builds and calls, for mode sensitivity.

    ``sensitive``: it surely depends on the mode (dropout, batch norm, ``.training``);
    ``opaque``: it calls something that cannot be followed; ``refs``: the classes and
    functions it calls that may be followed (as the file spells them, see the module doc).
    """

    sensitive: bool = False
    opaque: bool = False
    refs: tuple[str, ...] = ()
    # ``gates``: its own parameters (default 0) that alone turn a dropout, or a
    # ``self.training and self.rate > 0`` branch, on, with their call positions (the call's
    # first argument is 1; -1 keyword-only); ``calls``: what each call of a ref passes for
    # such a parameter ("1": a non-zero literal, "p:NAME": its own gate NAME; a slot is a
    # keyword or "#<position>"), "super" for ``super().__init__(...)``.
    gates: tuple[tuple[str, int], ...] = ()
    calls: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # the parameters (default 0) ``calls`` passes on, with their call positions
    passes: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionSummary:
    name: str
    params: tuple[str, ...]
    grad_off: bool  # as a decorator, runs the function with autograd off
    cuda_gate: bool  # as a decorator, runs the function only where CUDA is
    device_selector: bool  # returns the device to use on this machine
    leaves_eval: tuple[str, ...]  # parameters in eval mode when it returns
    build: Build
    # what it returns in eval mode on every return: -1 the value, i >= 0 item i of a tuple
    returns_eval: tuple[int, ...] = ()
    builds_ddp: bool = False  # it wraps a model in DistributedDataParallel or FSDP


@dataclass(frozen=True, slots=True)
class ClassSummary:
    name: str
    bases: tuple[str, ...]  # qualified as the file spells them; "" for a non-name base
    build: Build
    evals_itself: bool = False  # its __init__ ends with `self.eval()`: built in eval mode
    has_init: bool = True  # defines __init__ (else a base's gates are its own)
    # Where ``build`` is sensitive only through dropout rates that ``__init__`` parameters
    # feed, whatever their defaults: the build read with every parameter as a gate, and
    # the gate parameters whose default is 0 (a construction with every rate at a literal
    # 0 builds nothing mode-dependent, see ``ProjectIndex.rates``).
    rates: Build | None = None
    zero_rates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallSite:
    """A call that passes arguments already in eval mode: ``evaluated`` holds their
    positions (``"0"``) and keywords (``"model"``)."""

    callee: str
    evaluated: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModuleSummary:
    parsed: bool
    imports: tuple[tuple[str, str], ...] = ()  # (bound name, qualified target)
    functions: tuple[FunctionSummary, ...] = ()
    classes: tuple[ClassSummary, ...] = ()
    cuda_gates: tuple[str, ...] = ()  # names assigned a CUDA skip mark
    other: tuple[str, ...] = ()  # names bound otherwise (assignments): never resolved
    ambiguous: tuple[str, ...] = ()  # names bound more than once at top level
    calls: tuple[CallSite, ...] = ()

    def imported(self, name: str) -> str | None:
        for bound, target in self.imports:
            if bound == name:
                return target
        return None

    def function(self, name: str) -> FunctionSummary | None:
        return next((f for f in self.functions if f.name == name), None)

    def cls(self, name: str) -> ClassSummary | None:
        return next((c for c in self.classes if c.name == name), None)


UNPARSABLE = ModuleSummary(parsed=False)


# --- reading a file --------------------------------------------------------------------------

_BUILTINS = frozenset(
    {
        "super", "range", "len", "int", "float", "bool", "str", "list", "tuple", "dict",
        "set", "zip", "enumerate", "min", "max", "abs", "sum", "round", "isinstance",
        "getattr", "setattr", "hasattr", "print", "reversed", "sorted", "ValueError",
        "TypeError", "NotImplementedError", "RuntimeError",
    }
)  # fmt: skip
_SKIP_CALLS = frozenset({"skip", "skipTest", "SkipTest"})
_SKIP_IF = frozenset({"skipIf", "skipif"})
_SKIP_UNLESS = frozenset({"skipUnless"})
_CUDA_QUERIES = frozenset({"torch.cuda.is_available", "torch.cuda.device_count"})
_ACCELERATOR_QUERIES = ("torch.cuda.", "torch.backends.", "torch.accelerator.")
_DEVICE_STRINGS = frozenset({"cuda", "cpu", "mps", "xpu"})
_MODULE_TYPES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})
# The layers of torch.nn whose behaviour changes with the mode (see analysis/flow.py).
_SENSITIVE_LAYERS = frozenset(
    {
        "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
        "FeatureAlphaDropout", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
        "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "SyncBatchNorm",
        "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
        "TransformerDecoderLayer",
    }
)  # fmt: skip


def summarize(source: str | bytes) -> ModuleSummary:
    """The summary of one file's text; ``UNPARSABLE`` when Python cannot parse it."""
    text = source if isinstance(source, bytes) else source.encode("utf-8", "surrogateescape")
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return UNPARSABLE
    try:
        return _Summarizer(tree, text).summary()
    except RecursionError:
        return UNPARSABLE


# Words without which a fact cannot hold: a file lacking them skips that part of the work.
_GRAD_WORDS = (b"no_grad", b"inference_mode", b"set_grad_enabled")
_CUDA_WORDS = (b"is_available", b"device_count")
_DEVICE_WORDS = (b"cuda.", b"backends", b"accelerator")
_LAYER_WORDS = (b"nn.", b"torch", b"Dropout", b"Norm", b"Linear", b"Conv", b"Sequential")
_MODE_CALL = re.compile(rb"\.\s*(?:eval|train)\s*\(")
_DDP_WORDS = tuple(sorted(word.encode() for word in DDP_WRAPPERS))
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_TOP_LEVEL_DEFINITION = re.compile(rb"^(async[ \t]+def|def|class)[ \t]+(\w+)", re.MULTILINE)


def _facts_in(region: bytes, device_file: bool, ddp_file: bool = False) -> frozenset[str]:
    """The facts a definition whose text is ``region`` may have, by the same word tests
    ``_Summarizer`` makes on it: "grad_off", "cuda_gate", "device_selector", "mode"
    (leaves, returns or puts itself in eval mode), "ddp" (wraps a model in DDP or FSDP).
    ``device_file``: the file says "device" somewhere; ``ddp_file``: it names a DDP
    wrapper somewhere (the import may be the only place: `DDP(model)` in the body)."""
    found = set()
    if any(word in region for word in _GRAD_WORDS):
        found.add("grad_off")
    if any(word in region for word in _CUDA_WORDS):
        found.add("cuda_gate")
    if device_file and any(word in region for word in _DEVICE_WORDS):
        found.add("device_selector")
    if _MODE_CALL.search(region):
        found.add("mode")
    if ddp_file:
        found.add("ddp")
    return frozenset(found)


def may_pass_evaluated(text: bytes) -> bool:
    """Whether ``summarize`` may find call sites that pass a model in eval mode (its
    ``calls``): only in a file that switches a mode somewhere."""
    return _MODE_CALL.search(text) is not None


@dataclass(frozen=True)
class Definitions:
    """What a file's bytes say of its top-level ``def`` and ``class`` statements, without
    parsing it: the names (supersets of what ``summarize`` lists: a name defined twice is
    ambiguous there, and has no facts either way) and, per name, the facts its text allows.

    A definition's text runs from its line to the next ``def``/``class`` at column 0, a
    superset of the lines ``summarize`` reads for it (a ``def`` at column 0 inside a string
    would end it early)."""

    functions: frozenset[str]
    classes: frozenset[str]
    facts: dict[str, frozenset[str]]


def definitions(text: bytes) -> Definitions:
    functions, classes = set(), set()
    regions: dict[str, list[bytes]] = {}
    found = list(_TOP_LEVEL_DEFINITION.finditer(text))
    for i, match in enumerate(found):
        keyword, name = match.group(1), match.group(2).decode("ascii", "replace")
        (classes if keyword == b"class" else functions).add(name)
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        regions.setdefault(name, []).append(text[match.start() : end])
    device_file = b"device" in text
    ddp_file = any(word in text for word in _DDP_WORDS)
    facts = {}
    for name, parts in regions.items():
        region = b"\n".join(parts)
        found = _facts_in(region, device_file, ddp_file)
        # "weights": it may load a state dict (TL701: a checkpoint handed to it holds weights)
        facts[name] = found | _WEIGHTS if b"load_state_dict" in region else found
    return Definitions(frozenset(functions), frozenset(classes), facts)


_WEIGHTS = frozenset({"weights"})


# Fields that never hold a node (names, numbers, operators and contexts without children).
_SCALAR_FIELDS = frozenset(
    {"id", "attr", "name", "arg", "module", "level", "kind", "type_comment", "ctx", "op",
     "conversion", "simple", "is_async", "tag", "asname", "rest",
     "annotation", "returns", "type_params"}  # type hints: no call that builds anything
)  # fmt: skip
# Nodes with nothing below worth a look (strings, f-strings, and the leaves of patterns).
_LEAVES = frozenset(
    {ast.Constant, ast.JoinedStr, str, int, bool, type(None), ast.Global, ast.Nonlocal}
)  # bool: `case True:` (MatchSingleton)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    found = _FIELDS.get(kind)
    if found is None:
        found = _FIELDS[kind] = tuple(f for f in kind._fields if f not in _SCALAR_FIELDS)  # type: ignore[attr-defined]
    return found


class _Parts:
    """The nodes of one top-level def or class that its facts are read from: one walk."""

    __slots__ = ("assigns", "calls", "decorated", "ifs", "returns", "stores", "training", "withs")

    def __init__(self, root: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.calls: list[ast.Call] = []
        self.withs: list[ast.With | ast.AsyncWith] = []
        self.ifs: list[ast.If] = []
        self.returns: list[ast.Return] = []  # its own (not of nested functions)
        self.assigns: list[ast.Assign] = []  # its own
        self.stores: set[str] = set()  # names it binds itself
        self.decorated: list[ast.AST] = []  # nested definitions with decorators
        self.training = False  # reads `.training`
        # Two stacks: the root's own code first, then what nested definitions hold.
        stack: list[ast.AST] = list(root.body)
        nested: list[ast.AST] = []
        own = True
        call, name, attribute, store = ast.Call, ast.Name, ast.Attribute, ast.Store
        while True:
            if not stack:
                if not own or not nested:
                    break
                stack, own = nested, False
            node = stack.pop()
            kind = type(node)
            target = stack
            if kind is call:
                self.calls.append(node)  # type: ignore[arg-type]
            elif kind is name:
                if own and type(node.ctx) is store:  # type: ignore[attr-defined]
                    self.stores.add(node.id)  # type: ignore[attr-defined]
                continue
            elif kind is attribute:
                if node.attr == "training":  # type: ignore[attr-defined]
                    self.training = True
            elif kind in _LEAVES:
                continue
            elif kind in _NESTED:
                if kind is not ast.Lambda and node.decorator_list:  # type: ignore[attr-defined]
                    self.decorated.append(node)
                target = nested
            elif kind is ast.With or kind is ast.AsyncWith:
                self.withs.append(node)  # type: ignore[arg-type]
            elif kind is ast.If:
                self.ifs.append(node)  # type: ignore[arg-type]
            elif own and kind is ast.Return:
                self.returns.append(node)  # type: ignore[arg-type]
            elif own and kind is ast.Assign:
                self.assigns.append(node)  # type: ignore[arg-type]
            elif own and (kind is ast.Import or kind is ast.ImportFrom):
                for alias in node.names:  # type: ignore[attr-defined]
                    self.stores.add((alias.asname or alias.name).split(".", 1)[0])
                continue
            for field in _child_fields(kind):
                value = getattr(node, field)
                if type(value) is list:
                    target.extend(value)
                elif value is not None:
                    target.append(value)


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _import_target(node: ast.ImportFrom, name: str) -> str:
    """As ``names.Scope`` spells it: ``.models.Net``, ``..utils``, ``torch.nn``."""
    prefix = "." * node.level + (node.module or "")
    return f"{prefix}.{name}" if prefix and not prefix.endswith(".") else prefix + name


def _literal_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, None, 0)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _argument(call: ast.Call, name: str, index: int) -> ast.expr | None:
    """The value passed as keyword ``name`` or as positional argument ``index`` (none when
    that argument is a ``*args``)."""
    value = _keyword(call, name)
    if value is None and len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        value = call.args[index]
    return value


class _Summarizer:
    def __init__(self, tree: ast.Module, text: bytes) -> None:
        self.tree = tree
        # The facts the file's words allow: the same tests as the index's byte gates.
        self.device_file = b"device" in text
        self.ddp_file = any(word in text for word in _DDP_WORDS)
        self.file_facts = _facts_in(text, self.device_file, self.ddp_file)
        self.cuda_words = "cuda_gate" in self.file_facts
        self.mode_calls = "mode" in self.file_facts  # also: no call sites without it
        self.lines = text.split(b"\n")
        self.imports: dict[str, str] = {}
        self.defs: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.bound: dict[str, int] = {}
        self.other: set[str] = set()
        for statement in self._top_level(tree.body):
            self._bind_statement(statement)

    def _top_level(self, body: list[ast.stmt]):
        """Module-level statements, also inside ``if`` / ``try`` blocks (still top level)."""
        for statement in body:
            if isinstance(statement, ast.If):
                yield from self._top_level(statement.body)
                yield from self._top_level(statement.orelse)
            elif isinstance(statement, ast.Try):
                for block in (statement.body, statement.orelse, statement.finalbody):
                    yield from self._top_level(block)
                for handler in statement.handlers:
                    yield from self._top_level(handler.body)
            else:
                yield statement

    def _bind(self, name: str) -> None:
        self.bound[name] = self.bound.get(name, 0) + 1

    def _bind_statement(self, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                    self._bind(alias.asname)
                else:
                    top = alias.name.split(".", 1)[0]
                    self.imports[top] = top
                    self._bind(top)
        elif isinstance(statement, ast.ImportFrom):
            for alias in statement.names:
                if alias.name == "*":
                    continue
                bound = alias.asname or alias.name
                self.imports[bound] = _import_target(statement, alias.name)
                self._bind(bound)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.defs[statement.name] = statement
            self._bind(statement.name)
        elif isinstance(statement, ast.ClassDef):
            self.classes[statement.name] = statement
            self._bind(statement.name)
        else:
            targets: list[ast.AST] = []
            if isinstance(statement, ast.Assign):
                targets = list(statement.targets)
            elif isinstance(statement, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
                targets = [statement.target]
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in statement.items if i.optional_vars]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                        self.other.add(node.id)
                        self._bind(node.id)

    # -- names ----------------------------------------------------------------------------

    def qualify(self, node: ast.expr, shadowed: frozenset[str] = frozenset()) -> str | None:
        """What a Name/Attribute chain refers to through this file's top-level names:
        an import's qualified name, or ``:name`` for a top-level def/class of this file."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        root, _, rest = dotted.partition(".")
        if root in shadowed or self.bound.get(root, 0) != 1:
            return None
        if root in self.imports:
            base = self.imports[root]
            return f"{base}.{rest}" if rest else base
        if (root in self.defs or root in self.classes) and not rest:
            return ":" + root  # this file's own (see ProjectIndex.resolve)
        return None

    # -- the whole file -------------------------------------------------------------------

    def summary(self) -> ModuleSummary:
        self.sites: list[CallSite] = []
        functions = tuple(self._function(d) for d in self.defs.values())
        classes = tuple(self._class(c) for c in self.classes.values())
        gates = tuple(
            name
            for statement in (self._top_level(self.tree.body) if self.cuda_words else ())
            if isinstance(statement, ast.Assign) and self._gates_on_cuda(statement.value)
            for target in statement.targets
            if isinstance(target, ast.Name)
            for name in (target.id,)
        )
        ambiguous = tuple(sorted(n for n, count in self.bound.items() if count > 1))
        return ModuleSummary(
            parsed=True,
            imports=tuple(sorted(self.imports.items())),
            functions=functions,
            classes=classes,
            cuda_gates=gates,
            other=tuple(sorted(self.other)),
            ambiguous=ambiguous,
            calls=tuple(self._call_sites()) if self.mode_calls else (),
        )

    # -- functions ------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> FunctionSummary:
        args = node.args
        params = tuple(a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs))
        # Its own text says which facts can hold: the others cost no walk (most functions
        # of a project are none of these).
        region = b"\n".join(self.lines[node.lineno - 1 : node.end_lineno])
        builds = any(word in region for word in _LAYER_WORDS)
        facts = (
            _facts_in(region, self.device_file, self.ddp_file) if self.file_facts else frozenset()
        )
        grad = "grad_off" in facts
        cuda = "cuda_gate" in facts
        device = "device_selector" in facts
        mode = "mode" in facts
        ddp = "ddp" in facts
        # One pass in order: the modes it leaves, what it returns, the calls it makes.
        shadowed = _locals(node) if mode else frozenset()
        tracker = _ModeTracker(self, shadowed, self.sites, returns=[])
        final = tracker.run(node.body) if mode else {}
        parts = _Parts(node) if builds or grad or cuda or device or ddp else None
        build = Build(opaque=True)  # builds nothing it could show: not a layer builder
        if parts is not None and builds:
            every = (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
            local = frozenset(parts.stores | {a.arg for a in every if a is not None})
            build = self._build(parts, local, _zero_positions(node, 1), root=node)
        return FunctionSummary(
            name=node.name,
            params=params,
            grad_off=grad and self._turns_grad_off(parts),  # type: ignore[arg-type]
            cuda_gate=cuda and self._body_gates_on_cuda(parts),  # type: ignore[arg-type]
            device_selector=device and self._selects_device(parts),  # type: ignore[arg-type]
            leaves_eval=tuple(p for p in params if final.get(p) == "eval"),
            build=build,
            returns_eval=tracker.returned_eval() if mode else (),
            builds_ddp=ddp and self._builds_ddp(parts),  # type: ignore[arg-type]
        )

    def _builds_ddp(self, parts: _Parts) -> bool:
        """It calls torch's ``DistributedDataParallel`` / FSDP (``smart_DDP(model)`` and
        other project helpers that wrap a model for one process per GPU)."""
        for call in parts.calls:
            qualified = self.qualify(call.func) or ""
            if qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in DDP_WRAPPERS:
                return True
        return False

    def _grad_off_expr(self, node: ast.expr, bare_ok: bool) -> bool:
        if not isinstance(node, ast.Call):
            return bare_ok and self.qualify(node) in GRAD_OFF
        qualified = self.qualify(node.func)
        if qualified in GRAD_OFF:
            if "inference_mode" in qualified and node.args:
                first = node.args[0]
                return isinstance(first, ast.Constant) and first.value is True
            return True
        if qualified in SET_GRAD_ENABLED and len(node.args) == 1:
            first = node.args[0]
            return isinstance(first, ast.Constant) and first.value is False
        return False

    def _turns_grad_off(self, parts: _Parts) -> bool:
        """Its wrapper runs the wrapped function with autograd off: a nested ``def`` under
        ``@torch.no_grad()``, or a ``with torch.no_grad():`` in its body (as the same-file
        reading in analysis/flow.py does)."""
        for node in parts.withs:
            if any(self._grad_off_expr(item.context_expr, False) for item in node.items):
                return True
        return any(
            not isinstance(node, ast.ClassDef)
            and any(self._grad_off_expr(d, True) for d in node.decorator_list)  # type: ignore[attr-defined]
            for node in parts.decorated
        )

    def _cuda_query(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Call) and self.qualify(node.func) in _CUDA_QUERIES

    def _implies_cuda(self, test: ast.expr, when: bool) -> bool:
        """``test`` being ``when`` means CUDA is there (``not`` flips it)."""
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return self._implies_cuda(test.operand, not when)
        if isinstance(test, ast.BoolOp):
            joined = isinstance(test.op, ast.And)
            if joined == when:  # `a and b` true: both true; `a or b` false: both false
                return any(self._implies_cuda(v, when) for v in test.values)
            return all(self._implies_cuda(v, when) for v in test.values)
        if self._cuda_query(test):
            return when
        if (
            isinstance(test, ast.Compare)
            and len(test.ops) == 1
            and self._cuda_query(test.left)
            and isinstance(test.comparators[0], ast.Constant)
            and isinstance(test.comparators[0].value, int)
        ):
            bound, op = test.comparators[0].value, test.ops[0]
            positive = (isinstance(op, ast.Gt) and bound >= 0) or (
                isinstance(op, ast.GtE) and bound >= 1
            )
            negative = (isinstance(op, ast.Lt) and bound <= 1) or (
                isinstance(op, (ast.Eq, ast.LtE)) and bound == 0
            )
            return positive if when else negative
        return False

    def _skips(self, body: list[ast.stmt]) -> bool:
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Raise):
                return True
            if isinstance(node, ast.Call):
                name = _last(node.func)
                if name in _SKIP_CALLS:
                    return True
        return False

    def _gates_on_cuda(self, node: ast.expr) -> bool:
        """``pytest.mark.skipif(not torch.cuda.is_available(), ...)``, ``skipUnless(...)``."""
        if not isinstance(node, ast.Call) or not node.args:
            return False
        name = _last(node.func)
        if name in _SKIP_IF:
            return self._implies_cuda(node.args[0], False)
        if name in _SKIP_UNLESS:
            return self._implies_cuda(node.args[0], True)
        return False

    def _body_gates_on_cuda(self, parts: _Parts) -> bool:
        """Its body skips (or raises) when CUDA is missing, or applies such a mark."""
        for node in parts.ifs:
            if self._implies_cuda(node.test, False) and self._skips(node.body):
                return True
            if node.orelse and self._implies_cuda(node.test, True) and self._skips(node.orelse):
                return True
        return any(self._gates_on_cuda(node) for node in parts.calls)

    def _device_value(self, node: ast.expr, names: dict[str, list[ast.expr]], depth=0) -> bool:
        if depth > 3:
            return False
        if isinstance(node, ast.Call):
            return self.qualify(node.func) == "torch.device"
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.split(":", 1)[0] in _DEVICE_STRINGS
        if isinstance(node, ast.IfExp):
            return self._device_value(node.body, names, depth + 1) and self._device_value(
                node.orelse, names, depth + 1
            )
        if isinstance(node, ast.Name) and names.get(node.id):
            return all(self._device_value(v, names, depth + 1) for v in names[node.id])
        return False

    def _selects_device(self, parts: _Parts) -> bool:
        """Every ``return`` gives a device (``torch.device(...)`` or ``"cuda"``/``"cpu"``),
        and the body asks torch which accelerator there is: what ``best_device()`` does."""
        returns = [node.value for node in parts.returns]
        if not returns or any(value is None for value in returns):
            return False
        names: dict[str, list[ast.expr]] = {}
        for node in parts.assigns:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, []).append(node.value)
        asks = any(
            (self.qualify(node.func) or "").startswith(_ACCELERATOR_QUERIES) for node in parts.calls
        )
        return asks and all(self._device_value(value, names) for value in returns)  # type: ignore[arg-type]

    def _class(self, node: ast.ClassDef) -> ClassSummary:
        bases = tuple(self.qualify(base) or "" for base in node.bases)
        init = next(
            (
                statement
                for statement in node.body
                if isinstance(statement, ast.FunctionDef) and statement.name == "__init__"
            ),
            None,
        )
        zero = _zero_positions(init, 0)
        build = self._build(_Parts(node), frozenset(), zero, _rate_attributes(init, zero), node)
        opaque = build.opaque
        refs = list(build.refs)
        for qualified in bases:
            if qualified in _MODULE_TYPES:
                continue
            if not qualified or qualified.startswith(("torch.", *LIGHTNING_BASES)):
                opaque = True  # nn.Sequential & co: what it holds is not visible here
            elif qualified.rsplit(".", 1)[-1] in MODULE_BASES:
                opaque = True
            else:
                refs.append(qualified)
        evals_itself = False
        region = b"\n".join(self.lines[node.lineno - 1 : node.end_lineno])
        if self.mode_calls and _MODE_CALL.search(region):
            for statement in node.body:
                if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
                    final = _ModeTracker(self).run(statement.body)
                    evals_itself = final.get("self") == "eval"
        build = Build(build.sensitive, opaque, tuple(refs), build.gates, build.calls, build.passes)
        rates: Build | None = None
        if build.sensitive and init is not None:
            every = _param_positions(init)
            read = self._build(
                _Parts(node), frozenset(), every, _rate_attributes(init, every), node
            )
            if not read.sensitive and read.gates:
                extra = tuple(r for r in refs if r not in read.refs)
                rates = Build(
                    False, opaque, (*read.refs, *extra), read.gates, read.calls, read.passes
                )
        return ClassSummary(
            node.name,
            bases,
            build,
            evals_itself,
            init is not None,
            rates,
            tuple(sorted(zero)) if rates is not None else (),
        )

    def _build(
        self,
        parts: _Parts,
        shadowed: frozenset[str],
        zero: dict[str, int] | None = None,
        attrs: dict[str, str] | None = None,
        root: ast.AST | None = None,
    ) -> Build:
        """What a body calls, as ``ModeSensitivity._call_ok`` reads a same-file class. A
        dropout whose rate is one of ``zero`` (a parameter whose default is 0; ``attrs``:
        ``self.rate = rate`` in ``__init__``) acts only when a caller sets it: a gate, which
        the index checks against each construction."""
        zero = zero or {}
        attrs = attrs or {}
        gates: set[str] = set()
        guards = _RateGuards(root, zero, attrs)
        if parts.training:
            if root is None:
                return Build(sensitive=True)
            reads = _training_reads(root, attrs, zero, lambda f: self.qualify(f, shadowed), guards)
            if reads is None:
                return Build(sensitive=True)
            gates |= reads
        sensitive = opaque = False
        refs: list[str] = []
        calls: list[tuple[str, tuple[tuple[str, str], ...]]] = []
        for node in parts.calls:
            func = node.func
            qualified = self.qualify(func, shadowed)
            if qualified is None:
                if _is_super_init(func):
                    slots = _gate_slots(node, zero, attrs)
                    if slots:
                        calls.append(("super", slots))
                    continue
                if isinstance(func, ast.Name) and func.id not in _BUILTINS:
                    opaque = True  # a parameter or a local: cannot be followed
                continue  # a method of an object built here (`self.fc(x)`)
            if qualified.startswith("torch.nn.functional."):
                if "dropout" in qualified:
                    gate = _functional_rate(node, zero, attrs)
                    if gate is None:
                        gate = guards.verdict(node, _functional_p(node))
                    if gate is None:
                        return Build(sensitive=True)
                    if gate:
                        gates.add(gate)
            elif qualified.startswith("torch.nn."):
                last = qualified.rsplit(".", 1)[-1]
                if last[:1].isupper() and _layer_sensitive(last, node):
                    gate = _rate_from(last, node, zero)
                    if gate is None and ("Dropout" in last or last in RECURRENT_DROPOUT_POSITION):
                        rate = _layer_rate(node) if "Dropout" in last else _keyword(node, "dropout")
                        gate = guards.verdict(node, rate)
                    if gate is None:
                        return Build(sensitive=True)
                    if gate:
                        gates.add(gate)
            elif qualified.startswith("torch."):
                continue
            else:
                if qualified not in refs:
                    refs.append(qualified)
                slots = _gate_slots(node, zero, attrs)
                if slots:
                    calls.append((qualified, slots))
        positions = {**guards.positions, **zero}
        return Build(
            sensitive,
            opaque,
            tuple(refs),
            tuple(sorted((g, positions[g]) for g in gates if g in positions)),
            tuple(calls),
            tuple(
                sorted(
                    {
                        (value[2:], zero[value[2:]])
                        for _, slots in calls
                        for _, value in slots
                        if value.startswith("p:") and value[2:] in zero
                    }
                )
            ),
        )

    # -- call sites with evaluated arguments ----------------------------------------------

    def _call_sites(self) -> list[CallSite]:
        """Calls passing evaluated arguments: the module's own code, and functions other
        than the top-level ones (``_function`` followed those)."""
        found = self.sites
        bodies: list[tuple[list[ast.stmt], frozenset[str]]] = [(self.tree.body, frozenset())]
        top = {id(node) for node in self.defs.values()}
        for node in _definitions(self.tree.body):
            if id(node) in top:
                continue
            region = b"\n".join(self.lines[node.lineno - 1 : node.end_lineno])
            if _MODE_CALL.search(region):  # switches a mode: may pass an evaluated model
                bodies.append((node.body, _locals(node)))
        for body, shadowed in bodies:
            _ModeTracker(self, shadowed, found).run(body)
        return found


def _definitions(body: list[ast.stmt]):
    """Every function defined in ``body`` (methods and nested ones too), by statements only."""
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if type(inner) is list:
                stack.extend(inner)


def _last(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _locals(function: ast.FunctionDef | ast.AsyncFunctionDef) -> frozenset[str]:
    """Names a function binds itself (parameters, assignments): they shadow top-level ones."""
    args = function.args
    names = {
        a.arg
        for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
        if a is not None
    }
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".", 1)[0] for a in node.names)
    return frozenset(names)


def _own_nodes(function: ast.AST):
    """The nodes of a function's body, not of the functions and classes nested in it."""
    stack = list(getattr(function, "body", []))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _zero_positions(
    function: ast.FunctionDef | ast.AsyncFunctionDef | None, offset: int
) -> dict[str, int]:
    """Parameters whose default is ``0``, ``0.0``, ``None`` or ``False``, with the position a
    call passes them at (its first argument is 1: ``offset`` 0 for a method, whose ``self``
    is position 0, 1 for a function); -1 for keyword-only ones."""
    if function is None:
        return {}
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    found: dict[str, int] = {}
    first = len(positional) - len(args.defaults)
    for index, (arg, default) in enumerate(zip(positional[first:], args.defaults, strict=True)):
        if _literal_false(default):
            found[arg.arg] = first + index + offset
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if default is not None and _literal_false(default):
            found[arg.arg] = -1
    return found


def _param_positions(function: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, int]:
    """Every named parameter of a method but ``self``, with its call position (the first
    argument is 1; -1 keyword-only), whatever its default."""
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    found = {arg.arg: index for index, arg in enumerate(positional) if index}
    found.update({arg.arg: -1 for arg in args.kwonlyargs})
    return found


def _rate_attributes(
    init: ast.FunctionDef | ast.AsyncFunctionDef | None, zero: dict[str, int]
) -> dict[str, str]:
    """``self.rate = rate`` (or ``float(rate)``) in ``__init__`` for a parameter of ``zero``:
    the attribute a ``F.dropout(x, p=self.rate, ...)`` or a ``self.rate > 0`` test reads."""
    found: dict[str, str] = {}
    if init is None or not zero:
        return found
    for node in ast.walk(init):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in ("float", "int", "bool")
            and len(value.args) == 1
        ):
            value = value.args[0]
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and isinstance(value, ast.Name)
            and value.id in zero
        ):
            found[target.attr] = value.id
    return found


def _rate_name(value: ast.expr | None, zero: dict[str, int], attrs: dict[str, str]) -> str | None:
    """The gate parameter a rate expression is: ``rate`` or ``self.rate``."""
    if isinstance(value, ast.Name) and value.id in zero:
        return value.id
    return _self_gate(value, attrs)


def _self_gate(node: ast.expr | None, attrs: dict[str, str]) -> str | None:
    """The gate parameter behind ``self.<attr>``, where ``__init__`` stored one there."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and node.attr in attrs
    ):
        return attrs[node.attr]
    return None


def _functional_rate(call: ast.Call, zero: dict[str, int], attrs: dict[str, str]) -> str | None:
    """A functional dropout: "" when it does not follow the mode (a literal 0 rate, no
    ``training=self.training``), the gate parameter it takes its rate from, None when it
    follows the mode (its default rate is 0.5)."""
    training = _functional_training(call)
    if not (isinstance(training, ast.Attribute) and training.attr == "training"):
        return ""  # `training=True` or left out: it drops in both modes (TL-functional rule)
    value = _keyword(call, "p")
    if value is None and len(call.args) > 1 and not isinstance(call.args[1], ast.Starred):
        value = call.args[1]
    if value is not None and _literal_false(value):
        return ""
    return _rate_name(value, zero, attrs)


def _functional_training(call: ast.Call) -> ast.expr | None:
    """The ``training`` argument of ``F.dropout(input, p, training)``."""
    return _argument(call, "training", 2)


def _gate_slots(
    call: ast.Call, zero: dict[str, int], attrs: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    """What ``call`` passes that may open a callee's gate: a non-zero number ("1") or one
    of its own gate parameters ("p:NAME"); nothing after a ``*args``."""
    slots: list[tuple[str, str]] = []

    def kind(value: ast.expr) -> str | None:
        if isinstance(value, ast.Constant) and type(value.value) in (int, float, bool):
            return None if _literal_false(value) else "1"
        name = _rate_name(value, zero, attrs)
        return None if name is None else "p:" + name

    for position, arg in enumerate(call.args, start=1):
        if isinstance(arg, ast.Starred):
            break
        found = kind(arg)
        if found is not None:
            slots.append((f"#{position}", found))
    for keyword in call.keywords:
        if keyword.arg is not None:
            found = kind(keyword.value)
            if found is not None:
                slots.append((keyword.arg, found))
    return tuple(slots)


def _is_super_init(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def _gate_test(node: ast.expr, attrs: dict[str, str]) -> str | None:
    """``self.rate`` / ``self.rate > 0`` / ``self.rate != 0``: the gate it tests."""
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = node.left, node.comparators[0]
        if isinstance(right, ast.Constant) and isinstance(node.ops[0], (ast.Gt, ast.NotEq)):
            node = left
        elif isinstance(left, ast.Constant) and isinstance(node.ops[0], (ast.Lt, ast.NotEq)):
            node = right
        else:
            return None
    return _self_gate(node, attrs)


def _training_reads(
    root: ast.AST,
    attrs: dict[str, str],
    zero: dict[str, int],
    qualify: Callable[[ast.expr], str | None],
    guards: _RateGuards | None = None,
) -> set[str] | None:
    """The gates of a body's ``.training`` reads, or None when one surely acts on the mode.
    Not a read that acts: one in an ``assert``, a store, the ``training=self.training`` of a
    functional dropout (its rate decides, see ``_functional_rate``); gated: one ``and``-ed
    with a test of a rate that defaults to 0 (``self.training and self.noise_tau > 0``)."""
    excused: set[int] = set()
    gates: set[str] = set()
    if isinstance(root, ast.ClassDef) and is_noise_layer(root):
        return gates  # NoisyNet: the mode only switches noise the algorithm resamples
    for node in ast.walk(root):
        if isinstance(node, ast.Assert):
            excused.update(id(n) for n in ast.walk(node.test))
        elif isinstance(node, ast.Call):
            qualified = qualify(node.func) or ""
            if qualified.startswith("torch.nn.functional.") and "dropout" in qualified:
                training = _functional_training(node)
                if training is not None:
                    excused.add(id(training))
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            tested = [g for g in (_gate_test(v, attrs) for v in node.values) if g]
            if tested:
                for value in node.values:
                    if isinstance(value, ast.Attribute) and value.attr == "training":
                        excused.add(id(value))
                        gates.update(tested)
    for node in ast.walk(root):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "training"
            and isinstance(node.ctx, ast.Load)
            and id(node) not in excused
        ):
            gate = guards.verdict(node, None) if guards is not None else None
            if gate is None:
                return None
            if gate:
                gates.add(gate)
    return gates


def _functional_p(call: ast.Call) -> ast.expr | None:
    """The rate a functional dropout passes (``p=`` or its second argument)."""
    return _argument(call, "p", 1)


def _layer_rate(call: ast.Call) -> ast.expr | None:
    """The rate a ``nn.Dropout*(...)`` construction passes (``p=`` or its first argument)."""
    return _argument(call, "p", 0)


def _test_subjects(test: ast.expr) -> list[ast.expr]:
    """What a test of a rate tests: ``X`` in ``X``, ``X > 0``, ``X != 0``, ``0 < X``, and
    in each operand of an ``and``."""
    if isinstance(test, ast.BoolOp):
        if isinstance(test.op, ast.And):
            return [s for value in test.values for s in _test_subjects(value)]
        return []
    if isinstance(test, ast.Compare):
        if len(test.ops) != 1:
            return []
        operator, right = test.ops[0], test.comparators[0]
        if _literal_number_zero(right) and isinstance(operator, (ast.Gt, ast.NotEq)):
            return [test.left]
        if _literal_number_zero(test.left) and isinstance(operator, (ast.Lt, ast.NotEq)):
            return [right]
        return []
    if isinstance(test, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
        return [test]
    return []


def _literal_number_zero(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 0


def _subject_word(expr: ast.expr) -> str | None:
    """The word a tested value is named by: ``dropout`` for ``args.dropout``,
    ``cfg["dropout"]``, ``cfg.get("dropout", 0)``."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Subscript):
        index = expr.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, str):
            return index.value
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
        and expr.args
        and isinstance(expr.args[0], ast.Constant)
        and isinstance(expr.args[0].value, str)
    ):
        return expr.args[0].value
    return None


class _RateGuards:
    """The rate tests a class's dropout (or ``self.training`` read) sits under, read as
    ``analysis/mode_sensitivity.py``'s ``_RateGuards`` reads them: a rate it cannot read
    (``if args.dropout > 0:``) proves nothing; an ``__init__`` parameter's test is a gate
    (its constructions decide; ``positions`` holds those with no default); a readable
    non-zero rate still counts."""

    def __init__(self, root: ast.AST | None, zero: dict[str, int], attrs: dict[str, str]):
        self.root = root
        self.zero = zero
        self.attrs = attrs
        # read on first need (most bodies have no dropout to judge)
        self.params: dict[str, int] = {}
        self.positions: dict[str, int] = {}
        self.param_attrs: dict[str, str] = {}
        self._under: dict[int, list[ast.expr]] | None = None
        # `self.drop = nn.Dropout(...)`: the value's attribute, and where each is read
        self._held: dict[int, str] = {}
        self._uses: dict[str, list[ast.Attribute]] = {}
        # `self.dropout = 0.1` in `__init__`: a readable rate
        self._numbers: dict[str, ast.Constant] = {}

    def _guarded(self) -> dict[int, list[ast.expr]]:
        if self._under is not None:
            return self._under
        self._under = under = {}
        if self.root is None:
            return under
        init = None
        if isinstance(self.root, ast.ClassDef):
            init = next(
                (
                    statement
                    for statement in self.root.body
                    if isinstance(statement, ast.FunctionDef) and statement.name == "__init__"
                ),
                None,
            )
        if init is not None:
            self.params = _param_positions(init)
            args = init.args
            positional = [*args.posonlyargs, *args.args]
            required = positional[1 : len(positional) - len(args.defaults)]
            required += [
                a for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None
            ]
            self.positions = {a.arg: self.params[a.arg] for a in required if a.arg in self.params}
            self.param_attrs = _rate_attributes(init, self.params)
            for node in ast.walk(init):
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and _is_self_attribute(node.targets[0])
                    and isinstance(node.value, ast.Constant)
                    and type(node.value.value) in (int, float)
                ):
                    self._numbers[node.targets[0].attr] = node.value  # type: ignore[attr-defined]
        for node in ast.walk(self.root):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if _is_self_attribute(target):
                    self._held[id(node.value)] = target.attr  # type: ignore[attr-defined]
            elif _is_self_attribute(node) and isinstance(node.ctx, ast.Load):  # type: ignore[attr-defined]
                self._uses.setdefault(node.attr, []).append(node)  # type: ignore[attr-defined]
            if isinstance(node, (ast.If, ast.IfExp)):
                subjects = _test_subjects(node.test)
                if subjects:
                    inside = node.body if isinstance(node.body, list) else [node.body]
                    for statement in inside:
                        for inner in ast.walk(statement):
                            under.setdefault(id(inner), []).extend(subjects)
            elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
                subjects = _test_subjects(node)
                if subjects:
                    for value in node.values:
                        for inner in ast.walk(value):
                            under.setdefault(id(inner), []).extend(subjects)
        return under

    def verdict(self, node: ast.AST, rate: ast.expr | None) -> str | None:
        """ "" when a rate test it cannot read guards ``node`` (proves nothing), a gate
        parameter when an ``__init__`` parameter's test does, None when it counts."""
        if self.root is None:
            return None
        if (
            isinstance(rate, ast.Constant)
            and type(rate.value) in (int, float, bool)
            and not _literal_false(rate)
        ):
            return None
        guarded = self._guarded()
        subjects = guarded.get(id(node))
        if subjects:
            return self._judge(subjects, rate)
        name = self._held.get(id(node))
        uses = self._uses.get(name, []) if name is not None else []
        if uses and all(self._judge(guarded.get(id(use), []), rate) == "" for use in uses):
            return ""  # `if self.args.dropout > 0: x = self.drop(x)`: acts only there
        return None

    def _judge(self, subjects: list[ast.expr], rate: ast.expr | None) -> str | None:
        return judge_rate_tests(subjects, rate, ast.dump, _subject_word, self._kind)

    def _kind(self, subject: ast.expr) -> str | None:
        if _is_self_attribute(subject) and subject.attr in self._numbers:  # type: ignore[attr-defined]
            subject = self._numbers[subject.attr]  # type: ignore[attr-defined]
        if isinstance(subject, ast.Constant):
            return "" if _literal_false(subject) else None
        name: str | None = None
        if isinstance(subject, ast.Name):
            name = subject.id
        elif _self_gate(subject, self.attrs) is not None:
            name = _self_gate(subject, self.attrs)
        elif _self_gate(subject, self.param_attrs) is not None:
            name = _self_gate(subject, self.param_attrs)
        if name is None or name not in self.params:
            return ""  # `args.dropout`, `cfg["dropout"]`, a local: not readable here
        if name in self.zero or name in self.positions:
            return name
        return None


def _is_self_attribute(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _rate_from(last: str, call: ast.Call, zero: dict[str, int]) -> str | None:
    """The parameter of ``zero`` a dropout layer (or a recurrent layer's ``dropout=``)
    takes its rate from: it acts only when a caller sets it. None: it acts."""
    if not zero:
        return None
    if "Dropout" in last:
        value = _layer_rate(call)
    elif last in RECURRENT_DROPOUT_POSITION:
        value = _keyword(call, "dropout")
    else:
        return None
    return value.id if isinstance(value, ast.Name) and value.id in zero else None


def _layer_sensitive(last: str, call: ast.Call) -> bool:
    """A ``torch.nn.<last>(...)`` construction behaves differently in train and eval."""
    if last in NN_CONTAINERS:
        return False
    if last in RECURRENT_DROPOUT_POSITION:
        starred = any(isinstance(a, ast.Starred) for a in call.args) or any(
            k.arg is None for k in call.keywords
        )
        if starred or len(call.args) > RECURRENT_DROPOUT_POSITION[last]:
            return True
        value = _keyword(call, "dropout")
        return value is not None and not _literal_false(value)
    if last.startswith(("InstanceNorm", "LazyInstanceNorm")):
        return False  # its statistics at test time are the author's call (mode_sensitivity)
    return last in _SENSITIVE_LAYERS


class _ModeTracker:
    """Follows ``x.eval()`` / ``x.train(...)`` through a body in source order: the mode each
    dotted name is left in, and (with ``sites``) the calls that pass evaluated arguments."""

    def __init__(
        self,
        owner: _Summarizer,
        shadowed: frozenset[str] = frozenset(),
        sites: list[CallSite] | None = None,
        returns: list[frozenset[int]] | None = None,
    ) -> None:
        self.owner = owner
        self.shadowed = shadowed
        self.sites = sites
        self.returns = returns  # per `return`: what it gives back in eval mode
        self.modes: dict[str, str] = {}

    def returned_eval(self) -> tuple[int, ...]:
        """What every ``return`` gives back in eval mode (see FunctionSummary)."""
        if not self.returns:
            return ()
        return tuple(sorted(frozenset.intersection(*self.returns)))

    def run(self, body: list[ast.stmt]) -> dict[str, str]:
        for statement in body:
            self._visit(statement)
        return self.modes

    def _visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return  # runs later, if ever
        if isinstance(node, ast.Assign):
            self._visit(node.value)
            mode = self._mode_of_value(node.value)
            for target in node.targets:
                name = _dotted(target)
                if name is not None:
                    self._forget(name)
                    if mode is not None:
                        self.modes[name] = mode
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child)
        if isinstance(node, ast.Call):
            self._call(node)
        elif isinstance(node, ast.Return) and self.returns is not None:
            self.returns.append(self._returned(node.value))

    def _returned(self, value: ast.expr | None) -> frozenset[int]:
        if value is None:
            return frozenset()
        items = value.elts if isinstance(value, ast.Tuple) else None
        if items is None:
            return frozenset({-1}) if self._value_evaluated(value) else frozenset()
        return frozenset(i for i, item in enumerate(items) if self._value_evaluated(item))

    def _value_evaluated(self, value: ast.expr) -> bool:
        if self._mode_of_value(value) == "eval":
            return True
        name = _dotted(value)
        return name is not None and self._evaluated(name)

    def _forget(self, name: str) -> None:
        for known in [k for k in self.modes if k == name or k.startswith(name + ".")]:
            del self.modes[known]

    def _mode_of_value(self, value: ast.expr) -> str | None:
        """``Net().eval()``: the object assigned is in eval mode."""
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and value.func.attr == "eval"
            and not value.args
        ):
            return "eval"
        return None

    def _evaluated(self, name: str) -> bool:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            mode = self.modes.get(".".join(parts[:end]))
            if mode is not None:
                return mode == "eval"
        return False

    def _call(self, call: ast.Call) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in ("eval", "train"):
            receiver = _dotted(func.value)
            if receiver is None:
                return
            if func.attr == "eval" and not call.args:
                self._forget(receiver)
                self.modes[receiver] = "eval"
            elif func.attr == "train":
                flag = call.args[0] if len(call.args) == 1 and not call.keywords else None
                self._forget(receiver)
                if not call.args and not call.keywords:
                    self.modes[receiver] = "train"
                elif isinstance(flag, ast.Constant) and flag.value in (True, False):
                    self.modes[receiver] = "train" if flag.value else "eval"
            return
        if self.sites is None or not self.modes:
            return
        callee = self.owner.qualify(func, self.shadowed)
        if callee is None or callee.startswith("torch."):
            return
        evaluated: list[str] = []
        for index, arg in enumerate(call.args):
            if isinstance(arg, ast.Starred):
                break  # later positions are unknown
            name = _dotted(arg)
            if name is not None and self._evaluated(name):
                evaluated.append(str(index))
        evaluated += [
            keyword.arg
            for keyword in call.keywords
            if keyword.arg is not None
            and (name := _dotted(keyword.value)) is not None
            and self._evaluated(name)
        ]
        if evaluated:
            self.sites.append(CallSite(callee, tuple(evaluated)))


# --- checkpoint formats: what the dicts a file saves with torch.save hold (TL701) ---------------

# Calls whose result `weights_only=True` loads (analysis/checkpoints.py keeps the same list).
PLAIN_CALLS = frozenset(
    {
        "state_dict", "cpu", "cuda", "detach", "clone", "item", "tolist", "float", "int",
        "str", "bool", "dict", "list", "tuple", "vars", "len", "to", "half", "round", "min",
        "max", "sum", "abs", "OrderedDict", "get_rng_state", "get_rng_state_all",
        "to_yaml", "to_container", "dumps", "asdict", "keys", "values", "items", "getstate",
        "tensor", "zeros", "ones", "stack", "cat", "contiguous", "numel", "time", "now",
        "isoformat", "strftime", "join", "format", "sorted", "get",
    }
)  # fmt: skip
# Names that hold the parsed command line or a hyperparameter object.
NAMESPACES = frozenset({"args", "opt", "opts", "hparams", "flags", "FLAGS", "hyperparams"})
CONFIG_SUFFIXES = ("cfg", "config", "conf")
COPIES = frozenset({"deepcopy", "copy"})


def checkpoint_formats(source: str | bytes) -> tuple[frozenset[str], ...]:
    """The key sets of the dicts a file saves with ``torch.save`` that hold an object
    ``weights_only=True`` refuses (``{"model": ..., "args": args}``); see
    ``analysis.checkpoints.refused_formats``, the one-file view of the same fact."""
    text = source if isinstance(source, bytes) else source.encode("utf-8", "surrogateescape")
    if b"torch.save" not in text:
        return ()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    omegaconf = b"omegaconf" in text
    found: list[frozenset[str]] = []
    functions: list[ast.AST] = [tree]
    functions.extend(
        n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    )
    for function in functions:
        assigned: dict[str, list[ast.expr]] = {}
        saves: list[ast.Call] = []
        for node in _own_nodes(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(
                node.target, ast.Name
            ):
                assigned.setdefault(node.target.id, []).append(node.value or ast.Constant(None))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "save"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
                and node.args
            ):
                saves.append(node)
        for save in saves:
            payload = save.args[0]
            values = [payload]
            if isinstance(payload, ast.Name):
                values = assigned.get(payload.id, [])
            entries = [_ast_dict(value) for value in values]
            if not entries or any(entry is None for entry in entries):
                continue
            for entry in entries:
                if entry and any(_ast_refused(v, omegaconf) for v in entry.values()):
                    found.append(frozenset(entry))
    return tuple(found)


def _own_nodes(function: ast.AST):
    """The nodes of ``function``'s own body (nested functions and classes aside)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _ast_dict(value: ast.expr) -> dict[str, ast.expr] | None:
    if isinstance(value, ast.Dict):
        entries = {}
        for key, item in zip(value.keys, value.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return None
            entries[key.value] = item
        return entries
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        if value.args or any(k.arg is None for k in value.keywords):
            return None
        return {k.arg: k.value for k in value.keywords if k.arg is not None}
    return None


def _ast_last_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _ast_refused(value: ast.expr, omegaconf: bool) -> bool:
    if isinstance(value, ast.IfExp):
        return _ast_refused(value.body, omegaconf) or _ast_refused(value.orelse, omegaconf)
    if isinstance(value, (ast.Name, ast.Attribute)):
        if (
            isinstance(value, ast.Attribute)
            and value.attr == "__version__"
            and isinstance(value.value, ast.Name)
            and value.value.id == "torch"
        ):
            return True
        name = _ast_last_name(value)
        return name is not None and (
            name in NAMESPACES or (omegaconf and name.lower().endswith(CONFIG_SUFFIXES))
        )
    if isinstance(value, ast.Call):
        name = _ast_last_name(value.func)
        if name in COPIES and value.args:
            return _ast_refused(value.args[0], omegaconf)
        return name is None or not (name in PLAIN_CALLS or "state_dict" in name)
    return False
