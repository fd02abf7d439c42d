"""What the dataset of a ``DataLoader`` is: data already in memory, a stream, or per-item work.

Worker processes pay off only when producing an item costs something (decoding a file, a
transform); over a ``TensorDataset``, a list or a tensor they only add start-up and
inter-process copies, and over an iterable-style dataset each worker replays the whole stream
unless the dataset shards itself. So the data rules ask ``dataset_kind`` before suggesting
workers, and ``is_iterable_dataset`` before suggesting shuffling.

A class defined in the file is read: a map-style dataset whose ``__getitem__`` calls nothing
but cheap builtins (``return self.data[i]``) holds its data in memory. A name is followed to
the values assigned to it (in its scope, or ``self.x`` anywhere in the class) when every
binding is such an assignment. Anything else is per-item work: the safe answer for a rule
that reports loaders without workers.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, NamedTuple

import libcst as cst

from torchlint import calls
from torchlint.names import SCOPE_TYPES, Scope, dotted_name, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext


class DatasetKind(enum.Enum):
    IN_MEMORY = "in-memory"
    ITERABLE = "iterable"
    PER_ITEM = "per-item"


ITERABLE_DATASETS = frozenset(
    {
        "torch.utils.data.IterableDataset",
        "torch.utils.data.dataset.IterableDataset",
        "torch.utils.data.ChainDataset",
        "torch.utils.data.dataset.ChainDataset",
        "torch.utils.data.IterDataPipe",
        "torch.utils.data.datapipes.datapipe.IterDataPipe",
        "datasets.IterableDataset",
    }
)
ITERABLE_PREFIXES = ("torch.utils.data.datapipes.iter.", "torchdata.", "webdataset.")
TENSOR_DATASETS = frozenset(
    {"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"}
)
# torch functions that return a tensor: indexing one is all a DataLoader over it does.
TENSOR_FACTORIES = frozenset(
    {
        "tensor",
        "as_tensor",
        "from_numpy",
        "arange",
        "linspace",
        "zeros",
        "ones",
        "full",
        "empty",
        "rand",
        "randn",
        "randint",
        "randperm",
        "stack",
        "cat",
    }
)
# Builtins that build an in-memory sequence, and those cheap enough inside ``__getitem__``.
SEQUENCE_BUILTINS = frozenset({"list", "tuple", "range", "sorted"})
CHEAP_BUILTINS = frozenset(
    {"len", "int", "float", "str", "bool", "tuple", "list", "dict", "min", "max", "isinstance"}
)
_ITERABLE_HINT = re.compile(r"iterable|stream", re.IGNORECASE)
_MAX_DEPTH = 4


def is_iterable_dataset_name(qualified: str) -> bool:
    """Qualified names of iterable-style datasets (no indices: no shuffling, no sharding)."""
    return qualified in ITERABLE_DATASETS or qualified.startswith(ITERABLE_PREFIXES)


def dataset_kind(context: FileContext, expr: cst.BaseExpression) -> DatasetKind:
    """What ``expr`` (a DataLoader's dataset, at the node being visited) is."""
    kinds = _kinds_of(context, expr, context.scope, 0)
    return kinds.pop() if len(kinds) == 1 else DatasetKind.PER_ITEM


def is_iterable_dataset(context: FileContext, expr: cst.BaseExpression) -> bool:
    """True when ``expr`` is, or may well be (its name says stream/iterable), iterable-style."""
    text = dotted_name(expr)
    if text is not None and _ITERABLE_HINT.search(text.rsplit(".", 1)[-1]):
        return True
    return DatasetKind.ITERABLE in _kinds_of(context, expr, context.scope, 0)


def _kinds_of(
    context: FileContext, expr: cst.BaseExpression, scope: Scope, depth: int
) -> set[DatasetKind]:
    """The kinds ``expr`` can be: one for a certain answer, several when its bindings differ."""
    if depth > _MAX_DEPTH:
        return {DatasetKind.PER_ITEM}
    if isinstance(expr, (cst.List, cst.Tuple, cst.ListComp)):
        return {DatasetKind.IN_MEMORY}
    if isinstance(expr, cst.Call):
        return {_call_kind(context, expr, scope, depth)}
    found = _assigned(context, expr, scope)
    if found is None:
        return {DatasetKind.PER_ITEM}
    values, owner = found
    kinds: set[DatasetKind] = set()
    for value in values:
        kinds |= _kinds_of(context, value, owner, depth + 1)
    return kinds


def _assigned(
    context: FileContext, expr: cst.BaseExpression, scope: Scope
) -> tuple[list[cst.BaseExpression], Scope] | None:
    """The values assigned to a name (every binding an assignment) or to ``self.x`` in the
    enclosing class, and the scope to resolve them in."""
    if isinstance(expr, cst.Name):
        owner: Scope | None = scope
        first = True
        while owner is not None:
            if not (owner.is_class and not first) and expr.value in owner.bindings:
                break
            first = False
            owner = owner.parent
        if owner is None or isinstance(owner.node, cst.Lambda):
            return None
        values = calls.assigned_values(owner.node, expr.value)
        if not values or len(values) != len(owner.bindings[expr.value]):
            return None  # also a parameter, a loop target, an import...
        return values, owner
    text = dotted_name(expr)
    if text is None or not text.startswith("self.") or text.count(".") != 1:
        return None
    class_scope: Scope | None = scope
    while class_scope is not None and not class_scope.is_class:
        class_scope = class_scope.parent
    if class_scope is None:
        return None
    values = calls.assigned_values(class_scope.node, text, nested=True)
    return (values, class_scope) if values else None


def _call_kind(context: FileContext, call: cst.Call, scope: Scope, depth: int = 0) -> DatasetKind:
    func = call.func
    if isinstance(func, cst.Name):
        if func.value in SEQUENCE_BUILTINS and scope.binds(func.value) is None:
            return DatasetKind.IN_MEMORY
        local = _local_classes(context).get(func.value)
        if local is not None and scope.resolve(func.value) is None:
            return _class_kind(context, local)
        function = _module_functions(context).get(func.value)
        if function is not None and scope.resolve(func.value) is None:
            return _returned_kind(context, function, depth)
    if isinstance(func, cst.Attribute) and func.attr.value == "to_iterable_dataset":
        return DatasetKind.ITERABLE
    qualified = scope.qualified_name(func)
    if qualified is None:
        return DatasetKind.PER_ITEM
    if qualified in TENSOR_DATASETS:
        return DatasetKind.IN_MEMORY
    module, _, function = qualified.rpartition(".")
    if module == "torch" and function in TENSOR_FACTORIES:
        return DatasetKind.IN_MEMORY
    if is_iterable_dataset_name(qualified):
        return DatasetKind.ITERABLE
    if qualified == "datasets.load_dataset":
        streaming = calls.keyword(call, "streaming")
        if streaming is not None and not calls.is_false(streaming.value):
            return DatasetKind.ITERABLE
    return DatasetKind.PER_ITEM


# --- classes defined in the file ---------------------------------------------------------------


def _module_functions(context: FileContext) -> dict[str, cst.FunctionDef]:
    """Functions defined once at the top level of the file, by name."""

    def collect(context: FileContext) -> dict[str, cst.FunctionDef]:
        found: dict[str, list[cst.FunctionDef]] = {}
        for statement in context.module.body:
            if isinstance(statement, cst.FunctionDef):
                found.setdefault(statement.name.value, []).append(statement)
        return {name: defs[0] for name, defs in found.items() if len(defs) == 1}

    return context.fact("datasets.module_functions", collect)


def return_values(function: cst.FunctionDef) -> list[cst.BaseExpression] | None:
    """What the function's own ``return`` statements return; None when one returns nothing."""
    values: list[cst.BaseExpression] = []
    stack: list[cst.CSTNode] = list(iter_children(function.body))
    while stack:
        node = stack.pop()
        if isinstance(node, SCOPE_TYPES):
            continue
        if isinstance(node, cst.Return):
            if node.value is None:
                return None
            values.append(node.value)
        stack.extend(iter_children(node))
    return values


def _returned_kind(context: FileContext, function: cst.FunctionDef, depth: int) -> DatasetKind:
    """In memory only when every ``return`` of a same-file function returns data in memory
    (``return TensorDataset(x, y)``, a list); anything else may do work per item."""
    values = return_values(function)
    if values is None:
        return DatasetKind.PER_ITEM
    scope = Scope(function, context.module_scope)
    kinds = set()
    for value in values:
        kinds |= _kinds_of(context, value, scope, depth + 1)
    return kinds.pop() if len(kinds) == 1 else DatasetKind.PER_ITEM


def _local_classes(context: FileContext) -> dict[str, cst.ClassDef]:
    """Classes defined once in the file (at any depth), by name."""
    return context.fact("datasets.local_classes", _collect_classes)


def _collect_classes(context: FileContext) -> dict[str, cst.ClassDef]:
    found: dict[str, list[cst.ClassDef]] = {}
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.ClassDef):
            found.setdefault(node.name.value, []).append(node)
        if isinstance(node, (cst.BaseSmallStatement, cst.BaseExpression)):
            continue  # classes are statements: expressions never hold one
        stack.extend(iter_children(node))
    return {name: defs[0] for name, defs in found.items() if len(defs) == 1}


