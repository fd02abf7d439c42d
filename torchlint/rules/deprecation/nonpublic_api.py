"""TL611 nonpublic-api."""

from __future__ import annotations

from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, PendingFix, Valid
from torchlint.rules.deprecation import DeprecatedNameRule, Use

PRIVATE = "torch.utils.data._utils.collate"
PUBLIC = {
    f"{PRIVATE}.default_collate": "torch.utils.data.default_collate",
    f"{PRIVATE}.default_convert": "torch.utils.data.default_convert",
}
# torch.utils.data exports both since torch 1.11.
PUBLIC_VERSION = (1, 11)


class NonpublicApi(DeprecatedNameRule):
    """
    ## What it does
    Reports `default_collate` and `default_convert` used through the private module
    `torch.utils.data._utils.collate`: in calls, references and imports.

    ## Why is this bad?
    Modules whose names start with an underscore are torch internals: they move or change
    without a deprecation period. The same functions are public in `torch.utils.data`.

    ## Example
    ```python
    from torch.utils.data._utils.collate import default_collate
    ```

    ## Use instead
    ```python
    from torch.utils.data import default_collate
    ```

    Opt-in (`extend-select = ["TL611"]`): it fired on none of the 11 projects no rule was
    tuned on (round 2026-12); on the tuning projects, 0 of 6 reports were worth a change
    under the strict question (the private path names the same function, warns about
    nothing, and the file still needs the private module for other names).

    ## Fix safety
    Safe: the public names are the very same functions. An import is rewritten when every
    name it imports has a public path; other uses get the full public path. A project whose
    oldest supported torch predates the public path (1.11) is not told: it has nowhere to
    move to until it drops those releases. Files of `torch/utils/data` itself, which owns
    the private module, are not checked.

    ## References
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.default_collate
    """

    code = "TL611"
    name = "nonpublic-api"
    default = False
    applies_to_tests = True
    summary = "non-public torch API: use the public path"
    fix_applicability = Applicability.SAFE
    names = PUBLIC
    same_object = True  # torch.utils.data re-exports these very functions
    examples = (
        Invalid(
            """
            from torch.utils.data._utils.collate import default_collate
            batch = default_collate(samples)
            """,
            fixed="""
            from torch.utils.data import default_collate
            batch = default_collate(samples)
            """,
            count=2,
        ),
        Invalid(
            """
            import torch
            batch = torch.utils.data._utils.collate.default_collate(samples)
            """,
            fixed="""
            import torch
            batch = torch.utils.data.default_collate(samples)
            """,
        ),
        Invalid(
            """
            from torch.utils.data._utils import collate
            x = collate.default_convert(sample)
            """,
            fixed="""
            import torch
            x = torch.utils.data.default_convert(sample)
            """,
        ),
        Invalid(
            """
            import torch
            from torch.utils.data._utils.collate import default_collate, np_str_obj_array_pattern
            loader = torch.utils.data.DataLoader(ds, collate_fn=default_collate)
            """,
            fixed="""
            import torch
            from torch.utils.data._utils.collate import np_str_obj_array_pattern
            loader = torch.utils.data.DataLoader(ds, collate_fn=torch.utils.data.default_collate)
            """,
            count=2,
        ),
        Valid(  # torch 1.10 has no public path: nothing to move to (analysis/api_versions)
            """
            from torch.utils.data._utils.collate import default_collate
            """,
            settings={"target-version": "1.10"},
        ),
        Valid(
            """
            from torch.utils.data import default_collate, default_convert
            batch = default_collate(samples)
            """
        ),
        Valid(
            """
            import torch
            batch = torch.utils.data.default_collate(samples)
            """
        ),
        Valid(
            """
            from mylib._utils.collate import default_collate
            batch = default_collate(samples)
            """
        ),
        Valid(
            """
            from torch.utils.data._utils.collate import default_collate
            batch = default_collate(samples)
            """,
            path="torch/utils/data/dataloader.py",
        ),
        Valid(
            """
            def default_collate(samples):
                return samples
            batch = default_collate(samples)
            """
        ),
    )

    def exempt(self, path: str) -> bool:
        # torch.utils.data itself is where the private module lives and is re-exported.
        return "/torch/utils/data/" in "/" + path

    def message(self, qualified: str) -> str:
        return f"`{qualified}` is not public: use `{PUBLIC[qualified]}`"

    def import_target(self, qualified: str) -> str | None:
        if not self.context.settings.supports(PUBLIC_VERSION):
            return None
        return PUBLIC.get(qualified)

    def fix_use(self, use: Use) -> PendingFix | None:
        if not self.context.settings.supports(PUBLIC_VERSION):
            return None
        target = PUBLIC[use.qualified]
        return self.rename_fix(use, target, f"Use `{target}`")
