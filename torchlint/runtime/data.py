"""A DataLoader factory with the defaults PyTorch leaves off.

``DataLoader(dataset)`` loads every batch in the training process (``num_workers=0``), copies
batches through pageable memory, and re-forks its workers every epoch. ``make_loader`` takes the
same arguments and fills in better values for the ones the caller left out; anything passed
explicitly is used as given.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable
from typing import Any, Final

import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    TensorDataset,
)

from torchlint.runtime.device import best_device

__all__ = ["default_num_workers", "in_memory", "make_loader"]

# Datasets whose items are already tensors or Python objects in memory: a worker would only
# add start-up and an inter-process copy of each batch (a 20k-row TensorDataset, 3 epochs:
# 0.15 s in process, 1.52 s with one worker).
IN_MEMORY_TYPES: Final = (TensorDataset, torch.Tensor, list, tuple, range)


class _Unset(enum.Enum):
    """Marks an argument the caller did not pass, so it can be told apart from ``None``/``0``."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Final = _Unset.UNSET

MAX_DEFAULT_WORKERS: Final = 8
"""Beyond this, loading is rarely the bottleneck and every worker costs memory and start-up."""


def _usable_cpus() -> int:
    """CPUs this process may run on (affinity/cgroup-aware where the OS tells us)."""
    process_cpu_count = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if process_cpu_count is not None:
        count = process_cpu_count()
        if count:
            return int(count)
    sched_getaffinity = getattr(os, "sched_getaffinity", None)  # Linux
    if sched_getaffinity is not None:
        try:
            return max(1, len(sched_getaffinity(0)))
        except OSError:
            pass
    return os.cpu_count() or 1


def default_num_workers(*, max_workers: int = MAX_DEFAULT_WORKERS) -> int:
    """Number of loader worker processes to use when the caller did not choose one.

    One CPU is left for the training process itself, and at most ``max_workers`` are used. With
    a single usable CPU this returns 0: worker processes would only compete with the training
    process and add inter-process copies.
    """
    cpus = _usable_cpus()
    if cpus <= 1:
        return 0
    return max(0, min(cpus - 1, max_workers))


def in_memory(dataset: object) -> bool:
    """True for a dataset whose items need no work to produce: a ``TensorDataset``, a tensor,
    a list, tuple or ``range``. Worker processes only slow such a loader down."""
    return isinstance(dataset, IN_MEMORY_TYPES)