def _class_kind(context: FileContext, classdef: cst.ClassDef) -> DatasetKind:
    cache: dict[int, DatasetKind] = context.fact("datasets.class_kinds", lambda _: {})
    key = id(classdef)
    if key not in cache:
        cache[key] = DatasetKind.PER_ITEM  # a cycle of bases resolves to the safe answer
        cache[key] = _read_class(context, classdef)
    return cache[key]


def _read_class(context: FileContext, classdef: cst.ClassDef) -> DatasetKind:
    scope = context.module_scope
    inherited: list[DatasetKind] = []
    for base in classdef.bases:
        if base.keyword is not None:
            continue
        value = base.value
        local = _local_classes(context).get(value.value) if isinstance(value, cst.Name) else None
        if local is not None and local is not classdef:
            inherited.append(_class_kind(context, local))
            continue
        qualified = scope.qualified_name(value)
        if qualified is None:
            inherited.append(DatasetKind.PER_ITEM)
        elif is_iterable_dataset_name(qualified):
            inherited.append(DatasetKind.ITERABLE)
        elif qualified in TENSOR_DATASETS:
            inherited.append(DatasetKind.IN_MEMORY)
    if DatasetKind.ITERABLE in inherited:
        return DatasetKind.ITERABLE
    getitem = calls.class_method(classdef, "__getitem__")
    if getitem is not None:
        return DatasetKind.PER_ITEM if _does_work(getitem) else DatasetKind.IN_MEMORY
    if inherited and all(kind is DatasetKind.IN_MEMORY for kind in inherited):
        return DatasetKind.IN_MEMORY
    return DatasetKind.PER_ITEM


