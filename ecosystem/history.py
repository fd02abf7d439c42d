"""What maintainers fixed themselves: torchlint's diagnostics that a commit made go away.

Revealed preference beats any label. For each git history given, take the commits whose diff
touches PyTorch APIs, lint every modified Python file before and after the commit with every
rule on, and count a diagnostic as *fixed by the maintainers* when

- it is gone after the commit (no diagnostic of its code at the line it maps to, or, for a
  changed line, fewer diagnostics of its code in the changed block than before), **and**
- the commit changed its line or the function that holds it (a fix that adds
  ``model.eval()`` or ``sampler.set_epoch(epoch)`` on another line counts), **and**
- that function (or, at module level, the statement) still exists after the commit: a
  refactor that deleted the code is not a fix. Such events are counted apart, as "deleted".

    python ecosystem/history.py --repo GIT_DIR [--repo GIT_DIR ...] [--max-commits N] --tsv OUT
        [--select CODES] [--pattern REGEX]   # a few rules, the commits that change their shapes

Prints, per code, the commits and diagnostics fixed; the TSV has one row per event
(``repo, commit, subject, path, code, line``; the line is before the commit) for reading by
hand. Nothing is fetched: a repository is a local git directory (bare or not).
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# A commit "touches PyTorch APIs" when a changed line matches this (git log -G).
TORCH_PATTERN = r"torch|\.cuda\(|DataLoader|no_grad|inference_mode|\.eval\(|state_dict|autocast"
# What a commit's project declares, copied beside its files so that settings apply.
SETTINGS_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "requirements.txt")
COMMITS_PER_RUN = 40  # commits linted by one torchlint process
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
TSV_FIELDS = ("repo", "commit", "subject", "path", "code", "line")


@dataclass(frozen=True)
class Hunk:
    """A changed block: ``old_count`` lines from ``old_start`` became ``new_count`` lines."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int

    def holds_old(self, line: int) -> bool:
        return self.old_start <= line < self.old_start + self.old_count

    def new_lines(self) -> range:
        return range(self.new_start, self.new_start + self.new_count)


@dataclass(frozen=True)
class Event:
    repo: str
    commit: str
    subject: str
    path: str
    code: str
    line: int
    deleted: bool  # gone with the code that held it: a refactor, not a fix


@dataclass
class Change:
    """One modified file of one commit."""

    commit: str
    subject: str
    path: str
    hunks: list[Hunk]


def git(git_dir: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, check=True
    )
    return done.stdout.decode("utf-8", "replace")


def git_bytes(git_dir: Path, *args: str) -> bytes | None:
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def resolve_git_dir(path: Path) -> Path:
    """A working copy's ``.git`` or a bare repository."""
    for candidate in (path / ".git", path):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    sys.exit(f"{path}: not a git repository")


def touching_commits(
    git_dir: Path, max_commits: int | None, pattern: str = TORCH_PATTERN
) -> list[tuple[str, str]]:
    """(sha, subject) of non-merge commits whose Python diff touches PyTorch APIs (a changed
    line matches ``pattern``), newest first."""
    args = ["log", "--no-merges", "--format=%H%x00%s", f"-G{pattern}"]
    if max_commits:
        args.append(f"--max-count={max_commits}")
    out = git(git_dir, *args, "--", "*.py")
    commits = []
    for line in out.splitlines():
        sha, _, subject = line.partition("\0")
        commits.append((sha, subject))
    return commits


def parse_hunks(diff: str) -> list[Hunk]:
    hunks = []
    for match in HUNK.finditer(diff):
        old_start, old_count, new_start, new_count = match.groups()
        old_n = 1 if old_count is None else int(old_count)
        new_n = 1 if new_count is None else int(new_count)
        # With no old lines, git names the line *before* the insertion: it holds nothing.
        hunks.append(Hunk(int(old_start) + (old_n == 0), old_n, int(new_start), new_n))
    return hunks


def changes(git_dir: Path, sha: str, subject: str) -> list[Change]:
    """The modified Python files of a commit (not added, deleted or renamed), with hunks."""
    try:
        names = git(
            git_dir,
            "diff-tree",
            "--no-commit-id",
            "-r",
            "--diff-filter=M",
            "--name-only",
            f"{sha}^",
            sha,
            "--",
            "*.py",
        ).split("\n")
    except subprocess.CalledProcessError:  # a root commit
        return []
    found = []
    for path in filter(None, names):
        diff = git(git_dir, "diff", "-U0", f"{sha}^", sha, "--", path)
        found.append(Change(sha, subject, path, parse_hunks(diff)))
    return found


