"""Seed every random number generator a training run uses, in one call.

Seeding only ``torch`` leaves Python's ``random`` and numpy (often used by augmentations)
unseeded, so runs still differ; ``seed_everything`` covers all of them.
"""

from __future__ import annotations

import os
import random

import torch

__all__ = ["seed_everything"]

_MAX_SEED = 2**32 - 1  # numpy's legacy global generator accepts 0 <= seed < 2**32


def seed_everything(seed: int, *, deterministic: bool = False) -> int:
    """Seed ``random``, numpy (when installed) and torch on every device; return ``seed``.

    Also sets ``PYTHONHASHSEED`` so that subprocesses started afterwards (e.g. DataLoader
    workers under ``spawn``) hash strings the same way; the running interpreter's own hash
    seed cannot be changed after start-up.

    ``deterministic=True`` additionally makes torch pick deterministic kernels
    (``torch.use_deterministic_algorithms(True)``, cuDNN deterministic and not benchmarking,
    and ``CUBLAS_WORKSPACE_CONFIG=":4096:8"`` unless already set), trading speed for bitwise
    reproducible results. Operations without a deterministic implementation then raise
    instead of silently varying. ``deterministic=False`` leaves those settings as they are.

    Raises:
        ValueError: ``seed`` is not an int in ``[0, 2**32 - 1]`` (the range every library
            accepts).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**32 - 1], got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every accelerator's default generator
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; must be set before it initialises.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed
