"""The linter must never import torch (nor the user's code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_check_never_imports_torch(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from torchlint.cli import main\n"
        "try:\n"
        f"    main(['check', '--select', 'ALL', '--output-format', 'concise', {str(EXAMPLES)!r}])\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "print(code, 'torch' in sys.modules, 'torchlint.runtime' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    lines = done.stdout.strip().splitlines()
    # Exit 1 with diagnostics on the examples: the run really linted them (no crash at start).
    assert lines[-1] == "1 False False", done.stdout + done.stderr
    assert any("train_bad.py" in line and " TL101 " in line for line in lines), done.stdout


def test_user_code_is_not_executed(tmp_path: Path, run_cli) -> None:
    marker = tmp_path / "ran.txt"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    run_cli("check", "evil.py")
    assert not marker.exists()


def test_runtime_without_torch_says_what_to_install(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "import torchlint.runtime\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 1
    assert "pip install 'torchlint[runtime]'" in done.stderr.splitlines()[-1]
