"""Facts for the distributed and mixed-precision rules (TL9): which code runs once per rank,
which code a rank guard keeps to one process, what a ``GradScaler`` is.

``dist_facts`` walks a module once (through ``context.fact``) and keeps every call with the
function it runs in, its enclosing nodes and its scope, plus every plain assignment, in
source order. The rules read these lists; they never walk the file again.

*Per-rank code*: a function (or the module body) that sets up distributed training itself
(``init_process_group``, a DDP/FSDP wrapper, ``accelerate.Accelerator()``), calls a same-file
function that does so unconditionally, or is called without a rank guard from per-rank code
of the same file. What another file does is not assumed: a helper module with a bare
``torch.save`` is not per-rank code, since only its callers know how it is run.

*Rank guards*: an enclosing ``if`` (either branch) whose test names a rank or the main
process (``rank == 0``, ``dist.get_rank() == 0``, ``local_rank in (-1, 0)``,
``accelerator.is_main_process``, ``is_master``), or calls a function torchlint cannot see into
(a project helper may check the rank); an earlier ``if <such test>: return``; a decorator
named for rank zero (``@rank_zero_only``, ``@master_only``). Everything unclear counts as a
guard: the rules that use it do not report guarded code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.names import SCOPE_TYPES, Scope, dotted_name, inner_children
from torchlint.vocabulary import DDP_WRAPPERS, GRAD_SCALERS, MODULE_WRAPPERS

if TYPE_CHECKING:
    from torchlint.context import FileContext

SETUP_CALLS = frozenset(
    {
        "torch.distributed.init_process_group",
        "torch.distributed.distributed_c10d.init_process_group",
        "accelerate.Accelerator",
        "accelerate.accelerator.Accelerator",
    }
)
# The last names one of which a file of per-rank code spells (a rule's `requires`): it sets
# up a process group, wraps a model per rank, or hands both to `accelerate`.
PER_RANK_MARKERS = (
    "init_process_group",
    "DistributedDataParallel",
    "FullyShardedDataParallel",
    "fully_shard",
    "Accelerator",
)
# Words in a name that say "the rank" or "the main process".
RANK_WORDS = (
    "rank",
    "main_process",
    "mainprocess",
    "is_main",
    "master",
    "primary",
    "chief",
    "leader",
    "process_zero",
    "global_zero",
    "is_root",
    "rank0",
)
# Calls in an ``if`` test that are known not to check the rank.
KNOWN_PREFIXES = ("os.", "sys.", "math.", "pathlib.", "builtins.", "numpy.", "shutil.")
BUILTINS = frozenset(
    {
        "len",
        "isinstance",
        "hasattr",
        "getattr",
        "any",
        "all",
        "int",
        "float",
        "str",
        "bool",
        "min",
        "max",
        "abs",
        "round",
        "callable",
        "type",
        "sum",
    }
)
_LOOPS = (cst.For, cst.While)
_EXITS = (cst.Return, cst.Raise, cst.Continue)


@dataclass(eq=False)
class Site:
    """A call, with the function it runs in and the nodes around it (outermost first)."""

    node: cst.Call
    scope: Scope
    ancestors: tuple[cst.CSTNode, ...]
    function: cst.CSTNode  # the FunctionDef it runs in, or the Module
    order: int = 0  # position in the walk: source order

    def receiver(self) -> str | None:
        """``scaler`` for ``scaler.step(...)``: the dotted text before the method name."""
        func = self.node.func
        return dotted_name(func.value) if isinstance(func, cst.Attribute) else None

    def method(self) -> str | None:
        func = self.node.func
        if isinstance(func, cst.Attribute):
            return func.attr.value
        return func.value if isinstance(func, cst.Name) else None

    def loops(self) -> list[cst.For | cst.While]:
        """The loops around the call inside its own function, outermost first."""
        inside: list[cst.For | cst.While] = []
        for node in reversed(self.ancestors):
            if node is self.function:
                break
            if isinstance(node, _LOOPS):
                inside.append(node)
        return list(reversed(inside))

    def statement(self) -> cst.CSTNode | None:
        """The innermost simple statement holding the call."""
        for node in reversed(self.ancestors):
            if isinstance(node, cst.BaseSmallStatement):
                return node
        return None

    def line(self) -> cst.CSTNode | None:
        """The statement line holding the call (a ``SimpleStatementLine``), or None."""
        for node in reversed(self.ancestors):
            if isinstance(node, cst.SimpleStatementLine):
                return node
            if isinstance(node, cst.BaseCompoundStatement):
                return None
        return None


@dataclass(eq=False)
class Binding:
    """``target = value`` (plain or annotated), with where it happens."""

    target: str
    value: cst.BaseExpression
    scope: Scope
    ancestors: tuple[cst.CSTNode, ...]
    function: cst.CSTNode
    order: int = 0


def bindings_of(
    facts: DistFacts, target: str, function: cst.CSTNode | None = None
) -> list[Binding]:
    """The assignments to ``target`` (in ``function`` when given), in source order."""
    found = facts.by_target.get(target, [])
    if function is None:
        return found
    return [b for b in found if b.function is function]


@dataclass(eq=False)
class DistFacts:
    sites: list[Site] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    # module-level functions by name (a name defined twice is left out)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    # methods by (class, name), and the class each method belongs to
    methods: dict[tuple[str, str], cst.FunctionDef] = field(default_factory=dict)
    class_of: dict[int, str] = field(default_factory=dict)
    by_function: dict[int, list[Site]] = field(default_factory=dict)
    by_node: dict[int, Site] = field(default_factory=dict)
    by_target: dict[str, list[Binding]] = field(default_factory=dict)  # source order
    tests: dict[int, bool] = field(default_factory=dict)  # rank_test answers per if
    blocks: dict[int, tuple[int, dict[int, int]]] = field(default_factory=dict)
    by_loop: dict[int, list[Site]] = field(default_factory=dict)  # calls in each loop's body
    per_rank: set[int] = field(default_factory=set)  # ids of per-rank functions (or module)


def dist_facts(context: FileContext) -> DistFacts:
    """The calls and assignments of this file, and its per-rank functions (computed once)."""
    return context.fact("distributed.facts", _build)


def _build(context: FileContext) -> DistFacts:
    facts = DistFacts()
    module = context.module
    doubled: set[str] = set()
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef):
            name = statement.name.value
            if name in facts.functions:
                doubled.add(name)
            facts.functions[name] = statement
        elif isinstance(statement, cst.ClassDef):
            for inner in statement.body.body:
                if isinstance(inner, cst.FunctionDef):
                    facts.methods[(statement.name.value, inner.name.value)] = inner
                    facts.class_of[id(inner)] = statement.name.value
    for name in doubled:
        del facts.functions[name]
    _walk(context, facts)
    for binding in facts.bindings:
        facts.by_target.setdefault(binding.target, []).append(binding)
    _find_per_rank(context, facts)
    return facts


def _walk(context: FileContext, facts: DistFacts) -> None:
    module = context.module
    # Iterative walk: (node, scope, ancestors, function); ancestors shared as tuples.
    stack: list[tuple[cst.CSTNode, Scope, tuple[cst.CSTNode, ...], cst.CSTNode]] = [
        (module, context.module_scope, (), module)
    ]
    order = 0
    while stack:
        node, scope, ancestors, function = stack.pop()
        node_type = type(node)
        order += 1
        if node_type is cst.Call:
            site = Site(node, scope, ancestors, function, order)  # type: ignore[arg-type]
            facts.sites.append(site)
            facts.by_function.setdefault(id(function), []).append(site)
            facts.by_node[id(node)] = site
            for outer in reversed(ancestors):
                if outer is function:
                    break
                if type(outer) is cst.For:
                    facts.by_loop.setdefault(id(outer), []).append(site)
        elif node_type is cst.Assign:
            for target in node.targets:  # type: ignore[attr-defined]
                text = dotted_name(target.target)
                if text is not None:
                    facts.bindings.append(
                        Binding(text, node.value, scope, ancestors, function, order)  # type: ignore[attr-defined]
                    )
        elif node_type is cst.AnnAssign and node.value is not None:  # type: ignore[attr-defined]
            text = dotted_name(node.target)  # type: ignore[attr-defined]
            if text is not None:
                facts.bindings.append(
                    Binding(text, node.value, scope, ancestors, function, order)  # type: ignore[attr-defined]
                )
        inner_scope = Scope(node, scope) if isinstance(node, SCOPE_TYPES) else scope
        inner_function = node if node_type is cst.FunctionDef else function
        if node_type is cst.Lambda:
            continue  # runs later, elsewhere
        below = (*ancestors, node)
        stack.extend((child, inner_scope, below, inner_function) for child in inner_children(node))
    _find_per_rank(context, facts)
    return facts


# --- per-rank code ------------------------------------------------------------------------


def is_setup_call(site: Site) -> bool:
    """A call that starts one process per rank's distributed work here."""
    qualified = site.scope.qualified_name(site.node.func)
    if qualified is None:
        return False
    if qualified in SETUP_CALLS:
        return True
    return qualified.startswith("torch.") and qualified.rsplit(".", 1)[1] in DDP_WRAPPERS


