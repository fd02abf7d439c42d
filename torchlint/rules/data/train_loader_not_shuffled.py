"""TL104 train-loader-not-shuffled."""

from __future__ import annotations

import re

import libcst as cst

from torchlint import calls
from torchlint.analysis.datasets import is_iterable_dataset
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.vocabulary import DATALOADER

SHUFFLE_INDEX = 2
SAMPLER_INDEX = 3
BATCH_SAMPLER_INDEX = 4

# "train" but not "constraint" / "strain"; validation-style names are deliberately unshuffled.
_TRAIN = re.compile(r"(?<!s)train", re.IGNORECASE)
_NOT_TRAIN = re.compile(r"eval|(?:^|_)(?:val|valid|validation|test)(?:_|$|\d)", re.IGNORECASE)


def is_train_name(target: str) -> bool:
    last = target.rsplit(".", 1)[-1]
    return bool(_TRAIN.search(last)) and not _NOT_TRAIN.search(last)


class TrainLoaderNotShuffled(Rule):
    """
    ## What it does
    Reports a `DataLoader` assigned to a name containing `train` (`train_loader`,
    `self.train_dl`) that passes none of `shuffle`, `sampler` and `batch_sampler`.

    ## Why is this bad?
    `shuffle` defaults to `False`, so every epoch sees the examples in the same order. When
    the dataset is sorted (by class, by file, by length) each batch is far from i.i.d.;
    stochastic gradient descent then converges slower or to a worse model, and batch
    normalization statistics are skewed. The mistake is silent: training still runs.

    Loaders over an iterable-style dataset (a subclass of `IterableDataset`, a DataPipe)
    are not reported: they cannot be shuffled by the loader. An explicit `shuffle=False`
    is taken as a deliberate choice.

    ## Example
    ```python
    train_loader = DataLoader(train_set, batch_size=64)
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    ```

    ## Fix safety
    Unsafe: the order of the batches changes, and `shuffle=True` raises for an
    iterable-style dataset that torchlint could not recognise as one.

    ## References
    - https://pytorch.org/docs/stable/data.html#data-loading-order-and-sampler
    """

    code = "TL104"
    name = "train-loader-not-shuffled"
    applies_to_tests = False
    summary = (
        "Training `DataLoader` without `shuffle=True` sees the data in the same order every epoch"
    )
    default = False
    fix_applicability = Applicability.UNSAFE
    requires = ("DataLoader",)
    examples = (
        Invalid(
            """
            from torch.utils.data import DataLoader
            train_loader = DataLoader(train_set, batch_size=64)
            """,
            fixed="""
            from torch.utils.data import DataLoader
            train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
            """,
        ),
        Invalid(
            """
            import torch
            class Data:
                def setup(self):
                    self.train_dl = torch.utils.data.DataLoader(
                        self.train_ds,
                        batch_size=32,
                    )
            """,
            fixed="""
            import torch
            class Data:
                def setup(self):
                    self.train_dl = torch.utils.data.DataLoader(
                        self.train_ds,
                        batch_size=32,
                        shuffle=True,
                    )
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            trainloader: DL = DL(dataset, 16, num_workers=2)
            """,
            fixed="""
            from torch.utils.data import DataLoader as DL
            trainloader: DL = DL(dataset, 16, num_workers=2, shuffle=True)
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader, Dataset
            class Pairs(Dataset):
                pass
            ds = Pairs()
            TRAIN_LOADER = DataLoader(ds)
            """,
            fixed="""
            from torch.utils.data import DataLoader, Dataset
            class Pairs(Dataset):
                pass
            ds = Pairs()
            TRAIN_LOADER = DataLoader(ds, shuffle=True)
            """,
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
            val_loader = DataLoader(val_set, batch_size=64)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torch.utils.data.distributed import DistributedSampler
            train_loader = DataLoader(train_set, sampler=DistributedSampler(train_set))
            train_eval_loader = DataLoader(train_set, batch_size=256)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, IterableDataset
            class Stream(IterableDataset):
                def __iter__(self):
                    yield from range(10)
            def build():
                ds = Stream()
                train_loader = DataLoader(ds, batch_size=4)
                return train_loader
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            train_loader = DataLoader(train_set, 64, False)
            constraint_loader = DataLoader(constraints)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            def build(**options):
                train_loader = DataLoader(train_set, **options)
                return train_loader
            """
        ),
        Valid(
            """
            class DataLoader:
                pass
            train_loader = DataLoader(train_set)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        parent = self.context.parent
        if isinstance(parent, cst.Assign):
            if len(parent.targets) != 1:
                return
            target = dotted_name(parent.targets[0].target)
        elif isinstance(parent, cst.AnnAssign) and parent.value is node:
            target = dotted_name(parent.target)
        else:
            return
        if target is None or not is_train_name(target):
            return
        if self.qualified_name(node.func) not in DATALOADER or calls.has_star_args(node):
            return
        for name, index in (
            ("shuffle", SHUFFLE_INDEX),
            ("sampler", SAMPLER_INDEX),
            ("batch_sampler", BATCH_SAMPLER_INDEX),
        ):
            if calls.argument(node, name, index) is not None:
                return
        dataset = calls.argument(node, "dataset", 0)
        if dataset is None or is_iterable_dataset(self.context, dataset.value):
            return
        new = calls.add_keyword(node, "shuffle", "True")
        self.report(
            node,
            fix=self.fix(Applicability.UNSAFE, "Add `shuffle=True`", Replace(node, new)),
        )
