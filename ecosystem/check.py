"""The ecosystem check: torchlint on real PyTorch projects, diffed against a baseline.

Unit examples show that a rule can be right; this shows how often it is on real code.

    python ecosystem/check.py prepare --mirrors DIR   # extract the pinned sources (once)
    python ecosystem/check.py run                     # lint them; diff counts and diagnostics
    python ecosystem/check.py precision               # precision on the labelled sample
    python ecosystem/check.py precision --round 2026-12   # ...on that round's unseen projects
    python ecosystem/check.py sample --per-code 8     # unlabelled diagnostics to label next
    python ecosystem/check.py run --update-baseline   # accept the new counts

Sources live in a cache outside the repository (``$TORCHLINT_ECOSYSTEM_CACHE``, default
``~/.cache/torchlint-ecosystem``). Each project is linted from its own root with the default
rules and its own configuration, as a new user would run ``torchlint check``. CI does not run
this; run it before and after every rule change and read what it adds and removes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PROJECTS_FILE = HERE / "projects.toml"
BASELINE_FILE = HERE / "baseline.json"
LABELS_FILE = HERE / "labels.csv"
LABEL_FIELDS = ("project", "path", "line", "code", "verdict", "reason", "old_verdict")
# What a project contributes to the corpus: code, notebooks and what declares dependencies.
SOURCE_PATTERNS = (
    "*.py",
    "*.ipynb",
    "pyproject.toml",
    "setup.cfg",
    "requirements*.txt",
    "environment*.yml",
    "environment*.yaml",
)


@dataclass(frozen=True)
class Project:
    name: str
    source: str
    commit: str
    # The round whose precision figure this project measured, unseen by every rule then
    # (LABELLING.md); empty for the projects the rules were tuned on from the start.
    unseen_in: str = ""


@dataclass(frozen=True)
class Finding:
    project: str
    path: str
    line: int
    column: int
    code: str
    message: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.project, self.path, self.line, self.code)

    def show(self) -> str:
        return f"{self.project}/{self.path}:{self.line}:{self.column}: {self.code} {self.message}"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "torchlint-ecosystem"
    return Path(os.environ.get("TORCHLINT_ECOSYSTEM_CACHE", default))


def load_projects(only: str | None = None) -> list[Project]:
    with PROJECTS_FILE.open("rb") as file:
        projects = [Project(**entry) for entry in tomllib.load(file)["project"]]
    if only:
        wanted = set(only.split(","))
        unknown = wanted - {project.name for project in projects}
        if unknown:
            sys.exit(f"unknown project(s): {', '.join(sorted(unknown))}")
        projects = [project for project in projects if project.name in wanted]
    return projects


def source_root(project: Project) -> Path:
    return cache_dir() / "src" / project.name


# --- prepare ---------------------------------------------------------------------------------


def _find_git_dir(mirrors: Path, project: Project) -> Path | None:
    owner, name = project.source.split("/")
    for candidate in (
        mirrors / f"{owner}+{name}" / "repo",
        mirrors / f"{owner}+{name}",
        mirrors / name,
        mirrors / f"{name}.git",
    ):
        for git_dir in (candidate, candidate / ".git"):
            if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir():
                return git_dir
    return None


def _extract(git_dir: Path, commit: str, target: Path) -> None:
    """Write the commit's source files (by ``SOURCE_PATTERNS``) under ``target``."""
    git = ["git", "--git-dir", str(git_dir)]
    listing = subprocess.run(
        [*git, "ls-tree", "-r", "-z", commit], capture_output=True, check=True
    ).stdout.decode()
    wanted = []
    for entry in filter(None, listing.split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, sha = meta.split()
        name = path.rsplit("/", 1)[-1]
        if kind == "blob" and mode != "120000" and any(fnmatch(name, p) for p in SOURCE_PATTERNS):
            wanted.append((sha, path))
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha, _ in wanted).encode(),
        capture_output=True,
        check=True,
    ).stdout
    offset = 0
    for _, path in wanted:
        header_end = batch.index(b"\n", offset)
        header = batch[offset:header_end].split()
        offset = header_end + 1
        if header[-1] == b"missing":  # a large file the copy does not hold
            continue
        size = int(header[2])
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(batch[offset : offset + size])
        offset += size + 1