def _does_work(method: cst.FunctionDef) -> bool:
    """True when the method calls anything but cheap builtins (a transform, a file read...),
    or is a stub that returns nothing yet (a template to fill in with the real loading)."""
    stack: list[cst.CSTNode] = list(iter_children(method.body))
    returns = False
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Return) and node.value is not None:
            returns = True
        if isinstance(node, SCOPE_TYPES):
            return True  # a nested function or lambda: do not guess what it does
        if isinstance(node, (cst.Yield, cst.Await)):
            return True
        if isinstance(node, cst.Call):
            func = node.func
            if not (isinstance(func, cst.Name) and func.value in CHEAP_BUILTINS):
                return True
        stack.extend(iter_children(node))
    return not returns


# --- visible per-item work: what makes workers worth it ----------------------------------------

# Calls that read or decode a file: in `__getitem__`, every item costs a read.
FILE_READERS = {
    "open": "open",
    "io.open": "open",
    "PIL.Image.open": "Image.open",
    "cv2.imread": "cv2.imread",
    "cv2.imdecode": "cv2.imdecode",
    "cv2.VideoCapture": "cv2.VideoCapture",
    "torchaudio.load": "torchaudio.load",
    "numpy.load": "np.load",
    "numpy.fromfile": "np.fromfile",
    "numpy.loadtxt": "np.loadtxt",
    "numpy.genfromtxt": "np.genfromtxt",
    "torch.load": "torch.load",
    "torchvision.io.read_image": "read_image",
    "torchvision.io.decode_image": "decode_image",
    "torchvision.io.read_file": "read_file",
    "torchvision.io.read_video": "read_video",
    "torchvision.io.decode_jpeg": "decode_jpeg",
    "torchvision.datasets.folder.default_loader": "default_loader",
    "torchvision.datasets.folder.pil_loader": "pil_loader",
    "imageio.imread": "imageio.imread",
    "imageio.v2.imread": "imageio.imread",
    "imageio.v3.imread": "imageio.imread",
    "skimage.io.imread": "skimage.io.imread",
    "soundfile.read": "soundfile.read",
    "librosa.load": "librosa.load",
    "h5py.File": "h5py.File",
    "pandas.read_csv": "pd.read_csv",
    "pandas.read_parquet": "pd.read_parquet",
    "scipy.io.loadmat": "loadmat",
    "scipy.io.wavfile.read": "wavfile.read",
    "nibabel.load": "nib.load",
    "SimpleITK.ReadImage": "sitk.ReadImage",
    "pydicom.dcmread": "dcmread",
    "tifffile.imread": "tifffile.imread",
    "decord.VideoReader": "VideoReader",
}
# torchvision datasets that read (and decode) one file per item.
FILE_DATASETS = frozenset(
    {
        "ImageFolder", "DatasetFolder", "CocoDetection", "CocoCaptions", "VOCSegmentation",
        "VOCDetection", "Cityscapes", "CelebA", "ImageNet", "Places365", "LSUN",
        "Flowers102", "Food101", "StanfordCars", "OxfordIIITPet", "Caltech101", "Caltech256",
        "SBDataset", "Kitti", "WIDERFace", "LFWPeople", "LFWPairs", "INaturalist", "DTD",
        "FGVCAircraft", "GTSRB", "Country211", "SUN397", "Kinetics", "UCF101", "HMDB51",
        "Omniglot", "EuroSAT", "ImageNette",
    }
)  # fmt: skip
# torchvision datasets held in memory: work per item only through their transforms.
TRANSFORMED_DATASETS = frozenset(
    {
        "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "QMNIST", "CIFAR10", "CIFAR100",
        "SVHN", "STL10", "USPS", "SEMEION",
    }
)  # fmt: skip
# Where `train` goes when passed by position (`MNIST(root, False, transform)`).
TRAIN_INDEX = {
    "MNIST": 1,
    "FashionMNIST": 1,
    "KMNIST": 1,
    "CIFAR10": 1,
    "CIFAR100": 1,
    "USPS": 1,
}
# The values of `split=` / `image_set=` that name an evaluation split: read once per
# evaluation, not every training step (`trainval`, `train+unlabeled` are training splits).
EVAL_SPLITS = frozenset(
    {
        "test", "testing", "val", "valid", "validation", "eval", "evaluation", "minival",
        "testdev", "test-dev",
    }
)  # fmt: skip
TRANSFORM_INDEX = {
    "MNIST": 2,
    "FashionMNIST": 2,
    "KMNIST": 2,
    "QMNIST": 2,
    "CIFAR10": 2,
    "CIFAR100": 2,
}
WRAPPERS = frozenset(
    {
        "torch.utils.data.Subset",
        "torch.utils.data.dataset.Subset",
        "torch.utils.data.ConcatDataset",
        "torch.utils.data.dataset.ConcatDataset",
    }
)


