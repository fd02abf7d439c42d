"""TL9 fixes checked end to end: the fixed script runs on two real processes of
``torch.distributed`` (the ``gloo`` backend, on the CPU) and the effect the fix promises is
observed: a new sample order each epoch (TL901), one writer (TL902), keys that load into the
bare model (TL906), a checkpoint from a GPU that loads (TL907)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import fix, lint

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "tests" / "fixtures" / "distributed"

# Started as `torchrun` starts a script: one process per rank, told its rank by the
# environment (two processes side by side, not a parent that spawns them: one torch import
# less per test).
LAUNCH = """
if __name__ == "__main__":
    main(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), sys.argv[1], sys.argv[2])
"""
HEADER = """
import json
import os
import sys
import torch
import torch.distributed as dist
"""


def script(body: str) -> str:
    return HEADER.lstrip() + textwrap.dedent(body) + LAUNCH


def run(source: str, tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    """Run ``source`` as a two-rank job (two processes, ``gloo``); returns the folder it
    wrote to."""
    path = tmp_path / "job.py"
    path.write_text(source, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    rendezvous = tmp_path / "rendezvous"
    ranks = [
        subprocess.Popen(
            [sys.executable, str(path), str(rendezvous), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "CUDA_VISIBLE_DEVICES": "",
                "RANK": str(rank),
                "WORLD_SIZE": "2",
                **(env or {}),
            },
        )
        for rank in (0, 1)
    ]
    try:
        for process in ranks:
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-3000:]
    finally:  # a failed rank leaves the other waiting in a collective
        for process in ranks:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return out


def fixed(source: str, code: str) -> str:
    assert [d.code for d in lint(source, code).diagnostics] == [code]
    outcome = fix(source, code)
    assert outcome.fixed == 1 and not outcome.errors
    return outcome.source


def test_set_epoch_gives_each_epoch_a_new_order(tmp_path: Path) -> None:
    source = script(
        """
        from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

        def main(rank, world_size, rendezvous, out):
            dist.init_process_group(
                "gloo", init_method="file://" + rendezvous, rank=rank, world_size=world_size
            )
            dataset = TensorDataset(torch.arange(64))
            sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank)
            loader = DataLoader(dataset, batch_size=8, sampler=sampler)
            orders = []
            for epoch in range(3):
                seen = []
                for (batch,) in loader:
                    seen.extend(batch.tolist())
                orders.append(seen)
            with open(f"{out}/{rank}.json", "w") as f:
                json.dump(orders, f)
            dist.destroy_process_group()
        """
    )
    out = run(fixed(source, "TL901"), tmp_path)
    ranks = [json.loads((out / f"{rank}.json").read_text()) for rank in (0, 1)]
    for orders in ranks:
        assert len({tuple(order) for order in orders}) == 3  # a new order every epoch
    for epoch in range(3):  # and the ranks still split the data between them
        assert sorted(ranks[0][epoch] + ranks[1][epoch]) == list(range(64))


def test_rank_guard_leaves_one_writer(tmp_path: Path) -> None:
    source = script(
        """
        def main(rank, world_size, rendezvous, out):
            dist.init_process_group(
                "gloo", init_method="file://" + rendezvous, rank=rank, world_size=world_size
            )
            model = torch.nn.Linear(4, 2)
            torch.save(model.state_dict(), out + "/model.pt")
            dist.barrier()
            dist.destroy_process_group()
        """
    )
    (diagnostic,) = lint(source, "TL902").diagnostics
    assert diagnostic.code == "TL902" and diagnostic.fix is not None
    assert fix(source, "TL902").fixed == 0  # display-only: never applied by `fix`
    guarded = source
    for edit in sorted(diagnostic.fix.edits, reverse=True):  # apply what it shows
        guarded = guarded[: edit.start] + edit.content + guarded[edit.end :]
    assert lint(guarded, "TL902").diagnostics == []
    log = tmp_path / "saves.log"
    env = {
        "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")]),
        "TL9_SAVE_LOG": str(log),
    }
    out = run(guarded, tmp_path, env)
    assert log.read_text().split() == ["0"]  # one writer: rank 0
    assert set(torch.load(out / "model.pt", weights_only=True)) == {"weight", "bias"}


def test_module_state_dict_loads_into_the_bare_model(tmp_path: Path) -> None:
    source = script(
        """
        from torch.nn.parallel import DistributedDataParallel as DDP

        def main(rank, world_size, rendezvous, out):
            dist.init_process_group(
                "gloo", init_method="file://" + rendezvous, rank=rank, world_size=world_size
            )
            torch.manual_seed(0)
            ddp_model = DDP(torch.nn.Linear(4, 2))
            if rank == 0:
                torch.save(ddp_model.state_dict(), out + "/model.pt")
            dist.barrier()
            bare = torch.nn.Linear(4, 2)
            bare.load_state_dict(torch.load(out + "/model.pt", weights_only=True))
            assert torch.equal(bare.weight, ddp_model.module.weight)
            dist.destroy_process_group()
        """
    )
    out = run(fixed(source, "TL906"), tmp_path)
    assert set(torch.load(out / "model.pt", weights_only=True)) == {"weight", "bias"}


def test_map_location_loads_a_gpu_checkpoint_on_each_rank(tmp_path: Path) -> None:
    # A checkpoint that says it was saved from cuda:0, as one written on a GPU does.
    def tag(obj):
        return "cuda:0" if getattr(obj, "device", None) == torch.device("cpu") else None

    entry = (0, tag, lambda obj, location: None)
    registry = torch.serialization._package_registry
    registry.insert(0, entry)
    try:
        torch.save(torch.nn.Linear(4, 2).state_dict(), tmp_path / "gpu.pt")
    finally:
        registry.remove(entry)
    source = script(
        """
        def main(rank, world_size, rendezvous, out):
            dist.init_process_group(
                "gloo", init_method="file://" + rendezvous, rank=rank, world_size=world_size
            )
            device = torch.device("cpu")
            model = torch.nn.Linear(4, 2).to(device)
            model.load_state_dict(torch.load(out + "/../gpu.pt", weights_only=True))
            with open(f"{out}/{rank}.txt", "w") as f:
                f.write(str(model.weight.device))
            dist.destroy_process_group()
        """
    )
    with pytest.raises(RuntimeError, match="CUDA"):  # the file really asks for a GPU
        torch.load(tmp_path / "gpu.pt", weights_only=True)
    out = run(fixed(source, "TL907"), tmp_path)
    assert [(out / f"{rank}.txt").read_text() for rank in (0, 1)] == ["cpu", "cpu"]
