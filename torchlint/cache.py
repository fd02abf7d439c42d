"""Results of `check`, kept between runs in ``.torchlint_cache/`` and keyed by file content.

An entry holds the diagnostics (with their fixes) of one file. Its key hashes the file's
bytes and its display path (diagnostics name the path, and per-file ignores depend on it);
entries live in a directory named after everything else that changes results: torchlint's
version and the source of its modules (a rule edited during development invalidates the
cache), libcst's and Python's versions (syntax errors), and the settings
(``Settings.fingerprint()`` and the project root). An entry also lists what its result read
of other files through the project index (``torchlint.project``: their content digests): it
is a hit only while they are unchanged. Nothing else is trusted, so a hit is exactly what
linting the file again would give.

Layout::

    .torchlint_cache/
        CACHEDIR.TAG          marks the directory as a cache for backup tools
        .gitignore            "*": never committed
        <namespace>/<key>     one entry per linted file (pickled, see below)

Writes go to a temporary file in the same directory and are renamed over the entry, so a
reader sees a whole entry or none, and two runs racing on the same entry both write whole
files. An entry that cannot be read is a miss; a cache that cannot be written is silently
skipped. Entries are unpickled with a restricted unpickler that only builds the classes of
``torchlint.diagnostics``: a planted file cannot run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from torchlint import __version__
from torchlint import diagnostics as _diagnostics_module
from torchlint.diagnostics import Diagnostic
from torchlint.realpaths import real_path

if TYPE_CHECKING:
    from torchlint.config import Settings

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by torchlint.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)
GITIGNORE = "# Automatically created by torchlint.\n*\n"
# (kind, key, value) triples naming what else an entry's result depends on
Dependencies = tuple[tuple[str, str, str], ...]
_FORMAT = 2  # bump when the entry format changes
_ENTRY_PROTOCOL = 5


def content_digest(raw: bytes) -> str:
    """A digest of a file's bytes (what the cache is keyed by)."""
    return hashlib.blake2b(raw, digest_size=20).hexdigest()


