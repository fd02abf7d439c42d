"""TL703 load-without-map-location."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.checkpoint_loads import crossing_load
from torchlint.analysis.devices import cuda_guarded
from torchlint.analysis.scope_device import scope_device
from torchlint.diagnostics import Applicability
from torchlint.rules import calls
from torchlint.rules.base import Invalid, Replace, Valid
from torchlint.rules.serialization.load_not_weights_only import MAP_LOCATION_INDEX, TorchLoadRule


class LoadWithoutMapLocation(TorchLoadRule):
    """
    ## What it does
    Reports `torch.load` called without `map_location`.

    ## Why is this bad?
    Without `map_location`, every tensor is restored onto the device it was saved from. A
    checkpoint written on `cuda:0` then fails to load on a machine without a GPU ("Attempting
    to deserialize object on a CUDA device but torch.cuda.is_available() is False"), and on a
    multi-GPU machine every process loads its copy onto GPU 0, which runs out of memory.
    Loading to the CPU and moving the model afterwards works everywhere.

    ## Example
    ```python
    state = torch.load("checkpoint.pt", weights_only=True)
    model.load_state_dict(state)
    ```

    ## Use instead
    ```python
    state = torch.load("checkpoint.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    ```

    ## Fix safety
    Safe for the usual use, restoring a `state_dict`: `load_state_dict` copies the values
    into the model's parameters wherever they live. Code that uses the loaded tensors
    directly gets them on the CPU instead of the saving device. Where the code has a device
    in scope (a `device` variable or parameter, `self.device`, `args.device`, the device of
    a model the function is given: see TL201), the fix maps onto it,
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
            import torch
            state = torch.load("checkpoint.pt", weights_only=True)
            """,
            fixed="""
            import torch
            state = torch.load("checkpoint.pt", weights_only=True, map_location="cpu")
            """,
        ),
        Invalid(
            """
            from torch import load
            state = load(path)
            """,
            fixed="""
            from torch import load
            state = load(path, map_location="cpu")
            """,
        ),
        Invalid(
            """
            import torch as th
            class Trainer:
                def restore(self, path):
                    self.model.load_state_dict(th.load(
                        path,
                        weights_only=True,
                    ))
            """,
            fixed="""
            import torch as th
            class Trainer:
                def restore(self, path):
                    self.model.load_state_dict(th.load(
                        path,
                        weights_only=True,
                        map_location="cpu",
                    ))
            """,
        ),
        Invalid(
            """
            import torch
            import torch.serialization
            a = torch.load(f)
            b = torch.serialization.load(g)
            """,
            fixed="""
            import torch
            import torch.serialization
            a = torch.load(f, map_location="cpu")
            b = torch.serialization.load(g, map_location="cpu")
            """,
            count=2,
        ),
        Valid(
            """
            import torch
            state = torch.load(path, map_location="cpu", weights_only=True)
            """
        ),
        Valid(
            """
            import torch
            state = torch.load(path, device)
            """
        ),
        Valid(
            """
            import torch
            def restore(path, **kwargs):
                return torch.load(path, **kwargs)
            """
        ),
        Valid(
            """
            import torch
            args = (path, "cpu")
            state = torch.load(*args)
            """
        ),
        Valid(
            """
            import torch
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
