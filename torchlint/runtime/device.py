"""Pick the device to train on, and move (nested) batches onto it.

Hard-coding ``"cuda"`` breaks on laptops, CPU-only CI and Apple silicon; ``best_device()`` asks
the installed torch what is there, and ``TORCHLINT_DEVICE`` lets a person override the choice
without editing code.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
from typing import Any, TypeVar

import torch
from torch.nn.utils.rnn import PackedSequence

__all__ = ["DEVICE_ENV_VAR", "best_device", "to_device"]

DEVICE_ENV_VAR = "TORCHLINT_DEVICE"
"""Environment variable that overrides automatic device detection, e.g. ``cpu`` or ``cuda:1``."""

T = TypeVar("T")


@functools.cache
def _detect() -> torch.device:
    """Detect the best available device once: probing backends is slow and never changes."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        try:
            if accelerator.is_available():
                current = accelerator.current_accelerator()
                if current is not None:
                    return torch.device(current.type)
        except (AttributeError, RuntimeError):  # partial API in some releases: fall through
            pass
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _device_count(device_type: str) -> int:
    """How many devices of this type this process can use (0 when the backend is absent)."""
    if device_type == "cpu" or device_type == "meta":
        return 1
    if device_type == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device_type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return 1 if mps is not None and mps.is_available() else 0
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None:
        try:
            current = accelerator.current_accelerator()
            if current is not None and current.type == device_type:
                return int(accelerator.device_count())
        except (AttributeError, RuntimeError):
            pass
    backend = getattr(torch, device_type, None)  # e.g. torch.xpu, torch.mtia
    is_available = getattr(backend, "is_available", None)
    if callable(is_available) and is_available():
        count = getattr(backend, "device_count", None)
        return int(count()) if callable(count) else 1
    return 0


@functools.cache
def _from_env(value: str) -> torch.device:
    """Parse and check an override once per distinct value; a wrong one must fail loudly."""
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} is not a valid torch device string "
            f"(expected e.g. 'cpu', 'cuda', 'cuda:1', 'mps'): {exc}"
        ) from None
    count = _device_count(device.type)
    if count == 0:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} asks for a {device.type!r} device, but this torch "
            f"build/machine has none available (detected default: {_detect()})"
        )
    if device.index is not None and device.type not in ("cpu", "meta") and device.index >= count:
        raise ValueError(
            f"{DEVICE_ENV_VAR}={value!r} asks for {device.type} device index {device.index}, "
            f"but only {count} {device.type} device(s) are visible"
        )
    return device


def best_device() -> torch.device:
    """Return the device to use: ``$TORCHLINT_DEVICE`` if set, else the best one detected.

    Detection order: the current accelerator (``torch.accelerator``, where the installed torch
    has it), then CUDA, MPS and CPU. Detection is cached, so calling this in a loop is cheap;
    the environment variable is re-read on every call, so changing it takes effect at once.

    Raises:
        ValueError: ``TORCHLINT_DEVICE`` is not a device string, or names a device that is not
            available here. An override is a deliberate request, so it is never silently
            replaced by another device.
    """
    value = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if value:
        return _from_env(value)
    return _detect()


def to_device(obj: T, device: torch.device | str | None = None, *, non_blocking: bool = False) -> T:
    """Move every tensor inside ``obj`` to ``device`` (default: ``best_device()``).

    Batches are rarely a single tensor: this walks lists, tuples, dicts, namedtuples and
    dataclasses (rebuilding each with its own type, so code downstream sees what it expects)
    and leaves every other object untouched, so strings, ids and metadata pass through.
    ``non_blocking=True`` overlaps host-to-GPU copies with compute when the source is pinned
    memory (see ``make_loader``).
    """
    target = best_device() if device is None else torch.device(device)
    return _move(obj, target, non_blocking)


def _move(obj: Any, device: torch.device, non_blocking: bool) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, PackedSequence):  # a namedtuple whose batch_sizes must stay on the CPU
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, tuple):
        items = [_move(item, device, non_blocking) for item in obj]
        if hasattr(obj, "_fields"):  # namedtuple: rebuild positionally
            return type(obj)(*items)
        return tuple(items) if type(obj) is tuple else type(obj)(items)
    if isinstance(obj, list):
        items = [_move(item, device, non_blocking) for item in obj]
        if type(obj) is list:
            return items
        moved_list = copy.copy(obj)  # keeps the subclass and its attributes
        moved_list[:] = items
        return moved_list
    if isinstance(obj, dict):
        if type(obj) is dict:
            return {key: _move(value, device, non_blocking) for key, value in obj.items()}
        moved_dict = copy.copy(obj)  # keeps OrderedDict order, defaultdict factory, subclasses
        for key, value in obj.items():
            moved_dict[key] = _move(value, device, non_blocking)
        return moved_dict
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        moved = copy.copy(obj)  # no __init__/__post_init__ re-run; works for frozen ones too
        for field in dataclasses.fields(obj):
            value = getattr(obj, field.name)
            object.__setattr__(moved, field.name, _move(value, device, non_blocking))
        return moved
    return obj
