"""The language server's pure parts: position encodings and the edits an action sends."""

from __future__ import annotations

import pytest

pytest.importorskip("pygls")
from lsprotocol import types

from torchlint.diagnostics import Location
from torchlint.fixer import apply_edits
from torchlint.server.actions import diff_edits, wanted
from torchlint.server.positions import Positions

TEXT = 's = "🔥é"; x = t.cuda()\r\nnext\n'


@pytest.mark.parametrize(
    ("encoding", "character"),
    [
        (types.PositionEncodingKind.Utf16, 15),  # the emoji is two UTF-16 code units
        (types.PositionEncodingKind.Utf32, 14),
        (types.PositionEncodingKind.Utf8, 18),  # four bytes and two bytes
    ],
)
def test_columns_in_the_negotiated_encoding(encoding: str, character: int) -> None:
    positions = Positions(TEXT, encoding)
    column = TEXT.index("t.cuda") + 1
    assert positions.position(Location(1, column)) == types.Position(0, character)
    assert positions.location(types.Position(0, character)) == Location(1, column)


def test_lines_end_at_crlf_and_positions_are_clamped() -> None:
    positions = Positions(TEXT)
    assert positions.position(Location(2, 1)) == types.Position(1, 0)
    assert positions.position(Location(2, 99)) == types.Position(1, 4)
    assert positions.position_at(len(TEXT)) == types.Position(2, 0)
    assert positions.offset(Location(2, 3)) == TEXT.index("next") + 2


def test_diff_edits_are_small_and_rebuild_the_new_text() -> None:
    old = "import torch\n\nx = torch.zeros(3).cuda()\ny = 1\n"
    new = "import torch\nfrom torchlint.runtime import best_device\n\nx = torch.zeros(3).to(best_device())\ny = 1\n"
    edits = diff_edits(old, new)
    assert apply_edits(old, edits) == new
    assert [e.content for e in edits] == [
        "from torchlint.runtime import best_device\n",
        "to(best_device()",  # replaces "cuda(": the closing parenthesis stays
    ]
    assert diff_edits(old, old) == []


def test_requested_kinds() -> None:
    assert wanted(None, "source.fixAll.torchlint")
    assert wanted(["source.fixAll"], "source.fixAll.torchlint")
    assert wanted(["source"], "source.fixAll.torchlint")
    assert not wanted(["quickfix"], "source.fixAll.torchlint")
    assert not wanted(["source.fixAllX"], "source.fixAll.torchlint")