def _callee(facts: DistFacts, site: Site) -> cst.FunctionDef | None:
    """The same-file function a call runs: ``helper(...)`` (module level, not rebound) or
    ``self.method(...)`` inside a method of the class that defines it."""
    func = site.node.func
    if isinstance(func, cst.Name):
        found = facts.functions.get(func.value)
        if found is None:
            return None
        targets = site.scope.binds(func.value)
        if targets is None or len(targets) != 1:
            return None  # rebound somewhere: not sure it is this function
        return found
    if (
        isinstance(func, cst.Attribute)
        and isinstance(func.value, cst.Name)
        and func.value.value == "self"
    ):
        owner = facts.class_of.get(id(site.function))
        if owner is not None:
            return facts.methods.get((owner, func.attr.value))
    return None


def callee(facts: DistFacts, site: Site) -> cst.FunctionDef | None:
    """The same-file function (or method of the class) a call runs, when it is sure."""
    return _callee(facts, site)


def mentions_attribute(node: cst.CSTNode, attribute: str) -> bool:
    """Does ``.<attribute>`` occur anywhere under ``node``?"""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Attribute) and current.attr.value == attribute:
            return True
        stack.extend(inner_children(current))
    return False


def mentions_name(node: cst.CSTNode, name: str) -> bool:
    """Does the dotted name ``name`` (``scaler``, ``self.scaler``) occur under ``node``?"""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, (cst.Name, cst.Attribute)) and dotted_name(current) == name:
            return True
        stack.extend(current.children)
    return False


