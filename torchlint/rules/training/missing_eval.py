"""TL301 missing-eval."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

import libcst as cst

from torchlint.analysis.flow import (
    UNKNOWN,
    ClassInfo,
    Event,
    Flow,
    FunctionInfo,
    WithBlock,
    covers,
    evaluation_named,
    flow_of,
    unwrap_self_returning,
)
from torchlint.analysis.mode_sensitivity import known_sensitivity, mode_sensitivity
from torchlint.diagnostics import Applicability
from torchlint.names import is_docstring
from torchlint.rules.base import InsertLine, Invalid, PendingFix, Replace, Rule, Valid
from torchlint.rules.training._common import is_framework_hook
from torchlint.vocabulary import GRAD_OFF

EVALUATING = "torchlint.runtime.evaluating"
PREAMBLE = "from torchlint.runtime import evaluating"


def _caller_decides(flow: Flow, function: FunctionInfo, name: str, depth: int = 2) -> bool:
    """Whoever holds the model sets its mode: a module's own submodules (``self.x`` in a
    module's method), the models a class was handed rather than built (a pipeline's
    ``self.unet``), or a model passed in to a function no code of this file calls. A
    function named for evaluation (``evaluate``, ``validate``, ``test…``, ``predict``,
    ``infer…``) owns the mode of what it evaluates, unless a same-file caller set it."""
    root = name.split(".", 1)[0]
    if root == "self":
        cls = function.cls
        if cls is None:
            return False
        if cls.module_like:
            return True
        attribute = ".".join(name.split(".", 2)[:2])
        if _holder_switches(cls, attribute):
            return True
        return not evaluation_named(function.name) and "model" not in flow.kinds(
            function, attribute
        )
    if root not in function.params and function.local(root):
        # `model = self.unet`: a local copy of something whose holder sets the mode.
        sources = flow.aliases(function, root) if depth > 0 else None
        rest = name[len(root) :]
        return bool(sources) and all(
            source.split(".", 1)[0] != root
            and _caller_decides(flow, function, source + rest, depth - 1)
            for source in sources
        )
    if root not in function.params or flow.callers_of(function):
        return False
    if evaluation_named(function.name):
        return False
    # ... unless the function switches the mode itself: then it is the one that decides.
    return not any(
        e.kind in ("eval", "train", "mode", "scoped_eval") and covers(e.name, name)
        for e in flow.expanded(function)
    )


def _holder_switches(cls: ClassInfo, attribute: str) -> bool:
    """A class that is not a module but has mode switches of its own (``def eval(self):
    self.online_net.eval()``, ``def train(self): ...``) that reach ``attribute``: an RL
    agent, a GAN or trainer wrapper. Whoever holds it chooses the mode of its networks
    (``agent.train()`` while it explores, ``agent.eval()`` before a test); its own methods
    run in that mode, and an ``eval()`` of their own would override the holder's choice."""
    for method in (*cls.methods.get("eval", ()), *cls.methods.get("train", ())):
        if any(
            e.kind in ("eval", "train", "mode") and covers(e.name, attribute) for e in method.events
        ):
            return True
    return False


def _step_index(flow: Flow, function: FunctionInfo) -> tuple[dict, dict, dict]:
    """Per function, once: its ``backward()`` and optimizer steps by the loop whose own
    iteration runs them (None: its loop-free code; not those in a loop of a helper it
    calls), and its model calls with autograd on by name. A table of answers comes with
    them, so that many blocks of one function cost linear work."""
    table = flow.extras.setdefault("missing_eval.steps", {})
    found = table.get(id(function))
    if found is None:
        steps: dict[int | None, tuple[list[int], list[Event]]] = {}
        trained: dict[str, list[Event]] = {}
        for event in flow.expanded(function):
            if event.kind in ("backward", "step"):
                site = event.site
                if site is not None and site.callee is not None and site.callee.loops:
                    continue  # in a helper's loop: not this iteration
                key = id(event.loops[-1]) if event.loops else None
                indexes, events = steps.setdefault(key, ([], []))
                indexes.append(event.index)
                events.append(event)
            elif event.kind == "model" and event.grad != "off" and event.name != UNKNOWN:
                trained.setdefault(event.name, []).append(event)
        for indexes, events in steps.values():
            order = sorted(range(len(indexes)), key=indexes.__getitem__)
            indexes[:] = [indexes[i] for i in order]
            events[:] = [events[i] for i in order]
        found = table[id(function)] = (steps, trained, {})
    return found


def _training_step(flow: Flow, function: FunctionInfo, block: WithBlock, call: Event) -> bool:
    """The block is part of a training step of the model ``call`` calls: in one iteration
    (or a loop-free function) a ``backward()`` and an optimizer step come after it, the
    model is also called with autograd on there (it is the model being trained), and no
    ``if step % n`` guards the block that does not guard them too (a periodic look at the
    model, not a part of the step). What it computes feeds the loss or the data: a DQN's
    targets or actions, a GAN's fakes for the discriminator step, pseudo-labels. The train
    mode is the training's: ``eval()`` there would change the algorithm, not fix it."""
    loop = next((lp for lp in reversed(call.loops) if lp.start < block.start), None)
    steps, trained, answers = _step_index(flow, function)
    indexes, events = steps.get(id(loop) if loop is not None else None, ([], []))
    later = events[bisect_right(indexes, block.end) :]
    backward = next((e for e in later if e.kind == "backward"), None)
    step = next((e for e in later if e.kind == "step"), None)
    if backward is None or step is None:
        return False
    start = loop.start if loop is not None else -1
    guards = {g for g in call.guards if g > start}
    if not (guards <= set(backward.guards) and guards <= set(step.guards)):
        return False  # `if step % 100 == 0:` around the block alone: a periodic look
    key = (call.name, id(loop))
    if key not in answers:
        answers[key] = any(
            loop is None or loop in event.loops
            for name, calls in trained.items()
            if covers(call.name, name)
            for event in calls
        )
    return answers[key]


def _unevaluated(
    flow: Flow,
    function: FunctionInfo,
    positions: Iterable[int] | None = None,
    block: WithBlock | None = None,
) -> list[str]:
    """Model-like names called at ``positions`` of the function's events (all of them by
    default) without an earlier eval(); in a ``block`` that is part of a training step of
    the model (``_training_step``) none."""
    names: list[str] = []
    events = flow.expanded(function)
    sensitivity = mode_sensitivity(flow)
    for position in range(len(events)) if positions is None else positions:
        event = events[position]
        if event.kind != "model" or event.name == UNKNOWN:
            continue
        if event.name in names:
            continue
        rebound = flow.rebound(function, event.name, event.index, event.branches)
        if rebound is not None:
            # `model = GCNInference(weights)` before the call: the function runs its own
            # object, not the one its callers pass; only what it was bound to counts.
            if flow.evaluated_before(function, event.name, position):
                continue
            values = [r.value for r in rebound if not r.derived]
            if None in values or "." in event.name:
                continue  # a loop or `with` target, a tuple item, a part of it: unknown
            if not known_sensitivity(flow).sensitive_values(function, values):  # type: ignore[arg-type]
                continue
        else:
            if _caller_decides(flow, function, event.name):
                continue
            if event.name.split(".", 1)[0] not in function.params and sensitivity.insensitive(
                function, event.name
            ):
                continue  # built here from layers without dropout or batch norm: eval() is moot
            if flow.evaluated_before(function, event.name, position):
                continue
            if _evaluated_at_instance_calls(flow, function, event.name):
                continue
            if _evaluated_by_other_files(flow, function, event.name):
                continue
            if not known_sensitivity(flow).sensitive(function, event.name):
                continue  # a class it cannot see: maybe no dropout or batch norm at all
        if event.site is None and _reads_only_shape(flow, function, event.node):
            continue  # `backbone(torch.zeros(1, 3, 224, 224)).shape[1]`: no mode changes it
        if block is not None and _training_step(flow, function, block, event):
            continue  # a target or a GAN's fakes for the loss of this step: train mode is meant
        names.append(event.name)
    return names


