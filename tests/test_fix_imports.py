"""Fix output a person would write: where added imports go, one line per module, and no
import left unused by a fix."""

from __future__ import annotations

from tests.helpers import fix_all

VALIDATE = (
    "def validate(model, loader):\n"
    "    with torch.no_grad():\n"
    "        for x, y in loader:\n"
    "            out = model(x)\n"
    "def main(loader):\n"
    "    model = Net()\n"
    "    validate(model, loader)\n"
    "class Net:\n"  # a model whose behaviour depends on its mode (TL301 needs to know)
    "    def forward(self, x):\n"
    "        return x if self.training else -x\n"
)
# A dataset that reads a file per item (TL101 reports only visible per-item work); it needs
# no import, so the imports the fixes write are the only ones in play.
FILES = "class Files:\n    def __getitem__(self, index):\n        return open(index).read()\n"
KEEP_BEST = (
    "for epoch in range(10):\n"
    "    acc = evaluate(model)\n"
    "    if acc > best_acc:\n"
    "        best_acc = acc\n"
    "        best = model.state_dict()\n"
    "model.load_state_dict(best)\n"
)


def test_runtime_imports_are_one_sorted_line_merged_into_the_existing_one() -> None:
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n"
        "from torchlint.runtime import seed_everything\n"
        "seed_everything(0)\n"
        "loader = DataLoader(Files(), shuffle=True)\n" + VALIDATE + FILES
    )
    outcome = fix_all(source, ["TL101", "TL301"])
    assert outcome.source == (
        "from torchlint.runtime import evaluating, make_loader, seed_everything\n"
        "seed_everything(0)\n"
        "loader = make_loader(Files(), shuffle=True)\n"
        + VALIDATE.replace("torch.no_grad()", "evaluating(model)")
        + FILES
    )


def test_names_of_one_pass_share_one_new_line() -> None:
    source = (
        "import torch\nfrom torch.utils.data import DataLoader\nloader = DataLoader(Files(), shuffle=True)\n"
        + VALIDATE
        + FILES
    )
    outcome = fix_all(source, ["TL101", "TL301"])
    assert outcome.source.startswith(
        "from torchlint.runtime import evaluating, make_loader\nloader = make_loader(Files(), shuffle=True)\n"
    )


def test_a_standard_library_import_goes_into_its_section() -> None:
    source = "import os\n\nimport torch\n" + KEEP_BEST
    outcome = fix_all(source, ["TL310"])
    assert outcome.source.startswith("import copy\nimport os\n\nimport torch\nfor")


def test_a_new_section_is_set_apart_by_a_blank_line() -> None:
    source = "import torch\n" + KEEP_BEST
    outcome = fix_all(source, ["TL310"])
    assert outcome.source.startswith("import copy\n\nimport torch\nfor")


def test_import_guard_is_left_whole() -> None:
    guard = "try:\n    import apex\nexcept ImportError:\n    apex = None\n"
    source = (
        "import torch\n" + guard + "from torch.utils.data import DataLoader\n"
        "loader = DataLoader(Files(), shuffle=True, pin_memory=torch.cuda.is_available())\n" + FILES
    )
    outcome = fix_all(source, ["TL101"])
    assert outcome.source == (
        "import torch\nfrom torchlint.runtime import make_loader\n" + guard + "loader = "
        "make_loader(Files(), shuffle=True, pin_memory=torch.cuda.is_available())\n" + FILES
    )
    guarded = "try:\n    import torch\nexcept ImportError:\n    torch = None\n"
    source = guarded + "best_acc = 0\n" + KEEP_BEST
    assert fix_all(source, ["TL310"]).source.startswith("import copy\n" + guarded)


def test_file_that_imports_torch_in_functions_gets_the_import_there() -> None:
    source = (
        "import argparse\n"
        "\n"
        "def main():\n"
        '    """Train."""\n'
        "    import torch\n"
        "    from torch.utils.data import DataLoader\n"
        "    loader = DataLoader(Files(), shuffle=True)\n"
        "    return torch.zeros(1), loader\n" + FILES
    )
    outcome = fix_all(source, ["TL101"])
    assert outcome.source == (
        "import argparse\n"
        "\n"
        "def main():\n"
        '    """Train."""\n'
        "    import torch\n"
        "    from torchlint.runtime import make_loader\n"
        "    loader = make_loader(Files(), shuffle=True)\n"
        "    return torch.zeros(1), loader\n" + FILES
    )


def test_import_still_used_elsewhere_stays() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "loader = DataLoader(Files(), shuffle=True)\n"
        "def make(ds) -> DataLoader:\n"
        "    return other\n" + FILES
    )
    outcome = fix_all(source, ["TL101"])
    assert outcome.source.startswith(
        "from torch.utils.data import DataLoader\nfrom torchlint.runtime import make_loader\n"
    )


def test_one_name_of_an_import_line_is_dropped() -> None:
    source = (
        "from torch.utils.data import DataLoader, Dataset\n"
        "class D(Dataset):\n"
        "    def __getitem__(self, index):\n"
        "        return open(index).read()\n"
        "loader = DataLoader(D(), shuffle=True)\n"
    )
    outcome = fix_all(source, ["TL101"])
    assert outcome.source.startswith(
        "from torch.utils.data import Dataset\nfrom torchlint.runtime import make_loader\n"
    )


def test_import_that_was_unused_before_is_not_touched() -> None:
    source = (
        "import numpy\nfrom torch.utils.data import DataLoader\nloader = DataLoader(Files(), shuffle=True)\n"
        + FILES
    )
    outcome = fix_all(source, ["TL101"])
    assert outcome.source.startswith("import numpy\n")
