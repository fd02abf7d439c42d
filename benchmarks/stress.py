"""Does torchlint's cost grow with the input, not with its square? (DESIGN.md, Performance.)

Generates inputs of the shapes that code generators, exported models and long scripts
produce, each at a size N and at 2N, and runs every mode on both in a fresh subprocess,
measured from outside: CPU seconds (user + system, steadier than the wall clock on a busy
machine) and peak memory (``ru_maxrss``), both from ``wait4``:

========================  =====================================================  ============
input                     what it is                                             N (scale 1)
========================  =====================================================  ============
``scope-calls``           N lines ``xI = torch.zeros(1).cuda()`` in one scope    2,500 lines
``line-diagnostics``      one line, a list of N ``torch.zeros(1).cuda()``        2,500 calls
``big-file``              copies of ``examples/train_bad.py`` up to N KiB        128 KiB
``long-line``             one line ``w = torch.tensor([...]).cuda()`` of N KB    128 KB
``nested-brackets``       300 statements of N nested lists (up to max-nesting)   19 deep
``nested-too-deep``       the same, deeper than max-nesting: not parsed          45 deep
``nested-blocks``         30 copies of N nested ``if``/``for``/``def`` blocks    24 deep
``tensor-table``          a dict literal of N ``torch.tensor([...])`` rows       1,000 rows
``dense-table``           a list of rows of 16 short numbers, N KiB              512 KiB
``no-grad-blocks``        one function of N ``with torch.no_grad():`` blocks     1,500 blocks
``many-files``            N small training files in one directory                500 files
``notebook``              a notebook of N code cells                             250 cells
``notebook-too-deep``     the same, one cell nested past max-nesting: not parsed 250 cells
========================  =====================================================  ============

``--scale K`` multiplies every N by K (the nesting depths stop below the limits: 40
brackets (``max-nesting``; past it, 200: CPython's), 100 blocks; the big file and the long
line below ``max-file-size``).
``--scale 4`` reaches 10,000 calls in one scope, 10,000 diagnostics on one line, a 1 MiB
file (2N), 1 MB lines (2N), 2,000 files and a 1,000-cell notebook; ``--scale 20`` the
10,000 small files.

Modes: ``check`` (the default rules), ``all`` (``check --select ALL``), ``fix`` (``fix
--unsafe-fixes --select ALL`` on a copy), ``lsp`` (the language server's work, in
process: open the document, then one edit re-linted with the document's last parse, as
``torchlint server`` does, and the diagnostics converted to LSP's; no protocol) and
``flake8`` (``flake8 --select TL`` with the plugin, all rules; notebooks are not Python
to flake8). ``parse`` is the floor: reading and
``libcst.parse_module`` of the same files. Every run uses ``--jobs 1`` and a
configuration of its own (nothing from this checkout applies) and writes the ``full``
output to /dev/null.

The table gives, per input and mode, the seconds and peak MB at N and 2N, the growth when
the input doubles (of the cost above an empty run of the same mode, so interpreter
start-up does not hide it; shown only where the cost at 2N is big enough to measure:
0.3 s, 15 MB at N), and the peak at 2N over the parse floor's peak. Budgets: growth at most 2.3
(doubling the input at most doubles the cost, with room for noise), and no run above
1 GB. Each run is capped (``--timeout``, ``--memory-limit``) so a regression shows as
``>Ns`` or ``>MB`` instead of taking the machine down.

    python benchmarks/stress.py                          # everything, scale 1 (minutes)
    python benchmarks/stress.py --only scope-calls,line-diagnostics --modes all,fix
    python benchmarks/stress.py --scale 4                # the issue's sizes (long)

Not a test: the figures depend on the machine; tests count work instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

GROWTH_BUDGET = 2.3
MEMORY_BUDGET_MB = 1024
MIN_SECONDS = 0.3  # below this (above the empty run) a ratio is noise
MIN_MB = 15.0
MAX_FILE_BYTES = 1024 * 1024 - 4096  # stay under the default max-file-size

# --- the inputs ------------------------------------------------------------------------------

HEADER = "import torch\nimport torch.nn as nn\n"


def scope_calls(n: int) -> dict[str, str]:
    lines = [HEADER, *(f"x{i} = torch.zeros(1).cuda()\n" for i in range(n))]
    return {"calls.py": "".join(lines)}


def line_diagnostics(n: int) -> dict[str, str]:
    return {"line.py": HEADER + "t = [" + ", ".join(["torch.zeros(1).cuda()"] * n) + "]\n"}


def _training_copies(size: int) -> str:
    example = (ROOT / "examples" / "train_bad.py").read_text(encoding="utf-8")
    example = example.split('\nif __name__ == "__main__":')[0]
    header, _, body = example.partition("\n\n\nclass ")
    parts, total, n = [header + "\n"], len(header) + 1, 0
    while True:
        copy = "\n\nclass " + body.replace("Classifier", f"Classifier{n}").replace(
            "Jittered", f"Jittered{n}"
        ).replace("def main", f"def main{n}")
        if total + len(copy) > size:
            return "".join(parts)
        parts.append(copy)
        total += len(copy)
        n += 1


def big_file(kib: int) -> dict[str, str]:
    return {"big.py": _training_copies(min(kib * 1024, MAX_FILE_BYTES))}


def long_line(kb: int) -> dict[str, str]:
    size = min(kb * 1000, MAX_FILE_BYTES - 200)
    numbers, total, i = [], 0, 0
    while total < size:
        number = f"{(i * 7919) % 100000 / 100000:.5f}"
        numbers.append(number)
        total += len(number) + 2
        i += 1
    return {"line.py": HEADER + "w = torch.tensor([" + ", ".join(numbers) + "]).cuda()\n"}


def nested_brackets(depth: int) -> dict[str, str]:
    depth = min(depth, 190)  # CPython refuses 200 nested brackets
    statement = "x = " + "[" * depth + "torch.zeros(1).cuda()" + "]" * depth + "\n"
    return {"nested.py": HEADER + statement * 300}


def nested_too_deep(depth: int) -> dict[str, str]:
    """Past ``max-nesting`` (40): what the check costs on a file it keeps from the parser."""
    return nested_brackets(max(depth, 41))


def nested_blocks(depth: int) -> dict[str, str]:
    depth = min(depth, 95)  # CPython refuses 100 levels of indentation
    lines = []
    for level in range(depth):
        pad = "    " * level
        kind = level % 3
        if kind == 0:
            lines.append(f"{pad}def f{level}(x):\n")
        elif kind == 1:
            lines.append(f"{pad}if x:\n")
        else:
            lines.append(f"{pad}for x in range(3):\n")
        lines.append(f"{pad}    y = x.cuda()\n")
    lines.append("    " * depth + "return torch.zeros(1).cuda()\n")
    return {"blocks.py": HEADER + "".join(lines) * 30}


def tensor_table(n: int) -> dict[str, str]:
    rows = []
    for i in range(n):
        values = ", ".join(f"{(i * 31 + j) % 997 / 997:.4f}" for j in range(16))
        device = ', device="cuda"' if i % 2 else ""
        rows.append(f'    "layer{i}.weight": torch.tensor([{values}]{device}),\n')
    return {"table.py": HEADER + "STATE = {\n" + "".join(rows) + "}\n"}


def dense_table(kib: int) -> dict[str, str]:
    """The densest data a generator writes: 2 to 3 bytes a token, one list deep. At 512 KiB
    (scale 1) its parse is estimated past ``max-parse-memory``: not parsed, so this measures
    the estimate; ``--scale 0.25`` (128 and 256 KiB) is parsed."""
    size = min(kib * 1024, MAX_FILE_BYTES)
    row = "    (" + ", ".join(str(i % 10) for i in range(16)) + "),\n"
    rows = max(1, (size - 100) // len(row))
    return {"dense.py": HEADER + "TABLE = [\n" + row * rows + "]\n"}


def no_grad_blocks(n: int) -> dict[str, str]:
    blocks = "".join(
        f"    with torch.no_grad():\n        out{i} = model(batches[{i}])\n" for i in range(n)
    )
    return {"evaluate.py": HEADER + "def evaluate(model, batches):\n" + blocks}


SMALL_FILE = """import torch
from torch.utils.data import DataLoader

