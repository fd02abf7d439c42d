"""Function- and loop-level facts for the training-loop rules (TL3xx).

``build_flow`` indexes a module (through ``context.fact("flow", build_flow)``, so only
files that a TL3 rule cares about pay for it); after the engine's walk it reads what that
walk recorded (``WalkRecord``) rather than walking the file a second time. It indexes:

- every function (methods by ``self.name``, nested functions by name, the module body as a
  pseudo-function ``<module>``) and the same-file call graph between them;
- "model-like", "optimizer-like" and scheduler names (RULES.md, TL3 preamble), per owner:
  a function's locals, a class's ``self.`` attributes, the module's globals;
- per function, the ordered *events* the rules reason about: ``m.eval()`` / ``m.train()``,
  model calls, ``zero_grad()``, ``p.grad = None``, ``.backward()``, ``opt.step()``,
  ``sched.step()``, ``torch.autograd.grad``; each with the loops around it, whether autograd
  is switched off there (``no_grad`` / ``inference_mode`` / ``evaluating``) and the
  ``if step % k == 0`` guards above it;
- the ``with`` blocks and decorators that switch autograd off.

``Flow.expanded(f)`` adds the events of the same-file functions ``f`` calls (bounded depth,
recursion-safe), renamed into ``f``'s names: a helper's ``net.eval()`` becomes
``model.eval()`` at the call ``evaluate(model)``. Everything errs towards "not sure": a name
that cannot be mapped becomes ``*`` (unknown), and each rule decides which way unknown counts.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import libcst as cst

from torchlint.names import (
    _FIELDS_BY_TYPE,
    _IS_NODE,
    Scope,
    child_fields,
    dotted_name,
    is_node_type,
    iter_children,
)
from torchlint.vocabulary import (
    ENABLE_GRAD,
    GRAD_OFF,
    LIGHTNING_BASES,
    MODULE_BASES,
    SET_GRAD_ENABLED,
)

if TYPE_CHECKING:
    from torchlint.context import FileContext
    from torchlint.project.index import ProjectView

MAX_DEPTH = 3
"""How many same-file calls deep events are followed (and callers are searched)."""
MAX_EVENTS = 1000
"""An expansion larger than this is cut short; the rules then say nothing about the function
(a missing ``train()`` or ``zero_grad()`` must not turn into a report)."""
UNKNOWN = "*"

EVALUATING = frozenset({"torchlint.runtime.evaluating", "torchlint.runtime.modes.evaluating"})
AUTOGRAD_PREFIXES = (
    "torch.autograd.grad",
    "torch.autograd.backward",
    "torch.autograd.functional.",
    "torch.func.",
)
# Last names of the functions above that need gradients (a cheap test before resolving).
_GRADIENT_FUNCTIONS = frozenset(
    {
        "grad",
        "backward",
        "jacobian",
        "hessian",
        "vjp",
        "jvp",
        "hvp",
        "vhp",
        "jacrev",
        "jacfwd",
        "grad_and_value",
        "set_grad_enabled",
    }
)

# torch.nn constructors whose result behaves differently in train and eval mode (or holds
# modules that may): the ones that make a name "model-like". A `nn.Linear` or a loss module
# called under no_grad without eval() is harmless, so they do not count.
MODE_SENSITIVE_NN = frozenset(
    {
        "Module",
        "Sequential",
        "ModuleList",
        "ModuleDict",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "LazyBatchNorm1d",
        "LazyBatchNorm2d",
        "LazyBatchNorm3d",
        "SyncBatchNorm",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "RNN",
        "LSTM",
        "GRU",
        "Transformer",
        "TransformerEncoder",
        "TransformerDecoder",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "MultiheadAttention",
        "DataParallel",
        "DistributedDataParallel",
    }
)
MODEL_FACTORIES = frozenset(
    {
        "torch.compile",
        "torch.hub.load",
        "torch.optim.swa_utils.AveragedModel",
        "timm.create_model",
    }
)
# Traced, scripted or loaded TorchScript: the mode was fixed when it was traced or saved (a
# traced plain function has no mode at all), so these are not models that train.
TRACED = frozenset(
    {
        "torch.jit.script",
        "torch.jit.trace",
        "torch.jit.trace_module",
        "torch.jit.load",
        "torch.jit.freeze",
        "torch.jit.optimize_for_inference",
    }
)
# Methods the training framework calls in eval mode under no_grad (Lightning's hooks).
FRAMEWORK_EVAL_HOOKS = frozenset({"validation_step", "test_step", "predict_step"})
FRAMEWORK_EVAL_PREFIXES = (
    "validation",
    "test",
    "predict",
    "on_validation",
    "on_test",
    "on_predict",
)
# Methods that make their receiver model-like (RULES.md), and module methods that return self.
MODEL_RECEIVER_METHODS = frozenset({"parameters", "state_dict", "load_state_dict", "eval", "train"})
# Methods only modules (or, for zero_grad, optimizers) have: a data loader or a metric has
# `state_dict()` too, but no `parameters()`.
MODULE_ONLY_METHODS = frozenset(
    {"parameters", "named_parameters", "modules", "buffers", "eval", "train", "zero_grad"}
)
SELF_RETURNING = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "train", "eval", "requires_grad_"}
)
_SPECIAL_METHODS = frozenset(
    {"eval", "train", "zero_grad", "backward", "step", "requires_grad_", "zero_"}
)


# --- name classification by spelling -------------------------------------------------------


# `accelerator.unwrap_model(...)`, `get_model(...)`: functions that return a model, not one.
_VERB_PREFIXES = (
    "unwrap_",
    "get_",
    "load_",
    "build_",
    "create_",
    "make_",
    "init_",
    "setup_",
    "prepare_",
    "save_",
    "wrap_",
    "freeze_",
    "copy_",
    "export_",
    "convert_",
)


def model_named(name: str) -> bool:
    """``model``, ``self.net``, ``teacher_model``, ``G_net``: RULES.md's model-like names
    (not ``unwrap_model`` and other verbs that return one)."""
    last = name.rsplit(".", 1)[-1]
    if last.startswith(_VERB_PREFIXES):
        return False
    return last in ("model", "net", "network") or last.endswith(("_model", "_net"))


_EVALUATION_PREFIXES = ("eval", "valid", "test", "predict", "infer")


def evaluation_named(name: str) -> bool:
    """``evaluate``, ``validate``, ``test_epoch``, ``predict``, ``run_inference``: a function
    named for evaluation, which owns the mode of the model it evaluates."""
    name = name.lstrip("_").lower()
    return name.startswith(_EVALUATION_PREFIXES) or any(
        word in name for word in ("_eval", "evaluat", "validat", "_test", "_predict", "_infer")
    )


def optimizer_named(name: str) -> bool:
    """``optimizer``, ``self.opt``, ``g_optimizer`` (RULES.md), and the GAN spellings
    ``optimizerD``, ``optimizer_G``, ``opt_d``."""
    last = name.rsplit(".", 1)[-1]
    return (
        last in ("optimizer", "optim", "opt")
        or last.endswith(("_optimizer", "_opt"))
        or last.startswith(("optimizer", "opt_"))
    )


def covers(switched: str, name: str) -> bool:
    """A mode switch of ``switched`` reaches ``name`` (itself, a submodule, or unknown)."""
    if switched in (UNKNOWN, name) or name == UNKNOWN:
        return True
    return name.startswith(switched + ".")


def _has_modulo(expr: cst.CSTNode) -> bool:
    # Exact types: ``isinstance`` on libcst's classes goes through ABCMeta.
    stack = [expr]
    while stack:
        node = stack.pop()
        node_type = type(node)
        if node_type is cst.BinaryOperation and type(node.operator) is cst.Modulo:
            return True
        if node_type is cst.Name and "accum" in node.value.lower():
            return True
        if node_type is cst.Attribute and "accum" in node.attr.value.lower():
            return True
        stack.extend(iter_children(node))
    return False


def _literal_bool(expr: cst.BaseExpression) -> bool | None:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


_SUBMODULE_ITERATORS = frozenset({"modules", "children", "named_modules", "named_children"})


def _dropout_owner(receiver: str, loops: tuple[Loop, ...]) -> str | None:
    """``m.train()`` in ``for m in model.modules(): if isinstance(m, nn.Dropout): ...``:
    the model whose dropout layers the loop puts in train mode on purpose (Monte Carlo
    dropout); None where the loop does not iterate a model's submodules or never names a
    dropout (a plain loop over all of them is just ``model.train()``)."""
    for loop in reversed(loops):
        node = loop.node
        if receiver not in loop.targets or not isinstance(node, cst.For):
            continue
        call = node.iter
        if not (
            isinstance(call, cst.Call)
            and isinstance(call.func, cst.Attribute)
            and call.func.attr.value in _SUBMODULE_ITERATORS
        ):
            return None
        owner = dotted_name(call.func.value)
        if owner is None or "dropout" not in cst.Module([]).code_for_node(node.body).lower():
            return None
        return owner
    return None


def positional_args(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


# --- the index ---------------------------------------------------------------------------


@dataclass(eq=False)
class Loop:
    node: cst.For | cst.While
    start: int
    end: int
    parent: Loop | None
    function: FunctionInfo
    targets: frozenset[str] = frozenset()  # names bound by a `for` target

    def chain(self) -> list[Loop]:
        """This loop and the loops around it in the same function, innermost first."""
        loops: list[Loop] = []
        loop: Loop | None = self
        while loop is not None:
            loops.append(loop)
            loop = loop.parent
        return loops


@dataclass(eq=False, slots=True)  # not frozen: a frozen one costs a call per field to build
class Event:
    """Something a training-loop rule cares about, at a position of a function.

    kind: ``eval`` / ``train`` / ``mode`` (``train(flag)``, direction unknown),
    ``scoped_eval`` (``evaluating(m)``: eval for a block, then the previous mode), ``model``
    (a call of a model-like name), ``fcall`` (a call of a same-file function), ``zero_grad``,
    ``grad_reset`` (``p.grad = None``, ``p.grad.zero_()``), ``backward``, ``step`` (an
    optimizer step; ``closure`` when given one), ``sched_step``, ``autograd``
    (``torch.autograd.grad`` & co), ``grad_toggle`` (``torch.set_grad_enabled(...)`` as a
    statement), ``freeze`` (``m.requires_grad_(False)``), ``bind`` (``name = ...``: after
    it, the name may hold another object), ``dropout_train`` (``m.train()`` in a loop over
    ``model.modules()`` that picks dropout layers: ``model``'s dropout on purpose).
    """

    kind: str
    name: str
    node: cst.CSTNode
    index: int
    loops: tuple[Loop, ...]
    grad: str | None  # "off" under no_grad/inference_mode, "on" under enable_grad, else None
    guards: tuple[int, ...]  # start indices of the `if ... % ...` blocks around it
    branches: tuple[tuple[int, int], ...] = ()  # (if index, 0 body / 1 else) around it
    arg: str | None = None  # step: the dotted first positional argument (scaler.step(opt))
    closure: bool = False
    qualified: str | None = None  # sched_step: the scheduler's constructor
    site: Event | None = None  # for events of called functions: the call in this function
    callee: FunctionInfo | None = None  # fcall: the function called

    def guarded_in(self, loop: Loop) -> bool:
        return any(guard > loop.start for guard in self.guards)

    def exclusive(self, other: Event) -> bool:
        """The two sit in different branches of one ``if``: at most one of them runs."""
        mine = dict(self.branches)
        return any(mine.get(index, side) != side for index, side in other.branches)


@dataclass(eq=False)
class WithBlock:
    node: cst.With
    start: int
    end: int
    grad: str | None  # "off" / "on" / None
    off_items: tuple[cst.WithItem, ...]  # the no_grad()/inference_mode() items
    function: FunctionInfo

    def contains(self, index: int) -> bool:
        return self.start < index <= self.end


@dataclass(eq=False, slots=True)
class Rebind:
    """A parameter's name bound again in its function (``model = GCNInference(w)``, a
    ``for`` or ``with ... as`` target): after it, the name may hold another object.

    ``value`` is the assigned expression when it is the whole value of a plain assignment
    (else None: a tuple item, a loop target); ``derived``: the bound value reads the
    parameter itself (``model = model.to(device)``, ``model = DDP(model)``), so it is the
    parameter's object, a wrapper or a part of it."""

    name: str
    index: int
    branches: tuple[tuple[int, int], ...]
    value: cst.BaseExpression | None
    derived: bool

    def reaches(self, branches: tuple[tuple[int, int], ...]) -> bool:
        """It runs on every path to a later position in ``branches``: it is not in a
        branch of an ``if`` that the position is not in as well."""
        return all(b in branches for b in self.branches)


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    scope: Scope  # where the class statement is evaluated
    methods: dict[str, list[FunctionInfo]] = field(default_factory=dict)
    is_module: bool = False
    is_lightning: bool = False
    owns_layers: bool = False  # builds `self.x = nn.Something(...)`: a module of some kind

    @property
    def module_like(self) -> bool:
        """An nn.Module subclass, or a class that looks like one (a ``forward`` method, or
        layers of its own) though its base comes from another package."""
        return self.is_module or self.owns_layers or "forward" in self.methods


