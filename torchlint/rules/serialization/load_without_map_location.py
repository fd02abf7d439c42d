"""TL703 load-without-map-location."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.analysis.checkpoint_loads import crossing_load
from torchlint.analysis.devices import cuda_guarded
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Valid
from torchlint.rules.serialization.load_not_weights_only import MAP_LOCATION_INDEX, TorchLoadRule


class LoadWithoutMapLocation(TorchLoadRule):
    """
    ## What it does
    Reports `torch.load` without `map_location` where the file is a checkpoint that can
    cross machines: the loaded object feeds `load_state_dict`, is indexed for `"model"`,
    `"state_dict"`, `"optimizer"` (and the like), or its path comes from a `resume` /
    `checkpoint` / `pretrained` / weights option, the command line, a config or a download;
    and the code runs where the saving GPU may be missing: the file supports another device
    (it asks `torch.cuda.is_available()`, selects a device, has a `--device` / `--cpu` /
    `--no-cuda` option, or never mentions CUDA at all, like a conversion script), or the load
    resumes training (the checkpoint holds an optimizer's state, or the path is a resume
    option). The message says which evidence made it a checkpoint and which made the code
    portable.

    ## Why is this bad?
    Without `map_location`, every tensor is restored onto the device it was saved from. A
    checkpoint written on `cuda:0` then fails to load on a machine without a GPU ("Attempting
    to deserialize object on a CUDA device but torch.cuda.is_available() is False"), and on a
    multi-GPU machine every process loads its copy onto GPU 0, which runs out of memory.
    Loading onto the device the code uses (or the CPU) and moving the model afterwards works
    everywhere. Maintainers fix this often ("Add map_location when loading model
    checkpoint", "Update model release script to work without a CUDA device").

    Not reported, since the load cannot meet a missing GPU or is not a checkpoint:
    - a file the same run wrote a moment before: a `torch.save` earlier in the same script,
      notebook (an earlier cell) or function, to the same path (the same literal, the same
      f-string, `os.path.join` or `Path /` expression, the same name or buffer not bound
      again in between), or a call of a function of this file that saves to the path its arguments
      build (`save_model(model, target_dir="models", model_name="m.pth")`). Same process,
      same machine: the device the tensors were saved from is there, so `map_location`
      changes nothing. Still reported: a save in another function or file, in a branch the
      load does not share (`if args.train:`, `if not os.path.exists(path):` around the
      training), or after the load (a `--resume` path, which may run on another machine),
      and another file name;
    - a file this code writes itself from CPU tensors (`torch.save` of `.cpu()` values to
      the same file name);
    - a file shipped inside the package (a path built from `__file__`, directly, through a
      local name or through a module-level constant);
    - a payload that is not a model's state: no checkpoint evidence, or a path or name that
      says data (`vocab`, `cache`, `features`, `dataset`, `embeddings`, ...);
    - CUDA-only code: a load guarded by `torch.cuda.is_available()`, or a file that uses CUDA
      with no sign of another device;
    - a load whose `map_location` may arrive another way: `**kwargs`, or an enclosing
      function that takes `map_location` itself (a wrapper whose callers choose);
    - test code.

    On the 130 tuning projects (round 2026-12) it reports 204 loads; 12 of the 26 labelled
    are worth a change (conversion scripts for user-supplied checkpoints, `--epoch` /
    `--resume` paths in scripts with a CPU fallback). The rest load files a library's save
    function wrote from CPU tensors, published weights, or sit in a CUDA-only branch. The
    figure on held-out projects is measured separately (see the README).

    ## Example
    ```python
    parser.add_argument("--resume")
    ...
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.load_state_dict(torch.load(args.resume, weights_only=True))
    ```

    ## Use instead
    ```python
    model.load_state_dict(torch.load(args.resume, weights_only=True, map_location=device))
    ```

    Opt-in (`extend-select = ["TL703"]`): on the 11 projects no rule was tuned on
    (round 2026-12, strict labels per LABELLING.md), 10 of 16 sampled reports were worth a
    change, below the 90 % a default rule must reach: the rest resume a script's own checkpoint on the machine that wrote it, load payloads with no CUDA tensors, or sit in CUDA-only scripts.

    ## Fix safety
    Safe for the usual use, restoring a `state_dict`: `load_state_dict` copies the values
    into the model's parameters wherever they live. Code that uses the loaded tensors
    directly gets them on the mapped device instead of the saving device. Where the code has
    a device in scope (a `device` variable or parameter, `self.device`, `args.device`, the
    device of a model the function is given: see TL201), the fix maps onto it,
    `map_location=device`, so the loaded tensors meet the inputs where they are; `"cpu"`
    only where there is none.

    ## References
    - https://pytorch.org/docs/stable/generated/torch.load.html
    - https://pytorch.org/tutorials/beginner/saving_loading_models.html#saving-loading-model-across-devices
    """

    code = "TL703"
    name = "load-without-map-location"
    applies_to_tests = False
    summary = "`torch.load` without `map_location` fails where the saving device is missing"
    default = False
    fix_applicability = Applicability.SAFE
    requires = ("load",)
    examples = (
        Invalid(
            """
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--resume")
            args = parser.parse_args()
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            model.load_state_dict(torch.load(args.resume, weights_only=True))
            """,
            fixed="""
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--resume")
            args = parser.parse_args()
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            model.load_state_dict(torch.load(args.resume, weights_only=True, map_location=device))
            """,
        ),
        Invalid(
            """
            import torch
            def resume(model, optimizer, path):
                checkpoint = torch.load(path, weights_only=True)
                model.load_state_dict(checkpoint["model"])
                optimizer.load_state_dict(checkpoint["optimizer"])
            """,
            fixed="""
            import torch
            def resume(model, optimizer, path):
                device = next(model.parameters()).device
                checkpoint = torch.load(path, weights_only=True, map_location=device)
                model.load_state_dict(checkpoint["model"])
                optimizer.load_state_dict(checkpoint["optimizer"])
            """,
        ),
        Invalid(
            """
            import sys
            from torch import load, save
            state = load(sys.argv[1])
            save({k.removeprefix("module."): v for k, v in state.items()}, sys.argv[2])
            """,
            fixed="""
            import sys
            from torch import load, save
            state = load(sys.argv[1], map_location="cpu")
            save({k.removeprefix("module."): v for k, v in state.items()}, sys.argv[2])
            """,
        ),
        Invalid(
            """
            import torch as th
            class Trainer:
                def restore(self, checkpoint_path):
                    self.model.load_state_dict(th.load(
                        checkpoint_path,
                        weights_only=True,
                    ))
            """,
            fixed="""
            import torch as th
            class Trainer:
                def restore(self, checkpoint_path):
                    self.model.load_state_dict(th.load(
                        checkpoint_path,
                        weights_only=True,
                        map_location="cpu",
                    ))
            """,
        ),
        Invalid(
            """
            import torch
            import torch.serialization
            net.load_state_dict(torch.serialization.load(hf_hub_download(repo, "model.pt")))
            """,
            fixed="""
            import torch
            import torch.serialization
            net.load_state_dict(torch.serialization.load(hf_hub_download(repo, "model.pt"), map_location="cpu"))
            """,
        ),
        Invalid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            torch.save(model.state_dict(), "models/last.pth")
            model.load_state_dict(torch.load("models/best.pth"))
            """,
            fixed="""
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            torch.save(model.state_dict(), "models/last.pth")
            model.load_state_dict(torch.load("models/best.pth", map_location=device))
            """,
        ),
        Invalid(
            """
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--checkpoint")
            args = parser.parse_args()
            def train(model):
                torch.save(model.state_dict(), args.checkpoint)
            def evaluate(model):
                model.load_state_dict(torch.load(args.checkpoint))
            """,
            fixed="""
            import argparse
            import torch
            parser = argparse.ArgumentParser()
            parser.add_argument("--checkpoint")
            args = parser.parse_args()
            def train(model):
                torch.save(model.state_dict(), args.checkpoint)
            def evaluate(model):
                device = next(model.parameters()).device
                model.load_state_dict(torch.load(args.checkpoint, map_location=device))
            """,
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            MODEL_PATH = "models/best.pth"
            for epoch in range(10):
                train(model)
                if evaluate(model) > best:
                    torch.save(model.state_dict(), MODEL_PATH)
            model.load_state_dict(torch.load(MODEL_PATH))
            """
        ),
        Valid(
            """
            from pathlib import Path
            import torch
            device = "cuda" if torch.cuda.is_available() else "cpu"
            def save_model(model, target_dir, model_name):
                path = Path(target_dir)
                path.mkdir(parents=True, exist_ok=True)
                torch.save(obj=model.state_dict(), f=path / model_name)
            save_model(model, target_dir="models", model_name="tinyvgg.pth")
            loaded.load_state_dict(torch.load(f="models/tinyvgg.pth"))
            """
        ),
        Valid(
            """
            import torch
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            def save(model):
                torch.save({k: v.cpu() for k, v in model.state_dict().items()}, "weights.pt")
            def restore(model):
                model.load_state_dict(torch.load("weights.pt"))
            """
        ),
        Valid(
            """
            import io
            import torch
            def clone(model, device):
                buffer = io.BytesIO()
                torch.save(model.state_dict(), buffer)
                buffer.seek(0)
                model.load_state_dict(torch.load(buffer))
            """
        ),
        Valid(
            """
            import torch
            features = torch.load(args.features)
            vocab = torch.load(args.vocab_path)
            stats = torch.load(path)
            """
        ),
        Valid(
            """
            import torch
            model = Net().cuda()
            model.load_state_dict(torch.load(args.weights))
            """
        ),
        Valid(
            """
            import torch
            if torch.cuda.is_available():
                model.load_state_dict(torch.load(args.weights))
            """
        ),
        Valid(
            """
            import torch
            def restore(model, path, **kwargs):
                model.load_state_dict(torch.load(path, **kwargs))
            def load_checkpoint(checkpoint_path, map_location=None):
                return torch.load(checkpoint_path, weights_only=True)
            """
        ),
        Valid(
            """
            from pathlib import Path
            import torch
            WEIGHTS = Path(__file__).parent / "weights.pt"
            def build(model):
                model.load_state_dict(torch.load(WEIGHTS))
            """
        ),
        Valid(
            """
            import torch
            state = torch.load(path, map_location="cpu", weights_only=True)
            other = torch.load(path, device)
            """
        ),
        Valid(
            """
            import torch
            args = (path, "cpu")
            state = torch.load(*args)
            model = torch.hub.load("pytorch/vision", "resnet18")
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        if not self.torch_load_call(node) or calls.has_star_args(node):
            return
        if calls.argument(node, "map_location", MAP_LOCATION_INDEX) is not None:
            return
        evidence = crossing_load(self.context, node)
        if evidence is None or cuda_guarded(self.context, node):
            return
        message = (
            "`torch.load` without `map_location` puts each tensor back on the device it was "
            f"saved from: {evidence.checkpoint}, and {evidence.portable}; a checkpoint saved "
            "on a GPU then fails to load where that GPU is missing"
        )
        self.report(node, message, fix=self._fix(node))

    def _fix(self, node: cst.Call):
        """``map_location=<the device in scope>``, else ``"cpu"``: never a device the code does
        not use."""
        device = scope_device(self.context, select=False)
        if device is None:
            new = calls.add_keyword(node, "map_location", '"cpu"')
            return self.fix(Applicability.SAFE, 'Add `map_location="cpu"`', Replace(node, new))
        new = calls.add_keyword(node, "map_location", device.text)
        return self.fix(
            Applicability.SAFE,
            f"Add `map_location={device.text}` ({device.origin})",
            Replace(node, new),
            *device.edits,
            preamble=device.preamble,
        )
