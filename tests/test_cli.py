"""The command line, end to end: output, exit codes, bad input, selection and config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
CLEAN = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), num_workers=2)\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_concise_output_and_exit_code(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "--output-format", "concise", "a.py")
    assert done.returncode == 1
    assert done.stdout.decode() == (
        "a.py:2:10: TL101 `DataLoader` without `num_workers` loads every batch in the main "
        "process: `ImageFolder` reads and decodes a file per item\n"
    )
    assert "Found 1 error." in done.stderr.decode()


def test_marker_means_torchlint_fix_fixes_it(tmp_path: Path, run_cli) -> None:
    """`[*]` as in ruff: `torchlint fix` applies the fix (TL101's is unsafe)."""
    write(tmp_path / "a.py", BAD)
    plain = run_cli("check", "--output-format", "concise", "a.py")
    assert " TL101 [*] " not in plain.stdout.decode()
    assert "(1 fixable with `torchlint fix --unsafe-fixes`.)" in plain.stderr.decode()
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nunsafe-fixes = true\n")
    enabled = run_cli("check", "--output-format", "concise", "a.py")
    assert " TL101 [*] " in enabled.stdout.decode()
    assert "[*] 1 fixable with `torchlint fix`." in enabled.stderr.decode()
    assert "--unsafe-fixes" not in enabled.stderr.decode()


def test_full_output_shows_source_and_caret(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    out = run_cli("check", "a.py").stdout.decode()
    assert (
        "2 | loader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)"
        in out
    )
    assert (
        "  |          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ TL101"
        in out
    )
    assert "= help: Use `make_loader(...)`" in out


def test_clean_exit_zero(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", CLEAN)
    done = run_cli("check", "a.py")
    assert done.returncode == 0
    assert done.stdout == b""
    assert "All checks passed!" in done.stderr.decode()


def test_output_is_sorted_across_files(tmp_path: Path, run_cli) -> None:
    for name in ("b.py", "a.py", "sub/c.py"):
        write(tmp_path / name, BAD + BAD.splitlines()[1] + "\n")
    lines = run_cli("check", "--output-format", "concise", ".").stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines] == ["a.py"] * 2 + ["b.py"] * 2 + ["sub/c.py"] * 2
    assert lines == sorted(lines, key=lambda line: (line.split(":")[0], int(line.split(":")[1])))


def test_exit_zero_and_quiet(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "--exit-zero", "-q", "a.py")
    assert done.returncode == 0
    assert done.stderr == b""


def test_statistics(tmp_path: Path, run_cli) -> None:
    write(
        tmp_path / "a.py",
        BAD + "loader2 = DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)\n",
    )
    out = run_cli("check", "--statistics", "a.py").stdout.decode()
    assert out.split() == ["2", "TL101", "dataloader-no-workers"]  # an unsafe fix: no [*]
    out = run_cli("check", "--statistics", "--unsafe-fixes", "a.py").stdout.decode()
    assert out.split() == ["2", "TL101", "[*]", "dataloader-no-workers"]
    table = json.loads(
        run_cli("check", "--statistics", "--output-format", "json", "a.py").stdout.decode()
    )
    assert table == [
        {"code": "TL101", "name": "dataloader-no-workers", "count": 2, "fixable": False}
    ]
    refused = run_cli("check", "--statistics", "--output-format", "sarif", "a.py")
    assert refused.returncode == 2
    assert "--statistics prints a table" in refused.stderr.decode()


def test_json_format(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    data = json.loads(run_cli("check", "--output-format", "json", "a.py").stdout)
    assert data[0]["code"] == "TL101"
    assert data[0]["location"] == {"row": 2, "column": 10}
    assert data[0]["end_location"] == {"row": 2, "column": 86}
    assert data[0]["fix"]["applicability"] == "unsafe"
    assert data[0]["filename"] == "a.py"


def test_json_lines_format(tmp_path: Path, run_cli) -> None:
    write(
        tmp_path / "a.py",
        BAD + "loader2 = DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)\n",
    )
    lines = run_cli("check", "--output-format", "json-lines", "a.py").stdout.decode().splitlines()
    assert [json.loads(line)["location"]["row"] for line in lines] == [2, 3]


def test_github_format(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    out = run_cli("check", "--output-format", "github", "a.py").stdout.decode()
    assert out.startswith(
        "::error title=torchlint (TL101),file=a.py,line=2,col=10,endLine=2,endColumn=86::TL101 "
    )


def test_color_honours_no_color(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    assert b"\x1b[" in run_cli("check", "--color", "always", "a.py", env={"NO_COLOR": ""}).stdout
    assert b"\x1b[" not in run_cli("check", "--color", "auto", "a.py").stdout
    assert b"\x1b[" not in run_cli("check", "a.py", env={"NO_COLOR": "1"}).stdout


# --- bad input: one clear line, no traceback, the other files still linted ---


def test_syntax_error_is_tl000_and_others_still_linted(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "broken.py", "def f(:\n    pass\n")
    write(tmp_path / "good.py", BAD)
    done = run_cli("check", "--output-format", "concise", ".")
    out = done.stdout.decode()
    assert "broken.py:1:7: TL000 SyntaxError: invalid syntax" in out
    assert "good.py:2:10: TL101" in out
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00\x00binary\x00", "not a text file"),
        (b"x = '\xff\xfe'\n", "cannot decode as utf-8"),
    ],
)
def test_undecodable_files(tmp_path: Path, run_cli, content: bytes, message: str) -> None:
    write(tmp_path / "bad.py", content)
    write(tmp_path / "good.py", BAD)
    done = run_cli("check", "--output-format", "concise", ".")
    err = done.stderr.decode()
    assert message in err and "bad.py" in err
    assert "good.py:2:10: TL101" in done.stdout.decode()
    assert done.returncode == 2
    assert "Traceback" not in err


def test_empty_file_is_clean(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "empty.py", "")
    assert run_cli("check", "empty.py").returncode == 0


def test_missing_path(tmp_path: Path, run_cli) -> None:
    done = run_cli("check", "nope.py")
    assert done.returncode == 2
    assert "nope.py: no such file or directory" in done.stderr.decode()


def test_directory_without_python_files(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "docs" / "index.md", "# hi\n")
    done = run_cli("check", "docs")
    assert done.returncode == 0
    assert "no Python files found under docs" in done.stderr.decode()


def test_crashing_rule_is_isolated(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    write(tmp_path / "b.py", BAD)
    plugin = tmp_path / "crash_plugin.py"
    plugin.write_text(
        "import libcst as cst\n"
        "from torchlint.rules.data import dataloader_no_workers as m\n"
        "original = m.DataloaderNoWorkers.visit_Call\n"
        "def visit_Call(self, node):\n"
        "    if self.context.path.endswith('a.py'):\n"
        "        raise ValueError('boom')\n"
        "    return original(self, node)\n"
        "m.DataloaderNoWorkers.visit_Call = visit_Call\n"
        "from torchlint.cli import main\n"
        "main()\n"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            str(plugin),
            "check",
            "--extend-select",
            "TL101",
            "--output-format",
            "concise",
            "--no-cache",
            "--jobs",
            "1",
            "a.py",
            "b.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if "no such option" in done.stderr.lower():  # before the cache/jobs options exist
        done = subprocess.run(
            [sys.executable, str(plugin), "check", "--output-format", "concise", "a.py", "b.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
    assert "a.py: internal error in TL101 (dataloader-no-workers): ValueError: boom" in done.stderr
    assert "b.py:2:10: TL101" in done.stdout
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


# --- selection and configuration ---


def test_select_ignore_and_prefixes(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    assert run_cli("check", "--ignore", "TL101", "a.py").returncode == 0
    assert run_cli("check", "--select", "TL1", "a.py").returncode == 1
    assert run_cli("check", "--select", "TL0", "a.py").returncode == 0
    assert run_cli("check", "--select", "ALL", "--ignore", "TL1", "a.py").returncode == 0
    assert run_cli("check", "--select", "TL0", "--extend-select", "TL101", "a.py").returncode == 1


def test_unknown_code_is_usage_error(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "--select", "TL999", "a.py")
    assert done.returncode == 2
    assert "unknown rule selector `TL999`" in done.stderr.decode()


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("", "empty rule selector"),  # an unset shell variable must not select nothing
        (",", "empty rule selector"),
        ("T", "unknown rule selector `T`"),  # not a family: it would select everything
    ],
)
def test_empty_or_vague_selector_is_usage_error(
    tmp_path: Path, run_cli, selector: str, message: str
) -> None:
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "--select", selector, "a.py")
    assert done.returncode == 2
    assert message in done.stderr.decode()


def test_config_file_is_found_and_cli_overrides(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL101"]\n')
    write(tmp_path / "src" / "a.py", BAD)
    assert run_cli("check", "src").returncode == 0
    assert run_cli("check", ".", cwd=tmp_path / "src").returncode == 0
    assert run_cli("check", "--select", "TL101", "src").returncode == 1  # --select replaces it
    write(tmp_path / "other.toml", '[tool.torchlint]\nselect = ["TL1"]\n')
    write(tmp_path / "other" / "pyproject.toml", '[tool.torchlint]\nselect = ["TL1"]\n')
    assert run_cli("check", "--config", "other/pyproject.toml", "src").returncode == 1


def test_per_file_ignores(tmp_path: Path, run_cli) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint]\nper-file-ignores = { "tests/*" = ["TL1"] }\n',
    )
    write(tmp_path / "tests" / "a.py", BAD)
    write(tmp_path / "src" / "a.py", BAD)
    out = run_cli("check", "--output-format", "concise", ".").stdout.decode()
    assert "src/a.py" in out and "tests/a.py" not in out


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.torchlint]\nselct = ["TL1"]\n', "unknown key(s) in [tool.torchlint]: selct"),
        ('[tool.torchlint]\nselect = ["TL123"]\n', "unknown rule selector `TL123`"),
        ('[tool.torchlint]\nselect = [""]\n', "empty rule selector"),
        ('[tool.torchlint]\nselect = ["tl101"]\n', "(codes are upper case: `TL101`)"),
        ('[tool.torchlint]\nselect = "TL1"\n', "`select` must be a list of strings"),
        ("[tool.torchlint\n", "invalid TOML"),
        ('[tool.torchlint]\ntarget-version = "two"\n', "`target-version` must look like"),
        ('[tool.torchlint]\nunsafe-fixes = "yes"\n', "`unsafe-fixes` must be true or false"),
    ],
)
def test_bad_config(tmp_path: Path, run_cli, toml: str, message: str) -> None:
    write(tmp_path / "pyproject.toml", toml)
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "a.py")
    err = done.stderr.decode()
    assert done.returncode == 2
    assert message in err and "pyproject.toml" in err
    assert "Traceback" not in err


