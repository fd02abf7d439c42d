"""How fast `torchlint server` answers an edit, and whether its memory stays flat.

Starts the server as an editor would (a subprocess speaking LSP over stdio), opens a
generated training file of about ``--lines`` lines, then:

- latency: ``--edits`` single-line edits, each waited for; the time from sending
  ``didChange`` to receiving the ``publishDiagnostics`` for that version (debounce
  included). Prints the median and the worst. Target: median <= 250 ms for 2,000 lines.
  For comparison it prints the engine's own time on the same file, in-process.
- memory: ``--memory-edits`` edits sent in bursts (as typing does), waiting for the
  diagnostics after each burst, sampling the server's resident memory (Linux /proc).

    python benchmarks/lsp_bench.py
    python benchmarks/lsp_bench.py --lines 500 --edits 20 --memory-edits 200

Not a test: figures depend on the machine. Needs the ``lsp`` extra (pygls).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_bad.py"
EDITED_LINE = 1  # the docstring line: edits there change no finding's position


def training_file(lines: int) -> str:
    """The example training script's imports, then renamed copies of its code, to ``lines``."""
    example = EXAMPLE.read_text(encoding="utf-8").split('\nif __name__ == "__main__":')[0]
    header, _, body = example.partition("\n\n\nclass ")
    parts = [header + "\n"]
    n = 0
    while sum(part.count("\n") for part in parts) < lines:
        copy = body.replace("Classifier", f"Classifier{n}").replace("def main", f"def main{n}")
        parts.append(f"\n\nclass {copy}")
        n += 1
    return "".join(parts)


def engine_ms(text: str, runs: int = 3) -> float:
    """The engine alone on the same text, in this process: what the server cannot beat."""
    from torchlint.config import build_settings
    from torchlint.engine import lint_source
    from torchlint.registry import selected_rules

    settings = build_settings(None)
    rules = selected_rules(settings.selected_codes)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        lint_source("train.py", text, settings, rules)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Bench:
    def __init__(self, client: LanguageClient, uri: str) -> None:
        self.client = client
        self.uri = uri
        self.version = 1
        self.arrived: dict[int, float] = {}
        self.event = asyncio.Event()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            if params.uri == uri and params.version is not None:
                self.arrived[params.version] = time.perf_counter()
                self.event.set()

    def edit(self) -> int:
        self.version += 1
        text = f'"""A long training script (edit {self.version})."""'
        line = types.Position(line=EDITED_LINE - 1, character=0)
        end = types.Position(line=EDITED_LINE, character=0)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(line, end), text=text + "\n"
                    )
                ],
            )
        )
        return self.version

    async def wait(self, version: int) -> float:
        while version not in self.arrived:
            self.event.clear()
            await self.event.wait()
        return self.arrived[version]


async def main(args: argparse.Namespace) -> None:
    text = training_file(args.lines)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        path.write_text(text)
        client = LanguageClient("lsp-bench", "1")
        await client.start_io(sys.executable, "-m", "torchlint", "server", cwd=folder)
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=Path(folder).as_uri()
            )
        )
        client.initialized(types.InitializedParams())
        pid = client._server.pid  # type: ignore[union-attr]
        bench = Bench(client, path.as_uri())
        started = time.perf_counter()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(path.as_uri(), "python", 1, text)
            )
        )
        first = await bench.wait(1) - started
        print(f"file: {text.count(chr(10))} lines; first diagnostics after {first * 1000:.0f} ms")

        latencies = []
        for _ in range(args.edits):
            sent = time.perf_counter()
            version = bench.edit()
            latencies.append(await bench.wait(version) - sent)
        ms = sorted(1000 * t for t in latencies)
        print(
            f"latency over {args.edits} edits: median {statistics.median(ms):.0f} ms, "
            f"min {ms[0]:.0f} ms, max {ms[-1]:.0f} ms (target: median <= 250 ms)"
        )
        print(f"the engine alone on this file: {engine_ms(text):.0f} ms (median of 3)")

        samples = [(0, rss_mib(pid))]
        done = 0
        while done < args.memory_edits:
            for _ in range(min(args.burst, args.memory_edits - done)):
                version = bench.edit()
                done += 1
                await asyncio.sleep(0.002)
            await bench.wait(version)
            if done % max(args.memory_edits // 10, 1) < args.burst:
                samples.append((done, rss_mib(pid)))
        print("server RSS (MiB) after N edits: " + ", ".join(f"{n}: {m:.0f}" for n, m in samples))
        growth = samples[-1][1] - samples[0][1]
        print(f"growth over {done} edits: {growth:+.1f} MiB")
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--memory-edits", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=10, help="edits sent before waiting")
    asyncio.run(main(parser.parse_args()))
