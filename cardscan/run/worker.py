"""The worker side of a sweep: scan one item (or one byte range of one).

Everything here runs in a worker process (or in-process for ``--jobs 1``).
Settings arrive once per process, as a plain dict, through
:func:`init_worker`; results go back to the parent as :class:`ItemResult`
(findings and error records, never bytes of the scanned content). Only the
parent writes sinks and progress.

Settings dict (built by :func:`make_settings`)::

    {"config": ScanConfig.to_dict(), "key": b"...", "limits": Limits.to_dict(),
     "sources": [{"name": "file", "url": "/srv/share", "options": {...}}, ...]}

A source spec may name its class directly (``"target": "pkg.mod:Class"``)
for sources not in the registry; workers import it from there.

Object identity (the ``sha256`` in a finding's ``object``):

* a whole item: SHA-256 of its bytes as read by this scan (``sha256_mode``
  ``whole``); bytes a decoder skipped (seeks) are read at the end so the
  digest always covers the whole object;
* a big item split into byte ranges (``sha256_mode`` ``ranges``, with
  ``sha256_range_size``): SHA-256 of the text ``"<start>-<end>:<sha256 of the
  range>\\n"`` for each range in order. See :func:`ranges_digest` and
  :func:`cardscan.manifest.object_digest` to verify.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Iterable

from ..engine.config import ScanConfig
from ..decoders import Failure, Limits, expand
from ..engine.scanner import RangeStats, Scanner
from ..errors import SourceError
from ..findings import ErrorRecord, Finding, FingerprintKey, Location, mask_name
from ..sources.base import Item

log = logging.getLogger("cardscan.run.worker")

_READ = 1 << 20
#: Object metadata that holds names (a git path); hashes and tags are left alone.
_NAME_FIELDS = ("path", "repo")


@dataclass
class ItemResult:
    """What scanning one item (or one range of it) produced."""

    item: Item
    findings: list[Finding] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    #: Bytes of the object covered (whole item, or the range), as read.
    nbytes: int = 0
    #: Hex SHA-256 of the content as read (of the range, for a range); None if not read.
    sha256: str | None = None
    #: For a byte range: newlines in it, to turn range lines into file lines.
    range_stats: RangeStats | None = None
    #: Object metadata at read time (size, mtime ... from fstat), merged over item.meta.
    obj: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def make_settings(
    config: ScanConfig,
    key: FingerprintKey,
    limits: Limits | None = None,
    sources: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The plain-data settings workers are initialised with."""
    return {
        "config": config.to_dict(),
        "key": key.raw(),
        "limits": (limits or Limits()).to_dict(),
        "sources": [dict(s) for s in sources],
    }


class _State:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.scanner = Scanner(ScanConfig.from_dict(settings.get("config", {})), FingerprintKey(settings["key"]))
        self.limits = Limits(**settings.get("limits", {}))
        self.specs: list[dict[str, Any]] = list(settings.get("sources", ()))
        self._instances: dict[Any, Any] = {}
        #: source name -> the one instance that opens all its items (no ``owns``): a dict hit per item.
        self._only: dict[str, Any] = {}
        # Test-only: seconds to sleep per item, so crash tests can land a kill mid-sweep.
        self.delay = float(os.environ.get("CARDSCAN_TEST_ITEM_DELAY") or 0)

    def source(self, item: Item) -> Any:
        """The source instance that opens ``item`` (built once per process)."""
        inst = self._only.get(item.source)
        if inst is not None:
            return inst
        from .. import registry

        candidates = [i for i, s in enumerate(self.specs) if s.get("name") == item.source]
        for i in candidates:
            inst = self._instances.get(i)
            if inst is None:
                spec = self.specs[i]
                cls = _load(spec["target"]) if spec.get("target") else registry.load("cardscan.sources", spec["name"])
                inst = self._instances[i] = cls.from_url(spec["url"], **spec.get("options", {}))
            owns = getattr(inst, "owns", None)
            if owns is None:
                self._only[item.source] = inst
                return inst
            if owns(item):
                return inst
        # An item from a source the settings do not describe (library use):
        # build one from the item itself.
        key = ("item", item.source)
        inst = self._instances.get(key)
        if inst is None:
            cls = registry.load("cardscan.sources", item.source)
            inst = self._instances[key] = cls.from_url(item.uri)
        return inst


def _load(target: str) -> Any:
    """A class from "module:Class" (a source the registry does not know, e.g. in tests)."""
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_STATE: _State | None = None
_TOKEN: Any = None


