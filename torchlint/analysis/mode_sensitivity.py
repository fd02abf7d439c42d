"""Which objects behave the same in train and eval mode.

`model.eval()` only changes dropout, batch norm (and the few layers that read
`self.training`). A model built in this file from layers that have no such behaviour
(`nn.Linear`, `nn.Conv2d`, `nn.LSTM` without dropout) gives the same outputs in both modes,
so a missing `eval()` changes nothing. Instance norm does not count either, even with running
statistics: which statistics a generator samples with is the author's choice.
A class or layer builder imported from another file of the project is read from that
file's summary (``context.project``, followed through the project's imports); anything else
this file cannot see (a class of another package, a helper passed in) counts as
mode-sensitive.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.flow import (
    MODE_SENSITIVE_NN,
    ClassInfo,
    Flow,
    FunctionInfo,
    _argument_for,
    unwrap_self_returning,
)
from torchlint.names import dotted_name, iter_children
from torchlint.project.noise_layers import is_noise_layer_source
from torchlint.rate_tests import judge_rate_tests
from torchlint.vocabulary import MODULE_WRAPPERS, NN_CONTAINERS, RECURRENT_DROPOUT_POSITION

# Layers whose mode matters only with an argument: dropout for recurrent layers and
# attention (default 0), running statistics for instance norm (default off).
_RECURRENT = frozenset({"RNN", "LSTM", "GRU", "MultiheadAttention"})
_BUILTINS = frozenset(
    {
        "super",
        "range",
        "len",
        "int",
        "float",
        "bool",
        "str",
        "list",
        "tuple",
        "dict",
        "set",
        "zip",
        "enumerate",
        "min",
        "max",
        "abs",
        "sum",
        "round",
        "isinstance",
        "getattr",
        "setattr",
        "hasattr",
        "print",
        "reversed",
        "sorted",
        "ValueError",
        "TypeError",
        "NotImplementedError",
        "RuntimeError",
    }
)


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _is_zero_or_false(expr: cst.BaseExpression | None) -> bool:
    if expr is None:
        return True
    if isinstance(expr, cst.Integer | cst.Float):
        return float(expr.value) == 0
    return isinstance(expr, cst.Name) and expr.value in ("False", "None")


def _torch_layer_sensitive(last: str, call: cst.Call) -> bool:
    """A ``torch.nn.<last>(...)`` construction behaves differently in train and eval."""
    if last in NN_CONTAINERS:
        return False  # what they hold is checked on its own
    if last in _RECURRENT:
        positional = [a for a in call.args if a.keyword is None]
        if any(a.star for a in call.args) or len(positional) > RECURRENT_DROPOUT_POSITION[last]:
            return True
        return not _is_zero_or_false(_keyword(call, "dropout"))
    if "Dropout" in last and _literal_zero(_dropout_rate(call)):
        return False  # `nn.Dropout(0.0)`: drops nothing in either mode
    if last.startswith("InstanceNorm") or last.startswith("LazyInstanceNorm"):
        # even with `track_running_stats=True`: normalising each sample by its own statistics
        # at test time (train mode) is a common, deliberate choice for generators (StarGAN's
        # samples degrade with the running statistics), so its mode is the author's call
        return False
    return last in MODE_SENSITIVE_NN


def _literal_zero(expr: cst.BaseExpression | None) -> bool:
    """A number literal 0 (``0``, ``0.0``): not a name, not an omitted argument."""
    return isinstance(expr, cst.Integer | cst.Float) and float(expr.value) == 0


def _argument(call: cst.Call, name: str, index: int) -> cst.BaseExpression | None:
    """The value passed as keyword ``name`` or as positional argument ``index`` (none when
    a ``*args`` comes at or before it: its position is unknown)."""
    value = _keyword(call, name)
    positional = [a for a in call.args if a.keyword is None]
    if (
        value is None
        and len(positional) > index
        and not any(a.star for a in positional[: index + 1])
    ):
        value = positional[index].value
    return value


def _dropout_rate(call: cst.Call) -> cst.BaseExpression | None:
    """The rate a ``nn.Dropout*(...)`` construction passes (``p=`` or the first argument)."""
    return _argument(call, "p", 0)


def _rate_parameter(last: str, call: cst.Call, zero_params: frozenset[str]) -> str | None:
    """The parameter of the enclosing ``__init__`` (default 0) that a dropout layer takes
    its rate from (``nn.Dropout(dropout)``, ``nn.LSTM(..., dropout=dropout)``): the layer
    acts only when a caller passes a rate."""
    if not zero_params:
        return None
    if "Dropout" in last:
        value = _keyword(call, "p")
        if value is None:
            positional = [a for a in call.args if a.keyword is None]
            value = positional[0].value if positional and not positional[0].star else None
    elif last in _RECURRENT:
        value = _keyword(call, "dropout")
    else:
        return None
    if isinstance(value, cst.Name) and value.value in zero_params:
        return value.value
    return None


def zero_default_params(function: cst.FunctionDef | None) -> dict[str, int]:
    """The parameters of ``function`` whose default is ``0``, ``0.0``, ``None`` or ``False``
    (a dropout rate off unless a caller sets it), with their positions (``self`` is 0)."""
    if function is None:
        return {}
    found: dict[str, int] = {}
    for position, param in enumerate(function.params.params):
        if param.default is not None and _is_zero_or_false(param.default):
            found[param.name.value] = position
    for param in function.params.kwonly_params:
        if param.default is not None and _is_zero_or_false(param.default):
            found[param.name.value] = -1
    return found


def init_params(function: cst.FunctionDef | None) -> dict[str, int]:
    """Every named parameter of ``function`` but ``self``, with its call position as in
    ``zero_default_params`` (-1 keyword-only)."""
    if function is None:
        return {}
    found: dict[str, int] = {}
    for position, param in enumerate(function.params.params):
        if position or param.name.value != "self":
            found[param.name.value] = position
    for param in function.params.kwonly_params:
        found[param.name.value] = -1
    return found


def _init_of(info: ClassInfo) -> cst.FunctionDef | None:
    body = info.node.body
    for statement in body.body if isinstance(body, cst.IndentedBlock) else ():
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__":
            return statement
    return None


def sets_rate(call: cst.Call, params: dict[str, int]) -> bool:
    """``call`` passes a non-zero number for one of ``params`` (a rate that defaults to 0):
    a rate it cannot read (``dropout=args.dropout``, ``**kwargs``) proves nothing."""
    values = _passed_for(call, params)
    return bool(values) and any(_nonzero_number(v) for v in values)  # type: ignore[union-attr]


def _nonzero_number(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Integer | cst.Float):
        return float(expr.value) != 0
    return isinstance(expr, cst.Name) and expr.value == "True"


def _passed_for(call: cst.Call, params: dict[str, int]) -> list[cst.BaseExpression] | None:
    """The values ``call`` passes for ``params``; None when a ``*args`` / ``**kwargs`` hides
    them."""
    values: list[cst.BaseExpression] = []
    positional = 0
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None:
            if arg.keyword.value in params:
                values.append(arg.value)
        else:
            positional += 1
            if positional in params.values():
                values.append(arg.value)
    return values


class ModeSensitivity:
    """Answers, once per class, whether a same-file module class may depend on its mode."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._classes: dict[int, bool] = {}
        self._values: dict[tuple[tuple[str, int], str], list[cst.BaseExpression]] | None = None

    def insensitive(self, function: FunctionInfo, name: str) -> bool:
        """Every object ``name`` is bound to in this file is built here from layers that
        ignore the mode."""
        flow = self.flow
        if self._values is None:
            self._values = {}
            for owner, target, value in flow._raw_assign:
                key = (flow.owner(owner, target), target)
                self._values.setdefault(key, []).append(value)
        values = self._values.get((flow.owner(function, name), name))
        return bool(values) and all(self._built_insensitive(v) for v in values)

    def _built_insensitive(self, value: cst.BaseExpression) -> bool:
        value = unwrap_self_returning(value)
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        if isinstance(func, cst.Name) and func.value in self.flow.classes:
            classes = self.flow.classes[func.value]
            return len(classes) == 1 and self._class_insensitive(classes[0])
        qualified = self.flow.module_info.scope.qualified_name(func)
        if qualified is None:
            return False
        if not qualified.startswith("torch."):
            if self._project_mode(qualified) != "insensitive":
                return False
        elif not qualified.startswith("torch.nn."):
            return False
        else:
            last = qualified.rsplit(".", 1)[-1]
            if not last[:1].isupper() or _torch_layer_sensitive(last, value):
                return False
        return all(
            not isinstance(arg.value, cst.Call) or self._built_insensitive(arg.value)
            for arg in value.args
        )

    def _class_insensitive(self, info: ClassInfo) -> bool:
        key = id(info)
        if key not in self._classes:
            self._classes[key] = False  # recursion: unknown until proven
            self._classes[key] = self._scan(info)
        return self._classes[key]

    def _scan(self, info: ClassInfo) -> bool:
        flow = self.flow
        scope = flow.module_info.scope
        for base in info.node.bases:
            value = base.value
            if isinstance(value, cst.Name) and value.value in flow.classes:
                others = flow.classes[value.value]
                if len(others) != 1 or not self._class_insensitive(others[0]):
                    return False
                continue
            qualified = scope.qualified_name(value)
            if qualified in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                continue
            if qualified is None or self._project_mode(qualified) != "insensitive":
                return False
        return self._calls_ok(info.node.body)

    def _project_mode(self, qualified: str) -> str | None:
        """What another file of the project says of the class or builder ``qualified``."""
        project = self.flow.project
        return project.mode(qualified) if project is not None else None

    def _call_ok(self, call: cst.Call, scope) -> bool:
        func = call.func
        qualified = scope.qualified_name(func)
        if qualified is not None:
            if qualified.startswith("torch.nn.functional."):
                return "dropout" not in qualified
            if qualified.startswith("torch.nn."):
                last = qualified.rsplit(".", 1)[-1]
                return not (last[:1].isupper() and _torch_layer_sensitive(last, call))
            if qualified.startswith("torch."):
                return True
            if isinstance(func, cst.Name) and func.value in self.flow.classes:
                classes = self.flow.classes[func.value]
                return len(classes) == 1 and self._class_insensitive(classes[0])
            if qualified in _BUILTINS:
                return True
            return self._project_mode(qualified) == "insensitive"
        if isinstance(func, cst.Name):
            if func.value in self.flow.classes:
                classes = self.flow.classes[func.value]
                return len(classes) == 1 and self._class_insensitive(classes[0])
            defs = self.flow.module_defs.get(func.value)
            if defs and len(defs) == 1:
                return self._helper_insensitive(defs[0])  # `get_conv_block(...)`
            return func.value in _BUILTINS
        return True  # a method of an object built here (`self.fc(x)`, `x.view(...)`)

    def _helper_insensitive(self, helper: FunctionInfo) -> bool:
        """A same-file function (a layer builder) makes only calls a module could make."""
        key = id(helper)
        if key not in self._classes:
            self._classes[key] = False  # recursion: unknown until proven
            self._classes[key] = self._calls_ok(helper.node.body)
        return self._classes[key]

    def _calls_ok(self, body: cst.CSTNode) -> bool:
        scope = self.flow.module_info.scope
        stack: list[cst.CSTNode] = [body]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Attribute) and node.attr.value == "training":
                return False  # reads its mode
            if isinstance(node, cst.Call) and not self._call_ok(node, scope):
                return False
            stack.extend(iter_children(node))
        return True