_SHAPE_ATTRIBUTES = frozenset({"shape", "ndim"})
_SHAPE_METHODS = frozenset({"size", "dim"})


def _parents_and_names(
    flow: Flow, function: FunctionInfo
) -> tuple[dict[int, cst.CSTNode], dict[str, list[cst.Name]]]:
    """Each node's parent in ``function`` and its ``Name`` nodes by spelling: one walk per
    function, however many of its blocks are asked about."""
    table = flow.extras.setdefault("missing_eval.parents", {})
    found = table.get(id(function))
    if found is None:
        parents: dict[int, cst.CSTNode] = {}
        names: dict[str, list[cst.Name]] = {}
        stack: list[cst.CSTNode] = [function.node]
        while stack:
            node = stack.pop()
            for child in node.children:
                parents[id(child)] = node
                stack.append(child)
            if isinstance(node, cst.Name):
                names.setdefault(node.value, []).append(node)
        found = table[id(function)] = (parents, names)
    return found


def _reads_only_shape(flow: Flow, function: FunctionInfo, call: cst.CSTNode) -> bool:
    """The model's output is only measured (``.shape``, ``.size()``, ``.ndim``,
    ``len(...)``), directly or through the one name it is assigned to: a dummy input run
    to find an output size, which neither mode changes."""
    parents, loads = _parents_and_names(flow, function)
    target: str | None = None

    def measured(node: cst.CSTNode) -> bool:
        parent = parents.get(id(node))
        if isinstance(parent, cst.Attribute) and parent.value is node:
            if parent.attr.value in _SHAPE_ATTRIBUTES:
                return True
            grand = parents.get(id(parent))
            return (
                parent.attr.value in _SHAPE_METHODS
                and isinstance(grand, cst.Call)
                and grand.func is parent
            )
        if isinstance(parent, cst.Arg):
            grand = parents.get(id(parent))
            return (
                isinstance(grand, cst.Call)
                and isinstance(grand.func, cst.Name)
                and grand.func.value == "len"
            )
        return False

    if measured(call):
        return True
    parent = parents.get(id(call))
    if (
        isinstance(parent, cst.Assign)
        and len(parent.targets) == 1
        and isinstance(parent.targets[0].target, cst.Name)
    ):
        target = parent.targets[0].target.value
    if target is None:
        return False
    uses = [
        n
        for n in loads.get(target, [])
        if n is not parent.targets[0].target  # type: ignore[union-attr]
    ]
    read = False
    for use in uses:
        holder = parents.get(id(use))
        if isinstance(holder, cst.AssignTarget) or (
            isinstance(holder, cst.Attribute) and holder.attr is use
        ):
            continue  # another binding of the name, or `x.target` spelt the same
        if not measured(use):
            return False
        read = True
    return read


def _positions_in(flow: Flow, function: FunctionInfo, block: WithBlock) -> list[int]:
    """The positions of the function's events inside ``block``, in order (its events sorted
    by index once per function: a function of many blocks is not walked once per block)."""
    table = flow.extras.setdefault("missing_eval.by_index", {})
    entry = table.get(id(function))
    if entry is None:
        events = flow.expanded(function)
        order = sorted(range(len(events)), key=lambda position: events[position].index)
        entry = table[id(function)] = ([events[p].index for p in order], order)
    indexes, order = entry
    first, last = bisect_right(indexes, block.start), bisect_right(indexes, block.end)
    return sorted(order[first:last])


def _nested_off_blocks(flow: Flow, function: FunctionInfo) -> set[int]:
    """The grad-off blocks that start inside another one of the function (the outer one is
    reported): one sweep by start, not one scan of every block per block."""
    table = flow.extras.setdefault("missing_eval.nested", {})
    found = table.get(id(function))
    if found is None:
        found = table[id(function)] = set()
        blocks = sorted((b for b in function.withs if b.off_items), key=lambda b: b.start)
        reach = None  # the furthest end among blocks that start before the current start
        position = 0
        while position < len(blocks):
            start = blocks[position].start
            group = [b for b in blocks[position:] if b.start == start]
            if reach is not None and reach >= start:
                found.update(id(b) for b in group)
            ends = max(b.end for b in group)
            reach = ends if reach is None else max(reach, ends)
            position += len(group)
    return found


def _evaluated_at_instance_calls(flow: Flow, function: FunctionInfo, name: str) -> bool:
    """A method that no code of the file calls as ``self.m()``, but that is called as
    ``obj.m()`` on an instance of its class (a notebook's ``model.predict(x)`` in a later
    cell): ``name`` (a global, or ``self.x`` as ``obj.x``) is in eval mode at every such
    call. Its callers chose the mode, as a same-file caller's ``eval()`` would."""
    cls = function.cls
    if cls is None or flow.callers_of(function):
        return False
    root = name.split(".", 1)[0]
    if root != "self" and (root in function.params or function.local(root)):
        return False
    sites = flow.instance_calls.get(function.name)
    if not sites:
        return False
    for caller, site in sites:
        receiver = site.name.split(".", 1)[0]
        if not _instance_of(flow, caller, receiver, cls):
            return False
        mapped = receiver + name[len("self") :] if root == "self" else name
        events = flow.expanded(caller)
        position = sum(
            1 for e in events if (e.site.index if e.site is not None else e.index) < site.index
        )
        if not flow.evaluated_before(caller, mapped, position):
            return False
    return True


def _instance_of(flow: Flow, function: FunctionInfo, name: str, cls: ClassInfo) -> bool:
    """Every binding of ``name`` the file shows builds ``cls`` (``model = Net(...)``)."""
    owner = flow.owner(function, name)
    values = [
        value
        for where, target, value in flow._raw_assign
        if target == name and flow.owner(where, target) == owner
    ]
    return bool(values) and all(
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Name)
        and value.func.value == cls.node.name.value
        and flow.classes.get(value.func.value) == [cls]
        for value in (unwrap_self_returning(v) for v in values)
    )


def _evaluated_by_other_files(flow: Flow, function: FunctionInfo, name: str) -> bool:
    """A top-level function's parameter that a caller in another file of the project
    switches to eval mode before the call (``model.eval(); evaluate(model, loader)``)."""
    project = flow.project
    root = name.split(".", 1)[0]
    parent = function.parent
    if project is None or function.is_method or parent is None or not parent.is_module:
        return False
    if root not in function.params or function.name not in flow.module_defs:
        return False
    return project.evaluated_by_callers(function.name, function.params.index(root), root)


def _may_be_project(decorator: cst.BaseExpression) -> bool:
    """``@name``, ``@mod.name`` or either called: possibly a decorator of this project."""
    func = decorator.func if isinstance(decorator, cst.Call) else decorator
    return isinstance(func, (cst.Name, cst.Attribute))


