"""evaluating(): eval + inference mode inside, every module's own mode restored after."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchlint.runtime import evaluating


def _model() -> nn.Sequential:
    """Training model whose frozen BatchNorm is deliberately kept in eval mode."""
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    model.train()
    model[1].eval()
    return model


def _flags(*models: nn.Module) -> list[bool]:
    return [module.training for model in models for module in model.modules()]


def test_context_manager_switches_modes_and_restores() -> None:
    model = _model()
    before = _flags(model)
    assert before == [True, True, False, True, True]
    x = torch.randn(6, 4)
    with evaluating(model) as ctx:
        assert isinstance(ctx, evaluating)
        assert _flags(model) == [False] * 5
        assert torch.is_inference_mode_enabled()
        out1, out2 = model(x), model(x)
        assert torch.equal(out1, out2)  # dropout is off
        assert out1.is_inference()
    assert _flags(model) == before  # the frozen BatchNorm stays in eval mode
    assert not torch.is_inference_mode_enabled()
    assert torch.is_grad_enabled()


def test_batchnorm_statistics_are_not_updated() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8)).train()
    running_mean = model[1].running_mean.clone()
    with evaluating(model):
        model(torch.randn(16, 4) + 5)
    assert torch.equal(model[1].running_mean, running_mean)
    model(torch.randn(16, 4) + 5)  # control: a training-mode call does update them
    assert not torch.equal(model[1].running_mean, running_mean)


def test_restores_after_an_exception() -> None:
    model = _model()
    before = _flags(model)
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        assert _flags(model) == [False] * 5
        raise RuntimeError("boom")
    assert _flags(model) == before
    assert not torch.is_inference_mode_enabled()


def test_decorator() -> None:
    model, other = _model(), nn.Linear(2, 2).train()
    seen: list[tuple[list[bool], bool]] = []

    @evaluating(model, other)
    def validate(x: torch.Tensor) -> torch.Tensor:
        seen.append((_flags(model, other), torch.is_inference_mode_enabled()))
        return other(model(x))

    before = _flags(model, other)
    assert validate(torch.randn(3, 4)).shape == (3, 2)
    assert validate(torch.randn(3, 4)).shape == (3, 2)  # reusable
    assert seen == [([False] * 6, True)] * 2
    assert _flags(model, other) == before


def test_decorator_restores_after_an_exception() -> None:
    model = _model()
    before = _flags(model)

    @evaluating(model)
    def broken() -> None:
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        broken()
    assert _flags(model) == before


def test_inference_false_uses_no_grad() -> None:
    model = _model()
    with evaluating(model, inference=False):
        assert not torch.is_grad_enabled()
        assert not torch.is_inference_mode_enabled()
        assert _flags(model) == [False] * 5
        out = model(torch.randn(2, 4))
    assert not out.is_inference()  # usable by autograd later, unlike inference tensors
    assert torch.is_grad_enabled()


def test_reentrant_and_records_state_at_each_entry() -> None:
    model = _model()
    ctx = evaluating(model)
    with ctx:
        with ctx:
            assert _flags(model) == [False] * 5
        assert _flags(model) == [False] * 5  # inner exit restores to the outer's eval state
        assert torch.is_inference_mode_enabled()
    assert _flags(model) == [True, True, False, True, True]
    model.eval()  # state changed between uses: the next exit restores *this* state
    with ctx:
        pass
    assert _flags(model) == [False] * 5


def test_shared_submodule_restored_once_correctly() -> None:
    shared = nn.Linear(2, 2).eval()
    first, second = nn.Sequential(shared).train(), nn.Sequential(nn.ReLU(), shared).train()
    shared.eval()
    with evaluating(first, second):
        pass
    assert (first.training, second.training, shared.training) == (True, True, False)


def test_bare_decorator_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"@evaluating\(model\)"):

        @evaluating  # type: ignore[arg-type]
        def validate() -> None: ...
