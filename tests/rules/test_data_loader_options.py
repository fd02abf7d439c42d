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
        "a = DataLoader(dataset, num_workers=0)\n"
        "b = DataLoader(dataset)\n"
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
        "    return DataLoader(data)\n"
        "def other(data=TensorDataset(torch.randn(4, 2))):\n"
        "    return DataLoader(data)\n"
    )
    assert codes(source, "TL101") == []
    files = source.replace("TensorDataset(torch.randn(4, 2))\n    if", "ImageFolder(root)\n    if")
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
