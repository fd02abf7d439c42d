"""What a ruff user expects of the command line: --show-settings, --show-files, --output-file,
target-version read from the project, "did you mean", rule pages and one severity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchlint.config import ConfigError, Settings, build_settings
from torchlint.report import FORMATS
from torchlint.torch_versions import KNOWN_RELEASES, declared_torch, lower_bound

BAD = "import torchvision; from torch.utils.data import DataLoader\nloader = DataLoader(torchvision.datasets.ImageFolder(ds), batch_size=2, shuffle=True)\n"
# TL304's fix is display-only: a hint, never applied, never "fixable".
NO_ZERO_GRAD = """\
import torch

def train(model, loader, optimizer):
    for x, y in loader:
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()

__all__ = ["train"]  # named: not dead code
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- --show-settings / --show-files ---


def test_show_settings_names_the_file_the_rules_and_the_target(tmp_path: Path, run_cli) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\ndependencies = ["numpy", "torch>=2.4,<3"]\n\n'
        '[tool.torchlint]\nignore = ["TL101"]\nextend-exclude = ["legacy"]\n',
    )
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", "--show-settings", "--extend-select", "TL306")
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr
    assert f"Settings file: {tmp_path.resolve() / 'pyproject.toml'}" in out
    assert 'ignore = ["TL101"]' in out and 'extend-exclude = ["legacy"]' in out
    assert 'extend-select = ["TL306"]' in out  # the command line is merged in
    assert "runtime-helpers = true" in out
    selected = next(line for line in out.splitlines() if line.startswith("Selected rules"))
    assert "TL306" in selected and "TL101" not in selected and "TL403" in selected
    assert (
        'target-version = "2.4"  # from `torch>=2.4,<3` in [project.dependencies] of '
        f"{tmp_path.resolve() / 'pyproject.toml'}" in out
    )
    assert "TL101" not in done.stderr.decode()  # nothing was linted


def test_show_settings_without_a_config_file(tmp_path: Path, run_cli) -> None:
    done = run_cli("check", "--show-settings", "--target-version", "2.1")
    out = done.stdout.decode()
    assert done.returncode == 0
    assert "Settings file: none (built-in defaults)" in out
    assert 'target-version = "2.1"  # from --target-version' in out
    assert "select = (not set: the rules marked on by default)" in out


def test_show_files_lists_what_would_be_linted(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nextend-exclude = ["legacy"]\n')
    for name in ("src/b.py", "src/a.py", "nb.ipynb", "legacy/old.py", "notes.txt"):
        write(tmp_path / name, "{}" if name.endswith(".ipynb") else "x = 1\n")
    done = run_cli("check", "--show-files")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == ["nb.ipynb", "src/a.py", "src/b.py"]
    missing = run_cli("check", "--show-files", "nowhere")
    assert missing.returncode == 2 and "nowhere: no such file" in missing.stderr.decode()


# --- --output-file ---


@pytest.mark.parametrize("output_format", sorted(FORMATS))
def test_output_file_gets_what_stdout_would(tmp_path: Path, run_cli, output_format: str) -> None:
    write(tmp_path / "a.py", BAD)
    printed = run_cli("check", "--output-format", output_format, "a.py")
    written = run_cli("check", "--output-format", output_format, "-o", "out/report.txt", "a.py")
    assert written.returncode == printed.returncode == 1
    assert written.stdout == b""
    assert (tmp_path / "out" / "report.txt").read_bytes() == printed.stdout
    assert "Found 1 error." in written.stderr.decode()


def test_output_file_that_cannot_be_written_is_an_error(tmp_path: Path, run_cli) -> None:
    write(tmp_path / "a.py", BAD)
    write(tmp_path / "blocker", "a file, not a directory")
    done = run_cli("check", "--output-file", "blocker/report.json", "a.py")
    assert done.returncode == 2
    assert "cannot write --output-file blocker/report.json" in done.stderr.decode()


# --- target-version: declared, validated ---


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("torch>=2.4", (2, 4)),
        ("torch >= 2.4.1, < 3", (2, 4)),
        ("torch~=2.2", (2, 2)),
        ("torch==2.3.*", (2, 3)),
        ("torch>1.13", (1, 13)),
        ("Torch[opt]>=2.0; sys_platform == 'linux'", (2, 0)),
        ("torch", None),
        ("torch<3", None),
        ("torchvision>=0.19", None),
        ("torch-geometric>=2.4", None),
    ],
)
def test_lower_bound_of_a_requirement(requirement: str, expected: tuple[int, int] | None) -> None:
    assert lower_bound(requirement) == expected


