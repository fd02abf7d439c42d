"""Regenerate what is derived from the rule registry: the rules table in README.md and the
rule pages in docs/rules/ (stale pages of rules that no longer exist are removed)."""

from pathlib import Path

from torchlint.registry import all_rules
from torchlint.report.rule_docs import DOCS_DIR, rule_pages
from torchlint.report.rules_table import markdown_table, replace_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def write_rule_pages(directory: Path) -> None:
    pages = rule_pages(all_rules())
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.md"):
        if stale.name not in pages:
            stale.unlink()
    for name, text in pages.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    README.write_text(replace_table(README.read_text(), markdown_table(all_rules())))
    write_rule_pages(ROOT / DOCS_DIR)
    print(f"updated {README} and {ROOT / DOCS_DIR}")
