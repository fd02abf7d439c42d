"""Editors: `--stdin-filename` with `check` and `fix` (fixed source on stdout, messages on stderr).

These run the real `torchlint` command in a subprocess, as an editor plugin would.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

SOURCE = (
    "import torch\n"
    "import torchvision; from torch.utils.data import DataLoader\n"
    "loader = DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)\n"
    "y = torch.log(1 + x)\n"
)
SAFE_FIXED = SOURCE.replace("torch.log(1 + x)", "torch.log1p(x)")
SELECT = ("--select", "TL000,TL101,TL405")


def lint(run_cli, *args: str, stdin: str | bytes, cwd: Path | None = None):
    return run_cli(args[0], *SELECT, *args[1:], stdin=stdin, cwd=cwd)


def test_check_reads_stdin_and_names_it(run_cli) -> None:
    done = lint(
        run_cli,
        "check",
        "--output-format",
        "concise",
        "--stdin-filename",
        "src/model.py",
        stdin=SOURCE,
    )
    assert done.returncode == 1
    assert done.stdout.decode().splitlines() == [
        "src/model.py:3:10: TL101 `DataLoader` without `num_workers` loads every batch in the main process"
        ": `ImageFolder` reads and decodes a file per item",
        "src/model.py:4:5: TL405 [*] `torch.log(1 + x)` loses precision for small `x`: use `torch.log1p(x)`",
    ]
    assert "Found 2 errors." in done.stderr.decode()


def test_check_with_dash_and_clean_input(run_cli) -> None:
    done = lint(run_cli, "check", "--stdin-filename", "a.py", "-", stdin="import torch\n")
    assert done.returncode == 0 and done.stdout == b""
    done = lint(run_cli, "check", "--output-format", "json", "-", stdin=SOURCE)
    assert [d["filename"] for d in json.loads(done.stdout)] == ["-", "-"]


def test_fix_prints_only_the_fixed_source_on_stdout(run_cli) -> None:
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=SOURCE)
    assert done.stdout.decode() == SAFE_FIXED
    err = done.stderr.decode()
    assert "Fixed 1 error." in err and "a.py:3:10: TL101" in err  # what remains goes to stderr
    assert done.returncode == 1  # a diagnostic remains


def test_fix_unsafe_and_clean_exit_zero(run_cli) -> None:
    done = lint(run_cli, "fix", "--unsafe-fixes", "--stdin-filename", "a.py", stdin=SOURCE)
    assert done.returncode == 0
    out = done.stdout.decode()
    assert (
        "loader = make_loader(torchvision.datasets.ImageFolder(ds), shuffle=True" in out
        and "from torchlint.runtime import make_loader" in out
    )
    # already clean input comes back unchanged, exit 0
    again = lint(run_cli, "fix", "--unsafe-fixes", "--stdin-filename", "a.py", stdin=out)
    assert again.returncode == 0 and again.stdout.decode() == out


def test_fix_diff_prints_only_the_diff(run_cli) -> None:
    done = lint(run_cli, "fix", "--diff", "--stdin-filename", "a.py", stdin=SOURCE)
    assert done.returncode == 1
    out = done.stdout.decode()
    assert out.startswith("--- a/a.py\n+++ b/a.py\n")
    assert "-y = torch.log(1 + x)\n+y = torch.log1p(x)\n" in out
    assert "import torch\nfrom" not in out  # not the whole source as well
    check_diff = lint(run_cli, "check", "--diff", "--stdin-filename", "a.py", stdin=SOURCE)
    assert check_diff.stdout == done.stdout


def test_fix_exit_non_zero_on_fix(run_cli) -> None:
    clean_after = "import torch\ny = torch.log(1 + x)\n"
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=clean_after)
    assert done.returncode == 0
    done = lint(
        run_cli, "fix", "--exit-non-zero-on-fix", "--stdin-filename", "a.py", stdin=clean_after
    )
    assert done.returncode == 1
    assert done.stdout.decode() == "import torch\ny = torch.log1p(x)\n"


def test_fix_keeps_encoding_bom_and_line_endings(run_cli) -> None:
    latin = "# -*- coding: latin-1 -*-\r\nimport torch\r\ny = torch.log(1 + x)  # café\r\n"
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=latin.encode("latin-1"))
    assert done.stdout == latin.replace("torch.log(1 + x)", "torch.log1p(x)").encode("latin-1")
    bom = codecs.BOM_UTF8 + "import torch\ny = torch.log(1 + x)  # ü\n".encode()
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=bom)
    assert done.stdout == codecs.BOM_UTF8 + "import torch\ny = torch.log1p(x)  # ü\n".encode()


def test_fix_echoes_input_it_cannot_read(run_cli) -> None:
    data = b"x = '\xff\xfe'\n"
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=data)
    assert done.returncode == 2
    assert done.stdout == data  # the editor keeps its buffer
    assert "cannot decode" in done.stderr.decode()


def test_fix_syntax_error_returns_input(run_cli) -> None:
    broken = "def f(:\n    torch.log(1 + x)\n"
    done = lint(run_cli, "fix", "--stdin-filename", "a.py", stdin=broken)
    assert done.stdout.decode() == broken
    assert "TL000" in done.stderr.decode() and done.returncode == 1


def test_config_is_found_from_the_stdin_filename(run_cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.torchlint]\nignore = ["TL405"]\nper-file-ignores = { "src/gen_*.py" = ["TL101"] }\n'
        'exclude = ["vendored"]\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    name = str(project / "src" / "model.py")
    done = run_cli(
        "check", "--output-format", "concise", "--stdin-filename", name, stdin=SOURCE, cwd=elsewhere
    )
    assert [line.split(": ")[1].split()[0] for line in done.stdout.decode().splitlines()] == [
        "TL101"
    ]
    generated = str(project / "src" / "gen_model.py")
    done = run_cli("check", "--stdin-filename", generated, stdin=SOURCE, cwd=elsewhere)
    assert done.returncode == 0, done.stdout
    # --force-exclude: an excluded file is neither reported nor changed
    vendored = str(project / "vendored" / "lib.py")
    assert (
        run_cli("check", "--stdin-filename", vendored, stdin=SOURCE, cwd=elsewhere).returncode == 1
    )
    done = run_cli(
        "check", "--force-exclude", "--stdin-filename", vendored, stdin=SOURCE, cwd=elsewhere
    )
    assert done.returncode == 0 and done.stdout == b""
    done = run_cli(
        "fix",
        "--unsafe-fixes",
        "--force-exclude",
        "--stdin-filename",
        vendored,
        stdin=SOURCE,
        cwd=elsewhere,
    )
    assert done.returncode == 0 and done.stdout.decode() == SOURCE


def test_paths_and_stdin_filename_together_is_a_usage_error(run_cli, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    done = run_cli("check", "--stdin-filename", "b.py", "a.py", stdin="x = 1\n")
    assert done.returncode == 2
    assert "--stdin-filename" in done.stderr.decode()


@pytest.mark.parametrize("command", ["check", "fix"])
def test_force_exclude_applies_to_named_files(run_cli, tmp_path: Path, command: str) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-exclude = ["legacy"]\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.py").write_text(SOURCE)
    (tmp_path / "new.py").write_text(SOURCE)
    done = run_cli(
        command, *SELECT, "--output-format", "concise", "--force-exclude", "legacy/old.py", "new.py"
    )
    assert "legacy/old.py" not in done.stdout.decode()
    assert "new.py:3:10: TL101" in done.stdout.decode()
    assert (tmp_path / "legacy" / "old.py").read_text() == SOURCE
    # without it an explicitly named file is always linted
    done = run_cli("check", *SELECT, "--output-format", "concise", "legacy/old.py")
    assert done.stdout.decode().startswith("legacy/old.py:3:10: TL101")