# --- the opposite question: is the model's class known, and does its behaviour depend on the
# mode? (TL301 reports only then: a model of a class it cannot see may have no dropout or
# batch norm at all, or be put in eval mode by code it cannot see.)

_SENSITIVE, _NEUTRAL, _UNKNOWN = "sensitive", "neutral", "unknown"
# torchvision's classification and detection builders: every one has batch norm, dropout or
# stochastic depth, except the plain vision transformers (dropout 0 by default).
_TORCHVISION_MODELS = "torchvision.models."
_TORCHVISION_INSENSITIVE = ("vit_",)
_MAX_SENSITIVE_DEPTH = 8  # two steps a caller (the name, then its value)


class KnownSensitivity:
    """Answers whether a model's class is known and its behaviour depends on train/eval:
    built in this file from such layers, a class of this file or of the project (its
    summary) with dropout, batch norm or a `self.training` read, a torchvision model
    builder, or `from_pretrained` (a transformers / diffusers model, with dropout)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self._classes: dict[int, bool] = {}
        self._values: dict[tuple[tuple[str, int], str], list[cst.BaseExpression]] | None = None
        # a class's ``__init__`` parameters that alone turn its dropout on (default 0)
        self._gates: dict[int, dict[str, int]] = {}
        # a class's ``__init__`` parameters (any default) that alone feed its dropout rates,
        # with their positions and whether their default is 0 (``_rates``)
        self._rates: dict[int, dict[str, tuple[int, bool]] | None] = {}

    def sensitive(self, function: FunctionInfo, name: str, depth: int = 0) -> bool:
        """Every object ``name`` holds here is of a known class whose behaviour depends on
        the mode: assigned in this file, or passed in by every same-file caller."""
        return self._name(function, name, depth, frozenset()) == _SENSITIVE

    def _name(self, function: FunctionInfo, name: str, depth: int, seen: frozenset) -> str:
        flow = self.flow
        if depth > _MAX_SENSITIVE_DEPTH or (id(function), name) in seen:
            return _NEUTRAL if (id(function), name) in seen else _UNKNOWN
        seen = seen | {(id(function), name)}
        root = name.split(".", 1)[0]
        if root in function.params and root != "self" and "." not in name:
            return self._from_callers(function, name, depth, seen)
        if self._values is None:
            self._values = {}
            for owner, target, value in flow._raw_assign:
                self._values.setdefault((flow.owner(owner, target), target), []).append(value)
        values = self._values.get((flow.owner(function, name), name))
        if not values:
            return _UNKNOWN
        return self._all(self._value(function, v, depth, seen) for v in values)

    def sensitive_values(self, function: FunctionInfo, values: list[cst.BaseExpression]) -> bool:
        """Every one of ``values`` (what a rebound parameter may hold, see
        ``Flow.rebound``) is of a known class whose behaviour depends on the mode."""
        answers = [self._value(function, value, 0, frozenset()) for value in values]
        return bool(answers) and self._all(answers) == _SENSITIVE

    def _from_callers(self, function: FunctionInfo, name: str, depth: int, seen) -> str:
        callers = self.flow.callers_of(function)
        if not callers:
            return _UNKNOWN
        answers = []
        for caller, site in callers:
            call = site.node
            if not isinstance(call, cst.Call):
                return _UNKNOWN
            value = _argument_for(function, name, call, site.name.startswith("self."))
            if value is None:
                return _UNKNOWN
            answers.append(self._value(caller, value, depth + 1, seen))
        return self._all(answers)

    @staticmethod
    def _all(answers) -> str:
        found = _NEUTRAL
        for answer in answers:
            if answer == _UNKNOWN:
                return _UNKNOWN
            if answer == _SENSITIVE:
                found = _SENSITIVE
        return found

    def _value(self, function: FunctionInfo, value: cst.BaseExpression, depth: int, seen) -> str:
        value = unwrap_self_returning(value)
        name = dotted_name(value)
        if name is not None:
            return self._name(function, name, depth + 1, seen)
        if not isinstance(value, cst.Call):
            return _UNKNOWN
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "from_pretrained":
            return _SENSITIVE
        if isinstance(func, cst.Name) and func.value in self.flow.classes:
            classes = self.flow.classes[func.value]
            if len(classes) == 1 and classes[0].module_like:
                if self._class_sensitive(classes[0]):
                    # `Net(dropout=0.0)`: every rate its dropout reads is a literal 0 here
                    return _NEUTRAL if self._switched_off(classes[0], value) else _SENSITIVE
                gates = self._gates.get(id(classes[0]))
                # dropout whose rate defaults to 0: it acts only when this call sets it
                return _SENSITIVE if gates and sets_rate(value, gates) else _UNKNOWN
            return _UNKNOWN
        defs = self.flow.module_defs.get(func.value) if isinstance(func, cst.Name) else None
        if defs and len(defs) == 1 and function.scope.resolve(func.value) is None:
            scope = self.flow.module_info.scope
            return _SENSITIVE if self._helper_sensitive(defs[0], scope) else _UNKNOWN
        qualified = function.scope.qualified_name(func)
        if qualified is None:
            return _UNKNOWN
        if qualified.startswith(_TORCHVISION_MODELS):
            last = qualified.rsplit(".", 1)[-1]
            if last[:1].islower() and not last.startswith(_TORCHVISION_INSENSITIVE):
                return _SENSITIVE
            return _UNKNOWN
        if qualified.startswith("torch.nn."):
            last = qualified.rsplit(".", 1)[-1]
            if last in MODULE_WRAPPERS or last in NN_CONTAINERS:
                inner = [self._value(function, a.value, depth + 1, seen) for a in value.args]
                return _SENSITIVE if _SENSITIVE in inner else _UNKNOWN
            if last[:1].isupper() and _torch_layer_sensitive(last, value):
                return _SENSITIVE
            return _UNKNOWN
        project = self.flow.project
        if project is not None:
            if project.mode(qualified) == "sensitive":
                rates = {
                    name: (position, zero) for name, position, zero in project.rates(qualified)
                }
                if rates and self._rates_off(value, rates, frozenset(), None):
                    return _NEUTRAL  # a project class built with every dropout rate at 0
                return _SENSITIVE
            gates = project.gates(qualified)
            if gates and sets_rate(value, dict(gates)):
                return _SENSITIVE  # `AttentiveFP(..., dropout=0.2)`: its rate defaults to 0
        return _UNKNOWN

    def _class_sensitive(self, info: ClassInfo) -> bool:
        """A same-file module class (or one of its bases) builds a mode-dependent layer,
        calls a class that does, or reads ``self.training``."""
        key = id(info)
        if key not in self._classes:
            self._classes[key] = False  # recursion: not proven
            self._classes[key] = self._scan_class(info)
        return self._classes[key]

    def _scan_class(self, info: ClassInfo) -> bool:
        scope = self.flow.module_info.scope
        if self._bases(info) == "sensitive":
            return True
        init = _init_of(info)
        zero = zero_default_params(init)
        gates: set[str] = set()
        attrs = _rate_attributes(init, zero)
        if self._builds_sensitive(info.node.body, scope, frozenset(zero), gates, attrs, info):
            return True
        if gates:
            positions = init_params(init)
            self._gates[id(info)] = {name: positions[name] for name in gates if name in positions}
        return False

    def _bases(self, info: ClassInfo) -> str:
        """What the base classes say: "sensitive" where one acts on the mode (a same-file
        class, or a project class the index knows), "unknown" where a same-file base name
        has several definitions, else ""."""
        flow = self.flow
        scope = flow.module_info.scope
        unknown = False
        for base in info.node.bases:
            value = base.value
            if isinstance(value, cst.Name) and value.value in flow.classes:
                others = flow.classes[value.value]
                if len(others) == 1 and self._class_sensitive(others[0]):
                    return "sensitive"
                unknown = unknown or len(others) != 1
                continue
            qualified = scope.qualified_name(value)
            project = flow.project
            if qualified and project is not None and project.mode(qualified) == "sensitive":
                return "sensitive"
        return "unknown" if unknown else ""

    def _rates_of(self, info: ClassInfo) -> dict[str, tuple[int, bool]] | None:
        """When a same-file module class depends on its mode only through dropout rates its
        ``__init__`` parameters feed (``nn.Dropout(dropout)``, ``F.dropout(x,
        self.dropout, self.training)``, a submodule built with them), whatever their
        defaults: those parameters, with their call positions and whether they default to
        0. None when something else acts (batch norm, a ``self.training`` branch, a fixed
        or computed rate, a base class that does)."""
        key = id(info)
        if key in self._rates:
            return self._rates[key]
        self._rates[key] = None  # recursion: not proven
        scope = self.flow.module_info.scope
        if self._bases(info):
            return None
        init = _init_of(info)
        params = init_params(init)
        zero = zero_default_params(init)
        gates: set[str] = set()
        attrs = _rate_attributes(init, params)
        if not params or self._builds_sensitive(
            info.node.body, scope, frozenset(params), gates, attrs, info, rates=True
        ):
            return None
        found = {name: (params[name], name in zero) for name in gates if name in params}
        self._rates[key] = found
        return found

    def _switched_off(self, info: ClassInfo, call: cst.Call) -> bool:
        """``call`` builds ``info`` with every dropout rate at a literal 0 (or a rate that
        defaults to 0 left out): ``eval()`` changes nothing in what it builds."""
        rates = self._rates_of(info)
        return bool(rates) and self._rates_off(call, rates, frozenset(), None)

    @staticmethod
    def _rates_off(
        call: cst.Call,
        rates: dict[str, tuple[int, bool]],
        own: frozenset[str],
        gates: set[str] | None,
    ) -> bool:
        """Every one of ``rates`` is a literal 0 at ``call``, left out where it defaults to
        0, or one of ``own`` (the enclosing class's parameters, then noted in ``gates``)."""
        if any(arg.star for arg in call.args):
            return False  # `**config`: cannot read the rates
        positional = [a.value for a in call.args if a.keyword is None]
        for name, (position, zero_default) in rates.items():
            value = _keyword(call, name)
            if value is None and 0 < position <= len(positional):
                value = positional[position - 1]
            if value is None:
                if not zero_default:
                    return False  # the default rate acts
            elif isinstance(value, cst.Name) and value.value in own:
                if gates is not None:
                    gates.add(value.value)
            elif not _literal_zero(value):
                return False  # `dropout=0.1`, `dropout=args.dropout`
        return True

    @staticmethod
    def _gated(
        call: cst.Call,
        inner: dict[str, int] | None,
        zero_params: frozenset[str],
        gates: set[str] | None,
        required: frozenset[str] = frozenset(),
    ) -> bool:
        """A layer whose rate defaults to 0 (``inner``: its gate parameters) is built with a
        non-zero rate; built with this class's own rate (``Block(dropout=dropout)``, also
        one of its ``required`` parameters that guard a layer, see ``_RateGuards``) it is
        noted in ``gates``. A rate it cannot read proves nothing."""
        if not inner:
            return False
        passed = _passed_for(call, inner)
        if not passed:
            return False
        if any(_nonzero_number(v) for v in passed):
            return True
        if gates is not None:
            gates.update(
                v.value
                for v in passed
                if isinstance(v, cst.Name) and (v.value in zero_params or v.value in required)
            )
        return False

    def _helper_sensitive(self, helper: FunctionInfo, scope) -> bool:
        key = id(helper)
        if key not in self._classes:
            self._classes[key] = False  # recursion: not proven
            self._classes[key] = self._builds_sensitive(
                helper.node.body, scope, skip=_evaluated_here(helper.node.body)
            )
        return self._classes[key]

    def _builds_sensitive(
        self,
        body: cst.CSTNode,
        scope,
        zero_params: frozenset[str] = frozenset(),
        gates: set[str] | None = None,
        attrs: dict[str, str] | None = None,
        cls: ClassInfo | None = None,
        rates: bool = False,
        skip: frozenset[int] = frozenset(),
    ) -> bool:
        """``body`` surely depends on the mode (``rates``: a submodule class of the file
        that depends on it only through its rates counts when built with non-zero ones,
        see ``_rates_of``); a dropout whose rate is one of
        ``zero_params`` (off by default; ``attrs``: ``self.rate = rate`` in ``__init__``)
        is only noted in ``gates``. A ``self.training`` read in an ``assert``, or that only
        tells a functional dropout the mode (its rate decides), does not count; one
        ``and``-ed with a test of such a rate (``self.training and self.tau > 0``) is a
        gate. Nor do the reads of a noise layer ``cls`` (NoisyNet, see
        ``project/noise_layers.py``): the mode only switches the exploration noise that
        the algorithm resamples itself. Nodes of ``skip`` (what a loader switches to eval
        itself, see ``_evaluated_here``) are not read."""
        flow = self.flow
        attrs = attrs or {}
        excused, tested = _training_context(body, scope, attrs)
        guards = _RateGuards(body, _init_of(cls) if cls is not None else None, zero_params, attrs)
        noise_layer: bool | None = None
        stack: list[cst.CSTNode] = [body]
        while stack:
            node = stack.pop()
            if skip and id(node) in skip:
                continue
            if (
                isinstance(node, cst.Attribute)
                and node.attr.value == "training"
                and isinstance(node.value, cst.Name)
                and node.value.value == "self"
                and id(node) not in excused
            ):
                if noise_layer is None:
                    noise_layer = cls is not None and is_noise_layer_source(
                        flow.module.code_for_node(cls.node)
                    )
                if noise_layer:
                    continue
                if id(node) not in tested:
                    guard = guards.verdict(node, None)
                    if guard is None:
                        return True
                    if guard and gates is not None:
                        gates.add(guard)
                elif gates is not None:
                    gates.update(tested[id(node)])
            if isinstance(node, cst.Call):
                func = node.func
                qualified = scope.qualified_name(func)
                if (
                    qualified is not None
                    and qualified.startswith("torch.nn.functional.")
                    and "dropout" in qualified
                ):
                    rate = _functional_gate(node, zero_params, attrs)
                    if rate is None:
                        rate = guards.verdict(node, _functional_rate(node))
                    if rate is None:
                        return True
                    if rate and gates is not None:
                        gates.add(rate)
                if isinstance(func, cst.Name) and func.value in flow.classes:
                    classes = flow.classes[func.value]
                    # a class that is not a module holds no submodule: its layers do not
                    # follow this one's mode
                    if len(classes) == 1 and classes[0].is_module:
                        info = classes[0]
                        if self._class_sensitive(info):
                            inner_rates = self._rates_of(info) if rates else None
                            if not inner_rates or not self._rates_off(
                                node, inner_rates, zero_params, gates
                            ):
                                return True
                        elif self._gated(
                            node, self._gates.get(id(info)), zero_params, gates, guards.required
                        ):
                            return True
                elif isinstance(func, cst.Name) and len(flow.module_defs.get(func.value, ())) == 1:
                    helper = flow.module_defs[func.value][0]
                    if not _returns_evaluated(helper) and self._helper_sensitive(helper, scope):
                        return True  # `conv_block(...)`: a same-file layer builder
                else:
                    qualified = scope.qualified_name(func)
                    if qualified is not None and qualified.startswith("torch.nn."):
                        last = qualified.rsplit(".", 1)[-1]
                        if (
                            last[:1].isupper()
                            and last not in MODULE_WRAPPERS
                            and _torch_layer_sensitive(last, node)
                        ):
                            gate = _rate_parameter(last, node, zero_params)
                            if gate is None and ("Dropout" in last or last in _RECURRENT):
                                rate = (
                                    _dropout_rate(node)
                                    if "Dropout" in last
                                    else _keyword(node, "dropout")
                                )
                                gate = guards.verdict(node, rate)
                            if gate is None:
                                return True
                            if not gate:
                                continue  # under a rate test it cannot read: proves nothing
                            if gates is not None:
                                gates.add(gate)
                    elif qualified is not None and qualified.startswith(_TORCHVISION_MODELS):
                        last = qualified.rsplit(".", 1)[-1]
                        if last[:1].islower() and not last.startswith(_TORCHVISION_INSENSITIVE):
                            return True
                    elif qualified is not None and flow.project is not None:
                        if flow.project.mode(qualified) == "sensitive":
                            return True
                        inner = dict(flow.project.gates(qualified))
                        if self._gated(node, inner, zero_params, gates, guards.required):
                            return True
            stack.extend(iter_children(node))
        return False


def _rate_attributes(init: cst.FunctionDef | None, zero: dict[str, int]) -> dict[str, str]:
    """``self.rate = rate`` (or ``float(rate)``) in ``__init__`` for a parameter of ``zero``."""
    found: dict[str, str] = {}
    if init is None or not zero:
        return found
    for node in _walk(init):
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0].target, node.value
        if (
            isinstance(value, cst.Call)
            and isinstance(value.func, cst.Name)
            and value.func.value in ("float", "int", "bool")
            and len(value.args) == 1
        ):
            value = value.args[0].value
        if (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == "self"
            and isinstance(value, cst.Name)
            and value.value in zero
        ):
            found[target.attr.value] = value.value
    return found