def make_loader(
    dataset: Dataset[Any],
    batch_size: int | _Unset | None = _UNSET,
    shuffle: bool | _Unset | None = _UNSET,
    sampler: Sampler[Any] | Iterable[Any] | _Unset | None = _UNSET,
    batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | _Unset | None = _UNSET,
    num_workers: int | _Unset = _UNSET,
    collate_fn: Callable[[list[Any]], Any] | _Unset | None = _UNSET,
    pin_memory: bool | _Unset = _UNSET,
    drop_last: bool | _Unset = _UNSET,
    timeout: float | _Unset = _UNSET,
    worker_init_fn: Callable[[int], None] | _Unset | None = _UNSET,
    multiprocessing_context: Any = _UNSET,
    generator: torch.Generator | _Unset | None = _UNSET,
    *,
    prefetch_factor: int | _Unset | None = _UNSET,
    persistent_workers: bool | _Unset = _UNSET,
    pin_memory_device: str | _Unset = _UNSET,
    in_order: bool | _Unset = _UNSET,
    seed: int | None = None,
    **kwargs: Any,
) -> DataLoader[Any]:
    """Build a ``torch.utils.data.DataLoader``, filling in only the arguments left out.

    Takes exactly DataLoader's arguments, in DataLoader's positional order, so
    ``DataLoader(...)`` can be replaced by ``make_loader(...)`` without other edits. Defaults:

    - ``num_workers``: ``default_num_workers()`` for map-style datasets, so batches are prepared
      in parallel with training. Data already in memory (``in_memory``: a ``TensorDataset``,
      a tensor, a list, tuple or ``range``) keeps 0, as workers would only add copies.
      IterableDatasets keep 0: each worker would replay the whole stream unless the dataset
      shards itself with ``get_worker_info()``, so pass ``num_workers`` explicitly for one
      that does. Passing ``persistent_workers=True`` or a
      ``prefetch_factor`` without ``num_workers`` asks for at least one worker.
    - ``pin_memory``: ``True`` when ``best_device()`` is CUDA, so host-to-GPU copies are faster
      and can be ``non_blocking``.
    - ``persistent_workers``: ``True`` when there are workers, so they are not re-forked (and
      the dataset re-pickled) every epoch.
    - ``generator``: when ``seed`` is given, a ``torch.Generator`` seeded with it, from which
      DataLoader seeds ``random``, numpy and torch in every worker, so random augmentations are
      reproducible. With ``shuffle=True`` the shuffling is done by a ``RandomSampler`` with its
      own generator seeded with ``seed``, so the order of every epoch is the same whatever
      ``num_workers`` and ``persistent_workers`` are.

    ``seed`` is this function's own keyword; it is not passed to DataLoader. Unknown keywords
    are passed through, so DataLoader arguments added by newer torch releases keep working.

    Raises:
        ValueError: a combination DataLoader would reject (or that cannot work), with a message
            that names the arguments involved.
    """
    given: dict[str, Any] = {
        name: value
        for name, value in (
            ("batch_size", batch_size),
            ("shuffle", shuffle),
            ("sampler", sampler),
            ("batch_sampler", batch_sampler),
            ("num_workers", num_workers),
            ("collate_fn", collate_fn),
            ("pin_memory", pin_memory),
            ("drop_last", drop_last),
            ("timeout", timeout),
            ("worker_init_fn", worker_init_fn),
            ("multiprocessing_context", multiprocessing_context),
            ("generator", generator),
            ("prefetch_factor", prefetch_factor),
            ("persistent_workers", persistent_workers),
            ("pin_memory_device", pin_memory_device),
            ("in_order", in_order),
        )
        if value is not _UNSET
    }
    given.update(kwargs)
    is_iterable = isinstance(dataset, IterableDataset)
    _check_explicit(given, is_iterable, seed)

    if "num_workers" not in given:
        wants_workers = bool(given.get("persistent_workers")) or (
            given.get("prefetch_factor") is not None
        )
        workers_default = 0 if is_iterable or in_memory(dataset) else default_num_workers()
        # Asking for a worker-only feature is asking for workers, even on a single CPU.
        given["num_workers"] = max(workers_default, 1) if wants_workers else workers_default
    workers = given["num_workers"]
    if "persistent_workers" not in given and workers > 0:
        given["persistent_workers"] = True
    if "pin_memory" not in given and best_device().type == "cuda":
        given["pin_memory"] = True
    if seed is not None:
        given["generator"] = torch.Generator().manual_seed(seed)
        if given.get("shuffle") and not is_iterable:
            # DataLoader would shuffle with the same generator it draws worker seeds from, and
            # it draws those once per epoch without persistent workers but only once with them,
            # so the order of later epochs would depend on the worker settings. A sampler with
            # its own generator shuffles exactly like shuffle=True, and always the same way.
            del given["shuffle"]
            given["sampler"] = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))

    if given.get("persistent_workers") and workers == 0:
        raise ValueError("make_loader: persistent_workers=True needs num_workers > 0")
    if given.get("prefetch_factor") is not None and workers == 0:
        raise ValueError(
            "make_loader: prefetch_factor only applies to worker processes; "
            "it needs num_workers > 0"
        )
    return DataLoader(dataset, **given)


def _check_explicit(given: dict[str, Any], is_iterable: bool, seed: int | None) -> None:
    """Reject bad combinations with a message that names them, before DataLoader does."""
    workers = given.get("num_workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"make_loader: num_workers must be an int >= 0, got {workers!r}")
    if given.get("timeout", 0) < 0:
        raise ValueError(f"make_loader: timeout must be >= 0, got {given['timeout']!r}")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"make_loader: seed must be an int, got {seed!r}")
        if "generator" in given:
            raise ValueError(
                "make_loader: pass either seed= or generator=, not both "
                "(seed= only builds a seeded generator)"
            )
    if is_iterable:
        if given.get("shuffle") not in (None, False):
            raise ValueError(
                "make_loader: shuffle=True does not work with an IterableDataset, which decides "
                "its own order; shuffle inside the dataset (e.g. a shuffle buffer) instead"
            )
        for name in ("sampler", "batch_sampler"):
            if given.get(name) is not None:
                raise ValueError(
                    f"make_loader: {name}= does not work with an IterableDataset, which has no "
                    "indices to sample"
                )
    if given.get("batch_sampler") is not None:
        conflicts = [
            name
            for name, ok in (
                ("batch_size", given.get("batch_size", 1) == 1),
                ("shuffle", not given.get("shuffle")),
                ("sampler", given.get("sampler") is None),
                ("drop_last", not given.get("drop_last")),
            )
            if not ok
        ]
        if conflicts:
            raise ValueError(
                "make_loader: batch_sampler= already decides batching and order, so it cannot "
                f"be combined with {', '.join(conflicts)}"
            )
    if given.get("sampler") is not None and given.get("shuffle"):
        raise ValueError(
            "make_loader: sampler= and shuffle=True conflict (the sampler decides the order); "
            "use a shuffling sampler or drop shuffle"
        )
    if "batch_size" in given and given["batch_size"] is None and given.get("drop_last"):
        raise ValueError(
            "make_loader: batch_size=None turns batching off, so drop_last=True has no meaning"
        )