class PerItemWork(NamedTuple):
    reason: str  # what the message says: "`__getitem__` of `Pngs` calls `Image.open`"
    needs_training: bool = False  # only transforms: worth workers in a training loop
    eval_split: bool = False  # `train=False`, `split="test"`: read once per evaluation


def per_item_work(context: FileContext, expr: cst.BaseExpression) -> PerItemWork | None:
    """The per-item work this file shows for a DataLoader's dataset (at the node being
    visited), or None when it shows none: a dataset it cannot see, in memory, or from
    another library (a Hugging Face dataset is tokenized up front)."""
    return _work_of(context, expr, context.scope, 0)


def _work_of(
    context: FileContext, expr: cst.BaseExpression, scope: Scope, depth: int
) -> PerItemWork | None:
    if depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Call):
        return _call_work(context, expr, scope, depth)
    if isinstance(expr, (cst.List, cst.Tuple)):
        for element in expr.elements:
            found = _work_of(context, element.value, scope, depth + 1)
            if found is not None:
                return found
        return None
    found = _assigned(context, expr, scope)
    if found is None:
        return None
    values, owner = found
    return _some_work(context, values, owner, depth)


def _some_work(
    context: FileContext, values: list[cst.BaseExpression], scope: Scope, depth: int
) -> PerItemWork | None:
    """The work of the first binding that shows some, unless another binding is surely in
    memory (`TensorDataset` here, `ImageFolder` there: the cheap one may be the one used)."""
    found = None
    for value in values:
        work = _work_of(context, value, scope, depth + 1)
        if work is not None:
            found = found or work
        elif _kinds_of(context, value, scope, depth + 1) == {DatasetKind.IN_MEMORY}:
            return None
    return found


