"""The project index: other files' summaries, found through imports, on demand.

A file belongs to the project rooted at the nearest directory above it that holds a
``pyproject.toml`` or a ``.git``, else at the innermost directory named on the command line
that contains it; a file under none is outside any project (``view`` answers None).

Nothing is read up front. When a rule asks about a name this file imports (``Net`` after
``from .models import Net``), the index maps the import to a file of the project (relative
imports from the file's directory; absolute ones from the file's directory, its top package's
parent, the root and ``src/``), reads that file's summary (``summary.py``: from memory, the
on-disk cache keyed by content, or ``ast``), and follows re-exports (``from .net import Net``
in an ``__init__.py``) and references between classes, bounded and cycle-safe. A name bound
in any other way, or twice, resolves to nothing: the answer is then today's one-file answer.

Every answer records what it read: the digest of each file whose summary it used, and for the
reverse view (who calls a function with an evaluated model) the answer itself. The runner
stores these with a file's cached result, which stays valid only while they still hold.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from torchlint import cache as _cache
from torchlint import timing
from torchlint.project import summary as _summary
from torchlint.project.summary import (
    UNPARSABLE,
    Build,
    ClassSummary,
    Definitions,
    FunctionSummary,
    ModuleSummary,
    checkpoint_formats,
    definitions,
    may_pass_evaluated,
    summarize,
)
from torchlint.realpaths import real_path
from torchlint.vocabulary import LIGHTNING_BASES, MODULE_BASES

T = TypeVar("T")
Dependencies = tuple[tuple[str, str, str], ...]
MAX_DEPTH = 12  # imports followed in one resolution (re-export chains, cycles)
MAX_FILES = 20_000  # the reverse view gives up on larger trees
_MISSING = "-"  # the digest of a file that could not be read
_SENSITIVE, _INSENSITIVE, _UNKNOWN = "sensitive", "insensitive", "unknown"
_IN_PROGRESS = object()


class Symbol:
    """What a name resolved to: a module, or a top-level function, class or value of one."""

    __slots__ = ("kind", "module", "name", "path", "summary")

    def __init__(
        self,
        kind: str,
        path: Path,
        module: ModuleSummary,
        name: str | None = None,
        summary: FunctionSummary | ClassSummary | None = None,
    ) -> None:
        self.kind, self.path, self.module, self.name, self.summary = (
            kind,
            path,
            module,
            name,
            summary,
        )


class _SummaryStore:
    """Summaries on disk, one file per content digest (and torchlint version)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        namespace = hashlib.blake2b(_cache.code_version().encode(), digest_size=12).hexdigest()
        self.entries = directory / "summaries" / namespace
        self._writable: bool | None = None

    def get(self, digest: str) -> ModuleSummary | None:
        try:
            data = (self.entries / digest).read_bytes()
            found = _cache.safe_load(data, _summary)
        except (OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError):
            return None
        except Exception:  # noqa: BLE001 - a damaged entry is a miss
            return None
        return found if type(found) is ModuleSummary else None

    def put(self, digest: str, summary: ModuleSummary) -> None:
        if self._writable is None:
            self._writable = _cache.prepare_directory(self.directory, self.entries)
        if self._writable:
            _cache.atomic_write(self.entries / digest, pickle.dumps(summary, protocol=5))


