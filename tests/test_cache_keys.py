"""What the cache key must include: each part, left out, would hand back a stale result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from torchlint import cache as cache_module
from torchlint.cache import Cache
from torchlint.config import build_settings
from torchlint.runner import Mode, run

AMP = "import torch\nwith torch.cuda.amp.autocast():\n    pass\n"  # TL601: fix from torch 2.4


@pytest.fixture
def fresh_code_version():
    cache_module.code_version.cache_clear()
    yield
    cache_module.code_version.cache_clear()


def _package_copy(tmp_path: Path) -> Path:
    package = Path(cache_module.__file__).resolve().parent
    copy = tmp_path / "torchlint"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_editing_a_rule_changes_the_key(tmp_path: Path, monkeypatch, fresh_code_version) -> None:
    copy = _package_copy(tmp_path)
    monkeypatch.setattr(cache_module, "__file__", str(copy / "cache.py"))
    before = cache_module.code_version()
    rule = copy / "rules" / "devices" / "hardcoded_cuda.py"
    rule.write_text(rule.read_text() + "\n# edited\n")
    cache_module.code_version.cache_clear()
    assert cache_module.code_version() != before


def test_editing_the_runtime_library_keeps_the_key(
    tmp_path: Path, monkeypatch, fresh_code_version
) -> None:
    copy = _package_copy(tmp_path)
    monkeypatch.setattr(cache_module, "__file__", str(copy / "cache.py"))
    before = cache_module.code_version()
    (copy / "runtime" / "device.py").write_text("# not the linter\n")
    cache_module.code_version.cache_clear()
    assert cache_module.code_version() == before


def test_the_same_file_under_two_shown_paths(tmp_path: Path, monkeypatch) -> None:
    """Diagnostics carry the path as shown: a hit for `a.py` must not answer `sub/../a.py`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text(
        "import torch\nx = x.cuda()\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    )
    settings = build_settings(
        None, table={"cache-dir": str(tmp_path / "cache"), "extend-select": ["TL201"]}
    )
    for shown in ("a.py", "sub/../a.py"):
        result = run([Path(shown)], settings, Mode(), cache=Cache.for_settings(settings))
        assert {d.path for d in result.diagnostics} == {shown}


def test_project_root_is_part_of_the_key(tmp_path: Path) -> None:
    """Per-file-ignores match paths relative to the root: a shared cache-dir must not mix roots."""
    shared = tmp_path / "cache"
    table = (
        f'[tool.torchlint]\ncache-dir = "{shared}"\nextend-select = ["TL201"]\n'
        'per-file-ignores = {"pkg/*" = ["TL201"]}\n'
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pyproject.toml").write_text(table)
    (tmp_path / "pkg" / "pyproject.toml").write_text(table)
    target = tmp_path / "pkg" / "a.py"
    target.write_text(
        "import torch\nx = x.cuda()\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    )
    outer = build_settings(tmp_path / "pyproject.toml")
    inner = build_settings(tmp_path / "pkg" / "pyproject.toml")
    assert outer.fingerprint() == inner.fingerprint()  # only the root tells them apart
    assert run([target], outer, Mode(), cache=Cache.for_settings(outer)).diagnostics == []
    found = run([target], inner, Mode(), cache=Cache.for_settings(inner)).diagnostics
    assert [d.code for d in found] == ["TL201"]


def test_target_version_is_part_of_the_key(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(AMP)
    results = {}
    for version in ("2.3", "2.4"):
        settings = build_settings(
            None,
            table={
                "cache-dir": str(tmp_path / "cache"),
                "target-version": version,
                "extend-select": ["TL601"],
            },
        )
        found = run([tmp_path / "a.py"], settings, Mode(), cache=Cache.for_settings(settings))
        results[version] = [(d.code, d.fix is not None) for d in found.diagnostics]
    assert results == {"2.3": [("TL601", False)], "2.4": [("TL601", True)]}


def _tiny_package(tmp_path: Path, monkeypatch, files: dict[str, str]) -> Path:
    """A stand-in for torchlint's package directory: code_version hashes what is next to it."""
    package = tmp_path / "package"
    package.mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(text)
    monkeypatch.setattr(cache_module, "__file__", str(package / "cache.py"))
    cache_module.code_version.cache_clear()
    return package


def test_libcst_and_python_versions_are_part_of_the_key(monkeypatch, fresh_code_version) -> None:
    """A libcst or Python upgrade can change what parses: entries of the old one are stale."""
    import libcst

    monkeypatch.delattr(libcst, "__version__", raising=False)  # libcst has none: metadata
    keys = set()
    for libcst_version, python in (("1.0", (3, 11)), ("1.1", (3, 11)), ("1.0", (3, 12))):
        monkeypatch.setattr(cache_module, "_distribution_version", lambda name, v=libcst_version: v)
        monkeypatch.setattr(cache_module, "sys", type("Sys", (), {"version_info": (*python, 0)}))
        cache_module.code_version.cache_clear()
        keys.add(cache_module.code_version())
    assert len(keys) == 3


def test_moving_code_between_modules_changes_the_key(
    tmp_path: Path, monkeypatch, fresh_code_version
) -> None:
    """Each module is hashed with its name: the same text split differently is other code."""
    _tiny_package(tmp_path / "1", monkeypatch, {"a.py": "x = 1\ny = 2\n", "b.py": ""})
    first = cache_module.code_version()
    _tiny_package(tmp_path / "2", monkeypatch, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    assert cache_module.code_version() != first


def test_an_unreadable_module_is_not_taken_for_an_empty_one(
    tmp_path: Path, monkeypatch, fresh_code_version
) -> None:
    package = _tiny_package(tmp_path, monkeypatch, {"a.py": ""})
    empty = cache_module.code_version()
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == package / "a.py":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    cache_module.code_version.cache_clear()
    assert cache_module.code_version() != empty