def test_declared_torch_from_requirements_files(tmp_path: Path) -> None:
    write(tmp_path / "requirements.txt", "-r base.txt\nnumpy\ntorch>=2.3  # training\n")
    write(tmp_path / "requirements-old.txt", "--index-url https://example.invalid\ntorch>=2.1\n")
    declared = declared_torch(tmp_path)
    assert declared is not None and declared.version == (2, 1)
    assert "requirements-old.txt" in declared.source
    write(tmp_path / "requirements-any.txt", "torch\n")  # promises nothing: no target
    assert declared_torch(tmp_path) == declared  # each file is read on its own
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=2.5"]\n')
    assert declared_torch(tmp_path).version == (2, 5)  # pyproject.toml first


def test_declared_target_changes_the_fixes(tmp_path: Path, run_cli) -> None:
    """TL601's fix needs torch 2.4: a project declaring torch>=2.3 does not get it."""
    write(tmp_path / "a.py", "import torch\nscaler = torch.cuda.amp.GradScaler()\n")
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=2.3"]\n')
    old = run_cli("check", "--output-format", "concise", "a.py").stdout.decode()
    assert "TL601 [*]" not in old
    write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = ["torch>=2.4"]\n')
    new = run_cli("check", "--no-cache", "--output-format", "concise", "a.py").stdout.decode()
    assert "TL601 [*]" in new
    # an explicit setting wins over the declared dependency
    pinned = run_cli("check", "--target-version", "2.3", "--output-format", "concise", "a.py")
    assert "TL601 [*]" not in pinned.stdout.decode()


@pytest.mark.parametrize("value", ["3.0", "2.99", "0.4", "1.14"])
def test_unknown_target_version_is_a_config_error(tmp_path: Path, run_cli, value: str) -> None:
    write(tmp_path / "pyproject.toml", f'[tool.torchlint]\ntarget-version = "{value}"\n')
    write(tmp_path / "a.py", "x = 1\n")
    newest = f"{KNOWN_RELEASES[-1][0]}.{KNOWN_RELEASES[-1][1]}"
    done = run_cli("check", "a.py")
    assert done.returncode == 2
    assert f"is not a torch release torchlint knows (1.0 .. {newest})" in done.stderr.decode()
    option = run_cli("check", "--target-version", value, "a.py")
    assert option.returncode == 2 and "--target-version" in option.stderr.decode()


def test_known_releases_span_1_0_to_2_10_at_least() -> None:
    assert KNOWN_RELEASES[0] == (1, 0) and (2, 10) in KNOWN_RELEASES
    assert list(KNOWN_RELEASES) == sorted(set(KNOWN_RELEASES))


def test_target_at_least_needs_a_known_target(tmp_path: Path) -> None:
    unset = build_settings(None, table={})
    assert not unset.target_at_least("2.6") and not unset.target_at_least((1, 0))
    at_26 = build_settings(None, table={"target-version": "2.6"})
    assert at_26.target_at_least("2.6") and at_26.target_at_least("1.13")
    assert not at_26.target_at_least("2.7")
    with pytest.raises(ConfigError):
        Settings().target_at_least("two")


# --- did you mean ---


@pytest.mark.parametrize(
    ("args", "toml", "message"),
    [
        ((), '[tool.torchlint]\nignroe = ["TL101"]\n', "ignroe (did you mean `ignore`?)"),
        (("--select", "TL1O1"), "", "unknown rule selector `TL1O1` (did you mean `TL101`?)"),
        (
            ("--ignore", "dataloader-no-workers"),
            "",
            "(`dataloader-no-workers` is the name of TL101: use the code)",
        ),
        (
            (),
            '[tool.torchlint]\nignore = ["dataloader-no-workers"]\n',
            "(`dataloader-no-workers` is the name of TL101: use the code)",
        ),
        (("--output-format", "jsno"), "", "(did you mean `json`?)"),
        (("--color", "allways"), "", "(did you mean `always`?)"),
    ],
)
def test_did_you_mean(tmp_path: Path, run_cli, args: tuple[str, ...], toml: str, message: str):
    if toml:
        write(tmp_path / "pyproject.toml", toml)
    write(tmp_path / "a.py", BAD)
    done = run_cli("check", *args, "a.py")
    assert done.returncode == 2
    assert message in done.stderr.decode()


def test_rule_command_suggests_a_near_code_or_name(run_cli) -> None:
    by_code = run_cli("rule", "TL1011")
    assert by_code.returncode == 2 and "(did you mean `TL101`?)" in by_code.stderr.decode()
    by_name = run_cli("rule", "dataloader-no-worker")
    assert "(did you mean `dataloader-no-workers`?)" in by_name.stderr.decode()


# --- one severity, and links to the rule pages ---


