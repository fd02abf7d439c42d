"""A new user's training script gets the four mistakes of the README's first paragraph from
the default rules, and its correct twin gets nothing (issue: the headline rules by default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.cli import main

PROJECTS = Path(__file__).parent / "fixtures" / "new_user"


def check(project: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """(line, code) of what `torchlint check` reports by default, run as the user would:
    from the project's directory, which declares `torch>=2.1`."""
    monkeypatch.chdir(PROJECTS / project)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--output-format", "json", "."])
    assert result.exit_code in (0, 1), result.output
    return [(item["location"]["row"], item["code"]) for item in json.loads(result.stdout)]


def test_every_headline_mistake_is_reported_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check("mistakes", monkeypatch) == [
        (54, "TL301"),  # Net has batch norm and dropout; main() trains, then evaluates
        (71, "TL101"),  # PngFolder.__getitem__ decodes a PNG per item
        (72, "TL201"),  # .cuda() in a script that selects its device from --device
        (74, "TL701"),  # torch.load(args.resume) with torch>=2.1 declared
        (74, "TL703"),  # ...and without map_location, in a script that runs without CUDA
    ]


def test_the_correct_twin_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check("correct", monkeypatch) == []
