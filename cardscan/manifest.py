"""The remediation manifest: JSON Lines, one record per line, each with a ``type``.

``scan`` (first) -> ``finding`` / ``error`` (streamed as found) -> ``summary``
(last). The format is specified in docs/manifest.md and by the JSON Schema
``cardscan/schema/manifest.schema.json``; remediation tools depend on it.

Version policy: ``SCHEMA_VERSION`` (an integer in the scan record) changes
only for incompatible changes (a field removed, renamed or given a new
meaning). Adding fields, record types or values is compatible and does not
bump it: readers ignore what they do not know. A reader upgrades old records
step by step through ``UPGRADES`` (one function per version), and refuses a
manifest from a newer major schema with a clear message.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import field
from functools import lru_cache
from typing import IO, Any, BinaryIO, Callable, Iterable, Iterator

from . import _files
from ._byvalue import ByValueUnhashable
from ._dataclass import dataclass
from .errors import ManifestError, MissingDependency
from .findings import ErrorRecord, Finding
from .privacy import _CLEAN_NAMES, Published, PublishedOver, mask_name, mask_text, public_record, safe_message

SCHEMA_VERSION = 1
RECORD_TYPES = ("scan", "finding", "error", "summary")

#: Confidence bands used in summaries and reports: (name, lowest score).
CONFIDENCE_BANDS = (("high", 80), ("medium", 50), ("low", 0))

#: One step per schema version: UPGRADES[v] turns a version-v record into v+1.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def confidence_band(confidence: int) -> str:
    for name, low in CONFIDENCE_BANDS:
        if confidence >= low:
            return name
    return CONFIDENCE_BANDS[-1][0]


# -- writing -----------------------------------------------------------------
def scan_record(info: dict[str, Any]) -> dict[str, Any]:
    return {"type": "scan", "schema_version": SCHEMA_VERSION, **info}


def finding_record(f: Finding) -> dict[str, Any]:
    record = {"type": "finding", **f.to_dict()}
    if type(f.obj) is Published or type(f.obj) is PublishedOver:  # shared by the object's findings, masked once: not checked again
        record["object"] = f.obj
    return record


def finding_line(f: Finding) -> bytes:
    """``dumps(finding_record(f))``, built as text for a finding of the usual
    shape (a file's location, no members, cell, version, ref or dump, its
    object's metadata :class:`~cardscan.privacy.Published`): each string
    passes the boundary as public_record would pass it (the same test, the
    same :func:`~cardscan.privacy.mask_name`), the numbers are written as the
    encoder writes them, and what is the same for all the findings of an
    object (its metadata, its uri) is encoded once; the strings that repeat
    in every finding (kind, brand, reasons ...) are written from a table of
    what the boundary made of them. Any other finding, or a field of another
    type, takes the general path; tests compare the two."""
    loc = f.location
    obj = f.obj
    pub = loc.public()
    if type(obj) is not Published and type(obj) is not PublishedOver or f.carried_over or pub.member or \
            pub.version is not None or \
            pub.cell is not None or pub.ref or loc.dump is not None or pub.sealed is not None:
        return dumps(finding_record(f))
    uri, kind, brand, encoding, reasons = pub.uri, f.kind, f.brand, f.encoding, f.reasons
    masked, fingerprint, confidence, digits, test_card = f.masked, f.fingerprint, f.confidence, f.digits, f.test_card
    if type(uri) is not str or type(masked) is not str or type(fingerprint) is not str or \
            type(confidence) is not int or type(digits) is not int or type(test_card) is not bool:
        return dumps(finding_record(f))
    offset, length, line, column = loc.offset, loc.length, loc.line, loc.column
    if type(offset) is int and type(length) is int and type(line) is int and type(column) is int:
        place = f',"offset":{offset},"length":{length},"line":{line},"column":{column}'
    elif _INT_OR_NONE.issuperset((type(offset), type(length), type(line), type(column))):
        place = "".join([f',"{name}":{value}' for name, value in
                         (("offset", offset), ("length", length), ("line", line), ("column", column))
                         if value is not None])
    else:
        return dumps(finding_record(f))
    # Kind, severity, brand, encoding and reasons: their text, from the table.
    severity = f.severity
    words = _WORDS.get((kind, severity, brand, encoding, reasons))
    if words is None:
        words = _words(kind, severity, brand, encoding, reasons)
        if words is None:  # a field of another type
            return dumps(finding_record(f))
    global _OBJECT_TEXT
    last = _OBJECT_TEXT  # (one read: a tuple another thread's call may replace)
    if last[0] is not obj or last[1] is not uri:  # the findings of an object come one after another
        # A uri Location.public found clean (it is pub's own: pub is loc) is
        # what mask_name gives for it: not asked again (~2.5 us per object
        # whose finding came from a worker, whose _CLEAN_NAMES knew it).
        text = _encode_str(uri) if uri is loc.uri and loc.clean_uri() else _public_str(uri)
        last = _OBJECT_TEXT = (obj, uri, _object_text(obj), text)
    enc = _encode_str
    # (An f-string: its pieces joined in one copy; a % template is read
    # character by character, ~2k instructions of each line. The ints are
    # exact ints here: written as the encoder writes them.)
    return (f'{{"type":"finding","id":{enc(f.id)},"location":{{"uri":{last[3]}{place}}},{words[0]},'
            f'"masked":{enc(masked)},"fingerprint":{enc(fingerprint)},"confidence":{confidence},'
            f'"reasons":[{words[1]}],"test_card":{"true" if test_card else "false"},"encoding":{words[2]},'
            f'"digits":{digits},"object":{last[2]}}}\n').encode("ascii")
_INT_OR_NONE = frozenset((int, type(None)))


def _public_str(text: str) -> str:
    """``text`` as public_record passes a string of a field that is not
    opaque (the same test, the same mask_name), encoded."""
    return _encode_str(text if len(text) < 12 or text in _CLEAN_NAMES else mask_name(text))


def _words(kind: Any, severity: Any, brand: Any, encoding: Any, reasons: Any) -> tuple[str, str, str] | None:
    """The text of a finding's kind, severity and brand, of its reasons and of
    its encoding, remembered in _WORDS; None when one of them is not a str
    (reasons: a tuple of str). A subclass may compare equal and differ: only
    plain ones are remembered."""
    if type(kind) is not str or type(severity) is not str or type(brand) is not str or \
            type(encoding) is not str or type(reasons) is not tuple or not all(type(r) is str for r in reasons):
        return None
    words = (f'"kind":{_public_str(kind)},"severity":{_public_str(severity)},"brand":{_public_str(brand)}',
             ",".join([_public_str(r) for r in reasons]), _public_str(encoding))
    if len(_WORDS) >= _WORDS_MAX:
        _WORDS.clear()
    _WORDS[(kind, severity, brand, encoding, reasons)] = words
    return words


#: What finding_line wrote for a finding's (kind, severity, brand, encoding, reasons):
#: a few combinations repeat in every finding, and mask_name depends on the
#: text alone. Bounded: cleared when full.
_WORDS: dict[tuple[str, str, str, str, tuple[str, ...]], tuple[str, str, str]] = {}
_WORDS_MAX = 4096


#: The last object metadata and uri finding_line encoded, and their text
#: (held, so their ids cannot be reused; a Published record is read-only).
_OBJECT_TEXT: tuple[Any, Any, str, str] = (None, None, "", "")


def _object_text(obj: Published) -> str:
    """``_encode_object(obj)``; of a :class:`~cardscan.privacy.PublishedOver`
    (``{**base, **extra}``, in that order, no key in both), the shared
    ``base``'s text made once for the objects that share it (a directory's
    owner, mode and exposure: ~half of the text) and joined with
    ``extra``'s: a dict's JSON is its items' joined by ',' between braces,
    each item's text its own. Tests compare the two."""
    global _BASE_TEXT
    if type(obj) is not PublishedOver:
        return _encode_object(obj)
    base, extra = obj.base, obj.extra
    last = _BASE_TEXT  # (one read: a tuple another thread's call may replace)
    if last[0] is not base:
        last = _BASE_TEXT = (base, _encode_object(base))
    if not extra:
        return last[1]
    own = _own_text(extra)
    if not base:
        return "{" + own + "}"
    return last[1][:-1] + "," + own + "}"


