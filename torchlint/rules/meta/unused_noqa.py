"""TL001 unused-noqa."""

from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Rule, Valid

ALL = {"select": ["ALL"], "target-version": "2.1"}  # 2.1: TL701 reports a missing weights_only


class UnusedNoqa(Rule):
    """
    ## What it does
    Reports a `# noqa: TLxxx` (or `# torchlint: noqa: TLxxx`) whose codes suppress nothing
    on that line (or in that file), and TL codes that do not exist.

    ## Why is this bad?
    A stale suppression hides the next real problem on that line and misleads readers
    into thinking something is wrong there. Codes of other tools (`E501`, `F401`) and bare
    `# noqa` comments are left alone.

    ## Example
    ```python
    loader = DataLoader(ds, num_workers=4)  # noqa: TL101
    ```

    ## Use instead
    ```python
    loader = DataLoader(ds, num_workers=4)
    ```

    ## Fix safety
    Safe: removes only the unused codes, or the whole directive when none is left; other
    text in the comment is kept.

    ## References
    - ruff's unused-noqa (RUF100): https://docs.astral.sh/ruff/rules/unused-noqa/
    """

    code = "TL001"
    name = "unused-noqa"
    applies_to_tests = True
    summary = "Unused `noqa` directive"
    fix_applicability = Applicability.SAFE
    examples = (
        Invalid(
            "from torch.utils.data import DataLoader\n"
            "loader = DataLoader(ds, num_workers=4)  # noqa: TL101\n",
            fixed="from torch.utils.data import DataLoader\n"
            "loader = DataLoader(ds, num_workers=4)\n",
            settings=ALL,
        ),
        Invalid(
            "import torch\nx = torch.load(f, weights_only=True)  # noqa: TL701, E501\n",
            fixed="import torch\nx = torch.load(f, weights_only=True)  # noqa: E501\n",
            settings=ALL,
        ),
        Invalid("x = 1  # noqa: TL999\n", fixed="x = 1\n", settings=ALL),
        Invalid(
            "import torch\nm = torch.load(f)  # noqa: TL701, TL201\n",
            fixed="import torch\nm = torch.load(f)  # noqa: TL701\n",
            settings=ALL,
        ),
        Invalid("# torchlint: noqa: TL101\nx = 1\n", fixed="x = 1\n", settings=ALL),
        Valid("import torch\nm = torch.load(f)  # noqa: TL701\n", settings=ALL),
        Valid("x = 1  # noqa\n", settings=ALL),
        Valid("x = 1  # noqa: E501\n", settings=ALL),
        Valid("s = '# noqa: TL101'\n", settings=ALL),
        Valid("import torch\n# torchlint: noqa: TL701\nm = torch.load(f)\n", settings=ALL),
    )
