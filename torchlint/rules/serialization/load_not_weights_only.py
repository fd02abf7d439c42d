"""TL701 load-not-weights-only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoints import (
    TORCH_LOAD,
    refused_formats,
    round_trips,
    saved_by_callback,
    ships_with_code,
)
from torchlint.analysis.loaded_objects import (
    config_item_use,
    handed_over,
    keys_read,
    object_use,
)
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
    "or, from torch 2.4, allow its classes with `torch.serialization.add_safe_globals`"
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
      to (a script resuming from its own checkpoint), or a path that spells a checkpoint
      file name this file also saves to, in whatever directory
      (`torch.load("saved_models/%s/G_%d.pth" % (name, epoch))`,
      `torch.load(os.path.join(args.load_dir, "best.pth"))` in a script that saves
      `best.pth`; a `.pt`, `.pth`, `.ckpt`, `.bin`, `.tar` or `.pkl` name), or the checkpoint the run's own
      checkpoint callback just saved (`torch.load(checkpoint.best_model_path)` after
      Lightning's `trainer.fit`). No one else wrote those bytes.
      A closure counts too: `torch.load(os.path.join(log_path, "policy.pth"))` in one
      nested function after another nested function of the same enclosing function saved
      to that path (a test's `save_best_fn` and `watch`), unless the closure binds a name
      of the path itself (a parameter, an assignment).
      A path from the command line, a download or a function parameter is always reported,
      whatever `map_location` says;
    - a checkpoint that holds objects `weights_only=True` refuses, so the argument cannot be
      added and nothing changes for the better: every key the load reads (`checkpoint["model"]`)
      is a key of a checkpoint dict this file, or another file of the project (the project
      index: `torch.save(checkpoint, filename)` in the trainer), saves next to such an object (the parsed command
      line `args`/`opt`/`hparams`, `torch.__version__`, an OmegaConf config in a file that
      imports `omegaconf`, the result of a call not known to return tensors, numbers or
      strings such as `envs.get_obs_rms()`); or an item that keeps the run's configuration is
      used as an object (`checkpoint["args"].arch`, `vars(ckpt["opt"])`,
      `OmegaConf.to_yaml(pkg["xp.cfg"])`, or handed to a helper of a file that works with
      OmegaConf). A load that reads a key the format does not have, or none, is reported;
    - a checkpoint handed on whole, and only, to code that decides what it holds, which
      torchlint cannot see load a state dict: another package's loader
      (`fairseq.checkpoint_utils.load_model_ensemble_and_task({path: state})`), a project
      helper whose text never says `load_state_dict` (the project index:
      `save_publishable(publish_dir, model_dict)`), or a method of the same class that does
      not. Whether `weights_only=True` can load that file is decided there. Reported as
      before where the helper (of the project, or this file) loads a state dict, where the
      code also reads the checkpoint itself, and where the receiver is unknown
      (`engine.restore(torch.load(path))`);
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
    `state_dict()` (or, from torch 2.4, allow-listing its classes with
    `torch.serialization.add_safe_globals`); no fix is offered there. Where the file holds
    such objects next to the weights (see above), nothing is reported: `True` cannot be
    added, and an explicit `weights_only=False` would only quiet the `FutureWarning` of
    torch 2.4 and 2.5 (strict labels counted those reports as not worth a change).

    It was opt-in until round 2026-12-08c: on the projects of the unseen rounds (2026-12 to
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
    The narrowings above (a checkpoint that holds refused objects, one handed whole to code
    that decides what it holds, the file's own checkpoint by name or through a closure)
    answer those families: on the 114 tuning projects, 42 of 46 labelled reports are now
    worth a change (before them: 42 of 58), no true one given up. The rest: tutorial
    notebooks that cannot run, a recipe reading the path of its best checkpoint from a JSON
    listing, a cache class reading back dataclasses it wrote.

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

    On round 2026-12-07h (16 projects fetched fresh, strict labels), before the latest
    narrowings above, it was right 4 of 10 times (checkpoints holding project objects
    `weights_only=True` refuses; tests reloading a tensor they saved). Those narrowings were
    made after that round was fetched and partly with its labels in view: it no longer
    measures them, the next round will.

    On by default since round 2026-12-08c. On the two rounds fetched after those narrowings
    that it fired on, it was right 10 of 10 times, in three projects (2026-12-08a: 5 of 5,
    a test reloading a state dict where its sibling test already passes
    `weights_only=True`; 2026-12-08c: 5 of 5, resumes and pretrained weights read from a
    user's path in projects that declare `torch>=2.0.1` or pin 1.13). A code joins the
    default set at 90 % or better, on at least 10 labels from at least 3 projects, on rounds
    fetched after its latest change.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.load.html
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html
    - https://docs.python.org/3/library/pickle.html (the warning at the top)
    """

    code = "TL701"
    name = "load-not-weights-only"
    default = True
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
        Invalid(
            """
            import os
            import torch
            def test_policy(args, algorithm):
                log_path = os.path.join(args.logdir, "policy")
                def save_best(policy):
                    torch.save(policy.state_dict(), os.path.join(log_path, "policy"))
                def restore(log_path):
                    return torch.load(os.path.join(log_path, "policy"))
                return save_best, restore
            def save(policy, envs, path):
                torch.save({"model": policy.state_dict(), "obs_rms": envs.get_obs_rms()}, path)
            def finetune(policy, path):
                checkpoint = torch.load(path)
                policy.load_state_dict(checkpoint["state_dict"])
            def save_plain(model, epoch, path):
                torch.save({"weights": model.state_dict(), "epoch": epoch + 1}, path)
            def resume(model, path):
                checkpoint = torch.load(path)
                model.load_state_dict(checkpoint["weights"])
                return checkpoint["epoch"], checkpoint["args"].keys()
            """,
            fixed="""
            import os
            import torch
            def test_policy(args, algorithm):
                log_path = os.path.join(args.logdir, "policy")
                def save_best(policy):
                    torch.save(policy.state_dict(), os.path.join(log_path, "policy"))
                def restore(log_path):
                    return torch.load(os.path.join(log_path, "policy"), weights_only=True)
                return save_best, restore
            def save(policy, envs, path):
                torch.save({"model": policy.state_dict(), "obs_rms": envs.get_obs_rms()}, path)
            def finetune(policy, path):
                checkpoint = torch.load(path, weights_only=True)
                policy.load_state_dict(checkpoint["state_dict"])
            def save_plain(model, epoch, path):
                torch.save({"weights": model.state_dict(), "epoch": epoch + 1}, path)
            def resume(model, path):
                checkpoint = torch.load(path, weights_only=True)
                model.load_state_dict(checkpoint["weights"])
                return checkpoint["epoch"], checkpoint["args"].keys()
            """,
            count=3,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import os
            import torch
            def test_policy(args, algorithm):
                log_path = os.path.join(args.logdir, "policy")
                def save_best(policy):
                    torch.save(policy.state_dict(), os.path.join(log_path, "policy.pth"))
                def watch():
                    algorithm.load_state_dict(torch.load(os.path.join(log_path, "policy.pth")))
                return save_best, watch
            """,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            def save_best(policy, envs, log_path):
                state = {"model": policy.state_dict(), "obs_rms": envs.get_obs_rms()}
                torch.save(state, log_path)
            def save_checkpoint(model, args, path):
                torch.save(dict(model=model.state_dict(), args=args, torch=torch.__version__), path)
            def resume(policy, envs, resume_path):
                checkpoint = torch.load(resume_path, map_location="cpu")
                policy.load_state_dict(checkpoint["model"])
                envs.set_obs_rms(checkpoint["obs_rms"])
            def finetune(model, path):
                model.load_state_dict(torch.load(path, map_location="cpu")["model"])
            """,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            from omegaconf import OmegaConf as OC
            def export_lm(checkpoint_path):
                pkg = torch.load(checkpoint_path, "cpu")
                return {"best_state": pkg["best_state"], "xp.cfg": OC.to_yaml(pkg["xp.cfg"])}
            def build(path):
                checkpoint = torch.load(path)
                model = make_model(checkpoint["args"].arch)
                model.load_state_dict(checkpoint["model"])
                return model, vars(torch.load(path)["opt"])
            """,
            settings={"target-version": "2.1"},
        ),
        Invalid(
            """
            import torch
            def restore(engine, path):
                engine.restore(torch.load(path))
            def projector(model, path):
                weights = torch.load(path)
                def get_w(weights, keyword):
                    return {k.split(keyword)[1]: v for k, v in weights.items() if keyword in k}
                model.load_state_dict(get_w(weights, "mm_projector."))
            class Trainer:
                def load(self, path):
                    self.restore(torch.load(path))
                def restore(self, pkg):
                    self.model.load_state_dict(pkg["model"])
            """,
            fixed="""
            import torch
            def restore(engine, path):
                engine.restore(torch.load(path, weights_only=True))
            def projector(model, path):
                weights = torch.load(path, weights_only=True)
                def get_w(weights, keyword):
                    return {k.split(keyword)[1]: v for k, v in weights.items() if keyword in k}
                model.load_state_dict(get_w(weights, "mm_projector."))
            class Trainer:
                def load(self, path):
                    self.restore(torch.load(path, weights_only=True))
                def restore(self, pkg):
                    self.model.load_state_dict(pkg["model"])
            """,
            count=3,
            settings={"target-version": "2.1"},
        ),
        Valid(
            """
            import torch
            from fairseq import checkpoint_utils
            def hubert(checkpoint_path):
                checkpoint = torch.load(checkpoint_path)
                inputs = {checkpoint_path: checkpoint}
                models, *_ = checkpoint_utils.load_model_ensemble_and_task(inputs)
                return models[0]
            class Exporter:
                def republish(self, path):
                    self.upload(torch.load(path, map_location="cpu"))
                def upload(self, package):
                    self.hub.push(package)
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
        if self._holds_refused_objects(node) or self._decided_elsewhere(node):
            return
        use = object_use(self.context, node)
        if use is not None:  # a whole pickled object: `weights_only=True` would fail to load it
            self.report(node, f"{self.summary}; {WHOLE_OBJECT.format(use=use)}")
            return
        self.report(node, fix=self._fix(node))

    def _holds_refused_objects(self, node: cst.Call) -> bool:
        """The checkpoint holds objects ``weights_only=True`` refuses, so the flag cannot be
        added and the call stays as it is: an item that keeps the run's configuration is used
        as an object (``checkpoint["args"].arch``), or every key the load reads is one of a
        checkpoint dict this file saves with such an object (``{"model": ..., "obs_rms":
        envs.get_obs_rms()}``): the load reads that format."""
        if config_item_use(self.context, node) is not None:
            return True
        keys = keys_read(self.context, node)
        if not keys:
            return False  # no format to match: the project is not asked (no dependency)
        if any(keys <= saved for saved in refused_formats(self.context)):
            return True
        project = self.context.project
        return project is not None and any(keys <= saved for saved in project.checkpoint_formats())

    def _decided_elsewhere(self, node: cst.Call) -> bool:
        """The checkpoint is only handed on, whole, to code that decides what it holds and
        does not load a state dict from it as far as torchlint can see: another package's
        loader, or a project helper (project index) or a method of this class whose text
        never says ``load_state_dict``."""
        handoffs = handed_over(self.context, node)
        if not handoffs:
            return False
        project = self.context.project
        for handoff in handoffs:
            if handoff.method is not None:
                if "load_state_dict" in self.context.module.code_for_node(handoff.method):
                    return False
            elif project is not None and project.loads_weights(handoff.qualified):
                return False
        return True

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
