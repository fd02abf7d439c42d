"""Regenerate the rules table in README.md from the rule registry."""

from pathlib import Path

from torchlint.registry import all_rules
from torchlint.report.rules_table import markdown_table, replace_table

README = Path(__file__).resolve().parents[1] / "README.md"

if __name__ == "__main__":
    README.write_text(replace_table(README.read_text(), markdown_table(all_rules())))
    print(f"updated {README}")
