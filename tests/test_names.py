"""Import-aware name resolution."""

from __future__ import annotations

import collections.abc
import typing

import libcst as cst
import pytest

from torchlint import names
from torchlint.names import (
    Scope,
    binding_scope,
    child_fields,
    dotted_name,
    inner_children,
    is_docstring,
    is_node_type,
    iter_children,
    statement_fields,
)


def resolve(source: str, expression: str, in_function: str | None = None) -> str | None:
    module = cst.parse_module(source)
    scope = Scope(module, None)
    if in_function:
        function = next(
            s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == in_function
        )
        scope = Scope(function, scope)
    return scope.qualified_name(cst.parse_expression(expression))


@pytest.mark.parametrize(
    ("source", "expression", "expected"),
    [
        ("import torch", "torch.utils.data.DataLoader", "torch.utils.data.DataLoader"),
        ("import torch.utils.data as tud", "tud.DataLoader", "torch.utils.data.DataLoader"),
        ("from torch import nn as tnn", "tnn.Linear", "torch.nn.Linear"),
        ("import torch.nn.functional as F", "F.softmax", "torch.nn.functional.softmax"),
        ("from torch.utils.data import DataLoader as DL", "DL", "torch.utils.data.DataLoader"),
        ("import torch.nn", "torch.nn.Linear", "torch.nn.Linear"),
        ("from . import torch", "torch.load", ".torch.load"),
        ("from .data import DataLoader", "DataLoader", ".data.DataLoader"),
        ("from torch.utils.data import *", "DataLoader", None),
        ("x = 1", "torch.load", None),
        ("import torch\ntorch = None", "torch.load", None),
        ("from torch.utils.data import DataLoader\nclass DataLoader: pass", "DataLoader", None),
        ("try:\n    import torch\nexcept ImportError:\n    torch = None", "torch.load", None),
        ("import numpy as torch", "torch.load", "numpy.load"),
        ("import torch\nimport torch", "torch.load", "torch.load"),
    ],
)
def test_module_level(source: str, expression: str, expected: str | None) -> None:
    assert resolve(source, expression) == expected


def test_parameter_shadows_import() -> None:
    source = "import torch\ndef f(torch):\n    pass\n"
    assert resolve(source, "torch.load", in_function="f") is None
    assert resolve(source, "torch.load") == "torch.load"


def test_local_assignment_shadows_later_in_function() -> None:
    source = "import torch\ndef f():\n    x = torch.load\n    torch = 3\n"
    assert resolve(source, "torch.load", in_function="f") is None


def test_global_declaration_refers_to_module() -> None:
    source = "import torch\ndef f():\n    global torch\n    torch = torch\n"
    assert resolve(source, "torch.load", in_function="f") == "torch.load"


def test_import_inside_function() -> None:
    source = "def f():\n    import torch.nn.functional as F\n"
    assert resolve(source, "F.relu", in_function="f") == "torch.nn.functional.relu"
    assert resolve(source, "F.relu") is None


CLASS_WITH_METHOD = "class A:\n    torch = 1\n    def f(self):\n        pass\n"


def _class_and_method_scopes(source: str) -> tuple[Scope, Scope, Scope]:
    """The module's, its last statement's (class ``A``) and ``A.f``'s scopes."""
    module = cst.parse_module(source)
    module_scope = Scope(module, None)
    class_def = module.body[-1]
    class_scope = Scope(class_def, module_scope)
    return module_scope, class_scope, Scope(class_def.body.body[1], class_scope)


def test_class_scope_is_not_visible_in_methods() -> None:
    _, class_scope, method_scope = _class_and_method_scopes("import torch\n" + CLASS_WITH_METHOD)
    expression = cst.parse_expression("torch.load")
    assert class_scope.qualified_name(expression) is None
    assert method_scope.qualified_name(expression) == "torch.load"


def test_resolution_is_order_independent_and_deterministic() -> None:
    source = "import torch as t\nimport numpy as t\n"
    assert resolve(source, "t.load") is None  # two different imports: unknown, never "first"


# The helpers and the binding scan, called directly (each assertion guards a mutant of
# names.py: see scripts/mutation.py).


def test_child_fields_keep_only_what_can_hold_nodes() -> None:
    assert child_fields(cst.Call) == ("func", "args")  # no parentheses, no whitespace
    assert child_fields(cst.Name) == ()  # `value` is a str
    assert child_fields(cst.If) == ("test", "body", "orelse")
    assert child_fields(cst.Call) is child_fields(cst.Call)  # computed once per type


def test_child_fields_leave_out_brackets_and_colons() -> None:
    assert child_fields(cst.Subscript) == ("value", "slice")
    assert child_fields(cst.Slice) == ("lower", "upper", "step")
    assert child_fields(cst.Dict) == ("elements",)
    assert child_fields(cst.ImportFrom) == ("module", "names")  # not the relative dots


