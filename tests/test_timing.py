"""`TORCHLINT_TIMING=1`: where the time goes, per rule, per analysis and per engine phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchlint import timing

TRAINING = (
    "import torch, torchvision\n"
    "def evaluate(model, loader):\n"
    "    model.eval()\n"
    "    for x in loader:\n"
    "        model(x)\n"
    "loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(ds), shuffle=True)\n"
)
TIMED = {"TORCHLINT_TIMING": "all"}  # every part: the ten dearest depend on the machine


def rows(stderr: bytes) -> dict[str, float]:
    """The table's rows: label -> milliseconds."""
    found = {}
    for line in stderr.decode().splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[1].replace(".", "").isdigit():
            found[parts[0]] = float(parts[1])
    return found


def test_table_names_parse_rules_and_analyses(tmp_path: Path, run_cli) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    done = run_cli("check", "--select", "ALL", "--no-cache", "train.py", env=TIMED)
    table = rows(done.stderr)
    assert "parse (libcst)" in table
    assert "analysis flow" in table  # TL303 asked for the training-loop analysis
    assert any(label.startswith("rule TL303 (eval-without-no-grad)") for label in table)
    assert "total measured" in table
    assert len(table) > timing.SHOWN + 1  # every part, not the ten most expensive
    times = [table[label] for label in table if label != "total measured"]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(("value", "shown"), [("1", timing.SHOWN), ("3", 3)])
def test_table_shows_the_most_expensive_rows(
    tmp_path: Path, run_cli, value: str, shown: int
) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    done = run_cli(
        "check", "--select", "ALL", "--no-cache", "train.py", env={"TORCHLINT_TIMING": value}
    )
    table = rows(done.stderr)
    assert len(table) == shown + 1  # and the total
    times = [table[label] for label in table if label != "total measured"]
    assert times == sorted(times, reverse=True)


def test_rows_shown_reads_the_value() -> None:
    assert timing.rows_shown("1") == timing.SHOWN
    assert timing.rows_shown("yes") == timing.SHOWN
    assert timing.rows_shown("25") == 25
    assert timing.rows_shown("ALL") is None


def test_timing_is_off_by_default(tmp_path: Path, run_cli) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    done = run_cli("check", "--select", "ALL", "--no-cache", "train.py")
    assert rows(done.stderr) == {}
    done = run_cli(
        "check", "--select", "ALL", "--no-cache", "train.py", env={"TORCHLINT_TIMING": "0"}
    )
    assert rows(done.stderr) == {}


def test_json_output_stays_json(tmp_path: Path, run_cli) -> None:
    (tmp_path / "train.py").write_text(TRAINING)
    done = run_cli(
        "check", "--select", "ALL", "--no-cache", "--output-format", "json", "train.py", env=TIMED
    )
    assert {d["code"] for d in json.loads(done.stdout)} >= {"TL101"}
    assert "parse (libcst)" in rows(done.stderr)


def test_worker_processes_report_their_share(tmp_path: Path, run_cli) -> None:
    for index in range(12):  # enough files for two workers
        (tmp_path / f"train_{index}.py").write_text(TRAINING)
    done = run_cli("check", "--select", "ALL", "--no-cache", "--jobs", "2", ".", env=TIMED)
    table = rows(done.stderr)
    assert "parse (libcst)" in table and "analysis flow" in table


def test_files_no_rule_can_fire_on_skip_the_tree(tmp_path: Path, run_cli) -> None:
    """Rules without visitors (TL000, TL001) are the engine's work: they need no CST."""
    (tmp_path / "plain.py").write_text("x = 1  # noqa: TL101\n")
    done = run_cli("check", "--select", "ALL", "--no-cache", "plain.py", env=TIMED)
    table = rows(done.stderr)
    assert "parse (libcst)" not in table and "parse (syntax check only)" in table
    assert b"TL001" in done.stdout  # the unused noqa is still reported
    (tmp_path / "broken.py").write_text("x = (\n")
    done = run_cli("check", "--select", "ALL", "--no-cache", "broken.py", env=TIMED)
    assert b"TL000" in done.stdout


@pytest.mark.parametrize("nested", [True, False])
def test_nested_measurements_are_counted_once(nested: bool) -> None:
    timer = timing.Timer()

    def inner() -> None:
        sum(range(20000))

    def outer() -> None:
        sum(range(20000))
        if nested:
            timer.measure("inner", inner)

    timer.measure("outer", outer)
    taken = timer.take()
    assert set(taken) == ({"outer", "inner"} if nested else {"outer"})
    assert all(seconds > 0 for seconds in taken.values())
    assert timer.take() == {}


def test_inner_time_is_not_counted_in_the_outer_part(monkeypatch: pytest.MonkeyPatch) -> None:
    timer = timing.Timer()
    clock = iter([0.0, 1.0, 3.0, 10.0])  # outer starts, inner starts, inner ends, outer ends
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    timer.measure("outer", lambda: timer.measure("inner", lambda: None))
    monkeypatch.undo()
    assert timer.take() == {"outer": 8.0, "inner": 2.0}
