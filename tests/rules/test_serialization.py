"""Behaviour of the TL7 rules beyond their documented examples."""

from __future__ import annotations

import pytest

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


def test_a_closure_reads_back_what_a_sibling_closure_saved() -> None:
    """tianshou-style: `save_best_fn` and `watch` share the enclosing function's `log_path`;
    a closure that binds the name itself (a parameter, an assignment) reads another file."""
    source = (
        "import os\n"
        "import torch\n"
        "def test_policy(args, algorithm):\n"
        "    log_path = os.path.join(args.logdir, 'bcq')\n"
        "    def save_best_fn(policy):\n"
        "        torch.save(policy.state_dict(), os.path.join(log_path, 'policy'))\n"
        "    def watch():\n"
        "        algorithm.load_state_dict(torch.load(os.path.join(log_path, 'policy')))\n"
        "    def given(log_path):\n"
        "        return torch.load(os.path.join(log_path, 'policy'))\n"
        "    def rebound():\n"
        "        log_path = args.other\n"
        "        return torch.load(os.path.join(log_path, 'policy'))\n"
        "def elsewhere(log_path):\n"
        "    return torch.load(os.path.join(log_path, 'policy'))\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [
        (10, "TL701"),
        (13, "TL701"),
        (15, "TL701"),
    ]


def test_a_checkpoint_file_name_this_file_saves_is_its_own_checkpoint() -> None:
    """The same file name saved and loaded in one file, whatever directory: a script
    resuming its own `saved_models/G_%d.pth`, a test reading back `logits.pt`."""
    source = (
        "import os\n"
        "import torch\n"
        "def train(args, model, epoch):\n"
        "    torch.save(model.state_dict(), 'saved_models/%s/G_%d.pth' % (args.name, epoch))\n"
        "    torch.save(model.state_dict(), os.path.join(args.out, 'best.pth'))\n"
        "def resume(args, model):\n"
        "    model.load_state_dict(torch.load('saved_models/%s/G_%d.pth' % (args.name, args.epoch)))\n"
        "    model.load_state_dict(torch.load(os.path.join(args.load_dir, 'best.pth')))\n"
        "    model.load_state_dict(torch.load(os.path.join(args.load_dir, 'last.pth')))\n"
        "    model.load_state_dict(torch.load(args.pretrained))\n"
        "    return torch.load('best.pth'), torch.load('saved_models/G.pth')\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [
        (9, "TL701"),
        (10, "TL701"),
        (11, "TL701"),
    ]


@pytest.mark.parametrize(
    ("value", "reported"),
    [
        ("envs.get_obs_rms()", False),  # an object of the project's
        ("args", False),  # argparse.Namespace
        ("self.hparams", False),
        ("torch.__version__", False),  # TorchVersion
        ("copy.deepcopy(args)", False),
        ("model.module.state_dict() if ddp else envs.get_obs_rms()", False),
        ("model.state_dict()", True),
        ("copy.deepcopy(model.state_dict())", True),
        ("epoch + 1", True),
        ("vars(args)", True),
        ("best_acc", True),
        ("torch.get_rng_state()", True),
        ("self.config", True),  # not an OmegaConf file: a dict, bytes, anything
    ],
)
def test_a_checkpoint_format_this_file_saves_with_objects_decides(value, reported) -> None:
    source = (
        "import copy\n"
        "import torch\n"
        "def save(self, model, envs, args, path):\n"
        f"    state = {{'model': model.state_dict(), 'extra': {value}}}\n"
        "    torch.save(state, path)\n"
        "def resume(model, path):\n"
        "    checkpoint = torch.load(path)\n"
        "    model.load_state_dict(checkpoint['model'])\n"
    )
    expected = [(7, "TL701")] if reported else []
    assert codes(source, "TL701", target_version="2.1") == expected


def test_a_checkpoint_format_counts_only_for_loads_that_read_its_keys() -> None:
    source = (
        "import torch\n"
        "from omegaconf import OmegaConf\n"
        "def save(model, cfg, path):\n"
        "    torch.save(dict(model=model.state_dict(), cfg=cfg), path)\n"
        "def resume(model, path):\n"
        "    model.load_state_dict(torch.load(path)['model'])\n"
        "def pretrained(model, path):\n"
        "    model.load_state_dict(torch.load(path)['state_dict'])\n"
        "def whole(model, path):\n"
        "    model.load_state_dict(torch.load(path))\n"
        "def mixed(model, path):\n"
        "    checkpoint = torch.load(path)\n"
        "    return checkpoint['model'], checkpoint['ema']\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [
        (8, "TL701"),
        (10, "TL701"),
        (12, "TL701"),
    ]


