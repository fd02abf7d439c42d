"""The language server: document events in, debounced lints out, actions and hovers served.

Each open Python file (or notebook) is linted from its unsaved text on open, change and
save. What a file imports from the rest of its project is read from the saved files through
one in-memory project index (``torchlint.project``); saving a file updates its summary there,
and the open documents are linted again when it changed. Edits are debounced: a change schedules a lint ``DEBOUNCE_SECONDS`` later and
cancels the one scheduled before it; a lint whose document changed while it ran is
dropped, since the newer one publishes. A Python file's last parse is kept, so an edit
re-parses only the statements it touched (``torchlint.server.incremental``). Lints run on one worker thread, so the server
keeps reading messages meanwhile. Nothing a client sends can stop the server: every
handler's failure is logged to the client and the server goes on.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from torchlint import __version__
from torchlint.engine import internal_error
from torchlint.project.index import ProjectIndex
from torchlint.server import actions
from torchlint.server.convert import to_lsp
from torchlint.server.documents import SettingsStore, Snapshot, snapshot
from torchlint.server.hover import covering, hover_text, to_hover
from torchlint.server.incremental import Document
from torchlint.server.notebooks import CellText
from torchlint.server.positions import Positions

DEBOUNCE_SECONDS = 0.03
PYTHON_SUFFIXES = (".py", ".pyi")
T = TypeVar("T")


class TorchlintServer(LanguageServer):
    """pygls server holding the latest lint of each open document."""

    def __init__(self) -> None:
        super().__init__(
            "torchlint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[
                    types.NotebookDocumentFilterWithCells(
                        cells=[types.NotebookCellLanguage(language="python")], notebook="*"
                    )
                ],
                save=True,
            ),
        )
        self.store = SettingsStore()
        self.index = ProjectIndex()  # in memory: summaries of the saved files
        self.snapshots: dict[str, Snapshot] = {}
        self.documents: dict[str, Document] = {}  # each open Python file's last parse
        self.scheduled: dict[str, asyncio.Task[None]] = {}
        self.shown_errors: set[str] = set()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchlint-lint")

    # --- documents ---------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def notebook_of(self, uri: str) -> types.NotebookDocument | None:
        return self.workspace.get_notebook_document(cell_uri=uri)

    def key_of(self, uri: str) -> str:
        """The document a lint is for: the notebook of a cell, else the file itself."""
        notebook = self.notebook_of(uri)
        return notebook.uri if notebook is not None else uri

    def _request(self, key: str) -> tuple[Any, ...] | None:
        """What a lint of ``key`` needs, read on the event loop (None: not open, not Python)."""
        workspace = self.workspace
        path_text = to_fs_path(key)
        path = Path(path_text) if path_text else None
        notebook = workspace.get_notebook_document(notebook_uri=key)
        if notebook is not None:
            cells = []
            for cell in notebook.cells:
                document = workspace.text_documents.get(unquote(cell.document))
                text = document.source if document is not None else ""
                cells.append(
                    CellText(cell.document, text, cell.kind == types.NotebookCellKind.Code)
                )
            return key, notebook.version, path, tuple(cells), True
        document = workspace.text_documents.get(unquote(key))
        if document is None:
            return None
        if document.language_id != "python" and not key.endswith(PYTHON_SUFFIXES):
            return None
        return key, document.version, path, (CellText(key, document.source, True),), False

    async def lint(self, request: tuple[Any, ...]) -> Snapshot:
        """Lint a request on the worker thread; a Python file reuses its last parse."""
        document = None if request[4] else self.documents.setdefault(request[0], Document())
        return await self.in_thread(snapshot, *request, self.store, self.index, document)

    def version_of(self, key: str) -> int | None:
        request = self._request(key)
        return request[1] if request is not None else None

    async def in_thread(self, work: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(work, *args))

    async def current(self, key: str) -> Snapshot | None:
        """The lint of the document as it is now: the published one, or a fresh one."""
        request = self._request(key)
        if request is None:
            return None
        found = self.snapshots.get(key)
        if found is not None and found.version == request[1]:
            return found
        fresh = await self.lint(request)
        if self.version_of(key) == fresh.version:
            self.snapshots[key] = fresh
        return fresh

    # --- linting -----------------------------------------------------------------------

    def schedule(self, key: str, delay: float) -> None:
        """Lint ``key`` after ``delay`` seconds, replacing any lint scheduled before."""
        self.cancel(key)
        task = asyncio.ensure_future(self._lint_later(key, delay))
        self.scheduled[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self.scheduled.get(key) is task:
            del self.scheduled[key]

    def cancel(self, key: str) -> None:
        task = self.scheduled.pop(key, None)
        if task is not None:
            task.cancel()

    async def _lint_later(self, key: str, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            request = self._request(key)
            if request is None:
                return
            result = await self.lint(request)
            if self.version_of(key) != result.version:
                return  # edited meanwhile: the lint scheduled by that edit publishes
            self.snapshots[key] = result
            self.publish(result)
        except Exception as error:  # noqa: BLE001 - bad input never kills the server
            self.log(internal_error(key, error), types.MessageType.Error)

    def publish(self, result: Snapshot) -> None:
        encoding = self.encoding
        for uri, text in result.texts.items():
            positions = Positions(text, encoding)
            found = result.diagnostics.get(uri, [])
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=[to_lsp(d, positions) for d in found],
                    version=None if result.notebook else result.version,
                )
            )
        for line in result.errors:
            self.log(line, types.MessageType.Error)
        if result.config_error and result.config_error not in self.shown_errors:
            self.shown_errors.add(result.config_error)
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error, message=f"torchlint: {result.config_error}"
                )
            )

    def clear(self, uris: list[str]) -> None:
        for uri in uris:
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    def relint_all(self) -> None:
        for key in list(self.snapshots):
            self.schedule(key, 0)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))


server = TorchlintServer()


def _guarded(
    handler: Callable[..., Awaitable[T | None]] | Callable[..., T | None],
) -> Callable[..., Awaitable[T | None]]:
    """Run a handler; a crash is logged to the client and answered with nothing."""

    @functools.wraps(handler)
    async def wrapper(ls: TorchlintServer, params: Any) -> T | None:
        try:
            outcome = handler(ls, params)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            return outcome  # type: ignore[return-value]
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - bad input never kills the server
            ls.log(internal_error("torchlint server", error), types.MessageType.Error)
            return None

    return wrapper


@server.feature(types.INITIALIZED)
@_guarded
async def initialized(ls: TorchlintServer, params: types.InitializedParams) -> None:
    """Ask to hear about edits to any pyproject.toml, where the client allows it."""
    watched = (
        ls.client_capabilities.workspace
        and ls.client_capabilities.workspace.did_change_watched_files
    )
    if watched and watched.dynamic_registration:
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/pyproject.toml")]
        )
        await ls.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id="torchlint-config",
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=options,
                    )
                ]
            )
        )


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
@_guarded
def did_open(ls: TorchlintServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
@_guarded
def did_change(ls: TorchlintServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_SECONDS)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
@_guarded
async def did_save(ls: TorchlintServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    if uri.endswith("pyproject.toml"):
        ls.index = ProjectIndex()  # project roots may have moved
        ls.relint_all()
        return
    path = to_fs_path(uri)
    changed = bool(path) and await ls.in_thread(ls.index.refresh, path)
    if changed:  # the files that import it may read something else now
        ls.relint_all()
    ls.schedule(uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
@_guarded
def did_close(ls: TorchlintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.cancel(uri)
    ls.documents.pop(uri, None)
    if ls.snapshots.pop(uri, None) is not None:
        ls.clear([uri])


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
@_guarded
def notebook_open(ls: TorchlintServer, params: types.DidOpenNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri, 0)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
@_guarded
def notebook_change(ls: TorchlintServer, params: types.DidChangeNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    old = ls.snapshots.get(uri)
    if old is not None:  # cells that left the notebook keep no diagnostics
        notebook = ls.workspace.get_notebook_document(notebook_uri=uri)
        current = {cell.document for cell in notebook.cells} if notebook else set()
        ls.clear([cell.uri for cell in old.cells if cell.uri not in current])
    ls.schedule(uri, DEBOUNCE_SECONDS)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
@_guarded
def notebook_save(ls: TorchlintServer, params: types.DidSaveNotebookDocumentParams) -> None:
    ls.schedule(params.notebook_document.uri, 0)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
@_guarded
def notebook_close(ls: TorchlintServer, params: types.DidCloseNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    ls.cancel(uri)
    ls.snapshots.pop(uri, None)
    ls.clear([cell.uri for cell in params.cell_text_documents])


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
@_guarded
def watched_files(ls: TorchlintServer, params: types.DidChangeWatchedFilesParams) -> None:
    ls.relint_all()


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=list(actions.KINDS), resolve_provider=True),
)
@_guarded
async def code_action(
    ls: TorchlintServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    key = ls.key_of(uri)
    found = await ls.current(key)
    if found is None or found.settings is None:
        return None
    only = params.context.only
    result = actions.line_actions(found, uri, list(params.context.diagnostics), only, ls.encoding)
    if actions.wanted(only, actions.FIX_ALL_KIND) and actions.has_fixes(found):
        if _resolves_edits(ls):
            data = {"key": key, "version": found.version}
            result.append(actions.fix_all_action(None, data))
        else:
            edit = await ls.in_thread(actions.fix_all, found, ls.encoding)
            if edit is not None:
                result.append(actions.fix_all_action(edit))
    return result


def _resolves_edits(ls: TorchlintServer) -> bool:
    text = ls.client_capabilities.text_document
    code_action = text.code_action if text else None
    support = code_action.resolve_support if code_action else None
    return bool(support and "edit" in support.properties)


@server.feature(types.CODE_ACTION_RESOLVE)
@_guarded
async def resolve_action(ls: TorchlintServer, action: types.CodeAction) -> types.CodeAction:
    data = action.data if isinstance(action.data, dict) else {}
    key = data.get("key")
    if action.kind == actions.FIX_ALL_KIND and isinstance(key, str):
        found = await ls.current(key)
        if found is not None and found.version == data.get("version"):
            action.edit = await ls.in_thread(actions.fix_all, found, ls.encoding)
    return action


@server.feature(types.TEXT_DOCUMENT_HOVER)
@_guarded
async def hover(ls: TorchlintServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    found = await ls.current(ls.key_of(uri))
    if found is None or uri not in found.texts:
        return None
    positions = Positions(found.texts[uri], ls.encoding)
    here = covering(found.diagnostics.get(uri, []), positions.location(params.position))
    text = hover_text(here)
    if text is None:
        return None
    return to_hover(text, positions.range(here[0].start, here[0].end))


@server.feature(types.SHUTDOWN)
@_guarded
def shutdown(ls: TorchlintServer, params: Any) -> None:
    for key in list(ls.scheduled):
        ls.cancel(key)
    ls.executor.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    server.start_io()
