"""Which ``torch.load`` calls read a checkpoint that can cross machines (TL703's evidence).

Without ``map_location`` every tensor goes back to the device it was saved from. That breaks
when a checkpoint saved on a GPU is loaded where that GPU is missing. Two facts make that
likely, and both must hold:

- the file is a *checkpoint*: the loaded object feeds ``load_state_dict``, is indexed for
  ``"model"`` / ``"state_dict"`` / ``"optimizer"`` (and the like), or its path comes from a
  ``resume`` / ``checkpoint`` / ``pretrained`` / weights option, the command line
  (``args.x``, ``sys.argv``), a config or a download;
- the code *runs elsewhere*: the file supports a device other than CUDA (it asks
  ``torch.cuda.is_available()``, selects a device, has a ``--device`` / ``--cpu`` option)
  or the load resumes training (the checkpoint holds an optimizer's state, or its path is a
  resume option), where the device may differ from the run that saved it.

Silent where the file cannot have come from a GPU run elsewhere: the same run wrote it a
moment before (``session_reloads``: a save earlier in the same script, notebook or function
to the same path, a clone through a buffer), this file saves CPU tensors (``.cpu()``) to the
same file name, or the file ships inside the package (``checkpoints.ships_with_code``, the
fact TL701 uses, with module-level constants); and where ``map_location`` may arrive another
way (the enclosing function takes ``map_location`` or ``**kwargs``).

The "supports a device other than CUDA" fact is a minimal version of the one the device
rules use; the two are meant to become one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import TORCH_SAVE, ships_with_code
from torchlint.analysis.loaded_objects import assigned_name, enclosing_body
from torchlint.analysis.session_reloads import session_reloads
from torchlint.names import dotted_name, iter_children

if TYPE_CHECKING:
    from torchlint.context import FileContext

# Keys of a training checkpoint or a state dict wrapper.
CHECKPOINT_KEYS = frozenset(
    {
        "model", "state_dict", "model_state_dict", "model_state", "optimizer",
        "optimizer_state_dict", "optimizer_state", "optim", "net", "network", "ema",
        "ema_state_dict", "scheduler", "lr_scheduler", "scaler", "epoch", "generator",
        "discriminator", "module", "params", "weights",
    }
)  # fmt: skip
RESUME_KEYS = frozenset(
    {"optimizer", "optimizer_state_dict", "optimizer_state", "optim", "scheduler",
     "lr_scheduler", "scaler", "epoch"}
)  # fmt: skip
_PATH_WORDS = re.compile(r"resume|checkpoint|ckpt|pretrain|weight|restore|snapshot", re.I)
_RESUME_WORDS = re.compile(r"resume|restore", re.I)
_OPTIONS = frozenset({"args", "opt", "opts", "options", "cfg", "config", "conf", "hparams",
                      "FLAGS", "flags", "params", "hp"})  # fmt: skip
# Names of files that hold data, not a model's state: a vocabulary, a dataset cache, features.
_DATA_WORDS = frozenset(
    {
        "data", "dataset", "datasets", "vocab", "vocabulary", "token", "tokens", "tokenizer",
        "cache", "cached", "feature", "features", "feats", "embedding", "embeddings", "embeds",
        "index", "engine", "stats", "statistics", "mean", "std", "label", "labels", "mask",
        "masks", "split", "splits", "graph", "meta", "metadata", "sample", "samples", "latent",
        "latents", "prompt", "prompts", "result", "results", "output", "outputs", "log", "logs",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Za-z][a-z]*|[0-9]+")
_DOWNLOADS = re.compile(r"download|urlretrieve|cached_path|hf_hub|fetch", re.I)
_DEVICE_OPTIONS = re.compile(
    r"""["']--(?:device|cpu|no[-_]cuda|gpu|gpus|cuda|use[-_]cuda|accelerator)["']"""
)
_SAVE_TARGET_INDEX = 1
_LOAD_SOURCE_INDEX = 0


@dataclass(frozen=True)
class CrossingLoad:
    """Why a load reads a checkpoint that can cross machines, in words for the message."""

    checkpoint: str  # "the loaded object feeds `load_state_dict`"
    portable: str  # "this file selects its device at line 31 (`torch.cuda.is_available()`)"