def test_a_configuration_item_used_as_an_object_is_not_reported() -> None:
    source = (
        "import torch\n"
        "from omegaconf import OmegaConf\n"
        "def clean(cfg):\n"
        "    OmegaConf.set_struct(cfg, False)\n"
        "    return cfg\n"
        "def export(path):\n"
        "    pkg = torch.load(path, 'cpu')\n"
        "    return OmegaConf.to_yaml(clean(pkg['xp.cfg']))\n"
        "def arch(path):\n"
        "    return torch.load(path)['args'].arch\n"
        "def options(path):\n"
        "    return vars(torch.load(path)['opt'])\n"
        "def mapping(path):\n"
        "    checkpoint = torch.load(path)\n"
        "    return checkpoint['config'].items(), checkpoint['model'].float()\n"
        "def decoded(path):\n"
        "    import pickle\n"
        "    return pickle.loads(torch.load(path)['config'])\n"
    )
    assert codes(source, "TL701", target_version="2.1") == [(14, "TL701"), (18, "TL701")]
    # without OmegaConf, a helper given the configuration item may take a dict or bytes
    plain = source.replace("from omegaconf import OmegaConf\n", "import yaml as OmegaConf\n")
    assert codes(plain, "TL701", target_version="2.1") == [
        (7, "TL701"),
        (14, "TL701"),
        (18, "TL701"),
    ]


def test_a_checkpoint_handed_whole_to_code_elsewhere(tmp_path) -> None:
    """The project index tells a helper that loads a state dict from one that does not;
    another package's loader decides what the file holds."""
    from torchlint.config import build_settings
    from torchlint.runner import Mode, run

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from .ckpt import Checkpoint\n")
    (tmp_path / "pkg" / "ckpt.py").write_text(
        "class Checkpoint:\n"
        "    @staticmethod\n"
        "    def load_objects(to_load, checkpoint):\n"
        "        for key, obj in to_load.items():\n"
        "            obj.load_state_dict(checkpoint[key])\n"
    )
    (tmp_path / "pkg" / "helpers.py").write_text(
        "def restore_weights(model, checkpoint):\n"
        "    model.load_state_dict(checkpoint['model'])\n"
        "def publish(directory, model_dict):\n"
        "    return directory, model_dict\n"
    )
    (tmp_path / "pkg" / "run.py").write_text(
        "import torch\n"
        "import fairseq\n"
        "from pkg.helpers import publish, restore_weights\n"
        "from pkg import Checkpoint\n"
        "def a(path, model):\n"
        "    state = torch.load(path)\n"
        "    restore_weights(model, state)\n"
        "def b(path):\n"
        "    model_dict = torch.load(path, map_location='cpu')\n"
        "    publish('out', model_dict)\n"
        "def c(path):\n"
        "    checkpoint = torch.load(path)\n"
        "    inputs = {path: checkpoint}\n"
        "    return fairseq.checkpoint_utils.load_model_ensemble_and_task(inputs)\n"
        "def d(path, model):\n"
        "    state = torch.load(path)\n"
        "    def get_w(weights):\n"
        "        return {k: v for k, v in weights.items()}\n"
        "    model.load_state_dict(get_w(state))\n"
        "def e(path, engine):\n"
        "    engine.restore(torch.load(path))\n"
        "def f(path):\n"
        "    state = torch.load(path)\n"
        "    print(state)\n"
        "    publish('out', state)\n"
        "class Trainer:\n"
        "    def load(self, path):\n"
        "        self.restore(torch.load(path))\n"
        "    def restore(self, pkg):\n"
        "        self.model.load_state_dict(pkg['model'])\n"
        "    def republish(self, path):\n"
        "        self.upload(torch.load(path))\n"
        "    def upload(self, pkg):\n"
        "        return pkg\n"
        "def g(path, to_load):\n"
        "    Checkpoint.load_objects(to_load, torch.load(path))\n"
    )
    settings = build_settings(None, table={"select": ["TL701"], "target-version": "2.1"})
    result = run([tmp_path / "pkg" / "run.py"], settings, Mode())
    assert not result.errors, result.errors
    assert [d.start.line for d in result.diagnostics] == [6, 16, 21, 23, 28, 36]


def test_a_checkpoint_format_another_file_of_the_project_saves(tmp_path) -> None:
    """nnU-Net-style: the trainer saves `{"network_weights": ..., "logging": logger state}`;
    an inference script elsewhere reads those keys. A format with plain values only, or a
    key it does not have, keeps the report."""
    from torchlint.config import build_settings
    from torchlint.runner import Mode, run

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (tmp_path / "trainer.py").write_text(
        "import torch\n"
        "class Trainer:\n"
        "    def save_checkpoint(self, filename):\n"
        "        checkpoint = {\n"
        "            'network_weights': self.network.state_dict(),\n"
        "            'logging': self.logger.get_checkpoint(),\n"
        "            'init_args': self.init_kwargs,\n"
        "        }\n"
        "        torch.save(checkpoint, filename)\n"
        "    def save_plain(self, filename):\n"
        "        torch.save({'weights': self.network.state_dict(), 'epoch': 3}, filename)\n"
    )
    (tmp_path / "infer.py").write_text(
        "import torch\n"
        "def load(path, network):\n"
        "    checkpoint = torch.load(path, map_location='cpu')\n"
        "    network.load_state_dict(checkpoint['network_weights'])\n"
        "    return checkpoint['init_args']\n"
        "def plain(path, network):\n"
        "    network.load_state_dict(torch.load(path)['weights'])\n"
        "def other(path, network):\n"
        "    network.load_state_dict(torch.load(path)['state_dict'])\n"
        "__all__ = ['load', 'plain', 'other']\n"  # named: not dead code
    )
    settings = build_settings(None, table={"select": ["TL701"], "target-version": "2.1"})
    result = run([tmp_path / "infer.py"], settings, Mode())
    assert not result.errors, result.errors
    assert [d.start.line for d in result.diagnostics] == [7, 9]
