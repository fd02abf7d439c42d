"""``torchlint server``: a Language Server Protocol server over stdio (needs ``torchlint[lsp]``).

The server is a thin layer over the engine: documents come in from the editor, the engine
lints the unsaved text with the settings the CLI would use for that file, and the results
go back as diagnostics, code actions and hovers. Modules: ``positions`` (offsets to LSP
positions), ``convert`` (diagnostics), ``documents`` (settings per file, linting a buffer),
``notebooks`` (LSP notebook cells to the engine's notebook support), ``actions`` (quick
fixes, fix all, disable for this line), ``hover`` and ``app`` (the pygls server itself).
"""

from __future__ import annotations

LSP_EXTRA_HINT = 'torchlint server needs pygls: pip install "torchlint[lsp]"'


def pygls_available() -> bool:
    """Whether the optional ``lsp`` extra is installed."""
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        return False
    return True
