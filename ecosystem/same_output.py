"""Does a change keep torchlint's output the same on the ecosystem corpus, byte for byte?

Speed work must not change what users see. This lints every prepared project (see
``check.py prepare``) with two revisions of torchlint, each from a git worktree of this
repository, for each ``--jobs`` value, and compares stdout (the full report format, with
source lines and fix hints) and the error lines on stderr. Exit 0 when all are identical.

    python ecosystem/same_output.py BEFORE                  # BEFORE vs the working tree
    python ecosystem/same_output.py BEFORE --after main     # two revisions
    python ecosystem/same_output.py BEFORE --jobs 1 2 --select ALL --projects kornia,ignite

Sources live in ``$TORCHLINT_ECOSYSTEM_CACHE`` (see ``check.py``). CI does not run this.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from check import load_projects, source_root  # noqa: E402 - the sibling script


def checkout(revision: str, into: Path) -> Path:
    """A detached worktree of ``revision`` (removed again by ``cleanup``)."""
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(into), revision],
        check=True,
    )
    return into


def cleanup(worktree: Path) -> None:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False
    )


def lint(source: Path, project_root: Path, jobs: int, select: str) -> tuple[str, list[str]]:
    """stdout and the error lines of ``torchlint check`` from ``source``, run in the project."""
    environment = {**os.environ, "PYTHONPATH": str(source), "TORCHLINT_TIMING": "0"}
    command = [sys.executable, "-m", "torchlint", "check", "--no-cache", "--exit-zero"]
    command += ["--jobs", str(jobs), "--select", select, "."]
    done = subprocess.run(
        command, cwd=project_root, capture_output=True, text=True, env=environment, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{project_root}: torchlint exited {done.returncode}\n{done.stderr[-2000:]}")
    errors = [line for line in done.stderr.splitlines() if line.startswith("torchlint: error")]
    return done.stdout, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="git revision to compare against")
    parser.add_argument("--after", help="git revision (default: the working tree)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--select", default="ALL", help="rules (default ALL)")
    parser.add_argument("--projects", default="", help="comma-separated names (default: all)")
    options = parser.parse_args()
    wanted = {name for name in options.projects.split(",") if name}
    projects = [p for p in load_projects() if not wanted or p.name in wanted]
    differing = 0
    with tempfile.TemporaryDirectory(prefix="torchlint-same-output-") as tmp:
        before = checkout(options.before, Path(tmp) / "before")
        after = checkout(options.after, Path(tmp) / "after") if options.after else REPO
        try:
            for project in projects:
                root = source_root(project)
                for jobs in options.jobs:
                    old = lint(before, root, jobs, options.select)
                    new = lint(after, root, jobs, options.select)
                    same = old == new
                    differing += not same
                    lines = old[0].count("\n")
                    verdict = "identical" if same else "DIFFERENT"
                    print(f"{project.name:32} --jobs {jobs}: {verdict} ({lines} lines)", flush=True)
                    if not same:
                        diff = difflib.unified_diff(
                            (old[0] + "\n".join(old[1])).splitlines(),
                            (new[0] + "\n".join(new[1])).splitlines(),
                            "before",
                            "after",
                            lineterm="",
                            n=1,
                        )
                        print("\n".join(list(diff)[:60]))
        finally:
            cleanup(before)
            if options.after:
                cleanup(after)
    print("all identical" if not differing else f"{differing} runs differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