model = Net().cuda()
loader = DataLoader(data, batch_size=32)
for x, y in loader:
    loss = model(x.cuda()).sum()
    loss.backward()
"""


def many_files(n: int) -> dict[str, str]:
    return {f"pkg/m{i // 100}/f{i}.py": SMALL_FILE for i in range(n)}


def notebook(n: int) -> dict[str, str]:
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": ["import torch\n"]}]  # fmt: skip
    for i in range(n):
        source = [f"x{i} = torch.zeros(4).cuda()\n", f"y{i} = x{i} * 2\n", f"print(y{i}.sum())"]
        cells.append({"cell_type": "code", "metadata": {}, "execution_count": None,
                      "outputs": [], "source": source})  # fmt: skip
    document = {"cells": cells, "metadata": {"language_info": {"name": "python"}},
                "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    return {"notebook.ipynb": json.dumps(document, indent=1)}


def notebook_too_deep(n: int) -> dict[str, str]:
    """The notebook of N cells, one of them nested past max-nesting: no cell is parsed."""
    document = json.loads(notebook(n)["notebook.ipynb"])
    deep = "deep = " + "[" * 45 + "1" + "]" * 45 + "\n"
    document["cells"][n // 2]["source"].insert(0, deep)
    return {"notebook.ipynb": json.dumps(document, indent=1)}


@dataclass(frozen=True)
class Input:
    name: str
    make: Callable[[int], dict[str, str]]
    size: int  # N at scale 1
    unit: str
    limit: int | None = None  # the largest N the input can have


INPUTS = (
    Input("scope-calls", scope_calls, 2500, "calls"),
    Input("line-diagnostics", line_diagnostics, 2500, "calls"),
    Input("big-file", big_file, 128, "KiB", limit=512),
    Input("long-line", long_line, 128, "KB", limit=512),
    Input("nested-brackets", nested_brackets, 19, "deep", limit=19),  # 2N + 1: max-nesting
    Input("nested-too-deep", nested_too_deep, 45, "deep", limit=95),
    Input("nested-blocks", nested_blocks, 24, "deep", limit=47),
    Input("tensor-table", tensor_table, 1000, "rows"),
    Input("dense-table", dense_table, 512, "KiB", limit=512),
    Input("no-grad-blocks", no_grad_blocks, 1500, "blocks"),
    Input("many-files", many_files, 500, "files"),
    Input("notebook", notebook, 250, "cells"),
    Input("notebook-too-deep", notebook_too_deep, 250, "cells"),
)
MODES = ("check", "all", "fix", "lsp", "flake8")


# --- in-process drivers (``stress.py --driver MODE CONFIG PATHS...``) --------------------------


def _drive(mode: str, config: Path, paths: list[str]) -> None:
    """The parse floor, and the language server's work without its protocol."""
    import torchlint.registry  # noqa: F401 - hands the rules to the settings, as the CLI does
    from torchlint.config import build_settings

    settings = build_settings(config)
    files = [f for p in map(Path, paths) for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])]
    for path in files:
        text = path.read_text(encoding="utf-8")
        if mode == "parse":
            if path.suffix == ".ipynb":
                from torchlint.notebook import parse_notebook

                for cell in parse_notebook(text).code_cells:
                    _parse(cell.source)
            else:
                _parse(text)
        elif mode == "lsp":
            _lsp(path, text, settings)