@dataclass(eq=False)
class FunctionInfo:
    node: cst.FunctionDef | cst.Module
    name: str
    scope: Scope
    parent: FunctionInfo | None
    cls: ClassInfo | None  # the class whose `self` this code sees (methods and their closures)
    is_method: bool = False
    params: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0
    grad: str | None = None  # from a decorator: "off" (no_grad / inference_mode / evaluating)
    grad_decorator: cst.Decorator | None = None
    nested: dict[str, FunctionInfo] = field(default_factory=dict)
    raw: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)
    withs: list[WithBlock] = field(default_factory=list)
    rebinds: list[Rebind] = field(default_factory=list)  # its parameters' rebindings

    @property
    def is_module(self) -> bool:
        return isinstance(self.node, cst.Module)

    def local(self, root: str) -> bool:
        return root in self.scope.bindings


Owner = tuple[str, int]


class Flow:
    """The per-file index. Build it with ``build_flow`` (through ``context.fact``)."""

    def __init__(self, module: cst.Module, module_scope: Scope) -> None:
        self.module = module
        self.module_info = FunctionInfo(module, "<module>", module_scope, None, None)
        self.functions: list[FunctionInfo] = [self.module_info]
        self.by_node: dict[int, FunctionInfo] = {id(module): self.module_info}
        self.classes: dict[str, list[ClassInfo]] = {}
        self.module_defs: dict[str, list[FunctionInfo]] = {}
        self.loop_by_node: dict[int, Loop] = {}
        self.with_by_node: dict[int, WithBlock] = {}
        self.evidence: dict[Owner, dict[str, set[str]]] = {}
        self.callers: dict[int, list[tuple[FunctionInfo, Event]]] = {}
        # `obj.method(...)` calls on a name (not `self`) that no same-file function
        # resolves, by method name: where a class's method may be called from outside it
        self.instance_calls: dict[str, list[tuple[FunctionInfo, Event]]] = {}
        self._expanded: dict[tuple[int, int], list[Event]] = {}
        self._top: dict[int, list[Event]] = {}
        self.truncated: set[int] = set()
        self._permanent: dict[tuple[Owner, str], bool] = {}
        self._mode_prefixes: dict[tuple[int, str], list[str | None]] = {}
        self._holders: dict[tuple[Owner, str], set[str]] | None = None
        self._raw_assign: list[tuple[FunctionInfo, str, cst.BaseExpression]] = []
        self._raw_receiver: list[tuple[FunctionInfo, str]] = []
        self._raw_module_receiver: list[tuple[FunctionInfo, str]] = []
        self._aliases: dict[tuple[int, str], list[cst.BaseExpression]] | None = None
        self.extras: dict[str, object] = {}  # facts built on top of this one, kept with it
        self._raw_annotation: list[tuple[FunctionInfo, str, cst.BaseExpression]] = []
        # (function, decorator, same-file name or None, qualified name or None)
        self._raw_decorated: list[tuple[FunctionInfo, cst.Decorator, str | None, str | None]] = []
        self.project: ProjectView | None = None  # the other files of the project (or None)

    def release(self) -> None:
        """Let go of everything: functions, loops and ``with`` blocks point at each other
        (and at the file's tree), a cycle only the garbage collector would otherwise free."""
        for function in self.functions:
            function.parent = function.cls = None
            for kept in (
                function.nested,
                function.raw,
                function.events,
                function.loops,
                function.withs,
                function.rebinds,
            ):
                kept.clear()
        for infos in self.classes.values():
            for info in infos:
                info.methods.clear()
        for kept in vars(self).values():
            if isinstance(kept, (dict, list, set)):
                kept.clear()
        self._aliases = None

    # -- owners and names --------------------------------------------------------------

    def owner(self, function: FunctionInfo, name: str) -> Owner:
        root = name.split(".", 1)[0]
        if root == "self" and function.cls is not None:
            return ("class", id(function.cls))
        f: FunctionInfo | None = function
        while f is not None and not f.is_module:
            if f.local(root):
                return ("function", id(f))
            f = f.parent
        return ("module", 0)

    def kinds(self, function: FunctionInfo, name: str) -> set[str]:
        return self.evidence.get(self.owner(function, name), {}).get(name, set())

    def is_optimizer(self, function: FunctionInfo, name: str | None) -> bool:
        if not name or name == UNKNOWN:
            return False
        kinds = self.kinds(function, name)
        if "model" in kinds or "other" in kinds or _has_scheduler(kinds):
            return False
        return "optimizer" in kinds or optimizer_named(name)

    def scheduler(self, function: FunctionInfo, name: str | None) -> str | None:
        """The QN of the lr_scheduler constructor ``name`` is assigned from, or None."""
        if not name or name == UNKNOWN:
            return None
        found = [
            k[len("scheduler:") :] for k in self.kinds(function, name) if k.startswith("scheduler:")
        ]
        return found[0] if len(found) == 1 else None

    def is_model(self, function: FunctionInfo, name: str | None) -> bool:
        """Model-like per RULES.md (bare ``self`` never counts: it is the module itself)."""
        if not name or name == UNKNOWN or name == "self":
            return False
        kinds = self.kinds(function, name)
        if "optimizer" in kinds or "other" in kinds or _has_scheduler(kinds):
            return False
        if optimizer_named(name):
            return False
        return bool(kinds & {"model", "receiver"}) or model_named(name)

    def aliases(self, function: FunctionInfo, name: str) -> list[str] | None:
        """What every assignment of local ``name`` in ``function`` copies (``model =
        self.unet``, ``current = self.a if first else self.b``), or None when one of them
        builds or computes something else."""
        if self._aliases is None:
            self._aliases = {}
            for owner, target, value in self._raw_assign:
                self._aliases.setdefault((id(owner), target), []).append(value)
        values = self._aliases.get((id(function), name))
        if not values:
            return None
        sources: list[str] = []
        for value in values:
            for branch in (value.body, value.orelse) if isinstance(value, cst.IfExp) else (value,):
                source = dotted_name(unwrap_self_returning(branch))
                if source is None:
                    return None
                sources.append(source)
        return sources

    def holds_tensors(self, function: FunctionInfo, name: str | None) -> bool:
        """A module or an optimizer by evidence other than ``state_dict()`` itself (which
        data loaders, samplers and metrics have too): built from one, a module-only method
        called on it, or named like one."""
        if not name or name == UNKNOWN or name == "self":
            return False
        kinds = self.kinds(function, name)
        if "other" in kinds or _has_scheduler(kinds):
            return False
        if kinds & {"model", "optimizer", "module"}:
            return True
        return model_named(name) or optimizer_named(name)

    # -- functions and calls -----------------------------------------------------------

    def function(self, node: cst.CSTNode) -> FunctionInfo | None:
        return self.by_node.get(id(node))

    def resolve_call(self, function: FunctionInfo, callee: str) -> FunctionInfo | None:
        """The same-file function a call of dotted ``callee`` runs, when that is certain."""
        parts = callee.split(".")
        if len(parts) == 2 and parts[0] == "self" and function.cls is not None:
            return self._method(function.cls, parts[1], set())
        if len(parts) != 1:
            return None
        f: FunctionInfo | None = function
        while f is not None and not f.is_module:
            if callee in f.nested:
                return f.nested[callee]
            if f.local(callee):
                return None
            f = f.parent
        defs = self.module_defs.get(callee)
        bindings = self.module_info.scope.bindings.get(callee, [])
        if defs and len(defs) == 1 and len(bindings) == 1:
            return defs[0]
        return None

    def _method(self, cls: ClassInfo, name: str, seen: set[int]) -> FunctionInfo | None:
        if id(cls) in seen:
            return None
        seen.add(id(cls))
        found = cls.methods.get(name)
        if found:
            return found[0] if len(found) == 1 else None
        for base in cls.node.bases:
            if isinstance(base.value, cst.Name):
                for other in self.classes.get(base.value.value, []):
                    method = self._method(other, name, seen)
                    if method is not None:
                        return method
        return None

    def is_local_class(self, name: str) -> bool:
        return name in self.classes

    # -- expansion through same-file calls ------------------------------------------------

    def expanded(self, function: FunctionInfo) -> list[Event]:
        """``function``'s events with those of the same-file functions it calls spliced in at
        the call (``MAX_DEPTH`` deep), renamed into ``function``'s names."""
        key = id(function)
        if key not in self._top:
            events = self._expand(function, MAX_DEPTH, frozenset({key}))[0]
            if len(events) > MAX_EVENTS:
                self.truncated.add(key)
                events = function.events
            self._top[key] = events
        return self._top[key]

    def is_truncated(self, function: FunctionInfo) -> bool:
        """Its expansion was too large to keep (see ``MAX_EVENTS``): rules skip it."""
        self.expanded(function)
        return id(function) in self.truncated

    def _expand(
        self, function: FunctionInfo, depth: int, stack: frozenset[int]
    ) -> tuple[list[Event], bool]:
        """The expansion, and whether recursion cut it short (then it depends on ``stack``
        and is not memoised; otherwise it is, so each function is expanded once per depth)."""
        key = (id(function), depth)
        if key in self._expanded:
            return self._expanded[key], False
        out: list[Event] = []
        cut = False
        for event in function.events:
            out.append(event)
            callee = event.callee
            if event.kind != "fcall" or callee is None or depth <= 0:
                continue
            if id(callee) in stack:
                cut = True
                continue
            if len(out) > MAX_EVENTS:
                break  # too large: expanded() drops it anyway
            inner_events, inner_cut = self._expand(callee, depth - 1, stack | {id(callee)})
            cut = cut or inner_cut
            names: dict[str, str] = {}  # callee spelling -> caller spelling, for this call
            guarded = (*event.guards, event.index)
            for inner in inner_events:
                if inner.kind in ("fcall", "bind"):
                    continue  # a callee's rebinding says nothing about the caller's names
                if inner.kind == "model" and self.rebound(
                    callee, inner.name, inner.index, inner.branches
                ):
                    name = UNKNOWN  # the callee called its own object, not the argument
                else:
                    name = names.get(inner.name)
                    if name is None:
                        name = names[inner.name] = self.map_name(inner.name, callee, event)
                arg = inner.arg
                if arg is not None:
                    arg = self.map_name(arg, callee, event)
                out.append(
                    Event(
                        inner.kind,
                        name,
                        inner.node,
                        event.index,
                        event.loops,
                        inner.grad if inner.grad is not None else event.grad,
                        guarded if inner.guards else event.guards,
                        event.branches + inner.branches if inner.branches else event.branches,
                        arg,
                        inner.closure,
                        inner.qualified,
                        event,
                        inner.callee,
                    )
                )
        if not cut:
            self._expanded[key] = out
        return out, cut

    def map_name(self, name: str, callee: FunctionInfo, site: Event) -> str:
        """``name`` as the callee spells it, as the caller at ``site`` spells it."""
        if name == UNKNOWN:
            return name
        call = site.node
        assert isinstance(call, cst.Call)
        root, _, rest = name.partition(".")
        suffix = "." + rest if rest else ""
        via_self = site.name.startswith("self.")
        if root == "self" and callee.is_method:
            return name if via_self else UNKNOWN
        if root in callee.params:
            value = _argument_for(callee, root, call, via_self)
            mapped = dotted_name(value) if value is not None else None
            return mapped + suffix if mapped else UNKNOWN
        if callee.local(root):
            return UNKNOWN
        return name  # a global: the same object in the caller

    def map_back(self, name: str, callee: FunctionInfo, site: Event) -> str | None:
        """Like ``map_name`` for a name found in the callee; None when the caller cannot see
        it at all (a local of the callee)."""
        root = name.split(".", 1)[0]
        if root != "self" and root not in callee.params and callee.local(root):
            return None
        return self.map_name(name, callee, site)

    def rebound(
        self,
        function: FunctionInfo,
        name: str,
        index: int,
        branches: tuple[tuple[int, int], ...] = (),
    ) -> list[Rebind] | None:
        """When ``name``'s root is a parameter of ``function`` bound again to another object
        on every path before position ``index`` (``model = GCNInference(weights)``), the
        bindings the name may hold there (the last such one, and those after it); None
        where the name still holds the parameter's own value (or one made from it)."""
        root = name.split(".", 1)[0]
        if not function.rebinds or root not in function.params:
            return None
        found: list[Rebind] | None = None
        for rebind in function.rebinds:
            if rebind.name != root or rebind.index >= index:
                continue
            if found is None:
                if rebind.derived or not rebind.reaches(branches):
                    continue
                found = [rebind]
            elif not rebind.derived and rebind.reaches(branches):
                found = [rebind]  # a later binding on every path replaces the earlier ones
            else:
                found.append(rebind)
        return found

    def callers_of(self, function: FunctionInfo) -> list[tuple[FunctionInfo, Event]]:
        return self.callers.get(id(function), [])

    # -- modes ----------------------------------------------------------------------------

    def _modes(self, function: FunctionInfo, name: str) -> list[str | None]:
        """``name``'s mode after each prefix of ``expanded(function)`` (entry ``i``: after the
        first ``i`` events), worked out once per function and name: a function with many
        ``no_grad`` blocks asks at each of them, and must not walk its events each time."""
        key = (id(function), name)
        found = self._mode_prefixes.get(key)
        if found is not None:
            return found
        mode: str | None = None
        found = [mode]
        holders = self.holders(function, name)
        stepping: set[int] | None = None
        for event in self.expanded(function):
            kind = event.kind
            if kind in ("backward", "step"):
                if mode == "train":
                    mode = None  # a training step ran since: the train() is stale
            elif kind in _MODE_KINDS and (
                covers(event.name, name) or (event.name in holders and kind in _HOLDER_KINDS)
            ):
                if kind == "dropout_train":
                    if event.name != UNKNOWN:
                        mode = "train"  # its dropout layers in train mode on purpose (MC dropout)
                elif kind == "train":
                    restores = event.site is not None or mode in ("eval", "restored")
                    if restores and event.site is None and mode is not None:
                        # `model.eval()` ... `model.train()` in this function's own code,
                        # outside any loop that trains: train mode chosen for what follows
                        # (Monte Carlo dropout), not a training loop's restore
                        if stepping is None:
                            stepping = self._stepping_loops(function)
                        restores = any(id(loop) in stepping for loop in event.loops)
                    mode = "restored" if restores else "train"
                elif kind == "pretrained":
                    mode = "loaded"  # eval, until a train() that starts training on purpose
                else:
                    mode = "eval"
            found.append(mode)
        self._mode_prefixes[key] = found
        return found

    def _stepping_loops(self, function: FunctionInfo) -> set[int]:
        """The loops of ``function`` (by id) whose body runs a ``backward()`` or an
        optimizer step, following same-file calls: a ``train()`` there restores the
        training's mode after a look at the model."""
        found: set[int] = set()
        for event in self.expanded(function):
            if event.kind in ("backward", "step"):
                found.update(id(loop) for loop in event.loops)
        return found

    def holders(self, function: FunctionInfo, name: str) -> set[str]:
        """The names of modules built around ``name`` (or a module it is part of) in this
        file: ``disc = Discriminator(backbone)`` makes ``backbone`` a submodule of
        ``disc``, so ``disc.eval()`` switches it too. A construction that
        copies its argument (``AveragedModel``, an EMA, ``deepcopy``) holds a copy, not
        the object, and does not count."""
        if name == UNKNOWN:
            return set()
        if self._holders is None:
            self._holders = {}
            for owner, target, value in self._raw_assign:
                value = unwrap_self_returning(value)
                if not isinstance(value, cst.Call) or not _constructs_holder(value.func):
                    continue
                for arg in value.args:
                    held = dotted_name(arg.value)
                    if held is not None and not arg.star and held != target:
                        key = (self.owner(owner, held), held)
                        self._holders.setdefault(key, set()).add(target)
        found: set[str] = set()
        parts = name.split(".")
        pending = [".".join(parts[:end]) for end in range(1, len(parts) + 1)]
        while pending:  # a holder's holder switches it too
            held = pending.pop()
            for holder in self._holders.get((self.owner(function, held), held), ()):
                if holder not in found:
                    found.add(holder)
                    pending.append(holder)
        return found

    def evaluated_before(
        self,
        function: FunctionInfo,
        name: str,
        upto: int,
        depth: int = MAX_DEPTH,
        seen: frozenset[int] = frozenset(),
    ) -> bool:
        """Some path may have chosen ``name``'s mode before position ``upto`` of
        ``expanded(function)``: an ``eval()`` there or in a same-file caller before the call
        (``depth`` callers up), an ``eval()`` for good (a global or ``self.`` attribute that
        is never switched back), or a ``train()`` with no training step since (train mode on
        purpose, as in ``update_bn``)."""
        if self.is_truncated(function):
            return True  # too large to follow: assume the mode was chosen
        # The last switch before the call decides (mode is tracked in order): eval, or an
        # explicit train() on purpose (as in update_bn) with no training step since. A
        # train() that undoes an earlier eval(), or ends a helper such as an evaluate()
        # that restores the mode, leaves the model training again.
        modes = self._modes(function, name)
        events = len(modes) - 1
        mode = modes[min(upto if upto >= 0 else max(0, events + upto), events)]
        if mode is not None:
            return mode != "restored"
        if self.permanently_eval(function, name):
            return True
        if depth <= 0:
            return False
        for caller, site in self.callers_of(function):
            if id(caller) in seen:
                continue
            mapped = self.map_back(name, function, site)
            if mapped is None:
                continue
            position = _position(self.expanded(caller), site)
            if self.evaluated_before(caller, mapped, position, depth - 1, seen | {id(caller)}):
                return True
        return False

    def permanently_eval(self, function: FunctionInfo, name: str) -> bool:
        """``name`` (a global or a ``self.`` attribute) is switched to eval somewhere in the
        file and never back to train: a frozen teacher, a model loaded for inference."""
        owner = self.owner(function, name)
        if owner[0] == "function" or name == UNKNOWN:
            return False
        key = (owner, name)
        if key not in self._permanent:
            evaluated = trained = False
            for other in self.functions:
                if owner[0] == "class" and other.cls is not function.cls:
                    continue
                for event in other.events:
                    if event.name == UNKNOWN or not covers(event.name, name):
                        continue
                    if self.owner(other, event.name)[0] != owner[0]:
                        continue
                    if event.kind in ("eval", "pretrained"):
                        evaluated = True
                    elif event.kind in ("train", "mode", "dropout_train"):
                        trained = True
            self._permanent[key] = evaluated and not trained
        return self._permanent[key]

    def runs_without_grad(
        self, function: FunctionInfo, depth: int = MAX_DEPTH, seen: frozenset[int] = frozenset()
    ) -> bool:
        """``function`` is decorated with no_grad, or a same-file caller calls it where
        autograd is off (``depth`` callers up)."""
        if function.grad == "off":
            return True
        parent = function.parent
        while parent is not None and not parent.is_module:
            if parent.grad == "off":
                return True
            parent = parent.parent
        if depth <= 0:
            return False
        for caller, site in self.callers_of(function):
            if site.grad == "off":
                return True
            if id(caller) not in seen and self.runs_without_grad(
                caller, depth - 1, seen | {id(caller)}
            ):
                return True
        return False

    # -- loops --------------------------------------------------------------------------

    def step_loops(self, function: FunctionInfo) -> list[Loop]:
        """Innermost loops whose body (following same-file calls) calls ``.backward()`` and
        steps an optimizer: RULES.md's "training step"."""
        events = self.expanded(function)
        if id(function) in self.truncated:
            return []
        found: list[Loop] = []
        for loop in function.loops:
            has_backward = has_step = False
            for event in events:
                if loop in event.loops:
                    has_backward = has_backward or event.kind == "backward"
                    has_step = has_step or event.kind == "step"
            if has_backward and has_step:
                found.append(loop)
        return [loop for loop in found if not any(loop in other.chain()[1:] for other in found)]


