"""Behaviour of the TL8 rules beyond their documented examples."""

from __future__ import annotations

from tests.helpers import fix, lint


def codes(source: str, code: str, **table) -> list[tuple[int, str]]:
    result = lint(source, code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.code) for d in result.diagnostics]


MAIN = "import torch\ndef main():\n    opt = torch.optim.SGD(params, lr=0.1)\n"


def test_missing_seed_one_line_guard_reported_without_fix() -> None:
    source = MAIN + 'if __name__ == "__main__": main()\n'
    result = lint(source, "TL801")
    assert [(d.start.line, d.fix) for d in result.diagnostics] == [(4, None)]


def test_missing_seed_needs_a_module_level_guard() -> None:
    source = MAIN + 'def run():\n    if __name__ == "__main__":\n        main()\n'
    assert codes(source, "TL801") == []


def test_missing_seed_project_helper_counts_as_seeding() -> None:
    source = (
        MAIN
        + 'from utils import set_random_seed\nif __name__ == "__main__":\n    set_random_seed(3)\n    main()\n'
    )
    assert codes(source, "TL801") == []


def test_missing_seed_generator_manual_seed_is_not_global_seeding() -> None:
    source = (
        MAIN
        + 'if __name__ == "__main__":\n    g = torch.Generator()\n    g.manual_seed(0)\n    main()\n'
    )
    assert codes(source, "TL801") == [(4, "TL801")]


def test_benchmark_elif_chain_is_exclusive() -> None:
    source = (
        "import torch\n"
        "if mode == 'fast':\n"
        "    torch.backends.cudnn.benchmark = True\n"
        "elif mode == 'exact':\n"
        "    torch.use_deterministic_algorithms(True)\n"
        "else:\n"
        "    pass\n"
    )
    assert codes(source, "TL802") == []


def test_benchmark_same_branch_is_reported() -> None:
    source = (
        "from torch.backends import cudnn\n"
        "if args.reproducible:\n"
        "    cudnn.deterministic = True\n"
        "    cudnn.benchmark = True\n"
    )
    assert codes(source, "TL802") == [(4, "TL802")]


def test_worker_seeding_conflicting_seeds_get_no_fix() -> None:
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n"
        "from transformers import set_seed\n"
        "torch.manual_seed(0)\n"
        "set_seed(1)\n"
        "loader = DataLoader(ds, num_workers=2)\n"
    )
    result = lint(source, "TL803")
    assert [(d.start.line, d.fix) for d in result.diagnostics] == [(6, None)]


def test_worker_seeding_shadowed_torch_gets_no_fix() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "from lightning import seed_everything\n"
        "seed_everything(5)\n"
        "def build(torch):\n"
        "    return DataLoader(ds, num_workers=2)\n"
    )
    result = lint(source, "TL803")
    assert [(d.start.line, d.fix) for d in result.diagnostics] == [(5, None)]
    assert fix(source, "TL803").source == source


def test_worker_seeding_uses_the_literal_passed_to_a_seed_helper() -> None:
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader\n"
        "def set_seed(seed):\n"
        "    torch.manual_seed(seed)\n"
        "    torch.cuda.manual_seed_all(seed)\n"
        "def main():\n"
        "    set_seed(42)\n"
        "    loader = DataLoader(ds, num_workers=2)\n"
    )
    assert fix(source, "TL803").source == source.replace(
        "num_workers=2)", "num_workers=2, generator=torch.Generator().manual_seed(42))"
    )