def _unconditional(site: Site) -> bool:
    """No ``if``/``try``/loop-``else`` between the call and its function's body."""
    for node in reversed(site.ancestors):
        if node is site.function:
            return True
        if isinstance(node, (cst.If, cst.IfExp, cst.Try, cst.BooleanOperation)):
            return False
    return True


def _find_per_rank(context: FileContext, facts: DistFacts) -> None:
    if not any(word in context.source for word in ("init_process_group", "Accelerator")) and not (
        any(word in context.source for word in DDP_WRAPPERS)
    ):
        return
    per_rank = facts.per_rank
    seeds = [site.function for site in facts.sites if is_setup_call(site)]
    if not seeds:
        return
    # The same-file call graph, once: callers of each function, and what each calls.
    callers: dict[int, list[Site]] = {}
    calls_out: dict[int, list[tuple[Site, cst.FunctionDef]]] = {}
    for site in facts.sites:
        target = _callee(facts, site)
        if target is not None:
            callers.setdefault(id(target), []).append(site)
            calls_out.setdefault(id(site.function), []).append((site, target))
    # Upwards: a function that sets up distributed work by calling a same-file function
    # that does (unconditionally) runs per rank from then on.
    work = list(seeds)
    per_rank.update(id(function) for function in seeds)
    while work:
        function = work.pop()
        for site in callers.get(id(function), ()):
            if id(site.function) not in per_rank and _unconditional(site):
                per_rank.add(id(site.function))
                work.append(site.function)
    # Downwards: what per-rank code calls without a rank guard runs per rank too.
    work = [function for function in _nodes_of(facts, per_rank)]
    while work:
        function = work.pop()
        for site, target in calls_out.get(id(function), ()):
            if id(target) in per_rank or rank_guarded(site, facts):
                continue
            per_rank.add(id(target))
            work.append(target)


