"""Parallel runs (--jobs) and the results cache (.torchlint_cache): same output, always.

No timings here: benchmarks/bench.py measures speed.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint import cache as cache_module
from torchlint import runner
from torchlint.cache import CACHEDIR_TAG, Cache, content_digest
from torchlint.config import build_settings
from torchlint.discovery import discover
from torchlint.runner import Mode, run

TRAINING = """\
import torch
from torch.utils.data import DataLoader

model = torch.load("model{n}.pt")
loader = DataLoader(dataset, batch_size={n})
net = model.cuda(); DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
up = torch.nn.functional.upsample(logits)
"""

CLEAN = """\
import os


def add(a, b):
    return a + b + {n}
"""

SUPPRESSED = """\
import torch
x = torch.load("a.pt")  # noqa: TL701
y = 1  # noqa: TL101
"""


def notebook(n: int) -> str:
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{n}",
        "metadata": {},
        "outputs": [],
        "source": ["import torch\n", f"m = torch.load('w{n}.pt')\n", "m.cuda(); d = 'cpu'\n"],
    }
    return json.dumps(
        {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1
    )


def make_tree(root: Path, files: int = 24) -> Path:
    """A project with diagnostics (with fixes), clean files, noqa, bad syntax and bad bytes."""
    src = root / "src"
    for n in range(files):
        package = src / f"pkg{n % 3}"
        package.mkdir(parents=True, exist_ok=True)
        template = TRAINING if n % 2 == 0 else CLEAN
        (package / f"module_{n:02d}.py").write_text(template.format(n=n))
    (src / "suppressed.py").write_text(SUPPRESSED)
    (src / "broken.py").write_text("def broken(:\n    pass\n")
    (src / "latin.py").write_bytes(b"# no coding line\nname = '\xe9t\xe9'\n")
    (src / "empty.py").write_text("")
    (src / "analysis.ipynb").write_text(notebook(1))
    (root / "pyproject.toml").write_text(
        '[tool.torchlint]\nextend-select = ["TL101", "TL201", "TL601", "TL701"]\n'
        'target-version = "2.1"\n'
    )
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )


def snapshot(result: runner.RunResult) -> list[str]:
    """Everything a report could show, fixes, cells and source lines included."""
    return [repr(d) for d in result.diagnostics] + result.errors


def files_of(root: Path) -> list[Path]:
    return discover(
        [root / "src"], root=root, exclude=(), extend_exclude=(), respect_gitignore=True
    ).files


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "project")


@pytest.fixture
def settings(tree: Path):
    return build_settings(tree / "pyproject.toml")


# --- --jobs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["full", "json", "concise"])
def test_cli_output_is_identical_for_one_and_two_jobs(tree: Path, fmt: str) -> None:
    one = cli(tree, "check", "src", "--jobs", "1", "--no-cache", "--output-format", fmt)
    two = cli(tree, "check", "src", "--jobs", "2", "--no-cache", "--output-format", fmt)
    assert one.returncode == two.returncode == 2  # latin.py cannot be decoded
    assert one.stdout == two.stdout
    assert one.stderr == two.stderr
    assert "TL701" in one.stdout and "TL000" in one.stdout and "latin.py" in one.stderr


def test_run_is_identical_for_any_job_count(tree: Path, settings) -> None:
    paths = files_of(tree)
    assert len(paths) >= 4 * 2  # enough files for a real pool of two workers
    sequential = snapshot(run(paths, settings, Mode(), jobs=1))
    assert snapshot(run(paths, settings, Mode(), jobs=2)) == sequential
    assert snapshot(run(paths, settings, Mode(), jobs=3)) == sequential
    assert any("fix=Fix(" in line for line in sequential)


def test_fix_is_identical_for_one_and_two_jobs(tmp_path: Path) -> None:
    one, two = make_tree(tmp_path / "one"), make_tree(tmp_path / "two")
    a = cli(one, "fix", "src", "--unsafe-fixes", "--jobs", "1", "--no-cache")
    b = cli(two, "fix", "src", "--unsafe-fixes", "--jobs", "2", "--no-cache")
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    assert "Fixed" in a.stderr
    for path in sorted((one / "src").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (two / path.relative_to(one)).read_bytes(), path


def test_jobs_must_be_positive(tree: Path) -> None:
    result = cli(tree, "check", "src", "--jobs", "0")
    assert result.returncode == 2
    assert "--jobs" in result.stderr


# --- the cache ---------------------------------------------------------------------------------


def test_cache_hit_returns_identical_diagnostics_with_fixes(
    tree: Path, settings, monkeypatch
) -> None:
    paths = files_of(tree)
    cache = Cache.for_settings(settings)
    cold = snapshot(run(paths, settings, Mode(), cache=cache))
    assert cold == snapshot(run(paths, settings, Mode()))  # the cache changes nothing cold

    linted: list[Path] = []
    real = runner.process_file
    monkeypatch.setattr(
        runner,
        "process_file",
        lambda p, s, m, *rest, linted=linted, real=real: linted.append(p) or real(p, s, m, *rest),
    )
    warm = snapshot(run(paths, settings, Mode(), cache=Cache.for_settings(settings)))
    assert warm == cold
    # Only the file that cannot be decoded (an error is never cached) is read again.
    assert [p.name for p in linted] == ["latin.py"]


def test_cache_is_invalidated_by_content(tree: Path, settings, monkeypatch) -> None:
    paths = files_of(tree)
    run(paths, settings, Mode(), cache=Cache.for_settings(settings))
    changed = tree / "src" / "pkg1" / "module_01.py"
    changed.write_text(TRAINING.format(n=1))  # a clean file now has diagnostics

    linted: list[str] = []
    real = runner.process_file
    monkeypatch.setattr(
        runner, "process_file", lambda p, s, m, *rest: linted.append(p.name) or real(p, s, m, *rest)
    )
    warm = run(paths, settings, Mode(), cache=Cache.for_settings(settings))
    assert sorted(linted) == ["latin.py", "module_01.py"]
    assert snapshot(warm) == snapshot(run(paths, settings, Mode()))
    assert any(d.path.endswith("module_01.py") for d in warm.diagnostics)


def test_cache_is_invalidated_by_settings(tree: Path, monkeypatch) -> None:
    paths = files_of(tree)
    first = build_settings(tree / "pyproject.toml")
    run(paths, first, Mode(), cache=Cache.for_settings(first))
    narrower = build_settings(tree / "pyproject.toml", select=["TL701"])
    helpers_off = build_settings(tree / "pyproject.toml", runtime_helpers=False)
    for other in (narrower, helpers_off):
        assert Cache.for_settings(other).entries != Cache.for_settings(first).entries
        linted: list[Path] = []
        real = runner.process_file
        monkeypatch.setattr(
            runner,
            "process_file",
            lambda p, s, m, *rest: linted.append(p) or real(p, s, m, *rest),  # noqa: B023
        )
        result = run(paths, other, Mode(), cache=Cache.for_settings(other))
        monkeypatch.setattr(runner, "process_file", real)
        assert len(linted) == len(paths)
        assert snapshot(result) == snapshot(run(paths, other, Mode()))
    assert {
        d.code for d in run(paths, narrower, Mode(), cache=Cache.for_settings(narrower)).diagnostics
    } == {"TL701"}


def test_cache_key_includes_the_path(tmp_path: Path) -> None:
    digest = content_digest(b"x = 1\n")
    a, b = Path("a.py"), Path("b.py")
    assert Cache.key(a, digest) != Cache.key(b, digest)
    assert Cache.key(a, digest) != Cache.key(a, content_digest(b"x = 2\n"))


def test_same_shown_path_in_two_directories_is_two_cache_entries(tmp_path: Path) -> None:
    """`a.py` run from sub1 and from sub2 is two files: per-file-ignores differ."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.torchlint]\nextend-select = ["TL201"]\nper-file-ignores = {"sub1/*" = ["TL201"]}\n'
    )
    for name in ("sub1", "sub2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.py").write_text(
            "import torch\nx = x.cuda()\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
        )
    assert cli(tmp_path / "sub1", "check", "a.py").returncode == 0
    second = cli(tmp_path / "sub2", "check", "--output-format", "concise", "a.py")
    assert second.returncode == 1, second.stderr
    assert second.stdout.startswith("a.py:2:7: TL201")


def test_cache_directory_has_tag_and_gitignore(tree: Path) -> None:
    result = cli(tree, "check", "src")
    assert result.returncode == 2, result.stderr
    directory = tree / ".torchlint_cache"
    assert (directory / "CACHEDIR.TAG").read_text() == CACHEDIR_TAG
    assert CACHEDIR_TAG.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (directory / ".gitignore").read_text().splitlines()[-1] == "*"
    entries = [p for p in directory.rglob("*") if p.is_file() and p.parent != directory]
    assert entries and not [p for p in entries if p.name.startswith(".tmp-")]


def test_cli_warm_run_prints_the_same(tree: Path) -> None:
    expected = cli(tree, "check", "src", "--no-cache", "--output-format", "json")
    cold = cli(tree, "check", "src", "--output-format", "json")
    warm = cli(tree, "check", "src", "--output-format", "json")
    assert (cold.returncode, cold.stdout, cold.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )


def test_cache_dir_setting_is_relative_to_the_project_root(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.torchlint]\ncache-dir = "build/lint-cache"\n')
    (tree / "src" / "pkg0").mkdir(exist_ok=True)
    result = cli(tree / "src" / "pkg0", "check", ".")
    assert result.returncode == 1, result.stderr
    assert (tree / "build" / "lint-cache" / "CACHEDIR.TAG").is_file()
    assert not (tree / "src" / "pkg0" / ".torchlint_cache").exists()


def test_no_cache_writes_nothing(tree: Path) -> None:
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    result = cli(tree, "check", "src", "--no-cache")
    assert result.returncode == 2
    assert not (tree / ".torchlint_cache").exists()
    assert sorted(p.relative_to(tree) for p in tree.rglob("*")) == before


def test_no_cache_reads_nothing(tree: Path) -> None:
    cli(tree, "check", "src")
    for entry in (tree / ".torchlint_cache").rglob("*"):
        if entry.is_file() and entry.parent != tree / ".torchlint_cache":
            entry.write_bytes(pickle.dumps((cache_module._FORMAT, [], ())))  # "no diagnostics"
    assert "TL701" not in cli(tree, "check", "src").stdout  # the cache is trusted...
    assert "TL701" in cli(tree, "check", "src", "--no-cache").stdout  # ...unless told not to


def test_clean_removes_the_cache(tree: Path) -> None:
    cli(tree, "check", "src")
    assert (tree / ".torchlint_cache").is_dir()
    result = cli(tree, "clean")
    assert result.returncode == 0, result.stderr
    assert "Removed" in result.stderr
    assert not (tree / ".torchlint_cache").exists()
    again = cli(tree, "clean")
    assert again.returncode == 0 and "No cache" in again.stderr


def test_clean_refuses_a_directory_torchlint_did_not_create(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.torchlint]\ncache-dir = "src"\n')
    result = cli(tree, "clean")
    assert result.returncode == 2
    assert "not a torchlint cache" in result.stderr
    assert (tree / "src" / "broken.py").is_file()


def test_damaged_or_foreign_entries_are_misses(tree: Path, settings, tmp_path: Path) -> None:
    paths = files_of(tree)
    cache = Cache.for_settings(settings)
    expected = snapshot(run(paths, settings, Mode(), cache=cache))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    entries = sorted(p for p in cache.entries.iterdir() if p.is_file())
    for index, entry in enumerate(entries):
        entry.write_bytes(
            [b"", b"\x80garbage", pickle.dumps((cache_module._FORMAT, [Evil()], ()))][index % 3]
        )
    assert snapshot(run(paths, settings, Mode(), cache=Cache.for_settings(settings))) == expected
    assert not marker.exists()
    assert all(Cache.for_settings(settings).get(e.name) is not None for e in entries)  # rewritten


def test_unwritable_cache_is_skipped(tree: Path, settings) -> None:
    (tree / "blocked").write_text("a file where the cache directory should be")
    table = {
        "cache-dir": "blocked/cache",
        "extend-select": ["TL101", "TL201", "TL601", "TL701"],
        "target-version": "2.1",
    }
    blocked = build_settings(tree / "pyproject.toml", table=table)
    paths = files_of(tree)
    result = run(paths, blocked, Mode(), cache=Cache.for_settings(blocked))
    assert snapshot(result) == snapshot(run(paths, settings, Mode()))


def test_concurrent_runs_do_not_corrupt_the_cache(tree: Path) -> None:
    expected = cli(tree, "check", "src", "--no-cache", "--output-format", "json")
    command = [
        sys.executable,
        "-m",
        "torchlint",
        "check",
        "src",
        "--output-format",
        "json",
        "--jobs",
        "2",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    racers = [
        subprocess.Popen(
            command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(3)
    ]
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert (racer.returncode, out, err) == (
            expected.returncode,
            expected.stdout,
            expected.stderr,
        )
    warm = cli(tree, "check", "src", "--output-format", "json")
    assert (warm.returncode, warm.stdout, warm.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )
    settings = build_settings(tree / "pyproject.toml")
    cache = Cache.for_settings(settings)
    names = [p.name for p in cache.entries.iterdir()]
    assert not [n for n in names if n.startswith(".tmp-")]
    assert all(cache.get(name) is not None for name in names)


def test_fix_lints_what_it_fixes_and_skips_files_known_clean(tmp_path: Path, monkeypatch) -> None:
    cached, uncached = make_tree(tmp_path / "cached"), make_tree(tmp_path / "uncached")
    assert cli(cached, "check", "src").returncode == 2  # fills the cache
    a = cli(cached, "fix", "src", "--unsafe-fixes")
    b = cli(uncached, "fix", "src", "--unsafe-fixes", "--no-cache")
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    for path in sorted((uncached / "src").rglob("*")):
        if path.is_file():
            assert (cached / path.relative_to(uncached)).read_bytes() == path.read_bytes(), path
    # A later check sees the fixed files (their content changed, so their entries did too).
    after = cli(cached, "check", "src", "--output-format", "json")
    fresh = cli(cached, "check", "src", "--output-format", "json", "--no-cache")
    assert (after.returncode, after.stdout) == (fresh.returncode, fresh.stdout)

    settings = build_settings(cached / "pyproject.toml")
    paths = files_of(cached)
    linted: list[str] = []
    real = runner.process_file
    monkeypatch.setattr(
        runner, "process_file", lambda p, s, m, *rest: linted.append(p.name) or real(p, s, m, *rest)
    )
    monkeypatch.chdir(cached)
    relative = [p.relative_to(cached) for p in paths]
    run(relative, settings, Mode(fix=True, write=False), cache=Cache.for_settings(settings))
    clean_files = {
        p.name for p in relative if p.read_text(errors="replace").startswith("import os")
    }
    assert clean_files and not clean_files & set(linted)  # known clean: not linted again
    assert "module_00.py" in linted  # diagnostics remain after the fix: linted again


def test_the_linter_source_is_part_of_the_key(monkeypatch, settings) -> None:
    before = Cache.for_settings(settings).entries
    cache_module.code_version.cache_clear()
    monkeypatch.setattr(cache_module, "__version__", "999.0")
    try:
        assert Cache.for_settings(settings).entries != before
    finally:
        cache_module.code_version.cache_clear()