def _parse(text: str) -> None:
    import libcst

    with contextlib.suppress(Exception):  # the floor of what parses
        libcst.parse_module(text)


def _lsp(path: Path, text: str, settings: object) -> None:
    from torchlint.server.convert import to_lsp
    from torchlint.server.documents import lint_text
    from torchlint.server.incremental import Document
    from torchlint.server.positions import Positions

    if path.suffix == ".ipynb":
        from torchlint.notebook import parse_notebook
        from torchlint.server.notebooks import CellText, lint_cells

        cells = tuple(
            CellText(f"cell{i}", cell.source, cell.lint)
            for i, cell in enumerate(parse_notebook(text).cells)
        )
        lint_cells(str(path), cells, settings)  # type: ignore[arg-type]
        last = cells[-1]
        edited = (*cells[:-1], CellText(last.uri, last.text + "\nz = 1\n", last.code))
        lint_cells(str(path), edited, settings)  # type: ignore[arg-type]
        return
    document = Document()  # what the server keeps per open file: the last parse
    first, newline, rest = text.partition("\n")  # one edit: the first line, as typing does
    for version in (text, first + "  # edited" + newline + rest):
        found, _ = lint_text(str(path), version, settings, document)  # type: ignore[arg-type]
        positions = Positions(version)
        [to_lsp(diagnostic, positions) for diagnostic in found]


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float  # CPU (user + system); the wall clock's for a run stopped at the timeout
    mb: float
    failed: str = ""  # "time", "memory" or the exit status

    def cell(self) -> str:
        if self.failed == "time":
            return f">{self.seconds:.0f}s"
        if self.failed == "memory":
            return f">{self.mb:.0f}MB"
        return f"{self.seconds:.2f}s {self.mb:.0f}MB" + (f" ({self.failed})" if self.failed else "")


