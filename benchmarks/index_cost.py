"""What the project index costs, against the libcst parse-only floor (DESIGN.md, Performance).

Builds the summary of every Python file of a corpus (``torchlint.project.summary``: read,
digest, ``ast`` summary), which is the most a run can need (the reverse view of callers reads
them all; a usual run reads only the files its files import), and times it against reading,
decoding and ``libcst.parse_module`` of the same files. Budget: <= 10 % of parse-only, cold.
Then the same with the summaries' disk cache warm (what a second run pays).

    python benchmarks/index_cost.py DIR [--sample N] [--repeat R]
    python benchmarks/index_cost.py DIR --lint     # what a real cold `check` spends on it

With ``--lint`` it lints the files (default rules, one process, no result cache) with a
fresh index and reports the time spent building summaries, which are then only those of the
files that the linted files import and the rules ask about.

One process; the two are timed file by file in turn, so both see the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import libcst

from torchlint.discovery import discover
from torchlint.project.index import ProjectIndex
from torchlint.sourcefile import SourceError, read_source


def _files(corpus: Path, sample: int) -> list[Path]:
    found = [p for p in discover([corpus], root=corpus).files if p.suffix == ".py"]
    return found[::sample]


def measure(files: list[Path], cache_dir: Path) -> tuple[float, float]:
    """Seconds of parse-only and of the cold index, file by file in turn (so both see the
    same load on a shared machine)."""
    index = ProjectIndex(cache_dir=cache_dir)
    parse = build = 0.0
    clock = time.perf_counter
    for path in files:
        start = clock()
        with contextlib.suppress(SourceError, Exception):  # the floor counts failures too
            libcst.parse_module(read_source(path).text)
        middle = clock()
        index.summary(path.resolve())
        build += clock() - middle
        parse += middle - start
    return parse, build


def warm(files: list[Path], cache_dir: Path) -> float:
    index = ProjectIndex(cache_dir=cache_dir)
    start = time.perf_counter()
    for path in files:
        index.summary(path.resolve())
    return time.perf_counter() - start


def lint_cost(files: list[Path], corpus: Path) -> tuple[float, float, int]:
    """(seconds linting, seconds of it building summaries, summaries built)."""
    from torchlint.config import build_settings
    from torchlint.runner import Mode, run

    spent = [0.0, 0]
    original = ProjectIndex._summarize

    def timed(self: ProjectIndex, digest: str, raw: bytes):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return original(self, digest, raw)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += 1

    ProjectIndex._summarize = timed  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        run(files, build_settings(None), Mode(), jobs=1, roots=[corpus])
        total = time.perf_counter() - start
    finally:
        ProjectIndex._summarize = original  # type: ignore[method-assign]
    return total, spent[0], int(spent[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sample", type=int, default=1, help="every N-th file (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of R runs")
    parser.add_argument("--lint", action="store_true", help="measure inside a real cold run")
    args = parser.parse_args()
    files = _files(args.corpus, args.sample)
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} files, {size:.1f} MB")
    if args.lint:
        total, spent, built = lint_cost(files, args.corpus)
        print(f"cold check, one process    {total:8.2f} s")
        print(
            f"  of which summaries       {spent:8.2f} s  ({built} files, {100 * spent / total:.1f} %)"
        )
        return
    parse = cold = hot = float("inf")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as directory:
            one, two = measure(files, Path(directory))
            parse, cold = min(parse, one), min(cold, two)
            hot = min(hot, warm(files, Path(directory)))
    print(f"parse-only (libcst)        {parse:8.2f} s")
    print(f"index, cold (ast + store)  {cold:8.2f} s  {100 * cold / parse:5.1f} % of parse-only")
    print(f"index, warm (disk cache)   {hot:8.2f} s  {100 * hot / parse:5.1f} % of parse-only")


if __name__ == "__main__":
    main()