def crossing_load(context: FileContext, load: cst.Call) -> CrossingLoad | None:
    """The evidence for TL703 at ``load`` (the ``torch.load`` call being visited), or None."""
    if _map_location_from_caller(context):
        return None
    source = calls.argument(load, "f", _LOAD_SOURCE_INDEX)
    if source is None:
        return None
    if _saved_from_cpu(context, source.value) or id(load) in session_reloads(context):
        return None  # this code wrote it from CPU tensors, or the same run a moment ago
    function = next(
        (node for node in reversed(context.ancestors) if isinstance(node, cst.FunctionDef)),
        context.module,
    )
    if ships_with_code(context, load, function, constants=True):  # CPU test runs load it
        return None
    checkpoint, resumes = _checkpoint_evidence(context, load, source.value)
    if checkpoint is None:
        return None
    portable = resumes or non_cuda_evidence(context)
    if portable is None:
        return None
    return CrossingLoad(checkpoint, portable)


# --- map_location from elsewhere ---------------------------------------------------------


def _map_location_from_caller(context: FileContext) -> bool:
    """The enclosing function takes ``map_location`` (or ``**kwargs``): a wrapper whose
    callers choose."""
    for node in reversed(context.ancestors):
        if isinstance(node, cst.FunctionDef):
            params = node.params
            names = {
                p.name.value
                for p in (*params.posonly_params, *params.params, *params.kwonly_params)
            }
            return "map_location" in names or isinstance(params.star_kwarg, cst.Param)
        if isinstance(node, cst.ClassDef):
            return False
    return False


# --- the checkpoint ----------------------------------------------------------------------


def _code(context: FileContext, node: cst.CSTNode) -> str:
    text = context.module.code_for_node(node)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _checkpoint_evidence(
    context: FileContext, load: cst.Call, source: cst.BaseExpression
) -> tuple[str | None, str | None]:
    """(why the loaded object is a checkpoint, why it resumes training) or Nones."""
    chain = context.ancestors
    resumes = None
    found = _used_as_checkpoint(context, load, chain)
    if found is not None:
        words, key = found
        if key in RESUME_KEYS:
            resumes = f"it resumes training (the checkpoint holds {key!r})"
        return words, resumes
    path = _path_evidence(context, source)
    if path is not None and _names_data(context, load, source):
        return None, None  # the path or the name it is loaded into says data, not weights
    if path is not None:
        words, resume = path
        return words, ("it resumes training" if resume else None)
    return None, None


def _used_as_checkpoint(
    context: FileContext, load: cst.Call, chain: list[cst.CSTNode]
) -> tuple[str, str | None] | None:
    parent = chain[-1] if chain else None
    grand = chain[-2] if len(chain) > 1 else None
    if isinstance(parent, cst.Arg) and _is_load_state_dict(grand):
        return "the loaded object feeds `load_state_dict`", None
    if isinstance(parent, cst.Subscript) and parent.value is load:
        key = _key(parent)
        if key in CHECKPOINT_KEYS:
            return f"the loaded object is indexed for {key!r}", key
    name = assigned_name(load, parent)
    body = enclosing_body(context)
    if name is None or body is None:
        return None
    best: tuple[str, str | None] | None = None
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and _is_load_state_dict(node):
            for arg in node.args:
                value = arg.value
                if isinstance(value, cst.Subscript):
                    value = value.value
                if isinstance(value, cst.Name) and value.value == name:
                    receiver = dotted_name(node.func.value) or "..."  # type: ignore[attr-defined]
                    key = "optimizer" if "optim" in receiver.lower() else None
                    words = f"`{name}` feeds `{receiver}.load_state_dict`"
                    if key is not None:
                        return words, key
                    best = best or (words, None)
        elif (
            isinstance(node, cst.Subscript)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
        ):
            key = _key(node)
            if key in CHECKPOINT_KEYS:
                if key in RESUME_KEYS:
                    return f"`{name}` is indexed for {key!r}", key
                best = best or (f"`{name}` is indexed for {key!r}", key)
        stack.extend(iter_children(node))
    return best