def test_every_format_calls_every_diagnostic_an_error(tmp_path: Path, run_cli) -> None:
    """TL304's display-only fix is a hint: it is an error like any other, and not fixable."""
    write(tmp_path / "train.py", NO_ZERO_GRAD)
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nextend-select = ["TL304"]\n')
    github = run_cli("check", "--output-format", "github", "train.py")
    assert github.stdout.decode().startswith("::error title=torchlint (TL304)")
    stderr = github.stderr.decode()
    assert "Found 1 error." in stderr and "fixable" not in stderr
    sarif = json.loads(run_cli("check", "--output-format", "sarif", "train.py").stdout)
    (result,) = sarif["runs"][0]["results"]
    assert result["level"] == "error" and "fixes" not in result
    levels = {
        r["defaultConfiguration"]["level"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]
    }
    assert levels == {"error"}
    (item,) = json.loads(run_cli("check", "--output-format", "json", "train.py").stdout)
    assert item["fix"]["applicability"] == "display-only"
    assert "[*]" not in run_cli("check", "--output-format", "concise", "train.py").stdout.decode()


def test_json_url_and_sarif_help_uri_point_to_the_rule_page(
    tmp_path: Path, run_cli, monkeypatch
) -> None:
    from torchlint.report import rule_docs

    write(tmp_path / "a.py", BAD)
    # This checkout's metadata names no documentation: no link rather than a dead one.
    (item,) = json.loads(run_cli("check", "--output-format", "json", "a.py").stdout)
    assert item["url"] is None
    sarif = json.loads(run_cli("check", "--output-format", "sarif", "a.py").stdout)
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert "helpUri" not in rules["TL101"]
    assert "torchlint rule TL101" in rules["TL101"]["help"]["text"]
    # Where the package metadata says where it lives, the links go there.
    fake = {"repository": "https://example.org/team/torchlint"}
    monkeypatch.setattr(rule_docs, "project_urls", lambda: fake)
    assert rule_docs.rule_url("TL101") == fake["repository"] + "/blob/main/docs/rules/TL101.md"
    fake["documentation"] = "https://docs.example.org/rules"
    assert rule_docs.rule_url("TL101") == "https://docs.example.org/rules/TL101"


def test_no_placeholder_reaches_a_user(run_cli, tmp_path: Path) -> None:
    write(tmp_path / "a.py", BAD)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "OWNER" not in readme
    for output_format in ("json", "sarif", "full"):
        done = run_cli("check", "--output-format", output_format, "a.py")
        assert b"OWNER" not in done.stdout + done.stderr
    assert b"OWNER" not in run_cli("rule", "TL101").stdout


# --- max-file-size ----------------------------------------------------------------------------

LOADER = "import torch, torchvision\nloader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)\n"


def test_files_over_max_file_size_are_not_checked_and_say_so(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nmax-file-size = 1\n")
    (tmp_path / "small.py").write_text(LOADER)
    (tmp_path / "big.py").write_text(LOADER + "# padding\n" * 200)  # about 2 KiB
    for _ in range(2):  # the second run reads the cache: the big file is still not checked
        done = run_cli("check", "--output-format", "concise", ".")
        assert done.returncode == 1
        assert done.stdout.decode().splitlines() == [
            "small.py:2:10: TL101 `DataLoader` without `num_workers` loads every batch in the "
            "main process: `ImageFolder` reads and decodes a file per item"
        ]
        warning = (
            "torchlint: warning: big.py: not checked: 2 KiB is more than `max-file-size` (1 KiB)"
        )
        assert warning in done.stderr.decode()


def test_max_file_size_zero_means_no_limit(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nmax-file-size = 0\n")
    (tmp_path / "big.py").write_text(LOADER + "# padding\n" * 200)
    done = run_cli("check", "--output-format", "concise", ".")
    assert b"big.py:2:10: TL101" in done.stdout and b"not checked" not in done.stderr


@pytest.mark.parametrize("value", ["-1", '"1MB"', "1.5", "true"])
def test_max_file_size_must_be_whole_kib(tmp_path: Path, run_cli, value: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.torchlint]\nmax-file-size = {value}\n")
    (tmp_path / "a.py").write_text(LOADER)
    done = run_cli("check", ".")
    assert done.returncode == 2
    assert "`max-file-size` must be a whole number of KiB" in done.stderr.decode()


def test_default_max_file_size_is_shown() -> None:
    assert build_settings(None, table={}).max_file_size == 1024


def _notebook(code: str, output: str = "") -> str:
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {},
        "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}],
        "source": [code],
    }
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_is_measured_by_its_code_not_its_outputs(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nmax-file-size = 1\n")
    (tmp_path / "plots.ipynb").write_text(_notebook(LOADER, output="x" * 5000))  # 5 KiB output
    (tmp_path / "long.ipynb").write_text(_notebook(LOADER + "# padding\n" * 200))
    done = run_cli("check", "--output-format", "concise", ".")
    assert "plots.ipynb:cell 1:2:10: TL101" in done.stdout.decode()
    assert "long.ipynb" not in done.stdout.decode()
    assert (
        "long.ipynb: not checked: 2 KiB of code is more than `max-file-size`"
        in done.stderr.decode()
    )
