"""The finding model: where a card number is, and what is known about it.

A :class:`Finding` never holds a full PAN. It carries the masked form (at most
the first 6 and last 4 digits, as PCI DSS allows) and a keyed fingerprint
(HMAC-SHA256). A plain hash of a PAN is brute-forceable in minutes (the IIN
and Luhn digit leave ~10^9 candidates), a keyed one is not.

The :class:`Location` model covers every place cardscan looks:

* files and shares: ``uri`` = ``file:///abs/path``;
* objects in stores: ``uri`` = ``s3://bucket/key`` plus ``version``;
* members of containers: ``member`` is the chain of names from the outer
  object inwards (``("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")``);
* SQL cells: ``uri`` is the database URL without password, and ``cell`` names
  schema, table, column and the row's key;
* rows of a database dump file (``pg_dump``, ``mysqldump``, SQLite ``.dump``):
  the file's location as for any file (offset, line and column in the
  decompressed dump), plus ``dump`` naming the table, the column, the row's
  position among the table's rows in the dump and its key when the dump
  declares one (:class:`DumpCell`; decoders/dumps.py);
* within the innermost stream: ``offset``/``length`` in bytes, and
  ``line``/``column`` (1-based, column counted in bytes) for text;
* ``ref``, optional: where a person finds it in a document, when the
  innermost stream is text cardscan extracted: a spreadsheet cell,
  ``Sheet1!B2`` (or the cells that use a shared string,
  ``Sheet1!B2,Sheet2!A7``). Shown instead of the part's line and column.

A location is written, shown and identified in its *public* form: a card
number in a file name, S3 key or member name is masked there like any other
(``file:///exports/455673******9855.csv``). Written with the fingerprint key
(the manifest, the sweep state), such a location also carries ``sealed``: the
real one, encrypted under that key (see seal.py), which reading it back with
the key restores, so remediation can find the object.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import field, fields, replace
from typing import Any

from . import _keyid
from ._byvalue import ByValue, built
from ._dataclass import dataclass
from .errors import ConfigError
from .privacy import mask_name, mask_value, safe_message
from .seal import SealError, seal, unseal

#: Finding kinds. Track data is magnetic-stripe data: storing it is never allowed.
KINDS = ("pan", "track1", "track2")


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Cell(ByValue):
    """A SQL cell: enough to address it with an UPDATE ... WHERE key."""

    table: str
    column: str
    #: The row's key: (column, value) pairs (written as ``key`` in the manifest).
    row_key: tuple[tuple[str, Any], ...]
    schema: str | None = None
    #: False when the key is a physical row id (ctid, rowid) that may change.
    stable: bool = True

    def public(self) -> "Cell":
        """This cell with card numbers in its names and key values masked
        (``self`` when there are none): a table ``cards_<PAN>`` or a row keyed
        by a card number must not be written in clear."""
        table, column = mask_name(self.table), mask_name(self.column)
        schema = mask_name(self.schema) if self.schema else self.schema
        key = tuple((mask_name(k), mask_value(v)) for k, v in self.row_key)
        if table is self.table and column is self.column and schema is self.schema and \
                all(a is c and b is d for (a, b), (c, d) in zip(key, self.row_key)):
            return self
        return replace(self, table=table, column=column, schema=schema, row_key=key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "column": self.column,
            "key": {k: v for k, v in self.row_key},
            "key_stable": self.stable,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cell":
        return cls(
            table=d["table"],
            column=d["column"],
            row_key=tuple((k, v) for k, v in d.get("key", {}).items()),
            schema=d.get("schema"),
            stable=d.get("key_stable", True),
        )


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class DumpCell(ByValue):
    """A value in a database dump file: which table, column and row it fills.

    Unlike a :class:`Cell` it addresses nothing in a database: the finding's
    offset and length in the dump are where it is (remediation redacts those
    bytes); this says what they are.
    """

    table: str
    #: None when the dump does not name the columns (an INSERT without a
    #: column list and no CREATE TABLE before it).
    column: str | None
    #: 1-based position of the row among the table's rows in the dump.
    row: int
    #: The row's primary key as the dump declares it: (column, value) pairs,
    #: empty when it declares none.
    key: tuple[tuple[str, Any], ...] = ()
    schema: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"table": self.table, "column": self.column, "row": self.row,
                             "key": {k: v for k, v in self.key}}
        if self.schema is not None:
            d["schema"] = self.schema
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DumpCell":
        return cls(table=d["table"], column=d.get("column"), row=int(d["row"]),
                   key=tuple((k, v) for k, v in d.get("key", {}).items()), schema=d.get("schema"))

    def display(self) -> str:
        """``public.cards.card_number[row 7, id=7]`` for humans."""
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        keys = "".join(f", {k}={v}" for k, v in self.key)
        return f"{table}.{self.column or '?'}[row {self.row}{keys}]"


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Location(ByValue):
    """Where a finding is. See the module docstring for the forms it takes."""

    uri: str = ""
    member: tuple[str, ...] = ()
    offset: int | None = None
    length: int | None = None
    line: int | None = None
    column: int | None = None
    version: str | None = None
    cell: Cell | None = None
    #: A person's reference inside a document (``Sheet1!B2``); see the module doc.
    ref: str | None = field(default=None, compare=False)
    #: A value in a database dump file: table, column, row, key (DumpCell).
    dump: DumpCell | None = field(default=None, compare=False)
    #: Set on a public location read back without the key: the real uri and
    #: members, sealed (see seal.py). In-memory locations of a scan are real.
    sealed: str | None = field(default=None, compare=False)

    def public(self) -> "Location":
        """This location with card numbers in its uri and member names masked
        (``self`` when there are none)."""
        if self.__dict__.get("_public"):
            return self
        uri = mask_name(self.uri)
        # (Most places have no member: no generator to build and walk, once per object.)
        member = tuple(mask_name(m) for m in self.member) if self.member else self.member
        ref = mask_name(self.ref) if self.ref else self.ref  # a sheet may be named after a card
        version = mask_name(self.version) if self.version else self.version
        cell = self.cell.public() if self.cell is not None else None
        if uri is self.uri and ref is self.ref and version is self.version and cell is self.cell \
                and (member is self.member or all(a is b for a, b in zip(member, self.member))):
            pub = self
        else:
            pub = replace(self, uri=uri, member=member, ref=ref, version=version, cell=cell)
        # Marked as checked (outside the fields: not compared, pickled with
        # it): a finding's location is written by several sinks, in the
        # parent process too, and each asked again. A changed copy
        # (dataclasses.replace) is checked again. True: mask_name found
        # nothing in its names (it is its own public form; the manifest's
        # writer does not ask mask_name again about its uri: clean_uri);
        # a masked copy is marked too, not so.
        object.__setattr__(pub, "_public", True if pub is self else _MASKED)
        return pub

    def clean_uri(self) -> bool:
        """Whether :meth:`public` found nothing to mask here, so that
        ``mask_name(self.uri) is self.uri`` is known without asking it again
        (in this process, or in the worker this location was pickled in)."""
        return self.__dict__.get("_public") is True

    def __repr__(self) -> str:  # the public form: a repr lands in logs and tracebacks
        pub = self.public()
        fields = ", ".join(f"{name}={getattr(pub, name)!r}" for name in (
            "uri", "member", "offset", "length", "line", "column", "version", "cell", "ref", "dump", "sealed"))
        return f"Location({fields})"

    def sealed_public(self, key: "FingerprintKey") -> "Location":
        """The public form carrying the real uri and members sealed under
        ``key`` (``self`` when there is nothing to mask)."""
        pub = self.public()
        if pub is self:
            return self
        real: list[Any] = [self.uri, list(self.member)]
        if pub.cell is not self.cell or pub.version != self.version:  # a SQL cell or version named with a card
            real += [self.cell.to_dict() if self.cell is not None else None, self.version]
        return replace(pub, sealed=key.seal(json.dumps(real, default=str).encode("utf-8")))

    def identity(self) -> tuple[Any, ...]:
        """What identifies the place, independent of line numbers (public form:
        finding ids are a plain hash of it)."""
        pub = self.public()
        cell = None
        if pub.cell is not None:  # public too: a finding id is a plain hash of it
            cell = (pub.cell.schema, pub.cell.table, pub.cell.column, pub.cell.row_key)
        return (pub.uri, pub.version, pub.member, cell, self.offset)

    def display(self) -> str:
        """``path!member!member:line:col`` for humans (no digits of the PAN)."""
        pub = self.public()
        base = pub.uri[len("file://"):] if pub.uri.startswith("file://") else pub.uri
        if pub.version:
            base += f"?versionId={pub.version}"
        if pub.ref:
            return "!".join([base, *ref_members(pub.member, pub.ref), pub.ref])
        parts = [base, *pub.member]
        text = "!".join(parts)
        if pub.cell is not None:
            c = pub.cell
            keys = ",".join(f"{k}={v}" for k, v in c.row_key)
            table = f"{c.schema}.{c.table}" if c.schema else c.table
            return f"{text}#{table}.{c.column}[{keys}]"
        if self.line is not None:
            text = f"{text}:{self.line}:{self.column}"
        elif self.offset is not None:
            text = f"{text}@{self.offset}"
        if self.dump is not None:
            text += "#" + self.dump.display()
        return text

    def to_dict(self, key: "FingerprintKey | None" = None) -> dict[str, Any]:
        """The public form; with ``key``, a location that needed masking also
        carries ``sealed`` (the real one, for whoever holds the key)."""
        pub = self.public() if key is None else self.sealed_public(key)
        d: dict[str, Any] = {"uri": pub.uri}
        if pub.version is not None:
            d["version"] = pub.version
        if pub.member:
            d["member"] = list(pub.member)
        for name in ("offset", "length", "line", "column"):
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        if pub.cell is not None:
            d["cell"] = pub.cell.to_dict()
        if pub.ref:
            d["ref"] = pub.ref
        if self.dump is not None:
            d["dump"] = self.dump.to_dict()
        if pub.sealed is not None:
            d["sealed"] = pub.sealed
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], key: "FingerprintKey | None" = None) -> "Location":
        """A location from its dict; with ``key``, a sealed one is opened to the
        real location (:class:`~cardscan.seal.SealError` if it cannot be)."""
        cell = d.get("cell")
        loc = cls(
            uri=d["uri"],
            member=tuple(d.get("member", ())),
            offset=d.get("offset"),
            length=d.get("length"),
            line=d.get("line"),
            column=d.get("column"),
            version=d.get("version"),
            cell=Cell.from_dict(cell) if cell else None,
            ref=d.get("ref"),
            dump=DumpCell.from_dict(d["dump"]) if d.get("dump") else None,
            sealed=d.get("sealed"),
        )
        if loc.sealed is None or key is None:
            return loc
        try:
            sealed = json.loads(key.unseal(loc.sealed))
            uri, member = sealed[:2]
            real = replace(loc, uri=uri, member=tuple(member), sealed=None)
            if len(sealed) > 2:  # the cell and version were sealed too
                cell, version = sealed[2:4]
                real = replace(real, cell=Cell.from_dict(cell) if cell else None, version=version)
        except (ValueError, TypeError, KeyError) as exc:
            raise SealError(f"a sealed location that does not decode ({type(exc).__name__})") from None
        pub = real.public()
        if pub.uri != loc.uri or pub.member != loc.member or _cell_dict(pub.cell) != _cell_dict(loc.cell):
            raise SealError("a sealed location that does not match its public form")
        return real


#: The mark of a location public() made as a masked copy of another (see public).
_MASKED = "masked"


def _cell_dict(cell: Cell | None) -> Any:
    # Compared as written: a key value read back from JSON is a list, not a tuple.
    return None if cell is None else json.loads(json.dumps(cell.to_dict(), default=str))


def ref_members(member: tuple[str, ...], ref: str) -> tuple[str, ...]:
    """The members to show before ``ref``: a sheet-qualified reference
    (``Sheet1!B2``) replaces the part it was found in (``xl/sharedStrings.xml``),
    a bare one (``B2``, the sheet's name unknown) follows it."""
    return member[:-1] if "!" in ref and member else member


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class Finding(ByValue):
    """One card number (or magnetic-stripe track) found at one location.

    Holds no full PAN: repr, str, pickle and logs are safe by construction.
    """

    location: Location
    kind: str
    brand: str
    masked: str
    fingerprint: str
    confidence: int
    reasons: tuple[str, ...] = ()
    test_card: bool = False
    encoding: str = "ascii"
    #: Number of digits in the PAN (12-19).
    digits: int = 16
    #: Metadata of the object it was found in (size, mtime, sha256, owner,
    #: mode, exposure, etag ...), filled by the sweep; not part of equality.
    obj: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)
    #: Set when the finding was carried over from an earlier scan of the same,
    #: unchanged object (resumed / incremental sweeps, cardscan/run/state/):
    #: when that scan read the object (RFC 3339). Not part of equality.
    carried_over: str | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def id(self) -> str:
        """Stable id: the same PAN at the same place gets the same id in every run."""
        # Each part then a NUL, hashed in one call (the same bytes as an update
        # per part): repr(location.identity()), the fingerprint, the kind.
        global _ID_HEAD
        loc = self.location
        # (A location marked checked is its own public form: public() would return it.)
        pub = loc if loc.__dict__.get("_public") else loc.public()
        head = _ID_HEAD  # (one read: a tuple another thread's call may replace)
        if pub.cell is not None:
            ident = repr(loc.identity())
        else:
            # repr(identity) is "(uri, version, member, None, offset)": all but
            # the offset is the same for the findings of an object, which
            # come one after another, so its repr is made once.
            # (The repr of the tuple written as tuple.__repr__ writes it, each
            # item's repr between ", ": ~5k instructions less than building
            # and repr'ing the tuple, whose guard against recursion costs.)
            if head[0] is not pub.uri or head[1] is not pub.version or head[2] is not pub.member:
                head = _ID_HEAD = (pub.uri, pub.version, pub.member, f"({pub.uri!r}, {pub.version!r}, {pub.member!r}, None")
            ident = f"{head[3]}, {loc.offset!r})"
        return _sha256(f"{ident}\x00{self.fingerprint}\x00{self.kind}\x00".encode("utf-8")).hexdigest()[:24]

    @property
    def severity(self) -> str:
        return "critical" if self.kind in ("track1", "track2") else "high"

    def with_location(self, **changes: Any) -> "Finding":
        # Copied past __init__ (_byvalue.built): dataclasses.replace twice
        # cost ~16 us, and a big file's findings each come through here
        # (RangeStats.fix). Only the fields: a copy is not marked public.
        # The fields are the instance's __dict__ (no slots, no other
        # attribute but Location's mark): copied whole, a getattr per field
        # only if anything else is there.
        loc = self.location
        for name in changes:
            if name not in _LOCATION_FIELDS:
                raise TypeError(f"Location has no field {name!r}")
        values = loc.__dict__.copy()
        values.pop("_public", None)
        if len(values) != len(_LOCATION_FIELDS):
            values = {name: getattr(loc, name) for name in _LOCATION_FIELDS}
        values.update(changes)
        mine = self.__dict__.copy()
        if len(mine) != len(_FINDING_FIELDS):
            mine = {name: getattr(self, name) for name in _FINDING_FIELDS}
        mine["location"] = built(Location, values)
        return built(Finding, mine)

    def to_dict(self, key: "FingerprintKey | None" = None) -> dict[str, Any]:
        """The manifest record's fields; ``key`` seals a masked location (Location.to_dict)."""
        d: dict[str, Any] = {
            "id": self.id,
            "location": self.location.to_dict(key),
            "kind": self.kind,
            "severity": self.severity,
            "brand": self.brand,
            "masked": self.masked,
            "fingerprint": self.fingerprint,
            "confidence": self.confidence,
            "reasons": list(self.reasons),
            "test_card": self.test_card,
            "encoding": self.encoding,
            "digits": self.digits,
            "object": dict(self.obj),
        }
        if self.carried_over:
            d["carried_over"] = True
            d["scanned_at"] = self.carried_over
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], key: "FingerprintKey | None" = None) -> "Finding":
        return cls(
            location=Location.from_dict(d["location"], key),
            kind=d["kind"],
            brand=d["brand"],
            masked=d["masked"],
            fingerprint=d["fingerprint"],
            confidence=int(d["confidence"]),
            reasons=tuple(d.get("reasons", ())),
            test_card=bool(d.get("test_card", False)),
            encoding=d.get("encoding", "ascii"),
            digits=int(d.get("digits", len(d["masked"].replace(" ", "").replace("-", "")))),
            obj=dict(d.get("object", {})),
            carried_over=(d.get("scanned_at") or "unknown") if d.get("carried_over") else None,
        )


