"""The headline rules (TL101, TL201/TL202, TL301, TL701) in the form they are on by default."""

from __future__ import annotations

from tests.helpers import lint


def messages(source: str, code: str, **table) -> list[tuple[int, str]]:
    result = lint(source, code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.message) for d in result.diagnostics]


# --- TL701 ---------------------------------------------------------------------------------


def test_load_of_a_whole_model_says_what_to_do_instead() -> None:
    source = (
        "import torch\n"
        "def restore(path):\n"
        "    model = torch.load(path, map_location='cpu')\n"
        "    model.eval()\n"
        "    state = torch.load(path)\n"
        "    net = torch.load(path).to('cpu')\n"
        "    return model, state, net(x), torch.load(path)(x)\n"
    )
    found = messages(source, "TL701", **{"target-version": "2.1"})
    whole = [line for line, message in found if "state_dict()" in message]
    plain = [line for line, message in found if "state_dict()" not in message]
    assert whole == [3, 6, 7]
    assert plain == [5]


def test_only_a_declared_range_before_2_6_reports_a_missing_weights_only() -> None:
    source = "import torch\nstate = torch.load(path)\n"
    assert messages(source, "TL701") == []  # unknown: a current torch, safe by default
    assert messages(source, "TL701", **{"target-version": "2.5"})
    assert messages(source, "TL701", **{"target-version": "2.6"}) == []


# --- TL201 / TL202 -------------------------------------------------------------------------

SELECTS_ON_LINE_3 = (
    "import torch\n"
    "\n"
    'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'
    "model = Net().cuda()\n"
    'mask = torch.ones(3, device="cuda")\n'
)


def test_hard_coded_cuda_names_the_device_selection() -> None:
    for code, line in (("TL201", 4), ("TL202", 5)):
        [(found, message)] = messages(SELECTS_ON_LINE_3, code)
        assert found == line
        assert "this file selects a device at line 3" in message


def test_cuda_only_code_is_silent_unless_strict() -> None:
    source = 'import torch\nmodel = Net().cuda()\nmask = torch.ones(3, device="cuda")\n'
    for code in ("TL201", "TL202"):
        assert messages(source, code) == []
        assert len(messages(source, code, portability="strict")) == 1


def test_stopping_without_cuda_is_not_a_device_selection() -> None:
    source = (
        "import sys, torch\n"
        "def to_gpu_batch(x):\n"
        "    return x.cuda()\n"
        "def main():\n"
        "    if not torch.cuda.is_available():\n"
        "        sys.exit('needs a GPU')\n"
        "    return step(Net().cuda())\n"
    )
    helper = source.replace("to_gpu_batch", "prepare")
    assert messages(helper, "TL201") == []
    selecting = helper.replace("sys.exit('needs a GPU')", "torch.set_default_device('cpu')")
    assert [line for line, _ in messages(selecting, "TL201")] == [3, 7]


def test_device_options_are_a_device_selection() -> None:
    for option in ("--device", "--cpu", "--no-cuda"):
        source = (
            "import argparse\n"
            "parser = argparse.ArgumentParser()\n"
            f"parser.add_argument({option!r})\n"
            "model = Net().cuda()\n"
        )
        [(_, message)] = messages(source, "TL201")
        assert f"`{option}` option" in message


# --- TL301 ---------------------------------------------------------------------------------

EVALUATE = (
    "import torch\n"
    "from torch import nn\n"
    "def evaluate(model, x):\n"
    "    with torch.no_grad():\n"
    "        return model(x)\n"
)


def test_missing_eval_needs_a_known_mode_dependent_class() -> None:
    assert messages(EVALUATE, "TL301") == []  # no caller: the class is not known
    for built, reported in (
        ("nn.Sequential(nn.Linear(2, 2), nn.Dropout())", True),
        ("nn.Sequential(nn.Linear(2, 2), nn.ReLU())", False),  # no mode-dependent layer
        ("torchvision.models.resnet18()", True),
        ("torchvision.models.vit_b_16()", False),  # dropout 0 by default
        ("torch.hub.load('repo', 'model')", False),  # a class it cannot see
        ("Net()", False),  # not defined here
    ):
        source = "import torchvision\n" + EVALUATE + f"evaluate({built}, x)\n"
        assert bool(messages(source, "TL301")) is reported, built


def test_a_class_of_the_file_that_reads_its_mode_is_known() -> None:
    source = EVALUATE + (
        "class Noisy(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x + torch.randn_like(x) if self.training else x\n"
        "class Wrapper(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.inner = Noisy()\n"
        "def main(x):\n"
        "    net = Wrapper().to('cpu')\n"
        "    return evaluate(net, x)\n"
    )
    assert [line for line, _ in messages(source, "TL301")] == [4]
    quiet = source.replace("if self.training else x", "")
    assert messages(quiet, "TL301") == []


# --- TL101 ---------------------------------------------------------------------------------

LOADER = (
    "import cv2\n"
    "from torch.utils.data import DataLoader, Dataset\n"
    "class Frames(Dataset):\n"
    "    def __getitem__(self, index):\n"
    "        return READ\n"
    "loader = DataLoader(Frames(), batch_size=8)\n"
)


def test_workers_only_where_per_item_work_is_visible() -> None:
    [(line, message)] = messages(LOADER.replace("READ", "cv2.imread(self.paths[index])"), "TL101")
    assert line == 6 and "`__getitem__` of `Frames` calls `cv2.imread`" in message
    assert messages(LOADER.replace("READ", "self.items[index]"), "TL101") == []
    assert messages(LOADER.replace("READ", "self.transform(self.items[index])"), "TL101") == []


def test_one_batch_and_unseen_datasets_are_not_reported() -> None:
    source = LOADER.replace("READ", "cv2.imread(self.paths[index])")
    one_batch = source.replace(
        "loader = DataLoader(Frames(), batch_size=8)",
        "x = next(iter(DataLoader(Frames(), batch_size=8)))",
    )
    assert messages(one_batch, "TL101") == []
    unseen = source.replace("DataLoader(Frames()", "DataLoader(frames")
    assert messages(unseen, "TL101") == []


def test_transforms_count_only_in_a_training_loader() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets, transforms\n"
        "data = datasets.CIFAR10('.', train=True, transform=transforms.ToTensor())\n"
        "loader = DataLoader(data, batch_size=64)\n"
        "for x, y in loader:\n"
        "    loss(model(x), y).backward()\n"
    )
    assert [line for line, _ in messages(source, "TL101")] == [4]
    assert messages(source.replace("train=True", "train=False"), "TL101") == []
    assert [
        line
        for line, _ in messages(
            source.replace("train=True", "train=False").replace(
                "batch_size=64", "batch_size=64, shuffle=True"
            ),
            "TL101",
        )
    ] == [4]


def test_an_availability_check_that_picks_nothing_is_no_device_selection() -> None:
    source = (
        "import torch\n"
        "if torch.cuda.is_available():\n"
        "    log.append('max mem')\n"
        "model = Net().cuda()\n"
    )
    assert messages(source, "TL201") == []
    assert [
        line
        for line, _ in messages(
            source.replace("log.append('max mem')", "model = model.cuda()"), "TL201"
        )
    ] == [4]
    assert (
        messages(
            "import tensorrt\n"
            + source.replace("log.append('max mem')", "x = 1\nelse:\n    y = 2"),
            "TL201",
        )
        == []
    )