def _call_work(
    context: FileContext, call: cst.Call, scope: Scope, depth: int
) -> PerItemWork | None:
    func = call.func
    if isinstance(func, cst.Name):
        local = _local_classes(context).get(func.value)
        if local is not None and scope.resolve(func.value) is None:
            return _class_work(context, local)
        function = _module_functions(context).get(func.value)
        if function is not None and scope.resolve(func.value) is None:
            return _returned_work(context, function, depth)
    qualified = scope.qualified_name(func)
    if qualified is None:
        return None
    if qualified in WRAPPERS:
        inner = call.args[0].value if call.args and not call.args[0].star else None
        return _work_of(context, inner, scope, depth + 1) if inner is not None else None
    last = qualified.rsplit(".", 1)[-1]
    if qualified.startswith("torchaudio.datasets."):
        return PerItemWork(f"`{last}` loads an audio file per item", eval_split=_eval_split(call))
    if not qualified.startswith("torchvision.datasets."):
        return None
    if last in FILE_DATASETS:
        return PerItemWork(
            f"`{last}` reads and decodes a file per item", eval_split=_eval_split(call, last)
        )
    if last in TRANSFORMED_DATASETS:
        transform = calls.argument(call, "transform", TRANSFORM_INDEX.get(last))
        if (
            transform is not None
            and not _is_none(transform.value)
            and not converts_only(context, transform.value, scope)
        ):
            return PerItemWork(
                f"`{last}` applies its transform per item",
                needs_training=True,
                eval_split=_eval_split(call, last),
            )
    return None


# torchvision transforms that only convert or rescale an image already decoded in memory:
# microseconds on a 28x28 or 32x32 image, less than handing the item over from a worker.
CONVERSIONS = frozenset(
    {"ToTensor", "PILToTensor", "Normalize", "ConvertImageDtype", "ToDtype", "ToImage"}
)


def converts_only(context: FileContext, expr: cst.BaseExpression, scope: Scope) -> bool:
    """The transform, as this file builds it, only converts and normalizes:
    ``ToTensor()``, ``Compose([ToTensor(), Normalize(mean, std)])``, or a name bound to
    one. Anything else (a resize, a crop, an augmentation, a lambda, a transform it cannot
    see) is per-item work."""
    values: list[cst.BaseExpression] = [expr]
    if not isinstance(expr, cst.Call):
        found = _assigned(context, expr, scope)
        if found is None:
            return False
        values, scope = found
    return bool(values) and all(_conversion(value, scope) for value in values)


