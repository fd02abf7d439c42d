"""A new user's training script: the four mistakes of the README's first paragraph (a loader
without workers over a file-reading dataset, a model with batch norm and dropout evaluated under
`no_grad` without `eval()`, `.cuda()` in a script that selects its device from `--device`,
`torch.load` without `weights_only` under a declared `torch>=2.1`). As measured on unseen
projects, the last is reported by default and the other three are opt-in: the one
`extend-select` line the README gives reports all four. Its correct twin gets nothing either
way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from torchlint.cli import main

PROJECTS = Path(__file__).parent / "fixtures" / "new_user"


OPT_IN = ["--extend-select", "TL101,TL201,TL301,TL701,TL703"]


def check(
    project: str, monkeypatch: pytest.MonkeyPatch, extra: list[str] = ()
) -> list[tuple[int, str]]:
    """(line, code) of what `torchlint check` reports, run as the user would: from the
    project's directory, which declares `torch>=2.1`."""
    monkeypatch.chdir(PROJECTS / project)
    options = ["check", "--no-cache", "--output-format", "json", *extra, "."]
    result = CliRunner().invoke(main, options)
    assert result.exit_code in (0, 1), result.output
    return [(item["location"]["row"], item["code"]) for item in json.loads(result.stdout)]


def test_the_default_rules_report_only_the_default_mistake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert check("mistakes", monkeypatch) == [(74, "TL701")]


def test_the_opt_in_mistakes_are_one_line_away(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check("mistakes", monkeypatch, OPT_IN) == [
        (54, "TL301"),
        (71, "TL101"),
        (72, "TL201"),
        (74, "TL701"),
        (74, "TL703"),  # ...and without map_location, in a script that runs without CUDA
    ]


def test_the_correct_twin_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check("correct", monkeypatch) == []
    assert check("correct", monkeypatch, OPT_IN) == []
