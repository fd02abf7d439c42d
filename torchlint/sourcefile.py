"""Reading and writing source files without changing what we did not mean to change.

Text is decoded with the file's own encoding (BOM, PEP 263 declaration, else UTF-8) and
without newline translation, so offsets and line endings survive a round trip. Writes go
to a temporary file in the same directory and are renamed over the original, keeping its
permission bits; a file that changed since it was read is not overwritten.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from torchlint.interrupts import deferred_interrupts


class SourceError(Exception):
    """A file that cannot be read, decoded or written; reported as one line."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    encoding: str
    bom: bool
    raw: bytes

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def decode_source(raw: bytes, path: Path) -> SourceFile:
    if b"\x00" in raw:
        raise SourceError(f"{path}: not a text file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as error:
        if "invalid or missing encoding" in str(error):
            raise SourceError(
                f"{path}: cannot decode as utf-8 and no valid encoding declaration"
            ) from None
        raise SourceError(f"{path}: {error}") from None
    bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8) :] if bom else raw
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        raise SourceError(f"{path}: cannot decode as {encoding}: {error}") from None
    return SourceFile(path, text, encoding, bom, raw)


def read_source(path: Path) -> SourceFile:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read: {error.strerror}") from None
    return decode_source(raw, path)


def write_source(source: SourceFile, new_text: str) -> None:
    """Atomically replace the file's contents, refusing if it changed since it was read.

    The new bytes go to a temporary file next to the original (same permission bits, and
    owner where we may set it), are flushed to disk, and are renamed over the original, so
    the file is always either the old or the new version, even if the process is killed.
    Whether the file changed is checked right before the rename, to keep that window short.
    """
    path = source.path
    try:
        data = source.encode(new_text)
    except UnicodeEncodeError:
        raise SourceError(
            f"{path}: the fixed text cannot be encoded as {source.encoding}; not written"
        ) from None
    with deferred_interrupts():  # Ctrl-C waits until the file is whole, old or new
        _replace(source, data)


def _replace(source: SourceFile, data: bytes) -> None:
    path = source.path
    try:
        stat = path.stat()
        if not stat.st_mode & 0o222:
            raise SourceError(f"{path}: file is read-only; not written")
        real = path.resolve()
        handle, temp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except SourceError:
        raise
    except OSError as error:
        raise SourceError(f"{path}: cannot write: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, stat.st_mode & 0o7777)
        if hasattr(os, "chown") and (stat.st_uid, stat.st_gid) != _owner(temp):
            # Not ours to give away (not root): the file ends up owned by whoever fixed it.
            with contextlib.suppress(OSError):
                os.chown(temp, stat.st_uid, stat.st_gid)
        current = path.read_bytes()
        if current == data:  # already fixed (another run got there first): nothing to do
            os.unlink(temp)
            return
        if current != source.raw:
            raise SourceError(f"{path}: changed while torchlint was fixing it; not written")
        os.replace(temp, real)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise SourceError(f"{path}: cannot write: {error.strerror}") from None
        raise


def _owner(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_uid, stat.st_gid
