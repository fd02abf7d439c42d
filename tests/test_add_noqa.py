"""`torchlint check --add-noqa`: adopt torchlint in a legacy codebase at zero diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.add_noqa import NoqaResult, add_noqa_to_source
from torchlint.cli import main
from torchlint.diagnostics import Diagnostic, Location

SELECT = ["--select", "TL000,TL001,TL101,TL405"]

LEGACY = '''import torch
import torchvision; from torch.utils.data import DataLoader

loader = DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)  # noqa: E501
x = torch.log(1 + y)  # type: ignore[arg-type]
both = DataLoader(torchvision.datasets.ImageFolder(torch.log(1 + y)), shuffle=True)
s = torch.log(1 + y) + len("""
doc""")
q = torch.log(1 + y) + \\
    1
'''

EXPECTED = '''import torch
import torchvision; from torch.utils.data import DataLoader

loader = DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)  # noqa: E501, TL101
x = torch.log(1 + y)  # type: ignore[arg-type]  # noqa: TL405
both = DataLoader(torchvision.datasets.ImageFolder(torch.log(1 + y)), shuffle=True)  # noqa: TL101, TL405
s = torch.log(1 + y) + len("""
doc""")
q = torch.log(1 + y) + \\
    1
'''


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, [args[0], *SELECT, *args[1:]])


def test_add_noqa_merges_and_skips_what_it_cannot_place(cwd: Path) -> None:
    (cwd / "legacy.py").write_text(LEGACY)
    done = invoke("check", "--add-noqa", "legacy.py")
    assert (cwd / "legacy.py").read_text() == EXPECTED
    assert "Added 4 noqa directives in 1 file." in done.stderr
    assert "Could not add 2 " in done.stderr  # the string line and the backslash line
    assert done.exit_code == 1  # two diagnostics remain
    remaining = invoke("check", "--output-format", "concise", "legacy.py").stdout.splitlines()
    assert [line.split(":")[1] for line in remaining] == ["7", "9"]


def test_rerunning_adds_nothing(cwd: Path) -> None:
    (cwd / "legacy.py").write_text(LEGACY)
    invoke("check", "--add-noqa", "legacy.py")
    again = invoke("check", "--add-noqa", "legacy.py")
    assert "Added 0 noqa directives." in again.stderr
    assert (cwd / "legacy.py").read_text() == EXPECTED


def test_clean_start_exits_zero_and_the_ratchet_works(cwd: Path) -> None:
    (cwd / "src").mkdir()
    (cwd / "src" / "a.py").write_text(
        "import torchvision; from torch.utils.data import DataLoader\nDataLoader(torchvision.datasets.ImageFolder(d), shuffle=True)\n"
    )
    (cwd / "src" / "b.py").write_text("import torch\ny = torch.log(1 + x)\n")
    done = invoke("check", "--add-noqa", "src")
    assert done.exit_code == 0, done.output
    assert "Added 2 noqa directives in 2 files." in done.stderr
    assert invoke("check", "src").exit_code == 0  # the team starts at zero
    # fixing the code makes the noqa unused: TL001 reports it and `fix` removes it
    (cwd / "src" / "b.py").write_text("import torch\ny = torch.log1p(x)  # noqa: TL405\n")
    assert "TL001" in invoke("check", "src").stdout
    invoke("fix", "src")
    assert (cwd / "src" / "b.py").read_text() == "import torch\ny = torch.log1p(x)\n"


def test_line_endings_encoding_and_mode_are_kept(cwd: Path) -> None:
    path = cwd / "crlf.py"
    path.write_bytes(
        b"# -*- coding: latin-1 -*-\r\nimport torch\r\ny = torch.log(1 + x)  # caf\xe9\r\n"
    )
    path.chmod(0o640)
    assert invoke("check", "--add-noqa", "crlf.py").exit_code == 0
    assert path.read_bytes() == (
        b"# -*- coding: latin-1 -*-\r\nimport torch\r\ny = torch.log(1 + x)  # caf\xe9  # noqa: TL405\r\n"
    )
    assert path.stat().st_mode & 0o777 == 0o640


def test_notebooks(cwd: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Notes"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}],
                "source": ["!pip install torch\n", "import torch\n", "y = torch.log(1 + x)"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    before = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (cwd / "nb.ipynb").write_text(before)
    done = invoke("check", "--add-noqa", "nb.ipynb")
    assert done.exit_code == 0, done.output
    after = (cwd / "nb.ipynb").read_text()
    assert after == before.replace(
        '"y = torch.log(1 + x)"', '"y = torch.log(1 + x)  # noqa: TL405"'
    )
    assert invoke("check", "nb.ipynb").exit_code == 0


def test_add_noqa_refuses_fix_and_stdin(cwd: Path) -> None:
    (cwd / "a.py").write_text("x = 1\n")
    for extra in (["--fix"], ["--diff"], ["--stdin-filename", "a.py"]):
        done = invoke("check", "--add-noqa", *extra, "a.py")
        assert done.exit_code == 2, extra
        assert "--add-noqa" in done.stderr


def test_add_noqa_to_source_unit() -> None:
    def diag(line: int, code: str) -> Diagnostic:
        return Diagnostic("a.py", Location(line, 1), Location(line, 2), code, "n", "m")

    source = "a = 1\nb = 2  # noqa\nc = 3   \n"
    result = NoqaResult()
    new = add_noqa_to_source(
        source,
        [diag(1, "TL405"), diag(1, "TL101"), diag(1, "TL405"), diag(2, "TL101"), diag(3, "TL000")],
        result,
    )
    assert new == "a = 1  # noqa: TL101, TL405\nb = 2  # noqa\nc = 3   \n"
    assert (result.added, result.skipped) == (2, 1)
