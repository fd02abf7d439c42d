"""`torchlint server` end to end: a real LSP client drives the server over its stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types  # noqa: E402

OPT_IN = '[tool.torchlint]\nextend-select = ["TL201", "TL203", "TL204"]\n'
BAD = "import torch\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'  # selects a device: TL201 applies\nmodel = torch.nn.Linear(2, 2).cuda()\n"
ISSUE_EXAMPLE = "import torch\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\nx = torch.zeros(3).cuda()\n"
WAIT = float(
    os.environ.get("TORCHLINT_LSP_WAIT", "120")
)  # seconds before a test gives up waiting for the server (a hang, not a timing)


@asynccontextmanager
async def lsp(root: Path, capabilities: types.ClientCapabilities | None = None):
    """A started, initialised client talking to `python -m torchlint server` in ``root``
    (with TL201 and TL203, which are opt-in, selected unless the test configures ``root``)."""
    config = root / "pyproject.toml"
    if not config.exists():
        config.write_text(OPT_IN)
    client = pytest_lsp.make_test_lsp_client()
    env = {**os.environ, "TORCHLINT_DEBUG": ""}
    await client.start_io(sys.executable, "-m", "torchlint", "server", cwd=str(root), env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or types.ClientCapabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="root")],
        )
    )
    try:
        yield client
    finally:
        await client.shutdown_session()


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), WAIT))


async def published(client: Any, uri: str, ready: Callable[[list[types.Diagnostic]], bool]):
    """Wait until the diagnostics published for ``uri`` satisfy ``ready``."""
    while not (uri in client.diagnostics and ready(client.diagnostics[uri])):
        await asyncio.sleep(0.02)
    return list(client.diagnostics[uri])


def codes(diagnostics: list[types.Diagnostic]) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


def open_file(client: Any, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def replace_all(client: Any, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text, so columns are characters) as an editor would."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: types.Position) -> int:
        return starts[min(position.line, len(lines))] + position.character

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


async def actions_for(client: Any, uri: str, diagnostics: list[types.Diagnostic], only=None):
    end = types.Position(line=0, character=0)
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostics[0].range if diagnostics else types.Range(end, end),
            context=types.CodeActionContext(diagnostics=diagnostics, only=only),
        )
    )


def test_diagnostics_on_open_and_change_and_cleared_on_close(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", BAD)
            found = await published(client, uri, bool)
            assert codes(found) == ["TL201"]
            diagnostic = found[0]
            assert diagnostic.range.start == types.Position(line=2, character=30)
            assert diagnostic.range.end.line == 2
            assert diagnostic.source == "torchlint"
            assert diagnostic.severity == types.DiagnosticSeverity.Warning
            assert diagnostic.message.startswith("`.cuda()` fails on machines without CUDA")
            assert diagnostic.code_description is None  # no documentation URL: no dead link

            replace_all(client, uri, "import torch\n\nx = torch.zeros(3)\n", 2)
            assert await published(client, uri, lambda d: not d) == []
            replace_all(client, uri, BAD + "other = torch.nn.Linear(1, 1).cuda()\n", 3)
            found = await published(client, uri, lambda d: len(d) == 2)
            assert [d.range.start.line for d in found] == [2, 3]

            client.text_document_did_close(
                types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri))
            )
            assert await published(client, uri, lambda d: not d) == []

    run(scenario)


def test_quick_fix_edit_makes_the_diagnostic_go_away(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", ISSUE_EXAMPLE)
            found = await published(client, uri, bool)
            tl201 = [d for d in found if d.code == "TL201"]
            actions = await actions_for(client, uri, tl201, only=[types.CodeActionKind.QuickFix])
            fixes = [a for a in actions if a.title.startswith("Fix TL201")]
            assert len(fixes) == 1
            assert "(unsafe" in fixes[0].title  # TL201's fix changes behaviour on purpose
            fixed = apply(ISSUE_EXAMPLE, fixes[0].edit.changes[uri])
            assert ".cuda()" not in fixed
            replace_all(client, uri, fixed, 2)
            after = await published(client, uri, lambda d: "TL201" not in codes(d))
            assert codes(after) == ["TL203"]  # the other finding on that line stays

    run(scenario)


FIXABLE = (
    "import torch\n"
    "from torch.utils.data import DataLoader\nDEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
    "loader = DataLoader(range(3), batch_size=1, num_workers=2)\n"
    "for batch in loader:\n"
    "    batch.to('cuda')\n"
    "model = torch.nn.Linear(2, 2).cuda()\n"
)


def test_fix_all_applies_safe_fixes_only(tmp_path: Path) -> None:
    text = FIXABLE

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", text)
            found = await published(client, uri, bool)
            assert "TL201" in codes(found)
            actions = await actions_for(client, uri, [], only=["source.fixAll"])
            assert [a.kind for a in actions] == ["source.fixAll.torchlint"]
            fixed = apply(text, actions[0].edit.changes[uri])
            assert fixed != text
            assert "torch.nn.Linear(2, 2).cuda()" in fixed  # unsafe: not applied by fix all
            replace_all(client, uri, fixed, 2)
            after = await published(client, uri, lambda d: codes(d) != codes(found))
            assert "TL201" in codes(after) and len(after) < len(found)

    run(scenario)


def test_fix_all_is_resolved_lazily_when_the_client_can(tmp_path: Path) -> None:
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
            )
        )
    )
    text = FIXABLE

    async def scenario() -> None:
        async with lsp(tmp_path, capabilities) as client:
            uri = open_file(client, tmp_path / "data.py", text)
            await published(client, uri, bool)
            actions = await actions_for(client, uri, [], only=["source.fixAll.torchlint"])
            (action,) = actions
            assert action.edit is None
            resolved = await client.code_action_resolve_async(action)
            assert resolved.edit is not None and resolved.edit.changes[uri]

    run(scenario)


def test_disable_for_this_line_adds_a_noqa(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", BAD)
            found = await published(client, uri, bool)
            actions = await actions_for(client, uri, found)
            (disable,) = [a for a in actions if a.title == "Disable TL201 for this line"]
            silenced = apply(BAD, disable.edit.changes[uri])
            assert silenced.splitlines()[2] == BAD.splitlines()[2] + "  # noqa: TL201"
            replace_all(client, uri, silenced, 2)
            assert await published(client, uri, lambda d: not d) == []

    run(scenario)


def test_hover_shows_the_rule_documentation(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", BAD)
            found = await published(client, uri, bool)
            hover = await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=found[0].range.start,
                )
            )
            assert "TL201" in hover.contents.value
            assert "Why is this bad?" in hover.contents.value
            nothing = await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=0, character=0),
                )
            )
            assert nothing is None

    run(scenario)


def test_each_folder_uses_its_own_configuration(tmp_path: Path) -> None:
    quiet, strict = tmp_path / "quiet", tmp_path / "strict"
    for folder in (quiet, strict):
        folder.mkdir()
    (quiet / "pyproject.toml").write_text(OPT_IN + 'ignore = ["TL201"]\n')
    (strict / "pyproject.toml").write_text(OPT_IN + 'extend-exclude = ["skip_*"]\n')

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            strict_uri = open_file(client, strict / "train.py", BAD)
            quiet_uri = open_file(client, quiet / "train.py", BAD)
            skipped_uri = open_file(client, strict / "skip_me.py", BAD)
            assert codes(await published(client, strict_uri, bool)) == ["TL201"]
            assert await published(client, quiet_uri, lambda d: True) == []
            assert await published(client, skipped_uri, lambda d: True) == []
            # The configuration is read again when it changes.
            (quiet / "pyproject.toml").write_text(OPT_IN)
            replace_all(client, quiet_uri, BAD + "\n", 2)
            assert codes(await published(client, quiet_uri, bool)) == ["TL201"]

    run(scenario)


def test_unparsable_buffer_gets_tl000_and_the_server_lives_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "broken.py", "def f(:\n    pass\n")
            (found,) = await published(client, uri, bool)
            assert found.code == "TL000"
            assert found.severity == types.DiagnosticSeverity.Error
            # A request about a document the server never saw is answered, not fatal.
            ghost = (tmp_path / "ghost.py").as_uri()
            assert await actions_for(client, ghost, []) is None
            replace_all(client, uri, BAD, 2)
            assert codes(await published(client, uri, lambda d: codes(d) == ["TL201"]))

    run(scenario)


def test_bad_configuration_is_shown_and_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nselect = ["TL9999"]\n')

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", BAD)
            assert await published(client, uri, lambda d: True) == []
            while not client.messages:
                await asyncio.sleep(0.02)
            assert "TL9999" in client.messages[0].message

    run(scenario)


def test_notebook_cells_get_their_own_diagnostics(tmp_path: Path) -> None:
    notebook_uri = (tmp_path / "train.ipynb").as_uri()
    cells = [
        (
            "cell1",
            types.NotebookCellKind.Code,
            "import torch; DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n",
        ),
        ("cell2", types.NotebookCellKind.Markup, "# Notes\n"),
        (
            "cell3",
            types.NotebookCellKind.Code,
            "%matplotlib inline\nmodel = torch.nn.Linear(2, 2).cuda()\n",
        ),
    ]

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            client.notebook_document_did_open(
                types.DidOpenNotebookDocumentParams(
                    notebook_document=types.NotebookDocument(
                        uri=notebook_uri,
                        notebook_type="jupyter-notebook",
                        version=1,
                        cells=[
                            types.NotebookCell(kind=kind, document=f"{notebook_uri}#{name}")
                            for name, kind, _ in cells
                        ],
                    ),
                    cell_text_documents=[
                        types.TextDocumentItem(
                            uri=f"{notebook_uri}#{name}",
                            language_id="python"
                            if kind == types.NotebookCellKind.Code
                            else "markdown",
                            version=1,
                            text=text,
                        )
                        for name, kind, text in cells
                    ],
                )
            )
            (found,) = await published(client, f"{notebook_uri}#cell3", bool)
            assert found.code == "TL201"
            assert found.range.start == types.Position(line=1, character=30)
            assert await published(client, f"{notebook_uri}#cell1", lambda d: True) == []

    run(scenario)


def open_notebook(client: Any, uri: str, cells: list[tuple[str, str]]) -> None:
    """Open a notebook of code cells (name, text) as an editor does: one document a cell."""
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=uri,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=types.NotebookCellKind.Code, document=f"{uri}#{name}")
                    for name, _ in cells
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=f"{uri}#{name}", language_id="python", version=1, text=text
                )
                for name, text in cells
            ],
        )
    )


async def logged(client: Any, part: str) -> list[str]:
    """Wait until a logged line contains ``part``; every line logged so far."""
    while not any(part in m.message for m in client.log_messages):
        await asyncio.sleep(0.02)
    return [m.message for m in client.log_messages]


DEEP = "y = " + "(" * 12 + "1" + ")" * 12 + "\n"


@pytest.mark.parametrize(
    ("name", "limits", "cells", "why"),
    [
        (
            "deep.ipynb",
            "max-nesting = 8",
            [
                (
                    "cell1",
                    "import torch; DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n",
                ),
                ("cell2", ISSUE_EXAMPLE + DEEP),
            ],
            "not checked: brackets nested 12 deep, more than `max-nesting` (8)",
        ),
        (  # each cell is under the limit; the notebook's code, as the CLI measures it, is not
            "big.ipynb",
            "max-file-size = 1",
            [("cell1", ISSUE_EXAMPLE + "x = 1\n" * 90), ("cell2", "z = 2\n" * 90)],
            "not checked: 1 KiB of code is more than `max-file-size` (1 KiB)",
        ),
        (  # each cell is parsed alone: the dense one is over the limit
            "dense.ipynb",
            "max-parse-memory = 1",
            [("cell1", ISSUE_EXAMPLE), ("cell2", "x = [" + "1, " * 2000 + "]\n")],
            "not checked: parsing it would take about 12 MiB, more than `max-parse-memory` (1 MiB)",
        ),
        (  # a notebook whose URI does not end in .ipynb is still read as its cells
            "interactive-1",
            "max-nesting = 8",
            [("cell1", ISSUE_EXAMPLE), ("cell2", DEEP)],
            "not checked: brackets nested 12 deep, more than `max-nesting` (8)",
        ),
    ],
)
def test_a_notebook_over_the_limits_gets_no_diagnostics_and_a_line_why(
    tmp_path: Path, name: str, limits: str, cells: list[tuple[str, str]], why: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(OPT_IN + limits + "\n")
    uri = (tmp_path / name).as_uri()

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            open_notebook(client, uri, cells)
            lines = await logged(client, "not checked")
            path = str(tmp_path / name)
            assert [line for line in lines if "not checked" in line] == [f"{path}: {why}"]
            for cell, _ in cells:  # nothing parsed: no cell has a finding
                assert await published(client, f"{uri}#{cell}", lambda d: True) == []
            # one edit that brings the code under the limit: the cells are linted again
            replace_all(client, f"{uri}#cell2", ISSUE_EXAMPLE, 2)
            assert "TL201" in codes(await published(client, f"{uri}#cell2", bool))

    run(scenario)


def test_shutdown_ends_the_process(tmp_path: Path) -> None:
    async def scenario() -> int | None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "train.py", BAD)
            await published(client, uri, bool)
            process = client._server
        return process.returncode

    assert run(scenario) == 0


def test_without_pygls_the_command_says_what_to_install(tmp_path: Path) -> None:
    import subprocess

    blocker = tmp_path / "blocked" / "pygls"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no pygls here')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    result = subprocess.run(
        [sys.executable, "-m", "torchlint", "server"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert 'pip install "torchlint[lsp]"' in result.stderr


def test_saving_a_project_file_updates_what_its_importers_see(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-select = ["TL303"]\n')
    plain = "def inference(fn):\n    return fn\n"
    wrapping = (
        "import torch\n\ndef inference(fn):\n    def wrapper(*args):\n"
        "        with torch.no_grad():\n            return fn(*args)\n    return wrapper\n"
    )
    (tmp_path / "utils.py").write_text(plain)
    predict = (
        "from utils import inference\n\n@inference\ndef predict(model, x):\n"
        "    model.eval()\n    return model(x)\n"
    )

    async def scenario() -> None:
        async with lsp(tmp_path) as client:
            uri = open_file(client, tmp_path / "predict.py", predict)
            assert codes(await published(client, uri, bool)) == ["TL303"]
            utils = open_file(client, tmp_path / "utils.py", plain)
            (tmp_path / "utils.py").write_text(wrapping)  # as the editor saves it
            replace_all(client, utils, wrapping, 2)
            client.text_document_did_save(
                types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri=utils))
            )
            assert await published(client, uri, lambda d: not d) == []

    run(scenario)