@cache
def code_version() -> str:
    """torchlint's version plus a hash of its modules' source, libcst's and Python's versions."""
    import libcst

    digest = hashlib.blake2b(digest_size=20)
    libcst_version = getattr(libcst, "__version__", None) or _distribution_version("libcst")
    digest.update(f"{_FORMAT}|{__version__}|{libcst_version}|{sys.version_info[:2]}".encode())
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("runtime/"):
            continue  # torchlint.runtime is library code for training loops, not the linter
        digest.update(relative.encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def _distribution_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_directory(settings: Settings) -> Path:
    """Where the cache of this project lives: ``cache-dir``, relative to the project root."""
    path = Path(settings.cache_dir).expanduser()
    return path if path.is_absolute() else settings.root / path


def is_torchlint_cache(directory: Path) -> bool:
    """True when ``directory`` carries the tag torchlint writes (so it is ours to delete)."""
    try:
        return (directory / "CACHEDIR.TAG").read_text(encoding="utf-8") == CACHEDIR_TAG
    except (OSError, UnicodeDecodeError):
        return False


def clean(directory: Path) -> bool:
    """Remove a torchlint cache directory; False when there is none.

    Refuses (ValueError) to delete a directory that torchlint did not create, so a
    misconfigured ``cache-dir = "."`` cannot wipe a project.
    """
    if not directory.exists():
        return False
    if not directory.is_dir() or not is_torchlint_cache(directory):
        raise ValueError(
            f"{directory} is not a torchlint cache (no torchlint CACHEDIR.TAG); not removed"
        )
    shutil.rmtree(directory)
    return True


class _Unpickler(pickle.Unpickler):
    """Builds only the data classes of ``torchlint.diagnostics`` (and no other callable)."""

    allowed: tuple[ModuleType, ...] = (_diagnostics_module,)

    def find_class(self, module: str, name: str) -> type:
        for allowed in self.allowed:
            if module == allowed.__name__:
                found = getattr(allowed, name, None)
                if isinstance(found, type) and found.__module__ == module:
                    return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a cache entry")


def safe_load(data: bytes, *modules: ModuleType) -> object:
    """Unpickle ``data`` building only the classes defined in ``modules`` (raises on others)."""
    unpickler = _Unpickler(io.BytesIO(data))
    unpickler.allowed = modules
    return unpickler.load()


class Cache:
    """Per-file results of one configuration; see the module docstring."""

    def __init__(self, directory: Path, settings: Settings) -> None:
        self.directory = directory
        namespace = hashlib.blake2b(digest_size=12)
        namespace.update(code_version().encode())
        namespace.update(b"\0" + settings.fingerprint().encode())
        namespace.update(b"\0" + str(settings.root).encode())
        self.entries = directory / namespace.hexdigest()
        self._writable: bool | None = None  # decided on the first write

    @classmethod
    def for_settings(cls, settings: Settings) -> Cache:
        return cls(cache_directory(settings), settings)

    @staticmethod
    def key(path: Path, digest: str, settings: Settings | None = None) -> str:
        """The entry name for the file at ``path`` whose bytes hash to ``digest``.

        Keyed by the path as shown (the diagnostics carry it) and by the file it really is:
        ``a.py`` run from two directories is two files, with their own per-file-ignores.
        With the file's own ``settings`` (its nearest config, which may not be the run's),
        by them and their root too.
        """
        name = f"{path.as_posix()}\0{real_path(path)}\0{digest}"
        if settings is not None:
            name += f"\0{settings.fingerprint()}\0{settings.root}"
        return hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=20).hexdigest()

    def get(
        self, key: str, valid: Callable[[Dependencies], bool] | None = None
    ) -> list[Diagnostic] | None:
        """The cached diagnostics, or None on a miss (absent, unreadable or foreign entry,
        or one whose project dependencies ``valid`` rejects: another file it read changed)."""
        try:
            with open(self.entries / key, "rb") as stream:
                data = stream.read()
            fmt, diagnostics, dependencies = _Unpickler(io.BytesIO(data)).load()
        except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
            return None
        except Exception:  # noqa: BLE001 - any damaged entry is just a miss
            return None
        if fmt != _FORMAT or type(diagnostics) is not list or type(dependencies) is not tuple:
            return None
        if not all(type(d) is Diagnostic for d in diagnostics):
            return None
        if dependencies and (valid is None or not valid(dependencies)):
            return None
        return diagnostics

    def put(
        self, key: str, diagnostics: Sequence[Diagnostic], dependencies: Dependencies = ()
    ) -> None:
        """Store an entry atomically; failures (read-only disk, ...) are ignored.

        ``dependencies`` are what the project index consulted for this file (other files'
        digests, see ``torchlint.project``): the entry is valid only while they hold."""
        if self._writable is None:
            self._writable = self._prepare()
        if not self._writable:
            return
        try:
            entry = (_FORMAT, list(diagnostics), tuple(dependencies))
            data = pickle.dumps(entry, protocol=_ENTRY_PROTOCOL)
        except Exception:  # noqa: BLE001 - something unpicklable: just do not cache it
            return
        atomic_write(self.entries / key, data)

    def _prepare(self) -> bool:
        return prepare_directory(self.directory, self.entries)


def prepare_directory(directory: Path, entries: Path) -> bool:
    """Create ``entries`` in the cache ``directory``, with the directory's tag and
    .gitignore; False when impossible."""
    try:
        entries.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", CACHEDIR_TAG), (".gitignore", GITIGNORE)):
            target = directory / name
            if not target.exists():
                atomic_write(target, text.encode("utf-8"))
        return True
    except OSError:
        return False


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` whole or not at all; failures are ignored."""
    try:
        handle, temp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