def map_line(line: int, hunks: list[Hunk]) -> int | None:
    """Where an unchanged line of the old file is in the new one; None for a changed line."""
    shift = 0
    for hunk in hunks:
        if hunk.holds_old(line):
            return None
        if hunk.old_start + hunk.old_count <= line:
            shift += hunk.new_count - hunk.old_count
    return line + shift


def scopes(source: str) -> list[tuple[str, int, int]]:
    """(qualified name, first line, last line) of every function, and of each top-level
    statement outside functions (named by its first line's kind): what 'the function that
    holds it' means for a line."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[tuple[str, int, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((name, child.lineno, child.end_lineno or child.lineno))
                walk(child, name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    for statement in tree.body:
        if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            kind = type(statement).__name__
            found.append((f"<module {kind}>", statement.lineno, statement.end_lineno or 0))
    return found


def holder(line: int, spans: list[tuple[str, int, int]]) -> tuple[str, int, int] | None:
    """The innermost function (else top-level statement) that holds ``line``."""
    best = None
    for span in spans:
        if span[1] <= line <= span[2] and (best is None or span[2] - span[1] < best[2] - best[1]):
            best = span
    return best


def touched(span: tuple[str, int, int], hunks: list[Hunk]) -> bool:
    _, first, last = span
    for hunk in hunks:
        # An insertion touches the lines on both sides of it.
        old_first = hunk.old_start - (hunk.old_count == 0)
        old_last = hunk.old_start + max(hunk.old_count, 1) - 1
        if old_first <= last and old_last >= first:
            return True
    return False


def events_of(
    repo: str,
    change: Change,
    before: list[tuple[str, int]],
    after: list[tuple[str, int]],
    before_source: str,
    after_source: str,
) -> Iterator[Event]:
    """The diagnostics of one file that the commit made go away (see the module docstring).

    A diagnostic persists when the after version has one of its code at the line its line
    maps to, in the changed block that replaced its line, or on a line of the same text
    elsewhere (code that moved); and a file never counts more fixes of a code than it lost
    diagnostics of that code (code moved *and* edited is not a fix).
    """
    old_lines, new_lines = before_source.splitlines(), after_source.splitlines()
    remaining = Counter(after)
    unmatched: list[tuple[str, int, int | None]] = []
    for code, line in sorted(before):
        mapped = map_line(line, change.hunks)
        candidates = [mapped] if mapped is not None else _block(line, change.hunks)
        match = next((n for n in candidates if remaining[(code, n)]), None)
        if match is None:
            unmatched.append((code, line, mapped))
        else:
            remaining[(code, match)] -= 1
    moved = Counter(
        (code, _text(new_lines, line)) for (code, line), n in remaining.items() for _ in range(n)
    )
    lost = Counter(code for code, _ in before)
    lost.subtract(Counter(code for code, _ in after))
    old_spans = scopes(before_source)
    new_names = {name for name, _, _ in scopes(after_source)}
    for code, line, mapped in unmatched:
        if moved[(code, _text(old_lines, line))] > 0:
            moved[(code, _text(old_lines, line))] -= 1
            continue
        span = holder(line, old_spans)
        if mapped is not None and (span is None or not touched(span, change.hunks)):
            continue  # its line is unchanged and so is its function: gone for another reason
        if mapped is None and span is not None and span[0] not in new_names:
            yield _event(repo, change, code, line, deleted=True)
        elif lost[code] > 0:
            lost[code] -= 1
            yield _event(repo, change, code, line, deleted=False)


def _block(line: int, hunks: list[Hunk]) -> range:
    """The new lines of the changed block that holds the old ``line``."""
    return next(hunk.new_lines() for hunk in hunks if hunk.holds_old(line))


def _text(lines: list[str], number: int) -> str:
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _event(repo: str, change: Change, code: str, line: int, *, deleted: bool) -> Event:
    return Event(repo, change.commit, change.subject, change.path, code, line, deleted)


def lint_tree(root: Path, select: str = "ALL") -> dict[str, list[tuple[str, int]]]:
    """The selected rules' diagnostics of the Python files under ``root``, by relative path."""
    command = [
        sys.executable,
        "-m",
        "torchlint",
        "check",
        "--select",
        select,
        "--no-cache",
        "--exit-zero",
        "-q",
        "--output-format",
        "json-lines",
        ".",
    ]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for line in done.stdout.splitlines():
        item = json.loads(line)
        found[item["filename"]].append((item["code"], item["location"]["row"]))
    return found


