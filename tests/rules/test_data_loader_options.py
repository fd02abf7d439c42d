"""Behaviour of the DataLoader rules (TL101, TL103, TL104) beyond their documented examples."""

from __future__ import annotations

from tests.helpers import fix, lint


def codes(source: str, code: str) -> list[tuple[int, str]]:
    result = lint(source, code)
    assert not result.errors, result.errors
    return [(d.start.line, d.code) for d in result.diagnostics]


def test_persistent_workers_fix_inside_a_method_keeps_indentation() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "class Data:\n"
        "    def loader(self):\n"
        "        return DataLoader(\n"
        "            self.ds,\n"
        "            num_workers=4,\n"
        "        )\n"
    )
    assert fix(source, "TL103").source == source.replace(
        "            num_workers=4,\n",
        "            num_workers=4,\n            persistent_workers=True,\n",
    )


def test_train_loader_over_a_self_iterable_dataset_is_not_reported() -> None:
    source = (
        "from torch.utils.data import DataLoader, IterableDataset\n"
        "class Stream(IterableDataset):\n"
        "    pass\n"
        "class Data:\n"
        "    def setup(self):\n"
        "        self.train_ds = Stream()\n"
        "    def loaders(self):\n"
        "        self.train_loader = DataLoader(self.train_ds, batch_size=4)\n"
        "        train_loader2 = DataLoader(self.train_stream)\n"
        "        train_loader3 = DataLoader(Stream())\n"
    )
    assert codes(source, "TL104") == []


def test_train_loader_over_a_streaming_hf_dataset_is_not_reported() -> None:
    source = (
        "from datasets import load_dataset\n"
        "from torch.utils.data import DataLoader\n"
        "ds = load_dataset('c4', split='train', streaming=True)\n"
        "train_loader = DataLoader(ds, batch_size=8)\n"
    )
    assert codes(source, "TL104") == []


def test_train_loader_names() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "pretrain_loader = DataLoader(ds)\n"
        "train_val_loader = DataLoader(ds)\n"
        "trainset_test_loader = DataLoader(ds)\n"
        "loaders = DataLoader(ds)\n"
    )
    assert codes(source, "TL104") == [(2, "TL104")]


def messages(source: str, code: str) -> list[str]:
    result = lint(source, code)
    assert not result.errors, result.errors
    return [d.message for d in result.diagnostics]


def test_explicit_zero_workers_says_so() -> None:
    source = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision.datasets import ImageFolder\n"
        "dataset = ImageFolder(root)\n"
        "a = DataLoader(dataset, shuffle=True, num_workers=0)\n"
        "b = DataLoader(dataset, shuffle=True)\n"
    )
    work = ": `ImageFolder` reads and decodes a file per item"
    assert messages(source, "TL101") == [
        "`num_workers=0` loads every batch in the main process" + work,
        "`DataLoader` without `num_workers` loads every batch in the main process" + work,
    ]


def test_dataset_bound_to_memory_and_to_something_else_is_not_reported() -> None:
    """Per-item work must be visible in every binding: here one is in memory, and the
    other a class it cannot see."""
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader, TensorDataset\n"
        "def build(files):\n"
        "    data = TensorDataset(torch.randn(4, 2))\n"
        "    if files:\n"
        "        data = ImageFolder(files)\n"
        "    return DataLoader(data, shuffle=True)\n"
        "def other(data=TensorDataset(torch.randn(4, 2))):\n"
        "    return DataLoader(data, shuffle=True)\n"
    )
    assert codes(source, "TL101") == []
    files = source.replace("TensorDataset(torch.randn(4, 2))\n    if", "ImageFolder(files)\n    if")
    files = "from torchvision.datasets import ImageFolder\n" + files
    assert codes(files, "TL101") == [(8, "TL101")]


def test_dataset_whose_getitem_computes_is_not_reported() -> None:
    """A transform, a class it cannot see or a stub is no visible per-item file work."""
    source = (
        "import torch\n"
        "from torch.utils.data import DataLoader, Dataset\n"
        "class Base(Dataset):\n"
        "    def __getitem__(self, index):\n"
        "        return self.data[index]\n"
        "class Augmented(Base):\n"
        "    def __getitem__(self, index):\n"
        "        return self.transform(self.data[index])\n"
        "class Inherits(Base):\n"
        "    pass\n"
        "class Unknown(project.Data):\n"
        "    pass\n"
        "class Template(Dataset):\n"
        "    def __getitem__(self, index):\n"
        "        # read one item from disk here\n"
        "        pass\n"
        "a = DataLoader(Augmented())\n"
        "b = DataLoader(Inherits())\n"
        "c = DataLoader(Unknown())\n"
        "d = DataLoader(Template())\n"
    )
    assert codes(source, "TL101") == []