def init_worker(settings: dict[str, Any]) -> None:
    """Build this process's Scanner and decoder limits from ``settings``."""
    global _STATE
    _STATE = _State(settings)


def init_pool_worker(settings: dict[str, Any]) -> None:
    """Pool initializer: like :func:`init_worker`, and leave Ctrl-C to the parent.

    The terminal sends SIGINT to the whole process group; the parent decides
    how to stop (cancel, terminate, write the summary), so workers ignore it.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    level = settings.get("log_level")
    if level:
        from ..prevent import RedactingFilter

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"cardscan[{os.getpid()}]: %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root = logging.getLogger("cardscan")
        root.setLevel(level.upper())
        root.addHandler(handler)
        root.propagate = False
    init_worker(settings)


def _state() -> _State:
    if _STATE is None:
        raise RuntimeError("cardscan worker used before init_worker(settings)")
    return _STATE


def scan_batch(items: list[Item]) -> list[ItemResult]:
    """Scan several small items in one task (amortises the per-task cost)."""
    state = _state()
    return [scan_item(item, state) for item in items]


def settings_token(settings: dict[str, Any]) -> str:
    """A digest naming one settings dict (which workers were initialised with what)."""
    return hashlib.sha256(repr(sorted((k, repr(v)) for k, v in settings.items())).encode()).hexdigest()


def scan_batch_with(settings: dict[str, Any], items: list[Item]) -> list[ItemResult]:
    """:func:`scan_batch` for executors without an initializer (a thread pool, a
    foreign executor): the settings travel with each task and initialise the
    process once."""
    global _TOKEN
    token = settings_token(settings)
    if _STATE is None or token != _TOKEN:
        init_worker(settings)
        _TOKEN = token
    return scan_batch(items)


#: Settings registered on this process by token (the Dask worker plugin, run/dask.py).
_REGISTERED: dict[str, dict[str, Any]] = {}
_LOCAL = threading.local()


def register_settings(token: str, settings: dict[str, Any]) -> None:
    """Make ``settings`` available to :func:`scan_batch_registered` tasks in this process."""
    _REGISTERED[token] = settings


def scan_batch_registered(token: str, items: list[Item]) -> list[ItemResult]:
    """:func:`scan_batch` with settings registered once per process (Dask).

    The task carries only the token. Each executing thread builds its own
    Scanner and sources from the registered settings, once: a Dask worker
    may run several tasks at the same time in threads.
    """
    states = getattr(_LOCAL, "states", None)
    if states is None:
        states = _LOCAL.states = {}
    state = states.get(token)
    if state is None:
        settings = _REGISTERED.get(token)
        if settings is None:
            raise RuntimeError("cardscan settings are not registered in this worker (the worker plugin did not run)")
        state = states[token] = _State(settings)
    return [scan_item(item, state) for item in items]


def scan_item(item: Item, state: _State | None = None) -> ItemResult:
    """Scan one item. Never raises for bad input: problems become error records."""
    state = state or _state()
    if state.delay:
        time.sleep(state.delay)
    t0 = time.perf_counter()
    result = ItemResult(item)
    base = Location(uri=item.uri, version=item.version)
    try:
        source = state.source(item)
        if hasattr(source, "cells"):  # a row source (SQL), even if it can also open bytes
            _scan_rows(state, source, item, result)
        elif item.byte_range is not None:
            _scan_range(state, source, item, result)
        else:
            _scan_whole(state, source, item, result)
    except Exception as exc:  # a bug or an unexpected library error: report, do not die
        result.errors.append(_exc_record(base, exc))
    result.seconds = time.perf_counter() - t0
    if result.findings:
        obj = {**item.meta, **result.obj}
        if result.sha256 is not None and item.byte_range is None:
            obj["sha256"] = result.sha256
            obj["sha256_mode"] = "whole"
        attach_object(result.findings, obj)
    _publish(result, state.scanner.key)
    return result


def _publish(result: ItemResult, key: FingerprintKey) -> None:
    """Mask card numbers in the names of ``result``'s locations and object
    metadata (``/exports/4556737586899855.csv``, a git path), sealing the real
    location under the key so remediation can find it (findings.py, seal.py).
    Everything after the worker (sinks, state, progress) sees public names."""
    # One check (and one seal) per name, not per finding: a file may hold millions.
    done: dict[tuple[str, tuple[str, ...]], Location | None] = {}

    def public(loc: Location) -> Location:
        k = (loc.uri, loc.member)
        if k not in done:
            sealed = loc.sealed_public(key)
            done[k] = None if sealed is loc else sealed
        p = done[k]
        return loc if p is None else replace(loc, uri=p.uri, member=p.member, sealed=p.sealed)

    result.findings = [_relocated(f, public(f.location)) for f in result.findings]
    result.errors = [_relocated(e, public(e.location)) for e in result.errors]
    if result.findings:
        obj = result.findings[0].obj
        names = {k: mask_name(obj[k]) for k in _NAME_FIELDS if isinstance(obj.get(k), str)}
        if any(v is not obj[k] for k, v in names.items()):
            attach_object(result.findings, {**obj, **names})


def _relocated(record: Any, loc: Location) -> Any:
    return record if loc is record.location else replace(record, location=loc)


def attach_object(findings: list[Finding], obj: dict[str, Any]) -> None:
    """Set ``obj`` as the object metadata of every finding, shared, in place.

    ``Finding.obj`` is outside equality and hashing; sharing one dict (instead
    of ``dataclasses.replace`` per finding, ~20 us each) keeps a file with a
    million findings cheap to build and to pickle (the dict is pickled once).
    """
    for f in findings:
        object.__setattr__(f, "obj", obj)


# -- byte sources ------------------------------------------------------------
def _open(source: Any, item: Item, base: Location, result: ItemResult) -> Any:
    """The item's stream, or None after recording why it could not be opened."""
    try:
        return source.open(item)
    except (SourceError, OSError) as exc:
        result.errors.append(_exc_record(base, exc))
        return None