_sha256 = hashlib.sha256

#: Finding.id's last place: (uri, version, member, the repr of its identity
#: up to the offset), held so the ids of its parts cannot be reused.
_ID_HEAD: tuple[Any, Any, Any, str] = (None, None, None, "")

# (Finding.with_location: every field, whatever is added later.)
_LOCATION_FIELDS = tuple(f.name for f in fields(Location))
_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


def mask(digits: str, keep_first: int = 6, keep_last: int = 4) -> str:
    """Mask a PAN given as its digits: ``411111******1111``.

    Never reveals more than the first 6 and last 4 digits; for PANs shorter
    than 16 digits the first part shrinks so that at least half stays hidden
    (a 12-digit Maestro shows ``5018******34``... never 10 of 12 digits).
    """
    n = len(digits)
    if n >= 16 and keep_first == 6 and keep_last == 4:  # (most PANs: the loop below keeps 6 and 4 as they are)
        return digits[:6] + "*" * (n - 10) + digits[n - 4:]
    keep_first = min(keep_first, 6)
    keep_last = min(keep_last, 4)
    # At least 6 hidden digits whatever the length.
    while keep_first + keep_last > n - 6 and keep_first > 0:
        keep_first -= 1
    return digits[:keep_first] + "*" * (n - keep_first - keep_last) + digits[n - keep_last:]