FOLDER = (
    "import torch\n"
    "from torch.utils.data import DataLoader\n"
    "from torchvision import datasets, transforms\n"
    "data = datasets.ImageFolder(root)\n"
    "loader = DataLoader(data, batch_size=8, shuffle=True)\n"
)


def test_an_evaluation_split_is_not_a_training_loader() -> None:
    """`split="val"`, `image_set="val"`, `train=False`: read once per evaluation, even
    over files and even when the loader shuffles."""
    imagenet = FOLDER.replace("ImageFolder(root)", "ImageNet(root, split=SPLIT)")
    assert codes(imagenet.replace("SPLIT", "'train'"), "TL101") == [(5, "TL101")]
    assert codes(imagenet.replace("SPLIT", "'val'"), "TL101") == []
    voc = FOLDER.replace("ImageFolder(root)", "VOCSegmentation(root, image_set=SPLIT)")
    assert codes(voc.replace("SPLIT", "'trainval'"), "TL101") == [(5, "TL101")]
    assert codes(voc.replace("SPLIT", "'test'"), "TL101") == []
    assert codes(voc.replace("SPLIT", "split"), "TL101") == [(5, "TL101")]  # unknown


def test_files_read_in_order_are_not_a_training_loader() -> None:
    """`shuffle=False` with no sampler: an evaluation or a feature-extraction pass."""
    ordered = FOLDER.replace("shuffle=True", "shuffle=False")
    assert codes(ordered, "TL101") == []
    assert codes(FOLDER.replace("shuffle=True", "shuffle=flag"), "TL101") == [(5, "TL101")]
    sampled = ordered.replace("shuffle=False", "shuffle=False, sampler=sampler")
    assert codes(sampled, "TL101") == [(5, "TL101")]


def test_a_loader_built_with_autograd_off_is_not_a_training_loader() -> None:
    extract = FOLDER.replace(
        "loader = DataLoader(data, batch_size=8, shuffle=True)\n",
        "@torch.no_grad()\n"
        "def embed(model):\n"
        "    loader = DataLoader(data, batch_size=8, shuffle=True)\n"
        "    return [model(x) for x, _ in loader]\n",
    )
    assert codes(extract, "TL101") == []
    assert codes(extract.replace("@torch.no_grad()\n", ""), "TL101") == [(6, "TL101")]
    block = FOLDER.replace("loader = ", "with torch.inference_mode():\n    loader = ")
    assert codes(block, "TL101") == []


def test_a_loader_in_a_branch_a_constant_turns_off_is_not_reported() -> None:
    source = FOLDER.replace("loader = ", "TRAIN = False\nif TRAIN:\n    loader = ")
    assert codes(source, "TL101") == []
    assert codes(source.replace("TRAIN = False", "TRAIN = True"), "TL101") == [(7, "TL101")]


def test_a_run_capped_at_a_handful_of_batches_is_not_reported() -> None:
    """Composer's `train_subset_num_batches`, Lightning's `limit_train_batches` (on the
    trainer whose `fit` reads the loader), a loader passed inline: a demo's few batches."""
    composer = FOLDER + "Trainer(model=m, train_dataloader=loader, train_subset_num_batches=5)\n"
    assert codes(composer, "TL101") == []
    assert codes(composer.replace("=5)", "=500)"), "TL101") == [(5, "TL101")]
    assert codes(composer.replace("=loader", "=other"), "TL101") == [(5, "TL101")]
    lightning = FOLDER + "trainer = pl.Trainer(limit_train_batches=2)\ntrainer.fit(m, loader)\n"
    assert codes(lightning, "TL101") == []
    assert codes(lightning.replace("fit(m, loader)", "fit(m, other)"), "TL101") == [(5, "TL101")]
    inline = FOLDER.replace(
        "loader = DataLoader(data, batch_size=8, shuffle=True)\n",
        "fit(DataLoader(data, shuffle=True), max_steps=3)\n",
    )
    assert codes(inline, "TL101") == []
    assert codes(inline.replace("max_steps=3", "max_steps=30000"), "TL101") == [(5, "TL101")]