class ProjectIndex:
    """Summaries of a project's files, resolved and followed on demand; see the module doc.

    One instance per process (each ``--jobs`` worker has its own; the disk cache makes that
    cheap) or per language server, which calls ``refresh`` when a file is saved.
    """

    def __init__(self, *, cache_dir: Path | None = None, roots: Sequence[Path] = ()) -> None:
        self.cache_dir = cache_dir
        self.roots = tuple(sorted({real_path(r) for r in roots}, key=lambda p: -len(p.parts)))
        self._store = _SummaryStore(cache_dir) if cache_dir is not None else None
        self._files: dict[Path, tuple[str, ModuleSummary]] = {}
        # digest and top-level definitions of files read but not parsed
        self._texts: dict[Path, tuple[str, Definitions]] = {}
        self._listings: dict[Path, tuple[frozenset[str], frozenset[str]]] = {}
        self._located: dict[tuple[Path, str], tuple[Path, list[str]] | None] = {}
        self._source_roots: dict[tuple[Path, Path], list[Path]] = {}
        self._parents: dict[Path, Path] = {}
        self._root_of: dict[Path, Path | None] = {}
        self._memo: dict[Any, tuple[frozenset[tuple[str, str, str]], Any]] = {}
        self._frames: list[set[tuple[str, str, str]]] = []
        self._callers: dict[Path, dict[tuple[Path, str], list[tuple[str, ...]]]] = {}
        self._formats: dict[Path, tuple[frozenset[str], ...]] = {}
        self._texts_of: dict[Path, tuple[Path, ...] | None] = {}
        self._mentions: dict[tuple[Path, Path, str], str] = {}
        self._file_formats: dict[Path, tuple[str, tuple[frozenset[str], ...]]] = {}
        self._views: dict[Path, ProjectView | None] = {}
        self.lock = threading.RLock()

    def options(self) -> tuple[Path | None, tuple[Path, ...]]:
        """What a worker process needs to build its own index."""
        return self.cache_dir, self.roots

    # -- roots and views ------------------------------------------------------------------

    def root_for(self, path: Path) -> Path | None:
        directory = path.parent
        if directory not in self._root_of:
            found: Path | None = None
            for candidate in (directory, *directory.parents):
                if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
                    found = candidate
                    break
            if found is None:
                found = next((r for r in self.roots if directory.is_relative_to(r)), None)
            self._root_of[directory] = found
        return self._root_of[directory]

    def view(self, path: str | Path) -> ProjectView | None:
        """``path``'s view of its project, or None when it lies outside any."""
        resolved = real_path(Path(path))
        if resolved not in self._views:
            root = self.root_for(resolved)
            self._views[resolved] = ProjectView(self, resolved, root) if root else None
        return self._views[resolved]

    # -- files ----------------------------------------------------------------------------

    def _entries(self, directory: Path) -> tuple[frozenset[str], frozenset[str]]:
        """The names of the files and of the directories in ``directory``, listed once: an
        import is looked up by name in memory, not with a ``stat`` per candidate path."""
        found = self._listings.get(directory)
        if found is None:
            files, directories = set(), set()
            with contextlib.suppress(OSError), os.scandir(directory) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_file():
                            files.add(entry.name)
                        elif entry.is_dir():
                            directories.add(entry.name)
            found = self._listings[directory] = (frozenset(files), frozenset(directories))
        return found

    def _has_file(self, directory: Path, name: str) -> bool:
        return name in self._entries(directory)[0]

    def _has_directory(self, directory: Path, name: str) -> bool:
        return name in self._entries(directory)[1]

    def summary(self, path: Path, raw: bytes | None = None) -> ModuleSummary | None:
        """The summary of the file at ``path`` (None when unreadable or not Python);
        ``raw``: its bytes, when the caller has read them already."""
        known = self._files.get(path)
        if known is None:
            if raw is None:
                try:
                    raw = path.read_bytes()
                except OSError:
                    raw = None
            if raw is None:
                known = (_MISSING, UNPARSABLE)
            else:
                digest = _cache.content_digest(raw)
                known = (digest, self._summarize(digest, raw))
            self._files[path] = known
        if self._frames:
            self._frames[-1].add(("file", str(path), known[0]))
        return known[1] if known[1].parsed else None

    def _summarize(self, digest: str, raw: bytes) -> ModuleSummary:
        found = self._store.get(digest) if self._store is not None else None
        if found is None:
            found = timing.measure("project: summarize a file", summarize, raw)
            if self._store is not None:
                self._store.put(digest, found)
        return found

    def refresh(self, path: str | Path) -> bool:
        """Read ``path`` again (saved in an editor); True when its summary changed, so the
        files that import it should be linted again."""
        resolved = real_path(Path(path))
        with self.lock:
            before = self._files.pop(resolved, None)
            words = self._texts.pop(resolved, None)
            self._listings.clear()
            self._located.clear()
            self._source_roots.clear()
            self._memo.clear()
            self._callers.clear()
            self._texts_of.clear()
            self._mentions.clear()
            self._root_of.clear()
            self._views.clear()
            if before is None:
                return words is not None  # read only for its words: perhaps changed
            self.summary(resolved)
            return before[1] != self._files[resolved][1]

    # -- what answers depend on -----------------------------------------------------------

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Dependencies]]:
        """Collect the dependencies of the answers given inside the block: yields a list
        that holds them (sorted, a tuple) once the block ends."""
        out: list[Dependencies] = []
        self._frames.append(set())
        try:
            yield out
        finally:
            out.append(tuple(sorted(self._close_frame())))

    def _close_frame(self) -> set[tuple[str, str, str]]:
        """End the innermost recording: what it read counts for the one around it too."""
        frame = self._frames.pop()
        if self._frames:
            self._frames[-1] |= frame
        return frame

    def _memoised(self, key: Any, compute: Callable[[], T], default: T) -> T:
        """``compute()`` once per key; a later hit records what the first computation read."""
        found = self._memo.get(key)
        if found is not None:
            deps, value = found
            if value is _IN_PROGRESS:
                return default  # a cycle: unknown until proven
            if self._frames:
                self._frames[-1] |= deps
            return value
        self._memo[key] = (frozenset(), _IN_PROGRESS)
        self._frames.append(set())  # as `recording()`, without a context manager (a hot path)
        try:
            value = compute()
        finally:
            read = self._close_frame()
        self._memo[key] = (frozenset(read), value)
        return value

    def still_valid(self, dependencies: Dependencies) -> bool:
        """Every dependency recorded earlier holds now (files unchanged, same answers)."""
        for kind, key, value in dependencies:
            if kind == "file":
                path = Path(key)
                known = self._files.get(path)
                if known is None:
                    try:
                        digest = _cache.content_digest(path.read_bytes())
                    except OSError:
                        digest = _MISSING
                else:
                    digest = known[0]
                if digest != value:
                    return False
            elif kind == "callers":
                root, target, function = key.split("\0")
                if self._caller_answer(Path(root), Path(target), function) != value:
                    return False
            elif kind == "mentions":
                root, target, name = key.split("\0")
                if self._mention_answer(Path(root), Path(target), name) != value:
                    return False
            elif kind == "formats":
                if _format_answer(self.checkpoint_formats(Path(key))) != value:
                    return False
            else:
                return False
        return True

    # -- resolution -----------------------------------------------------------------------

    def source_roots(self, origin: Path, root: Path) -> list[Path]:
        """Where an absolute import in ``origin`` may be found, most likely first (the
        same for every file of a directory, and worked out once: ``pathlib`` is slow)."""
        key = (origin.parent, root)
        found = self._source_roots.get(key)
        if found is None:
            found = self._source_roots[key] = self._find_source_roots(origin, root)
        return found

    def _find_source_roots(self, origin: Path, root: Path) -> list[Path]:
        top = origin.parent
        while top != root and self._has_file(top, "__init__.py") and top.parent != top:
            top = top.parent
        found: list[Path] = []
        for candidate in (origin.parent, top, root, root / "src"):
            if candidate not in found and candidate.is_relative_to(root):
                found.append(candidate)
        return found

    def resolve(self, origin: Path, qualified: str, depth: int = 0) -> Symbol | None:
        """What ``qualified`` (as ``names.Scope`` spells it in the file ``origin``: an
        import's ``.models.Net`` or ``pkg.models.Net``, or ``:Net`` for a top-level name of
        ``origin`` itself) is, when it is in the project."""
        if depth > MAX_DEPTH or not qualified:
            return None
        located = self._file_of(origin, qualified)
        if located is None:
            return None
        path, rest = located
        module = self.summary(path)
        return self._lookup(path, module, rest, depth) if module is not None else None

    def _file_of(self, origin: Path, qualified: str) -> tuple[Path, list[str]] | None:
        """The project file ``qualified`` leads to from ``origin``, and the names left to
        look up in it. Files of one directory share the answer: most questions are about
        names of other packages (``torch.zeros``), asked again by every file."""
        if qualified.startswith(":"):
            return (origin, qualified[1:].split(".")) if self.root_for(origin) else None
        parent = self._parents.get(origin)
        if parent is None:  # one object per directory: a Path computes its hash once
            parent = self._parents[origin] = origin.parent
        key = (parent, qualified)
        if key not in self._located:
            self._located[key] = self._find_file(origin, qualified)
        found = self._located[key]
        return None if found is None else (found[0], list(found[1]))

    def _find_file(self, origin: Path, qualified: str) -> tuple[Path, list[str]] | None:
        root = self.root_for(origin)
        if root is None:
            return None
        level = len(qualified) - len(qualified.lstrip("."))
        parts = [p for p in qualified[level:].split(".") if p]
        if level:
            base = origin.parent
            for _ in range(level - 1):
                base = base.parent
            bases = [base] if base.is_relative_to(root) else []
        else:
            bases = self.source_roots(origin, root)
        for base in bases:
            located = self._locate(base, parts, relative=bool(level))
            if located is not None:
                return located
        return None

    def cannot_hold(self, origin: Path, qualified: str, fact: str) -> bool:
        """True when ``qualified`` is a function or class defined at the top of a project
        file, and its definition's text lacks the words without which ``fact`` cannot hold
        (see ``summary.definitions``; fact "class": it is a function, so no class at all):
        answered from the bytes, without parsing the file. Most questions a file asks are
        about functions and classes that switch nothing."""
        if not qualified:
            return False
        found = self._definition(origin, qualified, whole=True)
        if found is None:
            return False
        name, defined = found
        if fact == "class":
            return name in defined.functions
        return name in defined.facts and fact not in defined.facts[name]

    def definition_facts(self, origin: Path, qualified: str) -> frozenset[str] | None:
        """The facts the text of the top-level function or class ``qualified`` (or of the
        class whose method it names: ``Checkpoint.load_objects``) allows, when it is defined
        in a project file; None otherwise (another package, a name bound otherwise)."""
        found = self._definition(origin, qualified, whole=False) if qualified else None
        if found is None:
            return None
        name, defined = found
        facts = defined.facts.get(name)
        if facts is not None:
            return facts
        # a re-export (`from .checkpoint import Checkpoint` in a package's __init__.py):
        # follow it to the definition, a method's class too
        parts = qualified.split(".")
        for end in range(len(parts), 0, -1):
            symbol = self.resolve(origin, ".".join(parts[:end]))
            if symbol is not None and symbol.kind in ("function", "class") and symbol.name:
                found = self._definition(symbol.path, ":" + symbol.name, whole=True)
                return None if found is None else found[1].facts.get(found[0])
        return None

    def _definition(
        self, origin: Path, qualified: str, whole: bool
    ) -> tuple[str, Definitions] | None:
        """The name ``qualified`` leads to in a project file, and that file's definitions;
        ``whole``: only a top-level name itself, not an attribute of one."""
        located = self._file_of(origin, qualified)
        if located is None or not located[1] or (whole and len(located[1]) != 1):
            return None
        path, (name, *_rest) = located
        known = self._texts.get(path)
        if known is None:
            try:
                raw = path.read_bytes()
            except OSError:
                return None
            known = (_cache.content_digest(raw), definitions(raw))
            self._texts[path] = known
        if self._frames:
            self._frames[-1].add(("file", str(path), known[0]))
        return name, known[1]

    def _locate(
        self, base: Path, parts: list[str], relative: bool
    ) -> tuple[Path, list[str]] | None:
        """The file of the longest module prefix of ``parts`` under ``base``, and the rest."""
        found: tuple[Path, list[str]] | None = None
        if relative and self._has_file(base, "__init__.py"):
            found = (base / "__init__.py", parts)
        directory = base
        for index, part in enumerate(parts):
            if self._has_file(directory, part + ".py"):
                return directory / (part + ".py"), parts[index + 1 :]
            if not self._has_directory(directory, part):
                break
            directory = directory / part
            if self._has_file(directory, "__init__.py"):
                found = (directory / "__init__.py", parts[index + 1 :])
        return found

    def _lookup(
        self, path: Path, module: ModuleSummary, rest: list[str], depth: int
    ) -> Symbol | None:
        if not rest:
            return Symbol("module", path, module)
        name, more = rest[0], rest[1:]
        if name in module.ambiguous:
            return None
        function = module.function(name)
        if function is not None:
            return None if more else Symbol("function", path, module, name, function)
        cls = module.cls(name)
        if cls is not None:
            return None if more else Symbol("class", path, module, name, cls)
        target = module.imported(name)
        if target is not None:
            return self.resolve(path, ".".join([target, *more]), depth + 1)
        if name in module.other:
            return None if more else Symbol("value", path, module, name)
        if path.name == "__init__.py":  # `import pkg; pkg.sub.f`: a submodule
            located = self._locate(path.parent, rest, relative=False)
            if located is not None and located[0] != path:
                inner = self.summary(located[0])
                if inner is not None:
                    return self._lookup(located[0], inner, located[1], depth + 1)
        return None

    # -- facts about resolved symbols -----------------------------------------------------

    def function(self, origin: Path, qualified: str) -> FunctionSummary | None:
        symbol = self.resolve(origin, qualified)
        if symbol is None or symbol.kind != "function":
            return None
        return symbol.summary  # type: ignore[return-value]

    def is_module_class(self, origin: Path, qualified: str) -> bool | None:
        """True for an ``nn.Module`` subclass of the project (through its bases, followed
        across files); False for a project class that surely is not one; None when
        ``qualified`` is not a project class or a base cannot be followed."""
        symbol = self.resolve(origin, qualified)
        if symbol is None or symbol.kind != "class":
            return None
        return self._class_is_module(symbol)

    def _class_is_module(self, symbol: Symbol) -> bool | None:
        def compute() -> bool | None:
            cls = symbol.summary
            assert isinstance(cls, ClassSummary)
            known = True
            for base in cls.bases:
                last = base.rsplit(".", 1)[-1]
                if base.startswith(LIGHTNING_BASES) or last in MODULE_BASES:
                    return True
                if base.startswith("torch.nn.") and last[:1].isupper():
                    return True
                if base in ("object", "typing.Generic", "abc.ABC"):
                    continue
                other = self.resolve(symbol.path, base) if base else None
                if other is None or other.kind != "class":
                    known = False  # another package's class, or not a name
                    continue
                found = self._class_is_module(other)
                if found:
                    return True
                known = known and found is not None
            return False if known else None

        return self._memoised(("module", symbol.path, symbol.name), compute, None)

    def mode(self, origin: Path, qualified: str) -> str | None:
        """For a project class (or a function that builds layers): "sensitive" when its
        behaviour depends on train/eval mode, "insensitive" when it surely does not,
        "unknown" otherwise; None when ``qualified`` is not one of the project's."""
        symbol = self.resolve(origin, qualified)
        if symbol is None or symbol.kind not in ("class", "function"):
            return None
        return self._symbol_mode(symbol)

    def gates(self, origin: Path, qualified: str) -> tuple[tuple[str, int], ...]:
        """For a project class (or layer builder) that is not surely mode-dependent: the
        parameters (default 0) that make it so when a construction passes a non-zero value,
        with their call positions (the first argument is 1; -1 keyword-only)."""
        symbol = self.resolve(origin, qualified)
        if symbol is None or symbol.kind not in ("class", "function"):
            return ()
        return self._symbol_state(symbol)[1]

    def rates(self, origin: Path, qualified: str) -> tuple[tuple[str, int, bool], ...]:
        """For a project class that depends on its mode only through dropout rates its
        ``__init__`` parameters feed (whatever their defaults): those parameters, with their
        call positions and whether they default to 0. A construction that passes a literal
        0 for each (or leaves out one that defaults to 0) builds nothing mode-dependent.
        Empty when anything else acts, or a class it calls cannot be followed."""
        symbol = self.resolve(origin, qualified)
        if symbol is None or symbol.kind != "class":
            return ()
        summary = symbol.summary
        if not isinstance(summary, ClassSummary) or summary.rates is None:
            return ()

        def compute() -> tuple[tuple[str, int, bool], ...]:
            build = summary.rates
            assert build is not None
            mode, gates, unknown = self._build_state_full(symbol.path, build, summary.bases)
            if mode == _SENSITIVE or unknown or not gates:
                return ()
            return tuple((name, position, name in summary.zero_rates) for name, position in gates)

        return self._memoised(("rates", symbol.path, symbol.name), compute, ())

    def _symbol_mode(self, symbol: Symbol) -> str:
        return self._symbol_state(symbol)[0]

    def _symbol_state(self, symbol: Symbol) -> tuple[str, tuple[tuple[str, int], ...]]:
        def compute() -> tuple[str, tuple[tuple[str, int], ...]]:
            summary = symbol.summary
            inherits = isinstance(summary, ClassSummary) and not summary.has_init
            bases = summary.bases if isinstance(summary, ClassSummary) else ()
            return self._build_state(symbol.path, summary.build, bases, inherits)  # type: ignore[union-attr]

        return self._memoised(("mode", symbol.path, symbol.name), compute, (_UNKNOWN, ()))

    def _build_state(
        self, path: Path, build: Build, bases: tuple[str, ...] = (), inherits: bool = False
    ) -> tuple[str, tuple[tuple[str, int], ...]]:
        """The mode of what ``build`` describes, and its gates (see ``gates``)."""
        mode, gates, _ = self._build_state_full(path, build, bases, inherits)
        return mode, gates

    def _build_state_full(
        self, path: Path, build: Build, bases: tuple[str, ...] = (), inherits: bool = False
    ) -> tuple[str, tuple[tuple[str, int], ...], bool]:
        """``_build_state``, and whether something it calls could not be followed. Not
        followed into: a class that is not an ``nn.Module`` (a holder's layers are not its
        submodules: its ``eval()`` does not reach them) and a loader that returns its model
        in eval mode (a wrapper built around it holds an evaluated model)."""
        if build.sensitive:
            return _SENSITIVE, (), False
        unknown = build.opaque
        own = dict(build.passes)
        gates = set(build.gates)
        for ref in build.refs:
            other = self.resolve(path, ref)
            if other is None or other.kind not in ("class", "function"):
                unknown = True
                continue
            mode, inner = self._symbol_state(other)
            unknown = unknown or mode != _INSENSITIVE
            if other.kind == "class" and self._class_is_module(other) is not True:
                continue  # not a submodule: its layers do not follow this one's mode
            if other.kind == "function" and other.summary.returns_eval:  # type: ignore[union-attr]
                continue  # a loader's model is in eval mode already
            if mode == _SENSITIVE:
                return _SENSITIVE, (), False
            if not inner:
                continue
            if inherits and ref in bases:
                gates.update(inner)  # no __init__ of its own: the base's parameters
                continue
            names = {"super", ref} if ref in bases else {ref}
            for callee, slots in build.calls:
                if callee not in names:
                    continue
                passed = dict(slots)
                for name, position in inner:
                    value = passed.get(name) or passed.get(f"#{position}")
                    if value == "1":
                        return _SENSITIVE, (), False
                    if value and value[2:] in own:
                        gates.add((value[2:], own[value[2:]]))
        if gates:
            return _UNKNOWN, tuple(sorted(gates)), unknown
        return (_UNKNOWN if unknown else _INSENSITIVE), (), unknown

    def cuda_gate(self, origin: Path, qualified: str) -> bool:
        symbol = self.resolve(origin, qualified)
        if symbol is None:
            return False
        if symbol.kind == "function":
            return symbol.summary.cuda_gate  # type: ignore[union-attr]
        return symbol.kind == "value" and symbol.name in symbol.module.cuda_gates

    # -- the reverse view: who calls a function with an evaluated argument ------------------

    def _caller_map(self, root: Path) -> dict[tuple[Path, str], list[tuple[str, ...]]]:
        """Callee (file, function) -> the evaluated argument slots of each call site in the
        project. Reads every file's summary (cached), once per index."""
        found = self._callers.get(root)
        if found is None:
            from torchlint.discovery import discover

            found = {}
            files = [p for p in discover([root], root=root).files if p.suffix == ".py"]
            frames, self._frames = self._frames, []  # not a dependency of one file's answer
            try:
                for path in files[:MAX_FILES] if len(files) <= MAX_FILES else []:
                    path = real_path(path)
                    raw = None
                    if path not in self._files:
                        try:
                            raw = path.read_bytes()
                        except OSError:
                            continue
                        if not may_pass_evaluated(raw):
                            continue  # its summary would list no call site: not parsed
                    module = self.summary(path, raw)
                    if module is None:
                        continue
                    for site in module.calls:
                        symbol = self.resolve(path, site.callee)
                        if symbol is not None and symbol.kind == "function":
                            key = (symbol.path, symbol.name or "")
                            found.setdefault(key, []).append((str(path), *site.evaluated))
            finally:
                self._frames = frames
            self._callers[root] = found
        return found

    def checkpoint_formats(self, root: Path) -> tuple[frozenset[str], ...]:
        """The key sets of the checkpoint dicts any file of the project saves with an object
        ``weights_only=True`` refuses (``summary.checkpoint_formats``), once per index: only
        files that say ``torch.save`` are parsed, each once per content."""
        found = self._formats.get(root)
        if found is None:
            from torchlint.discovery import discover

            collected: set[frozenset[str]] = set()
            files = [p for p in discover([root], root=root).files if p.suffix == ".py"]
            for path in files[:MAX_FILES] if len(files) <= MAX_FILES else []:
                try:
                    raw = path.read_bytes()
                except OSError:
                    continue
                if b"torch.save" not in raw:
                    continue
                digest = _cache.content_digest(raw)
                known = self._file_formats.get(path)
                if known is None or known[0] != digest:
                    known = self._file_formats[path] = (digest, checkpoint_formats(raw))
                collected.update(known[1])
            found = self._formats[root] = tuple(sorted(collected, key=sorted))
        return found

    def formats_for(self, origin: Path) -> tuple[frozenset[str], ...]:
        """``checkpoint_formats`` of the project ``origin`` belongs to (recorded as a
        dependency of the answer: a save added anywhere changes it)."""
        root = self.root_for(origin)
        if root is None:
            return ()
        found = self.checkpoint_formats(root)
        if self._frames:
            self._frames[-1].add(("formats", str(root), _format_answer(found)))
        return found

    def _caller_answer(self, root: Path, target: Path, function: str) -> str:
        """The evaluated slots of ``function``'s callers in other files, as one string."""
        sites = self._caller_map(root).get((target, function), [])
        slots = sorted({slot for site in sites if site[0] != str(target) for slot in site[1:]})
        return ",".join(slots)

    def evaluated_by_callers(self, origin: Path, function: str, index: int, param: str) -> bool:
        """A file of the project calls ``origin``'s top-level ``function`` with the argument
        for ``param`` (position ``index``) already in eval mode."""
        root = self.root_for(origin)
        if root is None:
            return False
        answer = self._caller_answer(root, origin, function)
        if self._frames:
            self._frames[-1].add(("callers", f"{root}\0{origin}\0{function}", answer))
        return bool(answer) and (str(index) in answer.split(",") or param in answer.split(","))

    # -- the reverse view: is a name used anywhere else ------------------------------------

    def _text_files(self, root: Path) -> tuple[Path, ...] | None:
        """The project's source files (as discovered: excludes and ``.gitignore`` apply) and
        its small configuration files (YAML, JSON, TOML, INI, shell: a Hydra ``_target_`` or
        an entry point names a function too), once per index; None over ``MAX_FILES``."""
        if root in self._texts_of:
            return self._texts_of[root]
        from torchlint.discovery import DEFAULT_EXCLUDES, discover

        found: list[Path] | None = [real_path(p) for p in discover([root], root=root).files]
        skipped = {*DEFAULT_EXCLUDES, "node_modules", "site-packages"}
        for directory, names, files in os.walk(root):
            names[:] = [n for n in names if n not in skipped and not n.startswith(".")]
            for name in files:
                if not name.endswith(_CONFIG_SUFFIXES):
                    continue
                path = Path(directory, name)
                with contextlib.suppress(OSError):
                    if path.stat().st_size <= _MAX_CONFIG_BYTES:
                        found.append(real_path(path))  # type: ignore[union-attr]
            if len(found) > MAX_FILES:  # type: ignore[arg-type]
                found = None
                break
        result = None if found is None else tuple(dict.fromkeys(found))
        self._texts_of[root] = result
        return result

    def _mention_answer(self, root: Path, target: Path, name: str) -> str:
        """ "used" when a project file other than ``target`` names ``name`` (as a whole word:
        an import, a call, a string for ``getattr`` or a config) or looks names up in
        ``target``'s module dynamically (``getattr(models, args.arch)``, ``models.__dict__``,
        a star import); "unknown" for a tree too large; else "unused"."""
        key = (root, target, name)
        if key in self._mentions:
            return self._mentions[key]
        files = self._text_files(root)
        answer = "unknown" if files is None else "unused"
        word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
        stem = re.escape(target.stem.encode())
        dynamic = re.compile(
            rb"getattr\(\s*"
            + stem
            + rb"\s*,|\b"
            + stem
            + rb"\.__dict__|vars\(\s*"
            + stem
            + rb"\s*\)"
        )
        star = re.compile(rb"\b" + stem + rb"\s+import\s+\*")
        for path in files or ():
            if path == target:
                continue
            try:
                raw = path.read_bytes()
            except OSError:
                continue
            if name.encode() in raw and word.search(raw):
                answer = "used"
                break
            if target.stem.encode() in raw and (
                dynamic.search(raw) or (star.search(raw) and _LOOKUPS.search(raw))
            ):
                answer = "used"  # `getattr(models, args.arch)`, or a star import and `eval`
                break
        self._mentions[key] = answer
        return answer

    def mentioned_elsewhere(self, origin: Path, name: str) -> bool | None:
        """Does another file of ``origin``'s project name ``name`` (``_mention_answer``)?
        None when it cannot tell (no project, a tree too large). Recorded as a dependency:
        a file that starts calling the function changes the answer."""
        root = self.root_for(origin)
        if root is None:
            return None
        answer = self._mention_answer(root, origin, name)
        if self._frames:
            self._frames[-1].add(("mentions", f"{root}\0{origin}\0{name}", answer))
        return None if answer == "unknown" else answer == "used"