def prepare(projects: list[Project], mirrors: Path) -> int:
    """Extract each project's pinned commit (sources only) into the cache."""
    missing = 0
    for project in projects:
        target = source_root(project)
        stamp = target / ".ecosystem-commit"
        if stamp.is_file() and stamp.read_text().strip() == project.commit:
            print(f"{project.name}: up to date")
            continue
        git_dir = _find_git_dir(mirrors, project)
        if git_dir is None:
            print(
                f"{project.name}: no git copy of {project.source} under {mirrors}; clone it there"
            )
            missing += 1
            continue
        if target.exists():
            shutil.rmtree(target)
        _extract(git_dir, project.commit, target)
        stamp.write_text(project.commit + "\n")
        files = sum(1 for _ in target.rglob("*.py"))
        print(f"{project.name}: extracted {files} Python files at {project.commit[:12]}")
    return 1 if missing else 0


# --- run -------------------------------------------------------------------------------------


def lint(project: Project, extra: list[str]) -> list[Finding]:
    root = source_root(project)
    if not root.is_dir():
        sys.exit(f"{project.name}: not prepared; run `python ecosystem/check.py prepare`")
    command = [sys.executable, "-m", "torchlint", "check", "--output-format", "json-lines"]
    command += ["--exit-zero", "--no-cache", "-q", *extra, "."]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{project.name}: torchlint exited {done.returncode}\n{done.stderr}")
    findings = []
    for line in done.stdout.splitlines():
        item = json.loads(line)
        path = item["filename"]
        if item.get("cell"):
            path = f"{path}#cell{item['cell']}"
        location = item["location"]
        findings.append(
            Finding(
                project.name,
                path,
                location["row"],
                location["column"],
                item["code"],
                item["message"],
            )
        )
    for error in done.stderr.splitlines():
        if "internal error" in error:
            print(f"  {project.name}: {error}")
    return findings


