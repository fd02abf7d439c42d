"""Fixed files are replaced by rename, never rewritten in place: a reader or an interruption
sees the old file or the new one, never a mix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torchlint import sourcefile
from torchlint.sourcefile import read_source, write_source

OLD = "import torch\nstate = torch.load(path)\n"
NEW = 'import torch\nstate = torch.load(path, map_location="cpu")\n'


def test_the_file_is_replaced_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_text(OLD)
    link = tmp_path / "hard-link.py"  # shares the original inode, as an open reader does
    os.link(path, link)
    write_source(read_source(path), NEW)
    assert path.read_text() == NEW
    assert link.read_text() == OLD  # the old inode was never touched
    assert os.stat(path).st_ino != os.stat(link).st_ino


def test_interrupted_before_the_rename_leaves_the_original(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "a.py"
    path.write_text(OLD)
    source = read_source(path)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sourcefile.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_source(source, NEW)
    assert path.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]  # no temporary file left
