"""The README's rules table is generated from the registry; this fails when they differ."""

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
    assert "pip install -e . && torchlint check examples/" in text
