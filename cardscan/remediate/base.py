"""The remediation seam: statuses, results, options, and the Remediator protocol.

A remediator handles one kind of location (files, S3 objects, SQL rows). The
runner (:mod:`cardscan.remediate.runner`) groups the selected findings by
object and calls ``remediate(findings, ctx)`` once per object; the
remediator re-reads the object, checks it is the one that was scanned and
that each card number is still where the manifest says, then acts (or, in
a dry run, says what it would do) and returns one :class:`Result` per finding.

Statuses:

* ``planned``: dry run; verified, this is what ``--apply`` would do;
* ``done``: changed as asked;
* ``already_remediated``: nothing to do: the bytes at the location are the
  masked form (a previous run), or the object was quarantined/deleted;
* ``stale``: the object or the number is not the one that was scanned; nothing
  was changed, nothing guessed;
* ``unsupported``: cardscan cannot do this action here (a PDF, a number
  column, a row without a key ...); the message says why and what to do;
* ``error``: something failed (permission, I/O, the server); nothing was
  changed for that object.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Protocol, runtime_checkable

from ..decoders import Limits
from ..display import format_location, printable
from ..engine.config import ScanConfig
from ..engine.scanner import Scanner
from ..errors import ConfigError
from ..findings import Finding, FingerprintKey
from ..pipeline import Pipeline
from ..privacy import mask_name, redact
from .journal import now_iso

STATUSES = ("planned", "done", "already_remediated", "stale", "unsupported", "error")
ACTIONS = ("redact", "quarantine", "delete")
MASKS = ("last4", "full")

#: Default cap on bytes held in memory to rewrite one container (decompressed).
DEFAULT_MAX_REWRITE = 1 << 30


@dataclass
class Result:
    """What happened to one finding. Holds no PAN (the finding holds none)."""

    finding: Finding
    action: str
    status: str
    message: str = ""
    #: SHA-256 of the object (SQL: of the cell value) before and after.
    before_sha256: str | None = None
    after_sha256: str | None = None
    #: Where a quarantined object went.
    destination: str | None = None
    #: Encrypted backup written before the change.
    backup: str | None = None
    #: Anything else worth recording (new S3 version id, ...).
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        f = self.finding
        d: dict[str, Any] = {
            "finding_id": f.id,
            "location": safe_display(f),
            "action": self.action,
            "status": self.status,
            "brand": f.brand,
            "kind": f.kind,
            "masked": f.masked,
        }
        for name in ("message", "before_sha256", "after_sha256", "destination", "backup"):
            value = getattr(self, name)
            if value:
                # A quarantine path keeps the object's name, which may hold a number; a
                # message is built from kinds, and is masked once more on its way out.
                d[name] = mask_name(value) if name in ("destination", "backup") else \
                    redact(value) if name == "message" else value
        if self.detail:
            d["detail"] = dict(self.detail)
        return d


def safe_display(f: Finding) -> str:
    """The finding's location for humans and logs: a name holding a PAN is masked."""
    return redact(printable(format_location(f.location)))


def results(findings: list[Finding], action: str, status: str, message: str = "", **kw: Any) -> list[Result]:
    return [Result(f, action, status, message, **kw) for f in findings]


@dataclass
class Options:
    """How to remediate (the command line's choices, as plain data)."""

    action: str = "redact"
    #: False: dry run (verify and report, change nothing).
    apply: bool = False
    mask: str = "last4"
    #: quarantine: a directory, or ``s3://bucket/prefix/`` for S3 objects.
    quarantine_to: str | None = None
    #: delete needs this explicit confirmation.
    yes_delete: bool = False
    preserve_mtime: bool = False
    backup_dir: str | None = None
    backup_key: bytes | None = None
    #: SQL numeric columns cannot hold a masked value: set them to NULL instead of skipping.
    numeric_null: bool = False
    #: S3 versioned buckets: also delete the scanned version once it is replaced / moved.
    purge_versions: bool = False
    max_rewrite_bytes: int = DEFAULT_MAX_REWRITE
    #: Database URLs with credentials, by their public form (as in the manifest).
    db_urls: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    #: The manifest's scan records (sources and their options: S3 endpoints ...).
    scan_records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"unknown action {self.action!r} (known: {', '.join(ACTIONS)})")
        if self.mask not in MASKS:
            raise ConfigError(f"unknown mask {self.mask!r} (known: {', '.join(MASKS)})")
        if self.max_rewrite_bytes < 1:
            raise ConfigError("max_rewrite_bytes must be positive")

    @property
    def keep_last(self) -> int:
        return 0 if self.mask == "full" else 4


