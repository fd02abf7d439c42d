"""`--select` on the command line replaces the configured selection (as in ruff), and a fix
run applies fixes of the selected rules only."""

from __future__ import annotations

from pathlib import Path

SOURCE = (
    "import torch\n"
    "from torch.utils.data import DataLoader\nfrom torchvision.datasets import ImageFolder\n"
    "model = torch.nn.DataParallel(net)\n"
    "state = torch.load(args.checkpoint, weights_only=True)\n"
    "loader = DataLoader(ImageFolder(d), batch_size=2, shuffle=True)\n"
)
CONFIG = (
    "[tool.torchlint]\n"
    'extend-select = ["TL703"]\n'
    'ignore = ["TL205"]\n'
    'per-file-ignores = { "skip_*.py" = ["TL101"] }\n'
)


def _codes(stdout: bytes) -> list[str]:
    return [line.split()[1] for line in stdout.decode().splitlines()]


def test_select_replaces_the_configured_selection(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    (tmp_path / "a.py").write_text(SOURCE)
    concise = ("--output-format", "concise")
    assert _codes(run_cli("check", *concise, "a.py").stdout) == ["TL703", "TL101"]
    # The file's ignore and extend-select no longer apply.
    assert _codes(run_cli("check", *concise, "--select", "TL205", "a.py").stdout) == ["TL205"]
    # Options given with --select still do.
    picked = run_cli("check", *concise, "--select", "TL1,TL2", "--ignore", "TL101", "a.py")
    assert _codes(picked.stdout) == ["TL205"]


def test_per_file_ignores_still_apply(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    (tmp_path / "skip_me.py").write_text(SOURCE)
    done = run_cli("check", "--output-format", "concise", "--select", "TL101", "skip_me.py")
    assert done.returncode == 0 and done.stdout == b""


def test_fix_applies_fixes_of_the_selected_rules_only(tmp_path: Path, run_cli) -> None:
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    target = tmp_path / "a.py"
    target.write_text(SOURCE)
    done = run_cli("fix", "--unsafe-fixes", "--output-format", "concise", "--select", "TL205")
    assert target.read_text() == SOURCE  # TL703 (configured, safe fix) is not applied
    assert _codes(done.stdout) == ["TL205"]
    run_cli("fix", "--unsafe-fixes", "--select", "TL101", "a.py")
    fixed = target.read_text()
    assert "make_loader(ImageFolder(d), batch_size=2, shuffle=True)" in fixed
    assert "torch.load(args.checkpoint, weights_only=True)" in fixed
