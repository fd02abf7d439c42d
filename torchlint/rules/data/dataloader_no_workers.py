"""TL101 dataloader-no-workers."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.analysis.autograd import grad_disabled
from torchlint.analysis.constants import in_dead_branch
from torchlint.analysis.datasets import (
    holds_lambda,
    per_item_work,
    random_sampler,
    sequential_sampler,
)
from torchlint.analysis.loader_reads import Kind, loader_reads, read_kind
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name, iter_children
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.vocabulary import DATALOADER

if TYPE_CHECKING:
    from torchlint.context import FileContext

NUM_WORKERS_INDEX = 5
INLINE_WORKERS = "min(8, os.cpu_count() or 1)"
EXPLICIT_ZERO = "`num_workers=0` loads every batch in the main process"
# `num_workers=` set to anything but a literal 0 somewhere in the file.
WORKERS_ELSEWHERE = re.compile(r"\bnum_workers\s*=\s*(?!0\s*[,)\n])")
SHUFFLE_INDEX = 2
SAMPLER_INDEX = 3
BATCH_SAMPLER_INDEX = 4
# Keywords that cap a run at a number of batches or steps: composer's
# `train_subset_num_batches`, Lightning's `limit_train_batches` and `fast_dev_run`, ignite's
# `epoch_length`, `max_steps`. A literal of at most SMALL_RUN is a demo's handful of batches.
CAP_KEYWORD = re.compile(r"^(?:\w+_)?num_batches$|^limit_\w*batches$|^epoch_length$|^max_steps$")
CAP_WORDS = re.compile(r"num_batches|limit_\w*batches|epoch_length|max_steps|fast_dev_run")
SMALL_RUN = 10


class DataloaderNoWorkers(Rule):
    """
    ## What it does
    Reports a `DataLoader` built without `num_workers`, or with `num_workers=0`, where the
    per-item work is visible and the loader is read for training, and names the work:
    - a `Dataset` of this file whose `__getitem__` (or a method of the class it calls)
      opens, reads or decodes a file: `open`, PIL's `Image.open`, `cv2.imread`,
      `torchaudio.load`, `np.load`, `read_image`, `h5py.File`, `pd.read_csv`, ...;
    - a file-backed torchvision or torchaudio dataset (`ImageFolder`, `CocoDetection`,
      `torchaudio.datasets.*`, ...), or a class of this file derived from one;
    - a torchvision dataset held in memory (`MNIST`, `CIFAR10`, ...) with a `transform`
      that does more than convert and normalize (a resize, a crop, an augmentation, or a
      transform it cannot see), in a loader that reads in random order (`shuffle=True`, a
      `RandomSampler`, a `DistributedSampler`, or opacus' `make_private`, which samples
      the batches): the transform runs per item, every epoch.

    `Subset(...)` and `ConcatDataset([...])` are looked through, and a name is followed to
    what it is assigned (in this file, also through a function that returns it).

    Not reported (measured on real projects, these were rarely worth a change): a dataset
    it cannot see (a parameter, a class of another package), data already in memory
    (`TensorDataset`, lists, tensors, a dataset that only indexes what it holds), a Hugging
    Face `datasets` object (tokenized up front), an iterable-style dataset (each worker
    would replay the stream), a loader read for a few batches only (`next(iter(loader))`, a
    loop that breaks in its first pass: below), a loader whose arguments come from `**kwargs`,
    or an explicit `num_workers=0` in a file that gives other loaders workers (the author
    chose 0 for this one).

    Nor a torchvision dataset held in memory whose transform, as the file builds it, only
    converts and normalizes (`ToTensor()`, `Compose([ToTensor(), Normalize(m, s)])`,
    `PILToTensor`, `ConvertImageDtype`, or a name bound to one): microseconds per 28x28 or
    32x32 image, no more than handing the item over from a worker. Strict labels split
    evenly there (10 worth a change, 10 not, among them the same ignite example labelled
    both ways and seven 1000-step demos of the 2026-12-07h round), and 8 of the 10 worth
    a change were labelled unsure: no default rule can be right 90 % of the time on it.

    Nor, since the loader is not read many times for training there:
    - an evaluation split (`train=False`, `split="val"`/`"test"`, `image_set="val"`): read
      once per evaluation, even when its loader passes `shuffle=True`;
    - a loader that reads in order (`shuffle=False` and no sampler), and a transform-only
      dataset whose loader does not shuffle (`train=True` read in order is a feature bank,
      an export or a statistic, not an epoch of training);
    - a loader left at the default order (no `shuffle=`, no sampler, or a
      `SequentialSampler` / `DistributedSampler(shuffle=False)`) unless a `for` loop of this
      file reads it and calls `backward()` in its body (`loss.backward()`,
      `scaler.scale(loss).backward()`, `accelerator.backward(loss)`). Training loaders ask
      for random order: on the 114 projects of the tuning corpus 30 of the 31 loaders
      labelled worth workers pass `shuffle=` or a sampler (the other is handed to opacus'
      `make_private`, which samples it), while the default order was the test loader of a
      `test.py` or an evaluation helper over a dataset class of the project. `shuffle=` set
      to anything but a literal `False` (`shuffle=True`, `shuffle=not distributed`, a
      parameter) and a sampler it cannot see still count as a training loader;
    - a loader built where autograd is off (under `@torch.no_grad()`, in a
      `with torch.inference_mode():` block): feature extraction, not training;
    - a loader handed to a run capped at a handful of batches by a literal
      (`train_subset_num_batches=5`, Lightning's `limit_train_batches=2` or
      `fast_dev_run=True`, ignite's `epoch_length=5`, `max_steps=3`): a demo;
    - a loader in a branch a module constant turns off (`if DO_TRAINING:` with
      `DO_TRAINING = False`);
    - a loader that is never read: assigned (as it is, or through `cycle(...)`,
      `iter(...)`, `accelerator.prepare(...)`) to a name local to a function, or to
      `self.x`, that nothing in the file reads (a validation loader a trainer builds and
      never uses). A name at module level may be imported elsewhere and is still reported;
    - a loader every read of which takes a bounded number of batches, where it is built
      (`next(iter(DataLoader(...)))`) or through the name or `self.x` it is assigned to
      (as it is, or through `accelerator.prepare(...)`), in all the cells of a notebook:
      `next(iter(loader))` (or `iter(loader).next()`); a `for` loop over it (or over
      `enumerate(loader)`) whose body leaves in its first pass whatever the data (a
      `break`, `return` or `raise` among its statements, or in a `with` block among
      them, and no `continue` before it); a loop `for i, batch in enumerate(loader):`
      that breaks once its index reaches a literal of at most 10 (`if i == 1: break`,
      `i >= N`, `i > N`, in an `if` directly in the body, with no `continue` that could
      step over it and no assignment to `i`); `itertools.islice(loader, 3)`; an
      iterator `it = iter(loader)` drawn by `next(it)` (or `it.next()`) a fixed number
      of times (no loop or function around the draws that is not also around the
      `iter`). Reads that
      draw no batch (`len(loader)`, `loader.dataset`, `loader.batch_size`) do not count
      either way, but one read at least must draw a batch. These are the looks at a
      batch of a notebook or of the `if __name__ == "__main__":` check of a dataset
      module (show the images and `break`), a shape inferred, a smoke test: workers
      would start (or restart their prefetching) for those few batches, with nothing to
      overlap them with, so they cost time rather than save it. This holds at module
      level too (a look at a batch is no training loader, even if another file imports
      it). Each binding of a name is judged by the reads it can reach: those after it
      in its scope up to a rebinding that every path to them passes (a notebook that
      builds `test_loader` in two cells has each judged by its own reads), those before
      it in a loop around both, and every read in a function it defines (called at any
      time). Still reported: a loader also read otherwise (a loop that runs to its end
      or breaks only on a condition on the data, a `break` in a loop nested in the
      body, which ends only that loop, `tqdm(loader)`, `zip(...)`, passed to a function
      or a trainer, returned, stored in another name or on `self`), an iterator drawn in
      a loop or in a function, a loader assigned through `cycle(...)` or `iter(...)`
      and read other than a fixed number of times where it was bound, and reads through
      an `iter`, `next` or `enumerate` the file defines;
    - an explicit `num_workers=0` over a dataset built with a lambda (a
      `transforms.Lambda(lambda x: ...)`): it cannot be pickled into workers started by
      spawn (macOS, Windows), so the 0 is deliberate.

    A module-level script with no `if __name__ == "__main__":` guard is still reported,
    although adding workers there re-runs the script in each worker under spawn: most such
    scripts reported (GAN and tutorial training scripts) train for many epochs, and the
    guard is part of the change.

    ## Why is this bad?
    With no workers every batch is loaded and transformed in the training process itself,
    so the accelerator sits idle while Python decodes images and collates tensors. Worker
    processes overlap loading with computation; it is the single cheapest speed-up of most
    input pipelines.

    Opt-in (`extend-select = ["TL101"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 20 of 32 labelled reports that it made were worth a change (strict
    labels, LABELLING.md); the others were loaders over small datasets held in memory
    (MNIST or CIFAR with `ToTensor`) in demos and tutorials, loaders read once to extract
    features or to evaluate, and training capped at a few batches. The narrowing above
    takes it to 28 of 31 on the pooled labels of the 71 projects it was tuned on (was 28 of
    43). On the two rounds fetched after it (2026-12-07e and 07f) it was right 1 of 4 times:
    a test loader left at the default `shuffle=False` over a dataset class of its own, and
    two `if __name__ == "__main__":` visual checks of a dataset module that stop after two
    batches. Not reporting such checks (a loop that breaks on its index at a small
    literal, above) takes the pooled labels of all 103 projects to 29 of 33 (was 29 of
    35). Not reporting a loader left at the default order that no loop trains on, a
    loader never read, or an in-memory dataset whose transform only converts and
    normalizes (all above) takes the pooled labels of the 114 projects to 19 of 19 (was
    29 of 33: it gives up 10 labelled worth a change, 8 of them unsure, all of them MNIST
    or CIFAR with `ToTensor`/`Normalize`). A default rule must be right 90 % of the time
    on the next projects. On round 2026-12-08d it was right 5 of 7 times; both false
    reports were looks at a batch (a loop over the test loader that shows the images and
    breaks, in another cell of the notebook): the bounded reads above no longer report
    that family. On the 194 tuning projects they change nothing (47 reports, 27 of the 32
    labelled worth a change, before and after): the looks at a batch labelled there were
    already not reported.

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

    On round 2026-12-07h (16 projects fetched fresh, strict labels), before the latest
    narrowings above, it was right 2 of 10 times (7 of the false reports were 1000-step
    demos over an in-memory dataset with `ToTensor` only, 1 a validation loader nothing
    reads). Those narrowings were made after that round was fetched and partly with its
    labels in view: it no longer measures them, the next round will.

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
            loader = tud.DataLoader(dataset, batch_size=8, shuffle=True, num_workers=0)
            """,
            fixed="""
            import torchvision
            from torchlint.runtime import make_loader
            dataset = torchvision.datasets.ImageFolder(root)
            loader = make_loader(dataset, batch_size=8, shuffle=True)
            """,
        ),
        Invalid(
            """
            import torch
            import torchaudio
            # default order, but a training loop reads it
            loader = torch.utils.data.DataLoader(
                torchaudio.datasets.SPEECHCOMMANDS(root, download=True),
                batch_size=8,
            )
            for epoch in range(10):
                for waveform, *_ in loader:
                    loss_fn(model(waveform)).backward()
            """,
            fixed="""
            import torchaudio
            from torchlint.runtime import make_loader
            # default order, but a training loop reads it
            loader = make_loader(
                torchaudio.datasets.SPEECHCOMMANDS(root, download=True),
                batch_size=8,
            )
            for epoch in range(10):
                for waveform, *_ in loader:
                    loss_fn(model(waveform)).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader as DL
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            loader = DL(dataset, 16, True)
            """,
            fixed="""
            import os

            from torch.utils.data import DataLoader as DL
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            loader = DL(dataset, 16, True, num_workers=min(8, os.cpu_count() or 1))
            """,
            settings={"runtime-helpers": False},
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            dataset = ImageFolder(root)
            def make_loader(shuffle):
                return DataLoader(dataset, shuffle=shuffle, num_workers=0)
            """,
            fixed=None,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            train_set = datasets.MNIST(".", transform=transforms.RandomRotation(10))
            loader = DataLoader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision import datasets, transforms
            train_set = datasets.MNIST(".", transform=transforms.RandomRotation(10))
            loader = make_loader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader, DistributedSampler
            from torchvision import datasets, transforms
            train_set = datasets.CIFAR10(".", transform=transforms.RandomCrop(32, padding=4))
            sampler = DistributedSampler(train_set)
            loader = DataLoader(train_set, batch_size=64, sampler=sampler)
            """,
            fixed="""
            from torch.utils.data import DistributedSampler
            from torchlint.runtime import make_loader
            from torchvision import datasets, transforms
            train_set = datasets.CIFAR10(".", transform=transforms.RandomCrop(32, padding=4))
            sampler = DistributedSampler(train_set)
            loader = make_loader(train_set, batch_size=64, sampler=sampler)
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            from training import accelerator, fit, model, step
            class Trainer:
                def __init__(self, root):
                    # read in another method, through a wrapper that hands it back
                    self.dl = accelerator.prepare(DataLoader(ImageFolder(root), shuffle=True))
                    self.history = fit(model, DataLoader(ImageFolder(root), shuffle=True))
                def train(self):
                    for x, y in self.dl:
                        step(x, y)
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            from training import accelerator, fit, model, step
            class Trainer:
                def __init__(self, root):
                    # read in another method, through a wrapper that hands it back
                    self.dl = accelerator.prepare(make_loader(ImageFolder(root), shuffle=True))
                    self.history = fit(model, make_loader(ImageFolder(root), shuffle=True))
                def train(self):
                    for x, y in self.dl:
                        step(x, y)
            """,
            count=2,
        ),
        Invalid(
            """
            import torchvision.transforms as T
            from torch.utils.data import DataLoader
            from torchvision.datasets import CIFAR10
            if augment:
                transform = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()])
            else:
                transform = T.ToTensor()
            loader = DataLoader(CIFAR10(".", transform=transform), batch_size=64, shuffle=True)
            """,
            fixed="""
            import torchvision.transforms as T
            from torchlint.runtime import make_loader
            from torchvision.datasets import CIFAR10
            if augment:
                transform = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()])
            else:
                transform = T.ToTensor()
            loader = make_loader(CIFAR10(".", transform=transform), batch_size=64, shuffle=True)
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
            loader = DataLoader(Images(paths), batch_size=8, sampler=sampler, num_workers=0)
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
            loader = make_loader(Images(paths), batch_size=8, sampler=sampler)
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
            for step, (x, y) in enumerate(tqdm(loader)):
                scaler.scale(loss_fn(model(x), y)).backward()
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
            for step, (x, y) in enumerate(tqdm(loader)):
                scaler.scale(loss_fn(model(x), y)).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for step, (x, y) in enumerate(loader):
                loss_fn(model(x), y).backward()
                if step == max_steps:  # not a literal: the run may be long
                    break
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            for step, (x, y) in enumerate(loader):
                loss_fn(model(x), y).backward()
                if step == max_steps:  # not a literal: the run may be long
                    break
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for i, (x, y) in enumerate(loader):
                if x is None:
                    continue  # may step over `i == 2`: the loop can run to the end
                loss_fn(model(x), y).backward()
                if i == 2:
                    break
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            for i, (x, y) in enumerate(loader):
                if x is None:
                    continue  # may step over `i == 2`: the loop can run to the end
                loss_fn(model(x), y).backward()
                if i == 2:
                    break
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            stalled = 0
            for step, (x, y) in enumerate(loader):
                loss = loss_fn(model(x), y)
                loss.backward()
                stalled = stalled + 1 if loss > best else 0
                if stalled > 3:  # not the index: stops when the loss stalls
                    break
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            stalled = 0
            for step, (x, y) in enumerate(loader):
                loss = loss_fn(model(x), y)
                loss.backward()
                stalled = stalled + 1 if loss > best else 0
                if stalled > 3:  # not the index: stops when the loss stalls
                    break
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for i, (x, y) in enumerate(loader):
                show(x, y)
                if i == 1:
                    break
            for epoch in range(100):  # the same loader then trains
                for x, y in loader:
                    loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            for i, (x, y) in enumerate(loader):
                show(x, y)
                if i == 1:
                    break
            for epoch in range(100):  # the same loader then trains
                for x, y in loader:
                    loss_fn(model(x), y).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            images, labels = next(iter(loader))  # one batch to look at...
            for x, y in loader:  # ...then the same loader trains
                loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            images, labels = next(iter(loader))  # one batch to look at...
            for x, y in loader:  # ...then the same loader trains
                loss_fn(model(x), y).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for x, y in loader:
                loss = loss_fn(model(x), y)
                loss.backward()
                if loss < 0.01:  # a condition on the data: the loop may run to its end
                    break
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            for x, y in loader:
                loss = loss_fn(model(x), y)
                loss.backward()
                if loss < 0.01:  # a condition on the data: the loop may run to its end
                    break
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for images, labels in loader:
                for image in images:
                    show(image)
                    break  # leaves the inner loop only: every batch is read
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            for images, labels in loader:
                for image in images:
                    show(image)
                    break  # leaves the inner loop only: every batch is read
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            batches = iter(loader)
            for step in range(10000):  # the iterator is drawn in a loop
                x, y = next(batches)
                loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            batches = iter(loader)
            for step in range(10000):  # the iterator is drawn in a loop
                x, y = next(batches)
                loss_fn(model(x), y).backward()
            """,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            images, labels = next(iter(loader))
            if retrain:  # may not run: the loop below may read the first loader
                loader = DataLoader(ImageFolder(root), batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
            images, labels = next(iter(loader))
            if retrain:  # may not run: the loop below may read the first loader
                loader = make_loader(ImageFolder(root), batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """,
            count=2,
        ),
        Invalid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            def build(root):
                loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
                print(next(iter(loader))[0].shape)
                return loader  # the caller reads it
            """,
            fixed="""
            from torchlint.runtime import make_loader
            from torchvision.datasets import ImageFolder
            def build(root):
                loader = make_loader(ImageFolder(root), batch_size=4, shuffle=True)
                print(next(iter(loader))[0].shape)
                return loader  # the caller reads it
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
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # a visual check of the dataset: the loop stops after two batches
            if __name__ == "__main__":
                loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
                for ii, (images, labels) in enumerate(loader):
                    show(images, labels)
                    if ii == 1:
                        break
            """
        ),
        Valid(
            """
            from itertools import islice

            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            for images, labels in islice(loader, 3):
                show(images, labels)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # every read takes a few batches: a loop that leaves in its first pass, one that
            # stops at a literal index, an iterator drawn twice, and its size
            test_loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            print(len(test_loader), test_loader.batch_size)
            for images, labels in test_loader:
                show(images, labels)
                break
            for i, (images, labels) in enumerate(test_loader):
                if i >= 3:
                    break
                show(images, labels)
            batches = iter(test_loader)
            first, second = next(batches), next(batches)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # a notebook binds the name twice: each binding is judged by the reads it reaches
            loader = DataLoader(ImageFolder(root), batch_size=4, shuffle=True)
            images, labels = next(iter(loader))
            loader = DataLoader(ImageFolder(root), batch_size=64, shuffle=True, num_workers=4)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            class Preview:
                def __init__(self, root):
                    self.loader = DataLoader(ImageFolder(root), batch_size=8, shuffle=True)
                def show(self):
                    for images, labels in self.loader:
                        with torch.no_grad():
                            show(model(images))
                            break
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
            # an evaluation split, even though its loader shuffles: read once per evaluation
            test_set = datasets.CIFAR10(".", train=False, transform=transforms.ToTensor())
            loader = DataLoader(test_set, batch_size=256, shuffle=True)
            for x, y in train_loader:
                loss_fn(model(x), y).backward()
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            # the training split read in order: a feature bank, not an epoch of training
            train_set = datasets.CIFAR10(".", train=True, transform=transforms.ToTensor())
            memory_loader = DataLoader(train_set, batch_size=512)
            """
        ),
        Valid(
            """
            import torch
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # autograd off: the loader feeds feature extraction, not training
            @torch.no_grad()
            def embed(model, root, transform):
                loader = DataLoader(ImageFolder(root, transform), batch_size=64)
                return torch.cat([model(x) for x, _ in loader])
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # in order, no sampler: a validation pass
            val_loader = DataLoader(ImageFolder(val_dir), batch_size=64, shuffle=False)
            """
        ),
        Valid(
            """
            from itertools import cycle

            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            class Trainer:
                def __init__(self, root, loader):
                    self.dl = loader
                    # assigned and never read: nothing loads through it
                    self.valid_dl = cycle(DataLoader(ImageFolder(root), batch_size=8, shuffle=True))
                def step(self):
                    return next(self.dl)
            def main(root):
                test_loader = DataLoader(ImageFolder(root), batch_size=8, shuffle=True)
                return Trainer(root, other_loader).step()
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # every read draws the first batch of a fresh iterator: to look at it, a shape
            loader = DataLoader(ImageFolder(root), batch_size=16, shuffle=True)
            images, labels = next(iter(loader))
            class Preview:
                def __init__(self, root):
                    self.sample = DataLoader(ImageFolder(root), batch_size=8, shuffle=True)
                def show(self):
                    show(next(iter(self.sample), None))
            def smoke_test(root):
                first = next(iter(DataLoader(ImageFolder(root), shuffle=True)))
                probe = DataLoader(ImageFolder(root), batch_size=2, shuffle=True)
                assert model(next(iter(probe))[0]).shape[0] == 2
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets
            from torchvision.transforms import Compose, Normalize, ToTensor
            # only converts and normalizes a 28x28 image held in memory: microseconds an item
            transform = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
            train_set = datasets.MNIST(".", train=True, transform=transform)
            loader = DataLoader(train_set, batch_size=64, shuffle=True)
            for x, y in loader:
                loss_fn(model(x), y).backward()
            """
        ),
        Valid(
            """
            from PIL import Image
            from torch.utils.data import DataLoader, Dataset
            class Images(Dataset):
                def __getitem__(self, index):
                    return Image.open(self.paths[index])
            # default order (no `shuffle`, no sampler) and no loop trains on it: a test pass
            test_loader = DataLoader(Images(), batch_size=1)
            for image in test_loader:
                predictions.append(model(image))
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # the loop that trains reads another loader; this one is read in order
            val_loader = DataLoader(ImageFolder(val_dir), batch_size=64)
            for epoch in range(epochs):
                for x, y in train_loader:
                    loss_fn(model(x), y).backward()
                score = evaluate(model, val_loader)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler
            from torchvision.datasets import ImageFolder
            data = ImageFolder(root)
            # samplers that read in order: an evaluation, one shard per process
            a = DataLoader(data, batch_size=64, sampler=SequentialSampler(data))
            ordered = DistributedSampler(data, shuffle=False)
            b = DataLoader(data, batch_size=64, sampler=ordered)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            # `backward` in a function the loop defines is not the loop training
            loader = DataLoader(ImageFolder(root), batch_size=64)
            for x, y in loader:
                def closure():
                    return loss_fn(model(x), y).backward()
                hooks.append(closure)
            """
        ),
        Valid(
            """
            from composer import Trainer
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            # a demo capped at five batches per epoch
            data = datasets.MNIST(".", train=True, transform=transforms.ToTensor())
            train_dataloader = DataLoader(data, batch_size=128, shuffle=True)
            trainer = Trainer(
                model=model, train_dataloader=train_dataloader, train_subset_num_batches=5
            )
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets, transforms
            # a lambda does not pickle into spawned workers: the explicit 0 is deliberate
            transform = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x * 255)])
            data = datasets.ImageFolder(root, transform)
            loader = DataLoader(data, batch_size=4, shuffle=True, num_workers=0)
            """
        ),
        Valid(
            """
            from torch.utils.data import DataLoader
            from torchvision.datasets import ImageFolder
            TRAIN = False  # flip to train from scratch
            if TRAIN:
                loader = DataLoader(ImageFolder(root), batch_size=64, shuffle=True)
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
        if work.eval_split:
            return  # `train=False`, `split="test"`: read once per evaluation, not per step
        if self._ordered(node):
            return  # `shuffle=False`: an evaluation or a feature-extraction pass
        if work.needs_training and not self._shuffled(node):
            return  # transforms only: worth workers in a training loop, not a test pass
        if not self._random_order(node) and not self._trained_on(node):
            return  # default order and no training loop reads it: an evaluation pass
        ancestors = self.context.ancestors
        if grad_disabled(self.context, ancestors) or in_dead_branch(ancestors, self.context):
            return  # built with autograd off (no training there), or in a branch never run
        if self._never_read() or self._few_batches(node) or self._capped_run():
            return  # never read, read for a few batches, or a demo run capped at a handful
        if workers is not None and (
            WORKERS_ELSEWHERE.search(self.context.source)
            or holds_lambda(self.context, dataset.value)
        ):
            return  # the author chose 0: for this loader, or for a dataset that cannot pickle
        lead = EXPLICIT_ZERO if workers is not None else self.summary
        self.report(node, f"{lead}: {work.reason}", fix=self._fix(node, workers))

    def _sampler(self, node: cst.Call) -> cst.Arg | None:
        return calls.argument(node, "sampler", SAMPLER_INDEX) or calls.argument(
            node, "batch_sampler", BATCH_SAMPLER_INDEX
        )

    def _shuffled(self, node: cst.Call) -> bool:
        """The loader reads in random order (``shuffle=True``, a ``RandomSampler`` or a
        ``DistributedSampler``, or opacus' ``make_private`` samples it): a training loader."""
        shuffle = calls.argument(node, "shuffle", SHUFFLE_INDEX)
        if shuffle is not None and calls.is_true(shuffle.value):
            return True
        sampler = calls.argument(node, "sampler", SAMPLER_INDEX)
        if sampler is not None and random_sampler(self.context, sampler.value):
            return True
        name = self._assigned_name()
        return name is not None and name in self._uses().sampled

    def _assigned_name(self) -> str | None:
        """The name the loader being visited is assigned to (``loader = DataLoader(...)``)."""
        parent = self.context.ancestors[-1] if self.context.ancestors else None
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            target = parent.targets[0].target
            return target.value if isinstance(target, cst.Name) else None
        return None

    def _never_read(self) -> bool:
        """The loader (or a wrapper of it: ``cycle(DataLoader(...))``) is assigned to a
        name local to a function, or to ``self.x``, that this file never reads (a name at
        module level may be imported elsewhere, so it is not judged)."""
        ancestors = self.context.ancestors
        index = len(ancestors) - 1
        while index >= 1 and isinstance(ancestors[index], cst.Arg):
            wrapper = ancestors[index - 1]
            name = calls.callee_name(wrapper) if isinstance(wrapper, cst.Call) else None
            if name not in WRAPPERS:
                return False
            index -= 2  # through `cycle(...)`, `iter(...)`, `accelerator.prepare(...)`
        if index < 0 or not isinstance(ancestors[index], cst.Assign):
            return False
        targets = ancestors[index].targets
        if len(targets) != 1:
            return False
        target = targets[0].target
        unread = self._uses().unread
        if isinstance(target, cst.Name):
            local = any(isinstance(node, cst.FunctionDef) for node in ancestors[:index])
            return local and target.value in unread
        text = dotted_name(target) if isinstance(target, cst.Attribute) else None
        return text is not None and text.startswith("self.") and text in unread

    def _random_order(self, node: cst.Call) -> bool:
        """The loader asks for an order of its own: ``shuffle=`` set to anything but a
        literal False (``shuffle=True``, ``shuffle=not distributed``, a parameter), a sampler
        or batch sampler that is not a ``SequentialSampler``, or opacus samples it."""
        shuffle = calls.argument(node, "shuffle", SHUFFLE_INDEX)
        if shuffle is not None and not calls.is_false(shuffle.value):
            return True
        sampler = self._sampler(node)
        if sampler is not None and not sequential_sampler(self.context, sampler.value):
            return True
        name = self._assigned_name()
        return name is not None and name in self._uses().sampled

    def _trained_on(self, node: cst.Call) -> bool:
        """A ``for`` loop of this file reads the loader (by the name or ``self.x`` it is
        assigned to, or built in the loop's header) and calls ``backward()`` in its body."""
        uses = self._uses()
        if any(id(n) in uses.trained_headers for n in (*self.context.ancestors, node)):
            return True
        parent = self.context.ancestors[-1] if self.context.ancestors else None
        if not isinstance(parent, cst.Assign):
            return False
        return any(dotted_name(target.target) in uses.trained for target in parent.targets)

    def _uses(self) -> LoaderUses:
        return self.context.fact("tl101.loader-uses", _loader_uses)

    def _ordered(self, node: cst.Call) -> bool:
        """``shuffle=False`` and no sampler: the data is read in order, once per evaluation
        or to extract features (training reads in random order)."""
        shuffle = calls.argument(node, "shuffle", SHUFFLE_INDEX)
        return shuffle is not None and calls.is_false(shuffle.value) and self._sampler(node) is None

    def _capped_run(self) -> bool:
        """The loader goes to a run capped at a handful of batches by a literal
        (``Trainer(train_dataloader=loader, train_subset_num_batches=5)``, Lightning's
        ``Trainer(limit_train_batches=2).fit(model, loader)``): the demo reads a few batches."""
        if not CAP_WORDS.search(self.context.source):
            return False
        ancestors = self.context.ancestors
        if len(ancestors) > 1 and isinstance(ancestors[-1], cst.Arg):
            return id(ancestors[-2]) in self._uses().capped_calls
        name = self._assigned_name()
        return name is not None and name in self._uses().capped

    def _few_batches(self, node: cst.Call) -> bool:
        """Every read of the loader takes a bounded number of batches: read where it is
        built (``next(iter(DataLoader(...)))``, ``for x in DataLoader(...): ... break``), or
        assigned (as it is, or through a wrapper) to a name or ``self.x`` whose every read
        that sees this assignment does (``loader_reads``)."""
        ancestors = self.context.ancestors
        reads = loader_reads(self.context)
        kind = read_kind(ancestors, node, self.context.scope)
        if kind == Kind.ONE or kind == Kind.FEW:
            return True
        if isinstance(kind, cst.Assign):
            return reads.bounded(kind, fresh=False)  # `it = iter(DataLoader(...))`
        index = len(ancestors) - 1
        fresh = True  # no wrapper that keeps its place between reads
        while index >= 1 and isinstance(ancestors[index], cst.Arg):
            wrapper = ancestors[index - 1]
            name = calls.callee_name(wrapper) if isinstance(wrapper, cst.Call) else None
            if name not in WRAPPERS:
                return False
            fresh = fresh and name not in ITERATORS
            index -= 2  # through `cycle(...)`, `iter(...)`, `accelerator.prepare(...)`
        if index < 0 or not isinstance(ancestors[index], cst.Assign):
            return False
        return reads.bounded(ancestors[index], fresh)

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


class LoaderUses(NamedTuple):
    capped_calls: frozenset[int]  # ids of calls that cap a run, and of its trainer's methods
    capped: frozenset[str]  # the names passed to them
    sampled: frozenset[str]  # names handed to opacus' `make_private` (Poisson sampling)
    trained: frozenset[str]  # names and `self.x` read by a loop that calls `backward()`
    trained_headers: frozenset[int]  # ids of the headers (`iter`) of such loops
    unread: frozenset[str]  # names and `self.x` the file assigns and never reads


# Calls that hand the loader back as it is, or as an endless or prepared copy of itself.
WRAPPERS = frozenset({"cycle", "iter", "prepare"})
# Those among them that keep their place: `next(iter(it))` goes on where the last read stopped.
ITERATORS = frozenset({"cycle", "iter"})
# Opacus replaces the loader it is given by one that draws Poisson-sampled batches.
PRIVATE = frozenset({"make_private", "make_private_with_epsilon"})


def _caps(call: cst.Call) -> bool:
    """The call sets a run's length to a handful of batches or steps, by a literal."""
    for arg in call.args:
        if arg.keyword is None:
            continue
        name = arg.keyword.value
        if name == "fast_dev_run" and (calls.is_true(arg.value) or calls.int_literal(arg.value)):
            return True
        if CAP_KEYWORD.match(name):
            value = calls.int_literal(arg.value)
            if value is not None and 0 < value <= SMALL_RUN:
                return True
    return False


def _names(found: list[cst.Call]) -> frozenset[str]:
    return frozenset(
        arg.value.value for call in found for arg in call.args if isinstance(arg.value, cst.Name)
    )


def _loader_uses(context: FileContext) -> LoaderUses:
    """Where this file hands loaders on: to a run capped at a handful of batches (the call
    that caps it, or a method of the trainer that call built: Lightning's
    ``trainer.fit(model, loader)``), or to opacus, which samples them at random."""
    capped: list[cst.Call] = []
    private: list[cst.Call] = []
    trainers: set[str] = set()
    every: list[cst.Call] = []
    trained: set[str] = set()
    trained_headers: set[int] = set()
    mentions: Counter[str] = Counter()  # every `Name` of the file, by its text
    attributes: Counter[str | None] = Counter()  # every `self.x` of the file
    attributes_bound: Counter[str | None] = Counter()  # the assignment targets among them
    bound: Counter[str] = Counter()  # the plain assignment targets among them
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            mentions[node.value] += 1
        elif isinstance(node, cst.Attribute):
            text = dotted_name(node)
            if text is not None and text.startswith("self.") and text.count(".") == 1:
                attributes[text] += 1
        elif isinstance(node, cst.Assign):
            bound.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
            attributes_bound.update(
                dotted_name(t.target) for t in node.targets if isinstance(t.target, cst.Attribute)
            )
        if isinstance(node, cst.For) and _calls_backward(node.body):
            trained_headers.add(id(node.iter))
            trained.update(_read_loaders(node.iter))
        if isinstance(node, cst.Call):
            every.append(node)
            if _caps(node):
                capped.append(node)
            poisson = calls.keyword(node, "poisson_sampling")
            if calls.callee_name(node) in PRIVATE and (
                poisson is None or not calls.is_false(poisson.value)
            ):
                private.append(node)
        elif (
            isinstance(node, cst.Assign) and isinstance(node.value, cst.Call) and _caps(node.value)
        ):
            trainers.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
        stack.extend(iter_children(node))
    for call in every:
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value in trainers
        ):
            capped.append(call)
    return LoaderUses(
        frozenset(id(call) for call in capped),
        _names(capped),
        _names(private),
        frozenset(trained),
        frozenset(trained_headers),
        frozenset(name for name in bound if mentions[name] == bound[name])
        | frozenset(
            name
            for name in attributes_bound
            if name is not None and attributes[name] == attributes_bound[name]
        ),
    )


def _calls_backward(body: cst.CSTNode) -> bool:
    """The loop body calls ``.backward()`` (``loss.backward()``,
    ``scaler.scale(loss).backward()``, ``accelerator.backward(loss)``): it trains."""
    stack = list(iter_children(body))
    while stack:
        node = stack.pop()
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "backward"
        ):
            return True
        if not isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            stack.extend(iter_children(node))
    return False


def _read_loaders(header: cst.BaseExpression) -> set[str]:
    """The names and ``self.x`` a loop header reads: ``loader``, ``enumerate(loader)``,
    ``tqdm(self.loader)``, ``zip(loader_a, loader_b)``."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [header]
    while stack:
        node = stack.pop()
        text = dotted_name(node) if isinstance(node, cst.Name | cst.Attribute) else None
        if text is not None:
            found.add(text)
            continue
        stack.extend(iter_children(node))
    return found
