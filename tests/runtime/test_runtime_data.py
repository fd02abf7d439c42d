"""make_loader() and default_num_workers(), with real worker processes."""

from __future__ import annotations

import inspect
import itertools
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    get_worker_info,
)

from torchlint.runtime import data as data_mod
from torchlint.runtime import default_num_workers, make_loader

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class Squares(Dataset[torch.Tensor]):
    """Map-style and deterministic: batches depend only on the order of indices."""

    def __init__(self, n: int = 40) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([index, index * index])


class Noisy(Dataset[tuple[Any, ...]]):
    """Uses all three RNGs, like a data augmentation would."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return index, torch.rand(()).item(), random.random(), float(np.random.rand())


class Stream(IterableDataset[int]):
    """Shards itself across workers, as an IterableDataset used with workers must."""

    def __init__(self, n: int = 30) -> None:
        self.n = n

    def __iter__(self) -> Iterator[int]:
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


def _batches(loader: DataLoader[Any]) -> list[Any]:
    return [batch.tolist() for batch in loader]


def _noisy_batches(loader: DataLoader[Any]) -> list[Any]:
    return [[column.tolist() for column in batch] for batch in loader]


# Pretending to have 4 CPUs makes torch warn that 3 workers is more than this machine has.
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


@pytest.fixture
def four_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "_usable_cpus", lambda: 4)


# -- default_num_workers ----------------------------------------------------------------------


@pytest.mark.parametrize(("cpus", "expected"), [(1, 0), (2, 1), (4, 3), (9, 8), (64, 8)])
def test_default_num_workers(monkeypatch: pytest.MonkeyPatch, cpus: int, expected: int) -> None:
    monkeypatch.setattr(data_mod, "_usable_cpus", lambda: cpus)
    assert default_num_workers() == expected
    assert default_num_workers(max_workers=2) == min(expected, 2)


def test_usable_cpus_follows_affinity_then_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert data_mod._usable_cpus() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    assert data_mod._usable_cpus() == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert data_mod._usable_cpus() == 1


def test_usable_cpus_on_this_machine() -> None:
    assert 1 <= data_mod._usable_cpus() <= (os.cpu_count() or 1)


# -- signature --------------------------------------------------------------------------------


def test_signature_mirrors_dataloader() -> None:
    """Positional arguments must line up, so DataLoader(...) -> make_loader(...) is safe."""
    loader_params = list(inspect.signature(DataLoader.__init__).parameters.values())[1:]
    ours = inspect.signature(make_loader).parameters
    positional = [p.name for p in loader_params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert [p.name for p in ours.values() if p.kind is p.POSITIONAL_OR_KEYWORD] == positional
    known_keyword_only = {"prefetch_factor", "persistent_workers", "pin_memory_device"}
    assert known_keyword_only <= {p.name for p in ours.values() if p.kind is p.KEYWORD_ONLY}
    assert any(p.kind is p.VAR_KEYWORD for p in ours.values())  # newer DataLoader arguments


def test_positional_arguments_in_dataloader_order() -> None:
    loader = make_loader(Squares(), 4, True, None, None, 0)
    assert loader.batch_size == 4
    assert isinstance(loader.sampler, RandomSampler)
    assert loader.num_workers == 0


# -- defaults ---------------------------------------------------------------------------------


def test_fills_defaults_when_absent(four_cpus: None) -> None:
    loader = make_loader(Squares())
    assert loader.num_workers == 3
    assert loader.persistent_workers is True
    assert loader.pin_memory is False  # best_device() is not CUDA here
    assert loader.batch_size == 1 and isinstance(loader.sampler, SequentialSampler)
    assert loader.generator is None  # no seed, no generator


def test_pin_memory_default_follows_best_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "best_device", lambda: torch.device("cuda"))
    assert make_loader(Squares(), num_workers=0).pin_memory is True
    assert make_loader(Squares(), num_workers=0, pin_memory=False).pin_memory is False
    monkeypatch.setattr(data_mod, "best_device", lambda: torch.device("cpu"))
    assert make_loader(Squares(), num_workers=0).pin_memory is False
    assert make_loader(Squares(), num_workers=0, pin_memory=True).pin_memory is True


def test_explicit_arguments_win(four_cpus: None) -> None:
    loader = make_loader(Squares(), num_workers=0)
    assert loader.num_workers == 0 and loader.persistent_workers is False
    loader = make_loader(Squares(), num_workers=2, persistent_workers=False)
    assert loader.num_workers == 2 and loader.persistent_workers is False
    generator = torch.Generator()
    loader = make_loader(Squares(), batch_size=5, shuffle=True, generator=generator)
    assert loader.generator is generator and loader.batch_size == 5
    assert loader.num_workers == 3 and loader.persistent_workers is True


def test_worker_only_options_ask_for_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "_usable_cpus", lambda: 1)
    assert make_loader(Squares()).num_workers == 0
    assert make_loader(Squares(), persistent_workers=True).num_workers == 1
    assert make_loader(Squares(), prefetch_factor=4).num_workers == 1


def test_unknown_keywords_reach_dataloader() -> None:
    with pytest.raises(TypeError, match="no_such_argument"):
        make_loader(Squares(), num_workers=0, no_such_argument=1)


# -- seeding and real workers -----------------------------------------------------------------


def test_seeded_batches_do_not_depend_on_num_workers() -> None:
    def epochs(num_workers: int, seed: int, **kwargs: Any) -> list[list[Any]]:
        loader = make_loader(
            Squares(), batch_size=8, shuffle=True, num_workers=num_workers, seed=seed, **kwargs
        )
        return [_batches(loader) for _ in range(2)]

    in_process = epochs(0, seed=7)
    # Real worker processes (persistent by default, and not): same order and content.
    assert in_process == epochs(2, seed=7)
    assert in_process == epochs(2, seed=7, persistent_workers=False)
    assert in_process == epochs(0, seed=7)
    assert in_process != epochs(0, seed=8)
    first_epoch = [row[0] for batch in in_process[0] for row in batch]
    assert first_epoch != list(range(40))  # it did shuffle ...
    assert sorted(first_epoch) == list(range(40))  # ... every item exactly once
    assert in_process[0] != in_process[1]  # and reshuffles each epoch


def test_seed_makes_worker_randomness_reproducible() -> None:
    def run(seed: int) -> list[Any]:
        return _noisy_batches(make_loader(Noisy(), batch_size=4, num_workers=2, seed=seed))

    first = run(3)
    assert first == run(3)
    assert first != run(4)


def test_iterable_dataset_defaults_to_no_workers(four_cpus: None) -> None:
    loader = make_loader(Stream(), batch_size=4)
    assert loader.num_workers == 0 and loader.persistent_workers is False
    assert list(itertools.chain.from_iterable(_batches(loader))) == list(range(30))


@pytest.mark.parametrize(
    "dataset",
    [
        TensorDataset(torch.arange(20.0).reshape(10, 2)),
        torch.arange(10),
        list(range(10)),
        tuple(range(10)),
        range(10),
    ],
    ids=["TensorDataset", "tensor", "list", "tuple", "range"],
)
def test_in_memory_dataset_defaults_to_no_workers(four_cpus: None, dataset: Any) -> None:
    loader = make_loader(dataset, batch_size=5)
    assert loader.num_workers == 0 and loader.persistent_workers is False
    assert len(list(loader)) == 2  # two batches of five, loaded in process
    assert make_loader(dataset, batch_size=5, num_workers=2).num_workers == 2  # explicit wins


def test_in_memory_subclass_and_computed_dataset(four_cpus: None) -> None:
    class Labelled(TensorDataset):
        pass

    assert make_loader(Labelled(torch.zeros(4, 1))).num_workers == 0
    assert make_loader(Squares()).num_workers == 3  # computes each item: workers help


def test_iterable_dataset_with_workers() -> None:
    loader = make_loader(Stream(), batch_size=4, num_workers=2, seed=1)
    assert loader.persistent_workers is True
    items = list(itertools.chain.from_iterable(_batches(loader)))
    assert sorted(items) == list(range(30))  # sharded: every item once, none twice


# -- invalid combinations ---------------------------------------------------------------------


def _batch_sampler() -> BatchSampler:
    return BatchSampler(SequentialSampler(range(40)), batch_size=4, drop_last=False)


@pytest.mark.parametrize(
    ("kwargs", "mentions"),
    [
        ({"num_workers": 0, "persistent_workers": True}, "persistent_workers"),
        ({"num_workers": -1}, "num_workers"),
        ({"num_workers": 1.5}, "num_workers"),
        ({"num_workers": 0, "prefetch_factor": 2}, "prefetch_factor"),
        ({"batch_sampler": _batch_sampler(), "batch_size": 4}, "batch_size"),
        ({"batch_sampler": _batch_sampler(), "shuffle": True}, "shuffle"),
        ({"batch_sampler": _batch_sampler(), "drop_last": True}, "drop_last"),
        ({"batch_sampler": _batch_sampler(), "sampler": SequentialSampler(range(4))}, "sampler"),
        ({"sampler": SequentialSampler(range(40)), "shuffle": True}, "shuffle"),
        ({"batch_size": None, "drop_last": True}, "drop_last"),
        ({"timeout": -1}, "timeout"),
        ({"seed": 1, "generator": torch.Generator()}, "generator"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_invalid_combinations_are_clear_errors(kwargs: dict[str, Any], mentions: str) -> None:
    with pytest.raises(ValueError, match=rf"^make_loader: .*{mentions}"):
        make_loader(Squares(), **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shuffle": True},
        {"sampler": SequentialSampler(range(4))},
        {"batch_sampler": _batch_sampler()},
    ],
)
def test_iterable_dataset_rejects_ordering_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="IterableDataset"):
        make_loader(Stream(), **kwargs)


def test_batch_sampler_alone_is_fine() -> None:
    loader = make_loader(Squares(), batch_sampler=_batch_sampler(), num_workers=0)
    assert len(_batches(loader)) == 10


@needs_cuda
def test_pins_memory_when_training_on_cuda() -> None:
    loader = make_loader(Squares(), batch_size=8, num_workers=0)
    assert loader.pin_memory is True
    assert all(batch.is_pinned() for batch in loader)