def _conversion(expr: cst.BaseExpression, scope: Scope) -> bool:
    if not isinstance(expr, cst.Call):
        return False
    qualified = scope.qualified_name(expr.func) or ""
    if not qualified.startswith("torchvision.transforms."):
        return False
    last = qualified.rsplit(".", 1)[-1]
    if last in CONVERSIONS:
        return True
    if last != "Compose" or len(expr.args) != 1 or expr.args[0].star:
        return False
    steps = expr.args[0].value
    return (
        isinstance(steps, cst.List | cst.Tuple)
        and bool(steps.elements)
        and all(
            not isinstance(element, cst.StarredElement) and _conversion(element.value, scope)
            for element in steps.elements
        )
    )


def _eval_split(call: cst.Call, name: str = "") -> bool:
    """The dataset is built as an evaluation split: ``train=False``, ``split="test"``,
    ``subset="validation"`` (torchaudio), ``image_set="val"`` (VOC)."""
    train = calls.argument(call, "train", TRAIN_INDEX.get(name))
    if train is not None and calls.is_false(train.value):
        return True
    for keyword in ("split", "image_set", "subset"):
        arg = calls.keyword(call, keyword)
        value = calls.string_literal(arg.value) if arg is not None else None
        if value is not None and value.lower() in EVAL_SPLITS:
            return True
    return False


def _returned_work(
    context: FileContext, function: cst.FunctionDef, depth: int
) -> PerItemWork | None:
    values = return_values(function)
    if values is None:
        return None
    return _some_work(context, values, Scope(function, context.module_scope), depth)


def _class_work(context: FileContext, classdef: cst.ClassDef) -> PerItemWork | None:
    """A same-file dataset class whose ``__getitem__`` (or a method of the class it calls
    as ``self.name(...)``) reads a file; or a subclass of a file-reading dataset."""
    cache: dict[int, PerItemWork | None] = context.fact("datasets.class_work", lambda _: {})
    key = id(classdef)
    if key not in cache:
        cache[key] = None  # a cycle of bases: no work shown
        cache[key] = _read_class_work(context, classdef)
    return cache[key]


def _read_class_work(context: FileContext, classdef: cst.ClassDef) -> PerItemWork | None:
    scope = context.module_scope
    name = classdef.name.value
    getitem = calls.class_method(classdef, "__getitem__")
    if getitem is not None:
        methods = [getitem]
        for called in _self_calls(getitem):
            method = calls.class_method(classdef, called)
            if method is not None and method is not getitem:
                methods.append(method)
        for method in methods:
            reader = _reads_file(scope, method)
            if reader is not None:
                return PerItemWork(f"`__getitem__` of `{name}` calls `{reader}`")
    for base in classdef.bases:
        if base.keyword is not None:
            continue
        value = base.value
        local = _local_classes(context).get(value.value) if isinstance(value, cst.Name) else None
        if local is not None and local is not classdef:
            found = _class_work(context, local)
            if found is not None and getitem is None:
                return found
            continue
        qualified = scope.qualified_name(value)
        if qualified and qualified.startswith("torchvision.datasets.") and getitem is None:
            last = qualified.rsplit(".", 1)[-1]
            if last in FILE_DATASETS:
                return PerItemWork(f"`{name}` is a `{last}`: it reads and decodes a file per item")
    return None


_OPEN = (None, "open", "builtins.open")


def _self_calls(method: cst.FunctionDef) -> set[str]:
    found: set[str] = set()
    stack: list[cst.CSTNode] = [method.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            func = node.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.value.value == "self"
            ):
                found.add(func.attr.value)
        stack.extend(iter_children(node))
    return found


def _reads_file(scope: Scope, method: cst.FunctionDef) -> str | None:
    """The first file-reading call in ``method`` (its display name), or None."""
    stack: list[cst.CSTNode] = [method.body]
    inner = Scope(method, scope)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            func = node.func
            qualified = inner.qualified_name(func)
            if isinstance(func, cst.Name) and func.value == "open" and qualified in _OPEN:
                return "open"
            if qualified is not None and qualified in FILE_READERS:
                return FILE_READERS[qualified]
        stack.extend(iter_children(node))
    return None


