"""The headline rules (TL101, TL201/TL202, TL301, TL701) in the form they are on by default."""

from __future__ import annotations

import pytest

from tests.helpers import lint


def messages(source: str, code: str, **table) -> list[tuple[int, str]]:
    result = lint(source, code, **table)
    assert not result.errors, result.errors
    return [(d.start.line, d.message) for d in result.diagnostics]


# --- TL701 ---------------------------------------------------------------------------------


def test_load_of_a_whole_model_says_what_to_do_instead() -> None:
    source = (
        "import torch\n"
        "def restore(path, x):\n"
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
        "from nets import Net, step\n"  # bound: a function that reads an unbound name is dead
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


LAUNCHER = (
    "import torch\n"
    "import torch.distributed as dist\n"
    "def main_worker(gpu, args):\n"
    "    if torch.cuda.is_available():\n"
    "        torch.cuda.manual_seed_all(args.seed)\n"
    "    dist.init_process_group(backend='nccl')\n"
    "def build():\n"
    "    return Net().cuda()\n"
    "from nets import Net\n"  # bound: a function that reads an unbound name is dead
)


def test_an_nccl_only_launcher_selects_no_device_by_asking_for_cuda() -> None:
    assert messages(LAUNCHER, "TL201") == []
    # a CPU fallback backend makes the same availability check a device selection
    fallback = LAUNCHER.replace(
        "backend='nccl'", "backend='nccl' if torch.cuda.is_available() else 'gloo'"
    )
    assert [line for line, _ in messages(fallback, "TL201")] == [8]
    # ...and so does stronger evidence than the availability check in an NCCL launcher
    optioned = LAUNCHER + "parser.add_argument('--device', default='cpu')\n"
    [(line, message)] = messages(optioned, "TL201")
    assert line == 8 and "`--device` option" in message


def test_a_gpu_index_the_user_gave_guards_the_move() -> None:
    source = (
        "import torch\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "if args.gpu is not None:\n"
        "    images = images.cuda(args.gpu)\n"
        "if gpu_id >= 0:\n"
        "    target = target.cuda(gpu_id)\n"
        "if args.gpu is None:\n"
        "    pass\n"
        "else:\n"
        "    model = model.cuda(args.gpu)\n"
    )
    assert messages(source, "TL201") == []
    unguarded = (
        source.replace("args.gpu is not None", "args.rank is not None")
        .replace("gpu_id >= 0", "gpu_id < 0")
        .replace("args.gpu is None", "args.gpu is not None")
    )
    assert [line for line, _ in messages(unguarded, "TL201")] == [4, 6, 10]


def test_a_gpu_count_and_an_nccl_backend_guard_the_move() -> None:
    source = (
        "import torch\n"
        "import torch.distributed as dist\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "if cfg.NUM_GPUS > 0:\n"
        "    model = model.cuda(cfg.gpu_id)\n"
        "if args.n_gpu == 0:\n"
        "    pass\n"
        "else:\n"
        "    inputs = inputs.cuda()\n"
        "if dist.get_backend() == dist.Backend.NCCL:\n"
        "    tensor = tensor.cuda()\n"
        "if backend != 'nccl':\n"
        "    pass\n"
        "else:\n"
        "    flat = flat.cuda()\n"
    )
    assert messages(source, "TL201") == []
    unguarded = (
        source.replace("cfg.NUM_GPUS > 0", "cfg.NUM_WORKERS > 0")
        .replace("args.n_gpu == 0", "args.n_gpu == 1")
        .replace("== dist.Backend.NCCL", "== dist.Backend.GLOO")
        .replace("!= 'nccl'", "!= 'gloo'")
    )
    assert [line for line, _ in messages(unguarded, "TL201")] == [5, 9, 11, 15]


def test_an_integer_device_and_a_ddp_subclass_with_device_ids_are_cuda_only() -> None:
    source = (
        "import torch\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "if cuda_device != -1:\n"
        "    embedder = embedder.cuda(cuda_device)\n"
        "if args.device == -1:\n"
        "    pass\n"
        "else:\n"
        "    tokens = tokens.cuda(args.device)\n"
        "wrapped = MMDistributedDataParallel(model.cuda(), device_ids=[local_rank])\n"
    )
    assert messages(source, "TL201") == []
    unguarded = (
        source.replace("cuda_device != -1", "cuda_device != 1")
        .replace("args.device == -1", "args.device == 0")
        .replace("device_ids=[local_rank]", "find_unused_parameters=True")
    )
    assert [line for line, _ in messages(unguarded, "TL201")] == [4, 8, 9]


def test_a_bare_availability_check_shows_the_value_and_selects_nothing() -> None:
    source = "import torch\ntorch.cuda.is_available()\nmodel = model.cuda()\n"
    assert messages(source, "TL201") == []
    chosen = source.replace("torch.cuda.is_available()", "ok = torch.cuda.is_available()")
    assert [line for line, _ in messages(chosen, "TL201")] == [3]


def test_a_loss_without_a_weight_has_nothing_to_move() -> None:
    source = (
        "import torch\n"
        "from torch import nn\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "a = nn.CrossEntropyLoss().cuda()\n"
        "b = torch.nn.MSELoss(reduction='sum').cuda(args.gpu)\n"
        "c = nn.CrossEntropyLoss(weights).cuda()\n"
        "d = nn.BCEWithLogitsLoss(pos_weight=w).cuda()\n"
        "e = nn.NLLLoss(**kwargs).cuda()\n"
        "f = MyLoss().cuda()\n"
    )
    assert [line for line, _ in messages(source, "TL201")] == [6, 7, 8, 9]


def test_half_precision_branches_and_lazy_tensorrt_are_written_for_a_gpu() -> None:
    half = (
        "import torch\n"
        "def verify(net, x, dtype, device='cpu'):\n"
        "    if dtype == torch.float16:\n"
        "        return net.cuda()(x.cuda())\n"
        "    return net.to(device)(x)\n"
    )
    assert messages(half, "TL201") == []
    assert len(messages(half.replace("torch.float16", "torch.float32"), "TL201")) == 2
    lazy = (
        "import torch\n"
        "trt, found = optional_import('tensorrt')\n"
        "def make_tensor(d):\n"
        "    return torch.tensor(d).cuda()\n"
        "if found and torch.cuda.is_available():\n"
        "    engine = build()\n"
        "else:\n"
        "    engine = None\n"
    )
    assert messages(lazy, "TL201") == []
    assert len(messages(lazy.replace("'tensorrt'", "'onnxruntime'"), "TL201")) == 1


def test_printing_the_availability_selects_nothing() -> None:
    source = "import torch\nprint('CUDA:', torch.cuda.is_available())\nmodel = Net().cuda()\n"
    assert messages(source, "TL201") == []
    assert len(messages(source.replace("print(", "use_it("), "TL201")) == 1


def test_ddp_on_one_gpu_and_an_import_under_the_check_select_no_device() -> None:
    source = (
        "import torch\n"
        "from torch.nn.parallel import DistributedDataParallel as DDP\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "def run_ddp(rank, model):\n"
        "    model.cuda()\n"
        "    return DDP(model, device_ids=[rank])\n"
    )
    assert messages(source, "TL201") == []
    assert len(messages(source.replace("device_ids=[rank]", "device_ids=None"), "TL201")) == 1
    imported = (
        "import torch\n"
        "if torch.cuda.is_available():\n"
        "    from torch._inductor import cudagraph_trees\n"
        "x = inputs.cuda()\n"
    )
    assert messages(imported, "TL201") == []
    assert len(messages(imported.replace("from torch._inductor ", "y = x.cuda()  #"), "TL201")) == 1


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


GUARDED = (
    "import torch\n"
    "import torch.nn.functional as F\n"
    "from torch import nn\n"
    "class Net(nn.Module):\n"
    "    def __init__(self, args, p, q=0.1):\n"
    "        super().__init__()\n"
    "        self.args = args\n"
    "        self.q = q\n"
    "        LAYER\n"
    "    def forward(self, x):\n"
    "        return FORWARD\n"
    "def main(args, loader, optimizer):\n"
    "    model = BUILD\n"
    "    for x in loader:\n"
    "        model(x).sum().backward()\n"
    "        optimizer.step()\n"
    "    with torch.no_grad():\n"
    "        return model(x)\n"
)


@pytest.mark.parametrize(
    ("layer", "forward", "build", "reported"),
    [
        # a rate test it cannot read: the layer may not exist, proves nothing
        ("if args.dropout > 0: self.drop = nn.Dropout(p=args.dropout)", "x", "Net(args, 0)", False),
        ("if args.dropout: self.drop = nn.Dropout(args.dropout)", "x", "Net(args, 0)", False),
        ("if args['drop_rate'] != 0: self.drop = nn.Dropout(0)", "x", "Net(args, 0)", False),
        ("self.drop = nn.Dropout(args.p) if args.p > 0 else None", "x", "Net(args, 0)", False),
        ("pass", "F.dropout(x, args.p, self.training) if args.p > 0 else x", "Net(args, 0)", False),
        ("pass", "x.sign() if self.training and args.drop_rate > 0 else x", "Net(args, 0)", False),
        # ... the same layers, unguarded or under a test that is not of a rate: reported
        ("self.drop = nn.Dropout(p=args.dropout)", "x", "Net(args, 0)", True),
        ("if args.deep: self.drop = nn.Dropout(p=args.dropout)", "x", "Net(args, 0)", True),
        ("pass", "F.dropout(x, args.p, self.training)", "Net(args, 0)", True),
        ("pass", "x.sign() if self.training and args.deep else x", "Net(args, 0)", True),
        # a layer used only under such a test acts only there
        (
            "self.drop = nn.Dropout(args.p)",
            "self.drop(x) if self.args.p > 0 else x",
            "Net(args, 0)",
            False,
        ),
        (
            "self.drop = nn.Dropout(args.p)",
            "self.drop(x) if self.args.deep else x",
            "Net(args, 0)",
            True,
        ),
        (
            "self.drop = nn.Dropout(args.p)",
            "self.drop(self.drop(x) if args.p else x)",
            "Net(args, 0)",
            True,
        ),
        # a readable rate under the test still counts
        (
            "self.dp = 0.2\n        if self.dp > 0: self.drop = nn.Dropout(self.dp)",
            "x",
            "Net(args, 0)",
            True,
        ),
        (
            "self.dp = 0\n        if self.dp > 0: self.drop = nn.Dropout(self.dp)",
            "x",
            "Net(args, 0)",
            False,
        ),
        ("if args.use_dropout: self.drop = nn.Dropout(0.5)", "x", "Net(args, 0)", True),
        # the test of a parameter: its constructions decide
        ("self.drop = nn.Dropout(p) if p > 0 else None", "x", "Net(args, 0.3)", True),
        ("self.drop = nn.Dropout(p) if p > 0 else None", "x", "Net(args, args.p)", False),
        ("self.drop = nn.Dropout(p) if p > 0 else None", "x", "Net(args, p=0.2)", True),
        ("if self.q > 0: self.drop = nn.Dropout(self.q)", "x", "Net(args, 0)", True),
        ("if self.q > 0: self.drop = nn.Dropout(self.q)", "x", "Net(args, 0, q=0)", False),
    ],
)
def test_a_dropout_under_a_rate_test_it_cannot_read_proves_nothing(
    layer: str, forward: str, build: str, reported: bool
) -> None:
    source = GUARDED.replace("LAYER", layer).replace("FORWARD", forward).replace("BUILD", build)
    assert bool(messages(source, "TL301")) is reported


def test_a_loader_that_evaluates_what_it_wraps_builds_no_train_mode_layer() -> None:
    source = (
        "import torch\n"
        "from torch import nn\n"
        "from torchvision.models import inception_v3\n"
        "class Wrap(nn.Module):\n"
        "    def __init__(self, net, extra=None):\n"
        "        super().__init__()\n"
        "        self.net, self.extra = net, extra\n"
        "def accumulate(sample, net):\n"
        "    with torch.no_grad():\n"
        "        return net(sample())\n"
        "def load_net():\n"
        "    net = inception_v3(pretrained=True)\n"
        "    net = Wrap(net.eval()).cuda()\n"
        "    return net\n"
        "def prepare():\n"
        "    net = load_net()\n"
        "    def metrics(sample):\n"
        "        return accumulate(sample, net)\n"
        "    return metrics\n"
    )
    assert messages(source, "TL301") == []
    assert messages(source.replace("net.eval()", "net"), "TL301") != []
    direct = source.replace("    net = inception_v3(pretrained=True)\n", "").replace(
        "Wrap(net.eval())", "Wrap(inception_v3().eval())"
    )
    assert messages(direct, "TL301") == []
    # a layer of its own that is not evaluated, or a train() that undoes the eval()
    extra = source.replace("Wrap(net.eval())", "Wrap(net.eval(), inception_v3())")
    assert messages(extra, "TL301") != []
    undone = source.replace("    return net\n", "    net.train()\n    return net\n")
    assert messages(undone, "TL301") != []


INSTANCE_CALL = (
    "import torch\n"
    "from torch import nn\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.drop = nn.Dropout(0.2)\n"
    "    def forward(self, x):\n"
    "        return self.drop(x)\n"
    "    def predict(self, x):\n"
    "        with torch.no_grad():\n"
    "            return model(x)\n"
    "model = Net()\n"
    "model.train()\n"
    "for x in range(3):\n"
    "    model(x).sum().backward()\n"
    "EARLY\n"
    "model.eval()\n"
    "mean = model.predict(x)\n"
)


def test_a_method_called_on_its_instance_after_eval_is_evaluated() -> None:
    """A notebook's ``predict()`` (a method that runs the global model), called in a later
    cell right after ``model.eval()``: the mode at every ``model.predict(...)`` decides."""
    assert messages(INSTANCE_CALL.replace("EARLY", ""), "TL301") == []
    no_eval = INSTANCE_CALL.replace("EARLY", "").replace("model.eval()\n", "")
    assert [line for line, _ in messages(no_eval, "TL301")] == [10]
    # one call before the eval(): not every call site evaluates it
    early = INSTANCE_CALL.replace("EARLY", "model.predict(x)")
    assert [line for line, _ in messages(early, "TL301")] == [10]
    # a call of a method of that name on an instance of another class: not followed
    other = (
        INSTANCE_CALL.replace("EARLY", "").replace(
            "model = Net()\n", "class Other:\n    def predict(self, x): ...\nmodel = Net()\n"
        )
        + "other = Other()\nother.predict(x)\n"
    )
    assert [line for line, _ in messages(other, "TL301")] == [10]


# --- TL101 ---------------------------------------------------------------------------------

LOADER = (
    "import cv2\n"
    "from torch.utils.data import DataLoader, Dataset\n"
    "class Frames(Dataset):\n"
    "    def __getitem__(self, index):\n"
    "        return READ\n"
    "loader = DataLoader(Frames(), batch_size=8, shuffle=True)\n"
)


def test_workers_only_where_per_item_work_is_visible() -> None:
    [(line, message)] = messages(LOADER.replace("READ", "cv2.imread(self.paths[index])"), "TL101")
    assert line == 6 and "`__getitem__` of `Frames` calls `cv2.imread`" in message
    assert messages(LOADER.replace("READ", "self.items[index]"), "TL101") == []
    assert messages(LOADER.replace("READ", "self.transform(self.items[index])"), "TL101") == []


def test_one_batch_and_unseen_datasets_are_not_reported() -> None:
    source = LOADER.replace("READ", "cv2.imread(self.paths[index])")
    one_batch = source.replace(
        "loader = DataLoader(Frames(), batch_size=8, shuffle=True)",
        "x = next(iter(DataLoader(Frames(), batch_size=8, shuffle=True)))",
    )
    assert messages(one_batch, "TL101") == []
    unseen = source.replace("DataLoader(Frames()", "DataLoader(frames")
    assert messages(unseen, "TL101") == []


def test_transforms_count_only_in_a_training_loader() -> None:
    """A transform-only dataset is worth workers where the loader reads in random order (it
    shuffles, or has a random sampler) over a training split; `train=True` read in order is
    a feature bank or an export, and `train=False` an evaluation even when it shuffles."""
    source = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets, transforms\n"
        "data = datasets.CIFAR10('.', train=True, transform=transforms.RandomCrop(32, 4))\n"
        "loader = DataLoader(data, batch_size=64, shuffle=True)\n"
        "for x, y in loader:\n"
        "    loss(model(x), y).backward()\n"
    )

    def lines(text: str) -> list[int]:
        return [line for line, _ in messages(text, "TL101")]

    assert lines(source) == [4]
    assert lines(source.replace(", shuffle=True", "")) == []
    assert lines(source.replace("train=True", "train=False")) == []
    assert lines(source.replace("'.', train=True,", "'.', False,")) == []
    assert lines(source.replace("'.', train=True,", "'.', True,")) == [4]
    sampled = source.replace("shuffle=True", "sampler=RandomSampler(data)").replace(
        "import DataLoader", "import DataLoader, RandomSampler"
    )
    assert lines(sampled) == [4]
    assert lines(sampled.replace("RandomSampler(data)", "SequentialSampler(data)")) == []


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


