"""TL703 and a reload, in the same run, of what the same script, notebook or function saved.

Same process, same machine: the saving device is there, so ``map_location`` changes nothing.
A save the load can run without (another function, a branch, after the load) or another
path still leaves the load reported.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import lint
from torchlint.cli import main

HEAD = 'import torch\ndevice = torch.device("cuda" if torch.cuda.is_available() else "cpu")\n'


def _lines(body: str) -> list[int]:
    code = HEAD + textwrap.dedent(body).lstrip()
    return [d.start.line - 2 for d in lint(code, "TL703").diagnostics]


SILENT = {
    "same literal": """
        torch.save(model.state_dict(), "model.pth")
        model.load_state_dict(torch.load("model.pth"))
        """,
    "a name bound once, best checkpoint of a loop": """
        PATH = "models/best.pth"
        for epoch in range(10):
            if evaluate(model) > best:
                torch.save(model.state_dict(), PATH)
        model.load_state_dict(torch.load(PATH))
        """,
    "f-string, os.path.join and Path / build the same path": """
        import os
        from pathlib import Path
        out = "runs"
        torch.save(model.state_dict(), os.path.join(out, "model.pth"))
        model.load_state_dict(torch.load(f"{out}/model.pth"))
        model.load_state_dict(torch.load(Path(out) / "model.pth"))
        """,
    "an option's path saved and reloaded in one function": """
        def main(args):
            torch.save({"model": model.state_dict()}, args.out)
            model.load_state_dict(torch.load(args.out)["model"])
        """,
    "a helper of the file saves to the path its arguments build": """
        from pathlib import Path
        def save_model(model, target_dir, model_name):
            target = Path(target_dir)
            target.mkdir(parents=True, exist_ok=True)
            torch.save(obj=model.state_dict(), f=target / model_name)
        save_model(model, target_dir="models", model_name="tinyvgg.pth")
        loaded.load_state_dict(torch.load(f="models/tinyvgg.pth"))
        """,
    "a temporary file, its path through as_posix()": """
        import tempfile
        from pathlib import Path
        def snapshot(trainer):
            with tempfile.TemporaryDirectory() as tmp:
                cache = Path(tmp) / "cache.pt"
                torch.save(trainer.state_dict(), cache.as_posix())
                trainer.run()
                trainer.load_state_dict(torch.load(cache.as_posix(), weights_only=True))
        """,
    "a buffer bound again after the reload": """
        import io
        def check(ref, loaded):
            b = io.BytesIO()
            torch.save(ref.state_dict(), b)
            b.seek(0)
            loaded.load_state_dict(torch.load(b))
            b = io.BytesIO()
            torch.save(ref, b)
        """,
    "one name for two files, each reloaded after its own save": """
        path = "vae.pth"
        torch.save(vae.state_dict(), path)
        vae.load_state_dict(torch.load(path))
        path = "gan.pth"
        torch.save(gan.state_dict(), path)
        gan.load_state_dict(torch.load(path))
        """,
}

REPORTED = {
    "two files opened under the same name": """
        with open("prior.pt", "wb") as f:
            torch.save(prior.state_dict(), f)
        with open(args.model, "rb") as f:
            model.load_state_dict(torch.load(f))
        """,
    "another file name": """
        torch.save(model.state_dict(), "last.pth")
        model.load_state_dict(torch.load("best.pth"))
        """,
    "loaded before it is saved (a resume)": """
        model.load_state_dict(torch.load("model.pth"))
        torch.save(model.state_dict(), "model.pth")
        """,
    "saved in another function": """
        def train(args, model):
            torch.save(model.state_dict(), args.checkpoint)
        def evaluate(args, model):
            model.load_state_dict(torch.load(args.checkpoint))
        """,
    "saved in a branch the load does not share": """
        if args.train:
            torch.save(model.state_dict(), "model.pth")
        model.load_state_dict(torch.load("model.pth"))
        """,
    "saved in the other branch": """
        if args.train:
            torch.save(model.state_dict(), "model.pth")
        else:
            model.load_state_dict(torch.load("model.pth"))
        """,
    "a name bound twice": """
        path = "a.pth"
        torch.save(model.state_dict(), path)
        path = args.resume
        model.load_state_dict(torch.load(path))
        """,
    "a path from a call that is not a path builder": """
        torch.save(model.state_dict(), stamped("model.pth"))
        model.load_state_dict(torch.load(stamped("model.pth")))
        """,
    "a helper that saves only in a branch": """
        def save_model(model, name):
            if is_main_process():
                torch.save(model.state_dict(), name)
        save_model(model, "model.pth")
        model.load_state_dict(torch.load("model.pth"))
        """,
    "a helper called with another name": """
        def save_model(model, name):
            torch.save(model.state_dict(), name)
        save_model(model, "last.pth")
        model.load_state_dict(torch.load("best.pth"))
        """,
}


@pytest.mark.parametrize("name", sorted(SILENT))
def test_a_reload_of_what_the_same_run_saved_is_silent(name: str) -> None:
    assert _lines(SILENT[name]) == []


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_a_load_the_save_may_not_have_preceded_is_reported(name: str) -> None:
    assert len(_lines(REPORTED[name])) == 1


def _cell(source: str) -> dict:
    lines = textwrap.dedent(source).lstrip().splitlines(keepends=True)
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": lines}  # fmt: skip


def _notebook(*cells: str) -> str:
    return json.dumps(
        {
            "cells": [_cell(c) for c in cells],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_a_notebook_reloads_what_an_earlier_cell_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save = 'torch.save(model.state_dict(), "model.pth")\n'
    load = 'model.load_state_dict(torch.load("model.pth"))\n'
    Path("earlier.ipynb").write_text(_notebook(HEAD, save, load), encoding="utf-8")
    Path("later.ipynb").write_text(_notebook(HEAD, load, save), encoding="utf-8")
    done = CliRunner().invoke(
        main, ["check", "--select", "TL703", "--no-cache", "--output-format", "concise", "."]
    )
    assert "earlier.ipynb" not in done.output
    assert "later.ipynb:cell 2:1:23: TL703" in done.output
