"""The README's rules table is generated from the registry, and its commands and sample
output are the real ones."""

import os
import subprocess
import sys
from pathlib import Path

from torchlint.registry import all_rules
from torchlint.report.rules_table import markdown_table, replace_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_rules_table_is_current() -> None:
    text = README.read_text()
    assert replace_table(text, markdown_table(all_rules())) == text, (
        "README rules table is stale: run `python scripts/update_readme.py`"
    )


def test_readme_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest" in text and "python -m pytest" in ci
    quick = text[text.index("## Quick start") : text.index("## Usage")]
    assert "pip install .  " in quick and "torchlint check examples/" in quick


def test_readme_sample_output_is_what_check_examples_prints() -> None:
    """The README shows part of what `torchlint check examples/` prints; it must be real."""
    text = README.read_text()
    usage = text[text.index("## Usage") :]
    start = usage.index("```text\n") + len("```text\n")
    sample = usage[start : usage.index("```", start)]
    assert "examples/" in sample
    done = subprocess.run(
        [sys.executable, "-m", "torchlint", "check", "--no-cache", "examples/"],
        cwd=README.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert sample in done.stdout, f"README sample not in the output:\n{done.stdout}"
    assert done.stderr.startswith("Found "), done.stderr
