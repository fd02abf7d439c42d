"""How fast is torchlint compared with just parsing? (DESIGN.md, Performance.)

Measures, on a real corpus (by default the Python sources of the installed torch package,
found without importing torch), with the same number of processes for every measurement:

* parse-only floor: read bytes + decode + ``libcst.parse_module`` for every file;
* cold run: ``torchlint check`` with all rules (``--select ALL``, or the rules given with
  ``--select``) and an empty cache;
* warm run: the same command again, nothing changed (every file from the cache);
* their ratios, of wall clock and of CPU time (budget: cold <= 1.2 x parse, warm <= 10 % of
  cold); on a busy machine the CPU ratio is the steadier one;
* with ``--timing``, one more cold run with ``TORCHLINT_TIMING=1``: the ten most expensive
  rules, analyses and engine phases;
* peak memory: the largest resident set of any one process (main or worker), from
  ``wait4``'s rusage, and the largest sum over the process tree, sampled from /proc on Linux
  (budget: 300 MB);
* linear growth: cold runs on 1/4, 1/2 and all of the files (every 4th, every 2nd file, so
  each subset is a fair sample), as seconds per MB of source;
* TorchFix, when installed in an environment of its own (``--torchfix PATH_TO_ITS_PYTHON``).

Every measurement runs in a fresh subprocess and is timed from outside (wall clock, so
interpreter start, imports, process pool start and, for torchlint, file discovery are
included). torchlint runs with ``--config`` pointing at an empty ``[tool.torchlint]`` table
in a temporary directory, so the corpus's or this checkout's configuration does not apply
and the cache goes to the temporary directory.

    python benchmarks/bench.py                    # the installed torch package
    python benchmarks/bench.py path/to/project    # any directory
    python benchmarks/bench.py --jobs 1 --repeat 3 --sample 4
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

BUDGET_COLD = 1.2
BUDGET_WARM = 0.10
BUDGET_MB = 300


# --- parse-only floor (runs in a subprocess: ``bench.py --parse-only LIST --jobs N``) ---------


def _parse_one(path: str) -> int:
    import libcst

    from torchlint.sourcefile import SourceError, read_source

    try:
        source = read_source(Path(path))
        libcst.parse_module(source.text)
    except (SourceError, libcst.ParserSyntaxError, RecursionError):
        return 0
    return 1


def _parse_only(list_file: Path, jobs: int) -> None:
    """The floor: the same pool shape as torchlint's runner, doing nothing but parse."""
    import libcst  # noqa: F401 - imported before forking, as torchlint does

    from torchlint import runner

    paths = list_file.read_text(encoding="utf-8").splitlines()
    workers = min(jobs, len(paths) // runner._MIN_FILES_PER_WORKER)
    if workers <= 1:
        parsed = sum(_parse_one(p) for p in paths)
    else:
        from concurrent.futures import ProcessPoolExecutor

        order = sorted(paths, key=lambda p: -os.stat(p).st_size)
        chunksize = max(1, min(8, len(paths) // (workers * 32)))
        with ProcessPoolExecutor(workers, mp_context=runner._context()) as pool:
            parsed = sum(pool.map(_parse_one, order, chunksize=chunksize))
    print(f"parsed {parsed} of {len(paths)}", file=sys.stderr)


# --- measuring a subprocess ------------------------------------------------------------------


@dataclass
class Measured:
    seconds: float
    cpu: float  # user + system seconds of the process and the workers it waited for
    max_rss_mb: float  # the largest resident set of any single process of the tree
    tree_rss_mb: float  # the largest sampled sum over the process tree (0 if not sampled)
    returncode: int
    stderr: str


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _rss_mb(pid: int) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _tree_rss(pid: int) -> float:
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += _rss_mb(current)
        stack.extend(_children(current))
    return total


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        peak_tree = 0.0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.25):
                peak_tree = max(peak_tree, _tree_rss(process.pid))

        sampler = None
        if sys.platform.startswith("linux"):
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        if sampler:
            sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    # ru_maxrss: kilobytes on Linux, bytes on macOS; covers the child and the descendants it waited for.
    scale = 2**20 if sys.platform == "darwin" else 2**10
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, cpu, usage.ru_maxrss / scale, peak_tree, process.returncode, stderr)


# --- the benchmark ---------------------------------------------------------------------------


def default_corpus() -> Path | None:
    spec = importlib.util.find_spec("torch")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def corpus_files(corpus: Path) -> list[Path]:
    from torchlint.discovery import discover

    found = discover([corpus], root=corpus, exclude=(), extend_exclude=(), respect_gitignore=True)
    return found.files


class Bench:
    def __init__(
        self, corpus: Path, files: list[Path], jobs: int, work: Path, select: str = "ALL"
    ) -> None:
        self.corpus = corpus
        self.select = select
        self.files = files
        self.jobs = jobs
        self.work = work
        self.config = work / "pyproject.toml"
        self.cache = work / "cache"
        self.config.write_text(f"[tool.torchlint]\ncache-dir = {str(self.cache)!r}\n")
        self.python = sys.executable

    def _list(self, files: list[Path], name: str) -> Path:
        path = self.work / name
        path.write_text("\n".join(str(f) for f in files) + "\n", encoding="utf-8")
        return path

    def parse_only(self, files: list[Path]) -> Measured:
        listing = self._list(files, "files.txt")
        command = [
            self.python,
            str(Path(__file__).resolve()),
            "--parse-only",
            str(listing),
            "--jobs",
            str(self.jobs),
        ]
        return self._checked(measure(command, self.work), "parse-only")

    def lint(self, files: list[Path] | None, *, cold: bool, timing: bool = False) -> Measured:
        if cold:
            shutil.rmtree(self.cache, ignore_errors=True)
        targets = [str(self.corpus)] if files is None else [str(f) for f in files]
        command = [
            self.python,
            "-m",
            "torchlint",
            "check",
            *targets,
            "--config",
            str(self.config),
            "--jobs",
            str(self.jobs),
            "--select",
            self.select,
            "--output-format",
            "concise",
            "--exit-zero",
            "--quiet",
        ]
        environment = {**os.environ, "TORCHLINT_TIMING": "1" if timing else "0"}
        return self._checked(measure(command, self.work, environment), "torchlint check")

    def torchfix(self, python: str, files: list[Path] | None) -> Measured:
        targets = [str(self.corpus)] if files is None else [str(f) for f in files]
        command = [python, "-m", "torchfix", "--jobs", str(self.jobs), *targets]
        return measure(command, self.work)

    @staticmethod
    def _checked(result: Measured, what: str) -> Measured:
        if result.returncode not in (0, 1):
            tail = "\n".join(result.stderr.splitlines()[-15:])
            raise SystemExit(f"{what} failed with exit code {result.returncode}:\n{tail}")
        return result


def _mb(files: list[Path]) -> float:
    return sum(f.stat().st_size for f in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "corpus",
        nargs="?",
        type=Path,
        help="directory to lint (default: the installed torch package)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="processes for every measurement (default: all CPUs)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="repeat each measurement, keep the fastest (default 1)",
    )
    parser.add_argument(
        "--sample", type=int, default=1, help="use every N-th file of the corpus (default 1: all)"
    )
    parser.add_argument("--no-linearity", action="store_true", help="skip the 1/4 and 1/2 runs")
    parser.add_argument(
        "--select", default="ALL", help="rules for the torchlint runs (default ALL: every rule)"
    )
    parser.add_argument(
        "--timing", action="store_true", help="one more cold run, with TORCHLINT_TIMING=1"
    )
    parser.add_argument(
        "--torchfix", metavar="PYTHON", help="python of an environment where TorchFix is installed"
    )
    parser.add_argument("--parse-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from torchlint.runner import default_jobs

    jobs = args.jobs or default_jobs()
    if args.parse_only:
        _parse_only(args.parse_only, jobs)
        return

    corpus = args.corpus or default_corpus()
    if corpus is None or not corpus.is_dir():
        raise SystemExit("no corpus: torch is not installed here; give a directory")
    corpus = corpus.resolve()
    files = corpus_files(corpus)[:: max(args.sample, 1)]
    if not files:
        raise SystemExit(f"no Python files under {corpus}")
    print(f"corpus   {corpus}")
    print(f"rules    --select {args.select}")
    print(
        f"files    {len(files)} ({_mb(files):.1f} MB), processes: {jobs} (of {os.cpu_count()} CPUs)"
    )
    print(
        f"python   {sys.version.split()[0]}, machine load average {os.getloadavg()[0]:.1f}"
        if hasattr(os, "getloadavg")
        else ""
    )

    with tempfile.TemporaryDirectory(prefix="torchlint-bench-") as tmp:
        bench = Bench(corpus, files, jobs, Path(tmp), args.select)
        explicit = None if args.sample == 1 else files  # a sample is passed file by file
        parse, cold, warm = [], [], []
        for _ in range(max(args.repeat, 1)):  # interleaved, so drifting load hits all alike
            parse.append(bench.parse_only(files))
            cold.append(bench.lint(explicit, cold=True))
            warm.append(bench.lint(explicit, cold=False))
        best = lambda runs: min(runs, key=lambda m: m.seconds)  # noqa: E731
        p, c, w = best(parse), best(cold), best(warm)
        rss = max(m.max_rss_mb for m in cold + warm)
        tree = max(m.tree_rss_mb for m in cold + warm)

        print()
        print("                       wall clock                    CPU (user+sys, all processes)")
        print(f"parse only (floor)   {p.seconds:8.2f} s                     {p.cpu:8.2f} s")
        print(
            f"torchlint cold       {c.seconds:8.2f} s   cold / parse = {c.seconds / p.seconds:.2f}  {c.cpu:8.2f} s   {c.cpu / p.cpu:.2f}   (budget {BUDGET_COLD})  {_verdict(c.seconds / p.seconds <= BUDGET_COLD)}"
        )
        print(
            f"torchlint warm       {w.seconds:8.2f} s   warm / cold  = {w.seconds / c.seconds:.1%}  {w.cpu:8.2f} s   {w.cpu / c.cpu:.1%}   (budget {BUDGET_WARM:.0%})  {_verdict(w.seconds / c.seconds <= BUDGET_WARM)}"
        )
        if len(parse) > 1:
            spread = lambda runs: statistics.pstdev(m.seconds for m in runs)  # noqa: E731
            print(
                f"  spread (stdev) over {len(parse)} runs: parse {spread(parse):.2f} s, cold {spread(cold):.2f} s, warm {spread(warm):.2f} s"
            )
            # Each pair ran back to back: its ratio sees the same load on both sides.
            pairs = [c_run.cpu / p_run.cpu for p_run, c_run in zip(parse, cold, strict=True)]
            print(
                f"  cold / parse (CPU) per interleaved pair: {', '.join(f'{r:.2f}' for r in pairs)}; median {statistics.median(pairs):.2f}"
            )
        print(
            f"peak memory          {rss:8.1f} MB  largest resident set of one process (budget {BUDGET_MB} MB)  {_verdict(rss <= BUDGET_MB)}"
        )
        print(
            f"  parse only:        {p.max_rss_mb:8.1f} MB  the same for the floor: what libcst itself needs for the largest file"
        )
        if tree:
            print(
                f"                     {tree:8.1f} MB  largest sum over the process tree ({jobs} workers + main), sampled every 0.25 s"
            )

        if not args.no_linearity:
            print()
            print("linear growth (cold runs; every 4th / every 2nd / every file):")
            rows = []
            for step, label in ((4, "1/4"), (2, "1/2"), (1, "all")):
                subset = files[::step]
                if step == 1:
                    seconds = c.seconds
                else:
                    seconds = min(
                        bench.lint(subset, cold=True).seconds for _ in range(max(args.repeat, 1))
                    )
                size = _mb(subset)
                rows.append((label, len(subset), size, seconds))
                print(
                    f"  {label:>3}  {len(subset):6d} files  {size:6.1f} MB  {seconds:8.2f} s  {seconds / size:6.3f} s/MB  {1000 * seconds / len(subset):6.1f} ms/file"
                )
            per_mb = [r[3] / r[2] for r in rows]
            print(
                f"  s/MB of all vs 1/4: {per_mb[-1] / per_mb[0]:.2f} (1.00 = perfectly linear; fixed start-up costs push the small runs up)"
            )

        if args.timing:
            timed = bench.lint(explicit, cold=True, timing=True)
            print()
            print("where a cold run's time goes (TORCHLINT_TIMING=1; wall clock per part):")
            table = timed.stderr[timed.stderr.find("Part ") :]
            print("".join(f"  {line}\n" for line in table.splitlines()), end="")

        print()
        if args.torchfix and Path(args.torchfix).exists():
            runs = [bench.torchfix(args.torchfix, explicit) for _ in range(max(args.repeat, 1))]
            t = best(runs)
            version = subprocess.run(
                [args.torchfix, "-m", "torchfix", "--version"], capture_output=True, text=True
            ).stdout.strip()
            print(
                f"TorchFix {version:<12} {t.seconds:8.2f} s   TorchFix / torchlint cold = {t.seconds / c.seconds:.2f}, peak {t.max_rss_mb:.0f} MB per process (exit {t.returncode})"
            )
            print(
                "  (default rules of each; TorchFix has no cache; its libcst version may differ from this environment's)"
            )
        else:
            print("TorchFix: not installed (skipped)")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER BUDGET"


if __name__ == "__main__":
    main()
