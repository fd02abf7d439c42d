"""Behaviour of the TL7 rules beyond their documented examples."""

from __future__ import annotations

from tests.helpers import fix, lint, settings_for
from torchlint.fixer import fix_source
from torchlint.registry import selected_rules


def codes(source: str, code: str, **table) -> list[tuple[int, str]]:
    result = lint(source, code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.code) for d in result.diagnostics]


def test_load_fix_keeps_block_indentation() -> None:
    source = (
        "import torch\n"
        "def restore(path):\n"
        "    if path:\n"
        "        return torch.load(\n"
        "            path,\n"
        "            map_location='cpu',\n"
        "        )\n"
    )
    fixed = fix(source, "TL701", target_version="2.1").source
    assert fixed == source.replace(
        "            map_location='cpu',\n",
        "            map_location='cpu',\n            weights_only=True,\n",
    )


def test_weights_only_and_map_location_fixes_combine() -> None:
    source = "import torch\nstate = torch.load(checkpoint_path)\n"
    settings = settings_for(None, select=["TL701", "TL703"], target_version="2.1")
    outcome = fix_source(
        "example.py", source, settings, selected_rules(settings.selected_codes), unsafe=True
    )
    assert outcome.source == (
        'import torch\nstate = torch.load(checkpoint_path, weights_only=True, map_location="cpu")\n'
    )


def test_load_alias_imported_later_in_a_function() -> None:
    source = "def restore(path):\n    from torch import load\n    return load(path)\n"
    assert codes(source, "TL701", target_version="2.1") == [(3, "TL701")]


def test_load_positional_pickle_module_gets_no_fix() -> None:
    source = "import torch, dill\nstate = torch.load(path, None, dill)\n"
    result = lint(source, "TL701", target_version="2.1")
    assert [d.fix for d in result.diagnostics] == [None]


def test_load_star_args_reported_without_fix() -> None:
    source = "import torch\nstate = torch.load(*args)\n"
    result = lint(source, "TL701", target_version="2.1")
    assert [d.fix for d in result.diagnostics] == [None]


def test_save_model_module_and_display_fix() -> None:
    source = 'import torch\ntorch.save(model.module, "m.pt")\n'
    result = lint(source, "TL702")
    [diagnostic] = result.diagnostics
    assert diagnostic.fix is not None
    assert diagnostic.fix.edits[0].content == "model.module.state_dict()"
    assert fix(source, "TL702").source == source  # display only: never applied


def test_save_model_not_flagged_for_unrelated_names() -> None:
    source = (
        "import torch\n"
        "torch.save(tensor, 't.pt')\n"
        "torch.save(optimizer, 'o.pt')\n"
        "def f(network_config):\n"
        "    torch.save(network_config, 'c.pt')\n"
    )
    assert codes(source, "TL702") == []


def test_save_module_level_model_used_in_function() -> None:
    source = (
        "import torch\n"
        "import torch.nn as nn\n"
        "encoder = nn.Sequential(nn.Linear(2, 2))\n"
        "def save(path):\n"
        "    torch.save(encoder, path)\n"
    )
    assert codes(source, "TL702") == [(5, "TL702")]


def test_save_local_subclass_chain() -> None:
    source = (
        "import torch\n"
        "from torch import nn\n"
        "class Base(nn.Module):\n"
        "    pass\n"
        "class Head(Base):\n"
        "    pass\n"
        "head = Head()\n"
        "torch.save(head, 'h.pt')\n"
    )
    assert codes(source, "TL702") == [(8, "TL702")]


def test_target_version_before_2_6_keeps_reporting_a_missing_weights_only() -> None:
    source = "import torch\nstate = torch.load(path)\n"
    assert codes(source, "TL701", target_version="2.5") == [(2, "TL701")]
    assert codes(source, "TL701", target_version="2.6") == []
    assert codes(source, "TL701", target_version="2.7") == []


def test_a_missing_weights_only_follows_the_declared_range() -> None:
    """No declared range: a current torch (safe default); a floor before 1.13: nothing to
    pass. An explicit value is a choice, whatever the range."""
    source = "import torch\nstate = torch.load(path)\n"
    assert codes(source, "TL701") == []
    assert codes(source, "TL701", target_version="1.12") == []
    assert codes(source, "TL701", target_version="1.13") == [(2, "TL701")]
    explicit = "import torch\nstate = torch.load(path, weights_only=False)\n"
    assert codes(explicit, "TL701", target_version="2.1") == []


def test_a_save_in_a_nested_function_counts_for_the_enclosing_one() -> None:
    source = (
        "import torch\n"
        "def test_resume(tmp_path):\n"
        "    fp = tmp_path / 'engine.pt'\n"
        "    def save_engine(_):\n"
        "        torch.save(engine.state_dict(), fp)\n"
        "    run(save_engine)\n"
        "    state = torch.load(fp)\n"
    )
    assert codes(source, "TL701", target_version="2.1") == []


def test_only_a_save_before_the_load_in_the_same_function_counts() -> None:
    source = (
        "import torch\n"
        "def resume(path):\n"
        "    return torch.load(path)\n"
        "def save(state, path):\n"
        "    torch.save(state, path)\n"
        "def train(state, path):\n"
        "    state = torch.load(path)\n"
        "    torch.save(state, path)\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [(3, "TL701"), (7, "TL701")]


def test_a_literal_path_loaded_but_saved_by_another_file_is_reported() -> None:
    source = (
        "import torch\n"
        "state = torch.load('ckpt.pth')\n"
        "torch.save(state, 'other.pth')\n"
        "torch.save(state, path)\n"
        "again = torch.load(f'{path}')\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [(2, "TL701"), (5, "TL701")]


def test_whole_model_saved_to_a_buffer_that_is_not_read_back_is_reported() -> None:
    source = (
        "import io\n"
        "import torch\n"
        "def clone(model: torch.nn.Module, path):\n"
        "    buffer = io.BytesIO()\n"
        "    torch.save(model, buffer)\n"
        "    torch.save(model, path)\n"
        "    return torch.load(path)\n"
    )
    assert codes(source, "TL702") == [(5, "TL702"), (6, "TL702")]