# --- discovery ---


def test_discovery_respects_gitignore_and_default_excludes(tmp_path: Path, run_cli) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".gitignore", "generated/\n*_pb2.py\n!keep_pb2.py\n")
    write(tmp_path / "sub" / ".gitignore", "/local.py\n")
    for name in (
        "a.py",
        "b.pyi",
        "generated/x.py",
        "x_pb2.py",
        "keep_pb2.py",
        "sub/local.py",
        "sub/deeper/local.py",
        ".venv/lib/x.py",
        "build/x.py",
        "node_modules/x.py",
        "notes.txt",
    ):
        write(tmp_path / name, BAD)
    out = run_cli("check", "--output-format", "concise", ".").stdout.decode()
    files = sorted({line.split(":")[0] for line in out.splitlines()})
    assert files == ["a.py", "b.pyi", "keep_pb2.py", "sub/deeper/local.py"]


def test_explicit_file_always_linted(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nexclude = ["skip*"]\n')
    write(tmp_path / "skip_me.py", BAD)
    assert run_cli("check", ".").returncode == 0
    assert run_cli("check", "skip_me.py").returncode == 1


def test_extend_exclude(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "gen" / "a.py", BAD)
    write(tmp_path / "a.py", CLEAN)
    assert run_cli("check", "--extend-exclude", "gen", ".").returncode == 0


def test_stdin(tmp_path: Path, run_cli) -> None:
    done = run_cli(
        "check", "--output-format", "concise", "--stdin-filename", "x.py", "-", stdin=BAD
    )
    assert done.stdout.decode().startswith("x.py:2:10: TL101")


# --- documentation commands ---


def test_rule_command_prints_docs(run_cli) -> None:
    out = run_cli("rule", "TL101").stdout.decode()
    assert "# TL101 dataloader-no-workers" in out
    assert "## Why is this bad?" in out
    assert run_cli("rule", "dataloader-no-workers").stdout.decode() == out
    bad = run_cli("rule", "TL999")
    assert bad.returncode == 2 and "unknown rule `TL999`" in bad.stderr.decode()


def test_rules_command_lists_every_rule(run_cli) -> None:
    from torchlint.registry import all_rules

    data = json.loads(run_cli("rules", "--output-format", "json").stdout)
    assert [r["code"] for r in data] == [r.code for r in all_rules()]
    text = run_cli("rules").stdout.decode().splitlines()
    assert len(text) == len(data)
    assert text[0].startswith("TL000  invalid-syntax")


def test_help_explains_itself(run_cli) -> None:
    out = run_cli("check", "--help").stdout.decode()
    for option in ("--select", "--ignore", "--output-format", "--unsafe-fixes", "--stdin-filename"):
        assert option in out
    assert run_cli("--version").stdout.decode().startswith("torchlint, version ")


@pytest.mark.parametrize(("flags", "expected"), [((), 1), (("--exit-zero",), 0)])
def test_closed_pipe_keeps_the_verdict(
    tmp_path: Path, flags: tuple[str, ...], expected: int
) -> None:
    """`torchlint check | head`: the reader goes away; the exit code still says the truth."""
    write(tmp_path / "a.py", BAD)
    process = subprocess.Popen(
        [sys.executable, "-m", "torchlint", "check", "--extend-select", "TL101", *flags, "a.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before torchlint writes anything
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == expected
    assert "Traceback" not in stderr


def test_summary_words_say_what_happened(tmp_path: Path, run_cli) -> None:
    """No "more" with nothing beside it; `--diff` wrote nothing, so nothing "remains"."""
    write(tmp_path / "a.py", BAD)
    write(tmp_path / "b.py", "import torch\nx = torch.cuda.amp.GradScaler()\n")
    stderr = run_cli("fix", "--diff", "--select", "TL101,TL601", ".").stderr.decode()
    assert "1 error would remain after fixing." in stderr and "remaining" not in stderr
    assert "(1 more fixable with `--unsafe-fixes`.)" in stderr  # beside the 1 it would fix
    # `text` is accepted where `rules --output-format text` is: the one-line form.
    text = run_cli("check", "--output-format", "text", "a.py")
    concise = run_cli("check", "--output-format", "concise", "a.py")
    assert text.returncode == 1 and text.stdout == concise.stdout