def test_inner_children_leave_out_names_and_literals_and_come_last_first() -> None:
    call = cst.parse_expression("f(a, 1, g(b), 'c', [2], ...)")
    assert isinstance(call, cst.Call)
    assert [cst.Module([]).code_for_node(c) for c in inner_children(call)] == [
        "...",
        "[2], ",
        "'c', ",
        "g(b), ",
        "1, ",
        "a, ",
    ]  # the arguments; not the name `f`
    assert inner_children(call.args[1]) == []  # an argument that is a literal


def test_statement_fields_skip_expression_only_fields() -> None:
    assert statement_fields(cst.If) == ("body", "orelse")  # `test` holds an expression
    assert statement_fields(cst.Call) == ("args",)  # Arg is not an expression
    assert statement_fields(cst.Expr) == ()
    assert statement_fields(cst.ImportAlias) == ("asname",)  # Union[Attribute, Name]
    assert statement_fields(cst.If) is statement_fields(cst.If)


def test_expression_types_are_the_concrete_ones_without_walrus() -> None:
    assert {cst.Name, cst.Call, cst.Lambda, cst.ListComp} <= names._EXPRESSIONS
    assert cst.NamedExpr not in names._EXPRESSIONS
    assert cst.BaseExpression not in names._EXPRESSIONS  # abstract


def test_is_node_type() -> None:
    assert is_node_type(cst.Name) is True
    assert is_node_type(str) is False
    assert is_node_type(cst.Name) is True  # cached


def test_iter_children_in_source_order() -> None:
    call = cst.parse_expression("f(a, b)")
    children = list(iter_children(call))
    assert children[0] is call.func
    assert children[1:] == list(call.args)
    if_node = cst.parse_statement("if x:\n    pass\n")
    assert list(iter_children(if_node)) == [if_node.test, if_node.body]
    assert list(iter_children(if_node, statement_fields)) == [if_node.body]
    assert list(iter_children(cst.parse_expression("x"))) == []


def test_iter_children_and_scan_with_a_cold_type_cache() -> None:
    names._IS_NODE.clear()  # the first question about a type must answer it too
    call = cst.parse_expression("f(a)")
    assert list(iter_children(call)) == [call.func, *call.args]
    names._IS_NODE.clear()
    module = cst.parse_module("if c:\n    import torch\n")
    assert Scope(module, None).bindings == {"torch": ["torch"]}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"""Doc."""', True),
        ("'a' 'b'", True),
        ("x = 1", False),
        ("f()", False),
        ("1", False),
        ('"a"; "b"', False),
        ("if x:\n    pass", False),
    ],
)
def test_is_docstring(source: str, expected: bool) -> None:
    assert is_docstring(cst.parse_module(source + "\n").body[0]) is expected


def test_dotted_name() -> None:
    assert dotted_name(cst.parse_expression("a.b.c")) == "a.b.c"
    assert dotted_name(cst.parse_expression("a")) == "a"
    assert dotted_name(cst.parse_expression("f().b")) is None
    assert dotted_name(cst.parse_expression("a[0]")) is None


_ALL_BINDINGS = """\
import os.path
import torch.nn as nn
from torch import optim as opt, cuda
from . import sibling
from .. import parent
from .pkg.mod import thing
from torch.utils.data import *
def f(p):
    inner = 1
class C:
    attr = 1
@decorator(deco_arg)
def g():
    pass
a, [b, *c] = value
d: int = 1
e += 1
for i in items:
    pass
with open() as (h, k):
    pass
try:
    pass
except E as err:
    pass
del gone
"""


@pytest.mark.parametrize("walrus", [True, False])
def test_every_binding_form(walrus: bool) -> None:
    scope = Scope(cst.parse_module(_ALL_BINDINGS), None, walrus=walrus)
    other = ["<other>"]
    assert scope.bindings == {
        "gone": other,
        "err": other,
        "h": other,
        "k": other,
        "i": other,
        "e": other,
        "d": other,
        "a": other,
        "b": other,
        "c": other,
        "g": other,
        "C": other,
        "f": other,
        "thing": [".pkg.mod.thing"],
        "parent": ["..parent"],
        "sibling": [".sibling"],
        "opt": ["torch.optim"],
        "cuda": ["torch.cuda"],
        "nn": ["torch.nn"],
        "os": ["os"],
    }
    assert scope.walrus is walrus


def test_walrus_binds_in_the_enclosing_scope_but_comprehensions_do_not() -> None:
    assert resolve("import torch\n(torch := 1)\n", "torch.load") is None
    assert resolve("import torch\nprint([torch for torch in x])\n", "torch.load") == "torch.load"
    assert resolve("import torch\nf = lambda torch: torch\n", "torch.load") == "torch.load"


