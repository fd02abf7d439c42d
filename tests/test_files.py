"""Hostile files and hostile circumstances: nothing crashes, nothing is lost.

Line endings, encodings, tabs, huge and deeply nested files, symlinks (and loops),
unreadable and read-only files, a file edited while `fix` runs, a `fix` killed mid-run,
and two `fix` runs racing on the same tree.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import with_former_defaults
from torchlint import runner
from torchlint.config import build_settings
from torchlint.runner import Mode, process_file
from torchlint.sourcefile import SourceError, read_source, write_source

LOAD = "import torch\nstate = torch.load(checkpoint)\n"
LOAD_FIXED = 'import torch\nstate = torch.load(checkpoint, map_location="cpu")\n'
TL703 = ("--select", "TL703", "--no-cache")  # a safe fix that touches one call


def _out(completed: subprocess.CompletedProcess) -> str:
    return completed.stdout.decode(errors="replace") + completed.stderr.decode(errors="replace")


def _assert_clean_exit(completed: subprocess.CompletedProcess, codes=(0, 1)) -> str:
    text = _out(completed)
    assert "Traceback" not in text, text
    assert completed.returncode in codes, (completed.returncode, text)
    return text


# --- line endings, encodings, layout ------------------------------------------------------


def test_crlf_file_keeps_crlf(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "crlf.py"
    path.write_bytes(LOAD.replace("\n", "\r\n").encode())
    _assert_clean_exit(run_cli("fix", *TL703, "crlf.py"), (0,))
    assert path.read_bytes() == LOAD_FIXED.replace("\n", "\r\n").encode()


def test_mixed_newlines_survive_a_fix(tmp_path: Path, run_cli) -> None:
    source = "import torch\nx = 1\r\nstate = torch.load(checkpoint)\r\ny = 2\n\nz = 3\r\n"
    path = tmp_path / "mixed.py"
    path.write_bytes(source.encode())
    _assert_clean_exit(run_cli("fix", *TL703, "mixed.py"), (0,))
    expected = source.replace(
        "torch.load(checkpoint)", 'torch.load(checkpoint, map_location="cpu")'
    )
    assert path.read_bytes() == expected.encode()  # every other line ending as it was


def test_old_mac_line_endings_do_not_crash(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "cr.py"
    path.write_bytes(LOAD.replace("\n", "\r").encode())
    _assert_clean_exit(run_cli("check", "--select", "ALL", "--no-cache", "cr.py"))
    _assert_clean_exit(run_cli("fix", *TL703, "cr.py"), (0, 1))
    ast.parse(path.read_bytes())


def test_bom_is_kept(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(codecs.BOM_UTF8 + LOAD.encode())
    _assert_clean_exit(run_cli("fix", *TL703, "bom.py"), (0,))
    assert path.read_bytes() == codecs.BOM_UTF8 + LOAD_FIXED.encode()


def test_pep263_latin1_is_kept(tmp_path: Path, run_cli) -> None:
    header = "# -*- coding: latin-1 -*-\n# Données de test: café\n"
    path = tmp_path / "latin.py"
    path.write_bytes((header + LOAD).encode("latin-1"))
    _assert_clean_exit(run_cli("fix", *TL703, "latin.py"), (0,))
    assert path.read_bytes() == (header + LOAD_FIXED).encode("latin-1")


def test_undecodable_file_is_one_line_and_the_run_goes_on(tmp_path: Path, run_cli) -> None:
    (tmp_path / "bad.py").write_bytes(b"x = '\xff\xfe'\n")
    (tmp_path / "good.py").write_text(LOAD)
    completed = run_cli("check", *TL703, "--output-format", "concise", ".")
    text = _assert_clean_exit(completed, (2,))
    assert "bad.py: cannot decode" in text
    assert "good.py:2:9: TL703" in text


def test_fix_that_cannot_be_encoded_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    original = "# -*- coding: latin-1 -*-\nx = 1\n".encode("latin-1")
    path.write_bytes(original)
    source = read_source(path)
    with pytest.raises(SourceError, match="cannot be encoded as"):
        write_source(source, "# -*- coding: latin-1 -*-\nx = '\u2603'\n")
    assert path.read_bytes() == original
    assert not list(tmp_path.glob(".*.tmp"))


def test_tab_indentation(tmp_path: Path, run_cli) -> None:
    source = (
        "import torch\n\n\ndef load(checkpoint):\n\tif checkpoint:\n"
        "\t\treturn torch.load(\n\t\t\tcheckpoint,\n\t\t)\n"
    )
    path = tmp_path / "tabs.py"
    path.write_text(source)
    _assert_clean_exit(run_cli("fix", *TL703, "tabs.py"), (0,))
    fixed = path.read_text()
    assert "map_location" in fixed and "    " not in fixed
    ast.parse(fixed)
    _assert_clean_exit(run_cli("fix", *TL703, "tabs.py"), (0,))
    assert path.read_text() == fixed


def test_very_long_line(tmp_path: Path, run_cli) -> None:
    numbers = ", ".join(str(i) for i in range(20_000))  # a ~110,000-character line
    source = (
        f"import torch\ntable = [{numbers}]\nstate = torch.load(checkpoint); other = [{numbers}]\n"
    )
    path = tmp_path / "long.py"
    path.write_text(source)
    _assert_clean_exit(run_cli("fix", *TL703, "long.py"), (0,))
    assert path.read_text() == source.replace(
        "load(checkpoint)", 'load(checkpoint, map_location="cpu")'
    )


def test_fifty_thousand_lines(tmp_path: Path, run_cli) -> None:
    body = "".join(f"x{i} = {i}\n" for i in range(49_998))
    source = f"import torch\n{body}state = torch.load(checkpoint)\n"
    path = tmp_path / "big.py"
    path.write_text(source)
    assert source.count("\n") == 50_000
    text = _assert_clean_exit(
        run_cli("check", "--select", "ALL", "--no-cache", "--output-format", "concise", "big.py")
    )
    assert "big.py:50000:9: TL703" in text
    _assert_clean_exit(run_cli("fix", *TL703, "big.py"), (0,))
    assert path.read_text() == source.replace(
        "load(checkpoint)", 'load(checkpoint, map_location="cpu")'
    )


# --- nesting deep enough to trip recursion limits -----------------------------------------

DEEP = {
    # CPython refuses these: TL000, quickly
    "parens_1000": "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n",
    "lists_1000": "x = " + "[" * 1000 + "]" * 1000 + "\n",
    "calls_1000": "x = " + "f(" * 1000 + ")" * 1000 + "\n",
    "ifs_120": "".join(" " * i + "if a:\n" for i in range(120)) + " " * 120 + "pass\n",
    "unary_10000": "x = " + "-" * 10_000 + "1\n",
    "attributes_10000": "x = a" + ".b" * 10_000 + "\n",
    "sum_10000": "x = " + " + ".join(["a"] * 10_000) + "\n",
    "lambdas_10000": "x = " + "lambda: " * 10_000 + "1\n",
    # CPython accepts these (and libcst's native parser used to overflow its stack on some)
    "ifs_99": "".join(" " * i + "if a:\n" for i in range(99)) + " " * 99 + "pass\n",
    "parens_150": "x = " + "(" * 150 + "torch.load(p)" + ")" * 150 + "\n",
    "and_8000": "x = " + " and ".join(["a"] * 8000) + "\n",
    "unary_1500": "x = " + "-" * 1500 + "1\n",
    "lambdas_1000": "x = " + "lambda: " * 1000 + "torch.load(p)\n",
    # valid, but libcst's grammar refuses it (libcst#1011): an honest TL000
    "libcst_refuses": "(x): int = 1\n",
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_is_reported_cleanly(tmp_path: Path, run_cli, name: str) -> None:
    (tmp_path / f"{name}.py").write_text("import torch\n" + DEEP[name])
    (tmp_path / "ok.py").write_text(LOAD)
    start = time.monotonic()
    args = ("--select", "ALL", "--no-cache", "--output-format", "concise", f"{name}.py", "ok.py")
    text = _assert_clean_exit(run_cli("check", *args), (1, 2))
    assert "ok.py:2:9: TL703" in text  # the other file is still linted
    if "TL000" in text or "internal error" in text:
        assert f"{name}.py:" in text
    completed = run_cli("fix", "--unsafe-fixes", *args)
    _assert_clean_exit(completed, (0, 1, 2))
    assert "map_location" in (tmp_path / "ok.py").read_text()
    fixed = (tmp_path / f"{name}.py").read_text()
    if fixed != "import torch\n" + DEEP[name]:
        ast.parse(fixed)  # a changed file is still valid Python
    assert time.monotonic() - start < 120


def test_deep_nesting_verdicts(tmp_path: Path, run_cli) -> None:
    """The messages say what happened: CPython's error, or libcst's limitation."""
    for name in ("parens_1000", "unary_10000", "libcst_refuses", "ifs_120"):
        (tmp_path / f"{name}.py").write_text(DEEP[name])
    # A file no rule could fire on needs no tree: libcst's limitation is not reported. One
    # that imports what a default rule reads (`torch.load`) needs it, so it is.
    (tmp_path / "libcst_refuses.py").write_text("from torch import load\n" + DEEP["libcst_refuses"])
    (tmp_path / "libcst_refuses_plain.py").write_text(DEEP["libcst_refuses"])
    completed = run_cli("check", "--no-cache", "--output-format", "concise", ".")
    lines = sorted(_assert_clean_exit(completed, (1,)).splitlines())
    joined = "\n".join(lines)
    assert "libcst_refuses_plain.py" not in joined
    assert "ifs_120.py:101:1: TL000 SyntaxError: too many levels of indentation" in joined
    assert "parens_1000.py:1:205: TL000 SyntaxError: too many nested parentheses" in joined
    assert "unary_10000.py:1:1: TL000 the file is nested too deeply for Python to compile" in joined
    assert "libcst_refuses.py:2:1: TL000 torchlint's parser (libcst) cannot read" in joined


# --- symlinks -----------------------------------------------------------------------------


def test_symlink_loop_terminates(tmp_path: Path, run_cli) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "model.py").write_text(LOAD)
    (package / "sub" / "loop").symlink_to(package, target_is_directory=True)
    (package / "self").symlink_to(".", target_is_directory=True)
    (package / "broken.py").symlink_to(tmp_path / "missing.py")
    completed = run_cli("check", *TL703, "--output-format", "concise", "pkg")
    text = _assert_clean_exit(completed, (1,))
    assert text.count(": TL703") == 1


def test_fix_through_a_symlink_keeps_the_link(tmp_path: Path, run_cli) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "model.py"
    target.write_text(LOAD)
    link = tmp_path / "link.py"
    link.symlink_to(target)
    _assert_clean_exit(run_cli("fix", *TL703, "link.py"), (0,))
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text() == LOAD_FIXED
    assert not list((tmp_path / "real").glob(".*.tmp"))


def test_broken_symlink_named_explicitly(tmp_path: Path, run_cli) -> None:
    (tmp_path / "gone.py").symlink_to(tmp_path / "missing.py")
    text = _assert_clean_exit(run_cli("check", *TL703, "gone.py"), (2,))
    assert "gone.py: broken symbolic link" in text


# --- unreadable and read-only files --------------------------------------------------------


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_unreadable_file(tmp_path: Path, run_cli) -> None:
    secret = tmp_path / "secret.py"
    secret.write_text(LOAD)
    secret.chmod(0)
    (tmp_path / "ok.py").write_text(LOAD)
    try:
        completed = run_cli("check", *TL703, "--output-format", "concise", ".")
    finally:
        secret.chmod(0o644)
    text = _assert_clean_exit(completed, (2,))
    assert "secret.py: cannot read: Permission denied" in text
    assert "ok.py:2:9: TL703" in text


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch) -> None:
    """Runs as root too: the read fails as it would for an ordinary user."""
    secret = tmp_path / "secret.py"
    secret.write_text(LOAD)
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "secret.py":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    settings = build_settings(None, select=["TL703"])
    outcome = process_file(secret, settings, Mode(fix=True))
    assert outcome.errors == [f"{secret.as_posix()}: cannot read: Permission denied"]
    assert outcome.fixed == 0


def test_read_only_file_is_not_touched(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "frozen.py"
    path.write_text(LOAD)
    path.chmod(0o444)
    (tmp_path / "ok.py").write_text(LOAD)
    completed = run_cli("fix", *TL703, ".")
    text = _assert_clean_exit(completed, (2,))
    assert "frozen.py: file is read-only; not written" in text
    assert path.read_text() == LOAD
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert (tmp_path / "ok.py").read_text() == LOAD_FIXED
    assert not list(tmp_path.glob(".*.tmp"))


def test_read_only_file_reports_what_it_still_has(tmp_path: Path, run_cli) -> None:
    """The fix (which adds an import, shifting lines) was not written: report the file."""
    path = tmp_path / "frozen.py"
    source = (
        "from torch.utils.data import DataLoader\n"
        "loader = DataLoader(ds, batch_size=8)\n"
        "x = x.cuda()\n"
        "DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'  # the file selects a device: TL201 applies\n"
    )
    path.write_text(source)
    path.chmod(0o444)
    completed = run_cli(
        "fix", "--select", "TL102,TL201", "--no-cache", "--output-format", "concise", "frozen.py"
    )
    text = _assert_clean_exit(completed, (2,))
    assert path.read_text() == source
    lines = completed.stdout.decode().splitlines()
    assert [line.split(" ")[:2] for line in lines] == [
        ["frozen.py:2:10:", "TL102"],
        ["frozen.py:3:7:", "TL201"],
    ]
    assert "Found 2 errors remaining." in text


def test_fix_keeps_permission_bits(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "script.py"
    path.write_text("#!/usr/bin/env python\n" + LOAD)
    path.chmod(0o751)
    _assert_clean_exit(run_cli("fix", *TL703, "script.py"), (0,))
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert path.read_text() == "#!/usr/bin/env python\n" + LOAD_FIXED


# --- a file changed while `fix` works on it ------------------------------------------------


def test_file_changed_before_write_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(LOAD)
    source = read_source(path)
    path.write_text(LOAD + "# edited by someone else\n")
    with pytest.raises(SourceError, match="changed while torchlint was fixing it"):
        write_source(source, LOAD_FIXED)
    assert path.read_text() == LOAD + "# edited by someone else\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_file_changed_during_fix_is_reported(tmp_path: Path, monkeypatch) -> None:
    """Through the runner: the edit lands between the read and the write."""
    path = tmp_path / "model.py"
    path.write_text(LOAD)
    edited = LOAD + "# edited in an editor meanwhile\n"
    real_fix_source = runner.fix_source

    def fix_source(*args, **kwargs):
        outcome = real_fix_source(*args, **kwargs)
        path.write_text(edited)
        return outcome

    monkeypatch.setattr(runner, "fix_source", fix_source)
    settings = build_settings(None, select=["TL703"])
    outcome = process_file(path, settings, Mode(fix=True))
    assert outcome.errors == [
        f"{path.as_posix()}: changed while torchlint was fixing it; not written"
    ]
    assert outcome.fixed == 0
    assert path.read_text() == edited
    assert not list(tmp_path.glob(".*.tmp"))


# --- interrupted and concurrent runs -------------------------------------------------------

TREE_FILE = """\
import torch
import torch.nn.functional as F
from torch.autograd import Variable

