"""One pipeline for one item: open it, decode it, scan it, publish the result.

``Pipeline(scanner, limits, sources).scan_item(item) -> ItemResult`` is the
only per-item scan in cardscan: the sweep's workers (run/worker.py builds one
per process or thread), the pre-commit hook (cli/hook.py) and remediation's
re-check (remediate/) all call it. It holds no module state: two pipelines
with different keys or settings live side by side in one process.

What ``scan_item`` does:

* a row source (SQL: it has ``cells``) gives cells; each value is scanned
  with a :class:`~cardscan.findings.Location` carrying its Cell;
* an item with a ``byte_range`` (a big plain file split by the sweep) has
  just that range scanned (:meth:`Scanner.scan_range`);
* a local file that is a SQLite database (:func:`is_database`: its first
  bytes are ``SQLite format 3\\0``) is read as a database, through the SQL
  source opened read-only: cells, with the SQL location model
  (``sqlite:////path`` and a Cell), so remediation changes it with SQL, never
  as bytes (masking bytes in place corrupts its pages and indexes). Without
  the ``sql`` extra it is scanned as bytes;
* any other item is opened and run through the decoders
  (:func:`cardscan.decoders.expand`): every layer is scanned, every failure
  becomes an error record.

It never raises for bad input: problems become error records. Locations
leave it in their public form (a card number in a file or member name is
masked, the real name sealed under the key: see findings.py, seal.py).

Object identity (the ``sha256`` in a finding's ``object``):

* a whole item: SHA-256 of its bytes as read by this scan (``sha256_mode``
  ``whole``); bytes a decoder skipped (seeks) are read at the end so the
  digest always covers the whole object;
* a big item split into byte ranges (``sha256_mode`` ``ranges``, with
  ``sha256_range_size``): SHA-256 of the text ``"<start>-<end>:<sha256 of the
  range>\\n"`` for each range in order. See :func:`ranges_digest` and
  :func:`cardscan.manifest.object_digest` to verify.

A pipeline crosses processes as its **spec**, plain data
(:meth:`Pipeline.spec`, :meth:`Pipeline.from_spec`)::

    {"config": ScanConfig.to_dict(), "key": b"...", "limits": Limits.to_dict(),
     "sources": [{"name": "file", "url": "/srv/share", "options": {...}}, ...]}

A source entry may name its class directly (``"target": "pkg.mod:Class"``)
for sources not in the registry. Other keys are the runner's (``log_level``)
and are ignored here.
"""
from __future__ import annotations

import collections
import copyreg
import hashlib
import importlib
import io
import os
import threading
import time
from dataclasses import field, replace
from typing import Any, BinaryIO, Iterable, Sequence
from urllib.parse import unquote, urlsplit

from . import registry
from ._byvalue import ByValueUnhashable, adopted
from ._dataclass import dataclass
from .allow import LineWatch, honoured, may_allow, split_seekable, start_if_seekable
from .decoders import Failure, Limits, expand
from .decoders.base import HEAD_SIZE
from .decoders.expand import containers, is_container, magic_at
from .engine import precheck
from .engine.config import ScanConfig
from .engine.scanner import RangeStats, Scanner
from .errors import SourceError
from .findings import Cell, ErrorRecord, Finding, FingerprintKey, Location
from .privacy import PublishedOver, published, published_over
from .sources.base import Item, RoutedSource, RowSource
from .sources.fs import (
    FileSource,
    ListedMeta,
    _iso,
    object_meta,
    os_error_kind,
    os_error_message,
    published_meta,
    ukey,
)

_READ = 1 << 20
#: Files up to this size are read in one system call and scanned from memory
#: (Pipeline._scan_small): most files of a share are small, and there the
#: per-file Python (a buffered reader, a hashing wrapper, the decoders'
#: generator, the chunker) cost more than the scan. Equal to the engine's
#: first read (detect._FIRST_READ), so a small file is one buffer either way.
SMALL_FILE = 1 << 16
#: The first bytes of a SQLite database file (https://www.sqlite.org/fileformat.html, 1.3).
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Object metadata that holds names (a git path); hashes and tags are left alone.


@dataclass(eq=False, repr=False)  # ==, repr(): ByValueUnhashable
class ItemResult(ByValueUnhashable):
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
    #: Object metadata at read time (size, mtime ... from fstat), merged over item.meta
    #: (an object without findings: size and ukey only, what the state keeps).
    obj: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: A decoder produced some of the scanned streams: offsets of findings
    #: without a member may then be offsets in decoded bytes (a .gz), not in
    #: the object's own.
    decoded: bool = False
    #: Findings on a line a ``cardscan: allow`` comment allows (allow.py): not
    #: findings (no exit status, nothing to remediate), reported as suppressed.
    allowed: list[Finding] = field(default_factory=list)

    def __reduce__(self) -> Any:
        # A result crosses processes once per scanned object (a forked
        # worker's pipe, a pool's, Dask's): pickled as plain dicts and
        # rebuilt past __init__ (see _packed_result); a subclass, or a shape
        # it does not know, the default way.
        packed = _packed_result(self) if type(self) is ItemResult else None
        if packed is None:
            return (copyreg.__newobj__, (type(self),), self.__dict__)  # type: ignore[attr-defined]  # (the default's own)
        return (_unpacked_result, (packed,))


