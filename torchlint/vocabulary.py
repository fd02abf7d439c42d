"""The PyTorch vocabulary: the qualified names (and last names) of what torch calls things.

The bottom of the package: analyses, rules and the project index read these tables, and this
module imports nothing of torchlint. A name that two of them need lives here once, so the
project index (which reads files with ``ast``) and the per-file analyses (libcst) cannot
drift apart on what counts as, say, a model base or a switch that turns autograd off.
"""

from __future__ import annotations

# --- autograd switches --------------------------------------------------------------------

GRAD_OFF = frozenset(
    {
        "torch.no_grad",
        "torch.autograd.no_grad",
        "torch.autograd.grad_mode.no_grad",
        "torch.inference_mode",
        "torch.autograd.inference_mode",
        "torch.autograd.grad_mode.inference_mode",
    }
)
SET_GRAD_ENABLED = frozenset(
    {
        "torch.set_grad_enabled",
        "torch.autograd.set_grad_enabled",
        "torch.autograd.grad_mode.set_grad_enabled",
    }
)
ENABLE_GRAD = frozenset(
    {"torch.enable_grad", "torch.autograd.enable_grad", "torch.autograd.grad_mode.enable_grad"}
)

# --- modules ------------------------------------------------------------------------------

# nn.Module subclasses that other libraries' models derive from (diffusers, transformers).
MODULE_BASES = frozenset({"ModelMixin", "PreTrainedModel"})
LIGHTNING_BASES = ("pytorch_lightning.", "lightning.", "lightning_fabric.")
# torch.nn's containers (last names): a module built of other modules.
NN_CONTAINERS = frozenset({"Module", "Sequential", "ModuleList", "ModuleDict"})
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})
# Layers whose dropout is an argument (default 0), by last name: its position.
RECURRENT_DROPOUT_POSITION = {"RNN": 6, "LSTM": 5, "GRU": 5, "MultiheadAttention": 2}

# --- parallel wrappers --------------------------------------------------------------------

# torch's DDP and FSDP wrappers, by last name: they are re-exported under several paths.
DDP_WRAPPERS = frozenset({"DistributedDataParallel", "FullyShardedDataParallel", "fully_shard"})
# Wrappers that hold the model as ``.module`` (by last name): their mode is the model's, and
# their state dict's keys carry a ``module.`` prefix.
MODULE_WRAPPERS = frozenset({"DistributedDataParallel", "DataParallel"})
DATA_PARALLEL = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.data_parallel.DataParallel",
    }
)

# --- data ---------------------------------------------------------------------------------

DATALOADER = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
DISTRIBUTED_SAMPLER = frozenset(
    {
        "torch.utils.data.DistributedSampler",
        "torch.utils.data.distributed.DistributedSampler",
    }
)

# --- mixed precision ----------------------------------------------------------------------

GRAD_SCALERS = frozenset(
    {
        "torch.GradScaler",
        "torch.amp.GradScaler",
        "torch.amp.grad_scaler.GradScaler",
        "torch.cuda.amp.GradScaler",
        "torch.cuda.amp.grad_scaler.GradScaler",
        "torch.cpu.amp.GradScaler",
        "torch.cpu.amp.grad_scaler.GradScaler",
    }
)