# Lookups by a computed name in a file that star-imports a module.
_LOOKUPS = re.compile(
    rb"globals\(\)|locals\(\)|vars\(\)|(?<![.\w])(?<!def )(?:eval|exec)\(|sys\.modules"
)
_CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".cfg", ".ini", ".sh", ".txt")
_MAX_CONFIG_BYTES = 1 << 20  # larger files are data (annotations, vocabularies), not config


def _format_answer(formats: tuple[frozenset[str], ...]) -> str:
    """Checkpoint formats as one comparable string (a cached result's dependency)."""
    return "|".join(",".join(sorted(keys)) for keys in formats)


class ProjectView:
    """One file's questions to its project's index, by names as the file resolves them."""

    def __init__(self, index: ProjectIndex, path: Path, root: Path) -> None:
        self.index, self.path, self.root = index, path, root

    def _ask(self, compute: Callable[[], T]) -> T:
        with self.index.lock:
            return compute()

    def _cannot_hold(self, qualified: str, fact: str) -> bool:
        return self._remember(
            f"cannot:{fact}",
            qualified,
            lambda: self.index.cannot_hold(self.path, qualified, fact),
            False,
        )

    def _remember(self, kind: str, qualified: str, compute: Callable[[], T], default: T) -> T:
        """``compute()``'s answer about ``qualified``, asked once per file and question."""
        key = (kind, self.path, qualified)
        return self._ask(lambda: self.index._memoised(key, compute, default))

    def _function(self, qualified: str) -> FunctionSummary | None:
        index = self.index
        return index._memoised(
            ("function", self.path, qualified), lambda: index.function(self.path, qualified), None
        )

    def grad_off_decorator(self, qualified: str | None) -> bool:
        """``qualified`` is a project function whose wrapper switches autograd off."""
        if not qualified or self._cannot_hold(qualified, "grad_off"):
            return False
        found = self._ask(lambda: self._function(qualified))
        return bool(found and found.grad_off)

    def cuda_gate(self, qualified: str | None) -> bool:
        """``qualified`` is a project decorator (or mark) that runs its target only with CUDA."""
        if not qualified or self._cannot_hold(qualified, "cuda_gate"):
            return False
        return self._remember(
            "cuda_gate", qualified, lambda: self.index.cuda_gate(self.path, qualified), False
        )

    def checkpoint_formats(self) -> tuple[frozenset[str], ...]:
        """The key sets of checkpoint dicts the project saves with objects
        ``weights_only=True`` refuses (``ProjectIndex.checkpoint_formats``)."""
        return self._ask(lambda: self.index.formats_for(self.path))

    def loads_weights(self, qualified: str | None) -> bool | None:
        """Whether ``qualified``, a project function or class (or a method of one), may load
        a state dict (its text says ``load_state_dict``); None when it is not the project's."""
        if not qualified:
            return None
        facts = self._remember(
            "facts", qualified, lambda: self.index.definition_facts(self.path, qualified), None
        )
        return None if facts is None else "weights" in facts

    def builds_ddp(self, qualified: str | None) -> bool:
        """``qualified`` is a project function that wraps a model in DDP or FSDP."""
        if not qualified or self._cannot_hold(qualified, "ddp"):
            return False
        found = self._ask(lambda: self._function(qualified))
        return bool(found and found.builds_ddp)

    def device_selector(self, qualified: str | None) -> bool:
        """``qualified`` is a project function that returns the device to use."""
        if not qualified or self._cannot_hold(qualified, "device_selector"):
            return False
        found = self._ask(lambda: self._function(qualified))
        return bool(found and found.device_selector)

    def is_module_class(self, qualified: str | None) -> bool | None:
        if not qualified or self._cannot_hold(qualified, "class"):
            return None
        return self._remember(
            "is_module", qualified, lambda: self.index.is_module_class(self.path, qualified), None
        )

    def mode(self, qualified: str | None) -> str | None:
        """ "sensitive" / "insensitive" / "unknown" for a project class or layer builder."""
        if not qualified:
            return None
        return self._remember(
            "mode_of", qualified, lambda: self.index.mode(self.path, qualified), None
        )

    def rates(self, qualified: str | None) -> tuple[tuple[str, int, bool], ...]:
        """The parameters that alone feed a project class's dropout rates (``rates``)."""
        if not qualified:
            return ()
        return self._remember(
            "rates_of", qualified, lambda: self.index.rates(self.path, qualified), ()
        )

    def gates(self, qualified: str | None) -> tuple[tuple[str, int], ...]:
        """The parameters that make a project class mode-dependent when set (``gates``)."""
        if not qualified:
            return ()
        return self._remember(
            "gates_of", qualified, lambda: self.index.gates(self.path, qualified), ()
        )

    def leaves_eval(self, qualified: str | None) -> FunctionSummary | None:
        """The project function ``qualified`` when it leaves a parameter in eval mode."""
        if not qualified or self._cannot_hold(qualified, "mode"):
            return None
        found = self._ask(lambda: self._function(qualified))
        return found if found is not None and found.leaves_eval else None

    def returns_eval(self, qualified: str | None) -> tuple[int, ...]:
        """What calling the project's ``qualified`` gives back in eval mode: ``-1`` the value
        (a loader that calls ``model.eval()``, a class whose ``__init__`` calls
        ``self.eval()``), ``i`` item ``i`` of a returned tuple; () when nothing is known."""
        if not qualified or self._cannot_hold(qualified, "mode"):
            return ()
        index = self.index

        def compute() -> tuple[int, ...]:
            symbol = index.resolve(self.path, qualified)
            if symbol is None:
                return ()
            if symbol.kind == "function":
                return symbol.summary.returns_eval  # type: ignore[union-attr]
            if symbol.kind == "class" and symbol.summary.evals_itself:  # type: ignore[union-attr]
                return (-1,)
            return ()

        return self._remember("returns", qualified, compute, ())

    def mentioned_elsewhere(self, name: str) -> bool | None:
        """Another file of the project names this file's ``name`` (or may look it up by a
        computed name); None when that cannot be known."""
        return self._ask(lambda: self.index.mentioned_elsewhere(self.path, name))

    def evaluated_by_callers(self, function: str, index: int, param: str) -> bool:
        """Another file calls this file's ``function`` with ``param`` in eval mode."""
        return self._ask(lambda: self.index.evaluated_by_callers(self.path, function, index, param))