def save_findings(findings: Iterable[Finding], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as file:
        for finding in findings:
            file.write(json.dumps(finding.__dict__) + "\n")


def load_findings(path: Path) -> list[Finding]:
    if not path.is_file():
        return []
    with path.open() as file:
        return [Finding(**json.loads(line)) for line in file if line.strip()]


def counts_by_project(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for finding in findings:
        table[finding.project][finding.code] += 1
    return {project: dict(sorted(codes.items())) for project, codes in sorted(table.items())}


def print_counts(counts: dict[str, dict[str, int]], baseline: dict[str, dict[str, int]]) -> None:
    """Per-project and per-code counts, with the change against the baseline."""

    def delta(now: int, before: int) -> str:
        return f" ({now - before:+d})" if now != before else ""

    print("\nper project:")
    for project in sorted(set(counts) | set(baseline)):
        now = sum(counts.get(project, {}).values())
        before = sum(baseline.get(project, {}).values())
        print(f"  {project:32} {now:6d}{delta(now, before)}")
    per_code: Counter[str] = Counter()
    before_code: Counter[str] = Counter()
    for codes in counts.values():
        per_code.update(codes)
    for codes in baseline.values():
        before_code.update(codes)
    print("per code:")
    for code in sorted(set(per_code) | set(before_code)):
        print(f"  {code:8} {per_code[code]:6d}{delta(per_code[code], before_code[code])}")
    total, before_total = sum(per_code.values()), sum(before_code.values())
    print(f"  {'total':8} {total:6d}{delta(total, before_total)}")


def print_changes(previous: list[Finding], current: list[Finding], limit: int) -> None:
    """The diagnostics this run adds and removes against the previous run."""
    before = {finding.key: finding for finding in previous}
    now = {finding.key: finding for finding in current}
    added = [now[key] for key in sorted(now.keys() - before.keys())]
    removed = [before[key] for key in sorted(before.keys() - now.keys())]
    for title, items in (("added", added), ("removed", removed)):
        print(f"\n{title} since the previous run: {len(items)}")
        for finding in items[:limit]:
            print(f"  {finding.show()}")
        if len(items) > limit:
            print(f"  ... {len(items) - limit} more (--show N)")


def run(projects: list[Project], args: argparse.Namespace) -> int:
    """Lint; with ``--select`` only those rules, compared with the same selection's last run."""
    extra = ["--select", args.select] if args.select else []
    findings: list[Finding] = []
    for project in projects:
        found = lint(project, extra)
        print(f"{project.name}: {len(found)} diagnostics", flush=True)
        findings += found
    suffix = f".{args.select.replace(',', '_')}" if args.select else ""
    last = cache_dir() / f"last-run{suffix}.jsonl"
    previous = load_findings(last)
    complete = not args.projects
    if complete:
        if last.is_file():
            shutil.copy(last, cache_dir() / f"previous-run{suffix}.jsonl")
        save_findings(findings, last)
    counts = counts_by_project(findings)
    baseline = json.loads(BASELINE_FILE.read_text()) if BASELINE_FILE.is_file() else {}
    if args.projects:
        baseline = {name: baseline.get(name, {}) for name in counts}
    if args.select:
        codes = {finding.code for finding in findings} | set(args.select.split(","))
        baseline = {
            name: {code: n for code, n in table.items() if code in codes}
            for name, table in baseline.items()
        }
    print_counts(counts, baseline)
    if previous and complete:
        print_changes(previous, findings, args.show)
    if args.update_baseline:
        if args.select or args.projects:
            sys.exit("--update-baseline needs a run of every project with the default rules")
        BASELINE_FILE.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n")
        print(f"\nbaseline written: {BASELINE_FILE.relative_to(HERE.parent)}")
    return 0


# --- labels and precision --------------------------------------------------------------------


def load_labels() -> dict[tuple[str, str, int, str], dict[str, str]]:
    if not LABELS_FILE.is_file():
        return {}
    with LABELS_FILE.open(newline="") as file:
        return {
            (row["project"], row["path"], int(row["line"]), row["code"]): row
            for row in csv.DictReader(file)
        }


def projects_of_round(projects: list[Project], round_name: str) -> set[str]:
    """The projects a figure is measured on: those unseen in ``round_name``; with no round,
    the tuning set (every project but those unseen in the newest round)."""
    if round_name:
        chosen = {project.name for project in projects if project.unseen_in == round_name}
        if not chosen:
            sys.exit(f"no project was unseen in round {round_name!r}")
        return chosen
    newest = max((project.unseen_in for project in projects), default="")
    return {project.name for project in projects if not newest or project.unseen_in != newest}


def precision(args: argparse.Namespace) -> int:
    """Per-code sample precision, and the precision a user sees (weighted by code counts)."""
    findings = load_findings(cache_dir() / "last-run.jsonl")
    if not findings:
        sys.exit("no run yet: `python ecosystem/check.py run` first")
    group = projects_of_round(load_projects(), args.round)
    findings = [finding for finding in findings if finding.project in group]
    labels = {key: row for key, row in load_labels().items() if key[0] in group}
    print(f"projects: {', '.join(sorted(group))}\n")
    reported = Counter(finding.code for finding in findings)
    labelled: Counter[str] = Counter()
    true: Counter[str] = Counter()
    live = set()
    for finding in findings:
        label = labels.get(finding.key)
        if label is None or finding.key in live:
            continue
        live.add(finding.key)
        labelled[finding.code] += 1
        true[finding.code] += label["verdict"] == "true"
    print(f"{'code':8} {'reported':>8} {'labelled':>8} {'true':>5} {'precision':>9}")
    weighted = covered = 0.0
    for code in sorted(reported):
        if labelled[code]:
            share = true[code] / labelled[code]
            weighted += reported[code] * share
            covered += reported[code]
            figure = f"{share:9.0%}"
        else:
            figure = f"{'-':>9}"
        print(f"{code:8} {reported[code]:8d} {labelled[code]:8d} {true[code]:5d} {figure}")
    projects = {key[0] for key in live}
    print(
        f"\nlabelled diagnostics still reported: {len(live)} in {len(projects)} projects; "
        f"{sum(1 for label in labels.values() if label['verdict'] == 'true')} true, "
        f"{sum(1 for label in labels.values() if label['verdict'] != 'true')} false in all labels"
    )
    if covered:
        print(
            f"weighted precision: {weighted / covered:.1%} "
            f"(codes with labels cover {covered / sum(reported.values()):.0%} of diagnostics)"
        )
    relabelled = [row for row in labels.values() if row.get("old_verdict")]
    changed = [row for row in relabelled if row["old_verdict"] != row["verdict"]]
    if relabelled:
        print(
            f"relabelled under the strict question: {len(relabelled)}, verdict changed for "
            f"{len(changed)} ({sum(row['verdict'] == 'false' for row in changed)} true -> false)"
        )
    lost = [key for key, row in labels.items() if row["verdict"] == "true" and key not in live]
    from torchlint.registry import all_rules

    opt_in = {rule.code for rule in all_rules() if not rule.default}
    gone_false = sum(
        1 for key, row in labels.items() if row["verdict"] != "true" and key not in live
    )
    print(f"labelled false positives no longer reported: {gone_false}")
    moved = [key for key in lost if key[3] in opt_in]
    print(
        f"labelled TRUE positives no longer reported: {len(lost)}, of which {len(moved)} by "
        f"rules now opt-in, {len(lost) - len(moved)} by narrowing (read each: lost recall)"
    )
    for key in sorted(lost, key=lambda key: (key in moved, key))[: args.show]:
        where = " [opt-in now]" if key in moved else ""
        print(f"  {key[0]}/{key[1]}:{key[2]}: {key[3]}{where}  ({labels[key]['reason']})")
    return 0


def sample(args: argparse.Namespace) -> int:
    """Unlabelled diagnostics, stratified by code and spread over projects, with context."""
    findings = load_findings(cache_dir() / "last-run.jsonl")
    labels = load_labels()
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.key not in labels:
            by_code[finding.code].append(finding)
    rng = random.Random(args.seed)
    chosen: list[Finding] = []
    for code in sorted(by_code):
        if args.codes and code not in args.codes.split(","):
            continue
        pool = by_code[code]
        rng.shuffle(pool)
        pool.sort(key=lambda finding: sum(f.project == finding.project for f in chosen))
        picked: list[Finding] = []
        per_project: Counter[str] = Counter()
        for finding in pool:  # round-robin over projects first
            if len(picked) == args.per_code:
                break
            if per_project[finding.project] < max(1, args.per_code // 3):
                picked.append(finding)
                per_project[finding.project] += 1
        for finding in pool:
            if len(picked) == args.per_code:
                break
            if finding not in picked:
                picked.append(finding)
        chosen += picked
    writer = csv.writer(sys.stdout)
    writer.writerow(LABEL_FIELDS)
    for finding in chosen:
        file_path = source_root(Project(finding.project, "", "")) / finding.path.split("#")[0]
        writer.writerow([finding.project, finding.path, finding.line, finding.code, "", "", ""])
        print(f"# {file_path}:{finding.line}: {finding.message}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="extract the pinned sources into the cache")
    prep.add_argument("--mirrors", type=Path, required=True, help="folder of git copies")
    lint_parser = commands.add_parser("run", help="lint every project and diff the counts")
    lint_parser.add_argument("--update-baseline", action="store_true")
    lint_parser.add_argument("--show", type=int, default=40, help="changed diagnostics shown")
    lint_parser.add_argument(
        "--select", default="", help="only these codes (exact codes, comma-separated)"
    )
    prec = commands.add_parser("precision", help="precision of the last run on the labels")
    prec.add_argument("--show", type=int, default=40)
    prec.add_argument(
        "--round", default="", help="the projects unseen in this round (default: the tuning set)"
    )
    samp = commands.add_parser("sample", help="CSV rows of unlabelled diagnostics to label")
    samp.add_argument("--per-code", type=int, default=8)
    samp.add_argument("--codes", default="", help="comma-separated codes (default: all)")
    samp.add_argument("--seed", type=int, default=0)
    for sub in (prep, lint_parser):
        sub.add_argument("--projects", default="", help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(load_projects(args.projects), args.mirrors)
    if args.command == "run":
        return run(load_projects(args.projects), args)
    if args.command == "precision":
        return precision(args)
    return sample(args)


if __name__ == "__main__":
    sys.exit(main())
