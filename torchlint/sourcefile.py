"""Reading and writing source files without changing what we did not mean to change.

Text is decoded with the file's own encoding (BOM, PEP 263 declaration, else UTF-8) and
without newline translation, so offsets and line endings survive a round trip. Writes go
to a temporary file in the same directory and are renamed over the original, keeping its
permission bits; a file that changed since it was read is not overwritten.
"""

from __future__ import annotations

import codecs
import io
import os
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path


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
    """Atomically replace the file's contents, refusing if it changed since it was read."""
    path = source.path
    data = source.encode(new_text)
    try:
        if path.read_bytes() != source.raw:
            raise SourceError(f"{path}: changed while torchlint was fixing it; not written")
        mode = path.stat().st_mode
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
        os.chmod(temp, mode & 0o7777)
        if not mode & 0o222:
            raise SourceError(f"{path}: file is read-only; not written")
        os.replace(temp, real)
    except BaseException as error:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise SourceError(f"{path}: cannot write: {error.strerror}") from None
        raise
