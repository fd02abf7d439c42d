"""TL207 cuda-bool-device."""

from __future__ import annotations

import libcst as cst

from torchlint import calls
from torchlint.diagnostics import Applicability
from torchlint.rules.base import Invalid, Replace, Rule, Valid


class CudaBoolDevice(Rule):
    """
    ## What it does
    Reports `.cuda(True)` / `.cuda(False)` and `.cuda(device=True)`: a bool where
    `Tensor.cuda` and `Module.cuda` take the device.

    ## Why is this bad?
    The first parameter of `.cuda()` is the device, not the `non_blocking` flag the call was
    almost always meant to set (old code wrote `.cuda(async=True)`). What a bool does there
    depends on the release: older PyTorch read it as an int, so `.cuda(True)` moved the
    tensor or model to `cuda:1` (`False` to `cuda:0`): `invalid device ordinal` on a one-GPU
    machine, data on another GPU than the model on a multi-GPU one, or every process on GPU 1
    after `torch.cuda.set_device(rank)`. Recent PyTorch (checked on 2.13) rejects it:
    `TypeError: cuda(): argument 'device' (position 1) must be torch.device, not bool`, so the
    line breaks on upgrade. Either way the copy is not asynchronous.

    ## Example
    ```python
    images = images.cuda(True)
    ```

    ## Use instead
    ```python
    images = images.cuda(non_blocking=True)
    ```

    ## Fix safety
    Unsafe: on older PyTorch the tensor moves to the current CUDA device instead of `cuda:1`,
    which is what the code meant, but a program that happened to rely on GPU 1 changes. The fix writes
    `non_blocking=<the bool>` (with `False`, simply `.cuda()`).

    ## References
    - https://pytorch.org/docs/stable/generated/torch.Tensor.cuda.html
    - https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.cuda
    """

    code = "TL207"
    name = "cuda-bool-device"
    applies_to_tests = True
    test_code_note = (
        "Checked in test code too: a test that moves its data to `cuda:1` fails on one-GPU "
        "runners or checks another device than it means to."
    )
    summary = (
        "`.cuda(True)` passes a bool as the device (`True` is `cuda:1`): use `non_blocking=True`"
    )
    fix_applicability = Applicability.UNSAFE
    requires = (".cuda(",)
    examples = (
        Invalid(
            """
            for images, labels in loader:
                images = images.cuda(True)
            """,
            fixed="""
            for images, labels in loader:
                images = images.cuda(non_blocking=True)
            """,
        ),
        Invalid(
            """
            model = Net().cuda(device=False)
            """,
            fixed="""
            model = Net().cuda()
            """,
        ),
        Invalid(
            """
            x = x.cuda(True, memory_format=fmt)
            """,
            fixed="""
            x = x.cuda(non_blocking=True, memory_format=fmt)
            """,
        ),
        Valid(
            """
            x = x.cuda(0, True)
            y = y.cuda(non_blocking=True)
            """
        ),
        Valid(
            """
            z = z.cuda(args.gpu)
            w = w.cuda(1)
            v = v.cuda(device=torch.cuda.current_device())
            """
        ),
        Valid(
            """
            import torch
            class Batch:
                def cuda(self, non_blocking=False):
                    return self
            def move(x, *args):
                return x.cuda(*args)
            """
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "cuda":
            return
        if calls.has_star_args(node):
            return
        arg = calls.argument(node, "device", 0)
        if arg is None or not (calls.is_true(arg.value) or calls.is_false(arg.value)):
            return
        if self._defines_cuda_with_bool():
            return
        if calls.keyword(node, "non_blocking") is not None or len(calls.positional(node)) > 1:
            self.report(arg)  # the flag is given too: only the device is wrong; no guess
            return
        if calls.is_true(arg.value):
            new_arg = arg.with_changes(
                keyword=cst.Name("non_blocking"),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            )
            new = node.deep_replace(arg, new_arg)
        else:
            new = calls.remove_arg(node, arg)
        fix = self.fix(Applicability.UNSAFE, "Use `non_blocking=` for the flag", Replace(node, new))
        self.report(arg, fix=fix)

    def _defines_cuda_with_bool(self) -> bool:
        """The file defines a ``cuda`` method of its own whose first parameter is not a
        device: its calls mean something else."""
        return bool(self.context.fact("TL207-own-cuda", _own_cuda))


def _own_cuda(context) -> bool:
    return "def cuda(" in context.source and "def cuda(self, device" not in context.source