def test_explicit_zero_over_a_dataset_holding_a_lambda_is_the_authors_choice() -> None:
    """A lambda in the transform cannot be pickled into spawned workers: `num_workers=0`
    there is deliberate. Without the explicit 0, or without the lambda, it is reported."""
    source = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets, transforms\n"
        "scale = transforms.Lambda(lambda x: x.mul(255))\n"
        "transform = transforms.Compose([transforms.ToTensor(), scale])\n"
        "data = datasets.ImageFolder(root, transform)\n"
        "loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=0)\n"
    )
    assert codes(source, "TL101") == []
    assert codes(source.replace(", num_workers=0", ""), "TL101") == [(6, "TL101")]
    plain = source.replace("lambda x: x.mul(255)", "double")
    assert codes(plain, "TL101") == [(6, "TL101")]


def test_a_loader_opacus_makes_private_is_sampled_at_random() -> None:
    """`make_private` replaces the loader by one that draws Poisson-sampled batches: a
    training loader, although the loader as built does not shuffle."""
    source = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets, transforms\n"
        "data = datasets.MNIST('.', train=True, transform=transforms.RandomRotation(10))\n"
        "train_loader = DataLoader(data, batch_size=64)\n"
        "model, optimizer, train_loader = engine.make_private(\n"
        "    module=model, optimizer=optimizer, data_loader=train_loader, POISSON\n"
        ")\n"
    )
    assert codes(source.replace("POISSON", "noise_multiplier=1.0"), "TL101") == [(4, "TL101")]
    assert codes(source.replace("POISSON", "poisson_sampling=False"), "TL101") == []
    other = source.replace("data_loader=train_loader", "data_loader=other")
    assert codes(other.replace("POISSON", "noise_multiplier=1.0"), "TL101") == []


def test_default_order_is_reported_only_where_a_loop_trains_on_it() -> None:
    """No `shuffle=`, no sampler: a test pass unless a `for` loop of the file reads the
    loader (by its name, or built in the loop's header) and calls `backward()`."""
    header = FOLDER.replace(
        "loader = DataLoader(data, batch_size=8, shuffle=True)\n",
        "for x, y in DataLoader(data, batch_size=8):\n    loss_fn(model(x), y).backward()\n",
    )
    assert codes(header, "TL101") == [(5, "TL101")]
    assert codes(header.replace(".backward()", ".item()"), "TL101") == []
    attribute = FOLDER.replace(
        "loader = DataLoader(data, batch_size=8, shuffle=True)\n",
        "class Run:\n"
        "    def setup(self):\n"
        "        self.loader = DataLoader(data, batch_size=8)\n"
        "    def fit(self):\n"
        "        for x, y in tqdm(self.loader):\n"
        "            self.accelerator.backward(loss_fn(model(x), y))\n",
    )
    assert codes(attribute, "TL101") == [(7, "TL101")]
    assert codes(attribute.replace("tqdm(self.loader)", "tqdm(self.other)"), "TL101") == []


def test_a_loader_read_only_for_one_batch_is_not_reported() -> None:
    """Every read is `next(iter(name))` (or `iter(name).next()`): the first batch of a fresh
    iterator each time, which workers cannot overlap with anything. Any other read of the
    same name (a loop, a wrapper, a call, a `return`) keeps the report."""
    peek = FOLDER + "images, labels = next(iter(loader))\nshow(next(iter(loader), None))\n"
    assert codes(peek, "TL101") == []
    assert codes(peek.replace("next(iter(loader))", "iter(loader).next()"), "TL101") == []
    for other in (
        "for x, y in loader:\n    step(x, y)\n",
        "for i, (x, y) in enumerate(tqdm(loader)):\n    step(x, y)\n",
        "for a, b in zip(loader, other):\n    step(a, b)\n",
        "trainer.fit(model, loader)\n",
        "it = iter(loader)\n",  # an iterator kept: `next(it)` goes on where it stopped
    ):
        assert codes(peek + other, "TL101") == [(5, "TL101")], other
    returned = (
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets\n"
        "def build(root):\n"
        "    loader = DataLoader(datasets.ImageFolder(root), shuffle=True)\n"
        "    x, y = next(iter(loader))\n"
        "    return loader\n"
    )
    assert codes(returned, "TL101") == [(4, "TL101")]
    assert codes(returned.replace("    return loader\n", ""), "TL101") == []


