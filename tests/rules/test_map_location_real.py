"""TL703 against real checkpoints: ``torch.save`` / ``torch.load`` on the CPU.

A checkpoint "saved on a GPU" is simulated faithfully: while it is written, a tagger
registered with ``torch.serialization`` records every storage at ``cuda:0``, exactly what a
GPU run writes, so loading it here without ``map_location`` fails as it would on a machine
without that GPU. (A model on ``meta`` cannot stand in: meta tensors have no data to load.)
Each invalid form fails as written and runs once fixed; each valid form runs as written.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import fix, lint

torch = pytest.importorskip("torch")
from torch import nn, serialization  # noqa: E402


def _cuda_tag(storage: torch.UntypedStorage) -> str | None:
    return "cuda:0" if storage.device.type == "cpu" else None


def save_as_if_on_gpu(obj: object, path: Path | str) -> None:
    """``torch.save`` as a run on ``cuda:0`` writes it."""
    serialization.register_package(0, _cuda_tag, lambda obj, location: None)
    try:
        torch.save(obj, path)
    finally:
        serialization._package_registry[:] = [
            entry for entry in serialization._package_registry if entry[1] is not _cuda_tag
        ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    save_as_if_on_gpu(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3},
        "ckpt.pt",
    )
    save_as_if_on_gpu(model.state_dict(), "weights.pt")
    return tmp_path


def _run(code: str, **names: object) -> dict:
    scope = {"nn": nn, "torch": torch, **names}
    exec(compile(code, "example.py", "exec"), scope)  # the snippet as a script would run it
    return scope


INVALID = {
    "resume option, device selected": """
        import argparse
        import torch
        parser = argparse.ArgumentParser()
        parser.add_argument("--resume", default="ckpt.pt")
        parser.add_argument("--device", default="cpu")
        args = parser.parse_args([])
        device = torch.device(args.device)
        model = nn.Linear(4, 2).to(device)
        model.load_state_dict(torch.load(args.resume, weights_only=True)["model"])
        """,
    "resumes training": """
        import torch
        def resume(model, optimizer, path):
            checkpoint = torch.load(path, weights_only=True)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            return checkpoint["epoch"]
        model = nn.Linear(4, 2)
        epoch = resume(model, torch.optim.SGD(model.parameters(), lr=0.1), "ckpt.pt")
        """,
    "conversion script": """
        import sys
        from torch import load, save
        state = load(sys.argv[1])
        save({k.removeprefix("module."): v for k, v in state.items()}, "converted.pt")
        """,
    "downloaded weights": """
        import torch
        def download_weights(url):
            return "weights.pt"
        net = nn.Linear(4, 2)
        net.load_state_dict(torch.load(download_weights("https://example.com/w.pt")))
        """,
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_form_fails_as_written_and_loads_once_fixed(
    workdir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = textwrap.dedent(INVALID[name]).lstrip()
    monkeypatch.setattr("sys.argv", ["convert.py", "weights.pt"])
    found = lint(code, "TL703").diagnostics
    assert len(found) == 1, found
    with pytest.raises(RuntimeError, match="CUDA"):
        _run(code)
    fixed = fix(code, "TL703").source
    assert "map_location=" in fixed and fixed != code
    _run(fixed)  # loads on the CPU
    assert lint(fixed, "TL703").diagnostics == []


def test_the_fix_maps_onto_the_device_in_scope(workdir: Path) -> None:
    fixed = fix(textwrap.dedent(INVALID["resume option, device selected"]).lstrip(), "TL703")
    assert "map_location=device" in fixed.source
    scope = _run(fixed.source)
    assert scope["model"].weight.device == scope["device"]
    resumed = fix(textwrap.dedent(INVALID["resumes training"]).lstrip(), "TL703").source
    assert "device = next(model.parameters()).device" in resumed
    assert _run(resumed)["epoch"] == 3


VALID = {
    "written here from CPU tensors": """
        import torch
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        def save(model):
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, "mine.pt")
        def restore(model):
            model.load_state_dict(torch.load("mine.pt"))
        model = nn.Linear(4, 2).to(device)
        save(model)
        restore(model)
        """,
    "round trip in one function": """
        import io
        import torch
        def clone(model, device):
            buffer = io.BytesIO()
            torch.save(model.state_dict(), buffer)
            buffer.seek(0)
            copy = nn.Linear(4, 2)
            copy.load_state_dict(torch.load(buffer))
            return copy
        copy = clone(nn.Linear(4, 2), "cpu")
        """,
    "not a model's state": """
        import torch
        torch.save([1, 2, 3], "vocab.pt")
        vocab = torch.load(args_vocab_path)
        """,
    "map_location from the caller": """
        import torch
        def load_checkpoint(checkpoint_path, map_location=None):
            return torch.load(checkpoint_path, weights_only=True, **{"map_location": map_location})
        def restore(model, path, **kwargs):
            model.load_state_dict(torch.load(path, **kwargs)["model"])
        restore(nn.Linear(4, 2), "ckpt.pt", map_location="cpu")
        """,
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_form_is_silent_and_runs_as_written(workdir: Path, name: str) -> None:
    code = textwrap.dedent(VALID[name]).lstrip()
    assert lint(code, "TL703").diagnostics == []
    _run(code, args_vocab_path="vocab.pt")


def test_cuda_only_code_is_silent() -> None:
    # It cannot run here at all: it needs CUDA by design, and says so.
    code = "import torch\nmodel = Net().cuda()\nmodel.load_state_dict(torch.load(args.weights))\n"
    assert lint(code, "TL703").diagnostics == []


def test_weights_shipped_in_the_package_are_silent(tmp_path: Path) -> None:
    package = tmp_path / "package.py"
    package.write_text(
        "from pathlib import Path\nimport torch\n"
        'WEIGHTS = Path(__file__).parent / "weights.pt"\n'
        "def build(model):\n    model.load_state_dict(torch.load(WEIGHTS))\n    return model\n",
        encoding="utf-8",
    )
    code = package.read_text(encoding="utf-8")
    assert lint(code, "TL703").diagnostics == []
    torch.save(nn.Linear(4, 2).state_dict(), tmp_path / "weights.pt")  # as maintainers do
    scope: dict = {"__file__": str(package)}
    exec(compile(code, str(package), "exec"), scope)
    scope["build"](nn.Linear(4, 2))


def test_the_message_says_why_here() -> None:
    code = textwrap.dedent(INVALID["resume option, device selected"]).lstrip()
    (diagnostic,) = lint(code, "TL703").diagnostics
    assert "indexed for 'model'" in diagnostic.message
    assert "`--device` option at line 5" in diagnostic.message