# -- a result's trip between processes (ItemResult.__reduce__) -------------------------------
# A result, its item, findings and their locations go as copies of their
# __dict__, which become the rebuilt objects' own: plain dicts pickle in C,
# where the default's reduce and BUILD (a setattr per field) of each object
# cost about as much again (a small file's result with one finding: ~160,000
# instructions there and back, ~130,000 so). Location's public mark comes
# along, as the default keeps it. What is not one of the four (an error
# record, range stats, object metadata) is pickled as it is; a subclass of
# one, or a dict where an item goes, makes _packed_result give up.
def _base_location(item: Item) -> Location:
    """``Location(uri=item.uri, version=item.version)`` past its frozen
    ``__init__``, its fields in their order (as _byvalue.built makes it,
    without built's check of the keys: a test compares the two)."""
    return adopted(Location, {"uri": item.uri, "member": (), "offset": None, "length": None, "line": None,
                              "column": None, "version": item.version, "cell": None, "ref": None, "dump": None,
                              "sealed": None})


def _fresh_result(item: Item) -> ItemResult:
    """``ItemResult(item)`` past the dataclass's ``__init__`` (a setattr and
    a default factory per field: ~3k instructions of each item scanned):
    its fields in their order, fresh lists and dict. A test compares the two."""
    return adopted(ItemResult, {"item": item, "findings": [], "errors": [], "nbytes": 0, "sha256": None,
                                "range_stats": None, "obj": {}, "seconds": 0.0, "decoded": False, "allowed": []})


def _packed_result(r: ItemResult) -> dict[str, Any] | None:
    d = r.__dict__.copy()
    item = d.get("item")
    if type(item) is Item:
        d["item"] = item.__dict__.copy()
    elif type(item) is dict:
        return None
    for name in ("findings", "allowed"):
        fs = d.get(name)
        if fs:
            if type(fs) is not list:
                return None
            packed = []
            for f in fs:
                if type(f) is not Finding:
                    return None
                fd = f.__dict__.copy()
                loc = fd.get("location")
                if type(loc) is not Location:
                    return None
                fd["location"] = loc.__dict__.copy()
                packed.append(fd)
            d[name] = packed
    return d


def _unpacked_result(d: dict[str, Any]) -> ItemResult:
    """The result :func:`_packed_result` packed (``d``: fresh from the unpickler, used as it is)."""
    i = d.get("item")
    if type(i) is dict:
        d["item"] = adopted(Item, i)
    for name in ("findings", "allowed"):
        fs = d.get(name)
        if fs:
            for n, fd in enumerate(fs):
                fd["location"] = adopted(Location, fd["location"])
                fs[n] = adopted(Finding, fd)
    r = adopted(ItemResult, d)
    return r


