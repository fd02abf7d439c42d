"""What the project index costs, against the libcst parse-only floor (DESIGN.md, Performance).

Builds the summary of every Python file of a corpus (``torchlint.project.summary``: read,
digest, ``ast`` summary), which is the most a run can need (the reverse view of callers reads
them all; a usual run reads only the files its files import), and times it against reading,
decoding and ``libcst.parse_module`` of the same files. Budget: <= 10 % of parse-only, cold.
Then the same with the summaries' disk cache warm (what a second run pays).

    python benchmarks/index_cost.py DIR [--sample N] [--repeat R]

One process, in-process timings (both sides pay the same file reads).
"""

from __future__ import annotations

import argparse
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


def parse_only(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        try:
            text = read_source(path).text
            libcst.parse_module(text)
        except (SourceError, Exception):  # noqa: BLE001 - the floor counts failures too
            pass
    return time.perf_counter() - start


def index_build(files: list[Path], cache_dir: Path | None) -> float:
    index = ProjectIndex(cache_dir=cache_dir)
    start = time.perf_counter()
    for path in files:
        index.summary(path.resolve())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sample", type=int, default=1, help="every N-th file (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of R runs")
    args = parser.parse_args()
    files = _files(args.corpus, args.sample)
    size = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} files, {size:.1f} MB")
    parse = min(parse_only(files) for _ in range(args.repeat))
    cold = warm = float("inf")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as directory:
            cold = min(cold, index_build(files, Path(directory)))
            warm = min(warm, index_build(files, Path(directory)))
    print(f"parse-only (libcst)        {parse:8.2f} s")
    print(f"index, cold (ast + store)  {cold:8.2f} s  {100 * cold / parse:5.1f} % of parse-only")
    print(f"index, warm (disk cache)   {warm:8.2f} s  {100 * warm / parse:5.1f} % of parse-only")


if __name__ == "__main__":
    main()