# --- TL201 / TL202: code written CUDA-only on purpose ----------------------------------------


def test_a_device_assigned_in_a_branch_is_a_selection_and_one_assigned_always_is_not() -> None:
    inside = (
        "import torch\ndef build():\n    device = torch.device('cpu')\n    return Net().cuda()\n"
    )
    assert messages(inside, "TL201") == []
    top = "import torch\ndevice = torch.device('cpu')\nmodel = Net().cuda()\n"
    [(_, message)] = messages(top, "TL201")  # a script's own top-level setting
    assert "`device` set to another device" in message
    main = "import torch\nif __name__ == '__main__':\n    device = 'cpu'\nmodel = Net().cuda()\n"
    assert messages(main, "TL201") == []
    for branch in (
        "if args.cpu:\n    device = 'cpu'\n",
        "try:\n    import mps_helper\nexcept ImportError:\n    device = 'cpu'\n",
    ):
        [(_, message)] = messages(f"import torch\n{branch}model = Net().cuda()\n", "TL201")
        assert "`device` set to another device" in message


def test_the_cuda_branch_of_an_if_else_choice_is_not_reported() -> None:
    source = (
        "import torch\n"
        "use_mps = torch.backends.mps.is_available()\n"
        "if a:\n"
        "    dev = torch.device('mps')\n"
        "elif b:\n"
        "    dev = torch.device('cuda')\n"
        "elif c:\n"
        "    dev = torch.device('cuda:1')\n"
        "if d:\n"
        "    only = torch.device('cuda')\n"
        "if e:\n"
        "    self.dev = torch.device('cuda')\n"
        "else:\n"
        "    dev = torch.device('cpu')\n"
    )
    assert [line for line, _ in messages(source, "TL202")] == [10, 12]