# Samplers that draw indices in random order: a loader built with one is read for training.
RANDOM_SAMPLERS = frozenset(
    {
        "torch.utils.data.RandomSampler",
        "torch.utils.data.sampler.RandomSampler",
        "torch.utils.data.WeightedRandomSampler",
        "torch.utils.data.sampler.WeightedRandomSampler",
        "torch.utils.data.SubsetRandomSampler",
        "torch.utils.data.sampler.SubsetRandomSampler",
        "torch.utils.data.DistributedSampler",
        "torch.utils.data.distributed.DistributedSampler",
    }
)


def random_sampler(context: FileContext, expr: cst.BaseExpression) -> bool:
    """``expr`` (a DataLoader's ``sampler``) draws in random order: a ``RandomSampler``, a
    ``DistributedSampler`` that shuffles (its default), ... built here or bound to the name."""
    found = _sampler_calls(context, expr)
    if found is None:
        return False
    built, scope = found
    for value in built:
        if scope.qualified_name(value.func) not in RANDOM_SAMPLERS:
            return False
        shuffle = calls.keyword(value, "shuffle")
        if shuffle is not None and not calls.is_true(shuffle.value):
            return False
    return True


SEQUENTIAL_SAMPLERS = frozenset(
    {"torch.utils.data.SequentialSampler", "torch.utils.data.sampler.SequentialSampler"}
)


def sequential_sampler(context: FileContext, expr: cst.BaseExpression) -> bool:
    """``expr`` (a DataLoader's ``sampler``) reads in order: a ``SequentialSampler``, or a
    ``DistributedSampler`` built with ``shuffle=False``, here or bound to the name."""
    found = _sampler_calls(context, expr)
    if found is None:
        return False
    built, scope = found
    for value in built:
        qualified = scope.qualified_name(value.func)
        if qualified in SEQUENTIAL_SAMPLERS:
            continue
        shuffle = calls.keyword(value, "shuffle")
        if qualified in RANDOM_SAMPLERS and shuffle is not None and calls.is_false(shuffle.value):
            continue
        return False
    return True


def _sampler_calls(
    context: FileContext, expr: cst.BaseExpression
) -> tuple[list[cst.Call], Scope] | None:
    """The calls that build the sampler ``expr`` (here, or every value bound to the name),
    with the scope to read them in; None when one of them is not a call seen here."""
    values: list[cst.BaseExpression] = [expr]
    scope = context.scope
    if not isinstance(expr, cst.Call):
        found = _assigned(context, expr, scope)
        if found is None:
            return None
        values, scope = found
    if not all(isinstance(value, cst.Call) for value in values):
        return None
    return [value for value in values if isinstance(value, cst.Call)], scope


def holds_lambda(context: FileContext, expr: cst.BaseExpression) -> bool:
    """The dataset is built, in this file, with a lambda among its arguments (a
    ``transforms.Lambda(lambda x: ...)`` in its transform, a ``loader=lambda p: ...``): it
    cannot be pickled into worker processes started by spawn (macOS, Windows)."""
    return _lambda_in(context, expr, context.scope, 0)


def _lambda_in(context: FileContext, expr: cst.BaseExpression, scope: Scope, depth: int) -> bool:
    """A lambda in ``expr``, or in what a name in it (``transform``, ``self.transform``) is
    assigned, a few levels deep. Callees are not followed: they name classes and functions."""
    if depth > _MAX_DEPTH:
        return False
    stack: list[cst.CSTNode] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Lambda):
            return True
        if isinstance(node, (cst.Name, cst.Attribute)):
            found = _assigned(context, node, scope)
            if found is not None and any(
                _lambda_in(context, value, found[1], depth + 1) for value in found[0]
            ):
                return True
        elif isinstance(node, cst.Call):
            stack.extend(arg.value for arg in node.args)
        else:
            stack.extend(iter_children(node))
    return False


def _is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"