def _self_rate(
    value: cst.BaseExpression | None, zero: frozenset[str], attrs: dict[str, str]
) -> str | None:
    """The gate parameter a rate expression is: ``rate`` or ``self.rate``."""
    if isinstance(value, cst.Name) and value.value in zero:
        return value.value
    if (
        isinstance(value, cst.Attribute)
        and isinstance(value.value, cst.Name)
        and value.value.value == "self"
        and value.attr.value in attrs
    ):
        return attrs[value.attr.value]
    return None


def _functional_training(call: cst.Call) -> cst.BaseExpression | None:
    """The ``training`` argument of ``F.dropout(input, p, training)``."""
    return _argument(call, "training", 2)


def _functional_rate(call: cst.Call) -> cst.BaseExpression | None:
    """The rate a functional dropout passes (``p=`` or its second argument)."""
    return _argument(call, "p", 1)


def _test_subjects(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    """What a test of a rate tests: ``X`` in ``X``, ``X > 0``, ``X != 0``, ``0 < X``, and
    in each operand of an ``and``."""
    if isinstance(test, cst.BooleanOperation):
        if isinstance(test.operator, cst.And):
            return [*_test_subjects(test.left), *_test_subjects(test.right)]
        return []
    if isinstance(test, cst.Comparison):
        if len(test.comparisons) != 1:
            return []
        target = test.comparisons[0]
        operator, right = target.operator, target.comparator
        if _literal_zero(right) and isinstance(operator, cst.GreaterThan | cst.NotEqual):
            return [test.left]
        if _literal_zero(test.left) and isinstance(operator, cst.LessThan | cst.NotEqual):
            return [right]
        return []
    if isinstance(test, cst.Name | cst.Attribute | cst.Subscript | cst.Call):
        return [test]
    return []


def _subject_word(expr: cst.BaseExpression) -> str | None:
    """The word a tested value is named by: ``dropout`` for ``args.dropout``,
    ``cfg["dropout"]``, ``cfg.get("dropout", 0)``."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.value
    if (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value == "get"
        and expr.args
        and isinstance(expr.args[0].value, cst.SimpleString)
    ):
        return expr.args[0].value.value
    return None


class _RateGuards:
    """The rate tests a body's dropout (or ``self.training`` read) sits under: ``if
    args.dropout > 0: self.drop = nn.Dropout(args.dropout)``, ``nn.Dropout(p) if p > 0 else
    nn.Identity()``, ``if self.training and cfg.drop_rate > 0``. Such a layer exists or
    acts only when the tested rate is set: a rate it cannot read proves nothing, as in
    ``sets_rate``; one an ``__init__`` parameter gives is a gate (its constructions decide);
    one that is readable and non-zero (a parameter's non-zero default) still counts."""

    def __init__(
        self,
        body: cst.CSTNode,
        init: cst.FunctionDef | None,
        zero: frozenset[str],
        attrs: dict[str, str],
    ) -> None:
        self.zero = zero
        self.attrs = attrs
        self.init = init
        self.body = body
        # read on first need (most bodies have no dropout to judge)
        self.params: dict[str, int] = {}
        self._required: frozenset[str] | None = None
        self.param_attrs: dict[str, str] = {}
        self._under: dict[int, list[cst.BaseExpression]] | None = None
        # `self.drop = nn.Dropout(...)`: the value's attribute, and where each is read
        self._held: dict[int, str] = {}
        self._uses: dict[str, list[cst.Attribute]] = {}
        # `self.dropout = 0.1` in `__init__`: a readable rate
        self._numbers: dict[str, cst.BaseExpression] = {}

    @property
    def required(self) -> frozenset[str]:
        """The ``__init__`` parameters with no default: every construction passes them, so
        a test of one gates what it guards."""
        if self._required is None:
            init = self.init
            self._required = (
                frozenset(
                    param.name.value
                    for param in (*init.params.params, *init.params.kwonly_params)
                    if param.default is None and param.name.value != "self"
                )
                if init is not None
                else frozenset()
            )
        return self._required

    def _guarded(self) -> dict[int, list[cst.BaseExpression]]:
        """Per node, the subjects of the tests it sits under (once, on first need)."""
        if self._under is not None:
            return self._under
        self._under = under = {}
        init = self.init
        self.params = params = init_params(init)
        self.param_attrs = _rate_attributes(init, params)
        for node in _walk(init) if init is not None else ():
            if (
                isinstance(node, cst.Assign)
                and len(node.targets) == 1
                and _self_attribute(node.targets[0].target)
                and isinstance(node.value, cst.Integer | cst.Float)
            ):
                self._numbers[node.targets[0].target.attr.value] = node.value  # type: ignore[attr-defined]
        targets: set[int] = set()
        for node in _walk(self.body):
            if isinstance(node, cst.Assign) and len(node.targets) == 1:
                target = node.targets[0].target
                if _self_attribute(target):
                    self._held[id(node.value)] = target.attr.value  # type: ignore[attr-defined]
                    targets.add(id(target))
            elif _self_attribute(node) and id(node) not in targets:
                self._uses.setdefault(node.attr.value, []).append(node)  # type: ignore[attr-defined]
            if isinstance(node, cst.If | cst.IfExp):
                subjects = _test_subjects(node.test)
                if subjects:
                    for inner in _walk(node.body):
                        under.setdefault(id(inner), []).extend(subjects)
            elif isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
                subjects = _test_subjects(node)
                if subjects:
                    for operand in (node.left, node.right):
                        for inner in _walk(operand):
                            under.setdefault(id(inner), []).extend(subjects)
        return under

    def verdict(self, node: cst.CSTNode, rate: cst.BaseExpression | None) -> str | None:
        """For a dropout layer (or a ``self.training`` read) ``node`` whose own ``rate``
        does not prove it acts: "" when a rate test it cannot read guards it (proves
        nothing), a gate parameter when an ``__init__`` parameter's test does, None when
        it counts (no such test, or a readable non-zero rate). A layer stored on ``self``
        whose every use is under such a test (``if self.args.dropout > 0: x =
        self.drop(x)``) acts only there: the same."""
        if rate is not None and _nonzero_number(rate):
            return None
        guarded = self._guarded()
        subjects = guarded.get(id(node))
        if subjects:
            return self._judge(subjects, rate)
        name = self._held.get(id(node))
        uses = self._uses.get(name, []) if name is not None else []
        if uses and all(self._judge(guarded.get(id(use), []), rate) == "" for use in uses):
            return ""
        return None

    def _judge(
        self, subjects: list[cst.BaseExpression], rate: cst.BaseExpression | None
    ) -> str | None:
        return judge_rate_tests(subjects, rate, _code, _subject_word, self._kind)

    def _kind(self, subject: cst.BaseExpression) -> str | None:
        if isinstance(subject, cst.Integer | cst.Float):
            return "" if _literal_zero(subject) else None
        name: str | None = None
        if isinstance(subject, cst.Name):
            name = subject.value
        elif isinstance(subject, cst.Attribute) and _self_attribute(subject):
            number = self._numbers.get(subject.attr.value)
            if number is not None:
                return "" if _literal_zero(number) else None
            name = self.attrs.get(subject.attr.value) or self.param_attrs.get(subject.attr.value)
        if name is None or name not in self.params:
            return ""  # `args.dropout`, `cfg["dropout"]`, a local: not readable here
        if name in self.zero or name in self.required:
            return name  # its constructions decide
        return None  # a parameter with a non-zero default: acts unless set to 0


def _self_attribute(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _functional_gate(call: cst.Call, zero: frozenset[str], attrs: dict[str, str]) -> str | None:
    """A functional dropout: "" when it does not follow the mode (no
    ``training=self.training``, a literal 0 rate), the gate it takes its rate from, None
    when it follows the mode."""
    training = _functional_training(call)
    if not (isinstance(training, cst.Attribute) and training.attr.value == "training"):
        return ""
    value = _keyword(call, "p")
    positional = [a for a in call.args if a.keyword is None]
    if value is None and len(positional) > 1 and not any(a.star for a in positional[:2]):
        value = positional[1].value
    if value is not None and not isinstance(value, cst.Name) and _is_zero_or_false(value):
        return ""
    if isinstance(value, cst.Name) and value.value in ("False", "None"):
        return ""
    return _self_rate(value, zero, attrs)


def _gate_test(node: cst.BaseExpression, attrs: dict[str, str]) -> str | None:
    """``self.rate`` / ``self.rate > 0`` / ``self.rate != 0``: the gate it tests."""
    if isinstance(node, cst.Comparison) and len(node.comparisons) == 1:
        target = node.comparisons[0]
        operator = target.operator
        if isinstance(target.comparator, cst.Integer | cst.Float) and isinstance(
            operator, cst.GreaterThan | cst.NotEqual
        ):
            node = node.left
        elif isinstance(node.left, cst.Integer | cst.Float) and isinstance(
            operator, cst.LessThan | cst.NotEqual
        ):
            node = target.comparator
        else:
            return None
    return _self_rate(node, frozenset(), attrs)


def _training_context(
    body: cst.CSTNode, scope, attrs: dict[str, str]
) -> tuple[set[int], dict[int, set[str]]]:
    """The ``.training`` reads that do not act (in an ``assert``, a functional dropout's
    ``training=``), and those gated by a rate test they are ``and``-ed with."""
    excused: set[int] = set()
    tested: dict[int, set[str]] = {}
    for node in _walk(body):
        if isinstance(node, cst.Assert):
            excused.update(id(n) for n in _walk(node.test))
        elif isinstance(node, cst.Call):
            qualified = scope.qualified_name(node.func) or ""
            if qualified.startswith("torch.nn.functional.") and "dropout" in qualified:
                training = _functional_training(node)
                if training is not None:
                    excused.add(id(training))
        elif isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.And):
            operands: list[cst.BaseExpression] = []
            pending: list[cst.BaseExpression] = [node]
            while pending:
                current = pending.pop()
                if isinstance(current, cst.BooleanOperation) and isinstance(
                    current.operator, cst.And
                ):
                    pending.extend((current.left, current.right))
                else:
                    operands.append(current)
            rates = {g for g in (_gate_test(o, attrs) for o in operands) if g}
            if rates:
                for operand in operands:
                    if isinstance(operand, cst.Attribute) and operand.attr.value == "training":
                        tested.setdefault(id(operand), set()).update(rates)
    return excused, tested


def _mode_switch(node: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    """``x.eval()`` / ``x.train(...)``: the switch and its receiver."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ("eval", "train")
    ):
        return node.func.attr.value, node.func.value
    return None


def _evaluated_here(body: cst.CSTNode) -> frozenset[int]:
    """The nodes of what a loader switches to eval mode itself: ``builder().eval()``, and
    ``net = builder(...)`` followed by ``net.eval()`` before ``net`` is bound again (also
    in the next binding's value: ``net = Wrap(net.eval())``), in a loader with no
    ``train()`` call at all (a wrapper's ``train()`` reaches what it holds). A
    module it then wraps them in holds an evaluated model (BigGAN's
    ``WrapInception(inception_v3(...).eval())``), not a layer in train mode."""
    bindings: dict[str, cst.BaseExpression] = {}
    evaluated: list[cst.BaseExpression] = []

    # in source order, without recursion: an assignment's value before its binding
    pending: list[cst.CSTNode | tuple[cst.Assign]] = [body]
    while pending:
        item = pending.pop()
        if isinstance(item, tuple):
            for target in item[0].targets:
                if isinstance(target.target, cst.Name):
                    bindings[target.target.value] = item[0].value
            continue
        node = item
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            continue  # a nested definition runs later, or never
        if isinstance(node, cst.Assign):
            pending.append((node,))
            pending.append(node.value)
            continue
        switch = _mode_switch(node)
        if switch is not None:
            kind, receiver = switch
            bound = bindings.get(receiver.value) if isinstance(receiver, cst.Name) else None
            if kind == "eval":
                evaluated.append(bound if bound is not None else receiver)
            else:
                return frozenset()  # a train() (of a wrapper, too) may undo any of them
        pending.extend(reversed(list(iter_children(node))))

    found: set[int] = set()
    for value in evaluated:
        if not isinstance(value, cst.Name):
            found.update(id(n) for n in _walk(value))
    return frozenset(found)


def _returns_evaluated(helper: FunctionInfo) -> bool:
    """A same-file loader that returns its model in eval mode (``return model.eval()``):
    a module built around it holds an evaluated model, not a layer of its own."""
    for node in _walk(helper.node):
        if isinstance(node, cst.Return) and node.value is not None:
            values = (
                [e.value for e in node.value.elements]
                if isinstance(node.value, cst.Tuple)
                else [node.value]
            )
            for value in values:
                if (
                    isinstance(value, cst.Call)
                    and isinstance(value.func, cst.Attribute)
                    and value.func.attr.value == "eval"
                ):
                    return True
    return False


def _walk(node: cst.CSTNode):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(iter_children(current))


def known_sensitivity(flow: Flow) -> KnownSensitivity:
    """The per-file instance, kept on the flow so it is computed at most once."""
    found = flow.extras.get("known_sensitivity")
    if found is None:
        found = flow.extras["known_sensitivity"] = KnownSensitivity(flow)
    return found


def mode_sensitivity(flow: Flow) -> ModeSensitivity:
    """The per-file instance, kept on the flow so it is computed at most once."""
    found = flow.extras.get("mode_sensitivity")
    if found is None:
        found = flow.extras["mode_sensitivity"] = ModeSensitivity(flow)
    return found
