"""Every TL6 rule skips code written for another torch, in every spelling of the guard
(``torchlint.analysis.compat``), and still reports the same code outside one."""

from __future__ import annotations

import pytest

from tests.helpers import lint
from torchlint.analysis.compat import is_version_flag

PRELUDE = """\
import torch
import torch.nn.functional as F
import torchvision
from packaging import version
from torch.autograd import Variable
from data import a, args, b, w, x  # bound: a function that reads them can run
"""

# One use per rule that the rule reports when nothing guards it.
USES = {
    "TL601": "torch.cuda.amp.GradScaler()",
    "TL602": "Variable(x, volatile=True)",
    "TL604": "torch.tensor(torch.zeros(2))",
    "TL605": "F.upsample(x, scale_factor=2)",
    "TL606": "torch.nn.init.normal(w)",
    "TL607": "F.mse_loss(a, b, size_average=False)",
    "TL608": "torch.FloatTensor(3, 4)",
    "TL609": "torch.set_default_tensor_type(torch.FloatTensor)",
    "TL610": "torch.ger(a, b)",
    "TL611": "torch.utils.data._utils.collate.default_collate(b)",
    "TL612": "torchvision.models.resnet18(pretrained=True)",
}

# The rules that report a bare reference to the old name, not only its calls.
REFERENCED = {"TL601", "TL605", "TL606", "TL609", "TL610", "TL611"}

GUARDS = {
    "flag ternary": "y = {use} if not TORCH_GE_2_4 else None",
    "reference ternary": "Scaler = torch.amp.GradScaler if TORCH_GE_2_4 else {ref}",
    "flag ternary else": "y = None if _TORCH_GREATER_EQUAL_2_1 else {use}",
    "flag call": "y = None if is_torch2_available() else {use}",
    "getattr or": 'y = getattr(torch.amp, "GradScaler", None) or {use}',
    "getattr default": 'y = getattr(torch.linalg, "missing", {use})',
    "getattr test": 'if getattr(torch.amp, "GradScaler", None) is None:\n    y = {use}',
    "hasattr": 'if hasattr(torch, "amp"):\n    pass\nelse:\n    y = {use}',
    "try except tuple": "try:\n    import torch.amp\nexcept (ImportError, AttributeError):\n    y = {use}",
    "keyword fallback": "try:\n    y = build(weights=None)\nexcept TypeError:\n    y = {use}",
    "version.parse": (
        'if version.parse(torch.__version__) >= version.parse("2.4"):\n'
        "    pass\nelse:\n    y = {use}"
    ),
    "early return": (
        'def f():\n    if hasattr(torch, "amp"):\n        return None\n    y = {use}\n    return y'
    ),
    "early raise": "def f():\n    if TORCH_GE_2_4:\n        raise ValueError\n    return {use}",
    "assigned flag": 'NEW_AMP = hasattr(torch, "amp")\nif not NEW_AMP:\n    y = {use}',
    "assigned version": (
        "recent = version.parse(torch.__version__).release >= (2, 4)\ny = {use} if not recent else 0"
    ),
}

NOT_GUARDS = {
    "plain": "y = {use}",
    "other test": "if args.amp:\n    y = {use}",
    "other ternary": "y = {use} if use_amp else None",
    "hasattr on the user's object": 'if not hasattr(model, "weight"):\n    y = {use}',
    "try body": "try:\n    y = {use}\nexcept ValueError:\n    pass",
    "getattr of the user's object": 'y = getattr(model, "scaler", None) or {use}',
    "early return on another test": "def f():\n    if args.amp:\n        return None\n    return {use}",
    "version test that does not leave": (
        'def f():\n    if hasattr(torch, "amp"):\n        print()\n    return {use}'
    ),
}


def _codes(source: str, code: str) -> list[str]:
    result = lint(PRELUDE + source, code)
    assert not result.errors, result.errors
    return [d.code for d in result.diagnostics]


@pytest.mark.parametrize("code", sorted(USES))
@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_a_guarded_use_is_not_reported(code: str, guard: str) -> None:
    use = USES[code]
    reference = use.split("(", 1)[0]  # the bare name, for `A if FLAG else old_name`
    if guard == "reference ternary" and code not in REFERENCED:
        pytest.skip("the rule reports calls only")
    assert _codes(GUARDS[guard].format(use=use, ref=reference), code) == []


@pytest.mark.parametrize("code", sorted(USES))
@pytest.mark.parametrize("shape", sorted(NOT_GUARDS))
def test_the_same_use_without_a_guard_is_reported(code: str, shape: str) -> None:
    assert _codes(NOT_GUARDS[shape].format(use=USES[code]), code) == [code]


@pytest.mark.parametrize("code", sorted(REFERENCED))
def test_a_reference_outside_a_guard_is_reported(code: str) -> None:
    reference = USES[code].split("(", 1)[0]
    assert _codes(f"Scaler = torch.amp.GradScaler if use_amp else {reference}", code) == [code]


@pytest.mark.parametrize(
    "name",
    [
        "TORCH_GE_2_4",
        "_TORCH_GREATER_EQUAL_2_1",
        "is_torch2_available",
        "TH_LT_1_9",
        "IS_TORCH_2",
        "_PYTORCH_GE_1_13",
        "torch_version",
        "TORCH_AT_LEAST_2",
    ],
)
def test_version_flags(name: str) -> None:
    assert is_version_flag(name)


@pytest.mark.parametrize(
    "name", ["pt_max", "torch_utils", "is_torch_available", "width_2", "pt1", "use_compile"]
)
def test_names_that_are_not_version_flags(name: str) -> None:
    assert not is_version_flag(name)
