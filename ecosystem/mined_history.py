"""History counts for a few codes, quickly: for the commits of each git directory that change
a line matching ``--pattern`` (``git log -G``), lint every changed Python file before and after
the commit with only ``--select``'s rules, in this process, and print each diagnostic that the
commit made go away (one line per event, to be read by hand: a deleted file counts too).

    python ecosystem/mined_history.py --select TL316,TL317 --pattern 'zero_grad|backward' \\
        --repo /work/.mirror/pytorch+opacus/repo

``ecosystem/history.py`` is the full version (every rule, hunk mapping, deleted functions
counted apart); this one is for checking a new rule against the shapes it was mined from.
"""

from __future__ import annotations

import argparse
import subprocess
from collections import Counter

from torchlint.config import build_settings
from torchlint.engine import lint_source
from torchlint.registry import all_rules


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout


def _show(repo: str, rev: str, path: str) -> str | None:
    done = subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], capture_output=True)
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", action="append", required=True)
    parser.add_argument("--select", required=True, help="comma-separated codes")
    parser.add_argument("--pattern", required=True, help="git log -G regular expression")
    args = parser.parse_args()
    codes = args.select.split(",")
    settings = build_settings(None, table={"select": codes})
    rules = [rule for rule in all_rules() if rule.code in codes]

    def count(source: str | None, path: str) -> Counter[str]:
        if source is None:
            return Counter()
        return Counter(d.code for d in lint_source(path, source, settings, rules).diagnostics)

    fixed: Counter[str] = Counter()
    for repo in args.repo:
        log = _git(
            repo, "log", "-E", "-G", args.pattern, "--no-merges", "--format=%H", "--", "*.py"
        )
        commits = log.split()
        for commit in commits:
            names = _git(
                repo,
                "diff-tree",
                "--no-commit-id",
                "-r",
                "--name-only",
                f"{commit}^",
                commit,
                "--",
                "*.py",
            )
            for path in names.split():
                before = count(_show(repo, f"{commit}^", path), path)
                if not before:
                    continue
                after = count(_show(repo, commit, path), path)
                for code, n in before.items():
                    if after[code] < n:
                        fixed[code] += n - after[code]
                        print("EVENT", repo, commit[:10], path, code, n, after[code], flush=True)
        print(repo, len(commits), "commits", flush=True)
    print("fixed", dict(fixed))


if __name__ == "__main__":
    main()
