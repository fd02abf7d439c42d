"""ecosystem/history.py on a small git repository the test builds: what counts as a fix."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("history", ROOT / "ecosystem" / "history.py")
assert SPEC and SPEC.loader
history = importlib.util.module_from_spec(SPEC)
sys.modules["history"] = history
SPEC.loader.exec_module(history)

TRAIN = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))


def load(path):
    return torch.load(path)


def legacy(path):
    return torch.load(path)


def evaluate(model, data):
    total = 0
    count = 0
    with torch.no_grad():
        for x in data:
            total += model(x).sum()
            count += 1
    return total / count


def main():
    model = Net()
    evaluate(model, [torch.zeros(1, 4)])
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _commit(repo: Path, source: str, message: str, name: str = "train.py") -> str:
    (repo / name).write_text(source)
    _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    repo = tmp_path_factory.mktemp("history") / "proj"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@torchlint.invalid")
    _git(repo, "config", "user.name", "test")
    (repo / "requirements.txt").write_text("torch>=2.1\n")  # a range TL701 reports on
    _git(repo, "add", "requirements.txt")
    shas = {"init": _commit(repo, TRAIN, "Initial training script")}
    source = TRAIN.replace(
        "def load(path):\n    return torch.load(path)",
        "def load(path):\n    return torch.load(path, weights_only=True)",
    )
    shas["weights_only"] = _commit(repo, source, "Load checkpoints with weights_only")
    source = source.replace(
        "    total = 0\n    count = 0\n", "    total = 0\n    model.eval()\n    count = 0\n"
    )
    shas["eval"] = _commit(repo, source, "Evaluate in eval mode")
    source = source.replace("def legacy(path):\n    return torch.load(path)\n\n\n", "")
    shas["refactor"] = _commit(repo, source, "Remove the legacy loader")
    shas["docs"] = _commit(repo, "hello\n", "Docs", name="README.md")
    broken = source.replace("weights_only=True)", "weights_only=True, async=True)")
    shas["broken"] = _commit(repo, broken, "A keyword argument Python 3.7 made a syntax error")
    return repo, shas


def test_a_fix_on_the_line_and_a_fix_two_lines_above_both_count(repo, tmp_path) -> None:
    path, shas = repo
    out = tmp_path / "events.tsv"
    assert history.main(["--repo", str(path), "--tsv", str(out)]) == 0
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert list(rows[0]) == ["repo", "commit", "subject", "path", "code", "line"]
    events = {(row["commit"], row["code"], int(row["line"])) for row in rows}
    # weights_only=True added on the flagged line: TL701 fixed there (TL703 stays).
    assert (shas["weights_only"], "TL701", 16) in events
    # model.eval() two lines above the flagged `with torch.no_grad():` (line 26): TL301 fixed.
    assert (shas["eval"], "TL301", 26) in events
    # An after version that does not parse hides its diagnostics: nothing was fixed there.
    assert not any(commit == shas["broken"] for commit, _, _ in events)
    # Deleting the function that held a diagnostic is a refactor, not a fix.
    assert not any(commit == shas["refactor"] for commit, _, _ in events)
    assert {row["subject"] for row in rows} == {
        "Load checkpoints with weights_only",
        "Evaluate in eval mode",
    }
    assert len(rows) == 2


def test_the_summary_counts_commits_and_deletions(repo, tmp_path, capsys) -> None:
    path, _ = repo
    history.main(["--repo", str(path), "--tsv", str(tmp_path / "e.tsv")])
    table = capsys.readouterr().out.splitlines()
    by_code = {line.split()[0]: line.split()[1:] for line in table[1:]}
    assert by_code["TL701"] == ["1", "1", "1"]  # fixed once, deleted once with its function
    assert by_code["TL301"] == ["1", "1", "0"]
    assert by_code["total"] == ["2", "2", "1"]  # the refactor deleted one diagnostic


def test_only_commits_that_touch_pytorch_are_read(repo) -> None:
    path, shas = repo
    commits = [sha for sha, _ in history.touching_commits(path / ".git", None)]
    assert shas["docs"] not in commits
    assert commits[:4] == [shas["broken"], shas["refactor"], shas["eval"], shas["weights_only"]]
    assert [sha for sha, _ in history.touching_commits(path / ".git", 1)] == [shas["broken"]]


def test_lines_map_through_insertions_and_changes() -> None:
    hunks = history.parse_hunks("@@ -3,0 +4,2 @@\n+a\n+b\n@@ -10,2 +12 @@\n-x\n-y\n+z\n")
    assert history.map_line(3, hunks) == 3
    assert history.map_line(4, hunks) == 6
    assert history.map_line(10, hunks) is None
    assert history.map_line(11, hunks) is None
    assert history.map_line(12, hunks) == 13


def test_a_diagnostic_gone_without_a_change_to_its_function_is_not_a_fix() -> None:
    """Dropout removed from the model class: the evaluation's TL301 goes, but nobody fixed it."""
    change = history.Change(
        "c0ffee",
        "Drop dropout",
        "train.py",
        history.parse_hunks("@@ -9 +8,0 @@\n-        self.drop = nn.Dropout(0.5)\n"),
    )
    found = list(history.events_of("proj", change, [("TL301", 26)], [], TRAIN, TRAIN))
    assert found == []
    change.hunks = history.parse_hunks("@@ -24,0 +25 @@\n+    model.eval()\n")
    found = list(history.events_of("proj", change, [("TL301", 26)], [], TRAIN, TRAIN))
    assert [(e.code, e.line, e.deleted) for e in found] == [("TL301", 26, False)]


