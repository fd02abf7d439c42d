"""Import-aware name resolution."""

from __future__ import annotations

import libcst as cst
import pytest

from torchlint.names import Scope


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


def test_class_scope_is_not_visible_in_methods() -> None:
    module = cst.parse_module(
        "import torch\nclass A:\n    torch = 1\n    def f(self):\n        pass\n"
    )
    module_scope = Scope(module, None)
    class_def = module.body[1]
    class_scope = Scope(class_def, module_scope)
    method_scope = Scope(class_def.body.body[1], class_scope)
    expression = cst.parse_expression("torch.load")
    assert class_scope.qualified_name(expression) is None
    assert method_scope.qualified_name(expression) == "torch.load"


def test_resolution_is_order_independent_and_deterministic() -> None:
    source = "import torch as t\nimport numpy as t\n"
    assert resolve(source, "t.load") is None  # two different imports: unknown, never "first"