def _own_text(extra: Published) -> str:
    """``_encode_object(extra)`` without its braces; a listed file's own part
    (size, mtime, ukey, sha256 and sha256_mode, an int and four strings)
    written as the encoder writes it, without the encoder's list of items
    and of pieces (~5k instructions of each object). Tests compare the two."""
    if tuple(extra) == _OWN_KEYS:
        size, mtime, ukey, sha256, mode = extra.values()
        if type(size) is int and type(mtime) is str and type(ukey) is str and type(sha256) is str and \
                type(mode) is str:
            enc = _encode_str
            return f'"size":{size},"mtime":{enc(mtime)},"ukey":{enc(ukey)},"sha256":{enc(sha256)},' \
                   f'"sha256_mode":{enc(mode)}'
    return _encode_object(extra)[1:-1]


_OWN_KEYS = ("size", "mtime", "ukey", "sha256", "sha256_mode")


#: The last shared part of object metadata _object_text encoded, and its
#: text (held, so its id cannot be reused; a Published record is read-only).
_BASE_TEXT: tuple[Any, str] = (None, "")


def error_record(e: ErrorRecord) -> dict[str, Any]:
    return {"type": "error", **e.to_dict()}


def summary_record(summary: dict[str, Any]) -> dict[str, Any]:
    return {"type": "summary", **summary}