def _hunks(tmp_path: Path, before: str, after: str) -> list:
    (tmp_path / "a.py").write_text(before)
    (tmp_path / "b.py").write_text(after)
    diff = subprocess.run(
        ["git", "diff", "--no-index", "-U0", "a.py", "b.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    return history.parse_hunks(diff)


def test_code_that_moved_is_not_fixed(tmp_path) -> None:
    """`load` moved to the end (deleted in one block, added in another) while `legacy` got
    weights_only=True: one fix, at `legacy`, and none at the moved `load`."""
    loader = "def load(path):\n    return torch.load(path)\n\n\n"
    after = TRAIN.replace(loader, "").replace(
        "def legacy(path):\n    return torch.load(path)",
        "def legacy(path):\n    return torch.load(path, weights_only=True)",
    )
    after += "\n\n" + loader.rstrip() + "\n"
    moved_to = after.splitlines().index("    return torch.load(path)") + 1
    change = history.Change("c0ffee", "Move the loader", "train.py", _hunks(tmp_path, TRAIN, after))
    found = history.events_of(
        "proj", change, [("TL701", 16), ("TL701", 20)], [("TL701", moved_to)], TRAIN, after
    )
    assert [(e.code, e.line, e.deleted) for e in found] == [("TL701", 20, False)]


def test_no_more_fixes_of_a_code_than_the_file_lost() -> None:
    """An edited line whose diagnostic reappears on another edited line: not a fix."""
    edited = TRAIN.replace(
        "    return torch.load(path)\n\n\ndef legacy",
        "    return torch.load(path) \n\n\ndef legacy",
    )
    hunks = [history.Hunk(16, 1, 16, 1)]
    change = history.Change("c0ffee", "Whitespace", "train.py", hunks)
    before = [("TL701", 16), ("TL701", 20)]
    after = [("TL701", 20), ("TL701", 30)]  # reported elsewhere after the edit
    assert list(history.events_of("proj", change, before, after, TRAIN, edited)) == []


def test_a_selection_and_a_pattern_narrow_what_is_read(repo, tmp_path, capsys) -> None:
    path, shas = repo
    out = tmp_path / "events.tsv"
    history.main(["--repo", str(path), "--tsv", str(out), "--select", "TL301", "--pattern", "eval"])
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [(row["commit"], row["code"]) for row in rows] == [(shas["eval"], "TL301")]
    read = [sha for sha, _ in history.touching_commits(path / ".git", None, "eval")]
    assert read == [shas["eval"], shas["init"]]
