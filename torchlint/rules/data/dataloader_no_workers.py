"""TL101 dataloader-no-workers."""

from __future__ import annotations

import re

import libcst as cst

from torchlint import calls
from torchlint.analysis.datasets import PerItemWork, per_item_work
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.vocabulary import DATALOADER

NUM_WORKERS_INDEX = 5
INLINE_WORKERS = "min(8, os.cpu_count() or 1)"
EXPLICIT_ZERO = "`num_workers=0` loads every batch in the main process"
# `num_workers=` set to anything but a literal 0 somewhere in the file.
WORKERS_ELSEWHERE = re.compile(r"\bnum_workers\s*=\s*(?!0\s*[,)\n])")
SHUFFLE_INDEX = 2


class DataloaderNoWorkers(Rule):
    """
    ## What it does
    Reports a `DataLoader` built without `num_workers`, or with `num_workers=0`, where the
    per-item work is visible, and names it:
    - a `Dataset` of this file whose `__getitem__` (or a method of the class it calls)
      opens, reads or decodes a file: `open`, PIL's `Image.open`, `cv2.imread`,
      `torchaudio.load`, `np.load`, `read_image`, `h5py.File`, `pd.read_csv`, ...;
    - a file-backed torchvision or torchaudio dataset (`ImageFolder`, `CocoDetection`,
      `torchaudio.datasets.*`, ...), or a class of this file derived from one;
    - a torchvision dataset held in memory (`MNIST`, `CIFAR10`, ...) with a `transform`,
      in a training loader (it shuffles, or reads `train=True` data): the transform runs per
      item, every epoch.

    `Subset(...)` and `ConcatDataset([...])` are looked through, and a name is followed to
    what it is assigned (in this file, also through a function that returns it).

    Not reported (measured on real projects, these were rarely worth a change): a dataset
    it cannot see (a parameter, a class of another package), data already in memory
    (`TensorDataset`, lists, tensors, a dataset that only indexes what it holds), a Hugging
    Face `datasets` object (tokenized up front), an iterable-style dataset (each worker
    would replay the stream), a loader used for one batch (`next(iter(DataLoader(...)))`),
    a loader whose arguments come from `**kwargs`, a transform-only dataset outside a
    training loop (a test set read once for a score), or an explicit `num_workers=0` in a
    file that gives other loaders workers (the author chose 0 for this one).

    ## Why is this bad?
    With no workers every batch is loaded and transformed in the training process itself,
    so the accelerator sits idle while Python decodes images and collates tensors. Worker
    processes overlap loading with computation; it is the single cheapest speed-up of most
    input pipelines.

    Opt-in (`extend-select = ["TL101"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 20 of 32 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were loaders
    over small datasets held in memory (MNIST or CIFAR with `ToTensor`) in demos and tutorials,
    loaders read once to extract features or to evaluate, and training capped at a few
    batches.

    ## Example
    ```python
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    ```

    ## Use instead
    ```python
    from torchlint.runtime import make_loader

    loader = make_loader(dataset, batch_size=32, shuffle=True)
    ```
    `make_loader` picks `num_workers` from the CPUs this process may use (0 for in-memory
    and iterable-style datasets, as this rule does), enables
    `pin_memory` on CUDA and `persistent_workers` when there are workers; explicit
    arguments always win.

    ## Fix safety
    Unsafe: worker processes change behaviour (the dataset is pickled into the workers,
    per-worker random state, more memory). With `runtime-helpers = false` the fix adds
    `num_workers=min(8, os.cpu_count() or 1)` instead.

    ## References
    - https://pytorch.org/docs/stable/data.html#multi-process-data-loading
    - https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html
    """

    code = "TL101"
    default = False
    name = "dataloader-no-workers"
    applies_to_tests = False
    summary = "`DataLoader` without `num_workers` loads every batch in the main process"
    fix_applicability = Applicability.UNSAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder("data/train")
            loader = DataLoader(dataset, batch_size=32, shuffle=True)
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder("data/train")
            loader = make_loader(dataset, batch_size=32, shuffle=True)
            """,
        ),
        Invalid(
            """
            import torch.utils.data as tud
            import torchvision
            dataset = torchvision.datasets.ImageFolder(root)
            loader = tud.DataLoader(dataset, batch_size=8, num_workers=0)
            """,
            fixed="""
            import torchvision
            from torchlint.runtime import make_loader
            dataset = torchvision.datasets.ImageFolder(root)
            loader = make_loader(dataset, batch_size=8)
            """,
        ),
        Invalid(
            """
            import torch
            import torchaudio
            loader = torch.utils.data.DataLoader(
                torchaudio.datasets.SPEECHCOMMANDS(root, download=True),
                batch_size=8,
            )
            """,
            fixed="""
            import torchaudio
            from torchlint.runtime import make_loader
            loader = make_loader(
                torchaudio.datasets.SPEECHCOMMANDS(root, download=True),
                batch_size=8,
            )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            loader = DL(dataset, 16)
            """,
            fixed="""
            import os

            from torch.utils.data import DataLoader as DL
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            loader = DL(dataset, 16, num_workers=min(8, os.cpu_count() or 1))
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            def make_loader():
                return DataLoader(dataset, num_workers=0)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            train_set = datasets.MNIST(".", transform=transforms.ToTensor())
            loader = DataLoader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision import datasets, transforms
            train_set = datasets.MNIST(".", transform=transforms.ToTensor())
            loader = make_loader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
        ),
        Invalid(
            """
            from PIL import Image
            from torch.utils.data import DataLoader, Dataset
            class Images(Dataset):
                def __init__(self, paths):
                    self.paths = paths
                def __len__(self):
                    return len(self.paths)
                def __getitem__(self, index):
                    return Image.open(self.paths[index])
            loader = DataLoader(Images(paths), batch_size=8, num_workers=0)
            """,
            fixed="""
            from PIL import Image
            from torch.utils.data import Dataset
            from torchlint.runtime import make_loader
            class Images(Dataset):
                def __init__(self, paths):
                    self.paths = paths
                def __len__(self):
                    return len(self.paths)
                def __getitem__(self, index):
                    return Image.open(self.paths[index])
            loader = make_loader(Images(paths), batch_size=8)
            """,
        ),
        Invalid(
            """
            import cv2
            from torch.utils.data import DataLoader, Dataset, Subset
            class Frames(Dataset):
                def load(self, path):
                    return cv2.imread(path)
                def __getitem__(self, index):
                    return self.load(self.paths[index])
            loader = DataLoader(Subset(Frames(), range(100)), batch_size=8)
            """,
            fixed="""
            import cv2
            from torch.utils.data import Dataset, Subset
            from torchlint.runtime import make_loader
            class Frames(Dataset):
                def load(self, path):
                    return cv2.imread(path)
                def __getitem__(self, index):
                    return self.load(self.paths[index])
            loader = make_loader(Subset(Frames(), range(100)), batch_size=8)
            """,
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, TensorDataset
            def to_dataset(features, labels):
                return TensorDataset(torch.tensor(features), torch.tensor(labels))
            test_set = to_dataset(features, labels)
            loader = DataLoader(test_set, batch_size=32)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            train = DataLoader(train_set, batch_size=64, num_workers=4)
            test = DataLoader(test_set, batch_size=64, num_workers=0)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, batch_size=32, num_workers=4)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, TensorDataset
            data = TensorDataset(torch.randn(100, 3), torch.randint(0, 2, (100,)))
            loader = DataLoader(data, batch_size=10)
            other = DataLoader(TensorDataset(torch.randn(8, 3)), num_workers=0)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            a = DataLoader([1, 2, 3], batch_size=2)
            b = DataLoader(range(10), batch_size=2)
            c = DataLoader(list(items), batch_size=2)
            d = DataLoader(torch.arange(10), batch_size=2)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, Dataset
            class Random(Dataset):
                def __init__(self, size, length):
                    self.data = torch.randn(length, size)
                def __len__(self):
                    return len(self.data)
                def __getitem__(self, index):
                    return {"id": str(index), "x": self.data[index]}
            loader = DataLoader(Random(32, 64))
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, TensorDataset
            class Case:
                def setUp(self):
                    self.dataset = TensorDataset(torch.randn(80, 32))
                def read(self):
                    return DataLoader(self.dataset, batch_size=8)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader, IterableDataset
            class Stream(IterableDataset):
                def __iter__(self):
                    for _ in range(100):
                        yield torch.randn(20)
            loader = DataLoader(Stream(), batch_size=16)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, 32, True, None, None, 4)
            """
        ),
        Valid(
            """
            class DataLoader:
                pass
            loader = DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(**kwargs):
                return DataLoader(dataset, **kwargs)
            """
        ),
        Valid(
            """
            from mylib import DataLoader
            loader = DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(DataLoader):
                return DataLoader(dataset)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            loader = DataLoader(dataset, num_workers=args.workers)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            # a dataset it cannot see: no per-item work in sight
            loader = DataLoader(dataset, batch_size=32, shuffle=True)
            """
        ),
        Valid(
            """
            from datasets import load_dataset
            from torch.utils.data import DataLoader
            # a Hugging Face dataset: tokenized up front, indexing is cheap
            train = load_dataset("imdb", split="train").map(tokenize, batched=True)
            loader = DataLoader(train, batch_size=16, shuffle=True)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # one batch, to look at it: no workers to amortise
            images, labels = next(iter(DataLoader(ImageFolder(root), batch_size=16)))
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import ConcatDataset, DataLoader, Subset, TensorDataset
            data = TensorDataset(torch.randn(100, 3))
            a = DataLoader(Subset(data, range(50)), batch_size=10)
            b = DataLoader(ConcatDataset([data, data]), batch_size=10)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            # transforms only, and not a training loader: read once for a score
            test_set = datasets.CIFAR10(".", train=False, transform=transforms.ToTensor())
            loader = DataLoader(test_set, batch_size=256)
            for x, y in train_loader:
                loss_fn(model(x), y).backward()
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if self.qualified_name(node.func) not in DATALOADER or calls.has_star_args(node):
            return
        workers = calls.argument(node, "num_workers", NUM_WORKERS_INDEX)
        if workers is not None and calls.int_literal(workers.value) != 0:
            return
        dataset = calls.argument(node, "dataset", 0)
        if dataset is None or dataset.star:
            return
        work = per_item_work(self.context, dataset.value)
        if work is None:
            return  # no per-item work in sight: in memory, tokenized up front, or unseen
        if work.needs_training and not self._training_loader(node, work):
            return  # transforms only: worth workers in a training loop, not a test pass
        if self._one_batch():
            return  # `next(iter(DataLoader(...)))`: one batch, no workers to amortise
        if workers is not None and WORKERS_ELSEWHERE.search(self.context.source):
            return  # 0 here, workers elsewhere in the file: the author chose 0 for this one
        lead = EXPLICIT_ZERO if workers is not None else self.summary
        self.report(node, f"{lead}: {work.reason}", fix=self._fix(node, workers))

    def _training_loader(self, node: cst.Call, work: PerItemWork) -> bool:
        """A loader that shuffles, or over `train=True` data: a training loader (a test set
        read once for a score is not worth workers)."""
        shuffle = calls.argument(node, "shuffle", SHUFFLE_INDEX)
        return work.train_split or (shuffle is not None and calls.is_true(shuffle.value))

    def _one_batch(self) -> bool:
        """The loader is built only to draw one batch: ``next(iter(DataLoader(...)))``."""
        ancestors = self.context.ancestors
        if len(ancestors) < 4:
            return False
        outer, inner = ancestors[-4], ancestors[-2]
        return (
            isinstance(inner, cst.Call)
            and isinstance(inner.func, cst.Name)
            and inner.func.value == "iter"
            and isinstance(outer, cst.Call)
            and isinstance(outer.func, cst.Name)
            and outer.func.value == "next"
        )

    def _fix(self, node: cst.Call, workers: cst.Arg | None):
        if workers is not None and workers.keyword is None:
            return None  # a positional 0 cannot be dropped without shifting the others
        scope = self.context.scope
        if self.context.settings.runtime_helpers:
            if not scope.can_use("make_loader", "torchlint.runtime.make_loader"):
                return None
            new = node if workers is None else calls.remove_arg(node, workers)
            new = new.with_changes(func=cst.Name("make_loader"))
            return self.fix(
                Applicability.UNSAFE,
                "Use `make_loader(...)`, which picks `num_workers` for this machine",
                Replace(node, new),
                preamble=["from torchlint.runtime import make_loader"],
            )
        if not scope.can_use("os", "os"):
            return None
        if workers is None:
            new = calls.add_keyword(node, "num_workers", INLINE_WORKERS)
        else:
            new = node.deep_replace(
                workers, workers.with_changes(value=cst.parse_expression(INLINE_WORKERS))
            )
        return self.fix(
            Applicability.UNSAFE,
            f"Add `num_workers={INLINE_WORKERS}`",
            Replace(node, new),
            preamble=["import os"],
        )