def _names_data(context: FileContext, load: cst.Call, source: cst.BaseExpression) -> bool:
    """The load's path, or the name it is assigned to, says it holds data."""
    words = [context.module.code_for_node(source)]
    parent = context.ancestors[-1] if context.ancestors else None
    if isinstance(parent, cst.Assign) and parent.value is load:
        words += [context.module.code_for_node(t.target) for t in parent.targets]
    return any(part.lower() in _DATA_WORDS for w in words for part in _WORD.findall(w))


def _is_load_state_dict(node: cst.CSTNode | None) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in ("load_state_dict", "load_state_dict_from")
    )


def _key(subscript: cst.Subscript) -> str | None:
    if len(subscript.slice) != 1:
        return None
    index = subscript.slice[0].slice
    if not isinstance(index, cst.Index):
        return None
    return calls.string_literal(index.value)


def _path_evidence(context: FileContext, source: cst.BaseExpression) -> tuple[str, bool] | None:
    """Where the path comes from, when that says checkpoint: (words, is a resume option)."""
    names: list[str] = []
    downloads: list[str] = []
    literals: list[str] = []
    stack: list[cst.CSTNode] = [source]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseExpression):
            literal = calls.string_literal(node)
            if literal is not None:
                literals.append(literal)
                continue
        if isinstance(node, (cst.Name, cst.Attribute)):
            dotted = dotted_name(node)
            if dotted is not None:
                names.append(dotted)
                if isinstance(node, cst.Attribute):
                    continue
        if isinstance(node, cst.Call):
            func = dotted_name(node.func) or ""
            if _DOWNLOADS.search(func.rsplit(".", 1)[-1]):
                downloads.append(func)
        stack.extend(iter_children(node))
    if downloads:
        return f"its path comes from a download (`{downloads[0]}(...)`)", False
    for dotted in names:
        head, _, last = dotted.rpartition(".")
        if head == "sys" and last == "argv":
            return "its path comes from the command line (`sys.argv`)", False
        if _PATH_WORDS.search(last):
            resume = bool(_RESUME_WORDS.search(last))
            return f"its path comes from `{dotted}`", resume
        if head.split(".")[0] in _OPTIONS:
            return f"its path comes from the command line or a config (`{dotted}`)", False
    for literal in literals:
        name = os.path.basename(literal.rstrip("/"))
        if _PATH_WORDS.search(name):
            return f"its file is named like a checkpoint ({name!r})", bool(
                _RESUME_WORDS.search(name)
            )
    return None


# --- written by this code from CPU tensors ----------------------------------------------


def _saved_from_cpu(context: FileContext, source: cst.BaseExpression) -> bool:
    """This file saves CPU tensors (``.cpu()``) to the same path or file name."""
    names = _literal_names(source)
    return bool(names) and any(save.cpu and names & save.names for save in _saves(context))


@dataclass(frozen=True)
class _Save:
    names: frozenset[str]  # file names (basenames) in the target's string literals
    cpu: bool  # the saved object is moved to the CPU (`.cpu()`, `.to("cpu")`)


def _saves(context: FileContext) -> list[_Save]:
    def compute(context: FileContext) -> list[_Save]:
        if "save" not in context.source:
            return []
        scope = context.module_scope
        found: list[_Save] = []
        stack: list[tuple[cst.CSTNode, cst.FunctionDef | None]] = [(context.module, None)]
        while stack:
            node, function = stack.pop()
            if isinstance(node, cst.FunctionDef):
                function = node
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, (cst.Name, cst.Attribute))
                and (dotted_name(node.func) or "").rsplit(".", 1)[-1] == "save"
                and scope.qualified_name(node.func) in TORCH_SAVE
            ):
                target = calls.argument(node, "f", _SAVE_TARGET_INDEX)
                obj = calls.argument(node, "obj", 0)
                if target is not None and obj is not None:
                    found.append(
                        _Save(
                            _literal_names(target.value),
                            _on_cpu(context, obj.value, function),
                        )
                    )
            stack.extend((child, function) for child in iter_children(node))
        return found

    return context.fact("checkpoint_loads.saves", compute)


