"""TL701 load-not-weights-only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import (
    TORCH_LOAD,
    round_trips,
    saved_by_callback,
    ships_with_code,
)
from torchlint.analysis.loaded_objects import object_use
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid

if TYPE_CHECKING:
    from torchlint.context import FileContext

MAP_LOCATION_INDEX = 1
PICKLE_MODULE_INDEX = 2
WEIGHTS_ONLY_SINCE = (1, 13)
WEIGHTS_ONLY_DEFAULT_SINCE = (2, 6)  # torch.load's weights_only defaults to True from here


WHOLE_OBJECT = (
    "{use} uses the loaded object as a model or other pickled object, which "
    "`weights_only=True` refuses: save its `state_dict()` and load that into a new instance, "
    "or allow its classes with `torch.serialization.add_safe_globals`"
)


SERIALIZATION_MODULES = frozenset({"torch", "torch.serialization"})


class TorchLoadRule(Rule):
    """Base of the rules about ``torch.load`` calls: finds them cheaply.

    Resolving the name of every call is the expensive part of a walk, so a bare-name call is
    resolved only when an import earlier in the file could have bound it to ``torch.load``.
    """

    def __init__(self, context: FileContext) -> None:
        super().__init__(context)
        self.aliases: set[str] = set()

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self.aliases.update(calls.from_import_aliases(node, SERIALIZATION_MODULES, "load"))

    def torch_load_call(self, node: cst.Call) -> bool:
        """A call of QN ``torch.load`` (an alias too) with no ``**kwargs``, which could hide
        anything."""
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value != "load":
                return False
        elif not isinstance(func, cst.Name) or func.value not in self.aliases:
            return False
        if any(arg.star == "**" for arg in node.args):
            return False
        return self.qualified_name(func) in TORCH_LOAD


class LoadNotWeightsOnly(TorchLoadRule):
    """
    ## What it does
    Reports `torch.load` called without `weights_only` in a project whose declared torch
    range starts before 2.6 (where the default is `False`).

    ## Why is this bad?
    Without `weights_only=True`, `torch.load` unpickles the file: a checkpoint downloaded
    from the internet (or replaced on a shared disk) can run arbitrary code on the machine
    that loads it. `weights_only=True` restricts unpickling to tensors, primitive types and
    dictionaries, which is all a `state_dict` needs. Its default changed from `False` to
    `True` in torch 2.6; saying it explicitly keeps the code safe on older versions and makes
    the intent clear.

    A load in a function that allow-lists classes for the weights-only unpickler
    (`torch.serialization.safe_globals`, `add_safe_globals`) is written for the 2.6 default
    on purpose and is not reported. Any explicit value is taken as a deliberate choice: `weights_only=False` (most often
    written because the file holds more than tensors) or `weights_only=args.trusted`.

    Not reported:
    - a missing `weights_only` when `target-version` is 2.6 or newer: from torch 2.6 the
      default is `True`, so every torch the project supports already loads safely;
    - a load that reads back what the same code just wrote: `torch.save(x, buffer)` then
      `torch.load(buffer)` in the same function (a clone through `io.BytesIO`, a temporary
      file, a test that saves and reloads), or a string-literal path this file also saves
      to (a script resuming from its own checkpoint), or the checkpoint the run's own
      checkpoint callback just saved (`torch.load(checkpoint.best_model_path)` after
      Lightning's `trainer.fit`). No one else wrote those bytes.
      A path from the command line, a download or a function parameter is always reported,
      whatever `map_location` says;
    - a file that ships next to the code: a path built from `__file__`
      (`Path(__file__).parent / "weights" / f"{name}.pth"`, directly or through a name every
      assignment of which starts there). Whoever can replace those bytes can replace the
      code that loads them. A path that may come from elsewhere (`args.ckpt or default`)
      is still reported.

    Reported for a missing `weights_only` only where the project declares the torch it
    supports (`target-version`, or a requirement torchlint reads: pyproject, `setup.py`,
    `setup.cfg`, requirements or conda files) and that range starts between 1.13 and 2.6:
    there the call is unsafe, and from torch 2.4 it also warns (`FutureWarning`). Not
    reported with a declared floor before 1.13 either: `weights_only` does not exist there,
    so the change would break a supported torch.

    With no declared range, a missing `weights_only` is not reported: the code is taken to
    run on a current torch, where the default is already `True`. That is the evidence: on
    the ecosystem projects that declare no torch range, 4 of 24 labelled reports were worth
    a change (strict labels, LABELLING.md); most resumed a checkpoint the same script
    writes. Where the range was declared and started between 1.13 and 2.6, all 5 labelled
    reports were. To hear about every load, declare the range (`target-version = "2.1"`).

    Where the loaded object is used as a whole model in the same function (`model =
    torch.load(path)` then `model.eval()` or `model(x)`), the message says so:
    `weights_only=True` would refuse that file, so the change to make is saving the model's
    `state_dict()` (or allow-listing its classes with
    `torch.serialization.add_safe_globals`).

    Opt-in (`extend-select = ["TL701"]`): on the projects of the unseen rounds (2026-12 to
    2026-12-07d), 15 of 17 labelled reports that it still makes were worth a change (strict
    labels, LABELLING.md); the others were tutorial notebooks that cannot run on any torch
    the project supports. On the next two rounds it was right 3 of 20 times (2026-12-07e:
    Lightning recipes reloading the checkpoint their own `ModelCheckpoint` wrote, no longer
    reported, and an `eval.py` whose checkpoint holds a `TorchVersion`) and 14 of 20
    (2026-12-07f: checkpoints that hold a project class or an OmegaConf config, so
    `weights_only=True` would refuse them, and a test reloading what it saved through a
    callback), and 7 of 9 on 2026-12-07g (fairseq checkpoints that hold an argparse
    `Namespace`). All are under the 90 % a default rule must reach: whether a file holds
    only tensors is often decided in another file.

    ## Example
    ```python
    state = torch.load("checkpoint.pt")
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", weights_only=True)
    ```

    Before the missing-argument case followed the declared range (above), on the 11
    projects of round 2026-12, 3 of 16 sampled reports were worth a change, most of them
    in projects with no declared range.

    ## Fix safety
    Unsafe: loading a file that holds arbitrary Python objects (a whole pickled model,
    custom classes) now raises; such files need `torch.serialization.add_safe_globals` or a
    switch to saving `state_dict()`. No fix is offered when `pickle_module` is given (the
    two do not combine) or when the target torch version predates `weights_only` (1.13).
    Nor where the loaded object is used as a model or another arbitrary object (called,
    `.eval()`, any attribute a dict does not have): `weights_only=True` would make that
    load fail, so the message says what to do instead (save a `state_dict`, or allow the
    classes with `torch.serialization.add_safe_globals`).

    ## References
    - https://pytorch.org/docs/stable/generated/torch.load.html
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html
    - https://docs.python.org/3/library/pickle.html (the warning at the top)
    """

    code = "TL701"
    name = "load-not-weights-only"
    default = False
    applies_to_tests = True
    summary = "`torch.load` without `weights_only=True` can run arbitrary code from the file"
    fix_applicability = Applicability.UNSAFE
    requires = ("load",)
    examples = (
        Invalid(
            """
            import torch
            state = torch.load("checkpoint.pt")
            """,
            fixed="""
            import torch
            state = torch.load("checkpoint.pt", weights_only=True)
            """,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import torch
            model = torch.load("model.pt")
            predictions = model(x)
            encoder = torch.load("encoder.pt").eval()
            """,
            fixed=None,
            count=2,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import torch
            def restore(model, path):
                checkpoint = torch.load(path)
                model.load_state_dict(checkpoint["model"])
                return checkpoint.get("epoch", 0)
            """,
            fixed="""
            import torch
            def restore(model, path):
                checkpoint = torch.load(path, weights_only=True)
                model.load_state_dict(checkpoint["model"])
                return checkpoint.get("epoch", 0)
            """,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            from torch import load as tl
            def restore(model, path):
                model.load_state_dict(
                    tl(
                        path,
                        map_location="cpu",
                    )
                )
            """,
            fixed="""
            from torch import load as tl
            def restore(model, path):
                model.load_state_dict(
                    tl(
                        path,
                        map_location="cpu",
                        weights_only=True,
                    )
                )
            """,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import dill
            import torch
            obj = torch.load(path, pickle_module=dill)
            """,
            fixed=None,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import io
            import torch
            def fetch(response, path):
                torch.save(torch.zeros(1), "cache.pt")
                first = torch.load(io.BytesIO(response.content))
                return first, torch.load(path, map_location="cpu")
            """,
            fixed="""
            import io
            import torch
            def fetch(response, path):
                torch.save(torch.zeros(1), "cache.pt")
                first = torch.load(io.BytesIO(response.content), weights_only=True)
                return first, torch.load(path, map_location="cpu", weights_only=True)
            """,
            count=2,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import os
            import torch
            def weights(args):
                default = os.path.join(os.path.dirname(__file__), "weights.pt")
                return torch.load(args.checkpoint or default, map_location="cpu")
            def named(name):
                path = os.path.dirname(__file__)
                path = name
                return torch.load(path)
            """,
            fixed="""
            import os
            import torch
            def weights(args):
                default = os.path.join(os.path.dirname(__file__), "weights.pt")
                return torch.load(args.checkpoint or default, map_location="cpu", weights_only=True)
            def named(name):
                path = os.path.dirname(__file__)
                path = name
                return torch.load(path, weights_only=True)
            """,
            count=2,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import os
            from pathlib import Path
            import torch
            def packaged(conf):
                path = Path(__file__).parent
                path = path / f"weights/{conf.weights}.pth"
                return torch.load(str(path), map_location="cpu")
            def best(trainer, checkpoint, system):
                trainer.fit(system)
                state = torch.load(checkpoint.best_model_path)
                return torch.load(trainer.checkpoint_callback.last_model_path)
            HERE = os.path.dirname(os.path.abspath(__file__))
            table = torch.load(os.path.join(os.path.dirname(__file__), "table.pt"))
            """,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            state = torch.load(path, weights_only=True)
            other = torch.load(path, weights_only=flag)
            legacy = torch.load(path, map_location="cpu", weights_only=False)
            """,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            state = torch.load(path, map_location="cpu")
            """,
            settings={"target-version": "2.6"},
        ),
        Valid(
            """
            import torch
            state = torch.load(path, map_location="cpu")
            """
        ),
        Valid(
            """
            from contextlib import nullcontext
            import numpy as np
            import torch
            def load_cavs(path):
                if hasattr(torch.serialization, "safe_globals"):
                    context = torch.serialization.safe_globals([np.ndarray])
                else:
                    context = nullcontext()
                with context:
                    return torch.load(path)
            """,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            state = torch.load(path)
            """,
            settings={"target-version": "1.12"},
        ),
        Valid(
            """
            import io
            import tempfile
            import torch
            def clone(module):
                with io.BytesIO() as buffer:
                    torch.save(module, buffer)
                    buffer.seek(0)
                    return torch.load(buffer)
            def reload(checkpoint, model):
                with tempfile.NamedTemporaryFile() as file:
                    torch.save(checkpoint, file.name)
                    model.load_state_dict(torch.load(file.name))
            """
        ),
        Valid(
            """
            import torch
            if resume:
                state = torch.load("./checkpoint/ckpt.pth")
            def save(state):
                torch.save(state, "./checkpoint/ckpt.pth")
            """
        ),
        Valid(
            """
            def load(path):
                return open(path).read()
            data = load("notes.txt")
            """
        ),
        Valid(
            """
            from pickle import load
            with open(path, "rb") as f:
                data = load(f)
            """
        ),
        Valid(
            """
            import torch
            def restore(torch, path):
                return torch.load(path)
            """
        ),
        Valid(
            """
            import torch
            model = torch.hub.load("pytorch/vision", "resnet18")
            """
        ),
        Valid(
            """
            import torch
            def restore(path, **options):
                return torch.load(path, **options)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not self.torch_load_call(node):
            return
        if calls.keyword(node, "weights_only") is not None:
            return  # an explicit value is a choice
        if not self._missing_flag_matters() or self._allow_lists_globals():
            return
        if id(node) in round_trips(self.context).loads or saved_by_callback(node):
            return
        if "__file__" in self.context.source and ships_with_code(
            self.context, node, self._enclosing_function()
        ):
            return
        use = object_use(self.context, node)
        if use is not None:  # a whole pickled object: `weights_only=True` would fail to load it
            self.report(node, f"{self.summary}; {WHOLE_OBJECT.format(use=use)}")
            return
        self.report(node, fix=self._fix(node))

    def _allow_lists_globals(self) -> bool:
        """The enclosing function (or the module) allow-lists classes for the weights-only
        unpickler (`torch.serialization.safe_globals` / `add_safe_globals`): the load was
        written for the torch 2.6 default, deliberately, on every version it handles."""
        if "safe_globals" not in self.context.source:
            return False  # cheap: rendering the function is needed only when it may say so
        return "safe_globals" in self.context.code_for(self._enclosing_function())

    def _enclosing_function(self) -> cst.CSTNode:
        """The function the visited call is in, or the module."""
        return next(
            (a for a in reversed(self.context.ancestors) if isinstance(a, cst.FunctionDef)),
            self.context.module,
        )

    def _missing_flag_matters(self) -> bool:
        """Whether a missing ``weights_only`` is worth a change on the declared torch range.

        Only a declared range decides: from 2.6 the default is ``True`` (nothing to change);
        before 1.13 the argument does not exist (nothing to pass); in between the call is
        unsafe and, from 2.4, warns. With no declared range the code is taken to run on a
        current torch, where the default is already safe (see the docs for the evidence).
        """
        oldest = self.context.settings.target_version
        return oldest is not None and WEIGHTS_ONLY_SINCE <= oldest < WEIGHTS_ONLY_DEFAULT_SINCE

    def _fix(self, node: cst.Call):
        pickle_module = calls.argument(node, "pickle_module", PICKLE_MODULE_INDEX)
        if pickle_module is not None or calls.has_star_args(node):
            return None
        new = calls.add_keyword(node, "weights_only", "True")
        return self.fix(Applicability.UNSAFE, "Add `weights_only=True`", Replace(node, new))
