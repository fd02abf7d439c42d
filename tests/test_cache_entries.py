"""What `Cache.get` accepts: only whole entries of this format, made of diagnostics.

Anything else in the cache directory (another format, another shape, a planted pickle) is
a miss, so the file is linted again; and a write that fails leaves nothing behind.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from tests.helpers import lint
from torchlint import cache as cache_module
from torchlint.cache import Cache
from torchlint.config import build_settings
from torchlint.diagnostics import Diagnostic, Location


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    return Cache.for_settings(build_settings(None, table={"cache-dir": str(tmp_path / "c")}))


@pytest.fixture
def diagnostic() -> Diagnostic:
    [found] = lint("import torch\nx = x.cuda()\n", "TL201", portability="strict").diagnostics
    assert found.fix is not None
    return found


def _plant(cache: Cache, data: bytes) -> str:
    cache.put("seed", [])  # creates the entries directory
    (cache.entries / "planted").write_bytes(data)
    return "planted"


def test_an_entry_round_trips(cache: Cache, diagnostic: Diagnostic) -> None:
    cache.put("key", [diagnostic])
    assert cache.get("key") == [diagnostic]
    # what the tests below plant is an entry of this format, but for the part they change
    data = (cache.entries / "key").read_bytes()
    assert pickle.loads(data) == (cache_module._FORMAT, [diagnostic], ())
    assert cache.get(_plant(cache, pickle.dumps((cache_module._FORMAT, [diagnostic], ())))) == [
        diagnostic
    ]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(lambda d: (cache_module._FORMAT + 1, [d], ()), id="another format"),
        pytest.param(lambda d: (cache_module._FORMAT, (d,), ()), id="a tuple"),
        pytest.param(lambda d: (cache_module._FORMAT, [Location(1, 1)], ()), id="not diagnostics"),
        pytest.param(lambda d: (cache_module._FORMAT, [d], []), id="dependencies a list"),
        pytest.param(lambda d: (cache_module._FORMAT, [d]), id="the shape of format 1"),
    ],
)
def test_entries_of_another_format_or_shape_are_misses(
    cache: Cache, diagnostic: Diagnostic, entry
) -> None:
    assert cache.get(_plant(cache, pickle.dumps(entry(diagnostic)))) is None


class _Call:
    """Pickles as the call ``str("planted")``; the test swaps ``str`` for another callable."""

    def __reduce__(self):
        return (str, ("planted",))


def test_an_entry_cannot_call_what_the_diagnostics_module_only_reaches(
    cache: Cache, diagnostic: Diagnostic
) -> None:
    """``torchlint.diagnostics.__class__`` is a class (``module``) but not one defined there."""
    data = pickle.dumps(
        (
            cache_module._FORMAT,
            [diagnostic.__class__(**{**vars(diagnostic), "message": _Call()})],
            (),
        ),
        protocol=2,
        fix_imports=False,
    )
    assert cache.get(_plant(cache, data)) is None  # builtins.str: not allowed either
    planted = data.replace(b"cbuiltins\nstr\n", b"ctorchlint.diagnostics\n__class__\n")
    assert planted != data
    assert cache.get(_plant(cache, planted)) is None  # would build types.ModuleType("planted")


def test_a_failed_write_leaves_no_temporary_file(
    cache: Cache, diagnostic: Diagnostic, monkeypatch
) -> None:
    cache.put("seed", [])
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError(28, "full")))
    cache.put("key", [diagnostic])
    assert sorted(p.name for p in cache.entries.iterdir()) == ["seed"]
