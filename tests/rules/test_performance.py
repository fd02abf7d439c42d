"""Behaviour of the TL5 rules beyond their documented examples."""

from __future__ import annotations

import textwrap

import pytest

from tests.helpers import lint
from torchlint.rules.performance.debug_api_left_on import is_test_path


def found(source: str, code: str, path: str = "example.py") -> list[tuple[int, int]]:
    result = lint(textwrap.dedent(source), code, path=path)
    assert not result.errors, result.errors
    return [(d.start.line, d.start.column) for d in result.diagnostics if d.code == code]


# --- TL501 debug-api-left-on ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_train.py", True),
        ("test/helpers.py", True),
        ("pkg/tests/util.py", True),
        ("src/train_test.py", True),
        ("conftest.py", True),
        ("C:\\repo\\tests\\util.py", True),
        ("src/train.py", False),
        ("src/latest/train.py", False),
        ("src/contest.py", False),
        ("testing.py", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_debug_api_conditional_expression_is_a_guard() -> None:
    source = """
    import contextlib, torch
    ctx = torch.autograd.detect_anomaly() if debug else contextlib.nullcontext()
    """
    assert found(source, "TL501") == []


def test_debug_api_in_training_function_is_reported() -> None:
    source = """
    import torch
    def train(model, loader):
        torch.autograd.set_detect_anomaly(True)
        for x in loader:
            model(x).sum().backward()
    """
    assert found(source, "TL501") == [(4, 5)]


def test_debug_api_debug_word_must_be_a_whole_word() -> None:
    source = """
    import torch
    def train_nanogpt(model):
        torch.autograd.set_detect_anomaly(True)
    """
    assert found(source, "TL501") == [(4, 5)]


def test_debug_api_anomaly_mode_module_path() -> None:
    source = """
    from torch.autograd.anomaly_mode import set_detect_anomaly
    set_detect_anomaly(True)
    """
    result = lint(textwrap.dedent(source), "TL501")
    assert [d.message for d in result.diagnostics] == [
        "`torch.autograd.set_detect_anomaly(True)` left on: it slows every step"
    ]


# --- TL502 compile-in-loop -----------------------------------------------------------------------


def test_compile_comprehension_is_not_a_loop_body() -> None:
    source = """
    import torch
    compiled = [torch.compile(m) for m in models]
    """
    assert found(source, "TL502") == []


def test_compile_while_body_and_decorator_with_arguments() -> None:
    source = """
    import torch
    while True:
        @torch.compile(mode="reduce-overhead")
        def step(x):
            return x
    """
    assert found(source, "TL502") == [(4, 6)]


def test_compile_nested_def_in_forward_is_not_forward() -> None:
    source = """
    import torch
    class Net(torch.nn.Module):
        def forward(self, x):
            def later():
                return torch.compile(self.body)
            return x
    """
    assert found(source, "TL502") == []


def test_compile_module_level_forward_function_is_not_a_method() -> None:
    source = """
    import torch
    def forward(model, x):
        return torch.compile(model)(x)
    """
    assert found(source, "TL502") == []


def test_compile_loop_iterable_is_evaluated_once() -> None:
    source = """
    import torch
    for x in torch.compile(gen)():
        pass
    """
    assert found(source, "TL502") == []


def test_compile_in_forward_message() -> None:
    source = """
    import torch
    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.compile(self.body)(x)
    """
    result = lint(textwrap.dedent(source), "TL502")
    assert [d.message for d in result.diagnostics] == [
        "`torch.compile` called in `forward`: compile once, outside it"
    ]


def test_compile_of_an_attribute_named_like_the_loop_variable_is_the_same_object() -> None:
    source = """
        import torch
        for block in batches:
            out = torch.compile(self.block)(block)
        """
    assert found(source, "TL502") == [(4, 11)]


def test_compile_of_a_module_built_from_the_loop_variable_is_not_repeated() -> None:
    source = """
        import torch
        for spec in specs:
            layer = make(spec)
            wrapped = layer.to(device)
            fast = torch.compile(wrapped, mode="max-autotune")
        """
    assert found(source, "TL502") == []