_MODE_KINDS = frozenset({"eval", "scoped_eval", "mode", "pretrained", "train", "dropout_train"})
# What a holder's switch tells of what it holds: its eval() reaches it; its train() is not
# read as train mode on purpose (``trainer.train()`` runs a training, it does not choose a
# mode for an evaluation).
_HOLDER_KINDS = frozenset({"eval", "scoped_eval", "mode"})


def _has_scheduler(kinds: set[str]) -> bool:
    return any(kind.startswith("scheduler:") for kind in kinds)


def _position(events: list[Event], target: Event) -> int:
    for position, event in enumerate(events):
        if event is target:
            return position
    return 0


def _argument_for(
    callee: FunctionInfo, param: str, call: cst.Call, bound: bool
) -> cst.BaseExpression | None:
    """The argument expression ``call`` passes for ``param`` of ``callee`` (None if unsure)."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == param:
            return arg.value
    params = callee.params[1:] if (bound and callee.is_method) else callee.params
    if param not in params:
        return None
    index = params.index(param)
    for arg in call.args[: index + 1]:
        if arg.star:
            return None
    positional = positional_args(call)
    return positional[index].value if index < len(positional) else None


# --- building ------------------------------------------------------------------------------


@dataclass
class _State:
    function: FunctionInfo
    scope: Scope
    cls: ClassInfo | None  # the class being defined directly (for methods)
    loops: tuple[Loop, ...] = ()
    grad: str | None = None
    guards: tuple[int, ...] = ()
    branches: tuple[tuple[int, int], ...] = ()

    def but(self, **changes: Any) -> _State:
        """A copy with ``changes`` (``dataclasses.replace`` looks the fields up each time)."""
        return _State(**{**self.__dict__, **changes})


_TRACKED_MODES = frozenset({"eval", "pretrained", "train", "mode", "bind", "dropout_train"})


class _Builder:
    def __init__(self, flow: Flow, record: WalkRecord | None = None) -> None:
        self.flow = flow
        self.index = 0
        # (function id, name) -> "eval" / "pretrained" while that is its last mode event
        self.modes: dict[tuple[int, str], str] = {}
        # From the engine's walk: the handled nodes below each node, and the scopes it made.
        self.below = record.below if record is not None else None
        self.scopes = record.scopes if record is not None else {}

    # Nodes the walk handles get increasing indices in source order (pre-order); an event's
    # index orders it, and a loop's or with block's [start, end] contains its events'.
    def walk(self, node: cst.CSTNode, state: _State) -> None:
        node_type = type(node)
        handler = _HANDLERS.get(node_type)
        if handler is not None:
            self.index += 1
            handler(self, node, state)
        elif node_type not in _OPAQUE:
            self.children(node, state)

    def children(self, node: cst.CSTNode, state: _State) -> None:
        """Walk the children of ``node``; opaque ones (a third of them are names) are not
        even entered. With the engine's record, only the children of the module and of
        handled nodes are looked at: below any other node, the handled nodes are known."""
        walk = self.walk
        node_type = type(node)
        below = self.below
        if below is not None and node_type not in _ENTERED:
            for inner in below.get(id(node), ()):
                walk(inner, state)
            return
        fields = _FIELDS_BY_TYPE.get(node_type)
        if fields is None:
            fields = child_fields(node_type)
        for name in fields:
            value = getattr(node, name)
            value_type = type(value)
            if value_type is tuple or value_type is list:
                for child in value:
                    if type(child) not in _OPAQUE:
                        walk(child, state)
            elif value_type not in _OPAQUE:
                known = _IS_NODE.get(value_type)
                if known is None:
                    known = is_node_type(value_type)
                if known:
                    walk(value, state)

    def _walk_all(self, nodes: Iterable[cst.CSTNode], state: _State) -> None:
        for node in nodes:
            self.walk(node, state)

    def event(self, state: _State, kind: str, name: str | None, node: cst.CSTNode, **extra) -> None:
        if name is not None and kind in _TRACKED_MODES:
            if kind in ("eval", "pretrained"):
                self.modes[(id(state.function), name)] = kind
            else:
                self.modes.pop((id(state.function), name), None)
        state.function.raw.append(
            Event(
                kind,
                name or UNKNOWN,
                node,
                self.index,
                state.loops,
                state.grad,
                state.guards,
                state.branches,
                **extra,
            )
        )

    # -- scopes -------------------------------------------------------------------------

    def _FunctionDef(self, node: cst.FunctionDef, state: _State) -> None:
        flow = self.flow
        parent = state.function
        is_method = state.cls is not None
        scope = self.scopes.get(id(node))
        if scope is None:
            scope = Scope(node, state.scope)
        info = FunctionInfo(
            node,
            node.name.value,
            scope,
            parent,
            state.cls if is_method else parent.cls,
            is_method=is_method,
            start=self.index,
        )
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            info.params.append(param.name.value)
            if param.annotation is not None:
                flow._raw_annotation.append((info, param.name.value, param.annotation.annotation))
        flow.functions.append(info)
        flow.by_node[id(node)] = info
        if is_method:
            state.cls.methods.setdefault(info.name, []).append(info)  # type: ignore[union-attr]
        elif parent.is_module:
            flow.module_defs.setdefault(info.name, []).append(info)
        else:
            parent.nested[info.name] = info
        self._walk_all(node.decorators, state)
        for decorator in node.decorators:
            kind = self._grad_kind(decorator.decorator, state.scope, bare_ok=True)
            if kind is None:
                local = _local_decorator_name(decorator.decorator)
                qualified = _decorator_qualified(decorator.decorator, state.scope)
                if local is not None or qualified is not None:
                    flow._raw_decorated.append((info, decorator, local, qualified))
            if kind == "off":
                info.grad, info.grad_decorator = "off", decorator
                if self._is_evaluating(decorator.decorator, state.scope):
                    for arg in decorator.decorator.args:  # type: ignore[union-attr]
                        info.raw.append(
                            Event(
                                "scoped_eval",
                                dotted_name(arg.value) or UNKNOWN,
                                decorator,
                                self.index,
                                (),
                                None,
                                (),
                            )
                        )
        inner = _State(info, scope, None, (), info.grad, ())
        self.walk(node.params, state)
        self.walk(node.body, inner)
        info.end = self.index

    def _ClassDef(self, node: cst.ClassDef, state: _State) -> None:
        info = ClassInfo(node, state.scope)
        self.flow.classes.setdefault(node.name.value, []).append(info)
        self._walk_all(node.decorators, state)
        self._walk_all(node.bases, state)
        self._walk_all(node.keywords, state)
        scope = self.scopes.get(id(node))
        if scope is None:
            scope = Scope(node, state.scope)
        self.walk(
            node.body,
            _State(
                state.function, scope, info, state.loops, state.grad, state.guards, state.branches
            ),
        )

    def _Lambda(self, node: cst.Lambda, state: _State) -> None:
        pass  # a lambda's body runs later, if ever: none of its events happen here

    # -- control flow -------------------------------------------------------------------

    def _loop(self, node: cst.For | cst.While, state: _State, targets: frozenset[str]) -> Loop:
        parent = state.loops[-1] if state.loops else None
        loop = Loop(node, self.index, self.index, parent, state.function, targets)
        state.function.loops.append(loop)
        self.flow.loop_by_node[id(node)] = loop
        return loop

    def _For(self, node: cst.For, state: _State) -> None:
        names: list[str] = []
        _target_names(node.target, names)
        loop = self._loop(node, state, frozenset(names))
        self.walk(node.target, state)
        self.walk(node.iter, state)
        self._rebind(state, node.target, node.iter, whole=False)  # an item of it
        inner = state.but(loops=(*state.loops, loop))
        self.walk(node.body, inner)
        loop.end = self.index
        if node.orelse is not None:
            self.walk(node.orelse, state)

    def _While(self, node: cst.While, state: _State) -> None:
        loop = self._loop(node, state, frozenset())
        inner = state.but(loops=(*state.loops, loop))
        self.walk(node.test, inner)
        self.walk(node.body, inner)
        loop.end = self.index
        if node.orelse is not None:
            self.walk(node.orelse, state)

    def _If(self, node: cst.If, state: _State) -> None:
        index = self.index
        self.walk(node.test, state)
        inner = state
        if _has_modulo(node.test):
            inner = state.but(guards=(*state.guards, index))
        self.walk(node.body, inner.but(branches=(*state.branches, (index, 0))))
        if node.orelse is not None:
            self.walk(node.orelse, inner.but(branches=(*state.branches, (index, 1))))

    def _With(self, node: cst.With, state: _State) -> None:
        start = self.index
        grad = state.grad
        off_items: list[cst.WithItem] = []
        for item in node.items:
            kind = self._grad_kind(item.item, state.scope, bare_ok=False)
            if kind is not None:
                grad = kind
            if kind == "off":
                off_items.append(item)
            self.walk(item, state)
            if item.asname is not None:
                self._rebind(state, item.asname.name, item.item, whole=False)  # __enter__'s
            if self._is_evaluating(item.item, state.scope):
                for arg in item.item.args:  # type: ignore[union-attr]
                    self.event(state, "scoped_eval", dotted_name(arg.value), item)
        block = WithBlock(node, start, start, grad, tuple(off_items), state.function)
        self.walk(node.body, state.but(grad=grad))
        block.end = self.index
        state.function.withs.append(block)
        self.flow.with_by_node[id(node)] = block

    def _grad_kind(self, expr: cst.BaseExpression, scope: Scope, bare_ok: bool) -> str | None:
        """ "off" for ``torch.no_grad()`` & co, "on" for ``enable_grad()`` & co, else None."""
        if not isinstance(expr, cst.Call):
            if bare_ok and scope.qualified_name(expr) in GRAD_OFF - {
                "torch.inference_mode",
                "torch.autograd.inference_mode",
                "torch.autograd.grad_mode.inference_mode",
            }:
                return "off"
            return None
        qualified = scope.qualified_name(expr.func)
        if qualified is None:
            return None
        args = expr.args
        if qualified in GRAD_OFF:
            if "inference_mode" in qualified and args:
                flag = _literal_bool(args[0].value)
                return "off" if flag is True else None
            return "off"
        if qualified in EVALUATING:
            return "off"
        if qualified in ENABLE_GRAD:
            return "on"
        if qualified in SET_GRAD_ENABLED and len(args) == 1:
            flag = _literal_bool(args[0].value)
            return None if flag is None else ("on" if flag else "off")
        return None

    def _is_evaluating(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        return isinstance(expr, cst.Call) and scope.qualified_name(expr.func) in EVALUATING

    # -- statements and calls -------------------------------------------------------------

    def _Assign(self, node: cst.Assign, state: _State) -> None:
        for target in node.targets:
            self._assigned(target.target, node.value, state, node)
        self.children(node, state)
        for target in node.targets:
            self._rebind(state, target.target, node.value)
        mode = self._mode_of_value(node.value, state)
        for target in node.targets:
            name = dotted_name(target.target)
            self.event(state, "bind", name, node)
            if mode is not None and name is not None:
                self.event(state, mode, name, node)
        if self.flow.project is not None:
            self._project_returns(node, state)

    def _project_returns(self, node: cst.Assign, state: _State) -> None:
        """``tokenizer, model = load(...)``: items a project function returns in eval mode."""
        value = unwrap_self_returning(node.value)
        if not isinstance(value, cst.Call):
            return
        evaluated = self.flow.project.returns_eval(state.scope.qualified_name(value.func))  # type: ignore[union-attr]
        if not evaluated or evaluated == (-1,):
            return  # nothing, or the whole value (`_mode_of_value` has it)
        for target in node.targets:
            if isinstance(target.target, cst.Tuple):
                for position, element in enumerate(target.target.elements):
                    name = dotted_name(element.value)
                    if position in evaluated and name is not None:
                        self.event(state, "eval", name, node)

    def _mode_of_value(self, value: cst.BaseExpression, state: _State) -> str | None:
        """The mode an assigned object is known to be in: "pretrained" for
        ``X.from_pretrained(...)`` (transformers and diffusers return models in eval mode),
        "eval" for ``m.eval()`` or for a name this function switched to eval before (the
        model set up in ``__init__`` before it is stored on ``self``)."""
        chain = value
        while isinstance(chain, cst.Call) and isinstance(chain.func, cst.Attribute):
            method = chain.func.attr.value
            if method == "eval" and not chain.args:
                return "eval"
            if method == "from_pretrained":
                return "pretrained"
            if method not in SELF_RETURNING:
                return None
            chain = chain.func.value
        project = self.flow.project
        if isinstance(chain, cst.Call) and project is not None:
            # `net = load_net(path)`: a project function or class that returns it in eval mode
            if -1 in project.returns_eval(state.scope.qualified_name(chain.func)):
                return "eval"
            return None
        source = dotted_name(chain)
        if source is None:
            return None
        return self.modes.get((id(state.function), source))

    def _AnnAssign(self, node: cst.AnnAssign, state: _State) -> None:
        if node.value is not None:
            self._assigned(node.target, node.value, state, node)
        self.children(node, state)
        if node.value is not None:
            self._rebind(state, node.target, node.value)

    def _rebind(
        self,
        state: _State,
        target: cst.BaseExpression,
        source: cst.BaseExpression,
        whole: bool = True,
    ) -> None:
        """Record a binding of a parameter's name (see ``Rebind``), at the current index:
        after the bound value, so calls inside it still read the parameter. ``whole``: the
        name gets ``source`` itself (not an item of it, or what ``__enter__`` returns)."""
        params = state.function.params
        if not params:
            return
        names: list[str] = []
        _target_names(target, names)
        for name in names:
            if name in params:
                state.function.rebinds.append(
                    Rebind(
                        name,
                        self.index,
                        state.branches,
                        source if whole and isinstance(target, cst.Name) else None,
                        _mentions(source, name),
                    )
                )

    def _AugAssign(self, node: cst.AugAssign, state: _State) -> None:
        self.children(node, state)

    def _assigned(
        self,
        target: cst.BaseExpression,
        value: cst.BaseExpression,
        state: _State,
        node: cst.CSTNode,
    ) -> None:
        name = dotted_name(target)
        if name is None:
            return
        if name.endswith(".grad"):
            self.event(state, "grad_reset", name, node)
        self.flow._raw_assign.append((state.function, name, value))

    def _Call(self, node: cst.Call, state: _State) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = dotted_name(func.value)
            if method in MODEL_RECEIVER_METHODS and receiver is not None:
                self.flow._raw_receiver.append((state.function, receiver))
            if method in MODULE_ONLY_METHODS and receiver is not None:
                self.flow._raw_module_receiver.append((state.function, receiver))
            if method in _SPECIAL_METHODS:
                self._special(node, method, receiver, state)
        last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if last in _GRADIENT_FUNCTIONS:
            qualified = state.scope.qualified_name(func)
            if qualified in SET_GRAD_ENABLED:
                self.event(state, "grad_toggle", qualified, node)
            elif qualified is not None and qualified.startswith(AUTOGRAD_PREFIXES):
                self.event(state, "autograd", qualified, node)
        callee = dotted_name(func)
        if callee is not None and not (
            isinstance(func, cst.Attribute) and func.attr.value in _SPECIAL_METHODS
        ):
            self.event(state, "call", callee, node)
        self.children(node, state)

    def _special(self, node: cst.Call, method: str, receiver: str | None, state: _State) -> None:
        args = node.args
        if method == "eval" and not args:
            self.event(state, "eval", receiver, node)
        elif method == "train":
            kind = None
            if not args:
                kind = "train"
            elif len(args) == 1 and (args[0].keyword is None or args[0].keyword.value == "mode"):
                flag = _literal_bool(args[0].value)
                kind = "mode" if flag is None else ("train" if flag else "eval")
            if kind is not None:
                self.event(state, kind, receiver, node)
            if kind == "train" and receiver is not None:
                owner = _dropout_owner(receiver, state.loops)
                if owner is not None:
                    self.event(state, "dropout_train", owner, node)
        elif method == "zero_grad":
            self.event(state, "zero_grad", receiver, node)
        elif method == "zero_" and receiver is not None and ".grad" in "." + receiver + ".":
            self.event(state, "grad_reset", receiver, node)
        elif method == "backward":
            self.event(state, "backward", receiver, node)
        elif method == "step":
            positional = positional_args(node)
            arg = dotted_name(positional[0].value) if positional else None
            closure = bool(positional) or any(
                a.keyword is not None and a.keyword.value == "closure" for a in args
            )
            self.event(state, "step", receiver, node, arg=arg, closure=closure)
        elif method == "requires_grad_" and args and _literal_bool(args[0].value) is False:
            self.event(state, "freeze", receiver, node)


_HANDLERS = {
    getattr(cst, name[1:]): method
    for name, method in vars(_Builder).items()
    if name.startswith("_") and name[1:2].isupper() and hasattr(cst, name[1:])
}
# Nodes whose children the builder looks at itself (with the engine's record).
_ENTERED = frozenset({*_HANDLERS, cst.Module})


class WalkRecord:
    """What the engine's walk saw of a file, for the index (a rule with
    ``after_walk = "flow"`` asks for the index only after the walk): the handled nodes
    below each child of a handled node (or of the module), in the order of the walk, and
    the scopes the walk made. The builder reads it instead of walking the file again."""

    code = "flow"
    name = "training-loop index"
    node_types = frozenset(_HANDLERS)

    def __init__(self, context: FileContext) -> None:
        self.ancestors = context.ancestors
        self.below: dict[int, list[cst.CSTNode]] = {}
        self.scopes: dict[int, Scope] = {}
        self.depths = [0]  # where the handled nodes around the one visited are in ancestors
        self.done = False
        context.fact(WALK_RECORD, lambda _: self)

    def enter(self, node: cst.CSTNode) -> None:
        """``node`` is listed below the child of the nearest handled node around it."""
        ancestors = self.ancestors
        depth = self.depths[-1] + 1
        via = ancestors[depth] if len(ancestors) > depth else node
        listed = self.below.get(id(via))
        if listed is None:
            self.below[id(via)] = [node]
        else:
            listed.append(node)
        self.depths.append(len(ancestors))

    def leave(self, node: cst.CSTNode) -> None:
        self.depths.pop()

    def scoped(self, node: cst.CSTNode, scope: Scope) -> None:
        self.scopes[id(node)] = scope

    def complete(self) -> None:
        """The walk went through the whole file: the record can stand in for a walk."""
        self.done = True


WALK_RECORD = "flow.walk"


def _no_record(context: FileContext) -> WalkRecord | None:
    return None


# Nodes that hold no call, loop or assignment worth a look.
_OPAQUE = frozenset(
    {
        cst.Name,
        cst.Integer,
        cst.Float,
        cst.Imaginary,
        cst.SimpleString,
        cst.Import,
        cst.ImportFrom,
        cst.Pass,
        cst.Break,
        cst.Continue,
        cst.Global,
        cst.Nonlocal,
    }
)


def _local_decorator_name(expr: cst.BaseExpression) -> str | None:
    """``deco`` for ``@deco`` and ``@deco(...)``: a decorator that may be defined here."""
    if isinstance(expr, cst.Call):
        expr = expr.func
    return expr.value if isinstance(expr, cst.Name) else None


def _decorator_qualified(expr: cst.BaseExpression, scope: Scope) -> str | None:
    """``utils.inference`` for ``@inference`` / ``@utils.inference(...)`` when imported."""
    if isinstance(expr, cst.Call):
        expr = expr.func
    return scope.qualified_name(expr)


def _turns_grad_off(flow: Flow, name: str | None, qualified: str | None = None) -> bool:
    """``name`` is a same-file decorator whose wrapper runs the function with autograd off:
    a nested ``def`` under ``@torch.no_grad()`` or with a ``with torch.no_grad():`` body
    (read from the decorator's body), or ``qualified`` is such a decorator defined in
    another file of the project."""
    if qualified is not None and flow.project is not None:
        return flow.project.grad_off_decorator(qualified)
    if name is None:
        return False
    defs = flow.module_defs.get(name)
    if not defs or len(defs) != 1 or len(flow.module_info.scope.bindings.get(name, [])) != 1:
        return False
    decorator = defs[0]
    for inner in (decorator, *decorator.nested.values()):
        if inner is not decorator and inner.grad == "off":
            return True
        if any(block.off_items for block in inner.withs):
            return True
    return False


def _resolve_decorators(flow: Flow) -> None:
    """Functions wrapped by a same-file grad-off decorator run with autograd off."""
    for info, decorator, name, qualified in flow._raw_decorated:
        if info.grad is None and _turns_grad_off(flow, name, qualified):
            info.grad, info.grad_decorator = "off", decorator
            info.raw = [
                e if e.grad is not None else dataclasses.replace(e, grad="off") for e in info.raw
            ]


def _mentions(node: cst.CSTNode, name: str) -> bool:
    """``node`` reads the variable ``name`` (``x.name`` and keywords do not count)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if type(current) is cst.Name:
            if current.value == name:
                return True
            continue
        if type(current) is cst.Attribute:
            stack.append(current.value)
            continue
        if type(current) is cst.Arg:
            stack.append(current.value)
            continue
        stack.extend(iter_children(current))
    return False


def _target_names(target: cst.CSTNode, out: list[str]) -> None:
    if isinstance(target, cst.Name):
        out.append(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _target_names(element.value, out)
    elif isinstance(target, cst.StarredElement):
        _target_names(target.value, out)


# --- classification (after the walk, when every assignment is known) --------------------


# Constructions that keep a copy of the module they are given, not the module itself:
# ``AveragedModel``, ``EMA``, ``ModelEma``, ``ExponentialMovingAverage``.
_COPYING_HOLDER = re.compile(r"Averag|EMA|Ema(?![a-z])")


def _constructs_holder(func: cst.BaseExpression) -> bool:
    """``Wrapper(...)`` / ``nn.DataParallel(...)``: a class (by its spelling) that may keep
    its arguments as submodules; not an EMA or averaged copy."""
    last = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
    if not isinstance(last, str) or not last[:1].isupper():
        return False
    return _COPYING_HOLDER.search(last) is None


def unwrap_self_returning(value: cst.BaseExpression) -> cst.BaseExpression:
    """``Net().to(device).eval()`` -> ``Net()``: module methods that return the module."""
    while (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in SELF_RETURNING
    ):
        value = value.func.value
    return value


def _value_kind(flow: Flow, function: FunctionInfo, value: cst.BaseExpression) -> str | None:
    value = unwrap_self_returning(value)
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    if isinstance(func, cst.Name) and func.value in flow.classes:
        return "model" if any(c.is_module for c in flow.classes[func.value]) else "other"
    qualified = function.scope.qualified_name(func)
    if qualified is None:
        return None
    kind = _qualified_kind(qualified)
    if kind is None and flow.project is not None:
        is_module = flow.project.is_module_class(qualified)  # a class of another file
        if is_module is False:
            return "other"
        if is_module and flow.project.mode(qualified) == "sensitive":
            return "model"  # a module with dropout or batch norm (else the name decides)
    return kind


def _qualified_kind(qualified: str) -> str | None:
    last = qualified.rsplit(".", 1)[-1]
    if (
        qualified.startswith("torch.optim.lr_scheduler.")
        or qualified == "torch.optim.swa_utils.SWALR"
    ):
        return "scheduler:" + qualified
    if qualified in TRACED:
        return "other"
    if qualified in MODEL_FACTORIES or qualified.startswith("torchvision.models."):
        return "model"
    if qualified.startswith("torch.optim.") and last[:1].isupper():
        return "optimizer"
    if qualified.startswith("torch.nn.") and last in MODE_SENSITIVE_NN:
        return "model"
    if (
        qualified.startswith("transformers.")
        and "from_pretrained" in qualified
        and "Model" in qualified
    ):
        return "model"
    return None


def _builds_layer(function: FunctionInfo, value: cst.BaseExpression) -> bool:
    value = unwrap_self_returning(value)
    if not isinstance(value, cst.Call):
        return False
    qualified = function.scope.qualified_name(value.func)
    if qualified is None or not qualified.startswith("torch.nn."):
        return False
    last = qualified.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.endswith("Loss") and last != "Parameter"


def _module_base(flow: Flow, info: ClassInfo) -> tuple[bool, bool]:
    is_module = is_lightning = False
    for base in info.node.bases:
        value = base.value
        if isinstance(value, cst.Name) and value.value in flow.classes:
            others = flow.classes[value.value]
            is_module = is_module or any(o.is_module for o in others)
            is_lightning = is_lightning or any(o.is_lightning for o in others)
            continue
        qualified = info.scope.qualified_name(value)
        if qualified is None:
            continue
        last = qualified.rsplit(".", 1)[-1]
        if qualified.startswith(LIGHTNING_BASES):
            is_module = is_lightning = True
        elif last in MODULE_BASES or (qualified.startswith("torch.nn.") and last[:1].isupper()):
            is_module = True  # known by its name: the project need not be asked
        elif flow.project is not None and flow.project.is_module_class(qualified):
            is_module = True  # an nn.Module subclass defined in another file of the project
    return is_module, is_lightning


def _classify(flow: Flow) -> None:
    changed = True
    all_classes = [c for group in flow.classes.values() for c in group]
    while changed:
        changed = False
        for info in all_classes:
            is_module, is_lightning = _module_base(flow, info)
            if (is_module, is_lightning) != (info.is_module, info.is_lightning):
                info.is_module, info.is_lightning = (
                    is_module or info.is_module,
                    is_lightning or info.is_lightning,
                )
                changed = True
    evidence = flow.evidence
    for function, name, value in flow._raw_assign:
        kind = _value_kind(flow, function, value)
        if kind is not None:
            evidence.setdefault(flow.owner(function, name), {}).setdefault(name, set()).add(kind)
        if function.cls is not None and name.startswith("self.") and _builds_layer(function, value):
            function.cls.owns_layers = True
    for function, name, annotation in flow._raw_annotation:
        target = annotation
        if isinstance(target, cst.Subscript):  # Optional[nn.Module]
            continue
        qualified = function.scope.qualified_name(target)
        is_model = (
            qualified is not None
            and qualified.startswith("torch.nn.")
            and qualified.rsplit(".", 1)[-1] in MODE_SENSITIVE_NN
        ) or (
            isinstance(target, cst.Name)
            and any(c.is_module for c in flow.classes.get(target.value, []))
        )
        if is_model:
            evidence.setdefault(("function", id(function)), {}).setdefault(name, set()).add("model")
    for function, name in flow._raw_receiver:
        evidence.setdefault(flow.owner(function, name), {}).setdefault(name, set()).add("receiver")
    for function, name in flow._raw_module_receiver:
        evidence.setdefault(flow.owner(function, name), {}).setdefault(name, set()).add("module")

    for function in flow.functions:
        events: list[Event] = []
        for event in function.raw:
            classified = _classify_event(flow, function, event)
            if classified is not None:
                events.append(classified)
        function.events = events
        function.raw = []
        for event in events:
            if event.kind == "fcall" and event.callee is not None:
                flow.callers.setdefault(id(event.callee), []).append((function, event))


def _classify_event(flow: Flow, function: FunctionInfo, event: Event) -> Event | None:
    kind = event.kind
    if kind == "call":
        callee = flow.resolve_call(function, event.name)
        if callee is not None:
            return dataclasses.replace(event, kind="fcall", callee=callee)
        if flow.project is not None:
            switched = _project_eval(flow, function, event)
            if switched is not None:
                return switched
        name = event.name
        receiver, _, method = name.partition(".")
        if method and "." not in method and receiver not in ("self", UNKNOWN):
            flow.instance_calls.setdefault(method, []).append((function, event))
        if name.endswith(".forward"):
            name = name[: -len(".forward")]
        if not flow.is_model(function, name) or flow.is_local_class(name.split(".", 1)[0]):
            return None
        if function.scope.qualified_name(event.node.func) is not None:  # type: ignore[attr-defined]
            return None  # an imported function or module, not a model object
        return dataclasses.replace(event, kind="model", name=name)
    if kind == "step":
        if flow.is_optimizer(function, event.name):
            return event
        if event.arg and flow.is_optimizer(function, event.arg):
            return dataclasses.replace(event, name=event.arg, closure=False)
        scheduler = flow.scheduler(function, event.name)
        if scheduler is not None:
            return dataclasses.replace(event, kind="sched_step", qualified=scheduler)
        return None
    if kind in ("eval", "train", "mode"):
        name = event.name
        root = name.split(".", 1)[0]
        # `for m in models: m.eval()` switches something unknown, not a model called `m`.
        if any(root in loop.targets for loop in event.loops):
            return dataclasses.replace(event, name=UNKNOWN)
    return event


def _project_eval(flow: Flow, function: FunctionInfo, event: Event) -> Event | None:
    """A call of a function of another file that leaves its argument in eval mode
    (``set_eval(model)``, an ``evaluate(model)`` that does not restore train mode): an
    ``eval`` of that argument here, as a same-file helper's would be."""
    call = event.node
    assert isinstance(call, cst.Call)
    helper = flow.project.leaves_eval(function.scope.qualified_name(call.func))  # type: ignore[union-attr]
    if helper is None:
        return None
    for param in helper.leaves_eval:
        value = _keyword_or_position(call, param, helper.params)
        name = dotted_name(value) if value is not None else None
        if name is not None:
            return dataclasses.replace(event, kind="eval", name=name, site=event)
    return None


def _keyword_or_position(
    call: cst.Call, param: str, params: tuple[str, ...]
) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == param:
            return arg.value
    index = params.index(param)
    for arg in call.args[: index + 1]:
        if arg.star or arg.keyword is not None:
            return None
    return call.args[index].value if index < len(call.args) else None


def build_flow(context: FileContext) -> Flow:
    """The flow index of ``context``'s module (use as ``context.fact("flow", build_flow)``)."""
    flow = Flow(context.module, context.module_scope)
    flow.project = context.project
    record = context.fact(WALK_RECORD, _no_record)
    builder = _Builder(flow, record if record is not None and record.done else None)
    module_info = flow.module_info
    builder.walk(context.module, _State(module_info, module_info.scope, None))
    module_info.end = builder.index
    _resolve_decorators(flow)
    _classify(flow)
    context.on_release(flow.release)
    return flow


def flow_of(context: FileContext) -> Flow:
    return context.fact("flow", build_flow)
