"""The note that tells a new user the headline checks are opt-in.

TL101, TL201, TL301 and TL701 are the mistakes the README opens with. A check joins the
default set only once it is right often enough on projects fetched after its latest change
(see the README's Precision section): TL701 has; the others are off by default. A project with no torchlint configuration has not chosen its
rules, so its text report says, once, what it is not shown and how to ask for it. A
configuration file, or any selection on the command line, is a choice: then nothing is said.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from torchlint.registry import rule_by_code

# code -> the mistake, as the README's first paragraph names it
HEADLINE_CHECKS = {
    "TL101": "DataLoader without workers",
    "TL201": "hard-coded CUDA",
    "TL301": "evaluation without model.eval()",
    "TL701": "torch.load without weights_only",
}
TEXT_FORMATS = ("full", "concise")


def note(configs: Iterable[Path | None], chose_rules: bool, output_format: str) -> str:
    """The note for a run whose files used ``configs`` ('' when none is due)."""
    if chose_rules or output_format not in TEXT_FORMATS or any(c is not None for c in configs):
        return ""
    off = {code: what for code, what in HEADLINE_CHECKS.items() if not _on_by_default(code)}
    if not off:
        return ""
    named = ", ".join(f"{code} ({what})" for code, what in off.items())
    codes = ",".join(off)
    return (
        f"Note: no torchlint configuration found, so the default rules ran. Opt-in: {named}. "
        f"`--extend-select {codes}` runs them; `extend-select` in [tool.torchlint] keeps them."
    )


def _on_by_default(code: str) -> bool:
    rule = rule_by_code(code)
    return rule is not None and rule.default
