"""best_device() and to_device()."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

from torchlint.runtime import best_device, to_device
from torchlint.runtime import device as device_mod

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _has_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and accelerator.is_available():
        return True
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or (mps is not None and mps.is_available())


def test_env_override_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHLINT_DEVICE", "cpu")
    assert best_device() == torch.device("cpu")


def test_env_is_reread_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHLINT_DEVICE", "meta")
    assert best_device() == torch.device("meta")
    monkeypatch.setenv("TORCHLINT_DEVICE", " cpu ")
    assert best_device() == torch.device("cpu")
    monkeypatch.setenv("TORCHLINT_DEVICE", "")  # empty means unset
    assert best_device() == device_mod._detect()


@pytest.mark.parametrize(
    "value",
    [
        "nonsense",
        "cuda:x",
        pytest.param(
            "cuda:7",
            marks=pytest.mark.skipif(torch.cuda.device_count() > 7, reason="has 8+ GPUs"),
        ),
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA"),
        ),
        pytest.param(
            "mps",
            marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="has MPS"),
        ),
    ],
)
def test_bad_env_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TORCHLINT_DEVICE", value)
    with pytest.raises(ValueError, match=rf"TORCHLINT_DEVICE='{value}'"):
        best_device()
    with pytest.raises(ValueError):  # errors are not cached away
        best_device()


@pytest.mark.skipif(_has_accelerator(), reason="this machine has an accelerator")
def test_default_is_cpu_without_accelerator() -> None:
    assert best_device() == torch.device("cpu")


@needs_cuda
def test_default_is_cuda_when_available() -> None:
    assert best_device().type == "cuda"


def test_detection_is_cached() -> None:
    device_mod._detect.cache_clear()
    first = best_device()
    for _ in range(100):
        assert best_device() == first
    info = device_mod._detect.cache_info()
    assert (info.misses, info.hits) == (1, 100)


Pair = namedtuple("Pair", ["left", "right"])


@dataclasses.dataclass
class Batch:
    images: torch.Tensor
    labels: list[torch.Tensor]
    name: str
    post_init_calls: int = dataclasses.field(default=0, init=False)

    def __post_init__(self) -> None:
        self.post_init_calls += 1


@dataclasses.dataclass(frozen=True)
class Frozen:
    tensor: torch.Tensor
    note: str = "n"


class TaggedList(list):
    tag = "default"


def _all_tensors(obj: object) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = [getattr(obj, f.name) for f in dataclasses.fields(obj)]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _all_tensors(item)]
    return []


def test_to_device_moves_nested_tensors_and_keeps_types() -> None:
    array = np.ones(3)
    marker = object()
    tagged = TaggedList([torch.ones(1)])
    tagged.tag = "mine"
    factory = defaultdict(list, {"t": torch.ones(2)})
    batch = {
        "pair": Pair(torch.zeros(2, 3), 7),
        "list": [torch.arange(3), ("text", torch.ones(1, dtype=torch.int8))],
        "batch": Batch(torch.rand(2, 1, 4, 4), [torch.tensor([1, 0])], "b0"),
        "frozen": Frozen(torch.ones(1)),
        "ordered": OrderedDict([("z", torch.ones(1)), ("a", 1)]),
        "default": factory,
        "tagged": tagged,
        "array": array,
        "marker": marker,
        "none": None,
    }
    moved = to_device(batch, "meta")

    assert type(moved) is dict and list(moved) == list(batch)
    assert type(moved["pair"]) is Pair and moved["pair"].right == 7
    assert type(moved["list"][1]) is tuple and moved["list"][1][0] == "text"
    assert type(moved["batch"]) is Batch and moved["batch"].name == "b0"
    assert moved["batch"].post_init_calls == 1  # not re-constructed
    assert type(moved["frozen"]) is Frozen
    assert type(moved["ordered"]) is OrderedDict and list(moved["ordered"]) == ["z", "a"]
    assert type(moved["default"]) is defaultdict and moved["default"].default_factory is list
    assert type(moved["tagged"]) is TaggedList and moved["tagged"].tag == "mine"
    # Everything that is not a tensor or a container passes through as the same object.
    assert moved["array"] is array and moved["marker"] is marker and moved["none"] is None

    before, after = _all_tensors(batch), _all_tensors(moved)
    assert len(after) == len(before) == 9
    for old, new in zip(before, after, strict=True):
        assert new.device.type == "meta"
        assert (new.shape, new.dtype) == (old.shape, old.dtype)
        assert old.device.type == "cpu"  # the input is not modified


def test_to_device_defaults_to_best_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHLINT_DEVICE", "meta")
    out = to_device([torch.ones(2)], non_blocking=True)
    assert out[0].device.type == "meta"


def test_to_device_keeps_packed_sequence_batch_sizes_on_cpu() -> None:
    packed = pack_padded_sequence(torch.rand(3, 2, 4), torch.tensor([3, 2]))
    moved = to_device(packed, "meta")
    assert moved.data.device.type == "meta"
    assert moved.batch_sizes.device.type == "cpu"


@needs_cuda
def test_to_device_moves_to_cuda() -> None:
    batch = {"x": torch.ones(2).pin_memory(), "y": Pair(torch.zeros(1), "k")}
    moved = to_device(batch, non_blocking=True)
    torch.cuda.synchronize()
    assert moved["x"].is_cuda and moved["y"].left.is_cuda and moved["y"].right == "k"


_leaves = st.one_of(
    st.integers(),
    st.text(max_size=3),
    st.none(),
    st.builds(torch.ones, st.integers(0, 3)),
)
_nested = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), children, max_size=3),
        st.tuples(children, children).map(lambda pair: Pair(*pair)),
    ),
    max_leaves=10,
)


def _shape_of(obj: object) -> object:
    """The structure with every tensor replaced by its device type and shape."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", obj.device.type, tuple(obj.shape))
    if isinstance(obj, dict):
        return {key: _shape_of(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return (type(obj), [_shape_of(item) for item in obj])
    return obj


def _on_meta(shape: object) -> object:
    if isinstance(shape, tuple) and shape and shape[0] == "tensor":
        return ("tensor", "meta", shape[2])
    if isinstance(shape, dict):
        return {key: _on_meta(value) for key, value in shape.items()}
    if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], list):
        return (shape[0], [_on_meta(item) for item in shape[1]])
    return shape


@settings(max_examples=60, deadline=None)
@given(_nested)
def test_to_device_keeps_any_structure(obj: object) -> None:
    assert _shape_of(to_device(obj, "meta")) == _on_meta(_shape_of(obj))
