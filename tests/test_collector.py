"""A command-line run tunes the garbage collector for its batch of files; the library, used
inside someone else's program, leaves their collector alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from torchlint import collector
from torchlint.cli import main
from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.registry import selected_rules

SOURCE = "import torch\nx = torch.zeros(3).cuda()\n"


@pytest.fixture(autouse=True)
def default_collector() -> Iterator[None]:
    """Python's defaults during the test, and the test process's own settings after it."""
    threshold = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_check_freezes_the_imports_and_collects_less_often(tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("project") / "train.py"  # not under a test-like name
    path.write_text(SOURCE)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--select", "ALL", str(path)])
    assert result.exit_code == 1, result.output  # it linted, and found the `.cuda()`
    assert gc.get_threshold() == (collector.FIRST_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0


def test_linting_from_a_program_leaves_its_collector_alone() -> None:
    settings = build_settings(None, select=["ALL"])
    result = lint_source("train.py", SOURCE, settings, selected_rules(settings.selected_codes))
    assert result.diagnostics
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