def _nodes_of(facts: DistFacts, ids: set[int]) -> list[cst.CSTNode]:
    """The function nodes (or module) with these ids, in source order."""
    seen: set[int] = set()
    found: list[cst.CSTNode] = []
    for site in facts.sites:
        key = id(site.function)
        if key in ids and key not in seen:
            seen.add(key)
            found.append(site.function)
    return found


def site_of(context: FileContext, call: cst.Call) -> Site | None:
    """The recorded call site of ``call``."""
    return dist_facts(context).by_node.get(id(call))


def runs_per_rank(facts: DistFacts, site: Site) -> bool:
    return id(site.function) in facts.per_rank


# --- rank guards --------------------------------------------------------------------------


def _names_rank(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in RANK_WORDS)


def rank_test(expr: cst.BaseExpression, scope: Scope) -> bool:
    """Could this ``if`` test keep its branch to one rank? Names of a rank or the main
    process, ``gpu == 0``, or a call torchlint cannot see into, all say yes."""
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and _names_rank(node.value):
            return True
        if isinstance(node, cst.Attribute) and _names_rank(node.attr.value):
            return True
        if isinstance(node, cst.SimpleString) and _names_rank(node.value):
            return True  # os.environ["LOCAL_RANK"]
        if isinstance(node, cst.Comparison) and _compares_gpu_to_zero(node):
            return True
        if isinstance(node, cst.Call) and _unknown_call(node, scope):
            return True
        stack.extend(inner_children(node))
        stack.extend(child for child in node.children if isinstance(child, cst.Name))
    return False


def _compares_gpu_to_zero(node: cst.Comparison) -> bool:
    sides = [node.left, *(c.comparator for c in node.comparisons)]
    if not any(calls.int_literal(side) == 0 for side in sides):
        return False
    return any(
        (text := dotted_name(side)) is not None and text.rsplit(".", 1)[-1] in ("gpu", "gpu_id")
        for side in sides
    )


def _unknown_call(call: cst.Call, scope: Scope) -> bool:
    func = call.func
    if isinstance(func, cst.Name) and func.value in BUILTINS and scope.binds(func.value) is None:
        return False
    qualified = scope.qualified_name(func)
    if qualified is None:
        return True
    if qualified.startswith(KNOWN_PREFIXES):
        return False
    # torch's own calls are known; the ones that read the rank say so by name.
    return not qualified.startswith("torch.")


def _rank_decorator(function: cst.FunctionDef) -> bool:
    for decorator in function.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        text = dotted_name(expr)
        if text is not None and (
            _names_rank(text) or "only_main" in text.lower() or "on_main" in text.lower()
        ):
            return True
    return False


def _exits(body: cst.BaseSuite) -> bool:
    if isinstance(body, cst.SimpleStatementSuite):
        return any(isinstance(s, _EXITS) for s in body.body)
    if not body.body:  # type: ignore[attr-defined]
        return False
    last = body.body[-1]  # type: ignore[attr-defined]
    return isinstance(last, cst.SimpleStatementLine) and any(
        isinstance(s, _EXITS) for s in last.body
    )