# file {index}: {padding}


def train_{index}(f, x, y):
    a = torch.log(1 + x)
    b = torch.exp(x) - 1
    v = Variable(x)
    t = torch.zeros(3, 4).to("cpu")
    loss = F.cross_entropy(F.softmax(f(x), dim=1), y)
    with torch.cuda.amp.autocast():
        out = f(v)
    return loss, a, b, t, out  # noqa: TL101
"""


def _make_tree(root: Path, count: int) -> dict[str, bytes]:
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.torchlint]\n")
    originals = {}
    for index in range(count):
        relative = f"pkg/module_{index:04d}.py"
        data = TREE_FILE.format(index=index, padding="x" * (index % 97)).encode()
        (root / relative).write_bytes(data)
        originals[relative] = data
    return originals


def _fixed_versions(tmp_path: Path, originals: dict[str, bytes], run_cli) -> dict[str, bytes]:
    reference = tmp_path / "reference"
    _make_tree(reference, len(originals))
    _assert_clean_exit(run_cli("fix", "--no-cache", "pkg", cwd=reference), (0,))
    fixed = {name: (reference / name).read_bytes() for name in originals}
    assert all(fixed[name] != originals[name] for name in originals)
    return fixed


def _cli(*args: str) -> list[str]:
    """The command `run_cli` runs, for a process the test controls itself."""
    return [sys.executable, "-m", "torchlint", *with_former_defaults(args)]


def test_killed_fix_leaves_every_file_whole(tmp_path: Path, run_cli) -> None:
    tree = tmp_path / "tree"
    originals = _make_tree(tree, 240)
    fixed = _fixed_versions(tmp_path, originals, run_cli)
    process = subprocess.Popen(
        _cli("fix", "pkg"),
        cwd=tree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its worker processes die with it
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if any((tree / name).read_bytes() != data for name, data in originals.items()):
                break  # writing has begun: kill it mid-run
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for name, data in originals.items():
        now = (tree / name).read_bytes()
        assert now in (data, fixed[name]), f"{name} is neither the original nor the fixed file"
    # A kill can land between creating a temporary file and renaming it; such a leftover is
    # never a source file (discovery ignores it) and the real file is still whole.
    leftovers = list((tree / "pkg").glob(".*.tmp"))
    assert len(leftovers) <= 2, leftovers
    for leftover in leftovers:
        leftover.unlink()
    # The next run (cache and all) finishes the job.
    _assert_clean_exit(run_cli("fix", "pkg", cwd=tree), (0,))
    for name in originals:
        assert (tree / name).read_bytes() == fixed[name]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_interrupted_fix_cleans_up(tmp_path: Path, run_cli, jobs: str) -> None:
    """Ctrl-C (to the whole process group, as a terminal sends it): exit 130, whole files,
    no temporary files left behind."""
    tree = tmp_path / "tree"
    originals = _make_tree(tree, 160)
    fixed = _fixed_versions(tmp_path, originals, run_cli)
    process = subprocess.Popen(
        _cli("fix", "--jobs", jobs, "pkg"),
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    # Writing has begun when the directory changes (a temporary file is created in it): a
    # cheap check, so the interrupt lands early in the run. Wherever it lands, the run
    # must stop cleanly: writes hold Ctrl-C until the file is whole (interrupts.py), and
    # worker processes leave it to the parent, so none prints a traceback.
    before = (tree / "pkg").stat().st_mtime_ns
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (tree / "pkg").stat().st_mtime_ns != before:
            break
        time.sleep(0.002)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)  # a hang guard: it takes about a second
    assert b"Traceback" not in stderr, stderr
    assert process.returncode in (0, 130), stderr
    for name, data in originals.items():
        assert (tree / name).read_bytes() in (data, fixed[name])
    time.sleep(0.5)  # worker processes, if any, are gone
    assert not list((tree / "pkg").glob(".*.tmp"))


def test_two_fix_runs_on_the_same_tree(tmp_path: Path, run_cli) -> None:
    tree = tmp_path / "tree"
    originals = _make_tree(tree, 120)
    fixed = _fixed_versions(tmp_path, originals, run_cli)
    environment = {**os.environ, "NO_COLOR": "1"}
    processes = [
        subprocess.Popen(
            _cli("fix", "pkg"),
            cwd=tree,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        for _ in range(2)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        text = stderr.decode()
        assert "Traceback" not in text
        assert process.returncode in (0, 2), text
        for line in text.splitlines():
            if line.startswith("torchlint: error:"):  # the other run got there first
                assert line.endswith("changed while torchlint was fixing it; not written"), line
    for name in originals:
        data = (tree / name).read_bytes()
        assert data == fixed[name], name
        ast.parse(data)
    assert not list((tree / "pkg").glob(".*.tmp"))
    # The cache both runs wrote is sound: it gives what a run without it gives.
    with_cache = [run_cli("check", "--output-format", "concise", "pkg", cwd=tree) for _ in "ab"]
    without = run_cli("check", "--no-cache", "--output-format", "concise", "pkg", cwd=tree)
    for completed in with_cache:
        assert completed.returncode == without.returncode
        assert completed.stdout == without.stdout
    shutil.rmtree(tree / ".torchlint_cache", ignore_errors=True)


# --- crashes outside the rules stay with their file ---------------------------------------


def test_engine_crash_is_one_line_for_that_file(monkeypatch) -> None:
    from torchlint import engine
    from torchlint.registry import selected_rules

    settings = build_settings(None, select=["TL703"])
    rules = selected_rules(settings.selected_codes)
    real = engine.apply_suppressions

    def apply_suppressions(path, *args, **kwargs):
        if path == "bad.py":
            raise KeyError("boom")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(engine, "apply_suppressions", apply_suppressions)
    bad = engine.lint_source("bad.py", LOAD, settings, rules)
    assert bad.diagnostics == []
    assert len(bad.errors) == 1
    assert bad.errors[0].startswith("bad.py: internal error: KeyError: 'boom' [")
    good = engine.lint_source("good.py", LOAD, settings, rules)
    assert [d.code for d in good.diagnostics] == ["TL703"] and not good.errors


def test_fixer_crash_leaves_the_source_unchanged(monkeypatch) -> None:
    from torchlint import fixer
    from torchlint.registry import selected_rules

    settings = build_settings(None, select=["TL703"])
    rules = selected_rules(settings.selected_codes)

    def apply_edits(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(fixer, "apply_edits", apply_edits)
    outcome = fixer.fix_source("bad.py", LOAD, settings, rules, unsafe=False)
    assert outcome.source == LOAD and outcome.fixed == 0
    assert outcome.errors[0].startswith("bad.py: internal error: RuntimeError: boom [")
