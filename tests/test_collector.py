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


EVALUATE = """import torch


def evaluate(model, loader):
    with torch.no_grad():
        for x in loader:
            model(x)


evaluate(torch.nn.Dropout(), [])
"""


def test_a_linted_file_leaves_no_cycles_for_the_collector() -> None:
    """The flow's functions, loops and blocks point at each other; once the file's
    diagnostics are out they are let go, so reference counting frees the tree."""
    settings = build_settings(None, select=["ALL"])
    rules = selected_rules(settings.selected_codes)
    gc.collect()
    gc.disable()
    try:
        result = lint_source("evaluate.py", EVALUATE, settings, rules)
        left_for_the_collector = gc.collect()
    finally:
        gc.enable()
    assert [d.code for d in result.diagnostics] == ["TL301"]  # the flow was built
    assert left_for_the_collector == 0


def _collector_while_linting(monkeypatch, *args: str) -> list[bool]:
    """Whether the collector was on while each file was linted by ``check``."""
    from torchlint import runner

    seen: list[bool] = []
    lint = runner.process_source

    def spy(*a, **kw):
        seen.append(gc.isenabled())
        return lint(*a, **kw)

    monkeypatch.setattr(runner, "process_source", spy)
    monkeypatch.setattr(collector, "_batch", False)  # as in a fresh process
    CliRunner().invoke(main, ["check", "--no-cache", "--select", "ALL", *args])
    return seen


def test_check_pauses_the_collector_while_a_file_is_linted(tmp_path, monkeypatch) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(SOURCE)
    assert _collector_while_linting(monkeypatch, str(tmp_path)) == [False, False]
    assert gc.isenabled()  # and on again between files and after the run


def test_a_collector_the_program_turned_off_stays_off(monkeypatch) -> None:
    monkeypatch.setattr(collector, "_batch", True)
    gc.disable()
    try:
        with collector.one_file():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_outside_a_batch_run_the_collector_is_left_on(monkeypatch) -> None:
    monkeypatch.setattr(collector, "_batch", False)
    with collector.one_file():
        assert gc.isenabled()