class Pipeline:
    """Scans items: ``Pipeline(scanner, limits, sources).scan_item(item)``.

    ``sources``: what opens the items, each either a spec entry
    (``{"name": "file", "url": "/srv/share", "options": {...}}``, built on
    first use) or a source instance (used as it is; such a pipeline cannot
    be described by :meth:`spec`). An item whose source is not among them
    gets one built from the item's own URI (library use).
    """

    def __init__(self, scanner: Scanner, limits: Limits | None = None, sources: Iterable[Any] = ()) -> None:
        self.scanner = scanner
        self.limits = limits or Limits()
        self._entries: list[Any] = list(sources)
        self._instances: dict[Any, Any] = {}
        #: source name -> the one instance that opens all its items (no ``owns``): a dict hit per item.
        self._only: dict[str, Any] = {}
        #: id(source instance) -> is it a RowSource: a runtime Protocol check
        #: costs ~20 us (typing walks the protocol's attributes), once per item.
        self._rows: dict[int, bool] = {}
        #: id(source instance) -> does it open files as FileSource does (_plain_open), asked once.
        self._plain: dict[int, bool] = {}

    # -- spec ---------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Plain data that :meth:`from_spec` turns back into an equivalent pipeline
        (in another process). Holds the fingerprint key: treat it like the key."""
        sources = []
        for s in self._entries:
            if not isinstance(s, dict):
                raise TypeError(f"a {type(s).__name__} instance cannot cross processes: "
                                "describe the source as {'name', 'url', 'options'}")
            sources.append(dict(s))
        return {
            "config": self.scanner.config.to_dict(),
            "key": self.scanner.key.raw(),
            "limits": self.limits.to_dict(),
            "sources": sources,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Pipeline":
        """The pipeline a :meth:`spec` describes."""
        scanner = Scanner(ScanConfig.from_dict(spec.get("config", {})), FingerprintKey(spec["key"]))
        return cls(scanner, Limits.from_dict(spec.get("limits", {})), [dict(s) for s in spec.get("sources", ())])

    # -- scanning -------------------------------------------------------------------
    def scan_item(self, item: Item) -> ItemResult:
        """Scan one item. Never raises for bad input: problems become error records."""
        t0 = time.perf_counter()
        result = _fresh_result(item)
        base = _base_location(item)
        try:
            source = self.source(item)
            rows = self._rows.get(id(source))
            if rows is None:  # (the instance stays referenced by this pipeline: its id is not reused)
                rows = self._rows[id(source)] = isinstance(source, RowSource)
            if rows:  # a row source (SQL), even if it can also open bytes
                self._scan_cells(source.cells(item), item, result)
            elif item.byte_range is not None:
                self._scan_range(source, item, result)
            elif not (item.size is not None and item.size <= SMALL_FILE and self._scan_small(source, item, result,
                                                                                           base=base)):
                self._scan_whole(source, item, result)
        except Exception as exc:  # a bug or an unexpected library error: report, do not die
            result.errors.append(_exc_record(base, exc))
        return self._finish(result, t0)

    def scan_plain(self, item: Item) -> ItemResult | None:
        """:meth:`scan_item` for a small plain local file (one read, no decoder
        runs), else None, nothing recorded. A pool's parent scans such files
        while its workers start: what could crash or exhaust a process
        (native decoders, big files) stays in the workers."""
        if item.byte_range is not None or item.size is None or item.size > SMALL_FILE:
            return None
        t0 = time.perf_counter()
        result = ItemResult(item)
        try:
            source = self.source(item)
            if not self._scan_small(source, item, result, plain_only=True):
                return None
        except Exception:  # noqa: BLE001 - whatever it is, the general path (in a worker) reports it
            return None
        return self._finish(result, t0)

    def scan_cells(self, item: Item, cells: Iterable[tuple[Cell, bytes | str | None] | ErrorRecord]) -> ItemResult:
        """Scan cell values read elsewhere (remediation reads rows again by key).

        ``item.uri`` names the database (``<URL>#<schema>.<table>`` or the URL alone).
        """
        t0 = time.perf_counter()
        result = ItemResult(item)
        try:
            self._scan_cells(cells, item, result)
        except Exception as exc:  # as scan_item
            result.errors.append(_exc_record(Location(uri=item.uri.partition("#")[0]), exc))
        return self._finish(result, t0)

    def _finish(self, result: ItemResult, t0: float) -> ItemResult:
        item = result.item
        result.seconds = time.perf_counter() - t0
        obj: dict[str, Any] | None = None
        if result.findings or result.allowed:
            # A listed file: the listing's and the exposure's part published
            # once for the files that share it (fs.published_meta), this
            # object's own checked here (privacy.published_over).
            base = published_meta(item) if item.byte_range is None else None
            obj = dict(result.obj) if base is not None else {**object_meta(item), **result.obj}
            if result.sha256 is not None and item.byte_range is None:
                obj["sha256"] = result.sha256
                obj["sha256_mode"] = "whole"
            if base is not None:
                obj = published_over(base, obj)
        if result.findings or result.errors or result.allowed:  # (nothing to publish in a clean object's result)
            publish(result, self.scanner.key, obj)
        return result

    # -- sources ------------------------------------------------------------------------
    def source(self, item: Item) -> Any:
        """The source that opens ``item`` (built once per pipeline)."""
        inst = self._only.get(item.source)
        if inst is not None:
            return inst
        for i, entry in enumerate(self._entries):
            if isinstance(entry, dict):
                if entry.get("name") != item.source:
                    continue
                inst = self._instances.get(i)
                if inst is None:
                    cls = _load(entry["target"]) if entry.get("target") else registry.load(
                        "cardscan.sources", entry["name"])
                    inst = self._instances[i] = cls.from_url(entry["url"], **entry.get("options", {}))
            elif getattr(entry, "name", None) == item.source:
                inst = entry
            else:
                continue
            if not isinstance(inst, RoutedSource):
                self._only[item.source] = inst
                return inst
            if inst.owns(item):
                return inst
        # An item from a source the pipeline was not given (library use):
        # build one from the item itself.
        key = ("item", item.source)
        inst = self._instances.get(key)
        if inst is None:
            cls = registry.load("cardscan.sources", item.source)
            inst = self._instances[key] = cls.from_url(item.uri)
        return inst

    # -- byte sources -------------------------------------------------------------------
    def _scan_whole(self, source: Any, item: Item, result: ItemResult) -> None:
        base = Location(uri=item.uri, version=item.version)
        raw = _open(source, item, base, result)
        if raw is None:
            return
        with raw:
            before = _fstat(raw)
            reader = HashingReader(raw)
            if item.source == "file" and is_database(_peek(raw)) and self._scan_database(item, result):
                if before is not None:
                    result.obj.update(_stat_meta(before, bool(result.findings or result.allowed)))
                self._hash_rest(reader, base, result)
                result.nbytes = reader.hashed
                return
            try:
                self._scan_parts(reader, item, base, result)
            except Exception as exc:  # OSError, SourceError, a decoder bug: a record, never a crash
                result.errors.append(_exc_record(base, exc))
            if before is not None:  # (mtime: see _scan_small)
                result.obj.update(_stat_meta(before, bool(result.findings or result.allowed)))
            self._hash_rest(reader, base, result)
            result.nbytes = reader.hashed
            after = _fstat(raw)
            if before is not None and after is not None and _changed(before, after):
                result.errors.append(ErrorRecord(base, "changed", "the file changed while it was being read; rescan it"))

    def _scan_parts(self, stream: Any, item: Item, base: Location, result: ItemResult,
                    data: bytes | None = None) -> None:
        """Scan every layer :func:`expand` finds in ``stream`` into ``result``
        (``data``: the stream's whole content, when it is in memory already)."""
        for part in expand(stream, item_name(item.uri), self.limits):
            # (Most objects are plain: no member, the base location as is.)
            loc = replace(base, member=tuple(part.member)) if part.member else base
            if isinstance(part, Failure):
                result.errors.append(ErrorRecord(loc, part.kind, part.message, part.limit))
                continue
            if part.member or (part.encoding and not getattr(part.scan, "own_bytes", False)):
                result.decoded = True
            self._scan_layer(part, loc, result, data if data is not None and part.stream is stream else None)

    def _scan_small(self, source: Any, item: Item, result: ItemResult, plain_only: bool = False,
                    base: Location | None = None) -> bool:
        """A local file of at most :data:`SMALL_FILE` bytes, from one read.

        The same records as :meth:`_scan_whole` (object identity, stat
        metadata, decoders, allow comments, a file changed while read), with
        the content in memory: no buffered reader, no hashing wrapper, and a
        plain file is scanned as one buffer (no chunker). False (nothing
        recorded) when this path does not apply: not the built-in file
        source's ``open``, bigger than listed, or a database file; the general
        path then reads it.
        """
        plain = self._plain.get(id(source))
        if plain is None:  # (the instance stays referenced by this pipeline: its id is not reused)
            plain = self._plain[id(source)] = _plain_open(source)
        if not plain:
            return False
        if base is None:  # (scan_item passes its own: a Location costs ~2 us)
            base = Location(uri=item.uri, version=item.version)
        try:
            got = source.read_small(item, SMALL_FILE)
        except (SourceError, OSError) as exc:
            result.errors.append(_exc_record(base, exc))
            return True
        if got is None:
            return False
        data, before, after = got
        if before is after and _checked_plain(item, data):
            container = False  # (the batch that read these very bytes found no database, no container)
        elif is_database(data):
            return False
        else:
            container = is_container(item_name(item.uri), data[:HEAD_SIZE])
        if plain_only and container:
            return False
        try:
            if container:
                self._scan_parts(io.BytesIO(data), item, base, result, data)
            else:
                # What expand() gives an object no decoder opens (one raw layer,
                # scanned from memory by _scan_layer), without its generator,
                # its Layer and a second sniff: most small files are plain.
                found = self.scanner.scan_bytes(data, base)
                if found and may_allow(data):  # (no "cardscan" in it at all: no line allows a finding)
                    result.findings, result.allowed = split_seekable(io.BytesIO(data), found, 0)
                elif found:
                    result.findings = found
        except Exception as exc:  # a decoder bug: a record, never a crash (as _scan_whole)
            result.errors.append(_exc_record(base, exc))
        # The modification time is formatted for objects with findings only:
        # only their metadata is written (a clean object's size and ukey go to the state).
        # (The batch's own fstat, given back once by read_small: the item's
        # ukey was made of this very stat_result, not formatted again.)
        key = item.ukey if before is after and type(item.meta) is ListedMeta else None
        result.obj.update(_stat_meta(before, bool(result.findings or result.allowed), key))
        result.sha256 = hashlib.sha256(data).hexdigest()
        result.nbytes = len(data)
        if before is not after and _changed(before, after):  # (one stat: the batch's read saw no change)
            result.errors.append(ErrorRecord(base, "changed", "the file changed while it was being read; rescan it"))
        return True

    def _scan_database(self, item: Item, result: ItemResult) -> bool:
        """Scan a local SQLite file's tables as cells; False when the SQL extra is missing."""
        from .sources.fs import uri_to_path

        try:  # the sql extra (SQLAlchemy): deferred, most sweeps meet no database file
            from .sources.sql import SQLSource, sqlite_url
        except ImportError:
            return False
        try:
            url = sqlite_url(uri_to_path(item.uri))
        except ValueError:  # a path SQLAlchemy cannot write as a URL: scanned as bytes
            return False
        src = SQLSource(url, read_only=True, exposure=False)
        errors: list[ErrorRecord] = []
        tables = 0
        try:
            for table in src.items():
                if isinstance(table, ErrorRecord):
                    errors.append(table)
                else:
                    tables += 1
                    self._scan_cells(src.cells(table), table, result)
        finally:
            src.close()
        if errors and not tables:
            return False  # not readable as a database (damaged, encrypted): its bytes are scanned instead
        result.errors.extend(errors)
        return True

    def _scan_layer(self, part: Any, loc: Location, result: ItemResult, data: bytes | None = None) -> None:
        """One layer's findings, those on lines an allow comment allows set
        aside (only where the layer's lines are a file's own: allow.honoured),
        placed in their document where the decoder can say (Layer.locate).
        ``data``: all of the layer's stream, when it is in memory already."""
        stream = part.stream
        if part.scan is not None:  # a layer with its own structure (a dump's tables and columns)
            found, errors, kept = part.scan(stream, self.scanner, loc, allow=honoured(part.encoding))
            result.findings.extend(found)
            result.errors.extend(errors)
            result.allowed.extend(kept)
            return
        allowed: list[Finding] = []
        start = start_if_seekable(stream) if honoured(part.encoding) else None
        if start == 0 and data is not None:  # one buffer: the same findings as streaming it, no chunker
            found = self.scanner.scan_bytes(data, loc)
            if found:
                found, allowed = split_seekable(stream, found, start)
        elif start is not None:  # lines are read again around findings only: clean files cost nothing
            found = list(self.scanner.scan_stream(stream, loc))
            if found:
                found, allowed = split_seekable(stream, found, start)
        elif honoured(part.encoding):  # a forward-only stream: keep lines as they pass
            watch = LineWatch(stream)
            found, allowed = watch.split(self.scanner.scan_stream(watch, loc))  # type: ignore[arg-type]  # reads as a file
        else:
            found = list(self.scanner.scan_stream(stream, loc))
        if found and part.locate is not None:
            found = _located(part.locate, found)
        result.findings.extend(found)
        result.allowed.extend(allowed)

    def _scan_range(self, source: Any, item: Item, result: ItemResult) -> None:
        start, end = item.byte_range  # type: ignore[misc]
        base = Location(uri=item.uri, version=item.version)
        raw = _open(source, item, base, result)
        if raw is None:
            return
        with raw:
            before = _fstat(raw)
            reader = HashingReader(raw, start, end)
            try:
                findings, stats = self.scanner.scan_range(reader, start, end, base)  # type: ignore[arg-type]
                result.findings, result.allowed = split_seekable(raw, findings)
                result.range_stats = stats
            except Exception as exc:  # OSError, SourceError, a decoder bug: a record, never a crash
                result.errors.append(_exc_record(base, exc))
            self._hash_rest(reader, base, result)
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

    @staticmethod
    def _hash_rest(reader: "HashingReader", base: Location, result: ItemResult) -> None:
        """Hash what the scan did not read (sha256 stays None if that fails).

        A read that failed during the scan (a dropped connection) usually
        fails again here: that is the same failure, recorded once.
        """
        try:
            result.sha256 = reader.finish()
        except (OSError, SourceError) as exc:
            if not any(e.location == base for e in result.errors):
                result.errors.append(_exc_record(base, exc))

    # -- row sources ----------------------------------------------------------------------
    def _scan_cells(self, cells: Iterable[Any], item: Item, result: ItemResult) -> None:
        # A row source's item URI is ``<database URL>#<schema>.<table>``; the Cell
        # names the table, so findings carry the database URL alone.
        base = Location(uri=item.uri.partition("#")[0], version=item.version)
        try:
            for entry in cells:
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
                result.findings.extend(self.scanner.scan_bytes(value, replace(base, cell=cell), field=cell.column))
        except (SourceError, OSError) as exc:
            result.errors.append(_exc_record(base, exc))


def batch_verdicts(detector: Any, names: Sequence[str], data: bytes, ends: list[int], status: bytes
                   ) -> tuple[set[int], int, set[int]]:
    """(clean, their bytes, plain) of a batch of files as
    ``sources.fs.read_files`` gives them. ``clean``: the indices of the files
    that need no scan: read whole, the engine's pre-check clears them, and
    no database nor container by their head. What :meth:`Pipeline.scan_item`
    would give for each of them is a result with no findings and no errors
    (``engine/precheck.py``: the pre-check never clears a file the scan
    would find something in); every other file is scanned as an item.
    ``plain``: the flagged files read whole that are no database nor
    container either: scanned from the batch's bytes
    (``FileSource.read_entry``), they need not be sniffed again
    (:meth:`Pipeline._scan_small`). ``detector``: the scan's (``Scanner.detector``)."""
    flagged = precheck.flagged(data, ends, detector)
    n = len(names)
    # (Set operations and C calls a batch; Python per file only where a file is not clean.)
    plain = set(range(n)) if status.count(0) == n else {i for i in range(n) if not status[i]}
    plain -= containers(names, data, ends, plain)
    plain.difference_update(magic_at(data, ends, 0, (SQLITE_MAGIC,), plain))
    clean = plain - flagged
    # The bytes of the clean files: all read (each file is followed by one
    # byte; one not read whole has none), less those of the others.
    others = set(range(n))
    others -= clean
    nbytes = ends[n] - ends[0] - n - sum([ends[i + 1] - 1 - ends[i] for i in others])
    return clean, nbytes, plain & flagged


def _located(locate: Any, found: list[Finding]) -> list[Finding]:
    """``found`` with ``Location.ref`` set where the layer's decoder knows the place
    (a spreadsheet cell); as they are if it cannot say."""
    try:
        refs = locate([f.location.line for f in found])
    except Exception:  # noqa: BLE001 - a reference is a nicety: never lose a finding over it
        return found
    return [f.with_location(ref=r) if r else f for f, r in zip(found, refs)]


def _load(target: str) -> Any:
    """A class from "module:Class" (a source the registry does not know, e.g. in tests)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- publishing -------------------------------------------------------------------------
def publish(result: ItemResult, key: FingerprintKey, obj: dict[str, Any] | None = None) -> None:
    """Mask card numbers in the names of ``result``'s locations and object
    metadata (``/exports/4111111111111111.csv``, a git path), sealing the real
    location under the key so remediation can find it (findings.py, seal.py).
    Everything after the pipeline (sinks, state, progress) sees public names.
    ``obj``: the object metadata for its findings (default: the first's)."""
    findings = result.findings
    if len(findings) == 1 and not result.errors and not result.allowed:
        # (Most objects with findings: one finding, no error. What the
        # general way below does for it, without its closure, dict and lists.)
        f = findings[0]
        loc = f.location
        if loc.cell is None and loc.version is None:
            sealed = loc.sealed_public(key)
            if sealed is not loc:
                f = replace(f, location=replace(loc, uri=sealed.uri, member=sealed.member, sealed=sealed.sealed))
                result.findings = [f]
            record = f.obj if obj is None else obj
            # (published() hands a PublishedOver back as it is: _finish's record, checked there.)
            object.__setattr__(f, "obj", record if type(record) is PublishedOver else published(record))
            return
    # One check (and one seal) per name, not per finding: a file may hold millions.
    done: dict[Any, Location | None] = {}

    def public(loc: Location) -> Location:
        if loc.cell is not None or loc.version is not None:  # the cell's names and key, the version: per location
            sealed = loc.sealed_public(key)
            return loc if sealed is loc else replace(
                loc, uri=sealed.uri, member=sealed.member, version=sealed.version, cell=sealed.cell, sealed=sealed.sealed)
        k = (loc.uri, loc.member)
        if k not in done:
            sealed = loc.sealed_public(key)
            done[k] = None if sealed is loc else sealed
        p = done[k]
        return loc if p is None else replace(loc, uri=p.uri, member=p.member, sealed=p.sealed)

    if result.findings:
        result.findings = [_relocated(f, public(f.location)) for f in result.findings]
    if result.errors:
        result.errors = [_relocated(e, public(e.location)) for e in result.errors]
    if result.allowed:
        result.allowed = [_relocated(f, public(f.location)) for f in result.allowed]
    if result.findings or result.allowed:
        if obj is None:
            obj = (result.findings or result.allowed)[0].obj
        # Path, repo, database, table, bucket, owner ...: every name, masked
        # once here and frozen, so writing each finding does not check it again.
        pub = published(obj)
        attach_object(result.findings, pub)
        attach_object(result.allowed, pub)


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


# -- reading ------------------------------------------------------------------------------
def _open(source: Any, item: Item, base: Location, result: ItemResult) -> Any:
    """The item's stream, or None after recording why it could not be opened."""
    try:
        return source.open(item)
    except (SourceError, OSError) as exc:
        result.errors.append(_exc_record(base, exc))
        return None


class HashingReader(io.RawIOBase):
    """A read-through view of a stream that SHA-256s bytes [start, end) as they pass.

    Decoders may seek (zip reads its directory at the end first); bytes are
    hashed in order as far as the reads are contiguous, and :meth:`finish`
    reads whatever was skipped, so the digest always covers the object.
    """

    #: Past this many bytes hashed, hashing moves to a thread of its own:
    #: hashlib releases the GIL, so a big object's SHA-256 (~0.15 s per
    #: 256 MB) runs beside the scan instead of inside it. Small objects
    #: stay on one thread (starting one costs more than hashing them).
    THREAD_AFTER = 4 << 20
    #: Chunks waiting for the hashing thread: a bound on the memory it holds.
    QUEUE = 8
    #: A caller of readinto_lent goes round this many buffers (or more).
    LEND = 4

    def __init__(self, raw: BinaryIO, start: int = 0, end: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._end = end
        self._done = start
        self._start = start
        self._h = hashlib.sha256()
        self._queue: Any = None
        self._thread: threading.Thread | None = None
        self._asked = False  # whether to hash on a thread (asked once, past THREAD_AFTER)
        # Per lent buffer not known to be hashed yet (readinto_lent), oldest
        # first: set by the hashing thread once it has hashed it.
        self._lent: collections.deque[threading.Event] = collections.deque()
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
        self._wait_lent(0)
        data = self._raw.read(-1 if size is None else size)
        if data:
            self._account(data)
        return data

    def readinto(self, b: Any) -> int:
        # Straight into the caller's buffer where the stream can (no bytes
        # object and no second copy per chunk: ~0.03 s per 256 MB).
        return self._readinto(b, False)

    def readinto_lent(self, b: Any) -> int:
        """:meth:`readinto`, for a caller that goes round :data:`LEND`
        buffers (or more) and leaves a buffer's bytes as they are until it
        reads into it again or calls another method (engine.detect.chunks):
        the hashing thread hashes them in the buffer itself, and a call
        waits until the thread has hashed what it could overwrite. A
        caller's buffer that may change at once is copied for the thread
        (readinto): a new 1 MiB bytes object per chunk, page faults and
        all, cost ~0.05 s per 256 MB. With one buffer, the reads waited for
        the thread (~0.2 s per 256 MB: it gets the GIL back late)."""
        return self._readinto(b, True)

    def _readinto(self, b: Any, lent: bool) -> int:
        self._wait_lent(self.LEND - 1 if lent else 0)
        readinto = getattr(self._raw, "readinto", None)
        if readinto is None:
            data = self.read(len(b))
            n = len(data)
            b[:n] = data
            return n
        before = len(self._lent)
        n = readinto(b)
        if n:
            self._account(memoryview(b)[:n], lent)
        if lent and self._thread is not None and len(self._lent) == before:
            # One entry per call once the thread runs, hashed or not (bytes
            # past the range's end, a read after a seek ahead): the count of
            # calls is what says which buffer the caller goes back to.
            self._lent.append(_HASHED)
        return n or 0

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._wait_lent(0)
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def _account(self, data: bytes | memoryview, lent: bool = False) -> None:
        pos, n = self._pos, len(data)
        self._pos = pos + n
        if pos <= self._done < pos + n:
            a = self._done - pos
            b = n if self._end is None else min(n, self._end - pos)
            if b > a:
                self._update(memoryview(data)[a:b], data, lent)
                self._done = pos + b

    def _update(self, view: memoryview, data: Any, lent: bool = False) -> None:
        if not self._asked and self._done - self._start >= self.THREAD_AFTER:
            self._asked = True
            if spare_core():
                self._start_thread()
        if self._thread is not None:
            if isinstance(data, bytes):  # immutable: safe to hash later
                self._queue.put(view)
            elif lent:  # unchanged until a later call waits for it
                done = threading.Event()
                self._lent.append(done)
                self._queue.put((view, done))
            else:  # a caller's buffer, reused at once: copied
                self._queue.put(bytes(view))
        else:
            self._h.update(view)

    def _wait_lent(self, pending: int) -> None:
        """Wait until at most ``pending`` lent buffers are still to be hashed."""
        lent = self._lent
        while len(lent) > pending:
            lent.popleft().wait()

    def _start_thread(self) -> None:
        import queue

        self._queue = queue.Queue(self.QUEUE)
        self._thread = threading.Thread(target=_hash_from, args=(self._h, self._queue), daemon=True,
                                        name="cardscan-hash")
        self._thread.start()

    def _join(self) -> None:
        """Wait for the hashing thread to hash everything queued (then hash here again)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = self._queue = None
            self._lent.clear()  # (hashed: the thread hashed all it was given)

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
        self._join()
        return self._h.hexdigest()

    def close(self) -> None:  # the owner closes the underlying stream
        self._join()
        super().close()


def spare_core() -> bool:
    """Is a core idle right now? A hashing thread only pays on an idle core:
    on a busy machine it measured ~0.1 s more CPU per 256 MB and no shorter
    run (benchmarks/README.md), so there the digest is made in line.

    Asked of the kernel's count of runnable threads at this moment
    (``/proc/loadavg``, this one included), where the system has it; else
    of the 1-minute load average. The average trails by a minute: right
    after a burst of work on every core (a build, the previous command of a
    benchmark) it said "busy" on an idle machine, and the digest stayed on
    the scan's thread (~0.2 s per 256 MB of wall time)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return False
    running = _running_now()
    if running is not None:
        return running <= cores - 1  # this thread and fewer others than the cores left
    try:
        return os.getloadavg()[0] <= cores - 0.5  # (this process itself counts about one)
    except (AttributeError, OSError):
        return False


def _running_now() -> int | None:
    """Runnable threads on the system now (``/proc/loadavg``'s fourth field,
    ``running/total``); None where there is no such file."""
    try:
        with open("/proc/loadavg", "rb") as fh:
            return int(fh.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None


#: A lent buffer with nothing left to hash (see HashingReader._readinto).
_HASHED = threading.Event()
_HASHED.set()


def _hash_from(h: Any, chunks: Any) -> None:
    """The hashing thread of a HashingReader: update ``h`` with each chunk until None."""
    while True:
        view = chunks.get()
        if view is None:
            return
        if type(view) is tuple:  # a lent buffer: its owner waits to reuse it
            view, done = view
            h.update(view)
            done.set()
        else:
            h.update(view)


def ranges_digest(parts: Iterable[tuple[int, int, str]]) -> str:
    """Object digest of a split item: SHA-256 over ``"<start>-<end>:<hex>\\n"`` per range."""
    h = hashlib.sha256()
    for start, end, hexdigest in parts:
        h.update(f"{start}-{end}:{hexdigest}\n".encode("ascii"))
    return h.hexdigest()


def is_database(head: bytes) -> bool:
    """Is an object starting with ``head`` a database file cardscan reads as a database (SQLite)?"""
    return head.startswith(SQLITE_MAGIC)


def _peek(stream: Any) -> bytes:
    """The first bytes of a fresh stream, leaving its position where it was (b"" if it cannot)."""
    try:
        if not stream.seekable():
            return b""
        head = stream.read(len(SQLITE_MAGIC))
        stream.seek(0)
        return head
    except (OSError, ValueError, AttributeError):
        return b""


def _fstat(stream: Any) -> os.stat_result | None:
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _plain_open(source: Any) -> bool:
    """Does ``source`` open files as the built-in file source does (not a
    subclass with its own ``open``)? Only then may a small file skip ``open``."""
    return type(source).open is FileSource.open and type(source).read_small is FileSource.read_small


def _checked_plain(item: Item, data: bytes) -> bool:
    """Did the batch that read ``data`` (this very object: FileSource.read_entry)
    find it no database and no container (:func:`batch_verdicts`)?"""
    meta = item.meta
    return type(meta) is ListedMeta and meta.plain is data


def _changed(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) != (b.st_size, b.st_mtime_ns, b.st_ino)


def _stat_meta(st: os.stat_result, mtime: bool = True, key: str | None = None) -> dict[str, Any]:
    # Owner/mode from the listing are kept (the names were resolved there);
    # size, mtime and identity describe the content actually read. (Not
    # fs.describe(): it also resolves owner and group, a cost per file.)
    # ``key``: ukey(st), when the caller has it.
    if key is None:
        key = ukey(st)
    if not mtime:
        return {"size": st.st_size, "ukey": key}
    return {"size": st.st_size, "mtime": _iso(st.st_mtime_ns), "ukey": key}


def item_name(uri: str) -> str:
    """The file name decoders see. S3 keys are verbatim (``#`` and ``?`` are
    ordinary key characters there); other URIs are URL-quoted."""
    if uri.startswith("s3://"):
        return uri.rsplit("/", 1)[-1] or uri
    if uri.startswith("file:") and "?" not in uri and "#" not in uri:  # the common case, without urlsplit
        name = uri.rsplit("/", 1)[-1]
        return unquote(name) if "%" in name else name
    path = urlsplit(uri).path
    return unquote(path.rsplit("/", 1)[-1]) if path else uri


def _exc_record(location: Location, exc: BaseException) -> ErrorRecord:
    """An error record for ``exc`` whose message cannot carry content."""
    # Imported here, on the error path only: the pre-commit hook scans through
    # this module, and logging costs it ~7 ms.
    import logging

    if isinstance(exc, SourceError):
        return ErrorRecord(location, exc.kind, str(exc), getattr(exc, "limit", None))  # masked by ErrorRecord
    if isinstance(exc, OSError):
        return ErrorRecord(location, os_error_kind(exc), os_error_message(exc))
    logging.getLogger("cardscan.pipeline").debug("internal error on %s", location.display(), exc_info=True)
    # Library messages may quote input (UnicodeDecodeError, parser errors): ErrorRecord masks, then cuts.
    return ErrorRecord(location, "internal", f"{type(exc).__name__}: {exc}")