def dumps(record: dict[str, Any]) -> bytes:
    """One manifest line (ASCII-only JSON, so any byte in a name survives),
    through the output boundary (privacy.public_record): whatever a record
    holds, no card number is written."""
    return (_ENCODER.encode(public_record(record)) + "\n").encode("ascii")


def _default(value: Any) -> Any:
    # After the boundary (public_record passes what it does not know as it
    # is): what this makes of a value is masked here, or a card in bytes
    # would be written as its hex, in a set or a Path as itself.
    if isinstance(value, (bytes, bytearray)):
        return mask_text(value.hex())
    if isinstance(value, (set, frozenset, tuple)):
        return public_record(list(value))
    return public_record(str(value))


#: A string as the encoder writes it (ensure_ascii): quoted, escaped.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]

#: One encoder for every line (json.dumps with options builds one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=_default)


def _object_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode`` of an object's metadata in finding_line (a
    Published record, which published() built: no cycle in it), with the C
    encoder made once: JSONEncoder.encode makes one per call (and a dict of
    the containers it is in, to refuse a cycle), ~1 us of each object with
    findings. Without the C encoder, _ENCODER.encode; tests compare the two."""
    from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]

    if c_make_encoder is None:  # pragma: no cover - CPython has it
        return _ENCODER.encode
    # (The arguments JSONEncoder.iterencode passes, markers None: no cycle check.)
    encode = c_make_encoder(None, _default, encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda obj: "".join(encode(obj, 0))


_encode_object = _object_encoder()


def open_private(path: str | os.PathLike[str]) -> int:
    """Open ``path`` for writing, created 0600 (never chmod after writing).

    An existing regular file is truncated and, while still empty, narrowed to
    0600. Refuses to follow a symlink at ``path`` (a planted link must not
    redirect the manifest).
    """
    try:
        return _files.open_private(path)
    except OSError as exc:
        raise ManifestError(f"cannot write {os.fspath(path)}: {exc.strerror}") from None


# -- reading -----------------------------------------------------------------
@dataclass(eq=False, repr=False)  # ==, repr(): ByValueUnhashable
class Manifest(ByValueUnhashable):
    """A loaded manifest (or several concatenated)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    #: True when the last line was cut short (the writer was killed mid-line).
    truncated: bool = False

    @property
    def scans(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "scan"]

    @property
    def scan(self) -> dict[str, Any] | None:
        scans = self.scans
        return scans[0] if scans else None

    @property
    def summaries(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "summary"]

    @property
    def summary(self) -> dict[str, Any] | None:
        s = self.summaries
        return s[-1] if s else None

    @property
    def complete(self) -> bool:
        """Every scan in it ended with a ``complete`` summary."""
        return bool(self.scans) and len(self.summaries) == len(self.scans) and all(
            s.get("status") == "complete" for s in self.summaries
        )

    @property
    def findings(self) -> list[Finding]:
        return [Finding.from_dict(r) for r in self.records if r.get("type") == "finding"]

    @property
    def errors(self) -> list[ErrorRecord]:
        return [ErrorRecord.from_dict(r) for r in self.records if r.get("type") == "error"]


def load_manifest(path: str | os.PathLike[str] | IO[bytes] | IO[str], *, validate: bool = False) -> Manifest:
    """Read a manifest: records upgraded to the current schema, plus Findings and Errors.

    ``validate=True`` also checks every record against the JSON Schema
    (needs the ``jsonschema`` package). Raises :class:`ManifestError` with a
    line number, never quoting the line.
    """
    m = Manifest()
    check = _validator() if validate else None
    for lineno, record in _iter(path, m):
        if check is not None:
            problems = _problems(check, record)
            if problems:
                raise ManifestError(f"line {lineno}: {problems[0]}")
        m.records.append(record)
    return m


def iter_records(path: str | os.PathLike[str] | IO[bytes] | IO[str]) -> Iterator[dict[str, Any]]:
    """Stream a manifest's records (upgraded), in constant memory."""
    for _, record in _iter(path, Manifest()):
        yield record