def _block_exits(
    facts: DistFacts, block: cst.IndentedBlock | cst.Module, scope: Scope
) -> tuple[int, dict[int, int]]:
    """The position of the first ``if <rank test>: return`` in the block (or its length),
    and each statement's position; worked out once per block."""
    found = facts.blocks.get(id(block))
    if found is None:
        body = block.body
        first = next(
            (
                index
                for index, statement in enumerate(body)
                if isinstance(statement, cst.If)
                and _exits(statement.body)
                and rank_test(statement.test, scope)
            ),
            len(body),
        )
        found = facts.blocks[id(block)] = (first, {id(s): i for i, s in enumerate(body)})
    return found


def rank_guarded(site: Site, facts: DistFacts) -> bool:
    """Is the call kept to one rank (or might be, by something torchlint cannot see)?"""
    ancestors = site.ancestors
    for position, node in enumerate(ancestors):
        if isinstance(node, (cst.If, cst.IfExp)):
            # the test itself is not guarded by its own if
            if position + 1 < len(ancestors) and ancestors[position + 1] is node.test:
                continue
            known = facts.tests.get(id(node))
            if known is None:
                known = facts.tests[id(node)] = rank_test(node.test, site.scope)
            if known:
                return True
        elif isinstance(node, cst.BooleanOperation) and rank_test(node.left, site.scope):
            return True  # `is_main and torch.save(...)`
        elif isinstance(node, cst.FunctionDef) and _rank_decorator(node):
            return True
        # An earlier `if not is_main: return` in this block.
        if isinstance(node, (cst.IndentedBlock, cst.Module)) and position + 1 < len(ancestors):
            first, positions = _block_exits(facts, node, site.scope)
            if positions.get(id(ancestors[position + 1]), -1) > first:
                return True
    return False


# --- objects ------------------------------------------------------------------------------


def last_binding(facts: DistFacts, site: Site, target: str) -> Binding | None:
    """The last assignment to ``target`` before the call in the same function (source
    order; an assignment the call is part of does not count)."""
    found: Binding | None = None
    for binding in facts.by_target.get(target, ()):
        if binding.function is not site.function:
            continue
        inside = binding.value is site.node or any(n is binding.value for n in site.ancestors)
        if binding.order < site.order and not inside:
            found = binding
    return found


def is_grad_scaler_call(expr: cst.BaseExpression, scope: Scope) -> bool:
    """``GradScaler(...)`` (any path) that is not built with a literal ``enabled=False``."""
    if not isinstance(expr, cst.Call) or scope.qualified_name(expr.func) not in GRAD_SCALERS:
        return False
    enabled = calls.keyword(expr, "enabled")
    return enabled is None or not calls.is_false(enabled.value)


def grad_scalers(context: FileContext) -> frozenset[str]:
    """Dotted names that hold a ``GradScaler``: bound to one somewhere in the file, or used as
    ``<name>.scale(loss).backward()`` (only a scaler is used so)."""
    return context.fact("distributed.scalers", _grad_scalers)


def _grad_scalers(context: FileContext) -> frozenset[str]:
    facts = dist_facts(context)
    found: set[str] = set()
    for binding in facts.bindings:
        if is_grad_scaler_call(binding.value, binding.scope):
            found.add(binding.target)
    for site in facts.sites:
        scaled = scaled_backward(site)
        if scaled is not None:
            found.add(scaled)
    return frozenset(found)


def scaled_backward(site: Site) -> str | None:
    """``scaler`` for ``scaler.scale(loss).backward()``, also when the scaled loss is
    wrapped (``cast(Tensor, scaler.scale(loss)).backward()``)."""
    func = site.node.func
    if not isinstance(func, cst.Attribute) or func.attr.value != "backward":
        return None
    stack: list[cst.CSTNode] = [func.value]
    while stack:
        inner = stack.pop()
        if (
            isinstance(inner, cst.Call)
            and isinstance(inner.func, cst.Attribute)
            and inner.func.attr.value == "scale"
        ):
            return dotted_name(inner.func.value)
        if isinstance(inner, cst.Call):
            stack.extend(arg.value for arg in inner.args)
        elif isinstance(inner, (cst.BinaryOperation, cst.Attribute)):
            stack.extend(inner_children(inner))
    return None