#: The shortest key accepted wherever fingerprints must stay comparable (a key
#: file, CARDSCAN_FINGERPRINT_KEY, --state, baselines, remediation). With a
#: short or guessable key, ``masked`` (6 + 4 digits) and the fingerprint give
#: the PAN back by brute force in about a second; 32 bytes is what
#: ``cardscan keygen`` writes.
MIN_KEY_BYTES = 32

#: The fix every "key too short" message names.
KEYGEN_HINT = "create one with: cardscan keygen PATH, then pass --key-file PATH"

#: The key id's salt and PBKDF2 rounds (their reasons: _keyid.py).
_KEY_ID_LABEL = _keyid.LABEL
_KEY_ID_ROUNDS = _keyid.ROUNDS


class WeakKeyError(ConfigError, ValueError):
    """A fingerprint key too short to protect the card numbers behind its fingerprints.

    A ``ConfigError`` (the CLI's exit 2 with the message) and a ``ValueError``
    (what a library caller passing a bad argument expects).
    """


def check_key_length(key: bytes, where: str) -> None:
    """Raise :class:`WeakKeyError` for a key under :data:`MIN_KEY_BYTES` bytes."""
    if len(key) < MIN_KEY_BYTES:
        raise WeakKeyError(
            f"{where} is {len(key)} bytes; fingerprint keys must be at least {MIN_KEY_BYTES} random bytes "
            f"(a short key lets anyone holding a manifest recover card numbers from the fingerprints); "
            f"{KEYGEN_HINT}"
        )


