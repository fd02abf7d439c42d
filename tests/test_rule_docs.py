"""The rule pages in docs/rules/ are generated from the docstrings; this fails when they differ."""

from pathlib import Path

from torchlint.registry import all_rules
from torchlint.report.rule_docs import DOCS_DIR, rule_pages, rule_text

DOCS = Path(__file__).resolve().parents[1] / DOCS_DIR


def test_rule_pages_are_current() -> None:
    pages = rule_pages(all_rules())
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in DOCS.glob("*.md")}
    assert on_disk == pages, "docs/rules is stale: run `python scripts/update_readme.py`"


def test_a_page_is_what_torchlint_rule_prints(run_cli) -> None:
    rule = next(r for r in all_rules() if r.code == "TL101")
    page = (DOCS / "TL101.md").read_text(encoding="utf-8")
    printed = run_cli("rule", "TL101").stdout.decode()
    assert printed == rule_text(rule) and page.endswith(printed)
    assert "## Why is this bad?" in page and rule.summary in page


def test_the_index_links_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"[{rule.code}]({rule.code}.md)" in index