def test_one_batch_reads_of_self_attributes_and_of_iterators() -> None:
    source = (
        "from itertools import cycle\n"
        "from torch.utils.data import DataLoader\n"
        "from torchvision import datasets\n"
        "class Run:\n"
        "    def __init__(self, root):\n"
        "        self.loader = WRAP(DataLoader(datasets.ImageFolder(root), shuffle=True))\n"
        "    def step(self):\n"
        "        return next(iter(self.loader))\n"
    )
    assert codes(source.replace("WRAP", "accelerator.prepare"), "TL101") == []
    # `iter` of a `cycle` or of an iterator hands back the same one: each read is the next batch
    assert codes(source.replace("WRAP", "cycle"), "TL101") == [(6, "TL101")]
    assert codes(source.replace("WRAP", "iter"), "TL101") == [(6, "TL101")]
    plain = source.replace("WRAP", "")
    assert codes(plain, "TL101") == []
    assert codes(plain + "    def fit(self):\n        fit(self.loader)\n", "TL101") == [
        (6, "TL101")
    ]
    # `iter` or `next` of this file may do anything
    shadowed = plain + "def iter(loader):\n    return loader.sampler\n"
    assert codes(shadowed, "TL101") == [(6, "TL101")]


def test_a_loader_every_read_of_which_takes_a_few_batches_is_not_reported() -> None:
    """A loop that leaves in its first pass (`break`, `return`, in a `with` too), one that
    stops once `enumerate`'s index reaches a literal, an iterator drawn a fixed number of
    times, and reads that draw no batch (`len`, `.dataset`) do not make a training loader."""
    for bounded in (
        "for x, y in loader:\n    show(x)\n    break\n",
        "for x, y in loader:\n    with torch.no_grad():\n        show(model(x))\n        break\n",
        "def first():\n    for batch in loader:\n        return batch\n",
        "for i, (x, y) in enumerate(loader):\n    show(x)\n    break\n",
        "for i, (x, y) in enumerate(loader):\n    show(x)\n    if i >= 3:\n        break\n",
        "it = iter(loader)\nx = next(it)\ny = next(it)\n",
        "it = iter(loader)\nimages, labels = it.next()\n",
        "print(len(loader), len(loader.dataset))\nx = next(iter(loader))\n",
    ):
        assert codes(FOLDER + bounded, "TL101") == [], bounded
    for unbounded in (
        "for x, y in loader:\n    if y.sum() == 0:\n        break\n",  # a condition on data
        "for x, y in loader:\n    for image in x:\n        break\n",  # the inner loop's break
        "for x, y in loader:\n    if x is None:\n        continue\n    break\n",
        "for i, (x, y) in enumerate(loader):\n    i = 0\n    if i >= 3:\n        break\n",
        "for x, y in loader:\n    step(x)\n",
        "it = iter(loader)\nfor _ in range(100):\n    x = next(it)\n",  # drawn in a loop
        "it = iter(loader)\nwhile True:\n    x = next(it)\n",
        "it = iter(loader)\nwhile True:\n    x = it.next()\n",
        "it = iter(loader)\ndef draw():\n    return next(it)\n",  # called any number of times
        "it = iter(loader)\nx = next(it)\nrest = list(it)\n",
        "print(len(loader))\n",  # no batch drawn here: another file may train on it
        "for x, y in loader:\n    break\nfit(model, loader)\n",
        "def enumerate(xs):\n    return xs\nfor i, x in enumerate(loader):\n    break\n",
    ):
        assert codes(FOLDER + unbounded, "TL101") == [(5, "TL101")], unbounded


def test_each_binding_of_a_name_is_judged_by_the_reads_it_reaches() -> None:
    """Notebooks bind the same name in two cells: a look at a batch after the first, the
    training loop after the second. A rebinding cuts the first binding off only where every
    path to the read passes it (earlier in a block that holds the read)."""
    peek = FOLDER + "images, labels = next(iter(loader))\n"
    again = "loader = DataLoader(data, batch_size=64, shuffle=True)\n"
    train = "for x, y in loader:\n    step(x, y)\n"
    assert codes(peek + again + train, "TL101") == [(7, "TL101")]
    guarded = peek + "if retrain:\n    " + again + train
    assert codes(guarded, "TL101") == [(5, "TL101"), (8, "TL101")]
    # in a loop a binding also reaches the reads before it, in the next pass
    looped = (
        FOLDER
        + "for epoch in range(3):\n    for x, y in loader:\n        step(x, y)\n"
        + "    loader = DataLoader(data, shuffle=True)\n    x = next(iter(loader))\n"
    )
    assert codes(looped, "TL101") == [(5, "TL101"), (9, "TL101")]
    # a function reads the name whenever it is called: it sees every binding
    called = peek + again + "def run():\n    for x, y in loader:\n        step(x, y)\n"
    assert codes(called, "TL101") == [(5, "TL101"), (7, "TL101")]
    # a parameter of the same spelling is another name
    param = peek + "def run(loader):\n    for x, y in loader:\n        step(x, y)\n"
    assert codes(param, "TL101") == []