class FingerprintKey:
    """The HMAC key for fingerprints. Its repr never shows the key.

    ``key_id`` goes into manifests, so a reader can tell whether two
    manifests' fingerprints are comparable. It is PBKDF2-HMAC-SHA256 of the
    key under a fixed label, 100,000 rounds, truncated to 64 bits: a guess of
    the key costs as much to test against it as against one fingerprint
    (the old id, one SHA-256 of the key, tested a guess 10^5 times faster).
    What protects the key is its length (:data:`MIN_KEY_BYTES`).

    A key read from ``CARDSCAN_FINGERPRINT_KEY`` must be at least
    :data:`MIN_KEY_BYTES` long; a key passed in is checked where fingerprints
    must be comparable (:meth:`require_strong`), so a throwaway library scan
    may still use any key.
    """

    __slots__ = ("_key", "random", "source", "_id", "_pads", "_deriving")

    def __init__(self, key: bytes | str | None = None, *, source: str | None = None) -> None:
        if key is None:
            env = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
            key = env.encode("utf-8") if env else None
            if key is not None:
                check_key_length(key, "CARDSCAN_FINGERPRINT_KEY")
        if isinstance(key, str):
            key = key.encode("utf-8")
        self.random = key is None
        self._key: bytes = key if key is not None else os.urandom(MIN_KEY_BYTES)  # (secrets.token_bytes; importing secrets costs start-up)
        if not self._key:
            raise ValueError("fingerprint key must not be empty")
        #: Where the key came from (``file``, ``env``, ``random``: settings.load_key), for the
        #: scan record's ``key_source``; None for a key handed in (``argument``).
        self.source = source
        self._id: str | None = None
        self._pads: tuple[Any, Any] | None = None
        self._deriving: tuple[threading.Thread, list[str]] | None = None

    @property
    def key_id(self) -> str:
        if self._id is None and self._deriving is None:
            self._deriving = _keyid.take_early(self._key)  # (the program's, if it is this key's)
        deriving = self._deriving
        if deriving is not None:
            # Joined even when the id is there: the thread may not have ended
            # yet, and a sweep forks its workers only while it runs one thread.
            thread, box = deriving
            thread.join()
            self._deriving = None
            if self._id is None and box:
                self._id = box[0]
        if self._id is None:  # (no thread was started, or it failed)
            self._id = _keyid.derive(self._key)  # slow on purpose: once per key
        return self._id

    def start_key_id(self) -> None:
        """Begin deriving :attr:`key_id` on a thread; reading it waits for the thread.

        PBKDF2 (~25 ms) lets go of the GIL: on another core it costs a sweep
        no time if started before the work that precedes the scan record
        (the CLI starts it before the sweep's modules are imported, or from
        its first line for ``CARDSCAN_FINGERPRINT_KEY``: _keyid.start_early,
        taken over here when it is this key)."""
        if self._id is None and self._deriving is None:
            deriving = _keyid.take_early(self._key)
            if deriving is None:
                box: list[str] = []
                key = self._key
                thread = threading.Thread(target=lambda: box.append(_keyid.derive(key)), daemon=True,
                                          name="cardscan-key-id")
                thread.start()
                deriving = (thread, box)
            self._deriving = deriving

    @property
    def legacy_key_id(self) -> str:
        """The id earlier versions wrote (an unkeyed SHA-256 of the key): to read their manifests and baselines."""
        return "sha256:" + hashlib.sha256(b"cardscan-key-id\x00" + self._key).hexdigest()[:16]

    def has_id(self, key_id: object) -> bool:
        """Whether ``key_id`` (from a manifest, baseline or state) names this key, in either form."""
        return isinstance(key_id, str) and key_id in (self.key_id, self.legacy_key_id)

    @property
    def weak(self) -> bool:
        return len(self._key) < MIN_KEY_BYTES

    def require_strong(self, purpose: str) -> None:
        """Raise :class:`WeakKeyError` if this key is too short for ``purpose``."""
        check_key_length(self._key, f"the fingerprint key for {purpose}")

    def raw(self) -> bytes:
        """The key bytes, to hand to worker processes of the same scan."""
        return self._key

    def fingerprint(self, digits: str) -> str:
        # HMAC-SHA256 (RFC 2104) from the key's two padded blocks hashed once:
        # a copy of each state per number, ~0.7 us where hmac.digest, which
        # sets up a context and hashes both blocks each time, took ~1.8 us.
        # Tests compare it with hmac.digest.
        pads = self._pads
        if pads is None:
            pads = self._pads = _hmac_pads(self._key)
        inner = pads[0].copy()
        inner.update(digits.encode("ascii"))
        outer = pads[1].copy()
        outer.update(inner.digest())
        return "hmac-sha256:" + outer.hexdigest()

    def seal(self, plaintext: bytes) -> str:
        """``plaintext`` encrypted under a key derived from this one (seal.py)."""
        return seal(self._key, plaintext)

    def unseal(self, token: str) -> bytes:
        return unseal(self._key, token)

    def __repr__(self) -> str:
        return f"FingerprintKey(key_id={self.key_id!r}, random={self.random})"

    def __reduce__(self):  # workers of one scan share the key
        return (FingerprintKey, (self._key,))


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after HMAC's inner and outer padded key blocks."""
    if len(key) > 64:  # SHA-256's block: a longer key is hashed first
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\x00")
    return (hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD)))


