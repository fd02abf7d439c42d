"""Rule pages (``docs/rules/TLxxx.md``) and their links, generated from each rule's docstring.

``torchlint rule CODE`` prints the same text, and ``scripts/update_readme.py`` writes the
pages; a test keeps them current. The JSON ``url``, the SARIF ``helpUri`` and the language
server's link point to a page only where the installed copy says where its documentation
lives (see ``rule_url``); otherwise there is no link, and ``torchlint rule CODE`` is the
documentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from torchlint.rules.base import Rule

DOCS_DIR = "docs/rules"
GENERATED = "<!-- generated from the rule's docstring by `python scripts/update_readme.py` -->"


@cache
def project_urls() -> dict[str, str]:
    """The installed package's ``Project-URL`` entries (``[project.urls]``), by lower-cased
    label; empty when it declares none or is not installed."""
    from importlib import metadata

    try:
        entries = metadata.metadata("torchlint").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return {}
    urls = {}
    for entry in entries:
        label, _, url = entry.partition(",")
        if url.strip().startswith(("https://", "http://")):
            urls[label.strip().lower()] = url.strip().rstrip("/")
    return urls


def rule_url(code: str) -> str | None:
    """The page documenting ``code``, as an absolute URL (SARIF's ``helpUri`` must be one):
    under the ``Documentation`` URL of the package metadata when set (``<url>/TL101``), else
    under its ``Repository`` URL (``<url>/blob/main/docs/rules/TL101.md``, as GitHub and
    GitLab lay it out); None when neither is set, since a guessed link would be dead."""
    urls = project_urls()
    if "documentation" in urls:
        return f"{urls['documentation']}/{code}"
    if "repository" in urls:
        return f"{urls['repository']}/blob/main/{DOCS_DIR}/{code}.md"
    return None


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