def _scan_whole(state: _State, source: Any, item: Item, result: ItemResult) -> None:
    base = Location(uri=item.uri, version=item.version)
    raw = _open(source, item, base, result)
    if raw is None:
        return
    with raw:
        before = _fstat(raw)
        if before is not None:
            result.obj.update(_stat_meta(before))
        reader = HashingReader(raw)
        try:
            for part in expand(reader, _name(item.uri), state.limits):
                # (Most objects are plain: no member, the base location as is.)
                loc = replace(base, member=tuple(part.member)) if part.member else base
                if isinstance(part, Failure):
                    result.errors.append(ErrorRecord(loc, part.kind, part.message, part.limit))
                    continue
                result.findings.extend(state.scanner.scan_stream(part.stream, loc))
        except Exception as exc:  # OSError, SourceError, a decoder bug: a record, never a crash
            result.errors.append(_exc_record(base, exc))
        try:
            result.sha256 = reader.finish()
        except OSError as exc:
            result.errors.append(_exc_record(base, exc))
        result.nbytes = reader.hashed
        after = _fstat(raw)
        if before is not None and after is not None and _changed(before, after):
            result.errors.append(ErrorRecord(base, "changed", "the file changed while it was being read; rescan it"))


def _scan_range(state: _State, source: Any, item: Item, result: ItemResult) -> None:
    start, end = item.byte_range  # type: ignore[misc]
    base = Location(uri=item.uri, version=item.version)
    raw = _open(source, item, base, result)
    if raw is None:
        return
    with raw:
        before = _fstat(raw)
        reader = HashingReader(raw, start, end)
        try:
            findings, stats = state.scanner.scan_range(reader, start, end, base)
            result.findings, result.range_stats = findings, stats
        except Exception as exc:  # OSError, SourceError, a decoder bug: a record, never a crash
            result.errors.append(_exc_record(base, exc))
        try:
            result.sha256 = reader.finish()
        except OSError as exc:
            result.errors.append(_exc_record(base, exc))
        result.nbytes = reader.hashed - start
        after = _fstat(raw)
        listed = item.ukey.split(":")[:2] if item.ukey else None
        if after is not None and (
            (listed and listed != [str(after.st_size), str(after.st_mtime_ns)])
            or (before is not None and _changed(before, after))
        ):
            result.errors.append(ErrorRecord(base, "changed", "the file changed during the scan; rescan it"))
        elif result.sha256 is not None and reader.hashed < end:
            result.errors.append(ErrorRecord(base, "changed", "the file is shorter than when it was listed; rescan it"))


# -- row sources -------------------------------------------------------------
def _scan_rows(state: _State, source: Any, item: Item, result: ItemResult) -> None:
    # A row source's item URI is ``<database URL>#<schema>.<table>``; the Cell
    # names the table, so findings carry the database URL alone.
    base = Location(uri=item.uri.partition("#")[0], version=item.version)
    try:
        for entry in source.cells(item):
            if isinstance(entry, ErrorRecord):
                result.errors.append(entry)
                continue
            cell, value = entry
            if value is None:
                continue
            if isinstance(value, str):
                value = value.encode("utf-8", "surrogatepass")
            result.nbytes += len(value)
            # The column name is the value's field name (merchant_id, card_number).
            result.findings.extend(state.scanner.scan_bytes(value, replace(base, cell=cell), field=cell.column))
    except (SourceError, OSError) as exc:
        result.errors.append(_exc_record(base, exc))