_IPAD = bytes(map((0x36).__xor__, range(256)))  # byte -> byte ^ 0x36 (made in C: see privacy._ALL_BYTES)
_OPAD = bytes(map((0x5C).__xor__, range(256)))


def keyed_hash(digits: str, key: bytes | str) -> str:
    """``hmac-sha256:<hex>`` of the PAN's ASCII digits under ``key``."""
    return FingerprintKey(key).fingerprint(digits)


#: Error kinds in the manifest: why part of a source could not be looked at.
ERROR_KINDS = ("permission", "not_found", "io", "decode", "encrypted", "limit", "source", "changed", "internal")


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class ErrorRecord(ByValue):
    """Something the scan could not look at. The message never holds a PAN."""

    location: Location
    kind: str
    message: str
    #: For kind ``limit``: which limit (depth, ratio, total_bytes, member_count, ...).
    limit: str | None = None

    def __post_init__(self) -> None:
        # The boundary for error text: whoever builds a record (a decoder, a
        # source, a driver's exception text), the message is masked, then cut.
        message = safe_message(self.message)
        if message != self.message:
            object.__setattr__(self, "message", message)

    def to_dict(self, key: "FingerprintKey | None" = None) -> dict[str, Any]:
        d: dict[str, Any] = {"location": self.location.to_dict(key), "kind": self.kind, "message": self.message}
        if self.limit is not None:
            d["limit"] = self.limit
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], key: "FingerprintKey | None" = None) -> "ErrorRecord":
        return cls(Location.from_dict(d["location"], key), d["kind"], d["message"], d.get("limit"))