def test_scope_walrus_defaults() -> None:
    module = cst.parse_module("def f():\n    pass\n")
    root = Scope(module, None)
    assert root.walrus is True
    assert Scope(module.body[0], Scope(module, None, walrus=False)).walrus is False
    assert Scope(module.body[0], root, walrus=False).walrus is False


def test_function_and_lambda_parameters_are_bound() -> None:
    source = "import torch\ndef f(a, /, b, *torch, c, **kw):\n    pass\n"
    module = cst.parse_module(source)
    function = Scope(module.body[1], Scope(module, None))
    assert function.bindings == {n: ["<other>"] for n in ("a", "b", "c", "torch", "kw")}
    source = "import torch\ndef f(**torch):\n    pass\n"
    assert resolve(source, "torch.load", in_function="f") is None
    expression = cst.parse_expression("lambda torch: torch")
    assert Scope(expression, None).bindings == {"torch": ["<other>"]}


def test_class_scope_bindings_leave_out_decorators_and_bases() -> None:
    source = "@(deco := 1)\nclass C((base := object)):\n    x = 1\n"
    module = cst.parse_module(source)
    assert Scope(module.body[0], Scope(module, None)).bindings == {"x": ["<other>"]}
    function_source = "@(deco := 1)\ndef f():\n    x = 1\n"
    module = cst.parse_module(function_source)
    assert Scope(module.body[0], Scope(module, None)).bindings == {"x": ["<other>"]}


def test_nested_definitions_bind_their_name_and_scan_only_decorators() -> None:
    source = "@(d := 1)\ndef inner(p):\n    x = 1\nclass K:\n    y = 1\n"
    assert Scope(cst.parse_module(source), None).bindings == {
        "K": ["<other>"],
        "inner": ["<other>"],
        "d": ["<other>"],
    }


def test_nonlocal_declaration_refers_to_enclosing_function() -> None:
    source = (
        "def f():\n    import torch\n    def g():\n        nonlocal torch\n        torch = torch\n"
    )
    module = cst.parse_module(source)
    outer = Scope(module.body[0], Scope(module, None))
    inner = Scope(module.body[0].body.body[1], outer)
    assert inner.bindings == {}
    assert inner.qualified_name(cst.parse_expression("torch.load")) == "torch.load"


def test_global_declaration_wins_over_an_earlier_binding() -> None:
    # Python rejects the binding before the declaration, but the linter still sees it: the
    # name stays global in the whole function.
    source = "import torch\ndef f():\n    torch = 1\n    global torch\n"
    assert resolve(source, "torch.load", in_function="f") == "torch.load"


def test_binds_can_use_and_binding_scope() -> None:
    module_scope, class_scope, method_scope = _class_and_method_scopes(
        "import torch\nimport np\nimport np\n" + CLASS_WITH_METHOD
    )
    assert class_scope.binds("torch") == ["<other>"]
    assert method_scope.binds("torch") == ["torch"]
    assert method_scope.binds("self") == ["<other>"]
    assert method_scope.binds("free") is None
    assert method_scope.can_use("torch", "torch") is True
    assert method_scope.can_use("torch", "numpy") is False
    assert method_scope.can_use("free", "numpy") is True
    assert method_scope.can_use("np", "np") is True  # bound twice, to the same
    assert class_scope.can_use("torch", "torch") is False
    assert binding_scope(method_scope, "torch") is module_scope
    assert binding_scope(class_scope, "torch") is class_scope
    assert binding_scope(method_scope, "self") is method_scope
    assert binding_scope(method_scope, "free") is None


def test_qualified_name_of_other_expressions() -> None:
    assert resolve("import torch", "torch.a.b") == "torch.a.b"
    assert resolve("import torch", "torch") == "torch"
    assert resolve("import torch", "f().load") is None
    assert resolve("import torch", "torch[0].load") is None
    assert resolve("import torch", "nothing.load") is None


def test_a_starred_target_binds_its_name() -> None:
    # Python rejects a lone starred target, but libcst reads it: the name is not resolved.
    assert resolve("import torch\n*torch = 1\n", "torch.load") is None
    assert resolve("import torch\n*a, torch = 1\n", "torch.load") is None


def test_only_expressions_unwraps_sequences_and_unions() -> None:
    assert names._only_expressions(collections.abc.Sequence[cst.Name]) is True
    assert names._only_expressions(collections.abc.Sequence[cst.Arg]) is False
    # libcst declares its fields with typing's Optional and Union
    assert names._only_expressions(typing.Optional[cst.Name]) is True  # noqa: UP045
    assert names._only_expressions(typing.Union[cst.Name, cst.Arg]) is False  # noqa: UP007