class Context:
    """What a remediator gets besides the findings: options, key, journal, audit."""

    #: Called with the name of each checkpoint a remediator passes
    #: (``before_rename``, ``after_rename``), or None. Tests set it (on a
    #: context, or on the class in a process of their own) to stop a run at
    #: an exact point and kill it there.
    on_checkpoint: Callable[[str], None] | None = None

    def __init__(self, options: Options, key: FingerprintKey, journal: Any = None, run_id: str = "") -> None:
        self.options = options
        self.key = key
        #: :class:`cardscan.remediate.journal.Journal` when applying, else None.
        self.journal = journal
        self.run_id = run_id
        self.user = _user()
        self.host = socket.gethostname()

    @property
    def apply(self) -> bool:
        return self.options.apply

    def known_after(self, object_id: str, digest: str | None) -> bool:
        """True when ``digest`` is what an earlier cardscan run made of this object."""
        return self.journal is not None and digest is not None and self.journal.produced(object_id, digest)

    def identity(self, object_id: str, recorded: str | None, current: str | None) -> str:
        """``same`` (as scanned), ``ours`` (as a cardscan run left it), or ``changed``."""
        if recorded and current == recorded:
            return "same"
        if self.journal is not None and recorded and current and self.journal.descends(object_id, recorded, current):
            return "ours"
        return "changed"

    def begin(self, object_id: str, where: str, findings: list[Finding], **fields: Any) -> None:
        if self.journal is not None and self.apply:
            self.journal.record("begin", object_id, where=where, action=self.options.action,
                                findings=[f.id for f in findings], **fields)

    def prepared(self, object_id: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.record("prepared", object_id, **fields)

    def end(self, object_id: str, status: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.record("end", object_id, status=status, **fields)

    def checkpoint(self, phase: str) -> None:
        """A point where a crash must leave every object whole (just before or
        after the atomic replace of one): see :attr:`on_checkpoint`."""
        if self.on_checkpoint is not None:
            self.on_checkpoint(phase)

    def rescan_pipeline(self, sources: Iterable[Any] = ()) -> Pipeline:
        """The pipeline that re-checks objects: the sweep's own per-item scan,
        at every confidence and with test cards, under the run's key."""
        return Pipeline(Scanner(ScanConfig(min_confidence=0, test_cards=True), self.key), Limits(), sources)


def _user() -> str:
    try:  # not on every platform
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return os.environ.get("USER", "")


@runtime_checkable
class Remediator(Protocol):
    """Acts on the findings of one object. Registered in ``cardscan.remediators``
    under the name of the source whose locations it handles (``file``, ``s3``,
    ``sql``, or a third-party source's scheme)."""

    name: ClassVar[str]

    def remediate(self, findings: list[Finding], ctx: Context) -> list[Result]:
        """One Result per finding. Never raises for a bad object: returns ``error`` results."""
        ...


def object_id(key: FingerprintKey, *parts: Any) -> str:
    """A short stable id for an object (journal key; names no path, holds no PAN).

    Keyed: a plain hash of a path whose name holds a card number could be
    brute-forced from the masked name (about 10^5 candidates)."""
    return hmac.new(key.raw(), repr(parts).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:24]


#: Tombstone notes left where a file or object was quarantined or deleted.
NOTE_SUFFIX = {"quarantine": ".cardscan-quarantined.txt", "delete": ".cardscan-deleted.txt"}


def note_body(what: str, action: str, findings: list[Finding], dest: str | None, ctx: "Context") -> bytes:
    """A tombstone note (``what`` is "file" or "object"): finding ids and masked
    numbers only, and redacted once more: a destination path may carry a number."""
    done = "moved to quarantine" if action == "quarantine" else "deleted"
    lines = [f"This {what} was {done} by cardscan: it held payment card data.", f"when: {now_iso()}",
             f"by: {ctx.user}@{ctx.host}"]
    if dest:
        lines.append(f"moved to: {dest}")
    lines.append(f"findings: {len(findings)} (ids and masked numbers below)")
    note = [redact(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))]
    # A finding id (24 hex characters of a hash) is written as it is, as in the
    # manifest: redacted, one holding a Luhn-valid digit run by chance came out
    # masked, and the next run could not tell the object was remediated already.
    note += [b"finding: %s %s\n" % (f.id.encode("ascii"), redact(f"{f.brand} {f.masked}".encode("utf-8", "surrogateescape")))
             for f in findings]
    return b"".join(note)


def parse_note(text: str) -> dict[str, Any]:
    """The finding ids and destination a tombstone note records."""
    ids, dest = set(), None
    for line in text.splitlines():
        if line.startswith("finding: "):
            ids.add(line.split()[1])
        elif line.startswith("moved to: "):
            dest = line[len("moved to: "):]
    return {"ids": ids, "destination": dest}