def exclusive(a: Site, b: Site) -> bool:
    """Are the two calls in different branches of one ``if`` (never both run)?"""
    shared = {id(n) for n in a.ancestors} & {id(n) for n in b.ancestors}
    for node in a.ancestors:
        if id(node) not in shared or not isinstance(node, (cst.If, cst.IfExp, cst.Try)):
            continue
        if _branch(node, a) != _branch(node, b):
            return True
    return False


def _branch(node: cst.CSTNode, site: Site) -> int:
    position = site.ancestors.index(node)
    child = site.ancestors[position + 1] if position + 1 < len(site.ancestors) else site.node
    for index, part in enumerate(node.children):
        if part is child:
            return index
    return -1


def passed_as_argument(facts: DistFacts, function: cst.CSTNode, name: str) -> bool:
    """Is ``name`` (dotted) handed to some call in the function, which may act on it?"""
    for site in facts.by_function.get(id(function), ()):
        for arg in site.node.args:
            if dotted_name(arg.value) == name:
                return True
    return False


def iterated(expr: cst.BaseExpression) -> cst.BaseExpression:
    """What a ``for`` really iterates: ``loader`` in ``enumerate(loader)``, ``tqdm(loader)``,
    ``iter(loader)``."""
    while (
        isinstance(expr, cst.Call)
        and expr.args
        and not expr.args[0].star
        and expr.args[0].keyword is None
        and (dotted_name(expr.func) or "").rsplit(".", 1)[-1] in ("enumerate", "tqdm", "iter")
    ):
        expr = expr.args[0].value
    return expr


def is_wrapper_call(expr: cst.BaseExpression, scope: Scope) -> bool:
    """``DistributedDataParallel(...)`` / ``DataParallel(...)`` under any torch path."""
    if not isinstance(expr, cst.Call):
        return False
    qualified = scope.qualified_name(expr.func)
    return (
        qualified is not None
        and qualified.startswith("torch.")
        and qualified.rsplit(".", 1)[1] in MODULE_WRAPPERS
    )


def wrapper_name(facts: DistFacts, site: Site, name: str) -> bool:
    """Does ``name`` hold a DDP/DataParallel wrapper at the call? A local name: its last
    assignment before the call in the function wraps. ``self.x``: every assignment to it in
    the class wraps."""
    if name.startswith("self."):
        owner = facts.class_of.get(id(site.function))
        if owner is None:
            return False
        values = [
            b for b in bindings_of(facts, name) if facts.class_of.get(id(b.function)) == owner
        ]
        return bool(values) and all(is_wrapper_call(b.value, b.scope) for b in values)
    if "." in name:
        return False
    binding = last_binding(facts, site, name)
    return binding is not None and is_wrapper_call(binding.value, binding.scope)


def temporary(facts: DistFacts, site: Site, target: cst.BaseExpression) -> bool:
    """Is the path a ``tempfile`` made by this process (``with NamedTemporaryFile() as tmp``,
    ``folder = tempfile.mkdtemp()``), one file per process?"""
    names: set[str] = set()
    for node in site.ancestors:
        if isinstance(node, cst.With):
            for item in node.items:
                if (
                    isinstance(item.item, cst.Call)
                    and (site.scope.qualified_name(item.item.func) or "").startswith("tempfile.")
                    and item.asname is not None
                    and isinstance(item.asname.name, cst.Name)
                ):
                    names.add(item.asname.name.value)
    stack: list[cst.CSTNode] = [target]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            if node.value in names:
                return True
            binding = last_binding(facts, site, node.value)
            if (
                binding is not None
                and isinstance(binding.value, cst.Call)
                and (binding.scope.qualified_name(binding.value.func) or "").startswith("tempfile.")
            ):
                return True
        stack.extend(node.children)
    return False
