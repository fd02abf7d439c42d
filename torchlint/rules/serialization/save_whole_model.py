"""TL702 save-whole-model.

The model-like test here is small and self-contained (names, same-scope assignments from
module constructors, annotations); only the model-like *names* come from the TL3 analysis
(``flow.model_named``). The rest stays apart on purpose: TL3's "model" means a module whose
train/eval mode matters (dropout, batch norm, containers) and counts names that had
``.parameters()`` or ``.state_dict()`` called on them, while anything ``torch.nn`` builds is
a model worth saving by its ``state_dict()`` here, and a ``.state_dict()`` value is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import TORCH_LOAD, TORCH_SAVE, round_trips
from torchlint.analysis.datasets import return_values
from torchlint.analysis.flow import model_named
from torchlint.diagnostics import Applicability
from torchlint.names import dotted_name
from torchlint.rules.base import Invalid, Replace, Rule, Valid
from torchlint.rules.serialization.load_not_weights_only import SERIALIZATION_MODULES

if TYPE_CHECKING:
    from torchlint.context import FileContext

LIGHTNING_MODULES = frozenset(
    {
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "pytorch_lightning.LightningModule",
    }
)
_NOT_MODULE_PACKAGES = frozenset({"functional", "init", "utils", "parameter", "attention"})
_NOT_MODULES = frozenset({"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"})
_NOT_VISION_MODELS = frozenset(
    {"get_weight", "list_models", "get_model_weights", "get_model_builder"}
)
_NOT_MODEL_VALUES = (
    cst.Dict,
    cst.DictComp,
    cst.List,
    cst.ListComp,
    cst.Tuple,
    cst.Set,
    cst.SimpleString,
    cst.ConcatenatedString,
    cst.FormattedString,
    cst.Integer,
    cst.Float,
)


def is_module_class(qualified: str) -> bool:
    """``torch.nn.Linear``, ``torch.nn.Module``, ``LightningModule``; not ``nn.Parameter``."""
    if qualified in LIGHTNING_MODULES:
        return True
    if not qualified.startswith("torch.nn."):
        return False
    parts = qualified.split(".")
    last = parts[-1]
    return (
        last[:1].isupper()
        and last not in _NOT_MODULES
        and not _NOT_MODULE_PACKAGES.intersection(parts[2:-1])
    )


def is_model_constructor(qualified: str) -> bool:
    if qualified.startswith("torchvision.models."):
        last = qualified.rsplit(".", 1)[-1]
        return last not in _NOT_VISION_MODELS and not last.endswith("Weights")
    return is_module_class(qualified)


class SaveWholeModel(Rule):
    """
    ## What it does
    Reports `torch.save(m, ...)` where `m` is a model (an `nn.Module`): named `model`, `net`,
    `network`, `*_model` or `*_net`, annotated as an `nn.Module`, or assigned from an
    `nn.Module` constructor in the same function.

    A function parameter counts only by its annotation, never by its name (`def
    save_to_file(path, model)` is handed state dicts as often as models), and a value
    from `torch.load` or from a same-file function that returns only dicts is not a model
    (conversion scripts re-save checkpoint dicts): on the projects of round 2026-12-07c
    all 9 labelled reports were such dicts.

    Not reported for a clone in memory: the model saved into an `io.BytesIO` and loaded
    back from it in the same function (`copy.deepcopy` does not work on every module). No
    file is left behind, so no class path can go stale.

    ## Why is this bad?
    Saving the module object pickles it, and a pickle stores only a reference to the class:
    loading needs the exact same class at the exact same import path. Renaming or moving a
    file, refactoring the class or upgrading a library breaks every old checkpoint. Loading
    it also needs `weights_only=False`, which lets the file run arbitrary code (see TL701).
    The `state_dict()` holds just the tensors, loads with `weights_only=True` and works with
    any compatible model definition.

    Opt-in (`extend-select = ["TL702"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 0 of 2 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md), under the 90 % a default rule must reach; the others were
    dictionaries of tensors saved under a model-like name; before the narrowing of this round,
    0 of 15.

    ## Example
    ```python
    torch.save(model, "model.pt")
    ```

    ## Use instead
    ```python
    torch.save(model.state_dict(), "model.pt")
    # later: model = Net(); model.load_state_dict(torch.load("model.pt", weights_only=True))
    ```

    ## Fix safety
    Display only: the code that loads the file must change too (build the model, then
    `load_state_dict`), which torchlint cannot do for you.

    ## References
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html
    - https://pytorch.org/docs/stable/notes/serialization.html
    """

    code = "TL702"
    default = False
    name = "save-whole-model"
    applies_to_tests = False
    summary = "`torch.save` of a whole model pickles its class; save its `state_dict()`"
    fix_applicability = Applicability.DISPLAY
    requires = ("save",)
    examples = (
        Invalid(
            """
            import torch
            torch.save(model, "model.pt")
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                pass
            def train(path):
                classifier = Net()
                torch.save(classifier, path)
            """
        ),
        Invalid(
            """
            from torch import save, nn
            def export(m: nn.Module, path):
                save(m, path)
            """
        ),
        Invalid(
            """
            import torch
            import torchvision
            class Trainer:
                def checkpoint(self, path):
                    torch.save(self.teacher_model, path)
                    backbone = torchvision.models.resnet18()
                    torch.save(obj=backbone, f=path)
            """,
            count=2,
        ),
        Invalid(
            """
            import io
            import torch
            from torch import nn
            def upload(model: nn.Module, hub):
                with io.BytesIO() as buffer:
                    torch.save(model, buffer)
                    hub.put(buffer.getvalue())
            """
        ),
        Valid(
            """
            import torch
            def save_to_file(file_name, model, dtype):
                torch.save(model, file_name)  # callers pass a state dict
            crt_net = torch.load(src, weights_only=True)
            crt_net = {k.replace("module.", ""): v for k, v in crt_net.items()}
            torch.save(crt_net, dst)
            """
        ),
        Valid(
            """
            import torch
            torch.save(model.state_dict(), "model.pt")
            torch.save({"model": model.state_dict(), "epoch": 3}, "ckpt.pt")
            """
        ),
        Valid(
            """
            import io
            import torch
            def clone_module(module):
                with io.BytesIO() as bytesio:
                    torch.save(module, bytesio)
                    bytesio.seek(0)
                    return torch.load(bytesio, weights_only=False)
            """
        ),
        Valid(
            """
            import torch
            def save(model, path):
                model = model.state_dict()
                torch.save(model, path)
            """
        ),
        Valid(
            """
            import torch
            def convert_weights(checkpoint):
                result = dict()
                result["state_dict"] = {k: v for k, v in checkpoint.items()}
                return result
            def merge(checkpoint):
                return {"meta": {}, "state_dict": convert_weights(checkpoint)}
            converted_model = convert_weights(torch.load(src, weights_only=True))
            torch.save(converted_model, dst)
            merged_model = merge(converted_model)
            torch.save(merged_model, dst)
            """
        ),
        Invalid(
            """
            import torch
            from torch import nn
            def build_model():
                model = nn.Linear(2, 2)
                return model
            def pick(flag):
                if flag:
                    return {}
                return build_model()
            model = build_model()
            torch.save(model, "model.pt")
            picked_model = pick(flag)
            torch.save(picked_model, "model.pt")
            """,
            fixed=None,
            count=2,
        ),
        Valid(
            """
            import torch
            def export(model: dict, path):
                torch.save(model, path)
            """
        ),
        Valid(
            """
            import pickle
            def save(obj, f):
                pickle.dump(obj, f)
            save(model, f)
            """
        ),
        Valid(
            """
            import torch
            def store(torch, model):
                torch.save(model, "m.pt")
            """
        ),
        Valid(
            """
            import torch
            def store(*args):
                torch.save(*args)
            torch.save(weights, "w.pt")
            """
        ),
    )

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.aliases: set[str] = set()  # names imports bound to `torch.save`

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.aliases.update(calls.from_import_aliases(node, SERIALIZATION_MODULES, "save"))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value != "save":
                return
        elif not isinstance(func, cst.Name) or func.value not in self.aliases:
            return
        if self.qualified_name(func) not in TORCH_SAVE or calls.has_star_args(node):
            return
        obj = calls.argument(node, "obj", 0)
        if obj is None or not self._model_like(obj.value):
            return
        if id(node) in round_trips(self.context).buffer_saves:
            return
        text = self.context.code_for(obj.value)
        fix = self.fix(
            Applicability.DISPLAY,
            f"Save `{text}.state_dict()` instead",
            Replace(obj.value, f"{text}.state_dict()"),
        )
        self.report(node, fix=fix)

    def _model_like(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            return self._constructs_model(expr)
        text = dotted_name(expr)
        if text is None:
            return False
        if text.endswith(".module"):  # `model.module`: the model inside DataParallel/DDP
            text = text[: -len(".module")]
        parts = text.split(".")
        by_name = model_named(text)
        if len(parts) == 1:
            annotation = self._annotation(text)
            if annotation is not None:
                return annotation
            values = self._values_of_name(text)
            # a parameter's name says nothing of what callers pass (`save_to_file(path,
            # model=state_dict)`): only what is assigned to it in the function counts
            by_name = by_name and self._parameter(text) is None
        elif len(parts) == 2 and parts[0] == "self":
            cls = next(
                (a for a in reversed(self.context.ancestors) if isinstance(a, cst.ClassDef)), None
            )
            values = [] if cls is None else calls.assigned_values(cls, text, nested=True)
        else:
            values = []
        if any(self._not_model(value) for value in values):
            return False
        if by_name:
            return True
        return any(
            isinstance(value, cst.Call) and self._constructs_model(value) for value in values
        )

    def _parameter(self, name: str) -> cst.Param | None:
        """The enclosing function's parameter called ``name``, if it is one."""
        node = self.context.scope.node
        if not isinstance(node, cst.FunctionDef):
            return None
        params = node.params
        return next(
            (
                param
                for param in (*params.posonly_params, *params.params, *params.kwonly_params)
                if param.name.value == name
            ),
            None,
        )

    def _values_of_name(self, name: str) -> list[cst.BaseExpression]:
        scope = self.context.scope
        while scope.is_class and scope.parent is not None:
            scope = scope.parent
        if name not in scope.bindings and scope is not self.context.module_scope:
            scope = self.context.module_scope
        return calls.assigned_values(scope.node, name)

    def _annotation(self, name: str) -> bool | None:
        """For an annotated parameter: whether the annotation is a module class."""
        param = self._parameter(name)
        if param is None or param.annotation is None:
            return None
        annotation = param.annotation.annotation
        if isinstance(annotation, cst.Name) and annotation.value in self._local_modules():
            return True
        qualified = self.qualified_name(annotation)
        return qualified is not None and is_module_class(qualified)

    def _constructs_model(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Name) and func.value in self._local_modules():
            return True
        qualified = self.qualified_name(func)
        return qualified is not None and is_model_constructor(qualified)

    def _not_model(self, value: cst.BaseExpression, depth: int = 0) -> bool:
        """Values that are certainly not a module: literals, containers, state dicts, and
        what a same-file function returns when each of its returns is one of those
        (`converted = convert_weights(ckpt)` in a conversion script)."""
        if isinstance(value, _NOT_MODEL_VALUES):
            return True
        if isinstance(value, cst.Call):
            func = dotted_name(value.func) or ""
            if "state_dict" in self.context.code_for(value) or func.rsplit(".", 1)[-1] in {
                "dict",
                "OrderedDict",
            }:
                return True
            if self.qualified_name(value.func) in TORCH_LOAD:
                return True  # a loaded file re-saved: a checkpoint dict far more often than not
            return depth < 2 and self._returns_no_model(func, depth)
        return False

    def _returns_no_model(self, name: str, depth: int) -> bool:
        """Whether the module-level function ``name`` returns only values that are not a
        module (a returned name counts by every value it is assigned in the function)."""
        function = next(
            (
                statement
                for statement in self.context.module.body
                if isinstance(statement, cst.FunctionDef) and statement.name.value == name
            ),
            None,
        )
        values = None if function is None else return_values(function)
        if not values:
            return False
        for value in values:
            if isinstance(value, cst.Name):
                assigned = calls.assigned_values(function, value.value)
                if not assigned or not all(self._not_model(v, depth + 1) for v in assigned):
                    return False
            elif not self._not_model(value, depth + 1):
                return False
        return True

    def _local_modules(self) -> frozenset[str]:
        return self.context.fact(
            "save_whole_model.module_classes",
            lambda c: calls.local_subclasses(c.module, c.module_scope, is_module_class),
        )