def test_a_private_helper_is_cuda_only_when_every_call_in_the_file_is_guarded() -> None:
    source = (
        "import torch\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "def _ping(net):\n"
        "    return _pong(net.cuda())\n"
        "def _pong(net):\n"
        "    return _ping(net.cuda())\n"
        "def _shadowed(net):\n"
        "    return net.cuda()\n"
        "class Holder:\n"
        "    def run(self, net, _shadowed=None):\n"
        "        _shadowed(net)\n"
        "        self._shadowed(net)\n"
        "        return loss(_shadowed=net)\n"
        "if torch.cuda.is_available():\n"
        "    _shadowed(model)\n"
    )
    # a cycle proves nothing; a parameter, an attribute, a keyword of the same name are
    # other names
    assert [line for line, _ in messages(source, "TL201")] == [4, 6]


def test_an_availability_check_that_only_picks_a_log_line_selects_no_device() -> None:
    shows = "        print('gpu', torch.cuda.max_memory_allocated())\n"
    source = (
        "import torch\n"
        "def log(model):\n"
        "    if torch.cuda.is_available():\n"
        f"{shows}"
        "    else:\n"
        "        logger.info('cpu')\n"
        "    return torch.zeros(1, device='cuda')\n"
    )
    assert messages(source, "TL202") == []
    for other in ("        model.cuda()\n", "        x = 1\n"):  # either branch places or binds
        assert [line for line, _ in messages(source.replace(shows, other), "TL202")] == [7]
        swapped = source.replace("        logger.info('cpu')\n", other)
        assert [line for line, _ in messages(swapped, "TL202")] == [7]