def _literal_names(expr: cst.CSTNode) -> frozenset[str]:
    found = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        value = calls.string_literal(node) if isinstance(node, cst.BaseExpression) else None
        if value is not None:
            name = os.path.basename(value.strip("/"))
            if "." in name:  # a file name, not a folder or a format string part
                found.add(name)
            continue
        stack.extend(iter_children(node))
    return frozenset(found)


def _on_cpu(
    context: FileContext, obj: cst.BaseExpression, function: cst.FunctionDef | None
) -> bool:
    """The saved object is moved to the CPU: ``.cpu()`` / ``.to("cpu")`` in it, or in the
    one value the name it is saved under was assigned in the same function."""
    if _has_cpu_move(obj):
        return True
    if isinstance(obj, cst.Name):
        root = function.body if function is not None else context.module
        values = calls.assigned_values(root, obj.value)
        return bool(values) and all(_has_cpu_move(v) for v in values)
    return False


def _has_cpu_move(expr: cst.CSTNode) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            attr = node.func.attr.value
            if attr == "cpu":
                return True
            if attr == "to" and any(calls.string_literal(a.value) == "cpu" for a in node.args):
                return True
        stack.extend(iter_children(node))
    return False


# --- the code runs without CUDA ------------------------------------------------------------


def non_cuda_evidence(context: FileContext) -> str | None:
    """Where this file shows it runs without CUDA, in words (the first place), or None.

    A minimal version of the device rules' fact: ``torch.cuda.is_available()`` asked, a
    device selected (``torch.device(<not a literal "cuda">)``, ``best_device()``), a
    ``--device`` / ``--cpu`` / ``--no-cuda`` option, or ``"cpu"`` / ``"mps"`` as a device;
    or nothing in the file mentions CUDA or a GPU at all (a conversion script, a library
    function that loads weights: it runs wherever it is called).
    """

    def compute(context: FileContext) -> str | None:
        source = context.source
        option = _DEVICE_OPTIONS.search(source)
        candidates: list[tuple[int, str]] = []
        if option is not None:
            line = source.count("\n", 0, option.start()) + 1
            words = f"this file has a `{option.group(0)[1:-1]}` option at line {line}"
            candidates.append((line, words))
        if "is_available" in source or "device" in source or "mps" in source:
            found = _device_selection(context)
            if found is not None:
                candidates.append(found)
        if candidates:
            return min(candidates)[1]
        if "cuda" not in source.lower() and "gpu" not in source.lower():
            return "nothing in this file asks for CUDA (it runs on the CPU as well)"
        return None

    return context.fact("checkpoint_loads.non_cuda", compute)


def _device_selection(context: FileContext) -> tuple[int, str] | None:
    scope = context.module_scope
    lines = _LineFinder(context)
    stack: list[cst.CSTNode] = [context.module]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            name = dotted_name(node.func) or ""
            last = name.rsplit(".", 1)[-1]
            if last in ("is_available", "device", "best_device") or last.endswith("_device"):
                qualified = scope.qualified_name(node.func) or ""
                if qualified == "torch.cuda.is_available":
                    return lines.find(node, "asks `torch.cuda.is_available()`")
                if qualified.endswith("best_device"):
                    return lines.find(node, "selects its device with `best_device()`")
                if qualified == "torch.device" and node.args:
                    value = calls.string_literal(node.args[0].value)
                    if value is None or value.split(":")[0] in ("cpu", "mps", "xpu"):
                        return lines.find(node, "selects its device")
        stack.extend(reversed(list(iter_children(node))))
    return None


class _LineFinder:
    """The line of a node, found by its text (the walk has no positions)."""

    def __init__(self, context: FileContext) -> None:
        self.context = context

    def find(self, node: cst.CSTNode, words: str) -> tuple[int, str]:
        text = self.context.module.code_for_node(node)
        offset = self.context.source.find(text)
        if offset < 0:
            return (1 << 30, f"this file {words}")
        line = self.context.source.count("\n", 0, offset) + 1
        return (line, f"this file {words} at line {line}")