class MissingEval(Rule):
    """
    ## What it does
    Reports a `torch.no_grad()` / `torch.inference_mode()` block (or a function decorated
    with one, or with a decorator of the project that wraps it in one) that calls a model-like
    object which is not in eval mode there: no `model.eval()` before it in the function or
    in a same-file caller, or a `model.train()` since (mode is tracked in order, also
    through helpers such as an `evaluate()` that restores train mode).

    Narrowed to the code that owns the model's mode (measured on real projects, most
    reports elsewhere were not worth a change):
    - a function named for evaluation (`evaluate`, `validate`, `test…`, `predict`,
      `infer…`) owns the mode of what it evaluates; other functions leave it to their
      callers when the model is a parameter and no caller is in the file;
    - a class that was handed its models (a diffusion pipeline's `self.unet`, or a local
      `model = self.unet`) leaves their mode to whoever loaded them; a module's own
      submodules follow the module;
    - a model from `from_pretrained(...)` (returned in eval mode), switched to eval before
      it is stored on `self`, or traced / scripted with `torch.jit` is not in train mode;
    - a model built in this file only from layers without dropout or batch norm
      (`nn.Linear`, `nn.LSTM` without dropout, ...) gives the same outputs in both modes;
      instance norm counts as such a layer even with `track_running_stats=True`: sampling
      a generator with each sample's own statistics (train mode) is a deliberate choice
      (StarGAN's samples degrade with the running statistics; 4 of 8 false reports on the
      projects of round 2026-12-07a were this).

    Other files of the project are read too (see "Project-wide facts" in the README): a
    class imported from the project is a model when it is an `nn.Module` subclass, and needs
    `eval()` only when it (or a layer class it uses) has dropout or batch norm; a project
    helper that leaves its argument in eval mode, a loader that returns its model after
    `eval()` and a class that calls `self.eval()` in `__init__` count as `eval()`; an
    evaluation function whose callers in other files switch the model to eval first is not
    reported.

    Reported only where the model's class is known and its behaviour depends on the mode:
    built in this file (a class of the file with dropout, batch norm, a `self.training`
    read or a layer of its own that has one; `nn.Sequential(..., nn.Dropout())`), a class
    of the project that does (its summary, see "Project-wide facts"), a torchvision model
    builder (`resnet18()`), or `from_pretrained(...)` (trained afterwards). A parameter's
    class is the one every same-file caller passes. A model of a class it cannot see
    (`torch.hub.load`, `timm.create_model`, a whole model from `torch.load`, a parameter no
    caller in the file passes, a class of another package) is not reported: it may have no
    dropout or batch norm at all, and on real projects most such reports were models whose
    mode is decided where no file of the project shows it.

    What counts as mode-dependent, in this file and through the project index alike:
    - a dropout (`nn.Dropout*`, a recurrent layer's `dropout=`, or `F.dropout(...,
      training=self.training)`) whose rate is not 0. One whose rate comes from an
      `__init__` parameter that defaults to 0 (`nn.Dropout(dropout)`, `F.dropout(x,
      p=self.dropout, training=self.training)`) counts only where the construction passes
      a non-zero number (`AttentiveFP(..., dropout=0.2)`), also through a class that passes
      its own rate on and a subclass without `__init__`; a rate it cannot read
      (`dropout=args.dropout`, `**config`) proves nothing. So does a dropout that exists
      or acts only under a test of a rate it cannot read: `if args.dropout > 0:
      self.drop = nn.Dropout(p=args.dropout)`, `nn.Dropout(p) if p > 0 else
      nn.Identity()` built with `p=cfg["p"]`, `if self.training and cfg.drop_rate > 0`,
      or a `self.drop` whose every use is under `if self.args.dropout > 0:` (see below);
    - batch norm (not instance norm);
    - a `self.training` read, except in an `assert`, as the `training=` of a functional
      dropout (its rate decides), or `and`-ed with a test of a rate that defaults to 0
      (`if self.training and self.noise_tau > 0`: counted as such a rate), or in a noise
      layer (below);
    - a submodule of a class that is one of these. Not followed: a class that is not an
      `nn.Module` (a holder such as lpips' `DistModel`: its networks are not submodules,
      so the holder's mode never reaches them), and a loader that returns its model in
      eval mode (`return model.eval()`: a module built around it, such as MiDaS'
      `MiDaSInference`, holds an evaluated model, not a layer of its own), nor what a
      loader of the file switches to eval mode itself before it wraps it (`net =
      inception_v3(...)` then `net = Wrap(net.eval())`, with no `train()` in the
      loader): the wrapper it returns holds an evaluated network.
    These narrowings removed the 5 false reports of the pooled labels of round 2026-12-07
    (library-style `GCN`/`GAT` and `AutoencoderRAE` under their default rates of 0, a
    wrapper around a loader that already calls `eval()`, a module holding a non-module
    that evaluates its own network) and kept the 4 true ones.

    A dropout under a test of its rate (`if args.dropout > 0:`, `if self.dropout:`, `if
    cfg.dropout != 0`, `nn.Dropout(p) if p > 0 else nn.Identity()`, or such a test
    around every use of the layer stored on `self`) exists or acts only when the rate is
    set: where the tested value cannot be read (an option, a config entry, an attribute
    stored from one) it proves nothing, as a rate it cannot read does; an evaluating
    script that never sets the option runs the same in both modes. A test counts as one
    of the rate when it tests the layer's own rate or a value named for one (`drop`,
    `rate`, `prob` in its name), by itself, compared with 0 (`> 0`, `!= 0`) or `and`-ed
    with other tests. An `__init__` parameter under the test is decided by the
    construction, as a rate that defaults to 0 is (`Head(8, p=0.3)` is reported,
    `Head(8, p=args.p)` is not). Still reported: a readable non-zero rate under such a
    test (`if args.use_dropout: nn.Dropout(0.5)`, or `self.p = 0.1` in `__init__` tested
    as `if self.p > 0`), a parameter's non-zero default, a test
    that is not of a rate (`if args.deep:`), a dropout with no test, and batch norm
    whatever the tests. The one false report of the latest unseen round (a model class
    of the project that builds and applies its dropout only `if args.dropout > 0`,
    evaluated by a script that never sets it) was this; these narrowings were made with
    it in view, so the next round measures them.

    A method that no code of the file calls as `self.predict(...)`, but that is called
    as `model.predict(x)` on an instance of its class (every binding of `model` the file
    shows builds that class) only where that object is in eval mode, is in eval mode: a
    notebook's `predict()` method that runs the model, called in a later cell right
    after `model.eval()` (gpytorch's deep GP examples). The mode its callers chose
    reaches it, as a same-file caller's `eval()` does. Still reported: one such call
    where the model is not in eval mode, and a method of that name called on an object
    of another class or one the file does not show.

    Two more kinds of code a maintainer writes on purpose, no longer reported:
    - train mode chosen for the evaluation (Monte Carlo dropout, uncertainty estimates, a
      comparison of the two modes): the last mode change before the call is an explicit
      `model.train()` / `model.train(True)` in the function's own code, outside any loop
      that runs a `backward()` or an optimizer step, with no training step between it and
      the call, even after an earlier `eval()`; or a loop over `model.modules()` (or
      `children()`) that names a dropout and calls `.train()` on what it picks
      (`enable_dropout(model)`), here or in a helper. Its stochastic passes are the point:
      `eval()` would turn them into one deterministic output. Still reported: a `train()`
      in a loop that trains (an epoch loop's restore after its validation) and the block
      after the loop, a `train()` followed by a training step before the block, and a
      helper's `train()` that restores the mode it found (`evaluate()` ending in
      `model.train()`). `model.train(False)` counts as `eval()`, and a `train()` followed
      by `eval()` before the call is an evaluated model, as before;
    - a model built with every dropout rate at a literal 0 (this extends the rate gates
      above to rates whatever their default): its class, of this file or of the project
      (its summary), depends on the mode only through dropout rates that its `__init__`
      parameters feed (`nn.Dropout(dropout)`, a recurrent or attention layer's
      `dropout=`, `F.dropout(x, self.p, training=self.training)`, a submodule of the
      file built with them), and the construction passes a literal `0` / `0.0` for each,
      positional or keyword, or leaves out one that defaults to 0
      (`Net(8, dropout=0.0, attn_dropout=0)`). `nn.Dropout(0.0)` itself counts as no
      dropout. Nothing it builds depends on the mode, so `eval()` changes nothing. Still
      reported: a rate of `0.1`, a rate from a variable (`dropout=args.dropout`) or
      `**config`, a rate left at a non-zero default, and a class with batch norm or a
      `self.training` branch of its own whatever its rates. Not followed: a project
      class whose rates reach a submodule class of another file (it stays reported).

    ## Why is this bad?
    `no_grad` only stops autograd from recording; it does not change the model's mode.
    Dropout keeps dropping activations and batch norm keeps normalising with the batch's
    statistics (and updating its running averages), so validation metrics are noisy and
    wrong, and predictions differ from run to run. Evaluation needs both `model.eval()` and
    `no_grad` / `inference_mode`.

    Opt-in (`extend-select = ["TL301"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 4 of 8 labelled reports that it still made were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were library
    models whose dropout rate defaults to 0 (PyG's `GCN`/`GAT`), and wrappers whose loader
    already returns a model in eval mode. The narrowing above (known mode-dependence only)
    takes it to 4 reports on the 71 projects of round 2026-12-07, all 4 labelled worth a
    change; those labels were read while tuning it, so the figure that decides the default
    set is the next unseen round's. On the two rounds fetched after it (2026-12-07e and 07f)
    it was right 1 of 5 times: a Rainbow DQN whose only mode-dependent layer is NoisyNet
    noise, applied on purpose when it picks actions (`eval()` would change the algorithm),
    and an evaluation function that rebinds its `model` parameter to an inference class
    before calling it (the rule followed the class the caller passed; it no longer does, see
    above). On round 2026-12-07g, after that, 0 of 3: another Rainbow DQN (Kaixhin/Rainbow),
    whose NoisyNet layers read `self.training` to add exploration noise the algorithm wants.
    A default rule must be right 90 % of the time on the next projects.

    Noise layers (NoisyNet, the exploration of Rainbow DQN) no longer count as
    mode-dependent: a class whose every `self.training` read is the test of an `if` whose
    training branch reads noise buffers that a method of its own (`reset_noise()`,
    `sample()`, not `forward`) refreshes from random numbers, and whose other branch does
    not. Its mode only turns on the exploration noise the algorithm resamples when it
    wants: acting and computing targets with it on is the algorithm (`eval()` there would
    change it, not fix it), and the agent switches it off where it wants greedy actions.
    All 5 still-made false reports of the pooled labels (cleanrl's and Kaixhin's Rainbow,
    0 of 5) were this. Still reported: noise drawn on every call in `forward` (a
    Gaussian-noise regulariser: only `eval()` stops it), and a noisy network that also has
    dropout or batch norm.

    Two more kinds of code, read on the same Rainbow reports (each covers some of them
    even where the noise layer is not recognised), no longer reported:
    - a `no_grad` block that is part of a training step of the model it calls: in the
      same loop iteration (or a loop-free function) a `backward()` and an optimizer step
      come after it, and the step also runs that model with autograd on. Its result feeds
      the step: a DQN's targets or the actions it explores with, a GAN's fakes for the
      discriminator step, pseudo-labels; train mode there is the training's. Still
      reported: a block after the step, one under an `if step % n` guard that the step
      does not share (a periodic look at the model), a validation before an inner
      training loop, and a model the step does not train (a distillation teacher);
    - a network held by a class that is not a module but has its own `eval()` /
      `train()` reaching it (an RL agent's `def eval(self): self.online_net.eval()`):
      whoever holds the agent chooses the mode its methods run in. Given up: an
      evaluation method of such a class whose callers never call its `eval()` (none on
      the labelled projects).

    ## Example
    ```python
    with torch.no_grad():
        logits = model(images)
    ```

    ## Use instead
    ```python
    from torchlint.runtime import evaluating

    with evaluating(model):
        logits = model(images)
    ```
    `evaluating(model)` switches the model to eval mode and autograd off for the block, and
    puts every submodule back in the mode it was in afterwards (it also works as a
    decorator). Without the runtime (`runtime-helpers = false`) the fix inserts
    `model.eval()` before the block.

    A parameter bound again in the function to another object before the call
    (`model = GCNInference(weights)`, a `for model in ...` or `with ... as model` target,
    on every path to the call) is no longer followed to what its callers pass: the call
    runs the function's own object, reported only where that one's class is known and
    mode-dependent, and a helper's call of it is not a call of the caller's model. A call
    before the rebinding, or after one made from the parameter itself (`model =
    model.to(device)`, `model = DDP(model)`), still reads the parameter. Two false reports
    of round 2026-12-07f (ogb's citation2 `cluster_gcn.py` and `graph_saint.py`, whose
    `test()` rebinds `model` to a numpy inference module) were this.

    In this narrow form it no longer reports, each a family of false
    reports read on real projects (the strict question of LABELLING.md): a model held by
    another module that was switched to eval (`disc = Discriminator(backbone)` then
    `disc.eval()`: `backbone` is its submodule; an EMA or `AveragedModel` holds a copy and
    does not count); a class whose only dropout takes its rate from an `__init__`
    parameter that defaults to 0 (`nn.Dropout(dropout)`, `dropout=0.0`) where the
    construction does not set it to a number; a model run only to measure its output
    (`.shape`, `.size()`, `len(...)`: a dummy input that finds a layer size).
    `model.train(False)` counts as `eval()`. On the 22 tuning projects this took it from 3
    reports to 1 (the one left: a script whose model adds noise in train mode when its
    `--noise_tau` option is set, and computes a validation loss without `eval()`).

    ## Fix safety
    Unsafe: the outputs change (that is the point), and `evaluating` uses
    `torch.inference_mode()`, whose tensors cannot be used by autograd later. A decorated
    function gets `@evaluating(model)` only when `model` is a module-level name bound before
    the function; otherwise no fix is offered.

    On round 2026-12-07h (16 projects fetched fresh, strict labels), before the latest
    narrowings above, it was right 0 of 1 times (a notebook whose `eval()` is in a later
    cell than the function that runs the model). Those narrowings were made after that round
    was fetched and partly with its labels in view: it no longer measures them, the next
    round will.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval
    - https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html
    """

    code = "TL301"
    name = "missing-eval"
    default = False
    applies_to_tests = False
    summary = "Model called under `no_grad` without `model.eval()`: dropout and batch norm still act as in training"
    fix_applicability = Applicability.UNSAFE
    requires = ("no_grad", "inference_mode")
    after_walk = "flow"  # reads the training-loop index: its visits run after the walk
    examples = (
        Invalid(
            """
            import torch
            from torch import nn
            def validate(model, loader):
                with torch.no_grad():
                    for x, y in loader:
                        out = model(x)

            def main(loader):
                model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2))
                validate(model, loader)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            def validate(model, loader):
                with evaluating(model):
                    for x, y in loader:
                        out = model(x)

            def main(loader):
                model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.2))
                validate(model, loader)
            """,
        ),
        Invalid(
            """
            import torch
            import torchvision
            class Trainer:
                def __init__(self):
                    self.model = torchvision.models.resnet18()

                def validate(self, batch):
                    with torch.inference_mode():
                        return self.model(batch)
            """,
            fixed="""
            import torch
            import torchvision
            class Trainer:
                def __init__(self):
                    self.model = torchvision.models.resnet18()

                def validate(self, batch):
                    self.model.eval()
                    with torch.inference_mode():
                        return self.model(batch)
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            import torch
            from torch import nn
            net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))

            @torch.no_grad()
            def predict(x):
                return net(x)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))

            @evaluating(net)
            def predict(x):
                return net(x)
            """,
        ),
        Invalid(
            """
            import torch
            from torchvision.models import resnet50
            class Runner:
                def __init__(self):
                    self.model = resnet50(weights="DEFAULT")

                @torch.no_grad()
                def predict(self, x):
                    return self.model(x)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 2)
                    self.bn = nn.BatchNorm1d(8)

                def forward(self, x):
                    return self.fc(self.bn(x))

            def train(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    score = model(x)

            train(Net(), loader, optimizer)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 2)
                    self.bn = nn.BatchNorm1d(8)

                def forward(self, x):
                    return self.fc(self.bn(x))

            def train(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x).sum().backward()
                    optimizer.step()
                with evaluating(model):
                    score = model(x)

            train(Net(), loader, optimizer)
            """,
        ),
        Invalid(
            """
            from torch import no_grad
            from transformers import AutoModel
            model = AutoModel.from_pretrained("bert-base-uncased")
            model.train()
            for batch in loader:
                model(**batch).loss.backward()
                optimizer.step()
            with no_grad():
                features = model(ids)
            """,
            fixed="""
            from torchlint.runtime import evaluating
            from transformers import AutoModel
            model = AutoModel.from_pretrained("bert-base-uncased")
            model.train()
            for batch in loader:
                model(**batch).loss.backward()
                optimizer.step()
            with evaluating(model):
                features = model(ids)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Tagger(nn.Module):
                def forward(self, x):
                    return x if self.training else x.round()

            def evaluate(model, loader):
                with torch.no_grad():
                    return [model(x) for x, _ in loader]

            evaluate(Tagger(), loader)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Tagger(nn.Module):
                def forward(self, x):
                    return x if self.training else x.round()

            def evaluate(model, loader):
                with evaluating(model):
                    return [model(x) for x, _ in loader]

            evaluate(Tagger(), loader)
            """,
        ),
        Valid(
            """
            import torch
            import torchvision.models as models
            def compare(model, x):
                model.eval()
                with torch.no_grad():
                    before = model(x)
                model.train()  # on purpose: the output in each mode
                with torch.no_grad():
                    after = model(x)
                return before, after

            compare(models.resnet18(), x)
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            def evaluate(net, x):
                net.eval()
                with torch.no_grad():
                    out = net(x)
                net.train()
                return out

            def report(model, x):
                evaluate(model, x)
                with torch.no_grad():
                    return model(x)

            report(nn.Sequential(nn.Linear(4, 4), nn.Dropout()), x)
            """,
            fixed="""
            import torch
            from torch import nn
            from torchlint.runtime import evaluating
            def evaluate(net, x):
                net.eval()
                with torch.no_grad():
                    out = net(x)
                net.train()
                return out

            def report(model, x):
                evaluate(model, x)
                with evaluating(model):
                    return model(x)

            report(nn.Sequential(nn.Linear(4, 4), nn.Dropout()), x)
            """,
        ),
        Invalid(
            """
            import functools
            import torch
            from torch import nn
            def inference(fn):
                @functools.wraps(fn)
                def wrapper(*args, **kwargs):
                    with torch.inference_mode():
                        return fn(*args, **kwargs)
                return wrapper

            @inference
            def predict(model, x):
                return model(x)

            predict(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), x)
            """,
            fixed=None,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(x)

            def test(model, x):
                with torch.no_grad():
                    out = model(x)
                model = nn.Identity()
                return out, model(x)

            test(Net(), x)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(x)

            def test(model, x):
                with evaluating(model):
                    out = model(x)
                model = nn.Identity()
                return out, model(x)

            test(Net(), x)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(x)

            def test(model, x, device):
                model = model.to(device)
                with torch.no_grad():
                    return model(x)

            test(Net(), x, "cuda")
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.drop(x)

            def test(model, x, device):
                model = model.to(device)
                with evaluating(model):
                    return model(x)

            test(Net(), x, "cuda")
            """,
        ),
        Valid(
            """
            from torch import no_grad
            student_model, teacher_model = load_models()
            with no_grad():
                # models of a class it cannot see: perhaps no dropout or batch norm at all
                gap = student_model(x) - teacher_model(x)
            """
        ),
        Valid(
            """
            import torch
            def evaluate(model, loader):
                # no caller in this file: the model's class is not known
                with torch.no_grad():
                    return [model(x) for x, _ in loader]
            """
        ),
        Valid(
            """
            import torch
            def validate(model, loader):
                model.eval()
                with torch.no_grad():
                    for x, y in loader:
                        out = model(x)
            """
        ),
        Valid(
            """
            import torch
            class Img2ImgPipeline:
                # a pipeline holds the models it was handed: whoever loaded them set the mode
                def __init__(self, unet, image_encoder):
                    self.unet = unet
                    self.image_encoder = image_encoder

                @torch.no_grad()
                def __call__(self, image):
                    dtype = next(self.image_encoder.parameters()).dtype
                    return self.image_encoder(image.to(dtype))
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Regressor(nn.Module):
                # no dropout, no batch norm: eval() would change nothing
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 500)
                    self.fc2 = nn.Linear(500, 10)

                def forward(self, x):
                    return self.fc2(torch.relu(self.fc1(x)))

            model = Regressor()
            with torch.no_grad():
                out = model(images)
            """
        ),
        Valid(
            """
            import torch
            class TwoStagePipeline:
                def __init__(self, transformer, transformer_2):
                    self.transformer = transformer
                    self.transformer_2 = transformer_2

                @torch.no_grad()
                def __call__(self, latents, boundary):
                    for t in range(50):
                        if t < boundary:
                            current_model = self.transformer
                        else:
                            current_model = self.transformer_2
                        latents = current_model(latents, t)
                    return latents
            """
        ),
        Valid(
            """
            import torch
            from transformers import AutoModelForCausalLM
            model = AutoModelForCausalLM.from_pretrained("gpt2")  # returned in eval mode
            with torch.no_grad():
                logits = model(ids).logits
            """
        ),
        Valid(
            """
            import torch
            class Captioner:
                def __init__(self):
                    model = build_model()
                    model.eval()
                    self.model = model

                @torch.no_grad()
                def predict(self, x):
                    return self.model(x)
            """
        ),
        Valid(
            """
            import torch
            traced_model = torch.jit.trace(model.eval(), example)
            with torch.no_grad():
                out = traced_model(x)
            """
        ),
        Valid(
            """
            import torch
            def run_validation(model, loader):
                with torch.no_grad():
                    return [model(x) for x, _ in loader]

            def fit(model, loader):
                model.eval()
                return run_validation(model, loader)
            """
        ),
        Valid(
            """
            import torch
            class Distiller:
                def __init__(self, teacher_net):
                    self.teacher_net = teacher_net
                    self.teacher_net.eval()

                def loss(self, x):
                    with torch.no_grad():
                        target = self.teacher_net(x)
                    return target
            """
        ),
        Valid(
            """
            import torch
            class LitModel:
                def validation_step(self, batch, batch_idx):
                    with torch.no_grad():
                        return self.model(batch)
            """
        ),
        Valid(
            """
            import torch
            def update_ema(ema_model, model):
                with torch.no_grad():
                    for e, p in zip(ema_model.parameters(), model.parameters()):
                        e.mul_(0.99).add_(p, alpha=0.01)
            """
        ),
        Valid(
            """
            import torch
            from torchlint.runtime import evaluating
            def validate(model, x):
                with evaluating(model):
                    return model(x)
            """
        ),
        Valid(
            """
            from torch import nn
            import torch
            def score(layer: nn.Linear, loss_fn, x, y):
                with torch.no_grad():
                    return loss_fn(layer(x), y)
            """
        ),
        Valid(
            """
            import torch
            def clean_accuracy(model, x, y):
                # a library function: its callers (in other files) choose the model's mode
                with torch.no_grad():
                    return (model(x).argmax(1) == y).float().mean()
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Tagger(nn.Module):
                def predict(self, x):
                    with torch.no_grad():
                        return self.dropout(self.encoder(x))
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(dropout)

            def main(loader, optimizer):
                model = Head(8, dropout=0.3)  # the dropout is switched on here
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(dropout)

            def main(loader, optimizer):
                model = Head(8, dropout=0.3)  # the dropout is switched on here
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    return model(x)
            """,
            settings={"runtime-helpers": False},
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(dropout)  # off unless a caller sets a rate

            def main(loader, optimizer):
                model = Head(8)
                for x, y in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Critic(nn.Module):
                def __init__(self, backbone):
                    super().__init__()
                    self.backbone = backbone
                    self.head = nn.Linear(8, 1)

            def main(loader, optimizer):
                backbone = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.1))
                critic = Critic(backbone).train()  # backbone is its submodule
                for x in loader:
                    critic(x).sum().backward()
                    optimizer.step()
                critic.eval()
                with torch.no_grad():
                    return backbone(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            def main(loader, optimizer):
                model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                model.train(False)
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            def output_dim(loader, optimizer):
                backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
                with torch.inference_mode():
                    out = backbone(torch.zeros(1, 3, 32, 32))  # only its size is read
                    return out.shape[1]
            """
        ),
        Valid(
            """
            import torch
            from mylib import build_model  # a class it cannot see

            def main(loader, optimizer):
                model = build_model()
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            def set_mode(model, training):
                model.train(training)

            def evaluate(model, x):
                set_mode(model, False)
                with torch.no_grad():
                    return model(x)
            """
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            from torch import nn
            class Net(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.dropout = dropout

                def forward(self, x):
                    return self.fc(F.dropout(x, p=self.dropout, training=self.training))

            model = Net(8, dropout=0.2)  # the functional dropout follows the mode

            @torch.no_grad()
            def test(x):
                return model(x)
            """,
            fixed="""
            import torch.nn.functional as F
            from torch import nn
            from torchlint.runtime import evaluating
            class Net(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.dropout = dropout

                def forward(self, x):
                    return self.fc(F.dropout(x, p=self.dropout, training=self.training))

            model = Net(8, dropout=0.2)  # the functional dropout follows the mode

            @evaluating(model)
            def test(x):
                return model(x)
            """,
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            from torch import nn
            class Net(nn.Module):
                def __init__(self, dim, dropout=0.0):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.dropout = dropout

                def forward(self, x):
                    assert x.dim() == 2 or not self.training
                    return self.fc(F.dropout(x, p=self.dropout, training=self.training))

            model = Net(8)  # dropout 0.0: the same in both modes

            @torch.no_grad()
            def test(x):
                return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Encoder(nn.Module):
                def __init__(self, noise_tau=0.0):
                    super().__init__()
                    self.fc = nn.Linear(8, 8)
                    self.noise_tau = float(noise_tau)

                def forward(self, x):
                    z = self.fc(x)
                    if self.training and self.noise_tau > 0:
                        z = z + self.noise_tau * torch.randn_like(z)
                    return z

            model = Encoder()  # no noise unless a caller sets noise_tau

            @torch.no_grad()
            def test(x):
                return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            from torch_geometric.nn.models import GCN  # a library class: its dropout is 0

            def main(data, optimizer):
                model = GCN(16, 32, num_layers=2, out_channels=7)
                for _ in range(10):
                    model(data.x, data.edge_index).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(data.x, data.edge_index)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Backbone(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))

            def load_model(path):
                model = Backbone()
                model.load_state_dict(torch.load(path, weights_only=True))
                return model.eval(), path

            class DepthInference(nn.Module):
                # wraps a model that its loader returns in eval mode: no layer of its own
                def __init__(self, path):
                    super().__init__()
                    self.model, _ = load_model(path)

                def forward(self, x):
                    return self.model(x)

            detector = DepthInference("midas.pt")
            with torch.no_grad():
                depth = detector(image)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class DistModel:  # not a module: holds a network and sets its mode itself
                def __init__(self):
                    self.net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
                    self.net.eval()

                def forward(self, a, b):
                    return (self.net(a) - self.net(b)).abs().mean()

            class PerceptualLoss(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.model = DistModel()

                def forward(self, a, b):
                    return self.model.forward(a, b)

            percept = PerceptualLoss()
            with torch.no_grad():
                distance = percept(x, y)
            """
        ),
        Valid(
            """
            import numpy
            import torch
            from torch import nn
            class GCN(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = nn.Linear(8, 8)
                    self.drop = nn.Dropout(0.5)

                def forward(self, x):
                    return self.lin(self.drop(x))

            class Inference(nn.Module):
                def __init__(self, weight):
                    super().__init__()
                    self.weight = weight

                def forward(self, x):
                    return numpy.clip(x @ self.weight, 0, None)

            @torch.no_grad()
            def test(model, x):
                weight = model.lin.weight.t()
                model = Inference(weight)
                return model(x)

            def run(model, x):
                for model in (nn.Identity(), nn.Identity()):
                    x = model(x)
                return x

            net = GCN()
            test(net, x)
            with torch.no_grad():
                run(net, x)
            """
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            from torch import nn
            class NoisyLinear(nn.Module):  # NoisyNet: the mode switches exploration noise
                def __init__(self, n_in, n_out):
                    super().__init__()
                    self.weight_mu = nn.Parameter(torch.empty(n_out, n_in).uniform_(-0.1, 0.1))
                    self.weight_sigma = nn.Parameter(torch.full((n_out, n_in), 0.017))
                    self.register_buffer("weight_epsilon", torch.empty(n_out, n_in))
                    self.reset_noise()

                def reset_noise(self):  # the agent resamples the noise when it wants
                    self.weight_epsilon.normal_()

                def forward(self, x):
                    if self.training:
                        return F.linear(x, self.weight_mu + self.weight_sigma * self.weight_epsilon)
                    return F.linear(x, self.weight_mu)

            q_network = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), NoisyLinear(64, 2))

            def act(obs):
                with torch.no_grad():  # noisy on purpose: that is the exploration
                    return q_network(obs).argmax(dim=1)
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class GaussianNoise(nn.Module):  # noise drawn on every call: only eval() stops it
                def __init__(self, sigma=0.1):
                    super().__init__()
                    self.sigma = sigma

                def forward(self, x):
                    if self.training:
                        return x + self.sigma * torch.randn_like(x)
                    return x

            model = nn.Sequential(nn.Linear(4, 64), GaussianNoise(), nn.Linear(64, 2))

            def validate(x):
                with torch.no_grad():
                    return model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            from torchlint.runtime import evaluating
            class GaussianNoise(nn.Module):  # noise drawn on every call: only eval() stops it
                def __init__(self, sigma=0.1):
                    super().__init__()
                    self.sigma = sigma

                def forward(self, x):
                    if self.training:
                        return x + self.sigma * torch.randn_like(x)
                    return x

            model = nn.Sequential(nn.Linear(4, 64), GaussianNoise(), nn.Linear(64, 2))

            def validate(x):
                with evaluating(model):
                    return model(x)
            """,
        ),
        Valid(
            """
            import torch
            from torch import nn
            netG = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 4))
            netD = nn.Sequential(nn.Linear(4, 1))

            def train(loader, opt_d, opt_g):
                for real in loader:
                    z = torch.randn(64, 8)
                    with torch.no_grad():  # the fakes of the discriminator step
                        fake = netG(z)
                    loss_d = netD(fake).mean() - netD(real).mean()
                    loss_d.backward()
                    opt_d.step()
                    loss_g = -netD(netG(z)).mean()  # the generator trains in this step
                    loss_g.backward()
                    opt_g.step()
            """
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            from torchvision.models import resnet18, resnet50

            teacher = resnet50()
            student = resnet18()

            def distill(loader, optimizer):
                for x, y in loader:
                    with torch.no_grad():  # the teacher is not trained here: its batch norm
                        soft = teacher(x).softmax(1)  # should use its running statistics
                    loss = F.kl_div(student(x).log_softmax(1), soft, reduction="batchmean")
                    loss.backward()
                    optimizer.step()
            """,
            fixed="""
            import torch.nn.functional as F
            from torchlint.runtime import evaluating
            from torchvision.models import resnet18, resnet50

            teacher = resnet50()
            student = resnet18()

            def distill(loader, optimizer):
                for x, y in loader:
                    with evaluating(teacher):  # the teacher is not trained here: its batch norm
                        soft = teacher(x).softmax(1)  # should use its running statistics
                    loss = F.kl_div(student(x).log_softmax(1), soft, reduction="batchmean")
                    loss.backward()
                    optimizer.step()
            """,
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Agent:  # not a module: its own train()/eval() set its network's mode
                def __init__(self):
                    self.online_net = nn.Sequential(nn.Linear(4, 64), nn.Dropout(0.1))

                def act(self, state):
                    with torch.no_grad():
                        return self.online_net(state).argmax(1)

                def train(self):
                    self.online_net.train()

                def eval(self):
                    self.online_net.eval()
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 8)
                    self.drop = nn.Dropout(0.3)

                def forward(self, x):
                    return self.drop(self.fc(x))

            def enable_dropout(model):  # Monte Carlo dropout: only the dropout layers
                for module in model.modules():
                    if isinstance(module, nn.Dropout):
                        module.train()

            def fit_and_estimate(model, loader, optimizer, x, passes=20):
                for batch, target in loader:
                    nn.functional.mse_loss(model(batch), target).backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    mean = model(x)
                model.train(True)  # train mode on purpose: stochastic passes
                with torch.no_grad():
                    samples = torch.stack([model(x) for _ in range(passes)])
                model.eval()
                enable_dropout(model)
                with torch.no_grad():
                    spread = torch.stack([model(x) for _ in range(passes)]).std(0)
                return mean, samples, spread

            fit_and_estimate(Net(), loader, optimizer, x)
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3))

            def fit(loader, optimizer, x):
                for epoch in range(10):
                    for batch, target in loader:
                        nn.functional.mse_loss(model(batch), target).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        print(model(x))
                    model.train()  # back to training for the next epoch
                with torch.no_grad():  # after the loop: still in train mode
                    return model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            from torchlint.runtime import evaluating
            model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3))

            def fit(loader, optimizer, x):
                for epoch in range(10):
                    for batch, target in loader:
                        nn.functional.mse_loss(model(batch), target).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        print(model(x))
                    model.train()  # back to training for the next epoch
                with evaluating(model):  # after the loop: still in train mode
                    return model(x)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3))

            def fit(loader, optimizer, x):
                model.eval()
                with torch.no_grad():
                    before = model(x)
                model.train()  # trained after it: the train() is the training's
                for batch, target in loader:
                    nn.functional.mse_loss(model(batch), target).backward()
                    optimizer.step()
                with torch.no_grad():
                    return before, model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            from torchlint.runtime import evaluating
            model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.3))

            def fit(loader, optimizer, x):
                model.eval()
                with torch.no_grad():
                    before = model(x)
                model.train()  # trained after it: the train() is the training's
                for batch, target in loader:
                    nn.functional.mse_loss(model(batch), target).backward()
                    optimizer.step()
                with evaluating(model):
                    return before, model(x)
            """,
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            from torch import nn
            class Block(nn.Module):
                def __init__(self, dim, dropout=0.1):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)
                    self.drop = nn.Dropout(dropout)

                def forward(self, x):
                    return self.drop(self.fc(x))

            class Net(nn.Module):  # every dropout rate comes from its arguments
                def __init__(self, dim, dropout=0.5, attn_dropout=0.1):
                    super().__init__()
                    self.blocks = nn.ModuleList([Block(dim, dropout) for _ in range(2)])
                    self.attn_dropout = attn_dropout

                def forward(self, x):
                    for block in self.blocks:
                        x = block(x)
                    return F.dropout(x, p=self.attn_dropout, training=self.training)

            net = Net(8, 0.0, attn_dropout=0)  # no dropout at all: eval() changes nothing
            head = nn.Sequential(nn.Linear(8, 2), nn.Dropout(p=0.0))

            def test(x):
                with torch.no_grad():
                    return head(net(x))
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self, dim, dropout=0.5, attn_dropout=0.1):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)
                    self.drop = nn.Dropout(dropout)
                    self.attn = nn.MultiheadAttention(dim, 2, dropout=attn_dropout)

            net = Net(8, dropout=0.0)  # attn_dropout keeps its default of 0.1
            tuned = Net(8, dropout=0.1, attn_dropout=0.0)
            configured = Net(8, dropout=rate, attn_dropout=0.0)

            def test(x):
                with torch.no_grad():
                    return net(x), tuned(x), configured(x)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Net(nn.Module):
                def __init__(self, dim, dropout=0.5, attn_dropout=0.1):
                    super().__init__()
                    self.fc = nn.Linear(dim, dim)
                    self.drop = nn.Dropout(dropout)
                    self.attn = nn.MultiheadAttention(dim, 2, dropout=attn_dropout)

            net = Net(8, dropout=0.0)  # attn_dropout keeps its default of 0.1
            tuned = Net(8, dropout=0.1, attn_dropout=0.0)
            configured = Net(8, dropout=rate, attn_dropout=0.0)

            def test(x):
                with evaluating(net, tuned, configured):
                    return net(x), tuned(x), configured(x)
            """,
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Normed(nn.Module):  # batch norm: eval() matters whatever the rate
                def __init__(self, dropout=0.5):
                    super().__init__()
                    self.bn = nn.BatchNorm1d(8)
                    self.drop = nn.Dropout(dropout)

            model = Normed(dropout=0.0)

            @torch.no_grad()
            def predict(x):
                return model(x)
            """,
            fixed="""
            from torch import nn
            from torchlint.runtime import evaluating
            class Normed(nn.Module):  # batch norm: eval() matters whatever the rate
                def __init__(self, dropout=0.5):
                    super().__init__()
                    self.bn = nn.BatchNorm1d(8)
                    self.drop = nn.Dropout(dropout)

            model = Normed(dropout=0.0)

            @evaluating(model)
            def predict(x):
                return model(x)
            """,
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self, args):
                    super().__init__()
                    self.args = args
                    self.fc = nn.Linear(8, 2)
                    if args.dropout > 0:  # a rate it cannot read: the layer may not exist
                        self.drop = nn.Dropout(p=args.dropout)

                def forward(self, x):
                    x = self.fc(x)
                    if self.args.dropout > 0:
                        x = self.drop(x)
                    return x

            def main(args, loader, optimizer):
                model = Net(args)
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, p):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

            def main(cfg, loader, optimizer):
                model = Head(8, cfg["p"])  # the rate its test reads is not readable here
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            from torchvision.models import inception_v3
            class Wrap(nn.Module):
                def __init__(self, net):
                    super().__init__()
                    self.net = net

            def load_net():
                net = inception_v3()
                net = Wrap(net.eval())  # what it wraps is already in eval mode
                return net

            def activations(x):
                net = load_net()
                with torch.no_grad():
                    return net(x)
            """
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.drop = nn.Dropout(0.2)

                def predict(self, x):  # a notebook cell
                    with torch.no_grad():
                        return model(x)

            model = Net()
            model.train()
            # ... a training cell ...
            model.eval()  # the cell that calls it
            mean = model.predict(x)
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, p):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

            def main(loader, optimizer):
                model = Head(8, 0.3)  # the tested rate is readable and not 0
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            class Head(nn.Module):
                def __init__(self, dim, p):
                    super().__init__()
                    self.fc = nn.Linear(dim, 2)
                    self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

            def main(loader, optimizer):
                model = Head(8, 0.3)  # the tested rate is readable and not 0
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    return model(x)
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self, args):
                    super().__init__()
                    self.fc = nn.Linear(8, 2)
                    if args.use_dropout:  # a flag: the rate itself is readable
                        self.drop = nn.Dropout(0.5)

            def main(args, loader, optimizer):
                model = Net(args)
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                with torch.no_grad():
                    return model(x)
            """,
            fixed="""
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self, args):
                    super().__init__()
                    self.fc = nn.Linear(8, 2)
                    if args.use_dropout:  # a flag: the rate itself is readable
                        self.drop = nn.Dropout(0.5)

            def main(args, loader, optimizer):
                model = Net(args)
                for x in loader:
                    model(x).sum().backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    return model(x)
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            import torch
            from torch import nn
            from torchvision.models import inception_v3
            class Wrap(nn.Module):
                def __init__(self, net):
                    super().__init__()
                    self.net = net

            def load_net():
                net = inception_v3()
                net.eval()
                net = Wrap(net)
                net.train()  # the whole model back in train mode
                return net

            def activations(x):
                net = load_net()
                with torch.no_grad():
                    return net(x)
            """,
            fixed="""
            import torch
            from torch import nn
            from torchvision.models import inception_v3
            class Wrap(nn.Module):
                def __init__(self, net):
                    super().__init__()
                    self.net = net

            def load_net():
                net = inception_v3()
                net.eval()
                net = Wrap(net)
                net.train()  # the whole model back in train mode
                return net

            def activations(x):
                net = load_net()
                net.eval()
                with torch.no_grad():
                    return net(x)
            """,
            settings={"runtime-helpers": False},
        ),
    )

    def _flow(self) -> Flow:
        return flow_of(self.context)

    def visit_With(self, node: cst.With) -> None:
        if not any(self._grad_off(item.item) for item in node.items):
            return
        flow = self._flow()
        block = flow.with_by_node.get(id(node))
        if block is None or not block.off_items:
            return
        function = block.function
        if is_framework_hook(function) or flow.runs_without_grad(function, depth=0):
            return  # a no_grad decorator (reported on the def) or the framework did it
        if id(block) in _nested_off_blocks(flow, function):
            return  # the outer no_grad block is the one reported
        names = _unevaluated(flow, function, _positions_in(flow, function, block), block)
        if names:
            self.report(node, self._message(names), self._with_fix(node, block, names, function))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        # A grad-off decorator: torch's, or the project's (the flow reads it).
        if not any(
            self._grad_off(d.decorator) or _may_be_project(d.decorator) for d in node.decorators
        ):
            return
        flow = self._flow()
        function = flow.function(node)
        if function is None or function.grad_decorator is None or is_framework_hook(function):
            return
        if any(e.kind == "scoped_eval" for e in function.events):
            return  # @evaluating(...)
        names = _unevaluated(flow, function)
        if names:
            self.report(node, self._message(names), self._def_fix(node, function, names))

    def _grad_off(self, expr: cst.BaseExpression) -> bool:
        """Could be ``torch.no_grad()`` / ``torch.inference_mode()`` (the flow decides)."""
        func = expr.func if isinstance(expr, cst.Call) else expr
        return self.qualified_name(func) in GRAD_OFF

    @staticmethod
    def _message(names: list[str]) -> str:
        listed = ", ".join(f"`{n}`" for n in names)
        calls = " / ".join(f"`{n}.eval()`" for n in names)
        return (
            f"{listed} called under `no_grad` without {calls} first: dropout and batch norm "
            "still act as in training"
        )

    def _with_fix(
        self, node: cst.With, block, names: list[str], function: FunctionInfo
    ) -> PendingFix | None:
        if self.context.settings.runtime_helpers:
            if len(block.off_items) != 1 or block.off_items[0].asname is not None:
                return None
            if not function.scope.can_use("evaluating", EVALUATING):
                return None
            item = block.off_items[0]
            return self.fix(
                Applicability.UNSAFE,
                f"Use `with evaluating({', '.join(names)}):`",
                Replace(item.item, f"evaluating({', '.join(names)})"),
                preamble=[PREAMBLE],
            )
        return self.fix(
            Applicability.UNSAFE,
            "Call " + ", ".join(f"`{n}.eval()`" for n in names) + " before the block",
            InsertLine(node, "\n".join(f"{n}.eval()" for n in names)),
        )

    def _def_fix(
        self, node: cst.FunctionDef, function: FunctionInfo, names: list[str]
    ) -> PendingFix | None:
        decorator = function.grad_decorator
        assert decorator is not None
        if self.context.settings.runtime_helpers:
            if not self._grad_off(decorator.decorator):
                return None  # a project's own decorator: keep it, it may do more
            flow = self._flow()
            if function.is_method or not (function.parent and function.parent.is_module):
                return None
            if not all(self._global_before(flow, function, n) for n in names):
                return None
            if not flow.module_info.scope.can_use("evaluating", EVALUATING):
                return None
            return self.fix(
                Applicability.UNSAFE,
                f"Use `@evaluating({', '.join(names)})`",
                Replace(decorator.decorator, f"evaluating({', '.join(names)})"),
                preamble=[PREAMBLE],
            )
        body = node.body
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        statements = list(body.body)
        first = statements[0]
        if is_docstring(first):
            if len(statements) < 2:
                return None
            first = statements[1]
        return self.fix(
            Applicability.UNSAFE,
            "Call " + ", ".join(f"`{n}.eval()`" for n in names) + " first",
            InsertLine(first, "\n".join(f"{n}.eval()" for n in names)),
        )

    def _global_before(self, flow: Flow, function: FunctionInfo, name: str) -> bool:
        """``name`` is a module-level name bound once, before ``function``'s def: the
        decorator runs when the def does, so it must already exist."""
        if "." in name or function.local(name):
            return False
        if len(flow.module_info.scope.bindings.get(name, [])) != 1:
            return False
        for statement in flow.module.body:
            if statement is function.node:
                return False
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    targets = []
                    if isinstance(small, cst.Assign):
                        targets = [t.target for t in small.targets]
                    elif isinstance(small, cst.AnnAssign) and small.value is not None:
                        targets = [small.target]
                    if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                        return True
        return False