def test_a_cuda_default_of_a_device_parameter_is_the_callers_choice() -> None:
    source = (
        "import torch\n"
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
        "def run(x, device: torch.device = torch.device('cuda'), map_location=None):\n"
        "    return x\n"
        "def pick(d=torch.device('cuda'), out=torch.zeros(1, device='cuda')):\n"
        "    return d\n"
    )
    assert [line for line, _ in messages(source, "TL202")] == [5, 5]


def test_cuda_state_and_an_autocast_type_select_no_device() -> None:
    source = (
        "import torch\n"
        "def restore(state):\n"
        "    if torch.cuda.is_available():\n"
        "        torch.cuda.set_rng_state(state.cuda_state, 'cuda')\n"
        "    else:\n"
        "        assert state.cuda_state is None\n"
        "    saved = torch.cuda.get_rng_state() if torch.cuda.is_available() else None\n"
        "def rotary(x):\n"
        "    device_type = x.device.type\n"
        "    device_type = device_type if device_type != 'mps' else 'cpu'\n"
        "    return torch.empty(3, device='cuda')\n"
    )
    assert messages(source, "TL202") == []
    picked = source.replace("device_type = device_type if", "device = device_type if")
    assert [line for line, _ in messages(picked, "TL202")] == [11]


def test_a_usage_example_under_main_in_a_package_needs_its_own_selection(tmp_path) -> None:
    (tmp_path / "__init__.py").write_text("")
    source = (
        "import torch\n"
        "def predict(x, device=torch.device('cpu')):\n"
        "    return x.to(device)\n"
        "if __name__ == '__main__':\n"
        "    predict(x, device=torch.device('cuda', 0))\n"
        "    y = x.cuda()\n"
    )
    module = str(tmp_path / "predictor.py")
    assert messages(source, "TL201", path=module) == []
    assert messages(source, "TL202", path=module) == []
    script = str(tmp_path / "outside" / "predict.py")  # not in a package: a script's body
    assert [line for line, _ in messages(source, "TL201", path=script)] == [6]
    own = source.replace(
        "    y = x.cuda()\n", "    y = x.cuda()\n    z = x.to('cpu' if a else 'cuda')\n"
    )
    assert [line for line, _ in messages(own, "TL201", path=module)] == [6]