# -- helpers -----------------------------------------------------------------
class HashingReader(io.RawIOBase):
    """A read-through view of a stream that SHA-256s bytes [start, end) as they pass.

    Decoders may seek (zip reads its directory at the end first); bytes are
    hashed in order as far as the reads are contiguous, and :meth:`finish`
    reads whatever was skipped, so the digest always covers the object.
    """

    def __init__(self, raw: BinaryIO, start: int = 0, end: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._end = end
        self._done = start
        self._h = hashlib.sha256()
        try:
            self._pos = raw.tell()
        except (OSError, AttributeError, ValueError):
            self._pos = 0

    @property
    def hashed(self) -> int:
        """Offset up to which bytes have been hashed."""
        return self._done

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        try:
            return bool(self._raw.seekable())
        except (AttributeError, ValueError):
            return False

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        if data:
            self._account(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def _account(self, data: bytes) -> None:
        pos, n = self._pos, len(data)
        self._pos = pos + n
        if pos <= self._done < pos + n:
            a = self._done - pos
            b = n if self._end is None else min(n, self._end - pos)
            if b > a:
                self._h.update(memoryview(data)[a:b])
                self._done = pos + b

    def finish(self) -> str:
        """Hash what the scan skipped (up to ``end`` or EOF); return the hex digest."""
        if self._end is None or self._done < self._end:
            if self._pos != self._done:
                if not self.seekable():  # cannot happen without seeks; be safe
                    return self._h.hexdigest()
                self.seek(self._done)
            while self._end is None or self._done < self._end:
                want = _READ if self._end is None else min(_READ, self._end - self._done)
                if not self.read(want):
                    break
        return self._h.hexdigest()

    def close(self) -> None:  # the owner closes the underlying stream
        super().close()


def ranges_digest(parts: Iterable[tuple[int, int, str]]) -> str:
    """Object digest of a split item: SHA-256 over ``"<start>-<end>:<hex>\\n"`` per range."""
    h = hashlib.sha256()
    for start, end, hexdigest in parts:
        h.update(f"{start}-{end}:{hexdigest}\n".encode("ascii"))
    return h.hexdigest()


def _fstat(stream: Any) -> os.stat_result | None:
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _changed(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) != (b.st_size, b.st_mtime_ns, b.st_ino)


def _stat_meta(st: os.stat_result) -> dict[str, Any]:
    # Owner/mode from the listing are kept (the names were resolved there);
    # size, mtime and identity describe the content actually read. (Not
    # fs.describe(): it also resolves owner and group, a cost per file.)
    from ..sources.fs import _iso, ukey

    return {"size": st.st_size, "mtime": _iso(st.st_mtime_ns), "ukey": ukey(st)}


def _name(uri: str) -> str:
    """The file name decoders see. S3 keys are verbatim (``#`` and ``?`` are
    ordinary key characters there); other URIs are URL-quoted."""
    from urllib.parse import unquote, urlsplit

    if uri.startswith("s3://"):
        return uri.rsplit("/", 1)[-1] or uri
    if uri.startswith("file:") and "?" not in uri and "#" not in uri:  # the common case, without urlsplit
        name = uri.rsplit("/", 1)[-1]
        return unquote(name) if "%" in name else name
    path = urlsplit(uri).path
    return unquote(path.rsplit("/", 1)[-1]) if path else uri


def _exc_record(location: Location, exc: BaseException) -> ErrorRecord:
    """An error record for ``exc`` whose message cannot carry content."""
    from ..sources.fs import os_error_kind, os_error_message

    if isinstance(exc, SourceError):
        return ErrorRecord(location, exc.kind, _safe(str(exc)), getattr(exc, "limit", None))
    if isinstance(exc, OSError):
        return ErrorRecord(location, os_error_kind(exc), os_error_message(exc))
    log.debug("internal error on %s", location.display(), exc_info=True)
    return ErrorRecord(location, "internal", f"{type(exc).__name__}: {_safe(str(exc))[:200]}")


def _safe(message: str) -> str:
    # Library messages may quote input (UnicodeDecodeError, parser errors).
    from ..prevent import redact

    return redact(message)
