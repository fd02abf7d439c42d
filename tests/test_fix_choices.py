"""Fixes respect the code's own choices: its device, its line length, what it loads.

One test per finding of the report that asked for this (a new user's project fixed with
``--unsafe-fixes``, then run on the CPU), then the order in which a device is looked for
(``torchlint/analysis/scope_device.py``).
"""

from __future__ import annotations

from tests.helpers import fix, fix_all, lint

# These snippets select no device of their own: strict portability reports their CUDA uses.
STRICT = {"portability": "strict"}

SCRIPT = """\
import argparse
import torch


def get_device(name):
    return torch.device(name)


def evaluate(model, loader):
    model.eval()
    for images, labels in loader:
        images = images.cuda(non_blocking=True)
        labels = labels.cuda(non_blocking=True)
        model(images)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = get_device(args.device)
    model = Net().to(device)
    evaluate(model, loader)
"""


def test_finding_1_a_helper_uses_the_device_of_the_model_it_is_given() -> None:
    fixed = fix(SCRIPT, "TL201", **STRICT).source
    assert "def evaluate(model, loader):\n    device = next(model.parameters()).device\n" in fixed
    assert "images = images.to(device, non_blocking=True)" in fixed
    assert "best_device" not in fixed


def test_finding_2_the_best_device_is_selected_once_per_function() -> None:
    source = "def step(x, y):\n    return x.cuda(), y.cuda()\n"
    fixed = fix(source, "TL201", **STRICT).source
    assert fixed.count("best_device()") == 1
    assert (
        "def step(x, y):\n    device = best_device()\n    return x.to(device), y.to(device)\n"
        in (fixed)
    )


def test_finding_3_plain_pytorch_selection_goes_where_it_is_used_never_shadowed() -> None:
    source = (
        "import os\nimport torch\nfrom torch.utils.data import DataLoader\n"
        "from torchvision.datasets import ImageFolder\n\n"
        "def load(x):\n    return x.cuda()\n\n"
        "def main(root):\n"
        '    device = torch.device("cpu")\n'
        "    loader = DataLoader(ImageFolder(root), batch_size=32, shuffle=True, drop_last=True, "
        "pin_memory=False)\n"
        "    return load(loader)\n"
        'if __name__ == "__main__":\n'
        "    main(None)\n"
    )
    fixed = fix_all(source, ["TL201", "TL101"], **{"runtime-helpers": False}, **STRICT).source
    # no module-level selection that main's own `device` would shadow
    assert not any(line.startswith("device =") for line in fixed.splitlines()), fixed
    # the helper gets main's device from its only caller
    assert "def load(x, device):\n    return x.to(device)\n" in fixed
    assert "return load(loader, device=device)" in fixed
    # the lengthened DataLoader call is wrapped within this repository's limit (100)
    assert "num_workers=min(8, os.cpu_count() or 1)" in fixed
    assert max(len(line) for line in fixed.splitlines()) <= 100, fixed


def test_finding_4_amp_uses_the_device_in_scope() -> None:
    source = (
        "import torch\n"
        "def train(model, loader, device: torch.device, amp):\n"
        "    scaler = torch.cuda.amp.GradScaler(enabled=amp)\n"
        "    with torch.cuda.amp.autocast(enabled=amp):\n"
        "        pass\n"
    )
    fixed = fix(source, "TL601").source
    assert "torch.amp.GradScaler(device.type, enabled=amp)" in fixed
    assert "torch.amp.autocast(device.type, enabled=amp)" in fixed
    # with no device in scope, "cuda" stays (and the fix stays safe)
    bare = "import torch\nscaler = torch.cuda.amp.GradScaler()\n"
    assert 'torch.amp.GradScaler("cuda")' in fix(bare, "TL601", unsafe=False).source


def test_finding_5_map_location_is_the_device_in_scope() -> None:
    source = (
        "import torch\n"
        "def restore(model, path, device):\n"
        "    model.load_state_dict(torch.load(path, weights_only=True))\n"
    )
    fixed = fix(source, "TL703").source
    assert "torch.load(path, weights_only=True, map_location=device)" in fixed
    bare = "import torch\nstate = torch.load(checkpoint_path, weights_only=True)\n"
    assert 'map_location="cpu"' in fix(bare, "TL703").source


def test_finding_6_no_weights_only_fix_for_a_whole_pickled_model() -> None:
    source = 'import torch\nmodel = torch.load("model.pt")\nmodel(x)\n'
    (diagnostic,) = lint(source, "TL701", target_version="2.1").diagnostics
    assert diagnostic.fix is None
    assert "state_dict" in diagnostic.message and "add_safe_globals" in diagnostic.message
    assert "`model(...)`" in diagnostic.message
    # a mapping stays fixable
    state = 'import torch\nstate = torch.load("m.pt")\nnet.load_state_dict(state["model"])\n'
    assert "weights_only=True" in fix(state, "TL701", target_version="2.1").source


