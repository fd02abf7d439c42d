"""Evaluate models in eval mode without autograd, and put every module back as it was.

``with torch.no_grad(): model(x)`` is a common evaluation bug: dropout stays active and
BatchNorm keeps using (and updating) batch statistics, because no_grad does not switch the
model to eval mode. Calling ``model.eval()`` by hand has the opposite trap: training resumes in
eval mode unless someone remembers ``model.train()``, and a blanket ``model.train()`` wrongly
un-freezes submodules that were deliberately kept in eval mode (e.g. frozen BatchNorm layers).
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

import torch
from torch import nn

__all__ = ["evaluating"]

_Saved = list[tuple[nn.Module, bool]]
"""Each module with the ``training`` flag it had on entry."""


class evaluating(contextlib.ContextDecorator):
    """Context manager and decorator: eval mode plus inference mode, then restore.

    On entry it records the ``training`` flag of every module in ``model.modules()`` for each
    model, calls ``model.eval()``, and enters ``torch.inference_mode()`` (or
    ``torch.no_grad()`` with ``inference=False``, for tensors that must later be usable by
    autograd). On exit, also when an exception is raised, it restores each module's own flag,
    so a submodule that was in a different mode from its parent keeps that mode.

    The state is recorded again on every entry, so one instance can be reused, nested, and used
    as a decorator on a function that is called repeatedly or recursively::

        with evaluating(model):
            logits = model(x)

        @evaluating(model, ema_model)
        def validate(loader): ...
    """

    def __init__(self, *models: nn.Module, inference: bool = True) -> None:
        for model in models:
            if not isinstance(model, nn.Module):
                raise TypeError(
                    "evaluating() takes torch.nn.Module arguments, got "
                    f"{type(model).__name__!r}; write @evaluating(model), not @evaluating"
                )
        self.models: tuple[nn.Module, ...] = models
        self.inference = inference
        self._stack: list[tuple[_Saved, contextlib.AbstractContextManager[Any]]] = []

    def __enter__(self) -> evaluating:
        saved: _Saved = []
        seen: set[int] = set()
        for model in self.models:
            for module in model.modules():
                if id(module) not in seen:
                    seen.add(id(module))
                    saved.append((module, module.training))
        grad_mode: contextlib.AbstractContextManager[Any] = (
            torch.inference_mode() if self.inference else torch.no_grad()
        )
        try:
            for model in self.models:
                model.eval()
            grad_mode.__enter__()
        except BaseException:
            _restore(saved)
            raise
        self._stack.append((saved, grad_mode))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        saved, grad_mode = self._stack.pop()
        try:
            grad_mode.__exit__(exc_type, exc, tb)
        finally:
            _restore(saved)


def _restore(saved: _Saved) -> None:
    """Set each module's own flag back; ``Module.train()`` would overwrite its children."""
    for module, training in saved:
        module.training = training