def _iter(source: Any, m: Manifest) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            fh: Any = open(name, "rb")
        except OSError as exc:
            raise ManifestError(f"cannot read manifest {name}: {exc.strerror}") from None
        close = True
    else:
        name, fh, close = getattr(source, "name", "<stream>"), source, False
    try:
        version: int | None = None
        lines = iter(fh)
        line = next(lines, None)
        lineno = 0
        while line is not None:
            lineno += 1
            following = next(lines, None)
            raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
            if not raw.strip():
                line = following
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                if following is None and not raw.endswith(b"\n"):
                    m.truncated = True  # a writer killed mid-line; everything before is good
                    break
                raise ManifestError(f"{name}: line {lineno} is not valid JSON") from None
            if not isinstance(record, dict) or not isinstance(record.get("type"), str):
                raise ManifestError(f"{name}: line {lineno} is not a manifest record (no \"type\")")
            if record["type"] == "scan":
                version = record.get("schema_version")
                if not isinstance(version, int):
                    raise ManifestError(f"{name}: line {lineno}: scan record without an integer schema_version")
                if version > SCHEMA_VERSION:
                    raise ManifestError(
                        f"{name}: written with manifest schema {version}; this cardscan reads up to "
                        f"{SCHEMA_VERSION}: upgrade cardscan"
                    )
            elif version is None:
                raise ManifestError(f"{name}: line {lineno}: a manifest starts with a scan record")
            yield lineno, upgrade(record, version)
            line = following
    finally:
        if close:
            fh.close()


def upgrade(record: dict[str, Any], version: int) -> dict[str, Any]:
    """``record`` (written with schema ``version``) in the current schema's form."""
    while version < SCHEMA_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise ManifestError(f"no upgrade from manifest schema {version}")
        record = step(record)
        version += 1
    if record.get("type") == "scan":
        record = {**record, "schema_version": SCHEMA_VERSION}
    return record


# -- schema validation -------------------------------------------------------
def schema() -> dict[str, Any]:
    """The manifest JSON Schema (draft 2020-12) shipped with the package."""
    from importlib.resources import files  # deferred: it imports zipfile and tempfile, start-up time

    return json.loads(files("cardscan").joinpath("schema/manifest.schema.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    try:  # an optional dependency (the test extra), needed only to validate
        import jsonschema
    except ImportError:
        raise MissingDependency("manifest validation needs jsonschema: pip install jsonschema") from None
    cls = jsonschema.Draft202012Validator
    return cls(schema(), format_checker=cls.FORMAT_CHECKER)


def _problems(validator: Any, record: dict[str, Any]) -> list[str]:
    out = []
    for err in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(record)"
        out.append(f"{record.get('type', '?')} record, {where}: {safe_message(err.message, 200)}")
    return out


def validate_records(records: Iterable[dict[str, Any]]) -> list[str]:
    """Schema problems of ``records`` (an empty list when all are valid)."""
    v = _validator()
    out: list[str] = []
    for i, r in enumerate(records, 1):
        out += [f"record {i}: {p}" for p in _problems(v, r)]
    return out


# -- object identity ---------------------------------------------------------
def object_digest(stream: BinaryIO, obj: dict[str, Any]) -> str:
    """Recompute an object's ``sha256`` the way the scan defined it (see docs/manifest.md).

    ``sha256_mode`` ``whole`` (default): SHA-256 of all bytes. ``ranges``:
    SHA-256 over ``"<start>-<end>:<sha256 of bytes [start, end)>\\n"`` for
    consecutive ranges of ``sha256_range_size`` bytes.
    """
    if obj.get("sha256_mode", "whole") == "whole":
        h = hashlib.sha256()
        for block in iter(lambda: stream.read(1 << 20), b""):
            h.update(block)
        return h.hexdigest()
    size = int(obj["sha256_range_size"])
    outer = hashlib.sha256()
    start = 0
    while True:
        h, n = hashlib.sha256(), 0
        while n < size:
            block = stream.read(min(1 << 20, size - n))
            if not block:
                break
            h.update(block)
            n += len(block)
        if n == 0 and start > 0:
            break
        outer.update(f"{start}-{start + n}:{h.hexdigest()}\n".encode("ascii"))
        start += n
        if n < size:
            break
    return outer.hexdigest()


def object_unchanged(stream: BinaryIO, obj: dict[str, Any]) -> bool:
    """True when ``stream`` still has the content the finding was made in."""
    expected = obj.get("sha256")
    return bool(expected) and object_digest(stream, obj) == expected