# --- the order in which a device is looked for ------------------------------------------------


def test_a_device_variable_in_scope_comes_first() -> None:
    source = "def train(model, loader, device):\n    for x, y in loader:\n        model(x.cuda())\n"
    assert "model(x.to(device))" in fix(source, "TL201", **STRICT).source


def test_self_device_and_args_device_are_devices_in_scope() -> None:
    source = (
        "import torch\n"
        "class Trainer:\n"
        "    def __init__(self, device):\n"
        "        self.device = torch.device(device)\n"
        "    def step(self, x):\n"
        "        return x.cuda()\n"
    )
    assert "return x.to(self.device)" in fix(source, "TL201", **STRICT).source
    script = (
        "import argparse\n"
        'parser.add_argument("--device", default="cuda")\n'
        "def run(args, x):\n"
        "    print(args.device)\n"
        "    return x.cuda()\n"
    )
    assert "return x.to(args.device)" in fix(script, "TL201", **STRICT).source


def test_a_model_that_the_function_moves_is_not_a_device_source() -> None:
    source = "def setup(model, x):\n    model.cuda()\n    return x.cuda()\n"
    fixed = fix(source, "TL201", **STRICT).source
    assert "next(model.parameters())" not in fixed
    assert "device = best_device()" in fixed


def test_the_caller_passes_its_device_only_when_every_caller_can() -> None:
    source = (
        "import torch\n"
        "def probe(n):\n"
        "    return torch.ones(n).cuda()\n"
        "def main():\n"
        '    device = torch.device("cpu")\n'
        "    probe(1)\n"
        "def other():\n"
        "    probe(2)\n"
        'if __name__ == "__main__":\n'
        "    main()\n"
    )
    fixed = fix(source, "TL201", **STRICT).source
    assert "def probe(n):\n    device = best_device()\n" in fixed  # other() has none
    assert "probe(1)\n" in fixed and "probe(2)\n" in fixed
    only_main = source.replace("def other():\n    probe(2)\n", "")
    fixed = fix(only_main, "TL201", **STRICT).source
    assert "def probe(n, device):" in fixed and "probe(1, device=device)" in fixed
    library = only_main.replace('if __name__ == "__main__":\n    main()\n', "")
    assert "def probe(n):\n    device = best_device()\n" in fix(library, "TL201", **STRICT).source


def test_a_function_used_other_than_by_calls_keeps_its_signature() -> None:
    source = (
        "import torch\n"
        "def probe(n):\n"
        "    return torch.ones(n).cuda()\n"
        "def main():\n"
        '    device = torch.device("cpu")\n'
        "    probe(1)\n"
        "    callbacks = [probe]\n"
    )
    fixed = fix(source, "TL201", **STRICT).source
    assert "def probe(n):\n    device = best_device()\n" in fixed


def test_module_level_code_selects_once_after_the_imports() -> None:
    source = "import torch\nx = a.cuda()\ny = b.cuda()\n"
    fixed = fix(source, "TL201", **STRICT).source
    assert fixed.count("best_device()") == 1
    assert fixed.endswith("device = best_device()\nx = a.to(device)\ny = b.to(device)\n")


def test_a_device_bound_later_in_the_function_is_not_used() -> None:
    source = 'import torch\ndef f(x):\n    y = x.cuda()\n    device = torch.device("cpu")\n'
    fixed = fix(source, "TL201", **STRICT).source
    assert "y = x.to(device)" not in fixed  # `device` is unbound there


def test_module_level_script_code_uses_its_parsed_device_option() -> None:
    """Finding 1 at module level: once `args = parser.parse_args()` has run, `args.device` is
    the script's device; before it, nothing is parsed yet and a device is selected."""
    options = (
        "parser = argparse.ArgumentParser()\n"
        'parser.add_argument("--device", default="cuda")\n'
        "args = parser.parse_args()\n"
        "model = Net().to(args.device)\n"
    )
    after = "import argparse\nimport torch\n" + options + "x = batch.cuda()\n"
    assert fix(after, "TL201").source.endswith("x = batch.to(args.device)\n")
    before = "import argparse\nimport torch\nx = batch.cuda()\n" + options
    fixed = fix(before, "TL201").source
    assert "x = batch.to(device)\n" in fixed and "device = best_device()\n" in fixed