def measure(command: list[str], cwd: Path, timeout: float, memory_mb: int) -> Run:
    """CPU seconds and peak resident MB of ``command``, killed past the caps."""

    def limit() -> None:
        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=limit,
            env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime  # steadier than the wall clock on a busy machine
    if seconds >= timeout:
        return Run(timeout, mb, "time")
    if "MemoryError" in stderr or code in (-9, 137):
        return Run(cpu, memory_mb, "memory")
    # 1 is findings; a traceback is a crash whatever the status (a driver that fails at
    # once would otherwise read as a cheap run)
    if code not in (0, 1) or "Traceback (most recent call last)" in stderr:
        print(f"  ! exit {code}: {stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return Run(cpu, mb, f"exit {code}")
    return Run(cpu, mb)


class Suite:
    def __init__(self, work: Path, timeout: float, memory_mb: int) -> None:
        self.work = work
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.default = work / "default.toml"
        self.default.write_text(f"[tool.torchlint]\ncache-dir = {str(work / 'cache')!r}\n")
        self.everything = work / "all.toml"
        self.everything.write_text(
            f'[tool.torchlint]\nselect = ["ALL"]\ncache-dir = {str(work / "cache")!r}\n'
        )

    def write(self, files: dict[str, str], name: str) -> list[str]:
        folder = self.work / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(self.everything, folder / "pyproject.toml")  # for the flake8 plugin
        for relative, text in files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        tops = sorted({relative.split("/", 1)[0] for relative in files} - {"pyproject.toml"})
        return [str(folder / top) for top in tops]

    def command(self, mode: str, paths: list[str]) -> list[str]:
        python = [sys.executable]
        if mode in ("check", "all"):
            config = self.default if mode == "check" else self.everything
            return [*python, "-m", "torchlint", "check", *paths, "--config", str(config),
                    "--jobs", "1", "--no-cache", "--exit-zero"]  # fmt: skip
        if mode == "fix":
            return [*python, "-m", "torchlint", "fix", *paths, "--config", str(self.everything),
                    "--unsafe-fixes", "--jobs", "1", "--no-cache", "--exit-zero"]  # fmt: skip
        if mode == "flake8":  # the plugin finds the nearest pyproject.toml: `select = ALL`
            return [*python, "-m", "flake8", "--isolated", "--select", "TL", "-j", "1", *paths]
        return [*python, str(Path(__file__).resolve()), "--driver", mode, str(self.everything),
                *paths]  # fmt: skip

    def run(self, mode: str, files: dict[str, str]) -> Run:
        paths = self.write(files, "input")  # fix writes: every run gets a fresh copy
        return measure(self.command(mode, paths), self.work, self.timeout, self.memory_mb)


def _growth(small: Run, large: Run, empty: Run) -> tuple[str, str, bool]:
    """Growth of time and memory above the empty run, and whether it is within budget."""
    ok = not small.failed and not large.failed and large.mb <= MEMORY_BUDGET_MB
    cells = []
    for big, little, base, floor in (
        (large.seconds, small.seconds, empty.seconds, MIN_SECONDS),
        (large.mb, small.mb, empty.mb, MIN_MB),
    ):
        if large.failed or small.failed:
            cells.append("-")
            ok = False
        elif little - base < floor:
            cells.append("small")
        else:
            ratio = (big - base) / (little - base)
            cells.append(f"{ratio:.2f}")
            ok = ok and ratio <= GROWTH_BUDGET
    return cells[0], cells[1], ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every N by this")
    parser.add_argument("--only", default="", help="comma-separated inputs (default: all)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)}")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    parser.add_argument("--memory-limit", type=int, default=3000, help="MB per run")
    parser.add_argument("--keep", type=Path, help="generate the inputs here and keep them")
    parser.add_argument("--driver", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        _drive(args.driver[0], Path(args.driver[1]), args.driver[2:])
        return
    wanted = [i for i in INPUTS if not args.only or i.name in args.only.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    unknown = {*modes} - {*MODES} | {*args.only.split(",")} - {i.name for i in INPUTS} - {""}
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="torchlint-stress-"))
    work.mkdir(parents=True, exist_ok=True)
    suite = Suite(work, args.timeout, args.memory_limit)
    empty_files = {"empty.py": "import torch\n"}
    empty = {mode: suite.run(mode, empty_files) for mode in (*modes, "parse")}
    print(
        f"{'input':<17} {'mode':<6} {'N':>8} {'at N':>14} {'at 2N':>14} "
        f"{'x time':>7} {'x mem':>6} {'mem/parse':>9}  budget"
    )
    print(f"{'(empty file)':<17} {'':<6} {'':>8} " + ", ".join(
        f"{m} {r.seconds:.2f}s {r.mb:.0f}MB" for m, r in empty.items()
    ))  # fmt: skip
    failures = 0
    try:
        for item in wanted:
            n = max(1, round(item.size * args.scale))
            if item.limit is not None:
                n = min(n, item.limit)
            small_files, large_files = item.make(n), item.make(2 * n)
            floor = None
            for mode in ("parse", *modes):
                if mode == "flake8" and item.name.startswith("notebook"):
                    continue  # flake8 reads notebooks as Python: a syntax error, no TL
                small = suite.run(mode, small_files)
                large = suite.run(mode, large_files)
                time_growth, memory_growth, ok = _growth(small, large, empty[mode])
                if mode == "parse":  # the floor, not torchlint: libcst past max-nesting fails
                    floor = large
                else:
                    failures += not ok
                measured = floor and not floor.failed and not large.failed
                ratio = f"{large.mb / floor.mb:.1f}" if measured else "-"
                print(
                    f"{item.name:<17} {mode:<6} {f'{n} {item.unit}':>10} {small.cell():>14} "
                    f"{large.cell():>14} {time_growth:>7} {memory_growth:>6} {ratio:>9}  "
                    f"{'ok' if ok else 'floor' if mode == 'parse' else 'OVER'}",
                    flush=True,
                )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"budget: growth <= {GROWTH_BUDGET} when the input doubles (above the empty run; "
        f"'small' = under {MIN_SECONDS}s / {MIN_MB:.0f}MB at N), peak <= {MEMORY_BUDGET_MB} MB; "
        f"{failures} over"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
