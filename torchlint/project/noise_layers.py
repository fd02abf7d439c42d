"""Noise layers: a ``self.training`` switch that only turns on noise the class resamples itself.

A NoisyNet layer (Fortunato et al., "Noisy Networks for Exploration"; Rainbow DQN) keeps
noise buffers that a method of its own refreshes from random numbers (``reset_noise()``,
``sample()``), called by the algorithm when it wants new noise, and reads
``self.training`` only to choose between the noisy weights and the noise-free ones. That
noise is the agent's exploration: acting and computing targets with it on is what the
algorithm asks for, and its owner switches it off (``eval()``) where it wants greedy
actions. So such a read is not the mode dependence that makes a missing ``eval()`` a bug
(dropout, batch norm). Noise drawn in ``forward`` itself (a Gaussian-noise regulariser) is
not this: nothing but the mode turns it off.

Read with the standard ``ast`` so that the project index (``project/summary.py``) and the
per-file analysis (``mode_sensitivity.py``, which parses the class's source) share one
definition.
"""

from __future__ import annotations

import ast
import textwrap

# Calls that draw random numbers (by their last name): torch's, numpy's, in-place samplers.
_RANDOM = frozenset(
    {
        "randn",
        "randn_like",
        "rand",
        "rand_like",
        "randint",
        "normal",
        "normal_",
        "uniform_",
        "bernoulli",
        "bernoulli_",
        "exponential_",
        "standard_normal",
        "multinomial",
    }
)
# Methods that run on every call or build the layer: noise refreshed there is not resampled
# on the algorithm's request.
_NOT_RESAMPLERS = frozenset({"forward", "__call__", "__init__"})


def _self_attribute(node: ast.AST) -> str | None:
    """``self.name`` (or ``self.name.data``): the name."""
    if isinstance(node, ast.Attribute) and node.attr == "data":
        node = node.value
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return node.attr
    return None


def _last_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _draws(method: ast.FunctionDef, methods: dict[str, ast.FunctionDef], depth: int = 2) -> bool:
    """The method draws random numbers, itself or through a ``self.helper()`` of the class."""
    for node in ast.walk(method):
        if not isinstance(node, ast.Call):
            continue
        if _last_name(node.func) in _RANDOM:
            return True
        helper = _self_attribute(node.func)
        if (
            depth > 0
            and helper in methods
            and methods[helper] is not method
            and _draws(methods[helper], methods, depth - 1)
        ):
            return True
    return False


def _written(method: ast.FunctionDef) -> set[str]:
    """The ``self`` attributes a method overwrites: ``self.a = ...``, or an in-place call
    on it (``self.a.copy_(...)``, ``self.a.data.normal_()``)."""
    found: set[str] = set()
    for node in ast.walk(method):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                name = _self_attribute(target)
                if name is not None:
                    found.add(name)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.endswith("_")
            and not node.func.attr.startswith("_")
        ):
            name = _self_attribute(node.func.value)
            if name is not None:
                found.add(name)
    return found


def _learnable(init: ast.FunctionDef | None) -> set[str]:
    """``self.w = nn.Parameter(...)`` in ``__init__``, not ``requires_grad=False``: a
    weight (its initialiser draws random numbers too, but it is trained, not noise)."""
    found: set[str] = set()
    for node in ast.walk(init) if init is not None else ():
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        if _last_name(node.value.func) != "Parameter":
            continue
        frozen = any(
            k.arg == "requires_grad"
            and isinstance(k.value, ast.Constant)
            and k.value.value is False
            for k in node.value.keywords
        )
        if not frozen:
            found.update(n for n in map(_self_attribute, node.targets) if n is not None)
    return found


def noise_attributes(cls: ast.ClassDef) -> set[str]:
    """The buffers (not trained weights) that a method of the class other than
    ``forward`` / ``__init__`` refreshes with random numbers: the noise the algorithm
    resamples on request."""
    methods = {s.name: s for s in cls.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)}
    found: set[str] = set()
    for name, method in methods.items():
        if name in _NOT_RESAMPLERS:
            continue
        written = _written(method)  # type: ignore[arg-type]
        if written and _draws(method, methods):  # type: ignore[arg-type]
            found |= written
    return found - _learnable(methods.get("__init__"))  # type: ignore[arg-type]


def _reads(nodes: list[ast.stmt] | ast.expr, names: set[str]) -> bool:
    roots = nodes if isinstance(nodes, list) else [nodes]
    return any(
        _self_attribute(node) in names
        for root in roots
        for node in ast.walk(root)
        if isinstance(node, ast.Attribute)
    )


def _is_training(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "training"
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def is_noise_layer(cls: ast.ClassDef) -> bool:
    """Every ``self.training`` read of the class (outside ``assert``) is the test of an
    ``if`` whose training branch reads the noise the class resamples itself (see
    ``noise_attributes``) and whose other branch does not: the mode only turns that noise
    on or off."""
    noise = noise_attributes(cls)
    if not noise:
        return False
    switches: set[int] = set()
    asserted: set[int] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Assert):
            asserted.update(id(n) for n in ast.walk(node.test))
        elif isinstance(node, ast.If | ast.IfExp):
            test, on, off = node.test, node.body, node.orelse
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, on, off = test.operand, off, on
            if _is_training(test) and _reads(on, noise) and not _reads(off, noise):
                switches.add(id(test))
    reads = [
        node
        for node in ast.walk(cls)
        if _is_training(node) and isinstance(node.ctx, ast.Load) and id(node) not in asserted
    ]
    return bool(reads) and all(id(node) in switches for node in reads)


def is_noise_layer_source(source: str) -> bool:
    """``is_noise_layer`` of a class given as source text (a libcst node's code)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return False
    classes = [s for s in tree.body if isinstance(s, ast.ClassDef)]
    return len(classes) == 1 and is_noise_layer(classes[0])
