"""Correct implementations that torchlint's fixes point to.

Training code can use these directly (``from torchlint.runtime import best_device``). This
subpackage needs torch; the linter itself never imports it, and it never imports the linter's
dependencies (libcst), so it stays cheap to import in a training script.
"""

import importlib.util

if importlib.util.find_spec("torch") is None:  # say what to install, not just "no torch"
    raise ModuleNotFoundError(
        "torchlint.runtime needs PyTorch: pip install 'torchlint[runtime]' (or install torch)",
        name="torch",
    )

from torchlint.runtime.data import default_num_workers, make_loader
from torchlint.runtime.device import best_device, to_device
from torchlint.runtime.models import ResidualBlock, ResNet
from torchlint.runtime.modes import evaluating
from torchlint.runtime.seed import seed_everything

__all__ = [
    "ResNet",
    "ResidualBlock",
    "best_device",
    "default_num_workers",
    "evaluating",
    "make_loader",
    "seed_everything",
    "to_device",
]
