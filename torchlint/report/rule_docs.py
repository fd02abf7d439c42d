"""Rule pages (``docs/rules/TLxxx.md``) and their links, generated from each rule's docstring.

``torchlint rule CODE`` prints the same text, the JSON ``url`` and the SARIF ``helpUri`` link
to the page, and ``scripts/update_readme.py`` writes the pages; a test keeps them current.
"""

from __future__ import annotations

from collections.abc import Sequence

from torchlint.rules.base import Rule

# The one place that names where the project lives: links in every output format are built
# from it (the README's install and pre-commit instructions name it too; a test checks).
REPOSITORY_URL = "https://github.com/OWNER/torchlint"
DOCS_DIR = "docs/rules"
GENERATED = "<!-- generated from the rule's docstring by `python scripts/update_readme.py` -->"


def rule_url(code: str) -> str:
    """The page documenting ``code``, as an absolute URL (SARIF's ``helpUri`` must be one)."""
    return f"{REPOSITORY_URL}/blob/main/{DOCS_DIR}/{code}.md"


def rule_text(rule: type[Rule]) -> str:
    """The documentation of a rule: its heading, message, default state, fix, and docstring."""
    fix = rule.fix_applicability.value if rule.fix_applicability else "none"
    state = "on by default" if rule.default else "off by default (opt-in)"
    return (
        f"# {rule.code} {rule.name}\n\n{rule.summary}.\n\n_{state}; fix: {fix}_\n\n"
        f"{rule.documentation()}\n"
    )


def _index(rules: Sequence[type[Rule]]) -> str:
    lines = [GENERATED, "", "# Rules", "", "| code | name | default | what it reports |"]
    lines.append("|---|---|---|---|")
    for rule in rules:
        default = "on" if rule.default else "opt-in"
        summary = rule.summary.replace("|", "\\|")
        lines.append(f"| [{rule.code}]({rule.code}.md) | `{rule.name}` | {default} | {summary} |")
    return "\n".join(lines) + "\n"


def rule_pages(rules: Sequence[type[Rule]]) -> dict[str, str]:
    """File name (in ``DOCS_DIR``) → content: one page a rule, and an index."""
    pages = {f"{rule.code}.md": f"{GENERATED}\n\n{rule_text(rule)}" for rule in rules}
    pages["README.md"] = _index(rules)
    return pages