def _write(path: Path, data: bytes | None) -> bool:
    if data is None:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def history(
    git_dir: Path,
    name: str,
    max_commits: int | None,
    select: str = "ALL",
    pattern: str = TORCH_PATTERN,
) -> Iterator[Event]:
    commits = touching_commits(git_dir, max_commits, pattern)
    for start in range(0, len(commits), COMMITS_PER_RUN):
        batch = [
            c
            for sha, subject in commits[start : start + COMMITS_PER_RUN]
            for c in changes(git_dir, sha, subject)
        ]
        yield from _lint_batch(git_dir, name, batch, select)


def _lint_batch(git_dir: Path, name: str, batch: list[Change], select: str) -> Iterator[Event]:
    with tempfile.TemporaryDirectory(prefix="torchlint-history-") as scratch:
        roots = {}
        for side, ref in (("before", "{}^"), ("after", "{}")):
            root = Path(scratch) / side
            root.mkdir()
            roots[side] = root
            for commit in {c.commit for c in batch}:
                for settings_file in SETTINGS_FILES:
                    _write(
                        root / commit / settings_file,
                        git_bytes(git_dir, "show", f"{ref.format(commit)}:{settings_file}"),
                    )
            for change in batch:
                _write(
                    root / change.commit / change.path,
                    git_bytes(git_dir, "show", f"{ref.format(change.commit)}:{change.path}"),
                )
        linted = {side: lint_tree(root, select) for side, root in roots.items()}
        for change in batch:
            key = f"{change.commit}/{change.path}"
            before_file = roots["before"] / key
            after_file = roots["after"] / key
            after = linted["after"].get(key, [])
            if not (before_file.is_file() and after_file.is_file()) or _unparsed(after):
                continue  # an after version that does not parse hides every diagnostic
            yield from events_of(
                name,
                change,
                linted["before"].get(key, []),
                after,
                before_file.read_text("utf-8", "replace"),
                after_file.read_text("utf-8", "replace"),
            )


def _unparsed(diagnostics: list[tuple[str, int]]) -> bool:
    return any(code == "TL000" for code, _ in diagnostics)


def summarize(events: Iterable[Event]) -> str:
    fixed = [e for e in events if not e.deleted]
    deleted = [e for e in events if e.deleted]
    commits: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for event in fixed:
        commits[event.code].add((event.repo, event.commit))
    diagnostics = Counter(e.code for e in fixed)
    removed = Counter(e.code for e in deleted)
    lines = ["code   commits  fixed  deleted-with-code"]
    for code in sorted(set(diagnostics) | set(removed)):
        lines.append(f"{code}  {len(commits[code]):7}  {diagnostics[code]:5}  {removed[code]:17}")
    lines.append(
        f"total  {len({c for s in commits.values() for c in s}):7}  "
        f"{len(fixed):5}  {len(deleted):17}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo",
        action="append",
        type=Path,
        required=True,
        help="a local git directory (repeatable)",
    )
    parser.add_argument(
        "--max-commits",
        type=int,
        default=None,
        help="newest N commits touching PyTorch APIs, per repository",
    )
    parser.add_argument("--tsv", type=Path, required=True, help="one row per event")
    parser.add_argument("--select", default="ALL", help="the rules to lint with (default: ALL)")
    parser.add_argument(
        "--pattern",
        default=TORCH_PATTERN,
        help="the commits read: a changed line matches this (git log -G)",
    )
    args = parser.parse_args(argv)
    events: list[Event] = []
    for repo in args.repo:
        git_dir = resolve_git_dir(repo.resolve())
        name = repo.resolve().name
        if name in ("repo", ".git"):
            name = repo.resolve().parent.name
        found = list(history(git_dir, name, args.max_commits, args.select, args.pattern))
        print(f"{name}: {sum(not e.deleted for e in found)} fixed", file=sys.stderr)
        events.extend(found)
    with args.tsv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(TSV_FIELDS)
        for e in events:
            if not e.deleted:
                writer.writerow([e.repo, e.commit, e.subject, e.path, e.code, e.line])
    print(summarize(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
